//! darn at scale, as whole processes against baselines measured in the same run:
//!
//! - a no-op `reconcile` against `ninja -n` over a `build.ninja` of the same graph and files;
//! - its peak resident memory, and its growth in time from one size to the next;
//! - the first `status` on an experiment darn has never seen (no `.darn/`), and `status` once
//!   `.darn/` exists, against `benches/exists_scan.py`, a Python scan that only checks which
//!   files exist (what the old repair scripts did);
//! - both against their floors: a process that makes only the system calls the command cannot
//!   do without (`stat` of every path darn looks at, or opening, `fstat`-ing and reading every
//!   file it reads), on all cores, with nothing decided. Each floor is also measured against the
//!   Python scan, which bounds the ratio any `status` that checks the same files can reach.
//!
//! `DARN_SCALE=1130,10080,100800 cargo bench --bench scale` (default `1130,10080`); `DARN_REPEAT`
//! pairs per measure (default 5). Each pair runs darn and its baseline back to back, so the
//! machine's noise hits both; the table gives medians and the median of the per-pair ratios.
//! Needs `ninja` (PyPI's `ninja` or Debian's `ninja-build`) and `python3` on PATH; both are run
//! as their own executables, never through a launcher.

mod common;

use darn::DemoSpec;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Wall time (s) and peak resident memory (MiB) of one process. The memory comes from
/// `/usr/bin/time`: a child forked from this (large) bench process would count the bench's own
/// pages in its peak.
fn measure(cmd: &mut Command) -> (f64, f64) {
    let out = std::env::temp_dir().join(format!("darn-scale-rss-{}", std::process::id()));
    let mut timed = Command::new("/usr/bin/time");
    timed.arg("-f").arg("%M").arg("-o").arg(&out).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let start = Instant::now();
    let _ = timed.stdout(Stdio::null()).stderr(Stdio::null()).status().expect("run /usr/bin/time (Debian's `time`)");
    let secs = start.elapsed().as_secs_f64();
    let kb: f64 = std::fs::read_to_string(&out).ok().and_then(|s| s.lines().last()?.trim().parse().ok()).unwrap_or(0.0);
    (secs, kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// darn on `root`, keeping the caches of a tree without `.darn/` nowhere: a measure of a first
/// look must not find the previous pair's look remembered.
fn darn(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(common::DARN);
    c.arg("-C").arg(root).args(args).env("DARN_CACHE_DIR", "");
    c
}

/// A `build.ninja` with one edge per derived node of every run and aggregate, over the files
/// darn reads and writes for it (the run's part from darn's rules themselves). A rule that also
/// reads what a later rule writes (the agent's check reads `agent/result.json`) does not get
/// that input: ninja's graph must be acyclic. The edges are `phony`: `ninja -n` then stats
/// every file and walks the graph as for real edges, but without its log to look up (a lighter
/// baseline than a built tree, and no million `touch` processes to make one at 100,000 runs).
fn write_ninja(root: &Path) {
    let exp = darn::Experiment::open(root, None).expect("open");
    let mut out = String::new();
    let rel = |p: &Path| p.strip_prefix(root).map_or_else(|_| p.display().to_string(), |r| r.display().to_string());
    let mut edge = |outs: &[PathBuf], ins: &[PathBuf]| {
        let ins: Vec<&PathBuf> = ins.iter().filter(|p| p.is_file()).collect();
        let o: Vec<String> = outs.iter().filter(|p| p.is_file()).map(|p| rel(p).replace(' ', "$ ")).collect();
        if o.is_empty() {
            return;
        }
        let i: Vec<String> = ins.iter().map(|p| rel(p).replace(' ', "$ ")).collect();
        let _ = writeln!(out, "build {}: phony {}", o.join(" "), i.join(" "));
    };
    let mut run_edges = darn::run_file_edges(exp.config.judge_models.len() as u16);
    let mut written_later: std::collections::HashSet<&str> = run_edges.iter().flat_map(|(o, _)| o.clone()).collect();
    for (outs, ins) in &mut run_edges {
        outs.iter().for_each(|o| {
            written_later.remove(o);
        });
        ins.retain(|i| !written_later.contains(i));
    }
    let mut subtest_reports: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    let mut all_results = Vec::new();
    for loc in &exp.runs {
        let d = exp.run_dir(loc);
        let files = |fs: &[&str]| fs.iter().map(|f| d.join(f)).collect::<Vec<_>>();
        for (outs, ins) in &run_edges {
            edge(&files(outs), &files(ins));
        }
        let j = |s: &str| d.join(s);
        subtest_reports.entry(format!("{}/{}", loc.key.tier, loc.key.subtest)).or_default().push(j("run_result.json"));
        all_results.push(j("run_result.json"));
    }
    let mut tier_inputs: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for (key, results) in &subtest_reports {
        let (tier, subtest) = key.split_once('/').unwrap_or((key, ""));
        let dir = exp.subtest_dir(tier, subtest);
        edge(&[dir.join("report.json"), dir.join("report.md")], results);
        tier_inputs.entry(tier.to_string()).or_default().push(dir.join("report.json"));
    }
    let mut tier_results = Vec::new();
    for (tier, reports) in &tier_inputs {
        let dir = exp.tier_dir(tier);
        edge(&[dir.join("result.json"), dir.join("report.json"), dir.join("report.md")], reports);
        tier_results.push(dir.join("result.json"));
    }
    let r = |s: &str| root.join(s);
    edge(
        &[r("result.json"), r("report.json"), r("report.md"), r("summary.md"), r("tier_comparison.json")],
        &tier_results,
    );
    edge(&[r("checkpoint.json")], &all_results);
    if !std::fs::read_to_string(root.join("build.ninja")).is_ok_and(|old| old == out) {
        std::fs::write(root.join("build.ninja"), out).expect("write build.ninja");
    }
    let dry = Command::new(ninja()).arg("-n").arg("-C").arg(root).output().expect("run ninja (is it on PATH?)");
    assert!(
        dry.status.success() && String::from_utf8_lossy(&dry.stdout).contains("no work to do"),
        "ninja -n over the bench's build.ninja has work to do"
    );
}

/// `ninja`, resolved once: the `ninja` wheel's binary when Python has it, else the one on PATH.
/// A baseline runs its own executable: a launcher in its place (a pyenv shim, the wheel's entry
/// point) would add its own start-up, tens of milliseconds, to every figure.
fn ninja() -> &'static Path {
    static NINJA: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    NINJA.get_or_init(|| {
        ask_python("import ninja, os; print(os.path.join(ninja.BIN_DIR, 'ninja'))").unwrap_or("ninja".into())
    })
}

/// `python3`'s own executable, resolved once (see [`ninja`]).
fn python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| ask_python("import sys; print(sys.executable)").unwrap_or("python3".into()))
}

