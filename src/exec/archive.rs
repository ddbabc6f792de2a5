//! Moving previous outputs aside before a re-execution (docs/format.md#failed-run-archives). Nothing is ever deleted:
//! a failed run may be the only evidence of a rate limit or a bug, and its cost was paid.
//!
//! - Agent re-run: the whole run directory goes to `<subtest>/.failed/run_NN_attempt_MM`, the
//!   runner's own scheme (`workspace_setup._move_to_failed`), so archives written by the runner
//!   and by darn share one sequence and the runner's `.failed/*/agent/result.json` scan for
//!   rate-limit evidence sees darn's archives too.
//! - Judge slot re-run: `judge/judge_NN/` goes to `judge/.failed/judge_NN_attempt_MM`. The runner
//!   has no judge archive; this mirrors the run scheme one level down, keeps the archive inside
//!   the run it belongs to (it moves with the run if the run is archived later), and its
//!   dot-name is skipped by every slot scan (`judge_NN` only).
//!
//! `MM` starts at 01 and is the first number not taken (two digits, more past 99). The name is
//! claimed by creating an empty directory (which fails if it exists), then the source is renamed
//! onto it (POSIX lets a directory replace an empty one atomically), so a concurrent archiver
//! can never overwrite an archive; a crash in between leaves only an empty, skipped-over
//! directory. Both directories involved are synced so the move survives a power loss.

use crate::error::{Error, Result};
use crate::util::fs::sync_dir;
use std::path::{Path, PathBuf};

/// The archive directory's name, inside the directory holding what is archived.
pub const FAILED_DIR: &str = ".failed";

/// Archives a run directory before its agent is re-executed. `None` when there is nothing to
/// move.
pub fn archive_run(run_dir: &Path) -> Result<Option<PathBuf>> {
    archive(run_dir)
}

/// Archives one judge slot directory (`<run>/judge/judge_NN`) before that judge is re-executed.
/// `None` when there is nothing to move.
pub fn archive_judge_slot(slot_dir: &Path) -> Result<Option<PathBuf>> {
    archive(slot_dir)
}

/// `<name>_attempt_MM`.
pub fn attempt_name(name: &str, attempt: u32) -> String {
    format!("{name}_attempt_{attempt:02}")
}

/// Moves `src` to `<parent>/.failed/<name>_attempt_MM` and returns the new path.
fn archive(src: &Path) -> Result<Option<PathBuf>> {
    match src.symlink_metadata() {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(src, e)),
    }
    let (Some(parent), Some(name)) = (src.parent(), src.file_name().and_then(|n| n.to_str())) else {
        return Err(Error::bad_file(src, "cannot archive: no parent directory or not a UTF-8 name"));
    };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let failed = parent.join(FAILED_DIR);
    match std::fs::create_dir(&failed) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && failed.is_dir() => {}
        Err(e) => return Err(Error::io(&failed, e)),
    }
    let dest = claim(&failed, name)?;
    if let Err(e) = std::fs::rename(src, &dest) {
        // Give the name back so the next attempt number stays the first free one.
        let _ = std::fs::remove_dir(&dest);
        return Err(Error::io(src, std::io::Error::new(e.kind(), format!("moving to {}: {e}", dest.display()))));
    }
    // `failed` gained the archive; `parent` lost the source (and may have gained `.failed`).
    sync_dir(&failed).map_err(|e| Error::io(&failed, e))?;
    sync_dir(parent).map_err(|e| Error::io(parent, e))?;
    Ok(Some(dest))
}

