//! The test builder: an experiment in a temporary directory (a copy of the real fixture, or a
//! generated demo), file edits, and `darn` runs against it.

use darn::{DemoSpec, DemoSummary};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::SystemTime;
use tempfile::TempDir;

/// The darn binary under test.
pub const DARN: &str = env!("CARGO_BIN_EXE_darn");

/// The real January-2026 experiment (flat layout, 7 complete runs).
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scylla-dryrun")
}

/// An experiment (or any directory) in a temporary directory, removed on drop.
pub struct Exp {
    _tmp: TempDir,
    root: PathBuf,
}

impl Exp {
    /// An empty directory.
    pub fn empty() -> Exp {
        let tmp = tempfile::Builder::new().prefix("darn-test-").tempdir().expect("create a temporary directory");
        // Canonical, so that paths darn prints (it canonicalizes) compare equal.
        let root = std::fs::canonicalize(tmp.path()).expect("canonicalize the temporary directory");
        Exp { _tmp: tmp, root }
    }

    /// A writable copy of the real fixture.
    pub fn fixture() -> Exp {
        let exp = Exp::empty();
        copy_tree(&fixture_dir(), &exp.root);
        exp
    }

    /// Only the fixture's `config/experiment.json`: an experiment with no run directories.
    pub fn config_only() -> Exp {
        let exp = Exp::empty();
        let config = std::fs::read(fixture_dir().join("config/experiment.json")).expect("read the fixture config");
        exp.write("config/experiment.json", config);
        exp
    }

    /// A generated demo experiment; its stand-ins call the darn under test.
    pub fn demo(spec: DemoSpec) -> (Exp, DemoSummary) {
        let exp = Exp::empty();
        let spec = DemoSpec { darn_exe: Some(DARN.into()), ..spec };
        let summary = darn::generate(&exp.root, &spec).expect("generate the demo experiment");
        (exp, summary)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// An absolute path inside the experiment.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn read_json(&self, rel: &str) -> Value {
        serde_json::from_slice(&self.read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
    }

    /// Writes a file, creating its directory.
    pub fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    /// Writes a JSON value (pretty, like the runner).
    pub fn write_json(&self, rel: &str, value: &Value) {
        self.write(rel, serde_json::to_string_pretty(value).expect("serialize JSON"));
    }

    /// Edits a JSON file in place.
    pub fn edit_json(&self, rel: &str, edit: impl FnOnce(&mut Value)) {
        let mut value = self.read_json(rel);
        edit(&mut value);
        self.write_json(rel, &value);
    }

    /// Removes a file or a whole directory.
    pub fn remove(&self, rel: &str) {
        let path = self.path(rel);
        let result = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        result.unwrap_or_else(|e| panic!("remove {rel}: {e}"));
    }

    /// Moves a file or directory inside the experiment.
    pub fn rename(&self, from: &str, to: &str) {
        let to_path = self.path(to);
        if let Some(parent) = to_path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        std::fs::rename(self.path(from), &to_path).unwrap_or_else(|e| panic!("move {from} to {to}: {e}"));
    }

    /// Runs darn with the experiment as the current directory (no `-C`).
    pub fn darn(&self, args: &[&str]) -> Output {
        self.darn_in("", args)
    }

    /// Runs darn from a directory inside the experiment (no `-C`).
    pub fn darn_in(&self, rel_dir: &str, args: &[&str]) -> Output {
        darn_cmd(&self.path(rel_dir), args)
    }

    /// `darn status --json ARGS`, which must succeed; the parsed document.
    pub fn status(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json", "status"];
        all.extend_from_slice(args);
        let out = self.darn(&all);
        assert_eq!(out.status.code(), Some(0), "darn {all:?} failed:\n{}", text(&out.stderr));
        assert_no_panic(&out);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("darn {all:?} printed no JSON document ({e}):\n{}", text(&out.stdout)))
    }

    /// Every file and directory under the experiment: relative path, size and mtime.
    pub fn listing(&self) -> Vec<(String, bool, u64, SystemTime)> {
        let mut out = Vec::new();
        list_tree(&self.root, &self.root, &mut out);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Relative paths of every file under `rel`, sorted.
    pub fn files_under(&self, rel: &str) -> Vec<String> {
        self.listing()
            .into_iter()
            .filter(|(path, is_dir, _, _)| !is_dir && path.starts_with(&format!("{rel}/")))
            .map(|(path, ..)| path)
            .collect()
    }
}

/// Runs darn in `cwd` (with `NO_COLOR` unset, so that colour depends on the arguments only).
pub fn darn_cmd(cwd: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::new(DARN)
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run darn {args:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn assert_no_panic(out: &Output) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "darn panicked:\n{stderr}");
    // A panic exits with 101; a signal (e.g. a stack overflow) has no code.
    assert!(out.status.code().is_some_and(|c| c != 101), "darn crashed ({:?}):\n{stderr}", out.status);
}

/// Asserts a usage error: exit 2, a message on stderr containing every `needle`, nothing on stdout.
pub fn assert_usage_error(out: &Output, needles: &[&str]) {
    assert_no_panic(out);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2; stderr:\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "the message should name `{needle}`:\n{stderr}");
    }
    assert!(out.stdout.is_empty(), "nothing on stdout on error, got:\n{}", text(&out.stdout));
}

