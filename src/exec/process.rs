//! Running one agent, judge or prepare command the way the runner does (docs/format.md#agent-invocation, docs/format.md#judge-invocation): its
//! own process group, output streamed to files, a timeout enforced with SIGTERM to the whole
//! group, a grace period, then SIGKILL; and a cancellation flag so Ctrl-C in darn stops it the
//! same way.
//!
//! Design notes:
//! - The child leads a new process group (`setpgid`, via `Command::process_group`) rather than a
//!   new session (`setsid`, what the runner uses): both keep terminal signals away from it and
//!   let one `killpg` reach every descendant that stays in the group, but `setsid` needs a
//!   `pre_exec` hook, which forces `fork` instead of `posix_spawn` and costs more per launch.
//! - A thread blocks in `wait()` and reports through a channel, so the exit is seen at once
//!   (no polling delay), while the calling thread wakes every [`TICK`] to look at the clock and
//!   the cancellation flag.
//! - Descendants still in the group when the leader exits on its own (a server an agent left in
//!   the background) are terminated the same way: nothing darn starts outlives the execution. A descendant that leaves the group
//!   (`setsid`, double fork into a new group) cannot be tracked this way.
//! - The group id is the leader's pid. Linux does not reuse a pid while any process still has
//!   it as its group id, so signalling the group after the leader is reaped cannot hit a
//!   stranger while members remain; once the group is empty `killpg` fails harmlessly.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The runner's grace period between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How often the clock and the cancellation flag are checked while a process runs.
pub const TICK: Duration = Duration::from_millis(20);

/// How often group membership is checked during the grace period.
const GRACE_TICK: Duration = Duration::from_millis(10);

/// The search path `execvp` uses when `PATH` is unset.
const DEFAULT_PATH: &str = "/usr/bin:/bin";

/// One process to run.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Program and arguments; `argv[0]` is looked up on `PATH` like `execvp` does.
    pub argv: Vec<String>,
    /// Working directory (default: darn's).
    pub cwd: Option<PathBuf>,
    /// A file whose contents become standard input (default: `/dev/null`).
    pub stdin: Option<PathBuf>,
    /// Variables set in the child's environment (after removals).
    pub env: Vec<(OsString, OsString)>,
    /// Variables removed from the inherited environment (the runner strips `CLAUDECODE` for
    /// judges).
    pub env_remove: Vec<OsString>,
    /// Standard output goes here (created or truncated; parent directories are created).
    pub stdout: PathBuf,
    /// Standard error goes here; may be the same path as `stdout`.
    pub stderr: PathBuf,
    /// Wall-clock limit; none means no limit.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Set to stop the process early (SIGTERM, grace, SIGKILL), e.g. on Ctrl-C.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl ProcessSpec {
    /// A spec with the defaults: darn's cwd, stdin from `/dev/null`, inherited environment, no
    /// timeout, the runner's 5 s grace, no cancellation.
    pub fn new(argv: Vec<String>, stdout: impl Into<PathBuf>, stderr: impl Into<PathBuf>) -> Self {
        ProcessSpec {
            argv,
            cwd: None,
            stdin: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            stdout: stdout.into(),
            stderr: stderr.into(),
            timeout: None,
            grace: DEFAULT_GRACE,
            cancel: None,
        }
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdin(mut self, file: impl Into<PathBuf>) -> Self {
        self.stdin = Some(file.into());
        self
    }

    #[cfg(test)]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_remove(mut self, key: impl Into<OsString>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    pub fn cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// The `PATH` the child will see, which is also where `argv[0]` is looked up.
    fn search_path(&self) -> Option<OsString> {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == "PATH") {
            return Some(v.clone());
        }
        if self.env_remove.iter().any(|k| k == "PATH") {
            return None;
        }
        std::env::var_os("PATH")
    }
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    /// Python's `returncode`: the exit code, or minus the signal number (what the runner
    /// records in `command_log.json`).
    pub fn returncode(self) -> i32 {
        match self {
            Exit::Code(c) => c,
            Exit::Signal(s) => -s,
        }
    }

    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    fn from_status(status: ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            // Neither: only possible for stopped/continued statuses, which wait() never returns.
            (None, None) => Exit::Code(-1),
        }
    }
}