/// The file a line of Python prints, when it runs and names one.
fn ask_python(code: &str) -> Option<PathBuf> {
    let out = Command::new("python3").args(["-c", code]).output().ok().filter(|o| o.status.success())?;
    Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())).filter(|p| p.is_file())
}

/// What a floor process goes through: each directory (absolute) with the paths below it.
type FloorList = Vec<(PathBuf, Vec<String>)>;

/// The paths darn looks at, by run directory (the run itself as `.`), and the aggregate files
/// of the tree (by the directory they are in), written to a list a floor process reads.
fn write_floor_list(root: &Path, out: &Path) {
    let mut by_dir: std::collections::BTreeMap<PathBuf, Vec<String>> = Default::default();
    for p in common::files_read(root) {
        let is_run = |a: &Path| {
            a.file_name()
                .and_then(|n| n.to_str()?.strip_prefix("run_"))
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        };
        let run = p.ancestors().find(|a| is_run(a));
        let run = run.unwrap_or(root).to_path_buf();
        let rel = p.strip_prefix(&run).map_or_else(|_| ".".to_string(), |r| r.display().to_string());
        by_dir.entry(run).or_default().push(if rel.is_empty() { ".".into() } else { rel });
    }
    // The aggregates: every file of the experiment, phase, tier and subtest directories.
    let mut dirs = vec![root.to_path_buf()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for d in &dirs {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
                let Ok(t) = e.file_type() else { continue };
                if t.is_file() && !name.starts_with(".ninja") && name != "build.ninja" {
                    by_dir.entry(d.clone()).or_default().push(name);
                } else if t.is_dir() && !name.starts_with('.') && !name.starts_with("run_") && name != "repo" {
                    next.push(path);
                }
            }
        }
        dirs = next;
    }
    let mut text = String::new();
    for (dir, rels) in by_dir {
        let _ = writeln!(text, "{}", dir.display());
        for r in rels {
            let _ = writeln!(text, "\t{r}");
        }
    }
    std::fs::write(out, text).expect("write the floor list");
}

