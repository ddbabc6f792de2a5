//! Transparent huge pages: off while darn builds its own heap, back on for the programs it runs.

/// The allocator asks the kernel for transparent huge pages on its arenas. darn's heap is many
/// small allocations, so each first touch zeroed 2 MiB: a no-op at 10,080 runs peaked at 92 MiB
/// instead of 61, and spent more system time, for no speed gained. Linux only.
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Called before darn starts another program: the flag is inherited across `exec`, and an
/// agent's memory is not darn's to decide. Once per process.
pub fn for_children() {
    #[cfg(target_os = "linux")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // SAFETY: as in `small_pages`.
        ONCE.call_once(|| unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
        });
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The flag as the kernel reports it (`PR_GET_THP_DISABLE`).
    fn disabled() -> bool {
        // SAFETY: reads a flag of this process.
        unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1 }
    }

    #[test]
    fn huge_pages_are_off_for_darn_and_on_again_for_its_children() {
        let before = disabled();
        super::small_pages();
        assert!(disabled());
        super::for_children();
        assert!(!disabled(), "children get the system's default");
        if before {
            super::small_pages();
        }
    }
}
