//! The progress bar in a real terminal: darn runs on a pseudo-terminal (opened with libc, already
//! a dependency), waits out a rate limit with the time it resumes on screen, and is stopped with
//! Ctrl-C (SIGINT), after which the bar is gone from the screen.

use crate::util::{DARN, Exp};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A pseudo-terminal of 120 columns: the master side, and the slave side for the child.
fn open_pty() -> (std::fs::File, OwnedFd) {
    // SAFETY: plain libc calls on fds this function owns; every return value is checked.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(master), 0, "grantpt");
        assert_eq!(libc::unlockpt(master), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0, "open the pty slave: {}", std::io::Error::last_os_error());
        let size = libc::winsize { ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
        assert_eq!(libc::ioctl(master, libc::TIOCSWINSZ, &size), 0, "TIOCSWINSZ");
        (std::fs::File::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

/// Waits (with a generous guard against hanging, not a timing assertion) until the screen
/// output holds `needle`.
fn wait_for(screen: &Mutex<Vec<u8>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = String::from_utf8_lossy(&screen.lock().expect("screen")).into_owned();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "`{needle}` never appeared on the terminal:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_bar_shows_a_rate_limit_wait_and_is_cleared_after_ctrl_c() {
    let (exp, _) =
        Exp::demo(darn::DemoSpec { tiers: 1, subtests: 1, runs_per_subtest: 3, damage: false, ..Default::default() });
    // Every judge is slow, and rate limited on its first attempt (Retry-After: 1).
    let state = exp.path(".standin-state");
    let toml = String::from_utf8(exp.read("darn.toml")).expect("utf-8");
    let knobs = format!(
        "\"stand-in\", \"judge\", \"--sleep\", \"2\", \"--rate-limit-first\", \"1\", \"--state\", \"{}\",",
        state.display()
    );
    exp.write("darn.toml", toml.replacen("\"stand-in\", \"judge\",", &knobs, 1));
    for run in 1..=3 {
        exp.remove(&format!("completed/T0/00/run_{run:02}/judge/judge_01"));
    }

    let (mut master, slave) = open_pty();
    let stderr = slave.try_clone().expect("dup the pty slave");
    let mut child = std::process::Command::new(DARN)
        .args(["-C", &exp.root().display().to_string(), "reconcile", "-j", "1"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("start darn on the pseudo-terminal");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Reading the master ends with EIO once darn (the last holder of the slave) exits.
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().expect("screen").extend_from_slice(&buf[..n]);
            }
        })
    };

    let seen = wait_for(&screen, "rate limited: resuming at");
    assert!(seen.contains("reconciling ["), "{seen}");
    assert!(seen.contains(" spent"), "dollars spent against the estimate: {seen}");
    // Ctrl-C, as the terminal delivers it.
    // SAFETY: signalling the child this test started, by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = child.wait().expect("wait for darn");
    reader.join().expect("the reader thread");
    let text = String::from_utf8_lossy(&screen.lock().expect("screen")).into_owned();
    assert_eq!(status.code(), Some(130), "interrupted:\n{text}");
    assert!(text.contains("interrupted"), "{text}");
    // The ETA is labelled as an estimate whenever it is shown.
    for (i, _) in text.match_indices("ETA") {
        let rest = &text[i..text.len().min(i + 40)];
        assert!(rest.contains("(estimate)") || rest.starts_with("ETA: past"), "{rest}");
    }
    // The bar was erased: after its last drawing comes a line clear, and no bar is drawn again.
    let last_bar = text.rfind("reconciling [").expect("the bar was drawn");
    let after = &text[last_bar..];
    let clear = after.find("\x1b[2K").unwrap_or_else(|| panic!("the bar is cleared: {after:?}"));
    assert!(!after[clear..].contains("reconciling ["), "{after:?}");
    let screen_end = &after[clear..];
    assert!(screen_end.contains("interrupted: what finished is recorded"), "{screen_end:?}");
}
