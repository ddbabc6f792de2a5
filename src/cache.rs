//! The stat cache (`.darn/cache`): what darn last observed about each run and the content hash
//! of each aggregate file, keyed by the files' stat data (device, inode, size, mtime, ctime), so
//! a no-op command stats files instead of reading and hashing them.
//!
//! A run's entry is valid when every file it read and every directory it looked in still has
//! the same stat data (a created or deleted file changes its directory's mtime). Entries for
//! files modified within the last two seconds before the scan are not stored: a later write in
//! the same timestamp tick could otherwise go unnoticed (the "racy" case git documents). The
//! cache is only an accelerator: it is rebuilt whenever it is missing, corrupt or of another
//! darn version, and losing it costs time, never correctness.

use crate::experiment::files::RunFile;
use crate::observe::{Dep, Deps, RunObs};
use crate::stamp::Hash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const VERSION: u32 = 6;

/// Stat data that changes whenever a file's content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatSig {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl StatSig {
    /// Stat data of a path (following symlinks); `None` if it does not exist.
    pub fn of(path: &Path) -> Option<StatSig> {
        #[cfg(unix)]
        return rustix::fs::stat(path).ok().map(|s| Self::from_stat(&s));
        #[cfg(not(unix))]
        return std::fs::metadata(path).ok().map(|m| Self::from_meta(&m));
    }

    /// Stat data of an open file.
    pub fn of_file(file: &std::fs::File) -> Option<StatSig> {
        #[cfg(unix)]
        return rustix::fs::fstat(file).ok().map(|s| Self::from_stat(&s));
        #[cfg(not(unix))]
        return file.metadata().ok().map(|m| Self::from_meta(&m));
    }

    // Field types differ between platforms; the conversions are lossless where they apply.
    #[cfg(unix)]
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from_stat(s: &rustix::fs::Stat) -> StatSig {
        StatSig {
            dev: s.st_dev as u64,
            ino: s.st_ino as u64,
            size: s.st_size as u64,
            mtime_ns: i128::from(s.st_mtime as i64) * 1_000_000_000 + i128::from(s.st_mtime_nsec as i64),
            ctime_ns: i128::from(s.st_ctime as i64) * 1_000_000_000 + i128::from(s.st_ctime_nsec as i64),
        }
    }

    #[cfg(not(unix))]
    fn from_meta(m: &std::fs::Metadata) -> StatSig {
        let ns = |t: std::io::Result<std::time::SystemTime>| {
            t.ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i128)
        };
        StatSig { dev: 0, ino: 0, size: m.len(), mtime_ns: ns(m.modified()), ctime_ns: ns(m.created()) }
    }

    /// Newest of mtime and ctime, for the racy check.
    fn newest_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunEntry {
    /// Hash of the observation context (config, era, darn version).
    ctx: Hash,
    /// What the observation of everything but `agent/` depended on.
    rest: DepSet,
    /// The same for `agent/`; `None` when it was racy (the agent stage is then observed again).
    agent: Option<DepSet>,
    /// What the rest of the observation took from the agent stage.
    agent_key: Hash,
    obs: Arc<RunObs>,
}

/// Directories and files (relative to the run directory) an observation depended on, with one
/// digest of their stat data (`None`, absent, included): a run's entry stays small, and a
/// lookup stats the files and compares a single hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DepSet {
    files: Vec<RunFile>,
    digest: Hash,
}

impl DepSet {
    fn of(deps: &[Dep]) -> DepSet {
        DepSet { files: deps.iter().map(|(f, _)| *f).collect(), digest: sig_digest(deps.iter().copied()) }
    }

    fn unchanged(&self, stat: &RunDirStat) -> bool {
        sig_digest(self.files.iter().map(|f| (*f, stat.sig(*f)))) == self.digest
    }
}

