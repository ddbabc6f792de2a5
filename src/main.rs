//! The `darn` binary: parse arguments, run, map errors to exit codes.

// glibc's per-thread arenas grow and shrink with thousands of mprotect calls when rayon workers
// parse many small files; mimalloc keeps that off the hot path.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // A closed pipe (`darn status | head`) must end quietly, not panic on the next write.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    darn::small_pages();
    let cli = darn::parse();
    let code = match darn::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("darn: error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
