//! The first look at a run: which of its declared files exist and the content hash of each,
//! taken from the stat cache where the stat data is unchanged and read (and hashed) otherwise.
//!
//! Absent files cost nothing when their directory did not change: a created or deleted file
//! changes its directory's stat data, so a cache entry records its directories and the present
//! files only.

use super::dir::{Dir, StatSig};
use crate::experiment::files::RunFile;
use crate::util::hash::{ABSENT, Hash, UNREADABLE, hash_bytes};
pub use crate::util::problem::IoProblem;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Arc;

/// The file whose presence makes `f` irrelevant, if any: the runner's per-command copies of the
/// agent's streams are read only without the streams themselves, and a judge's `replay.sh` only
/// tells that a slot ran when nothing else does.
fn fallback_of(f: RunFile) -> Option<RunFile> {
    let name = f.as_str();
    let other = match name {
        "agent/cmd_0000_stdout.log" => "agent/stdout.log".to_string(),
        "agent/cmd_0000_stderr.log" => "agent/stderr.log".to_string(),
        _ => format!("{}/judgment.json", name.strip_suffix("/replay.sh").filter(|d| d.starts_with("judge/judge_"))?),
    };
    RunFile::of(&other)
}

/// What the first look found of one file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileState {
    Absent,
    /// A file with this content hash (for a directory: that it is one).
    Present(Hash),
    Unreadable(IoProblem),
}

/// The hash of a directory that exists (its listing is not part of any decision).
const DIR: Hash = [0xd1; 16];

impl FileState {
    pub fn hash(self) -> Hash {
        match self {
            FileState::Absent => ABSENT,
            FileState::Present(h) => h,
            FileState::Unreadable(_) => UNREADABLE,
        }
    }
}

/// Which files of a run to look at: every file a rule reads or writes, and the directories that
/// hold them (whose stat data tells when a file appeared or vanished).
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// Files, each with the index of its directory in `dirs`.
    pub files: Vec<(RunFile, usize)>,
    /// For each file, the earlier file whose presence makes it irrelevant (a fallback source
    /// such as `agent/cmd_0000_stdout.log`, read only when `agent/stdout.log` is absent): it is
    /// not looked at then. Its state reads as absent, and the other file's hash, part of every
    /// digest that covers both, changes when it matters again.
    pub unless: Vec<Option<usize>>,
    /// Directories (`.` first); `workspace` among them when a rule looks at it.
    pub dirs: Vec<RunFile>,
}

impl Declared {
    /// Declares `files` and `dirs` (the parent of every file must be among `dirs`, or be `.`).
    pub fn new(files: impl IntoIterator<Item = RunFile>, dirs: impl IntoIterator<Item = RunFile>) -> Declared {
        let mut d: Vec<RunFile> = Vec::new();
        if let Some(dot) = RunFile::of(".") {
            d.push(dot);
        }
        for dir in dirs {
            if !d.contains(&dir) {
                d.push(dir);
            }
        }
        let mut fs: Vec<(RunFile, usize)> = Vec::new();
        for f in files {
            if fs.iter().any(|(g, _)| *g == f) || d.contains(&f) {
                continue;
            }
            let parent = f.as_str().rsplit_once('/').map_or(".", |(p, _)| p);
            let at = d.iter().position(|x| x.as_str() == parent).unwrap_or(0);
            fs.push((f, at));
        }
        // Fallbacks after what they stand in for, so the look sees the other file first.
        fs.sort_by_key(|(f, _)| fallback_of(*f).is_some());
        let unless = fs
            .iter()
            .map(|(f, _)| fallback_of(*f).and_then(|other| fs.iter().position(|(g, _)| *g == other)))
            .collect();
        Declared { files: fs, dirs: d, unless }
    }
}

/// The states of a run's declared files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFiles {
    /// The run directory exists.
    pub exists: bool,
    states: Vec<(RunFile, FileState)>,
}

impl RunFiles {
    pub fn state(&self, f: RunFile) -> FileState {
        self.states.iter().find(|(g, _)| *g == f).map_or(FileState::Absent, |(_, s)| *s)
    }