/// What happened to one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How the leader ended. After a timeout this is the signal that ended it (or the code it
    /// chose on SIGTERM); the runner's convention of recording −1 is the caller's to apply.
    pub exit: Exit,
    /// From launch until the leader exited; after a timeout or cancellation, until it was
    /// reaped (grace period included).
    pub duration: Duration,
    /// The timeout expired and the group was terminated.
    pub timed_out: bool,
    /// The cancellation flag was seen and the group was terminated.
    pub cancelled: bool,
    /// SIGTERM was not enough: the group got SIGKILL.
    pub killed: bool,
    /// Group members outlived the leader and were terminated.
    pub leftovers: bool,
    /// The leader's pid (also the group id).
    pub pid: u32,
    /// The program that ran, as found on `PATH`.
    pub program: PathBuf,
}

/// Why a process could not be run. Each message names the program or the file.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no program to run (empty command)")]
    EmptyArgv,

    #[error("program `{program}` not found (is it installed and on PATH?)")]
    NotFound { program: String },

    #[error("program `{program}` is not an executable file: {}", path.display())]
    NotExecutable { program: String, path: PathBuf },

    #[error("working directory {} does not exist or is not a directory (running `{program}`)", path.display())]
    Cwd { program: String, path: PathBuf },

    #[error("stdin file {}: {source} (running `{program}`)", path.display())]
    Stdin {
        program: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("output file {}: {source} (running `{program}`)", path.display())]
    Output {
        program: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not start `{program}` ({}): {source}", path.display())]
    Spawn {
        program: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("lost track of `{program}` (pid {pid}): {source}")]
    Wait {
        program: String,
        pid: u32,
        #[source]
        source: std::io::Error,
    },

    #[error("cancelled before `{program}` was started")]
    Cancelled { program: String },
}

/// Finds the file `execvp` would run for `program`: a name with a `/` is taken as a path
/// (relative to `cwd`, the child's working directory, when given), any other name is searched
/// in `search_path` (`PATH`; `/usr/bin:/bin` when unset). Empty `PATH` entries are skipped
/// rather than meaning the current directory.
pub fn find_program(program: &str, search_path: Option<&OsStr>, cwd: Option<&Path>) -> Result<PathBuf, ProcessError> {
    let base = |p: PathBuf| match cwd {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    };
    if program.is_empty() {
        return Err(ProcessError::EmptyArgv);
    }
    if program.contains('/') {
        let path = base(PathBuf::from(program));
        return match executable(&path) {
            Some(true) => Ok(path),
            Some(false) => Err(ProcessError::NotExecutable { program: program.to_string(), path }),
            None => Err(ProcessError::NotFound { program: program.to_string() }),
        };
    }
    let search = search_path.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut not_executable = None;
    for dir in std::env::split_paths(search) {
        if dir.as_os_str().is_empty() {
            continue;
        }
        let path = base(dir.join(program));
        match executable(&path) {
            Some(true) => return Ok(path),
            // Like execvp, keep looking, but remember it for a better message.
            Some(false) => {
                not_executable.get_or_insert(path);
            }
            None => {}
        }
    }
    match not_executable {
        Some(path) => Err(ProcessError::NotExecutable { program: program.to_string(), path }),
        None => Err(ProcessError::NotFound { program: program.to_string() }),
    }
}

