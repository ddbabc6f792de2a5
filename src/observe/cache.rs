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

const VERSION: u32 = 10;

/// The file starts with this, then the header's length (u64, little-endian), the header, and
/// the entries' bytes.
const MAGIC: &[u8; 8] = b"DARNC10\n";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    sig: StatSig,
    hash: Hash,
}

/// The cache's header. Entries are read from the file a run at a time as runs are looked at,
/// so the file is never held whole (180 MB at 100,000 runs).
#[derive(Debug, Serialize, Deserialize)]
struct Header<'a> {
    version: u32,
    darn: &'a str,
    /// The file vocabulary the entries' file numbers refer to.
    vocabulary: Hash,
    /// By run directory relative to the experiment: where its [`RunEntry`], encoded, is among
    /// the bytes after the header (offset, length).
    #[serde(borrow)]
    runs: Vec<(&'a str, u64, u32)>,
    /// By run directory: where the digests of the run's nodes are, after the digest of what
    /// they were computed from (the run's files and parameters), so an unchanged run needs none
    /// computed.
    #[serde(borrow)]
    digests: Vec<(&'a str, u64, u32)>,
    /// Files outside runs (aggregates), by path relative to the experiment.
    files: Vec<(&'a str, FileEntry)>,
}

/// Bytes of one entry: a range of the loaded file's entries, or new.
#[derive(Debug, Clone, PartialEq)]
enum Blob {
    Loaded(u64, u32),
    New(Vec<u8>),
}

impl Blob {
    fn len(&self) -> u32 {
        match self {
            Blob::Loaded(_, n) => *n,
            Blob::New(v) => v.len() as u32,
        }
    }
}

/// The loaded stat cache.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    /// The file loaded, open: entries are read from it when asked for.
    file: Option<std::fs::File>,
    /// Where its entries' bytes start.
    base: u64,
    runs: HashMap<Box<str>, Blob>,
    digests: HashMap<Box<str>, Blob>,
    files: HashMap<String, FileEntry>,
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

    /// Loads the cache in directory `read` (empty when absent, corrupt or from another
    /// version), to be saved in `write` (`None`: never saved).
    pub fn load(read: &Path, write: Option<&Path>) -> Self {
        let mut cache = StatCache {
            path: write.map(|w| w.join("cache")),
            racy_after_ns: now_ns() - 2_000_000_000,
            ..Self::default()
        };
        cache.read_header(&read.join("cache"));
        // Read from elsewhere (the user's cache): saved to its new home even if nothing changes.
        cache.dirty = write.is_some_and(|w| w != read);
        cache
    }

    /// Reads the header of the cache file at `path`; nothing when it is absent, damaged or from
    /// another version.
    fn read_header(&mut self, path: &Path) -> Option<()> {
        use std::io::Read as _;
        let mut file = std::fs::File::open(path).ok()?;
        let mut start = [0u8; 16];
        file.read_exact(&mut start).ok()?;
        if start[..8] != MAGIC[..] {
            return None;
        }
        let len = u64::from_le_bytes(start[8..].try_into().ok()?);
        let size = file.metadata().ok()?.len();
        if len > size.saturating_sub(16) {
            return None;
        }
        let mut bytes = vec![0u8; len as usize];
        file.read_exact(&mut bytes).ok()?;
        let header = postcard::from_bytes::<Header>(&bytes).ok().filter(|h| {
            h.version == VERSION
                && h.darn == env!("CARGO_PKG_VERSION")
                && h.vocabulary == crate::experiment::files::vocabulary_digest()
        })?;
        let base = 16 + len;
        let fits = |&(_, at, n): &(&str, u64, u32)| {
            base.checked_add(at).and_then(|x| x.checked_add(u64::from(n))).is_some_and(|end| end <= size)
        };
        if !header.runs.iter().chain(&header.digests).all(fits) {
            return None;
        }
        self.runs = header.runs.iter().map(|&(k, at, n)| (Box::from(k), Blob::Loaded(at, n))).collect();
        self.digests = header.digests.iter().map(|&(k, at, n)| (Box::from(k), Blob::Loaded(at, n))).collect();
        self.files = header.files.into_iter().map(|(k, e)| (k.to_string(), e)).collect();
        self.file = Some(file);
        self.base = base;
        Some(())
    }

    /// The bytes of an entry (`None` if the file cannot be read: the entry is then as good as
    /// absent).
    fn bytes_of<'s>(&'s self, b: &'s Blob) -> Option<std::borrow::Cow<'s, [u8]>> {
        use std::os::unix::fs::FileExt;
        match b {
            Blob::Loaded(at, len) => {
                let mut buf = vec![0u8; *len as usize];
                self.file.as_ref()?.read_exact_at(&mut buf, self.base + at).ok()?;
                Some(std::borrow::Cow::Owned(buf))
            }
            Blob::New(v) => Some(std::borrow::Cow::Borrowed(v)),
        }
    }

    /// Nothing remembered of any run (no cache, or one of another version).
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn run(&self, rel: &str) -> Option<RunEntry> {
        self.runs.get(rel).and_then(|b| postcard::from_bytes(&self.bytes_of(b)?).ok())
    }

    pub fn store_run(&mut self, rel: &str, entry: &RunEntry) {
        if let Ok(bytes) = postcard::to_allocvec(entry) {
            self.runs.insert(rel.into(), Blob::New(bytes));
            self.dirty = true;
        }
    }

    /// The node digests stored for a run, when they were computed from `from`.
    pub fn node_digests(&self, rel: &str, from: &Hash, nodes: usize) -> Option<Vec<Hash>> {
        let blob = self.bytes_of(self.digests.get(rel)?)?;
        if blob.len() != 16 * (nodes + 1) || blob[..16] != from[..] {
            return None;
        }
        Some(blob[16..].chunks_exact(16).map(|c| c.try_into().unwrap_or([0; 16])).collect())
    }

    /// Remembers a run's node digests, computed from `from`.
    pub fn store_node_digests(&mut self, rel: &str, from: &Hash, digests: &[Hash]) {
        let mut blob = Vec::with_capacity(16 * (digests.len() + 1));
        blob.extend_from_slice(from);
        digests.iter().for_each(|d| blob.extend_from_slice(d));
        if self.digests.get(rel).and_then(|b| self.bytes_of(b)).as_deref() != Some(&blob[..]) {
            self.digests.insert(rel.into(), Blob::New(blob));
            self.dirty = true;
        }
    }

    pub fn forget_run(&mut self, rel: &str) {
        if self.runs.remove(rel).is_some() | self.digests.remove(rel).is_some() {
            self.dirty = true;
        }
    }

    /// The content hash of a file outside runs (relative to `root`), from the cache when its
    /// stat data is unchanged; `Ok(None)` when it does not exist. A file that had to be read is
    /// returned with its bytes (when small) and the entry to remember.
    pub fn file_hash(&self, root: &Path, rel: &str) -> std::io::Result<Option<FileLook>> {
        let path = root.join(rel);
        let Some(sig) = StatSig::try_of(&path)? else { return Ok(None) };
        if let Some(e) = self.files.get(rel)
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
        if self.files.get(&rel).is_some_and(|e| e.sig == sig && e.hash == hash) {
            return;
        }
        self.files.insert(rel, FileEntry { sig, hash });
        self.dirty = true;
    }

    /// Drops entries of runs no longer expected.
    pub fn retain_runs(&mut self, keep: &std::collections::HashSet<String>) {
        let before = self.runs.len() + self.digests.len();
        self.runs.retain(|k, _| keep.contains(&**k));
        self.digests.retain(|k, _| keep.contains(&**k));
        self.dirty |= self.runs.len() + self.digests.len() != before;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Saves the cache if it changed (atomic rename; a lost cache only costs time). Entries
    /// are copied from the loaded file one at a time, never all held.
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        self.write_to(path)?;
        self.dirty = false;
        Ok(())
    }

    fn write_to<'s>(&'s self, path: &Path) -> std::io::Result<()> {
        // Entries in key order, each placed after the one before.
        let sorted = |m: &'s HashMap<Box<str>, Blob>| {
            let mut v: Vec<(&'s str, &'s Blob)> = m.iter().map(|(k, b)| (&**k, b)).collect();
            v.sort_unstable_by_key(|(k, _)| *k);
            v
        };
        let (runs, digests) = (sorted(&self.runs), sorted(&self.digests));
        let mut at = 0u64;
        let mut place = |list: &[(&'s str, &Blob)]| -> Vec<(&'s str, u64, u32)> {
            list.iter()
                .map(|(k, b)| {
                    let start = at;
                    at += u64::from(b.len());
                    (*k, start, b.len())
                })
                .collect()
        };
        let header = Header {
            version: VERSION,
            darn: env!("CARGO_PKG_VERSION"),
            vocabulary: crate::experiment::files::vocabulary_digest(),
            runs: place(&runs),
            digests: place(&digests),
            files: self.files.iter().map(|(k, e)| (k.as_str(), e.clone())).collect(),
        };
        let head = postcard::to_allocvec(&header).map_err(std::io::Error::other)?;
        crate::util::fs::replace_with(path, |w| {
            w.write_all(MAGIC)?;
            w.write_all(&(head.len() as u64).to_le_bytes())?;
            w.write_all(&head)?;
            for (_, b) in runs.iter().chain(&digests) {
                let bytes = self
                    .bytes_of(b)
                    .ok_or_else(|| std::io::Error::other("the stat cache's file could not be read back"))?;
                w.write_all(&bytes)?;
            }
            Ok(())
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_save_and_digests_need_the_same_origin() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join(".darn");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut c = StatCache::load(&dir, Some(&dir));
        let (from, other) = ([1u8; 16], [2u8; 16]);
        c.store_node_digests("T0/00/run_01", &from, &[[7; 16], [8; 16]]);
        c.save().expect("save");
        let mut c = StatCache::load(&dir, Some(&dir));
        assert_eq!(c.node_digests("T0/00/run_01", &from, 2), Some(vec![[7; 16], [8; 16]]));
        assert_eq!(c.node_digests("T0/00/run_01", &other, 2), None, "computed from something else");
        assert_eq!(c.node_digests("T0/00/run_01", &from, 3), None, "another number of nodes");
        // A loaded entry and a new one are saved side by side.
        c.store_node_digests("T0/00/run_02", &other, &[[9; 16]]);
        c.save().expect("save");
        let c = StatCache::load(&dir, None);
        assert!(
            c.node_digests("T0/00/run_01", &from, 2).is_some() && c.node_digests("T0/00/run_02", &other, 1).is_some()
        );
        // A file cut short (a full disk) is no cache at all, not a wrong one.
        let path = dir.join("cache");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("write");
        assert!(StatCache::load(&dir, None).is_empty());
        std::fs::write(&path, &bytes[..20]).expect("write");
        assert!(StatCache::load(&dir, None).is_empty());
    }
}
