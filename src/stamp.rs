//! Stamps: what each node was last built (or adopted) from, kept in an append-only,
//! checksummed journal in `.darn/`, plus the lock that keeps two darns off one experiment.
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

/// A truncated blake3 hash.
pub type Hash = [u8; 16];

/// The hash recorded for a file that does not exist.
pub const ABSENT: Hash = [0u8; 16];

/// Short hex for humans.
pub fn short_hex(h: &Hash) -> String {
    if *h == ABSENT { "absent".to_string() } else { h.iter().take(4).map(|b| format!("{b:02x}")).collect() }
}

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

/// Computes the fingerprint of a node from its named parts.
pub fn fingerprint(rule_id: &str, rule: u32, params: &[(String, String)], inputs: &[(String, Hash)]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(rule_id.as_bytes());
    h.update(&[0]);
    h.update(&rule.to_le_bytes());
    for (k, v) in params {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(v.as_bytes());
        h.update(&[0]);
    }
    for (k, v) in inputs {
        h.update(k.as_bytes());
        h.update(&[0]);
        h.update(v);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    out
}

#[derive(Serialize, Deserialize)]
struct Record {
    id: String,
    /// `None` invalidates the node's stamp (written before a rebuild).
    stamp: Option<Stamp>,
}

const MAGIC: &[u8; 8] = b"DARNJ01\n";

/// The journal of stamps, loaded in memory.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    stamps: HashMap<String, Stamp>,
    /// Bytes of valid records in the file.
    file_bytes: u64,
    /// Records in the file (live or superseded).
    records: usize,
    /// What load had to repair, for a warning.
    pub recovered: Option<String>,
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let h = blake3::hash(payload);
    let mut out = [0u8; 4];
    out.copy_from_slice(&h.as_bytes()[..4]);
    out
}

fn encode(record: &Record) -> Vec<u8> {
    let payload = postcard::to_allocvec(record).unwrap_or_default();
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload));
    out.extend_from_slice(&payload);
    out
}

impl Journal {
    /// The journal of an experiment (`.darn/journal`), empty when there is none.
    pub fn path_in(root: &Path) -> PathBuf {
        root.join(".darn").join("journal")
    }

    /// Loads the journal; a corrupt or torn tail is dropped (and reported in `recovered`).
    pub fn load(root: &Path) -> Journal {
        let path = Self::path_in(root);
        let mut j = Journal { path: path.clone(), stamps: HashMap::new(), file_bytes: 0, records: 0, recovered: None };
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                if let Err(e) = f.read_to_end(&mut bytes) {
                    j.recovered = Some(format!("{}: unreadable ({e}); every node will be re-checked", path.display()));
                    return j;
                }
            }
            Err(_) => return j,
        }
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            j.recovered = Some(format!(
                "{}: not a darn journal; starting afresh (every node will be re-checked)",
                path.display()
            ));
            return j;
        }
        let mut pos = MAGIC.len();
        while pos < bytes.len() {
            let Some(head) = bytes.get(pos..pos + 8) else {
                break;
            };
            let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let sum = [head[4], head[5], head[6], head[7]];
            let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if checksum(payload) != sum {
                break;
            }
            let Ok(record) = postcard::from_bytes::<Record>(payload) else {
                break;
            };
            match record.stamp {
                Some(s) => {
                    j.stamps.insert(record.id, s);
                }
                None => {
                    j.stamps.remove(&record.id);
                }
            }
            j.records += 1;
            pos += 8 + len;
        }
        j.file_bytes = pos as u64;
        if pos < bytes.len() {
            j.recovered = Some(format!(
                "{}: dropped {} damaged bytes at the end (an interrupted write); the nodes they stamped will be re-checked",
                path.display(),
                bytes.len() - pos
            ));
        }
        j
    }

    pub fn get(&self, id: &str) -> Option<&Stamp> {
        self.stamps.get(id)
    }

    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
    }

    /// Appends records durably (one fsync): `None` invalidates a stamp. The damaged tail of an
    /// earlier crash, if any, is cut off first so new records follow valid ones.
    pub fn append(&mut self, records: Vec<(String, Option<Stamp>)>) -> std::io::Result<()> {
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
        } else if len != self.file_bytes {
            f.set_len(self.file_bytes)?;
        }
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(self.file_bytes))?;
        let mut buf = Vec::new();
        for (id, stamp) in records {
            buf.extend_from_slice(&encode(&Record { id: id.clone(), stamp: stamp.clone() }));
            match stamp {
                Some(s) => {
                    self.stamps.insert(id, s);
                }
                None => {
                    self.stamps.remove(&id);
                }
            }
            self.records += 1;
        }
        f.write_all(&buf)?;
        f.sync_data()?;
        self.file_bytes += buf.len() as u64;
        self.recovered = None;
        Ok(())
    }

    /// Rewrites the journal with live stamps only (temp + fsync + rename) once superseded
    /// records outnumber live ones.
    pub fn compact_if_needed(&mut self) -> std::io::Result<bool> {
        if self.records < 1024 || self.records < self.stamps.len() * 2 {
            return Ok(false);
        }
        let dir = self.path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut buf = Vec::from(&MAGIC[..]);
        let mut ids: Vec<&String> = self.stamps.keys().collect();
        ids.sort();
        for id in ids {
            buf.extend_from_slice(&encode(&Record { id: id.clone(), stamp: self.stamps.get(id).cloned() }));
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(&buf)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        crate::write::sync_dir(&dir)?;
        self.file_bytes = buf.len() as u64;
        self.records = self.stamps.len();
        Ok(true)
    }
}