/// Creates the first free `<name>_attempt_MM` directory in `failed` and returns it.
fn claim(failed: &Path, name: &str) -> Result<PathBuf> {
    let mut attempt = 1u32;
    loop {
        let dest = failed.join(attempt_name(name, attempt));
        match std::fs::create_dir(&dest) {
            Ok(()) => return Ok(dest),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&dest, e)),
        }
        attempt = attempt
            .checked_add(1)
            .ok_or_else(|| Error::bad_file(failed, format!("no free archive name for {name}")))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every file under `dir`, by relative path, with its bytes.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("list") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let rel = path.strip_prefix(dir).expect("inside").to_path_buf();
                    out.insert(rel, std::fs::read(&path).expect("read"));
                }
            }
        }
        out
    }

    fn make_run(run: &Path) {
        std::fs::create_dir_all(run.join("agent")).expect("mkdir");
        std::fs::create_dir_all(run.join("judge/judge_01")).expect("mkdir");
        std::fs::write(run.join("agent/stdout.log"), b"{\"is_error\":true}\n\xff\x00binary").expect("write");
        std::fs::write(run.join("judge/judge_01/judgment.json"), "{}\n").expect("write");
        std::fs::write(run.join("run_result.json"), "").expect("write");
    }

    #[test]
    fn runs_move_to_the_first_free_attempt_number() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let subtest = tmp.path().join("T0/00");
        let run = subtest.join("run_03");
        make_run(&run);
        let before = snapshot(&run);

        let dest = archive_run(&run).expect("archive").expect("moved");
        assert_eq!(dest, subtest.join(".failed/run_03_attempt_01"));
        assert!(!run.exists());
        assert_eq!(snapshot(&dest), before, "contents preserved byte for byte");

        // Existing archives (the runner's, another run's) are skipped, never overwritten; the
        // first gap is used.
        std::fs::create_dir_all(subtest.join(".failed/run_03_attempt_03")).expect("mkdir");
        std::fs::create_dir_all(subtest.join(".failed/run_03")).expect("rerun.py scheme");
        make_run(&run);
        assert_eq!(archive_run(&run).expect("archive"), Some(subtest.join(".failed/run_03_attempt_02")));
        make_run(&run);
        assert_eq!(archive_run(&run).expect("archive"), Some(subtest.join(".failed/run_03_attempt_04")));
        assert_eq!(snapshot(&subtest.join(".failed/run_03_attempt_01")), before, "earlier archive untouched");
        let other = subtest.join("run_10");
        make_run(&other);
        assert_eq!(archive_run(&other).expect("archive"), Some(subtest.join(".failed/run_10_attempt_01")));
    }

    #[test]
    fn judge_slots_move_inside_the_run() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("T1/01/run_01");
        make_run(&run);
        let slot = run.join("judge/judge_01");
        let before = snapshot(&slot);
        let dest = archive_judge_slot(&slot).expect("archive").expect("moved");
        assert_eq!(dest, run.join("judge/.failed/judge_01_attempt_01"));
        assert_eq!(snapshot(&dest), before);
        assert!(!slot.exists());
        assert!(run.join("agent/stdout.log").exists(), "the rest of the run stays");
        std::fs::create_dir_all(&slot).expect("mkdir");
        assert_eq!(archive_judge_slot(&slot).expect("archive"), Some(run.join("judge/.failed/judge_01_attempt_02")));
    }

    #[test]
    fn missing_sources_are_a_no_op() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert_eq!(archive_run(&tmp.path().join("T0/00/run_01")).expect("no-op"), None);
        assert_eq!(archive_judge_slot(&tmp.path().join("judge/judge_02")).expect("no-op"), None);
        assert!(!tmp.path().join("T0/00/.failed").exists(), "no archive directory made for nothing");
    }

    #[test]
    fn a_failed_directory_that_is_a_file_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let run = tmp.path().join("run_01");
        make_run(&run);
        std::fs::write(tmp.path().join(FAILED_DIR), "not a dir").expect("write");
        let err = archive_run(&run).expect_err("cannot archive");
        assert!(err.to_string().contains(".failed"), "{err}");
        assert!(run.join("agent/stdout.log").exists(), "nothing moved");
    }

    #[test]
    fn names() {
        assert_eq!(attempt_name("run_01", 1), "run_01_attempt_01");
        assert_eq!(attempt_name("judge_02", 100), "judge_02_attempt_100");
    }
}
