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

const VERSION: u32 = 9;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    sig: StatSig,
    hash: Hash,
}

/// The cache as stored. Per-run entries are borrowed from the file's bytes when loading and
/// decoded only for the runs looked at; the encoding of a list of pairs is that of a map.
#[derive(Debug, Serialize, Deserialize)]
struct Stored<'a> {
    version: u32,
    darn: &'a str,
    /// The file vocabulary the entries' file numbers refer to.
    vocabulary: Hash,
    /// By run directory relative to the experiment: each run's [`RunEntry`], encoded.
    #[serde(borrow)]
    runs: Vec<(&'a str, &'a [u8])>,
    /// By run directory: the digests of the run's nodes, after the digest of what they were
    /// computed from (the run's files and parameters), so an unchanged run needs none computed.
    #[serde(borrow)]
    digests: Vec<(&'a str, &'a [u8])>,
    /// Files outside runs (aggregates), by path relative to the experiment.
    files: Vec<(&'a str, FileEntry)>,
}

/// Bytes of one entry: a range of the loaded file, or new.
#[derive(Debug, Clone, PartialEq)]
enum Blob {
    Loaded(u32, u32),
    New(Vec<u8>),
}

/// The loaded stat cache.
#[derive(Debug, Default)]
pub struct StatCache {
    path: Option<PathBuf>,
    /// The file as read: entries point into it.
    bytes: Vec<u8>,
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
        let Ok(bytes) = std::fs::read(read.join("cache")) else { return cache };
        let Some(stored) = postcard::from_bytes::<Stored>(&bytes).ok().filter(|s| {
            s.version == VERSION
                && s.darn == env!("CARGO_PKG_VERSION")
                && s.vocabulary == crate::experiment::files::vocabulary_digest()
        }) else {
            return cache;
        };
        let base = bytes.as_ptr() as usize;
        let blob = |b: &[u8]| Blob::Loaded((b.as_ptr() as usize - base) as u32, b.len() as u32);
        cache.runs = stored.runs.iter().map(|(k, b)| (Box::from(*k), blob(b))).collect();
        cache.digests = stored.digests.iter().map(|(k, b)| (Box::from(*k), blob(b))).collect();
        cache.files = stored.files.into_iter().map(|(k, e)| (k.to_string(), e)).collect();
        cache.bytes = bytes;
        // Read from elsewhere (the user's cache): saved to its new home even if nothing changes.
        cache.dirty = write.is_some_and(|w| w != read);
        cache
    }

    fn bytes_of<'s>(&'s self, b: &'s Blob) -> &'s [u8] {
        match b {
            Blob::Loaded(at, len) => self.bytes.get(*at as usize..(*at + *len) as usize).unwrap_or_default(),
            Blob::New(v) => v,
        }
    }

    /// Nothing remembered of any run (no cache, or one of another version).
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn run(&self, rel: &str) -> Option<RunEntry> {
        self.runs.get(rel).and_then(|b| postcard::from_bytes(self.bytes_of(b)).ok())
    }

    pub fn store_run(&mut self, rel: &str, entry: &RunEntry) {
        if let Ok(bytes) = postcard::to_allocvec(entry) {
            self.runs.insert(rel.into(), Blob::New(bytes));
            self.dirty = true;
        }
    }

    /// The node digests stored for a run, when they were computed from `from`.
    pub fn node_digests(&self, rel: &str, from: &Hash, nodes: usize) -> Option<Vec<Hash>> {
        let blob = self.bytes_of(self.digests.get(rel)?);
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
        if self.digests.get(rel).map(|b| self.bytes_of(b)) != Some(&blob[..]) {
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

    /// Saves the cache if it changed (atomic rename; a lost cache only costs time).
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let stored = Stored {
            version: VERSION,
            darn: env!("CARGO_PKG_VERSION"),
            vocabulary: crate::experiment::files::vocabulary_digest(),
            runs: self.runs.iter().map(|(k, b)| (&**k, self.bytes_of(b))).collect(),
            digests: self.digests.iter().map(|(k, b)| (&**k, self.bytes_of(b))).collect(),
            files: self.files.iter().map(|(k, e)| (k.as_str(), e.clone())).collect(),
        };
        let bytes = postcard::to_allocvec(&stored).map_err(std::io::Error::other)?;
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
    }
}
