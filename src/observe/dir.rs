//! Stat data and a handle on one directory: files are stat-ed and opened relative to it, so the
//! kernel resolves one to three path components per file instead of the whole path from the root
//! (a quarter of what a stat costs on deep trees).

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Stat data that changes whenever a file's content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
        Self::try_of(path).ok().flatten()
    }

    /// Stat data of a path: `Ok(None)` if it does not exist, `Err` if it cannot be looked at.
    pub fn try_of(path: &Path) -> std::io::Result<Option<StatSig>> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(Self::from_meta(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stat data of an open regular file: an error for a directory, a pipe, a socket or a device.
    pub fn of_regular_file(file: &std::fs::File) -> std::io::Result<StatSig> {
        #[cfg(unix)]
        {
            use rustix::fs::FileType;
            let st = rustix::fs::fstat(file)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => Ok(Self::from_stat(&st)),
                FileType::Directory => Err(std::io::ErrorKind::IsADirectory.into()),
                _ => Err(std::io::Error::other(crate::util::problem::NotAFile)),
            }
        }
        #[cfg(not(unix))]
        {
            let m = file.metadata()?;
            if m.is_dir() {
                return Err(std::io::ErrorKind::IsADirectory.into());
            }
            if !m.is_file() {
                return Err(std::io::Error::other(crate::util::problem::NotAFile));
            }
            Ok(Self::from_meta(&m))
        }
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

    fn from_meta(m: &std::fs::Metadata) -> StatSig {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            StatSig {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            }
        }
        #[cfg(not(unix))]
        {
            let ns = |t: std::io::Result<std::time::SystemTime>| {
                t.ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i128)
            };
            StatSig { dev: 0, ino: 0, size: m.len(), mtime_ns: ns(m.modified()), ctime_ns: ns(m.created()) }
        }
    }

    /// Newest of mtime and ctime, for the racy check.
    pub fn newest_ns(&self) -> i128 {
        self.mtime_ns.max(self.ctime_ns)
    }
}

/// A handle on one directory (a run's, usually) for stat-ing and opening files under it.
pub struct Dir<'a> {
    path: &'a Path,
    #[cfg(unix)]
    handle: Handle,
}

#[cfg(unix)]
enum Handle {
    Open(rustix::fd::OwnedFd),
    /// The directory does not exist: nothing in it does.
    Missing,
    /// It could not be opened (permissions, not a directory): stat by path, which reports why.
    ByPath,
}

impl<'a> Dir<'a> {
    pub fn new(path: &'a Path) -> Self {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let handle = match rustix::fs::open(path, flags, Mode::empty()) {
                Ok(fd) => Handle::Open(fd),
                Err(rustix::io::Errno::NOENT) => Handle::Missing,
                Err(_) => Handle::ByPath,
            };
            Dir { path, handle }
        }
        #[cfg(not(unix))]
        Dir { path }
    }

    /// The path of `rel` under the directory (`.` is the directory itself).
    pub fn path_of(&self, rel: &str) -> std::path::PathBuf {
        if rel == "." { self.path.to_path_buf() } else { self.path.join(rel) }
    }

    /// The stat data of `rel` (relative to the directory; `.` for the directory itself):
    /// `Ok(None)` when it does not exist, `Err` when it cannot be looked at.
    pub fn stat(&self, rel: &str) -> std::io::Result<Option<StatSig>> {
        #[cfg(unix)]
        match (&self.handle, rel) {
            (Handle::Missing, _) => return Ok(None),
            (Handle::Open(fd), ".") => return Ok(rustix::fs::fstat(fd).ok().map(|s| StatSig::from_stat(&s))),
            (Handle::Open(fd), rel) => {
                return match rustix::fs::statat(fd, rel, rustix::fs::AtFlags::empty()) {
                    Ok(s) => Ok(Some(StatSig::from_stat(&s))),
                    Err(rustix::io::Errno::NOENT) => Ok(None),
                    Err(e) => Err(e.into()),
                };
            }
            (Handle::ByPath, _) => {}
        }
        match rel {
            "." => StatSig::try_of(self.path),
            rel => StatSig::try_of(&self.path.join(rel)),
        }
    }

    /// Opens a file under the directory for reading.
    pub fn open(&self, rel: &str) -> std::io::Result<std::fs::File> {
        #[cfg(unix)]
        match &self.handle {
            Handle::Missing => return Err(std::io::ErrorKind::NotFound.into()),
            Handle::Open(fd) => {
                use rustix::fs::{Mode, OFlags};
                // Non-blocking: a pipe in a file's place must not hang the open (it is then
                // refused as not a file).
                let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
                let file = rustix::fs::openat(fd, rel, flags, Mode::empty())?;
                return Ok(std::fs::File::from(file));
            }
            Handle::ByPath => {}
        }
        std::fs::File::open(self.path.join(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_stat_agrees_with_stat_by_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::write(run.join("agent/result.json"), "{}").expect("write");
        let dir = Dir::new(&run);
        for name in [".", "agent", "agent/result.json", "agent/output.txt", "judge"] {
            let by_path = if name == "." { StatSig::of(&run) } else { StatSig::of(&run.join(name)) };
            assert_eq!(dir.stat(name).ok().flatten(), by_path, "{name}");
        }
        let file = std::fs::File::open(run.join("agent/result.json")).expect("open");
        assert_eq!(StatSig::of_file(&file), StatSig::of(&run.join("agent/result.json")));
        let missing = tmp.path().join("run_02");
        let gone = Dir::new(&missing);
        assert_eq!(gone.stat("agent/result.json").ok().flatten(), None);
    }
}