    pub fn hash(&self, f: RunFile) -> Hash {
        self.state(f).hash()
    }

    pub fn present(&self, f: RunFile) -> bool {
        matches!(self.state(f), FileState::Present(_))
    }

    /// Every file and directory looked at, with what was found.
    pub fn entries(&self) -> impl Iterator<Item = (RunFile, FileState)> + '_ {
        self.states.iter().copied()
    }

    /// Every file that exists but cannot be read, in declaration order.
    pub fn unreadable(&self) -> impl Iterator<Item = (RunFile, IoProblem)> + '_ {
        self.states.iter().filter_map(|(f, s)| match s {
            FileState::Unreadable(p) => Some((*f, *p)),
            _ => None,
        })
    }

    /// Records a new state for a file (after darn wrote it).
    pub fn set(&mut self, f: RunFile, state: FileState) {
        match self.states.iter_mut().find(|(g, _)| *g == f) {
            Some(entry) => entry.1 = state,
            None => self.states.push((f, state)),
        }
    }

    /// One digest of every state: equal digests mean nothing in the run changed.
    pub fn digest(&self) -> Hash {
        let mut d = crate::util::hash::Digest::new();
        d.raw(&[u8::from(self.exists)]);
        for (f, s) in &self.states {
            d.raw(&f.index().to_le_bytes()).raw(&s.hash());
        }
        d.finish()
    }
}

/// A cache entry: the stat data of a run's directories and present files, with their hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    dirs: Vec<(RunFile, Option<StatSig>)>,
    files: Vec<(RunFile, StatSig, Hash)>,
}

/// Bytes read during the first look, kept for the checks that follow (small files only).
pub type Loaded = HashMap<RunFile, Arc<[u8]>>;

/// Files larger than this are hashed as a stream and never kept in memory whole.
pub const KEEP_LIMIT: u64 = 8 << 20;

/// What a look at one run gave.
pub struct Looked {
    pub files: RunFiles,
    /// Contents read on the way (a cache hit reads nothing).
    pub loaded: Loaded,
    /// The entry to store (`None`: keep the old one, or store nothing because something is racy
    /// or unreadable).
    pub entry: Option<RunEntry>,
}

/// Reads a file through an open handle: its stat data (taken from the open file before reading,
/// so new stat data is never paired with old content), its hash, and its bytes when small.
pub fn read_file(file: std::fs::File) -> std::io::Result<(Option<StatSig>, Hash, Option<Vec<u8>>)> {
    let mut file = file;
    let sig = Some(StatSig::of_regular_file(&file)?);
    let size = sig.map_or(0, |s| s.size);
    if size <= KEEP_LIMIT {
        // The `size` bytes the stat data describes, without probing for more: a file that
        // grows meanwhile has new stat data, and the next look reads it again.
        let mut buf = vec![0u8; size as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        return Ok((sig, hash_bytes(&buf), Some(buf)));
    }
    stream_rest(file, blake3::Hasher::new()).map(|hash| (sig, hash, None))
}

fn stream_rest(mut file: std::fs::File, mut h: blake3::Hasher) -> std::io::Result<Hash> {
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        h.update(&chunk[..n]);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize().as_bytes()[..16]);
    Ok(out)
}