/// A floor process (`DARN_BENCH_FLOOR=stat|read LIST`): the system calls alone, on all cores,
/// relative to a handle on each directory as darn makes them.
fn floor(kind: &str, list: &Path) {
    use rayon::prelude::*;
    use rustix::fs::{AtFlags, Mode, OFlags};
    let text = std::fs::read_to_string(list).expect("read the floor list");
    let mut dirs: FloorList = Vec::new();
    for line in text.lines() {
        match (line.strip_prefix('\t'), dirs.last_mut()) {
            (Some(rel), Some((_, rels))) => rels.push(rel.to_string()),
            _ => dirs.push((PathBuf::from(line), Vec::new())),
        }
    }
    let found: usize = dirs
        .par_iter()
        .map_init(
            || vec![0u8; 1 << 16],
            |buf, (dir, rels)| {
                let Ok(fd) = rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                else {
                    return 0;
                };
                let stat = |rel: &str| rustix::fs::statat(&fd, rel, AtFlags::empty()).is_ok();
                let read = |buf: &mut Vec<u8>, rel: &str| {
                    let Ok(f) = rustix::fs::openat(&fd, rel, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
                        return false;
                    };
                    if rustix::fs::fstat(&f).is_ok_and(|s| s.st_mode & libc::S_IFMT != libc::S_IFREG) {
                        return true;
                    }
                    while rustix::io::read(&f, &mut buf[..]).is_ok_and(|n| n > 0) {}
                    true
                };
                rels.iter().filter(|r| if kind == "stat" { stat(r) } else { read(buf, r) }).count()
            },
        )
        .sum();
    println!("{found}");
}

struct Row {
    measure: String,
    darn: f64,
    baseline: f64,
    ratio: f64,
    rss: f64,
}