fn sig_digest(deps: impl Iterator<Item = Dep>) -> Hash {
    // Gathered and hashed at once: one hasher call per piece would cost more than the hashing.
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    for (f, sig) in deps {
        buf.extend_from_slice(&f.as_str().len().to_le_bytes());
        buf.extend_from_slice(f.as_str().as_bytes());
        match sig {
            None => buf.push(0),
            Some(s) => {
                buf.push(1);
                for v in [s.dev, s.ino, s.size] {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                for v in [s.mtime_ns, s.ctime_ns] {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    crate::observe::hash_bytes(&buf)
}

/// What the cache knows of a run.
pub enum Lookup {
    /// Nothing it depended on changed.
    Hit(Arc<RunObs>),
    /// Only `agent/` changed: observe that again, and the rest stands if the agent stage gives
    /// the same key (`observe::observe_agent_again`).
    AgentChanged {
        obs: Arc<RunObs>,
        agent_key: Hash,
    },
    Miss,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    sig: StatSig,
    hash: Hash,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    runs: HashMap<String, RunEntry>,
    files: HashMap<String, FileEntry>,
}

/// The loaded cache.
#[derive(Debug, Default)]
pub struct ObsCache {
    path: Option<PathBuf>,
    stored: Stored,
    dirty: bool,
    /// Scan start in ns since the epoch: entries touched after `scan_start - 2 s` are racy.
    scan_start_ns: i128,
}

/// Directories whose listing a run's observation depends on.
pub fn run_dirs(slots: usize) -> Vec<RunFile> {
    let mut dirs: Vec<RunFile> = [".", "agent", "judge"].iter().filter_map(|d| RunFile::of(d)).collect();
    dirs.extend((1..=slots).filter_map(|n| RunFile::slot(n, "")));
    dirs
}

/// Stats the files of one run directory. On Unix it does so relative to an open handle on the
/// directory: the kernel then resolves one to three path components per file instead of the
/// whole path from the root, which is a quarter of what a stat costs on deep trees.
pub struct RunDirStat<'a> {
    dir: &'a Path,
    #[cfg(unix)]
    handle: Handle,
}

#[cfg(unix)]
enum Handle {
    Open(rustix::fd::OwnedFd),
    /// The directory does not exist: nothing in it does.
    Missing,
    /// It could not be opened (permissions, not a directory): stat by path.
    ByPath,
}

impl<'a> RunDirStat<'a> {
    pub fn new(dir: &'a Path) -> Self {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let handle = match rustix::fs::open(dir, flags, Mode::empty()) {
                Ok(fd) => Handle::Open(fd),
                Err(rustix::io::Errno::NOENT) => Handle::Missing,
                Err(_) => Handle::ByPath,
            };
            RunDirStat { dir, handle }
        }
        #[cfg(not(unix))]
        RunDirStat { dir }
    }

    /// The stat data of `f` (a file or directory of the run, `.` for the run itself).
    pub fn sig(&self, f: RunFile) -> Option<StatSig> {
        self.sig_of(f.as_str())
    }

    /// The stat data of `rel` (relative to the run directory; `.` for the run itself).
    pub fn sig_of(&self, rel: &str) -> Option<StatSig> {
        #[cfg(unix)]
        match (&self.handle, rel) {
            (Handle::Missing, _) => return None,
            (Handle::Open(fd), ".") => return rustix::fs::fstat(fd).ok().map(|s| StatSig::from_stat(&s)),
            (Handle::Open(fd), rel) => {
                return rustix::fs::statat(fd, rel, rustix::fs::AtFlags::empty()).ok().map(|s| StatSig::from_stat(&s));
            }
            (Handle::ByPath, _) => {}
        }
        match rel {
            "." => StatSig::of(self.dir),
            rel => StatSig::of(&self.dir.join(rel)),
        }
    }

    /// Opens a file of the run (relative to the run directory) for reading.
    pub fn open(&self, rel: &str) -> std::io::Result<std::fs::File> {
        #[cfg(unix)]
        match &self.handle {
            Handle::Missing => return Err(std::io::ErrorKind::NotFound.into()),
            Handle::Open(fd) => {
                use rustix::fs::{Mode, OFlags};
                let file = rustix::fs::openat(fd, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
                return Ok(std::fs::File::from(file));
            }
            Handle::ByPath => {}
        }
        std::fs::File::open(self.dir.join(rel))
    }
}

fn now_ns() -> i128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

impl ObsCache {
    /// An empty cache that is never saved (for read-only commands on trees darn never touched).
    pub fn disabled() -> Self {
        ObsCache { scan_start_ns: now_ns(), ..ObsCache::default() }
    }

    /// Loads `.darn/cache` (empty when absent, corrupt or from another version).
    pub fn load(root: &Path) -> Self {
        let path = root.join(".darn").join("cache");
        let stored = std::fs::read(&path)
            .ok()
            .and_then(|b| postcard::from_bytes::<Stored>(&b).ok())
            .filter(|s| s.version == VERSION)
            .unwrap_or(Stored { version: VERSION, ..Stored::default() });
        ObsCache { path: Some(path), stored, dirty: false, scan_start_ns: now_ns() }
    }

    fn racy(&self, sig: &StatSig) -> bool {
        sig.newest_ns() >= self.scan_start_ns - 2_000_000_000
    }

    /// The cached observation of a run, and whether it still holds.
    pub fn lookup_run(&self, rel: &str, ctx: &Hash, dir: &Path) -> Lookup {
        let Some(entry) = self.stored.runs.get(rel) else { return Lookup::Miss };
        if entry.ctx != *ctx {
            return Lookup::Miss;
        }
        let stat = RunDirStat::new(dir);
        if !entry.rest.unchanged(&stat) {
            return Lookup::Miss;
        }
        match &entry.agent {
            Some(deps) if deps.unchanged(&stat) => Lookup::Hit(Arc::clone(&entry.obs)),
            _ => Lookup::AgentChanged { obs: Arc::clone(&entry.obs), agent_key: entry.agent_key },
        }
    }

    /// Records a run's observation with the stat data of everything it depended on. Racy
    /// parts are not kept: a racy `agent/` is observed again next time, a racy rest drops the
    /// entry. A rest taken unchanged from the cache keeps its record.
    pub fn store_run(&mut self, rel: &str, ctx: Hash, deps: &Deps, obs: &Arc<RunObs>) {
        let racy = |deps: &[Dep]| deps.iter().any(|(_, s)| s.as_ref().is_some_and(|s| self.racy(s)));
        let rest = match &deps.rest {
            Some(rest) if !racy(rest) => Some(DepSet::of(rest)),
            Some(_) => None,
            None => self.stored.runs.get(rel).filter(|e| e.ctx == ctx).map(|e| e.rest.clone()),
        };
        let Some(rest) = rest else {
            if self.stored.runs.remove(rel).is_some() {
                self.dirty = true;
            }
            return;
        };
        let agent = (!racy(&deps.agent)).then(|| DepSet::of(&deps.agent));
        let entry = RunEntry { ctx, rest, agent, agent_key: deps.agent_key, obs: Arc::clone(obs) };
        self.stored.runs.insert(rel.to_string(), entry);
        self.dirty = true;
    }

    /// The content hash of a file (relative to `root`), from the cache when its stat data is
    /// unchanged; `None` when it does not exist. Returns the bytes too when it had to read them.
    pub fn file_hash(&self, root: &Path, rel: &str) -> Option<(Hash, Option<Vec<u8>>)> {
        let path = root.join(rel);
        let sig = StatSig::of(&path)?;
        if let Some(e) = self.stored.files.get(rel)
            && e.sig == sig
        {
            return Some((e.hash, None));
        }
        let bytes = std::fs::read(&path).ok()?;
        Some((crate::observe::hash_bytes(&bytes), Some(bytes)))
    }

    /// Remembers a file's hash (after [`Self::file_hash`] read it).
    pub fn store_file(&mut self, root: &Path, rel: &str, hash: Hash) {
        let Some(sig) = StatSig::of(&root.join(rel)) else { return };
        if self.racy(&sig) {
            return;
        }
        if self.stored.files.get(rel).is_some_and(|e| e.sig == sig && e.hash == hash) {
            return;
        }
        self.stored.files.insert(rel.to_string(), FileEntry { sig, hash });
        self.dirty = true;
    }

    /// Drops entries for runs that no longer exist.
    pub fn retain_runs(&mut self, keep: &std::collections::HashSet<String>) {
        let before = self.stored.runs.len();
        self.stored.runs.retain(|k, _| keep.contains(k));
        if self.stored.runs.len() != before {
            self.dirty = true;
        }
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
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new().prefix(crate::write::TEMP_PREFIX).tempfile_in(dir)?;
        std::io::Write::write_all(&mut tmp, &bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::Deps;

    fn f(name: &str) -> RunFile {
        RunFile::of(name).unwrap_or_else(|| panic!("{name} in the vocabulary"))
    }

    #[test]
    fn run_dir_stat_agrees_with_stat_by_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        let stat = RunDirStat::new(&run);
        for name in [".", "agent", "agent/result.json", "agent/output.txt", "judge"] {
            let by_path = if name == "." { StatSig::of(&run) } else { StatSig::of(&run.join(name)) };
            assert_eq!(stat.sig(f(name)), by_path, "{name}");
        }
        let file = std::fs::File::open(run.join("agent/result.json")).expect("open");
        assert_eq!(StatSig::of_file(&file), StatSig::of(&run.join("agent/result.json")));
        let missing = tmp.path().join("run_02");
        let gone = RunDirStat::new(&missing);
        assert_eq!((gone.sig(f(".")), gone.sig(f("agent/result.json"))), (None, None));
    }

    #[test]
    fn a_change_under_agent_alone_keeps_the_rest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        std::fs::write(run.join("run_result.json"), "{}").expect("write");
        let stat = RunDirStat::new(&run);
        let deps = |names: &[&str]| names.iter().map(|n| (f(n), stat.sig(f(n)))).collect::<Vec<_>>();
        let deps = Deps {
            agent: deps(&["agent", "agent/result.json"]),
            rest: Some(deps(&[".", "run_result.json"])),
            agent_key: [7; 16],
        };
        // Nothing counts as racy here: the files were written just now.
        let mut cache = ObsCache { scan_start_ns: i128::MAX / 2, ..ObsCache::disabled() };
        let obs = Arc::new(crate::observe::observe_run(&run, &test_context()));
        cache.store_run("T0/00/run_01", [1; 16], &deps, &obs);
        assert!(matches!(cache.lookup_run("T0/00/run_01", &[1; 16], &run), Lookup::Hit(_)));
        assert!(matches!(cache.lookup_run("T0/00/run_01", &[2; 16], &run), Lookup::Miss), "another context");

        std::fs::remove_file(run.join("agent/result.json")).expect("remove");
        match cache.lookup_run("T0/00/run_01", &[1; 16], &run) {
            Lookup::AgentChanged { agent_key, .. } => assert_eq!(agent_key, [7; 16]),
            _ => panic!("only agent/ changed"),
        }
        // Observed again, the agent part is stored anew and the rest keeps its record.
        let again = Deps { agent: vec![(f("agent"), stat_now(&run, "agent"))], rest: None, agent_key: [8; 16] };
        cache.store_run("T0/00/run_01", [1; 16], &again, &obs);
        assert!(matches!(cache.lookup_run("T0/00/run_01", &[1; 16], &run), Lookup::Hit(_)));
        std::fs::write(run.join("run_result.json"), "{\"a\": 1}").expect("write");
        assert!(matches!(cache.lookup_run("T0/00/run_01", &[1; 16], &run), Lookup::Miss), "the rest changed");
    }

    #[test]
    fn racy_agent_files_are_observed_again_and_a_racy_rest_is_not_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        let stat = RunDirStat::new(&run);
        let sig = |n: &str| (f(n), stat.sig(f(n)));
        let obs = Arc::new(crate::observe::observe_run(&run, &test_context()));
        // Everything was written within the racy window of a scan starting now.
        let mut cache = ObsCache::disabled();
        let agent_racy = Deps {
            agent: vec![sig("agent/result.json")],
            rest: Some(vec![(f("report.md"), None)]),
            agent_key: [0; 16],
        };
        cache.store_run("r", [1; 16], &agent_racy, &obs);
        assert!(matches!(cache.lookup_run("r", &[1; 16], &run), Lookup::AgentChanged { .. }));
        let rest_racy = Deps { agent: Vec::new(), rest: Some(vec![sig(".")]), agent_key: [0; 16] };
        cache.store_run("r", [1; 16], &rest_racy, &obs);
        assert!(matches!(cache.lookup_run("r", &[1; 16], &run), Lookup::Miss));
        // A rest taken from the cache with no entry left to keep it: nothing is stored.
        let orphan = Deps { agent: Vec::new(), rest: None, agent_key: [0; 16] };
        cache.store_run("r", [1; 16], &orphan, &obs);
        assert!(matches!(cache.lookup_run("r", &[1; 16], &run), Lookup::Miss));
    }

    fn stat_now(run: &Path, name: &str) -> Option<StatSig> {
        RunDirStat::new(run).sig(f(name))
    }

    fn test_context() -> crate::observe::ObsContext {
        crate::observe::ObsContext {
            era: crate::experiment::era::Era::Head,
            run_id: "T0/00/run_01".into(),
            run_number: 1,
            agent_model: "claude-sonnet-4-6".into(),
            judge_models: vec!["claude-opus-4-6".into()],
            recorded_run_path: "/x/T0/00/run_01".into(),
            baseline_summary: None,
            want_contents: false,
        }
    }
}