/// Looks at a run's declared files, reusing `cached` where the stat data is unchanged.
/// `racy_after_ns`: stat data newer than this is not stored (a later write in the same
/// timestamp tick could go unnoticed, the "racy" case git documents).
/// `sweep`: remove darn's leftover temp files (a kill mid-write) from any directory that changed
/// since the cached look; only a command that holds the lock may.
pub fn look(
    dir: &Dir,
    declared: &Declared,
    cached: Option<&RunEntry>,
    racy_after_ns: i128,
    keep: bool,
    sweep: bool,
) -> Looked {
    let mut states: Vec<(RunFile, FileState)> = Vec::with_capacity(declared.files.len() + declared.dirs.len());
    let mut loaded = Loaded::new();
    let mut store = true;
    let mut changed = cached.is_none();
    let racy = |s: &StatSig| s.newest_ns() > racy_after_ns;

    // Directories first: an unchanged directory vouches for the absence of its files.
    let mut dir_sigs: Vec<(RunFile, Option<StatSig>)> = Vec::with_capacity(declared.dirs.len());
    let mut dir_same: Vec<bool> = Vec::with_capacity(declared.dirs.len());
    for &d in &declared.dirs {
        let stat = || dir.stat(d.as_str());
        let first = stat();
        let unchanged = |sig: &Option<StatSig>| {
            cached.and_then(|c| c.dirs.iter().find(|(g, _)| *g == d)).is_some_and(|(_, s)| s == sig)
        };
        let swept = match &first {
            Ok(Some(sig)) if sweep && !unchanged(&Some(*sig)) => crate::util::fs::sweep_temps(&dir.path_of(d.as_str())),
            _ => false,
        };
        let sig = match if swept { stat() } else { first } {
            Ok(s) => s,
            Err(e) => {
                states.push((d, FileState::Unreadable(IoProblem::of(&e))));
                store = false;
                dir_sigs.push((d, None));
                dir_same.push(false);
                continue;
            }
        };
        if sig.as_ref().is_some_and(racy) {
            store = false;
        }
        let same = cached.and_then(|c| c.dirs.iter().find(|(g, _)| *g == d)).is_some_and(|(_, s)| *s == sig);
        changed |= !same;
        dir_same.push(same);
        dir_sigs.push((d, sig));
        if d.as_str() != "." {
            states.push((d, if sig.is_some() { FileState::Present(DIR) } else { FileState::Absent }));
        }
    }
    let exists = dir_sigs.first().is_some_and(|(_, s)| s.is_some());
    let mut present: Vec<(RunFile, StatSig, Hash)> = Vec::new();
    let mut seen = vec![false; declared.files.len()];
    for (i, &(f, at)) in declared.files.iter().enumerate() {
        let known = cached.and_then(|c| c.files.iter().find(|(g, _, _)| *g == f));
        if declared.unless[i].is_some_and(|o| seen[o]) {
            changed |= known.is_some();
            continue;
        }
        if !exists || (known.is_none() && dir_same.get(at).copied().unwrap_or(false)) {
            // Absent last time, and its directory has not changed since.
            continue;
        }
        // A file known from last time is stat-ed and kept if unchanged; any other is opened
        // straight away (the open file gives its stat data).
        if let Some((_, old, hash)) = known {
            match dir.stat(f.as_str()) {
                Ok(Some(sig)) if sig == *old && !racy(&sig) => {
                    seen[i] = true;
                    states.push((f, FileState::Present(*hash)));
                    present.push((f, sig, *hash));
                    continue;
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    changed = true;
                    continue;
                }
                Err(e) => {
                    seen[i] = true;
                    states.push((f, FileState::Unreadable(IoProblem::of(&e))));
                    store = false;
                    changed = true;
                    continue;
                }
            }
        }
        changed = true;
        match dir.open(f.as_str()).and_then(read_file) {
            Ok((sig_now, hash, bytes)) => {
                seen[i] = true;
                states.push((f, FileState::Present(hash)));
                match sig_now {
                    Some(s) if !racy(&s) => present.push((f, s, hash)),
                    _ => store = false,
                }
                if keep && let Some(b) = bytes {
                    loaded.insert(f, Arc::from(b));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                seen[i] = true;
                states.push((f, FileState::Unreadable(IoProblem::of(&e))));
                store = false;
            }
        }
    }
    let entry = (store && changed).then_some(RunEntry { dirs: dir_sigs, files: present });
    // Sized for every declared file, but absent ones are not listed: these are kept for every
    // run (a third of their size at 100,000 runs).
    states.shrink_to_fit();
    Looked { files: RunFiles { exists, states }, loaded, entry }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> RunFile {
        RunFile::of(name).unwrap_or_else(|| panic!("{name} in the vocabulary"))
    }

    fn declared() -> Declared {
        Declared::new(["agent/result.json", "agent/output.txt", "run_result.json"].map(f), ["agent", "judge"].map(f))
    }

    #[test]
    fn an_entry_is_reused_until_a_file_or_directory_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        let d = Dir::new(&run);
        // Nothing counts as racy: the files were written just now.
        let first = look(&d, &declared(), None, i128::MAX, true, false);
        assert!(first.files.exists);
        assert_eq!(first.files.hash(f("agent/result.json")), hash_bytes(b"{}"));
        assert_eq!(first.files.state(f("agent/output.txt")), FileState::Absent);
        assert!(first.loaded.contains_key(&f("agent/result.json")));
        let entry = first.entry.expect("stored");

        let again = look(&d, &declared(), Some(&entry), i128::MAX, true, false);
        assert!(again.loaded.is_empty(), "a hit reads nothing");
        assert!(again.entry.is_none(), "nothing to store");
        assert_eq!(again.files, first.files);

        std::fs::write(run.join("agent/output.txt"), "out").expect("write");
        let added = look(&d, &declared(), Some(&entry), i128::MAX, true, false);
        assert_eq!(added.files.hash(f("agent/output.txt")), hash_bytes(b"out"), "a new file shows");
        std::fs::write(run.join("agent/result.json"), "{\"a\": 1}").expect("write");
        let edited = look(&d, &declared(), added.entry.as_ref(), i128::MAX, true, false);
        assert_eq!(edited.files.hash(f("agent/result.json")), hash_bytes(b"{\"a\": 1}"), "an edit in place shows");
    }

    #[test]
    fn fallbacks_are_looked_at_only_without_what_they_stand_in_for() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/stdout.log"), "out").expect("write");
        std::fs::write(run.join("agent/cmd_0000_stdout.log"), "copy").expect("write");
        let declared = Declared::new(["agent/cmd_0000_stdout.log", "agent/stdout.log"].map(f), ["agent"].map(f));
        let d = Dir::new(&run);
        let both = look(&d, &declared, None, i128::MAX, true, false);
        assert_eq!(both.files.state(f("agent/cmd_0000_stdout.log")), FileState::Absent, "not looked at");
        let entry = both.entry.expect("stored");
        std::fs::remove_file(run.join("agent/stdout.log")).expect("remove");
        let alone = look(&d, &declared, Some(&entry), i128::MAX, true, false);
        assert_eq!(alone.files.hash(f("agent/cmd_0000_stdout.log")), hash_bytes(b"copy"), "now it counts");
        assert_eq!(alone.files.state(f("agent/stdout.log")), FileState::Absent);
    }

    #[test]
    fn racy_files_are_not_stored_and_a_missing_run_has_nothing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        let racy = look(&Dir::new(&run), &declared(), None, 0, true, false);
        assert!(racy.entry.is_none());
        let gone = tmp.path().join("run_02");
        let none = look(&Dir::new(&gone), &declared(), None, i128::MAX, true, false);
        assert!(!none.files.exists);
        assert_eq!(none.files.state(f("agent/result.json")), FileState::Absent);
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_file_is_not_absent() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::create_dir_all(run.join("agent/result.json")).expect("a directory in a file's place");
        let looked = look(&Dir::new(&run), &declared(), None, i128::MAX, true, false);
        assert_eq!(looked.files.state(f("agent/result.json")), FileState::Unreadable(IoProblem::IsADirectory));
        assert!(looked.entry.is_none());
        std::fs::set_permissions(run.join("agent"), std::fs::Permissions::from_mode(0o000)).expect("chmod");
        // Root reads anything: the check only means something for other users.
        let as_root = unsafe { libc::geteuid() } == 0;
        let looked = look(&Dir::new(&run), &declared(), None, i128::MAX, true, false);
        if !as_root {
            assert!(looked.files.unreadable().next().is_some());
        }
        std::fs::set_permissions(run.join("agent"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
}