/// A run of a `status --json` document, by id.
pub fn run<'a>(status: &'a Value, id: &str) -> &'a Value {
    runs(status)
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("run {id} not in the status output; ids: {:?}", ids(status)))
}

pub fn runs(status: &Value) -> &Vec<Value> {
    status["runs"].as_array().expect("`runs` is an array")
}

pub fn ids(status: &Value) -> Vec<String> {
    runs(status).iter().map(|r| r["id"].as_str().expect("`id` is a string").to_string()).collect()
}

/// The slot statuses of a run, in slot order.
pub fn slot_statuses(run: &Value) -> Vec<String> {
    run["judges"]
        .as_array()
        .expect("`judges` is an array")
        .iter()
        .map(|j| j["status"].as_str().expect("slot `status` is a string").to_string())
        .collect()
}

/// The failure classes named in a run's problems.
pub fn failures(run: &Value) -> Vec<String> {
    problems(run).iter().filter_map(|p| p.get("failure").and_then(Value::as_str)).map(str::to_string).collect()
}

pub fn problems(run: &Value) -> &Vec<Value> {
    run["problems"].as_array().expect("`problems` is an array")
}

/// Whether some problem of the run is about a path ending with `suffix`.
pub fn has_problem_at(run: &Value, suffix: &str) -> bool {
    problems(run).iter().any(|p| p["path"].as_str().is_some_and(|path| path.ends_with(suffix)))
}

/// Asserts a run's agent and judge status, with the run in the message.
#[track_caller]
pub fn assert_run(run: &Value, agent: &str, judge: &str) {
    assert_eq!(
        (run["agent"].as_str(), run["judge"].as_str()),
        (Some(agent), Some(judge)),
        "agent/judge status of {}; the run: {run:#}",
        run["id"]
    );
}

/// Copies a directory tree, leaving every copy writable (fixture files may be read-only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("list {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("read a directory entry");
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
            make_writable(&dst);
        }
    }
}

#[cfg(unix)]
fn make_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).expect("stat a copied file").permissions().mode();
    if mode & 0o200 == 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o200)).expect("make a copy writable");
    }
}

#[cfg(not(unix))]
fn make_writable(path: &Path) {
    let mut perms = std::fs::metadata(path).expect("stat a copied file").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).expect("make a copy writable");
}

fn list_tree(root: &Path, dir: &Path, out: &mut Vec<(String, bool, u64, SystemTime)>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("read a directory entry");
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        let rel = path.strip_prefix(root).expect("under the root").to_string_lossy().replace('\\', "/");
        let mtime = meta.modified().expect("mtime");
        out.push((rel, meta.is_dir(), meta.len(), mtime));
        if meta.is_dir() {
            list_tree(root, &path, out);
        }
    }
}

/// A small damaged demo in which every kind of damage appears at least once.
pub fn small_demo(phased: bool) -> DemoSpec {
    DemoSpec { tiers: 2, subtests: 2, runs_per_subtest: 6, judges: 3, seed: 7, phased, damage: true, darn_exe: None }
}

/// A damaged demo shared by the tests that only read it, with its `status --json`.
pub struct SharedDemo {
    pub exp: Exp,
    pub summary: DemoSummary,
    pub status: Value,
}

static SHARED_PHASED: OnceLock<SharedDemo> = OnceLock::new();
static SHARED_FLAT: OnceLock<SharedDemo> = OnceLock::new();

/// The `small_demo` of one layout, generated once per test process (generating one takes a
/// noticeable fraction of a second). Never modify it.
pub fn shared_demo(phased: bool) -> &'static SharedDemo {
    let cell = if phased { &SHARED_PHASED } else { &SHARED_FLAT };
    cell.get_or_init(|| {
        register_cleanup();
        let (exp, summary) = Exp::demo(small_demo(phased));
        let status = exp.status(&[]);
        SharedDemo { exp, summary, status }
    })
}

/// Statics are never dropped: remove the shared demos when the process exits.
fn register_cleanup() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        extern "C" fn cleanup() {
            for cell in [&SHARED_PHASED, &SHARED_FLAT] {
                if let Some(demo) = cell.get() {
                    let _ = std::fs::remove_dir_all(demo.exp.root());
                }
            }
        }
        // SAFETY: `cleanup` is a plain function that neither unwinds nor calls `exit`.
        unsafe {
            libc::atexit(cleanup);
        }
    });
}