/// `repeat` pairs of darn (`a`) and its baseline (`b`) back to back, as one row of the table.
fn pairs(measure: String, repeat: usize, mut a: impl FnMut() -> (f64, f64), mut b: impl FnMut() -> f64) -> Row {
    let (mut ta, mut tb, mut ratios, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeat {
        let (t, m) = a();
        let u = b();
        ta.push(t);
        tb.push(u);
        ratios.push(t / u);
        rss.push(m);
    }
    Row { measure, darn: median(ta), baseline: median(tb), ratio: median(ratios), rss: median(rss) }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(kind) = std::env::var("DARN_BENCH_FLOOR") {
        let list = std::env::args_os().nth(1).expect("a floor list");
        return floor(&kind, Path::new(&list));
    }
    let sizes: Vec<u32> = std::env::var("DARN_SCALE")
        .unwrap_or_else(|_| "1130,10080".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let repeat: usize = std::env::var("DARN_REPEAT").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let scan = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/exists_scan.py");
    let mut rows = Vec::new();
    let mut noop_times = Vec::new();
    for &n in &sizes {
        let t0 = Instant::now();
        let root = common::tree(&format!("scale-{n}"), &DemoSpec { damage: false, ..DemoSpec::with_runs(n) });
        eprintln!("scale {n}: tree ready in {:.1} s", t0.elapsed().as_secs_f64());
        let runs = darn::Experiment::open(&root, None).expect("open").runs.len();
        write_ninja(&root);
        // Stamp everything: afterwards reconcile has nothing to do.
        for _ in 0..2 {
            let _ = measure(&mut darn(&root, &["reconcile", "--regenerate-only", "-q"]));
        }
        let noop = pairs(
            format!("no-op reconcile, {runs} runs / ninja -n"),
            repeat,
            || measure(&mut darn(&root, &["reconcile", "--regenerate-only", "-q"])),
            || measure(Command::new(ninja()).arg("-n").arg("-C").arg(&root)).0,
        );
        noop_times.push((runs, noop.darn));
        rows.push(noop);
        let python = || measure(Command::new(python()).arg(&scan).arg(&root)).0;
        let status = || measure(&mut darn(&root, &["status"]));
        let list = root.with_extension("floor");
        write_floor_list(&root, &list);
        let me = std::env::current_exe().expect("the bench's own path");
        let floor = |kind: &str| measure(Command::new(&me).arg(&list).env("DARN_BENCH_FLOOR", kind));
        rows.push(pairs(format!("status with .darn/, {runs} runs / Python scan"), repeat, status, python));
        rows.push(pairs(format!("stat floor, {runs} runs / Python scan"), repeat, || floor("stat"), python));
        rows.push(pairs(format!("status with .darn/, {runs} runs / stat floor"), repeat, status, || floor("stat").0));
        let darn_dir = root.join(".darn");
        let aside = root.join(".darn-bench-aside");
        std::fs::rename(&darn_dir, &aside).expect("move .darn aside");
        rows.push(pairs(format!("first status (no .darn/), {runs} runs / Python scan"), repeat, status, python));
        rows.push(pairs(format!("read floor, {runs} runs / Python scan"), repeat, || floor("read"), python));
        rows.push(pairs(format!("first status (no .darn/), {runs} runs / read floor"), repeat, status, || {
            floor("read").0
        }));
        // The next look at a tree without `.darn/`: the first one's caches are in the user's
        // cache directory (here a fresh one, filled by one look before the pairs).
        let user_cache = tempfile::tempdir().expect("tempdir");
        let _ = darn(&root, &["status"]).env("DARN_CACHE_DIR", user_cache.path()).output();
        rows.push(pairs(
            format!("second status (no .darn/, caches in the user's), {runs} runs / Python scan"),
            repeat,
            || measure(darn(&root, &["status"]).env("DARN_CACHE_DIR", user_cache.path())),
            python,
        ));
        std::fs::rename(&aside, &darn_dir).expect("put .darn back");
    }
    for r in &rows {
        eprintln!("{}: {:.3} s vs {:.3} s, {:.2}×, {:.0} MiB", r.measure, r.darn, r.baseline, r.ratio, r.rss);
    }
    let mut table = String::from(
        "| measure | darn (s) | baseline (s) | ratio (median of pairs) | darn peak RSS (MiB) |\n|---|---|---|---|---|\n",
    );
    for r in &rows {
        let _ =
            writeln!(table, "| {} | {:.3} | {:.3} | {:.2}× | {:.0} |", r.measure, r.darn, r.baseline, r.ratio, r.rss);
    }
    for w in noop_times.windows(2) {
        let ((n0, t0), (n1, t1)) = (w[0], w[1]);
        let _ = writeln!(
            table,
            "\nno-op time from {n0} to {n1} runs ({:.1}× the runs): {:.3} s → {:.3} s, {:.1}×",
            n1 as f64 / n0 as f64,
            t0,
            t1,
            t1 / t0
        );
    }
    println!("{table}");
}
