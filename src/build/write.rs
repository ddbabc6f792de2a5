//! Durable, atomic writes in batches: every file goes to a temp file beside its target, one
//! filesystem sync makes them all durable, then each is renamed over its target and the
//! directories are synced. A crash leaves either the old file or the new one, never a mix; a
//! leftover temp file (`.darn-tmp-*`) is ignored by every scan and removed by the next batch.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::util::fs::TEMP_PREFIX;
use crate::util::fs::{set_mode, sync_dir, sync_filesystem, sync_filesystem_supported};

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
