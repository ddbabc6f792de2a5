//! File primitives: atomic replacement (a temp file beside the target, then a rename) and
//! durability (syncing a file system or a directory).

use std::io::Write;
use std::path::Path;

/// The prefix of every temp file darn writes; a leftover one (a kill mid-write) is recognised by it.
pub const TEMP_PREFIX: &str = ".darn-tmp-";

/// Checks that writing `path` stays inside `root`: `path` is lexically under it and no
/// directory between them is a symbolic link (a write would land wherever the link points).
/// The error says what is in the way.
pub fn confined(root: &Path, path: &Path) -> Result<(), String> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Err(format!("{} is outside the experiment {}", path.display(), root.display()));
    };
    let mut at = root.to_path_buf();
    let dirs: Vec<_> = rel.components().collect();
    for c in dirs.iter().take(dirs.len().saturating_sub(1)) {
        match c {
            std::path::Component::Normal(name) => at.push(name),
            _ => return Err(format!("{} is not a plain path inside the experiment", path.display())),
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&at).map_or_else(|_| "?".into(), |t| t.display().to_string());
                return Err(format!(
                    "{} is a symbolic link (to {target}); darn writes only inside the experiment",
                    at.display()
                ));
            }
            // What does not exist yet is created by darn, inside.
            Ok(_) | Err(_) => {}
        }
    }
    Ok(())
}

/// Removes darn's temp files left in `dir` (a kill mid-write); whether there were any.
pub fn sweep_temps(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut removed = false;
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            removed |= std::fs::remove_file(e.path()).is_ok();
        }
    }
    removed
}

/// Replaces `path` with `bytes` atomically (not synced: for caches, whose loss only costs time).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace_with(path, |w| w.write_all(bytes))
}

/// [`replace`] with the content written through `write` (buffered), for content too large to
/// gather first.
pub fn replace_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp);
    write(&mut w)?;
    let tmp = w.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
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
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
pub fn sync_filesystem_supported() -> bool {
    true
}

#[cfg(not(target_os = "linux"))]
pub fn sync_filesystem_supported() -> bool {
    false
}

/// `syncfs(2)`: flushes the filesystem holding `path` in one call.
#[cfg(target_os = "linux")]
pub fn sync_filesystem(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: syncfs takes a valid open descriptor and has no memory effects.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub fn sync_filesystem(_: &Path) -> std::io::Result<()> {
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
    #[cfg(unix)]
    #[test]
    fn writes_stay_inside() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("exp");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("T0/00")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("T0/00/run_01")).expect("symlink");
        assert!(super::confined(&root, &root.join("T0/00/run_02/run_result.json")).is_ok());
        let e = super::confined(&root, &root.join("T0/00/run_01/agent/result.json")).expect_err("escape");
        assert!(e.contains("run_01 is a symbolic link"), "{e}");
        assert!(super::confined(&root, &tmp.path().join("elsewhere.json")).is_err());
    }
}
