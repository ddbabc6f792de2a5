//! Stamps: what each node was last built (or adopted) from, kept in an append-only,
//! checksummed journal in `.darn/`.
//!
//! A stamp holds the named parts of a node's fingerprint (rule version, parameters, input
//! hashes) and the hashes of the outputs it wrote, so `why` can say what changed, field by
//! field. Stamps never hold mtimes or absolute paths. A stamp is appended only after the node's
//! outputs are durably on disk; a torn record at the end of the journal (a crash mid-append) is
//! dropped on load, which at worst makes darn re-check that node.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::graph::{Key, NodeId, key_of};
pub use crate::util::hash::{ABSENT, Hash};

/// What a node was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The rule's version when the node was built.
    pub rule: u32,
    /// Adopted: darn validated an existing output instead of building it.
    pub adopted: bool,
    /// Parameters that decide the output (`model`, `era`, ...), by name.
    pub params: Vec<(String, String)>,
    /// Content hashes of the inputs, by name.
    pub inputs: Vec<(String, Hash)>,
    /// Content hashes of the outputs as written, by file.
    pub outputs: Vec<(String, Hash)>,
    /// When (microseconds since the epoch); not part of the fingerprint.
    pub at: i64,
}

/// The digest of a stamp's named parts (rule version, parameters, input and output hashes):
/// equal digests mean nothing that decides the node changed. Facts compute the same digest, so
/// a no-op check compares 16 bytes instead of decoding stamps.
pub fn digest<'a>(
    rule: u32,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    inputs: impl IntoIterator<Item = (&'a str, &'a Hash)>,
    outputs: impl IntoIterator<Item = (&'a str, &'a Hash)>,
) -> Hash {
    // The pieces are gathered and hashed at once: the same bytes, so the same digest, as
    // feeding them one by one, without a hasher call per tiny piece (160,000 nodes at 10k runs).
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    buf.extend_from_slice(&rule.to_le_bytes());
    for (k, v) in params {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0);
        buf.extend_from_slice(v.as_bytes());
        buf.push(1);
    }
    buf.push(2);
    for (k, v) in inputs {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0);
        buf.extend_from_slice(v);
    }
    buf.push(3);
    for (k, v) in outputs {
        buf.extend_from_slice(k.as_bytes());
        buf.push(0);
        buf.extend_from_slice(v);
    }
    crate::util::hash::hash_bytes(&buf)
}

impl Stamp {
    /// See [`digest`].
    pub fn digest(&self) -> Hash {
        digest(
            self.rule,
            self.params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.inputs.iter().map(|(k, v)| (k.as_str(), v)),
            self.outputs.iter().map(|(k, v)| (k.as_str(), v)),
        )
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    /// `None` invalidates the node's stamp.
    stamp: Option<Stamp>,
}

const MAGIC: &[u8; 8] = b"DARNJ02\n";

/// Where a live stamp is in the journal file, and its digest.
#[derive(Debug, Clone, Copy)]
struct Entry {
    digest: Hash,
    /// Offset and length of the record's postcard payload in the file (never empty: an
    /// `Option<Entry>` per node then takes no more room than an entry).
    at: u64,
    len: std::num::NonZeroU32,
}

const _: () = assert!(std::mem::size_of::<Option<Entry>>() == std::mem::size_of::<Entry>());

/// What the planner needs of the stamps: a digest to compare, and the named parts to explain a
/// difference. The journal implements it; the planner's unit tests use a map.
pub trait Stamps: Sync {
    /// The digest of a node's stamp, without decoding it.
    fn digest(&self, n: NodeId) -> Option<Hash>;
    /// A node's stamp, decoded.
    fn get(&self, n: NodeId) -> Option<Stamp>;
}

impl Stamps for Journal {
    fn digest(&self, n: NodeId) -> Option<Hash> {
        self.by_node.get(n.index()).copied().flatten().map(|e| e.digest)
    }

