//! The stat cache (`.darn/cache`): the content hash of every file darn looked at, keyed by its
//! stat data (device, inode, size, mtime, ctime), so a no-op command stats files instead of
//! reading and hashing them.
//!
//! The cache is only an accelerator: it is rebuilt whenever it is missing, corrupt or of another
//! darn version, and losing it costs time, never correctness.

use super::dir::StatSig;
use super::files::{RunEntry, read_file};
use crate::util::hash::Hash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const VERSION: u32 = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    sig: StatSig,
    hash: Hash,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    darn: String,
    /// The file vocabulary the entries' file numbers refer to.
    vocabulary: Hash,
    /// By run directory relative to the experiment, each entry encoded on its own: loading
    /// copies bytes, and each run's entry is decoded by the thread that looks at the run.
    runs: HashMap<String, Vec<u8>>,
    /// Files outside runs (aggregates), by path relative to the experiment.
    files: HashMap<String, FileEntry>,
}

/// The loaded stat cache.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    stored: Stored,
    dirty: bool,
    /// Stat data newer than this (ns since the epoch) is racy and not stored: two seconds before
    /// the command started.
    pub racy_after_ns: i128,
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

impl StatCache {
    /// An empty cache that is never saved (read-only commands on trees darn never managed).
    pub fn disabled() -> Self {
        StatCache { racy_after_ns: now_ns() - 2_000_000_000, ..StatCache::default() }
    }

    /// Loads `.darn/cache` (empty when absent, corrupt or from another version).
    pub fn load(root: &Path) -> Self {
        let path = root.join(".darn").join("cache");
        let stored = std::fs::read(&path)
            .ok()
            .and_then(|b| postcard::from_bytes::<Stored>(&b).ok())
            .filter(|s| {
                s.version == VERSION
                    && s.darn == env!("CARGO_PKG_VERSION")
                    && s.vocabulary == crate::experiment::files::vocabulary_digest()
            })
            .unwrap_or_else(|| Stored {
                version: VERSION,
                darn: env!("CARGO_PKG_VERSION").to_string(),
                vocabulary: crate::experiment::files::vocabulary_digest(),
                ..Stored::default()
            });
        StatCache { path: Some(path), stored, dirty: false, racy_after_ns: now_ns() - 2_000_000_000 }
    }

    pub fn run(&self, rel: &str) -> Option<RunEntry> {
        self.stored.runs.get(rel).and_then(|b| postcard::from_bytes(b).ok())
    }

    pub fn store_run(&mut self, rel: &str, entry: &RunEntry) {
        if let Ok(bytes) = postcard::to_allocvec(entry) {
            self.stored.runs.insert(rel.to_string(), bytes);
            self.dirty = true;
        }
    }

    pub fn forget_run(&mut self, rel: &str) {
        if self.stored.runs.remove(rel).is_some() {
            self.dirty = true;
        }
    }

    /// The content hash of a file outside runs (relative to `root`), from the cache when its
    /// stat data is unchanged; `Ok(None)` when it does not exist. A file that had to be read is
    /// returned with its bytes (when small) and the entry to remember.
    pub fn file_hash(&self, root: &Path, rel: &str) -> std::io::Result<Option<FileLook>> {
        let path = root.join(rel);
        let Some(sig) = StatSig::try_of(&path)? else { return Ok(None) };
        if let Some(e) = self.stored.files.get(rel)
            && e.sig == sig
        {
            return Ok(Some(FileLook { hash: e.hash, bytes: None, remember: None }));
        }
        match std::fs::File::open(&path).and_then(read_file) {
            Ok((sig, hash, bytes)) => {
                let remember = sig.filter(|s| s.newest_ns() <= self.racy_after_ns).map(|s| (rel.to_string(), s, hash));
                Ok(Some(FileLook { hash, bytes, remember }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remembers a file's hash after [`Self::file_hash`] read it.
    pub fn remember_file(&mut self, (rel, sig, hash): (String, StatSig, Hash)) {
        if self.stored.files.get(&rel).is_some_and(|e| e.sig == sig && e.hash == hash) {
            return;
        }
        self.stored.files.insert(rel, FileEntry { sig, hash });
        self.dirty = true;
    }

    /// Drops entries of runs no longer expected.
    pub fn retain_runs(&mut self, keep: &std::collections::HashSet<String>) {
        let before = self.stored.runs.len();
        self.stored.runs.retain(|k, _| keep.contains(k));
        self.dirty |= self.stored.runs.len() != before;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Saves the cache if it changed (atomic rename; a lost cache only costs time).
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let bytes = postcard::to_allocvec(&self.stored).map_err(std::io::Error::other)?;
        crate::util::fs::replace(path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

/// A file outside runs, looked at through the cache.
pub struct FileLook {
    pub hash: Hash,
    /// Its bytes, when it had to be read and is small.
    pub bytes: Option<Vec<u8>>,
    /// What to remember in the cache, when it had to be read and is not racy.
    pub remember: Option<(String, StatSig, Hash)>,
}