/// `Some(true)`: an executable regular file; `Some(false)`: exists but is not; `None`: absent.
fn executable(path: &Path) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn open_output(path: &Path, program: &str) -> Result<File, ProcessError> {
    let err = |source| ProcessError::Output { program: program.to_string(), path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    File::create(path).map_err(err)
}

/// Runs one process to completion (or timeout, or cancellation) and reaps it.
pub fn run(spec: &ProcessSpec) -> Result<Outcome, ProcessError> {
    let name = spec.argv.first().ok_or(ProcessError::EmptyArgv)?;
    if let Some(dir) = &spec.cwd
        && !dir.is_dir()
    {
        return Err(ProcessError::Cwd { program: name.clone(), path: dir.clone() });
    }
    let program = find_program(name, spec.search_path().as_deref(), spec.cwd.as_deref())?;
    // The file itself becomes the child's stdin, as with `< file`: nothing is copied through
    // darn, and the child can read it at its own pace.
    let stdin = match &spec.stdin {
        Some(path) => {
            let err = |source| ProcessError::Stdin { program: name.clone(), path: path.clone(), source };
            let file = File::open(path).map_err(err)?;
            // Opening a directory succeeds; reading it would fail inside the child, far from
            // the cause.
            if file.metadata().map_err(err)?.is_dir() {
                return Err(err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory")));
            }
            Stdio::from(file)
        }
        None => Stdio::null(),
    };
    let stdout = open_output(&spec.stdout, name)?;
    let stderr = if spec.stderr == spec.stdout {
        stdout.try_clone().map_err(|source| ProcessError::Output {
            program: name.clone(),
            path: spec.stderr.clone(),
            source,
        })?
    } else {
        open_output(&spec.stderr, name)?
    };
    if spec.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
        return Err(ProcessError::Cancelled { program: name.clone() });
    }

    crate::util::pages::for_children();
    let mut cmd = Command::new(&program);
    cmd.arg0(name).args(&spec.argv[1..]).stdin(stdin).stdout(stdout).stderr(stderr).process_group(0);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    for key in &spec.env_remove {
        cmd.env_remove(key);
    }
    for (key, value) in &spec.env {
        cmd.env(key, value);
    }
    let start = Instant::now();
    let spawned = cmd.spawn();
    // The Command holds darn's copies of the file descriptors; close them now so only the
    // child keeps the output files open.
    drop(cmd);
    let child =
        spawned.map_err(|source| ProcessError::Spawn { program: name.clone(), path: program.clone(), source })?;
    let pid = child.id();
    let group = Group(pid as libc::pid_t);
    let waiter =
        Waiter::start(child, group).map_err(|source| ProcessError::Wait { program: name.clone(), pid, source })?;

    let mut outcome = Outcome {
        exit: Exit::Code(-1),
        duration: Duration::ZERO,
        timed_out: false,
        cancelled: false,
        killed: false,
        leftovers: false,
        pid,
        program,
    };
    // A limit too large to represent is no limit.
    let deadline = spec.timeout.and_then(|t| start.checked_add(t));
    let finished = loop {
        let now = Instant::now();
        if spec.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
            outcome.cancelled = true;
            break None;
        }
        if deadline.is_some_and(|d| now >= d) {
            outcome.timed_out = true;
            break None;
        }
        let wait_for = match (deadline, &spec.cancel) {
            (Some(d), Some(_)) => (d - now).min(TICK),
            (Some(d), None) => d - now,
            (None, Some(_)) => TICK,
            (None, None) => Duration::MAX,
        };
        match waiter.wait(wait_for) {
            Wake::Exited(status) => break Some(status),
            Wake::Timeout => {}
        }
    };
    let status = match finished {
        Some(status) => {
            // The program's own run time; cleaning up after it is darn's business.
            outcome.duration = start.elapsed();
            if group.alive() {
                outcome.leftovers = true;
                let (status, killed) = terminate(group, &waiter, Some(status), spec.grace);
                outcome.killed = killed;
                status
            } else {
                status
            }
        }
        None => {
            let (status, killed) = terminate(group, &waiter, None, spec.grace);
            outcome.killed = killed;
            outcome.duration = start.elapsed();
            status
        }
    };
    outcome.exit =
        Exit::from_status(status.map_err(|source| ProcessError::Wait { program: name.clone(), pid, source })?);
    Ok(outcome)
}