    fn get(&self, n: NodeId) -> Option<Stamp> {
        let e = self.by_node.get(n.index()).copied().flatten()?;
        self.decode(e, self.node_keys.get(n.index())?)
    }
}

/// Stamps in memory (tests).
impl Stamps for HashMap<NodeId, Stamp> {
    fn digest(&self, n: NodeId) -> Option<Hash> {
        HashMap::get(self, &n).map(Stamp::digest)
    }

    fn get(&self, n: NodeId) -> Option<Stamp> {
        HashMap::get(self, &n).cloned()
    }
}

/// A hasher for keys that are already uniform hashes: their first eight bytes.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Keys arrive as a length prefix then their bytes: fold all of it in.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

type KeyMap<V> = HashMap<Key, V, std::hash::BuildHasherDefault<KeyHasher>>;

/// The journal of stamps. Loading reads the records' headers only; a stamp's named parts are
/// decoded when someone asks for them (`why`, or a node whose digest changed).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// The file the entries point into, open for reading (decoding is rare: it stays on disk).
    file: Option<File>,
    entries: KeyMap<Entry>,
    /// The entries by node, when [`Journal::load_bound`] was told which key each node has: the planner
    /// and the facts look stamps up by node, in order, instead of hashing ids.
    by_node: Vec<Option<Entry>>,
    node_keys: Vec<Key>,
    /// Bound to a graph: `by_node` is the index (`entries` is empty).
    bound: bool,
    /// Bound: live stamps of keys the graph does not have (a tier taken out of the config),
    /// kept so that compaction and the side index do not lose them. Usually empty.
    others: KeyMap<Entry>,
    /// Bytes of valid records in the file.
    file_bytes: u64,
    /// Where the last valid record starts (0: none).
    last_at: u64,
    /// Bytes of the file the side index (`journal.idx`) describes (0: none).
    indexed: u64,
    /// Records in the file (live or superseded).
    records: usize,
    /// What load had to repair, for a warning.
    pub recovered: Option<String>,
}

/// The side index: magic, the journal bytes it covers, their records, where the last one starts
/// and how many entries follow (u64 each), that record's head and fixed part, then per live
/// stamp its key, digest, offset (u64) and length (u32), and a crc32 of all of it.
const INDEX_MAGIC: &[u8; 8] = b"DARNJI1\n";
const INDEX_ENTRY: usize = 16 + 16 + 8 + 4;

/// What the side index covered: where reading resumes.
#[derive(Debug, Clone, Copy)]
struct Covered {
    start: u64,
    records: usize,
    last_at: u64,
}

/// Record layout: `[payload length u32][crc32 u32][key 16][flag u8][digest 16][postcard Record]`.
const HEAD: usize = 8;
const FIXED: usize = 16 + 1 + 16;

