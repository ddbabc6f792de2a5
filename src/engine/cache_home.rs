//! Where a command keeps its caches (the stat cache and the check cache).
//!
//! A tree darn manages keeps them in `.darn/`. A read-only command on a tree darn has never
//! managed writes nothing in it (it may be someone else's, or read-only), so it keeps them in
//! the user's cache directory instead, one entry per experiment: the first look reads every
//! file once, and every later command on the same tree reads only what changed. The first
//! command that manages the tree starts from that entry and then drops it. Like the caches
//! themselves, an entry only accelerates: it is checked file by file against stat data, and can
//! be deleted at any time.

use crate::util::hash::hash_bytes;
use std::path::{Path, PathBuf};

/// How many experiments the user cache directory remembers; the least recently used go first.
const KEEP_ENTRIES: usize = 16;

/// Where the caches are read from and saved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHome {
    /// The directory the caches are read from.
    pub read: PathBuf,
    /// The directory they are saved to; `None`: not saved.
    pub write: Option<PathBuf>,
    /// A user cache entry that a save into `.darn/` supersedes, removed after it.
    pub superseded: Option<PathBuf>,
    /// The user cache directory, when the caches are saved in it (its oldest entries are
    /// forgotten after a save). Never the experiment's own directory.
    pub user_base: Option<PathBuf>,
}

impl CacheHome {
    /// Chooses for an experiment: `managed` when it has `.darn/`, `writable` when this command
    /// writes (and holds the lock), `lock_held` when another darn writes now.
    pub fn choose(root: &Path, managed: bool, writable: bool, lock_held: bool) -> Option<CacheHome> {
        let (base, user) = match user_base() {
            Some(base) => (Some(base.clone()), user_entry(&base, root)),
            None => (None, None),
        };
        if managed || writable {
            let tree = root.join(".darn");
            let read = match &user {
                Some(u) if !tree.join("cache").is_file() && u.join("cache").is_file() => u.clone(),
                _ => tree.clone(),
            };
            let write = (writable || !lock_held).then_some(tree);
            let superseded = write.as_ref().and(user).filter(|u| u.is_dir());
            return Some(CacheHome { read, write, superseded, user_base: None });
        }
        let user = user?;
        Some(CacheHome { read: user.clone(), write: Some(user), superseded: None, user_base: base })
    }

    /// After the caches were saved: drops a superseded user entry, or makes room in the user
    /// cache directory by forgetting the least recently used experiments.
    pub fn after_save(&self) {
        if let Some(old) = &self.superseded {
            let _ = std::fs::remove_dir_all(old);
        } else if let Some(base) = &self.user_base {
            prune(base, KEEP_ENTRIES);
        }
    }
}

/// The directory of per-experiment entries: `$DARN_CACHE_DIR` (empty: none at all), else
/// `$XDG_CACHE_HOME/darn`, else `~/.cache/darn`.
fn user_base() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    match std::env::var_os("DARN_CACHE_DIR") {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => set("XDG_CACHE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| set("HOME").map(|h| h.join(".cache")))
            .map(|c| c.join("darn")),
    }
}

/// An experiment's entry: its directory's name (for a person looking) and a digest of its
/// canonical path (so two experiments never share one).
fn user_entry(base: &Path, root: &Path) -> Option<PathBuf> {
    let canonical = std::fs::canonicalize(root).ok()?;
    Some(base.join(entry_name(&canonical)))
}

fn entry_name(canonical: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let name: String = canonical
        .file_name()
        .map(|n| {
            n.to_string_lossy().chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).take(40).collect()
        })
        .unwrap_or_default();
    let digest = hash_bytes(canonical.as_os_str().as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if name.is_empty() { hex } else { format!("{name}-{hex}") }
}

/// Keeps the `keep` most recently saved entries of `base`.
fn prune(base: &Path, keep: usize) {
    let Ok(dir) = std::fs::read_dir(base) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = dir
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= keep {
        return;
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, path) in entries.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_for_people_and_never_shared() {
        let a = entry_name(Path::new("/data/exp one"));
        let b = entry_name(Path::new("/other/exp one"));
        assert!(a.starts_with("expone-") && b.starts_with("expone-"), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(entry_name(Path::new("/")).len(), 16);
    }

    #[test]
    fn only_the_most_recent_entries_are_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for i in 0..5 {
            let dir = tmp.path().join(format!("e{i}"));
            std::fs::create_dir(&dir).expect("mkdir");
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i);
            std::fs::File::open(&dir).and_then(|f| f.set_modified(t)).expect("set mtime");
        }
        prune(tmp.path(), 3);
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["e2", "e3", "e4"]);
    }
}
