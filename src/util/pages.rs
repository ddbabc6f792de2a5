//! Transparent huge pages: off while darn builds its own heap, back on for the programs it runs.

/// The allocator asks the kernel for transparent huge pages on its arenas. darn's heap is many
/// small allocations, so each first touch zeroed 2 MiB: a no-op at 10,080 runs peaked at 92 MiB
/// instead of 65, and spent more system time, for no speed gained. Linux only.
pub fn small_pages() {
    set_thp_disabled(true);
}

/// Called before darn starts another program: the flag is inherited across `exec`, and an
/// agent's memory is not darn's to decide. One system call, next to a process start.
pub fn for_children() {
    set_thp_disabled(false);
}

fn set_thp_disabled(disabled: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE only sets a flag of this process; nothing is read or written.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, libc::c_ulong::from(disabled), 0, 0, 0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = disabled;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_for_darn_and_on_again_for_its_children() {
        // In a forked child, so that no other test starting a process can turn the flag while
        // it is looked at; the child makes system calls only, then leaves.
        // SAFETY: the child calls only async-signal-safe functions (prctl, _exit).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let disabled = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            super::small_pages();
            let off = disabled();
            super::for_children();
            let on = disabled();
            unsafe { libc::_exit(if off == 1 && on == 0 { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the flag did not follow");
    }
}