/// The experiment lock (`.darn/lock`), held while darn writes.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock or says which process holds it.
    pub fn acquire(root: &Path) -> crate::error::Result<Lock> {
        let dir = root.join(".darn");
        std::fs::create_dir_all(&dir).map_err(|e| crate::error::Error::io(&dir, e))?;
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| crate::error::Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim().to_string();
                return Err(crate::error::Error::Locked {
                    path,
                    pid: if pid.is_empty() { "unknown".into() } else { pid },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(crate::error::Error::io(&path, e)),
        }
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        let _ = file.sync_data();
        Ok(Lock { _file: file })
    }

    /// True when another live process holds the lock (read-only commands use this to decide
    /// whether they may refresh the cache).
    pub fn is_held(root: &Path) -> bool {
        let path = root.join(".darn").join("lock");
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        j.append(vec![("a".into(), Some(stamp(1))), ("b".into(), Some(stamp(2)))]).expect("append");
        j.append(vec![("a".into(), None)]).expect("append");
        let j2 = Journal::load(dir.path());
        assert_eq!(j2.len(), 1);
        assert_eq!(j2.get("b"), Some(&stamp(2)));
        assert!(j2.recovered.is_none());

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
        j3.append(vec![("c".into(), Some(stamp(3)))]).expect("append");
        assert_eq!(
            std::fs::read(&path).expect("read").len(),
            good + encode(&Record { id: "c".into(), stamp: Some(stamp(3)) }).len()
        );
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
            j.append((0..600).map(|i| (format!("n{i}"), Some(stamp(round)))).collect()).expect("append");
        }
        assert!(j.compact_if_needed().expect("compact"));
        let j2 = Journal::load(dir.path());
        assert_eq!(j2.len(), 600);
        assert_eq!(j2.get("n5"), Some(&stamp(2)));
    }

    #[test]
    fn second_lock_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = Lock::acquire(dir.path()).expect("first lock");
        assert!(Lock::is_held(dir.path()));
        match Lock::acquire(dir.path()) {
            Err(crate::error::Error::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn fingerprint_depends_on_every_part() {
        let p = vec![("model".to_string(), "a".to_string())];
        let i = vec![("x".to_string(), [1u8; 16])];
        let base = fingerprint("r", 1, &p, &i);
        assert_ne!(base, fingerprint("r", 2, &p, &i));
        assert_ne!(base, fingerprint("r", 1, &[("model".into(), "b".into())], &i));
        assert_ne!(base, fingerprint("r", 1, &p, &[("x".into(), [2u8; 16])]));
        assert_eq!(base, fingerprint("r", 1, &p, &i));
    }
}