/// A process group, named by its leader's pid.
#[derive(Debug, Clone, Copy)]
struct Group(libc::pid_t);

impl Group {
    fn signal(self, sig: libc::c_int) -> bool {
        // SAFETY: killpg only sends a signal; a stale group id fails with ESRCH.
        unsafe { libc::killpg(self.0, sig) == 0 }
    }

    /// True while a process that can still run is in the group. `killpg(0)` also counts
    /// zombies: orphaned members that died but wait for init to reap them, which some container
    /// inits do only every second or never. Waiting for those would stretch every termination
    /// to the full grace period, so on Linux a positive answer is checked against `/proc`.
    fn alive(self) -> bool {
        let any = self.signal(0) || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        any && self.live_members().unwrap_or(true)
    }

    /// Whether `/proc` lists a group member that is not a zombie; `None` when `/proc` cannot
    /// tell.
    #[cfg(target_os = "linux")]
    fn live_members(self) -> Option<bool> {
        let entries = std::fs::read_dir("/proc").ok()?;
        let mut saw_any = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
            saw_any = true;
            // A process may exit between listing and reading: skip it.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
            let Some((_, rest)) = stat.rsplit_once(')') else { continue };
            let mut fields = rest.split_ascii_whitespace();
            let (Some(state), Some(_ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            if pgrp.parse::<libc::pid_t>().ok() == Some(self.0) && state != "Z" && state != "X" {
                return Some(true);
            }
        }
        saw_any.then_some(false)
    }

    #[cfg(not(target_os = "linux"))]
    fn live_members(self) -> Option<bool> {
        None
    }
}

type Status = std::io::Result<ExitStatus>;

enum Wake {
    Exited(Status),
    Timeout,
}

/// The leader's exit, reported by a thread blocked in `wait()`.
struct Waiter {
    rx: mpsc::Receiver<Status>,
}

impl Waiter {
    fn start(mut child: Child, group: Group) -> std::io::Result<Waiter> {
        let (tx, rx) = mpsc::channel();
        // The child is moved into the closure; if the thread cannot start, the closure (and
        // the child with it) comes back only as a drop, so the pid is used to clean up.
        let spawned = std::thread::Builder::new().name("darn-wait".into()).spawn(move || {
            let _ = tx.send(child.wait());
        });
        match spawned {
            Ok(_) => Ok(Waiter { rx }),
            Err(e) => {
                group.signal(libc::SIGKILL);
                let mut raw = 0;
                // SAFETY: waitpid on our own child's pid with a valid status pointer.
                unsafe { libc::waitpid(group.0, &mut raw, 0) };
                Err(e)
            }
        }
    }

    fn wait(&self, limit: Duration) -> Wake {
        let got = if limit == Duration::MAX { self.rx.recv().ok() } else { self.recv_timeout(limit) };
        match got {
            Some(status) => Wake::Exited(status),
            None => Wake::Timeout,
        }
    }

    fn recv_timeout(&self, limit: Duration) -> Option<Status> {
        match self.rx.recv_timeout(limit) {
            Ok(status) => Some(status),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Some(Err(std::io::Error::other("the thread waiting for the process ended without a status")))
            }
        }
    }
}

