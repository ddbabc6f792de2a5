//! The experiment lock: an advisory lock on the experiment directory itself, held while darn
//! writes.
//!
//! The kernel releases it when its holder exits, however it exits, so there is never a stale
//! lock to remove; and since it is on the experiment's own directory, deleting a file (or all of
//! `.darn/`) cannot let a second writer in. The holder is named from the kernel's own table of locks (`/proc/locks`), so the
//! pid in a message is the process that really holds it.

use crate::error::{Error, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    _dir: File,
}

fn darn_dir(root: &Path) -> PathBuf {
    root.join(".darn")
}

impl Lock {
    /// Takes the lock, or says which process holds it.
    pub fn acquire(root: &Path) -> Result<Lock> {
        let darn = darn_dir(root);
        std::fs::create_dir_all(&darn).map_err(|e| Error::io(&darn, e))?;
        let dir = root.to_path_buf();
        let handle = File::open(&dir).map_err(|e| Error::io(&dir, e))?;
        match handle.try_lock() {
            Ok(()) => Ok(Lock { _dir: handle }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path: dir.clone(), pid: holder(&handle) }),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&dir, e)),
        }
    }

    /// Whether another live process holds the lock (read-only commands then leave darn's caches
    /// alone).
    pub fn is_held(root: &Path) -> bool {
        let Ok(handle) = File::open(root) else { return false };
        match handle.try_lock_shared() {
            Ok(()) => {
                let _ = handle.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

/// The pid holding a lock on the file behind `handle`, from `/proc/locks` (Linux).
fn holder(handle: &File) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = handle.metadata().ok()?;
        let (ino, dev) = (meta.ino(), meta.dev());
        let (major, minor) = (libc::major(dev), libc::minor(dev));
        let table = std::fs::read_to_string("/proc/locks").ok()?;
        // `1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234567 0 EOF`
        table.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (pid, id) = (fields.get(4)?, fields.get(5)?);
            let mut parts = id.split(':');
            let maj = u32::from_str_radix(parts.next()?, 16).ok()?;
            let min = u32::from_str_radix(parts.next()?, 16).ok()?;
            let inode: u64 = parts.next()?.parse().ok()?;
            (maj == major && min == minor && inode == ino).then(|| pid.parse().ok()).flatten()
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = handle;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_its_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = Lock::acquire(dir.path()).expect("first lock");
        assert!(Lock::is_held(dir.path()));
        match Lock::acquire(dir.path()) {
            Err(Error::Locked { pid, .. }) => {
                if cfg!(target_os = "linux") {
                    assert_eq!(pid, Some(std::process::id()));
                }
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        // Deleting darn's directory does not let a second writer in.
        std::fs::remove_dir_all(dir.path().join(".darn")).expect("remove .darn");
        assert!(matches!(Lock::acquire(dir.path()), Err(Error::Locked { .. })));
        drop(held);
        assert!(!Lock::is_held(dir.path()));
        assert!(Lock::acquire(dir.path()).is_ok());
    }
}
