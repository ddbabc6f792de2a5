//! Durable, atomic writes in batches: every file goes to a temp file beside its target, one
//! filesystem sync makes them all durable, then each is renamed over its target and the
//! directories are synced. A crash leaves either the old file or the new one, never a mix; a
//! leftover temp file (`.darn-tmp-*`) is ignored by every scan and removed by the next batch.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The prefix of darn's temp files.
pub const TEMP_PREFIX: &str = ".darn-tmp-";

/// One file to write.
#[derive(Debug, Clone)]
pub struct PendingFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// Writes all files atomically and durably, with one filesystem sync for the whole batch (two
/// on Linux: one before the renames, one after; elsewhere each file and directory is synced).
pub fn commit(files: &[PendingFile]) -> std::io::Result<()> {
    use rayon::prelude::*;
    if files.is_empty() {
        return Ok(());
    }
    // Temp files are written in parallel: on slow-syscall machines the batch is syscall-bound.
    let staged: Vec<(tempfile::TempPath, &Path, BTreeSet<PathBuf>)> =
        files.par_iter().map(stage).collect::<std::io::Result<_>>()?;
    if sync_filesystem_supported() {
        sync_filesystem(staged[0].0.as_ref())?;
    }
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    let mut renames: Vec<(tempfile::TempPath, &Path)> = Vec::with_capacity(staged.len());
    for (tmp, target, new_dirs) in staged {
        dirs.extend(new_dirs);
        renames.push((tmp, target));
    }
    renames.into_par_iter().try_for_each(|(tmp, target)| tmp.persist(target).map(|_| ()).map_err(|e| e.error))?;
    if sync_filesystem_supported() {
        // One filesystem sync makes every rename and new directory durable at once, where
        // syncing each directory would cost a journal commit per directory.
        return sync_filesystem(files[0].path.parent().unwrap_or(Path::new(".")));
    }
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Writes one file's temp beside its target; returns it with the directories whose entries
/// change (the target's, and the parents of any directory it had to create).
fn stage(f: &PendingFile) -> std::io::Result<(tempfile::TempPath, &Path, BTreeSet<PathBuf>)> {
    let dir = f.path.parent().unwrap_or(Path::new("."));
    let mut dirs = BTreeSet::from([dir.to_path_buf()]);
    let mut tmp = match tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir) {
        Ok(tmp) => tmp,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            // New directories must be durable too: their parents gain an entry.
            let mut d = dir;
            while let Some(parent) = d.parent() {
                dirs.insert(parent.to_path_buf());
                if parent.is_dir() && d.exists() {
                    break;
                }
                d = parent;
            }
            tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?
        }
        Err(e) => return Err(e),
    };
    tmp.write_all(&f.bytes)?;
    set_mode(tmp.path(), if f.executable { 0o755 } else { 0o644 })?;
    if !sync_filesystem_supported() {
        tmp.as_file().sync_all()?;
    }
    Ok((tmp.into_temp_path(), &f.path, dirs))
}

/// Writes one file atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    commit(&[PendingFile { path: path.to_path_buf(), bytes: bytes.to_vec(), executable: false }])
}

/// Writes one file atomically (temp file + rename) but leaves durability to a later
/// [`sync_tree`]: an execution writes several small files and syncs once at the end.
pub fn write_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    set_mode(tmp.path(), 0o644)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Makes everything written under `path` durable (one filesystem sync on Linux; the directory
/// itself elsewhere).
pub fn sync_tree(path: &Path) -> std::io::Result<()> {
    if sync_filesystem_supported() { sync_filesystem(path) } else { sync_dir(path) }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
fn sync_filesystem_supported() -> bool {
    true
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem_supported() -> bool {
    false
}

/// `syncfs(2)`: flushes the filesystem holding `path` in one call.
#[cfg(target_os = "linux")]
fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: syncfs takes a valid open descriptor and has no memory effects.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Makes a directory's entries durable (after a rename or create in it).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        match std::fs::File::open(dir) {
            Ok(f) => f.sync_all(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_files_and_leaves_no_temps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("x/y/a.json");
        let b = dir.path().join("b.sh");
        std::fs::write(&b, "old").expect("write");
        commit(&[
            PendingFile { path: a.clone(), bytes: b"{}".to_vec(), executable: false },
            PendingFile { path: b.clone(), bytes: b"#!/bin/sh\n".to_vec(), executable: true },
        ])
        .expect("commit");
        assert_eq!(std::fs::read(&a).expect("a"), b"{}");
        assert_eq!(std::fs::read(&b).expect("b"), b"#!/bin/sh\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&b).expect("meta").permissions().mode() & 0o777, 0o755);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
            .collect();
        assert!(leftovers.is_empty());
    }
}