/// SIGTERM to the group, up to `grace` for the leader to be reaped and the group to empty, then
/// SIGKILL to whatever is left, and the leader's status (waiting for it if need be). Returns
/// whether SIGKILL was sent.
fn terminate(group: Group, waiter: &Waiter, mut status: Option<Status>, grace: Duration) -> (Status, bool) {
    group.signal(libc::SIGTERM);
    let end = Instant::now().checked_add(grace);
    loop {
        let now = Instant::now();
        if status.is_some() && !group.alive() {
            break;
        }
        if end.is_some_and(|end| now >= end) {
            break;
        }
        let step = end.map_or(GRACE_TICK, |end| (end - now).min(GRACE_TICK));
        if status.is_none() {
            status = waiter.recv_timeout(step);
        } else {
            std::thread::sleep(step);
        }
    }
    let mut killed = false;
    if group.alive() {
        killed = group.signal(libc::SIGKILL);
    }
    let status = match status {
        Some(s) => s,
        // SIGKILL cannot be caught: the leader's exit is on its way.
        None => waiter.rx.recv().unwrap_or_else(|_| Err(std::io::Error::other("the waiting thread ended"))),
    };
    (status, killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    fn spec(dir: &Path, script: &str) -> ProcessSpec {
        ProcessSpec::new(sh(script), dir.join("out.log"), dir.join("err.log"))
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).expect("read output")
    }

    /// True once `pid` is gone or a zombie waiting for its new parent to reap it; either way it
    /// runs no more code. Polls briefly because reparented processes are reaped asynchronously.
    fn gone(pid: i32) -> bool {
        for _ in 0..200 {
            // SAFETY: signal 0 only checks for existence.
            let exists = unsafe { libc::kill(pid, 0) } == 0;
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
                .unwrap_or(false);
            if !exists || zombie {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    fn grandchild_pid(out: PathBuf) -> i32 {
        read(out).lines().next().and_then(|l| l.trim().parse().ok()).expect("grandchild pid on the first line")
    }

    #[test]
    fn exit_code_and_streams_go_to_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ProcessSpec::new(
            sh("echo out; echo err >&2; exit 3"),
            dir.path().join("a/b/stdout.log"),
            dir.path().join("stderr.log"),
        );
        let o = run(&s).expect("runs");
        assert_eq!(o.exit, Exit::Code(3));
        assert_eq!(o.exit.returncode(), 3);
        assert!(!o.timed_out && !o.cancelled && !o.killed && !o.leftovers);
        assert_eq!(read(dir.path().join("a/b/stdout.log")), "out\n");
        assert_eq!(read(dir.path().join("stderr.log")), "err\n");
        assert!(o.program.ends_with("sh") && o.program.is_absolute());
    }

    #[test]
    fn shared_output_file_keeps_both_streams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("both.log");
        let s = ProcessSpec::new(sh("echo one; echo two >&2; echo three"), &log, &log);
        assert!(run(&s).expect("runs").exit.success());
        assert_eq!(read(log), "one\ntwo\nthree\n");
    }

    #[test]
    fn stdin_file_is_fed_byte_for_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("judge_prompt.md");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        std::fs::write(&input, &bytes).expect("write");
        let s = ProcessSpec::new(vec!["cat".into()], dir.path().join("out"), dir.path().join("err")).stdin(&input);
        assert!(run(&s).expect("runs").exit.success());
        assert_eq!(std::fs::read(dir.path().join("out")).expect("out"), bytes);
        // Without a stdin file the child reads end-of-file at once instead of hanging.
        let s = ProcessSpec::new(sh("cat; echo done"), dir.path().join("out"), dir.path().join("err"));
        assert!(run(&s).expect("runs").exit.success());
        assert_eq!(read(dir.path().join("out")), "done\n");
    }

    #[test]
    fn missing_inputs_are_errors_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope/judge_prompt.md");
        let err = run(&spec(dir.path(), "true").stdin(&missing)).expect_err("no stdin file");
        assert!(matches!(err, ProcessError::Stdin { .. }));
        assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");
        let err = run(&spec(dir.path(), "true").stdin(dir.path())).expect_err("a directory");
        assert!(err.to_string().ends_with("is a directory (running `sh`)"), "{err}");

        let s = ProcessSpec::new(vec!["darn-no-such-program-x".into()], dir.path().join("o"), dir.path().join("e"));
        let err = run(&s).expect_err("no program");
        assert_eq!(err.to_string(), "program `darn-no-such-program-x` not found (is it installed and on PATH?)");

        let err = run(&spec(dir.path(), "true").cwd(dir.path().join("workspace"))).expect_err("no cwd");
        assert!(matches!(err, ProcessError::Cwd { .. }));
        assert!(err.to_string().contains("workspace"), "{err}");

        let s = ProcessSpec::new(Vec::new(), dir.path().join("o"), dir.path().join("e"));
        assert!(matches!(run(&s), Err(ProcessError::EmptyArgv)));

        // Executable bit but no format the kernel knows (no `#!`): the exec itself fails.
        use std::os::unix::fs::PermissionsExt;
        let junk = dir.path().join("junk");
        std::fs::write(&junk, [0u8, 1, 2, 3]).expect("write");
        std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let s = ProcessSpec::new(vec![junk.to_string_lossy().into_owned()], dir.path().join("o"), dir.path().join("e"));
        let err = run(&s).expect_err("cannot exec");
        assert!(matches!(err, ProcessError::Spawn { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!("could not start `{}`", junk.display())), "{err}");
    }

    #[test]
    fn program_lookup_is_like_execvp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\necho \"$0 $*\"\n").expect("write");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let plain = bin.join("plain");
        std::fs::write(&plain, "data").expect("write");

        let path = std::env::join_paths([Path::new("/nonexistent"), &bin]).expect("join");
        assert_eq!(find_program("tool", Some(&path), None).expect("found"), tool);
        assert!(matches!(find_program("plain", Some(&path), None), Err(ProcessError::NotExecutable { .. })));
        assert!(matches!(
            find_program("tool", Some(OsStr::new("/nonexistent")), None),
            Err(ProcessError::NotFound { .. })
        ));
        // Relative paths with a slash are relative to the child's working directory.
        assert_eq!(find_program("bin/tool", None, Some(dir.path())).expect("found"), tool);
        assert!(find_program("sh", None, None).is_ok(), "default PATH has sh");

        // PATH given to the child is where the program is looked up; argv[0] stays as written.
        let s = ProcessSpec::new(vec!["tool".into(), "x".into()], dir.path().join("out"), dir.path().join("err"))
            .env("PATH", std::env::join_paths([&bin, Path::new("/usr/bin"), Path::new("/bin")]).expect("join"));
        let o = run(&s).expect("runs");
        assert_eq!(o.program, tool);
        assert_eq!(read(dir.path().join("out")), format!("{} x\n", tool.display()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn argv0_is_kept_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ProcessSpec::new(
            vec!["cat".into(), "/proc/self/cmdline".into()],
            dir.path().join("out"),
            dir.path().join("err"),
        );
        assert!(run(&s).expect("runs").program.is_absolute());
        assert_eq!(read(dir.path().join("out")), "cat\0/proc/self/cmdline\0");
    }

    #[test]
    fn cwd_and_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().join("workspace");
        std::fs::create_dir(&ws).expect("mkdir");
        // Some inherited variable to remove (anything but PATH, which the shell needs).
        let (inherited, _) = std::env::vars_os()
            .find(|(k, _)| {
                k != "PATH" && k.to_str().is_some_and(|k| k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            })
            .expect("some environment variable");
        let s = spec(dir.path(), "pwd; env")
            .cwd(&ws)
            .env("DARN_TEST_VALUE", "a b")
            .env_remove(&inherited)
            .env_remove("CLAUDECODE");
        assert!(run(&s).expect("runs").exit.success());
        let out = read(dir.path().join("out.log"));
        let mut lines = out.lines();
        assert_eq!(lines.next().map(PathBuf::from), Some(ws.canonicalize().expect("canonical")));
        let vars: Vec<&str> = lines.collect();
        assert!(vars.contains(&"DARN_TEST_VALUE=a b"));
        let prefix = format!("{}=", inherited.to_string_lossy());
        assert!(!vars.iter().any(|l| l.starts_with(&prefix)), "{inherited:?} was removed");
    }

    #[test]
    fn signals_are_reported_like_python() {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = run(&spec(dir.path(), "kill -KILL $$")).expect("runs");
        assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
        assert_eq!(o.exit.returncode(), -9);
        assert!(!o.timed_out);
    }

    #[test]
    fn timeout_kills_the_whole_group_with_sigterm() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = spec(dir.path(), "sleep 1000 & echo $!; sleep 1000")
            .timeout(Duration::from_millis(200))
            .grace(Duration::from_secs(2));
        let o = run(&s).expect("runs");
        assert!(o.timed_out && !o.cancelled);
        assert!(!o.killed, "sh and sleep die on SIGTERM");
        assert_eq!(o.exit, Exit::Signal(libc::SIGTERM));
        assert!(o.duration >= Duration::from_millis(200) && o.duration < Duration::from_secs(2), "{:?}", o.duration);
        let grandchild = grandchild_pid(dir.path().join("out.log"));
        assert!(gone(grandchild), "background grandchild {grandchild} still running");
    }

    #[test]
    fn timeout_escalates_to_sigkill_after_the_grace_period() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Ignored signals stay ignored across fork and exec, so the grandchild ignores TERM too.
        let s = spec(dir.path(), "trap '' TERM; sleep 1000 & echo $!; while :; do sleep 0.05; done")
            .timeout(Duration::from_millis(150))
            .grace(Duration::from_millis(150));
        let o = run(&s).expect("runs");
        assert!(o.timed_out && o.killed);
        assert_eq!(o.exit, Exit::Signal(libc::SIGKILL));
        assert!(o.duration >= Duration::from_millis(300) && o.duration < Duration::from_secs(2), "{:?}", o.duration);
        let grandchild = grandchild_pid(dir.path().join("out.log"));
        assert!(gone(grandchild), "background grandchild {grandchild} survived SIGKILL");
    }

    #[test]
    fn cancellation_stops_the_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flag = Arc::new(AtomicBool::new(false));
        let s = spec(dir.path(), "sleep 1000 & echo $!; sleep 1000").cancel(flag.clone()).grace(Duration::from_secs(2));
        let setter = {
            let flag = flag.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                flag.store(true, Ordering::SeqCst);
            })
        };
        let o = run(&s).expect("runs");
        setter.join().expect("setter");
        assert!(o.cancelled && !o.timed_out);
        assert!(o.duration < Duration::from_secs(1), "{:?}", o.duration);
        assert!(gone(grandchild_pid(dir.path().join("out.log"))));
        // Already cancelled: nothing is started.
        let err = run(&spec(dir.path(), "echo started").cancel(flag)).expect_err("cancelled");
        assert!(matches!(err, ProcessError::Cancelled { .. }));
    }

    #[test]
    fn leftovers_are_terminated_after_a_normal_exit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = run(&spec(dir.path(), "sleep 1000 & echo $!; exit 0")).expect("runs");
        assert_eq!(o.exit, Exit::Code(0));
        assert!(o.leftovers && !o.timed_out);
        assert!(gone(grandchild_pid(dir.path().join("out.log"))));
    }

    #[test]
    fn fast_processes_are_not_delayed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = ProcessSpec::new(vec!["true".into()], dir.path().join("o"), dir.path().join("e"))
            .timeout(Duration::from_secs(60))
            .cancel(Arc::new(AtomicBool::new(false)));
        let o = run(&s).expect("runs");
        assert!(o.exit.success());
        // Generous bound: the exit is reported by a channel, not found by polling.
        assert!(o.duration < Duration::from_millis(500), "{:?}", o.duration);
    }
}