fn encode(id: &str, stamp: Option<&Stamp>) -> Vec<u8> {
    let body = postcard::to_allocvec(&Record { id: id.to_string(), stamp: stamp.cloned() }).unwrap_or_default();
    let mut payload = Vec::with_capacity(FIXED + body.len());
    payload.extend_from_slice(&key_of(id));
    payload.push(u8::from(stamp.is_some()));
    payload.extend_from_slice(&stamp.map(Stamp::digest).unwrap_or(ABSENT));
    payload.extend_from_slice(&body);
    let mut out = Vec::with_capacity(HEAD + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

impl Journal {
    /// The journal of an experiment (`.darn/journal`), empty when there is none.
    pub fn path_in(root: &Path) -> PathBuf {
        root.join(".darn").join("journal")
    }

    /// Loads the journal's index, streaming through the file; a corrupt or torn tail is dropped
    /// (and reported in `recovered`). The stamps themselves stay on disk until asked for.
    pub fn load(root: &Path) -> Journal {
        let mut j = Self::empty(root);
        let mut entries = KeyMap::default();
        // About 230 bytes a record: sized once instead of rehashed as it grows.
        entries.reserve((std::fs::metadata(&j.path).map_or(0, |m| m.len()) / 230) as usize);
        j.read_index(None, |key, entry| match entry {
            Some(e) => {
                entries.insert(key, e);
            }
            None => {
                entries.remove(&key);
            }
        });
        j.entries = entries;
        j
    }

    /// Loads the journal's index bound to a graph whose node `i` has key `keys[i]`: stamps are
    /// then found by node (those of keys the graph lacks wait in `others`). Only a map from key
    /// to node is built on the way (a map of every record's entry by key held about four times
    /// as much at 100,000 runs).
    pub fn load_bound(root: &Path, keys: Vec<Key>) -> Journal {
        let mut j = Self::empty(root);
        let node_of: KeyMap<u32> = keys.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
        let mut by_node: Vec<Option<Entry>> = vec![None; keys.len()];
        let mut others = KeyMap::default();
        let mut record = |key: Key, entry: Option<Entry>| match (node_of.get(&key), entry) {
            (Some(&i), entry) => by_node[i as usize] = entry,
            (None, Some(e)) => {
                others.insert(key, e);
            }
            (None, None) => {
                others.remove(&key);
            }
        };
        // The side index stands for the records it covers; only those after it are read.
        let from = j.read_side_index(&mut record);
        j.read_index(from, record);
        j.indexed = from.map_or(0, |f| f.start);
        j.by_node = by_node;
        j.others = others;
        j.node_keys = keys;
        j.bound = true;
        j
    }

    fn empty(root: &Path) -> Journal {
        Journal {
            path: Self::path_in(root),
            file: None,
            entries: KeyMap::default(),
            by_node: Vec::new(),
            node_keys: Vec::new(),
            bound: false,
            others: KeyMap::default(),
            file_bytes: 0,
            last_at: 0,
            indexed: 0,
            records: 0,
            recovered: None,
        }
    }

    /// Streams through the file's records in order, giving each one's key and entry (`None`: the
    /// stamp was invalidated); `from`: where to start, what the side index covered.
    fn read_index(&mut self, from: Option<Covered>, mut record: impl FnMut(Key, Option<Entry>)) {
        let path = self.path.clone();
        let Ok(file) = File::open(&path) else { return };
        let len = file.metadata().map_or(0, |m| m.len());
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &file);
        let mut magic = [0u8; MAGIC.len()];
        if reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
            self.recovered = Some(format!(
                "{}: not a darn journal; starting afresh (every node will be re-checked)",
                path.display()
            ));
            return;
        }
        let mut pos = MAGIC.len() as u64;
        if let Some(f) = from {
            use std::io::Seek;
            if reader.seek(std::io::SeekFrom::Start(f.start)).is_err() {
                return;
            }
            (pos, self.records, self.last_at) = (f.start, f.records, f.last_at);
        }
        let mut head = [0u8; HEAD];
        let mut payload = Vec::new();
        let mut failed = None;
        loop {
            match reader.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let sum = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if (size as usize) < FIXED || pos + (HEAD as u64) + u64::from(size) > len {
                break;
            }
            payload.resize(size as usize, 0);
            if let Err(e) = reader.read_exact(&mut payload) {
                failed = Some(e);
                break;
            }
            if crc32fast::hash(&payload) != sum {
                break;
            }
            let mut key = [0u8; 16];
            key.copy_from_slice(&payload[..16]);
            // A stamp with an empty body could not be decoded: as good as none.
            let body = std::num::NonZeroU32::new(size - FIXED as u32);
            let entry = body.filter(|_| payload[16] == 1).map(|len| {
                let mut digest = [0u8; 16];
                digest.copy_from_slice(&payload[17..33]);
                Entry { digest, at: pos + (HEAD + FIXED) as u64, len }
            });
            record(key, entry);
            self.records += 1;
            self.last_at = pos;
            pos += (HEAD as u64) + u64::from(size);
        }
        drop(reader);
        self.file_bytes = pos;
        if let Some(e) = failed {
            self.recovered =
                Some(format!("{}: unreadable ({e}); the nodes after it will be re-checked", path.display()));
        } else if pos < len {
            self.recovered = Some(format!(
                "{}: dropped {} damaged bytes at the end (an interrupted write); the nodes they stamped will be re-checked",
                path.display(),
                len - pos
            ));
        }
        self.file = Some(file);
    }

    /// The live stamps' places in the file.
    fn live(&self) -> Box<dyn Iterator<Item = &Entry> + '_> {
        match self.bound {
            true => Box::new(self.by_node.iter().flatten().chain(self.others.values())),
            false => Box::new(self.entries.values()),
        }
    }

    /// The stamp of a node id, decoded (read from the file).
    #[cfg(test)]
    pub fn get_id(&self, id: &str) -> Option<Stamp> {
        let key = key_of(id);
        let entry = match self.bound {
            true => self.node_keys.iter().position(|k| *k == key).and_then(|i| self.by_node[i]),
            false => self.entries.get(&key).copied(),
        };
        self.decode(entry?, &key)
    }

    fn decode(&self, e: Entry, key: &Key) -> Option<Stamp> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; e.len.get() as usize];
        self.file.as_ref()?.read_exact_at(&mut buf, e.at).ok()?;
        let record: Record = postcard::from_bytes(&buf).ok()?;
        (key_of(&record.id) == *key).then_some(record.stamp).flatten()
    }

    pub fn len(&self) -> usize {
        self.live().count()
    }

    pub fn is_empty(&self) -> bool {
        self.live().next().is_none()
    }

    /// Appends records durably (one fsync): `None` invalidates a stamp. The damaged tail of an
    /// earlier crash, if any, is cut off first so new records follow valid ones.
    pub fn append(&mut self, records: Vec<(NodeId, String, Option<Stamp>)>) -> std::io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&self.path)?;
        let len = f.metadata()?.len();
        if len < MAGIC.len() as u64 || self.file_bytes == 0 {
            f.set_len(0)?;
            f.write_all(MAGIC)?;
            self.file_bytes = MAGIC.len() as u64;
            self.records = 0;
            self.last_at = 0;
            self.entries.clear();
            self.others.clear();
            self.by_node.iter_mut().for_each(|e| *e = None);
            self.drop_side_index();
        } else if len != self.file_bytes {
            f.set_len(self.file_bytes)?;
        }
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(self.file_bytes))?;
        let encoded: Vec<Vec<u8>> = records.iter().map(|(_, id, stamp)| encode(id, stamp.as_ref())).collect();
        f.write_all(&encoded.concat())?;
        f.sync_data()?;
        // Index the new records exactly as load would.
        let mut pos = self.file_bytes;
        for ((n, id, stamp), rec) in records.iter().zip(&encoded) {
            let key = key_of(id);
            let body = std::num::NonZeroU32::new((rec.len() - HEAD - FIXED) as u32);
            let entry = stamp.as_ref().zip(body).map(|(s, len)| Entry {
                digest: s.digest(),
                at: pos + (HEAD + FIXED) as u64,
                len,
            });
            if self.bound {
                if let Some(slot) = self.by_node.get_mut(n.index()) {
                    *slot = entry;
                }
            } else {
                match entry {
                    Some(e) => self.entries.insert(key, e),
                    None => self.entries.remove(&key),
                };
            }
            self.records += 1;
            self.last_at = pos;
            pos += rec.len() as u64;
        }
        self.file_bytes = pos;
        self.file = Some(f);
        self.recovered = None;
        Ok(())
    }

    fn side_index_path(&self) -> PathBuf {
        self.path.with_extension("idx")
    }

    fn drop_side_index(&mut self) {
        let _ = std::fs::remove_file(self.side_index_path());
        self.indexed = 0;
    }

    /// Writes the side index (`journal.idx`: where every live stamp is, and what the file looked
    /// like up to where it stops) when the records after the last one exceed an eighth of the
    /// journal and 256 KiB: a load then reads 44 bytes a stamp instead of every record (480 MB
    /// at 100,800 runs). Bound journals only; losing or damaging it costs a full read, never a
    /// stamp.
    pub fn index_if_needed(&mut self) -> std::io::Result<bool> {
        let tail = self.file_bytes.saturating_sub(self.indexed.max(MAGIC.len() as u64));
        if !self.bound || self.last_at == 0 || tail < (256 << 10).max(self.file_bytes / 8) {
            return Ok(false);
        }
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.file else { return Ok(false) };
        let mut last = [0u8; HEAD + FIXED];
        file.read_exact_at(&mut last, self.last_at)?;
        let live: Vec<(&Key, &Entry)> = self
            .node_keys
            .iter()
            .zip(&self.by_node)
            .filter_map(|(k, e)| e.as_ref().map(|e| (k, e)))
            .chain(self.others.iter())
            .collect();
        let mut out = Vec::with_capacity(64 + live.len() * INDEX_ENTRY);
        out.extend_from_slice(INDEX_MAGIC);
        for n in [self.file_bytes, self.records as u64, self.last_at, live.len() as u64] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        out.extend_from_slice(&last);
        for (k, e) in live {
            out.extend_from_slice(k);
            out.extend_from_slice(&e.digest);
            out.extend_from_slice(&e.at.to_le_bytes());
            out.extend_from_slice(&e.len.get().to_le_bytes());
        }
        out.extend_from_slice(&crc32fast::hash(&out).to_le_bytes());
        crate::util::fs::replace(&self.side_index_path(), &out)?;
        self.indexed = self.file_bytes;
        Ok(true)
    }

    /// Feeds the side index's entries to `record` when it describes this journal: its checksum
    /// holds, and the journal still has, where the index says its last record starts, that same
    /// record (head, key and digest) ending where the index stops. `None`: read everything.
    fn read_side_index(&self, record: &mut impl FnMut(Key, Option<Entry>)) -> Option<Covered> {
        use std::os::unix::fs::FileExt;
        let bytes = std::fs::read(self.side_index_path()).ok()?;
        let fixed = INDEX_MAGIC.len() + 32 + HEAD + FIXED;
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if body.len() < fixed || body[..8] != INDEX_MAGIC[..] || crc32fast::hash(body).to_le_bytes() != sum {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(body[8 + 8 * i..16 + 8 * i].try_into().unwrap_or_default());
        let (covered, records, last_at, count) = (word(0), word(1), word(2), word(3));
        let last = &body[40..fixed];
        if (body.len() - fixed) as u64 != count.checked_mul(INDEX_ENTRY as u64)? {
            return None;
        }
        let size = u64::from(u32::from_le_bytes(last[..4].try_into().ok()?));
        let file = File::open(&self.path).ok()?;
        let mut magic = [0u8; MAGIC.len()];
        let mut found = [0u8; HEAD + FIXED];
        file.read_exact_at(&mut magic, 0).ok()?;
        file.read_exact_at(&mut found, last_at).ok()?;
        let len = file.metadata().ok()?.len();
        if &magic != MAGIC || found[..] != last[..] || last_at + HEAD as u64 + size != covered || covered > len {
            return None;
        }
        for e in body[fixed..].chunks_exact(INDEX_ENTRY) {
            let mut key = [0u8; 16];
            let mut digest = [0u8; 16];
            key.copy_from_slice(&e[..16]);
            digest.copy_from_slice(&e[16..32]);
            let at = u64::from_le_bytes(e[32..40].try_into().ok()?);
            let len = std::num::NonZeroU32::new(u32::from_le_bytes(e[40..44].try_into().ok()?))?;
            record(key, Some(Entry { digest, at, len }));
        }
        Some(Covered { start: covered, records: records as usize, last_at })
    }

    /// Rewrites the journal with live stamps only (temp + fsync + rename) once superseded
    /// records outnumber live ones.
    pub fn compact_if_needed(&mut self) -> std::io::Result<bool> {
        if self.records < 1024 || self.records < self.len() * 2 {
            return Ok(false);
        }
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.file else { return Ok(false) };
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut buf = Vec::from(&MAGIC[..]);
        let mut live: Vec<(u64, usize)> =
            self.live().map(|e| (e.at - (HEAD + FIXED) as u64, HEAD + FIXED + e.len.get() as usize)).collect();
        live.sort_unstable();
        for (start, len) in live {
            let at = buf.len();
            buf.resize(at + len, 0);
            file.read_exact_at(&mut buf[at..], start)?;
        }
        let mut tmp = tempfile::Builder::new().prefix(crate::util::fs::TEMP_PREFIX).tempfile_in(&dir)?;
        tmp.write_all(&buf)?;
        tmp.as_file().sync_all()?;
        // The side index describes the old file (a stale one would also be refused on load).
        self.drop_side_index();
        tmp.persist(&self.path).map_err(|e| e.error)?;
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        let keys = std::mem::take(&mut self.node_keys);
        let root = self.path.parent().and_then(Path::parent).unwrap_or(Path::new("."));
        *self = match self.bound {
            true => Journal::load_bound(root, keys),
            false => Journal::load(root),
        };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests are stored in journals: their bytes must never change between darn builds.
    #[test]
    fn digest_is_stable() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let d = digest(7, [("model", "claude-opus-4-6")], [("stdout", &a)], [("agent/result.json", &b)]);
        let mut h = blake3::Hasher::new();
        for piece in
            [&7u32.to_le_bytes()[..], b"model\0claude-opus-4-6\x01\x02stdout\0", &a, b"\x03agent/result.json\0", &b]
        {
            h.update(piece);
        }
        assert_eq!(d[..], h.finalize().as_bytes()[..16]);
    }

    const N0: NodeId = NodeId(0);
    const N1: NodeId = NodeId(1);

    fn stamp(n: u8) -> Stamp {
        Stamp {
            rule: 1,
            adopted: false,
            params: vec![("model".into(), format!("m{n}"))],
            inputs: vec![("agent/stdout.log".into(), [n; 16])],
            outputs: vec![("agent/result.json".into(), [n + 1; 16])],
            at: 0,
        }
    }

    #[test]
    fn append_load_and_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::load(dir.path());
        assert!(j.is_empty());
        j.append(vec![(N0, "a".into(), Some(stamp(1))), (N1, "b".into(), Some(stamp(2)))]).expect("append");
        j.append(vec![(N0, "a".into(), None)]).expect("append");
        let j2 = Journal::load(dir.path());
        assert_eq!(j2.len(), 1);
        assert_eq!(j2.get_id("b"), Some(stamp(2)));
        assert!(j2.recovered.is_none());
        // Bound to nodes, the same records give the same stamps, invalidation included.
        let bound = Journal::load_bound(dir.path(), vec![key_of("b"), key_of("a")]);
        assert_eq!(Stamps::get(&bound, NodeId(0)), Some(stamp(2)));
        assert_eq!(Stamps::digest(&bound, NodeId(1)), None, "invalidated");

        // A crash mid-append leaves a torn record: it is dropped, the rest survives, and the
        // next append continues after the last good record.
        let path = Journal::path_in(dir.path());
        let mut bytes = std::fs::read(&path).expect("read");
        let good = bytes.len();
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]);
        std::fs::write(&path, &bytes).expect("write");
        let mut j3 = Journal::load(dir.path());
        assert_eq!(j3.len(), 1);
        assert!(j3.recovered.as_deref().is_some_and(|r| r.contains("dropped 10 damaged bytes")));
        j3.append(vec![(N0, "c".into(), Some(stamp(3)))]).expect("append");
        assert_eq!(std::fs::read(&path).expect("read").len(), good + encode("c", Some(&stamp(3))).len());
        let j4 = Journal::load(dir.path());
        assert_eq!(j4.len(), 2);
        assert!(j4.recovered.is_none());
    }

    #[test]
    fn garbage_journal_starts_afresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".darn")).expect("mkdir");
        std::fs::write(Journal::path_in(dir.path()), b"garbage").expect("write");
        let j = Journal::load(dir.path());
        assert!(j.is_empty());
        assert!(j.recovered.is_some());
    }

    #[test]
    fn compaction_keeps_live_stamps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::load(dir.path());
        for round in 0..3u8 {
            j.append((0..600).map(|i| (NodeId(i), format!("n{i}"), Some(stamp(round)))).collect()).expect("append");
        }
        let mut j = Journal::load_bound(dir.path(), (0..600).map(|i| key_of(&format!("n{i}"))).collect());
        assert!(j.compact_if_needed().expect("compact"));
        // Still bound after the rewrite: found by node.
        assert_eq!(Stamps::get(&j, NodeId(5)), Some(stamp(2)));
        let j2 = Journal::load(dir.path());
        assert_eq!(j2.len(), 600);
        assert_eq!(j2.get_id("n5"), Some(stamp(2)));
        let j2 = Journal::load_bound(dir.path(), vec![key_of("n7"), key_of("missing")]);
        assert_eq!(Stamps::digest(&j2, NodeId(0)), Some(stamp(2).digest()));
        assert_eq!(Stamps::digest(&j2, NodeId(1)), None);
        assert_eq!(Stamps::digest(&j2, NodeId(2)), None, "past the bound nodes");
    }

    #[test]
    fn a_side_index_stands_for_the_records_it_covers_and_only_for_its_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids: Vec<String> = (0..20_000).map(|i| format!("n{i}")).collect();
        let mut j = Journal::load(dir.path());
        j.append(ids.iter().enumerate().map(|(i, id)| (NodeId(i as u32), id.clone(), Some(stamp(1)))).collect())
            .expect("append");
        // The graph lacks the last node (its tier left the config) and has one the journal lacks.
        let keys = |with_last: bool| -> Vec<Key> {
            let mut k: Vec<Key> = ids[..19_999].iter().map(|i| key_of(i)).collect();
            k.push(key_of(if with_last { "n19999" } else { "new" }));
            k
        };
        let mut b = Journal::load_bound(dir.path(), keys(false));
        assert!(b.index_if_needed().expect("index"), "the whole journal is past any index");
        assert!(!b.index_if_needed().expect("index"), "nothing new since");
        b.append(vec![(NodeId(5), "n5".into(), Some(stamp(2))), (NodeId(6), "n6".into(), None)]).expect("append");

        let digests = |j: &Journal| (0..20_000).map(|i| Stamps::digest(j, NodeId(i))).collect::<Vec<_>>();
        let via_index = Journal::load_bound(dir.path(), keys(true));
        assert!(via_index.indexed > 0, "the index was used");
        assert_eq!(Stamps::get(&via_index, NodeId(5)), Some(stamp(2)), "appended after the index");
        assert_eq!(Stamps::digest(&via_index, NodeId(6)), None, "invalidated after the index");
        assert_eq!(Stamps::get(&via_index, NodeId(19_999)), Some(stamp(1)), "kept for a node the graph lacked");
        let index = dir.path().join(".darn/journal.idx");
        let bytes = std::fs::read(&index).expect("read index");
        std::fs::remove_file(&index).expect("remove");
        let full = Journal::load_bound(dir.path(), keys(true));
        assert_eq!(full.indexed, 0);
        assert_eq!(digests(&via_index), digests(&full));
        assert_eq!((via_index.records, via_index.file_bytes), (full.records, full.file_bytes));

        // A damaged index, or one of another journal (rewritten by a darn that knew no index),
        // is not used.
        let mut bad = bytes.clone();
        bad[100] ^= 1;
        std::fs::write(&index, &bad).expect("write");
        assert_eq!(Journal::load_bound(dir.path(), keys(true)).indexed, 0);
        std::fs::write(&index, &bytes).expect("write");
        std::fs::remove_file(Journal::path_in(dir.path())).expect("remove journal");
        let mut other = Journal::load(dir.path());
        other
            .append(
                ids.iter().rev().enumerate().map(|(i, id)| (NodeId(i as u32), id.clone(), Some(stamp(3)))).collect(),
            )
            .expect("append");
        let fresh = Journal::load_bound(dir.path(), keys(true));
        assert_eq!(fresh.indexed, 0);
        assert_eq!(Stamps::get(&fresh, NodeId(5)), Some(stamp(3)));
    }

    #[test]
    fn digest_depends_on_every_part() {
        let base = stamp(1);
        let mut other = base.clone();
        other.rule = 2;
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.params[0].1 = "x".into();
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.inputs[0].1 = [7; 16];
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.outputs[0].1 = [7; 16];
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.at = 99;
        other.adopted = true;
        assert_eq!(base.digest(), other.digest(), "when and how are not part of it");
    }
}
