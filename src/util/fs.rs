//! File primitives: atomic replacement (a temp file beside the target, then a rename) and
//! durability (syncing a file system or a directory).

use std::io::Write;
use std::path::Path;

/// The prefix of every temp file darn writes; a leftover one (a kill mid-write) is recognised by it.
pub const TEMP_PREFIX: &str = ".darn-tmp-";

/// Replaces `path` with `bytes` atomically (not synced: for caches, whose loss only costs time).
pub fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    tmp.write_all(bytes)?;
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
