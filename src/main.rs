//! The `govmedia` binary: parse the command line, run, print the error chain once.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Freed memory goes back to the system at once (mimalloc's default waits 10 ms, arenas 100 ms):
    // a national build frees gigabytes per model, and the delay doubled its peak RSS.
    // 15 = mi_option_purge_delay in mimalloc.h (v2 and v3), which the bindings leave unnamed.
    // SAFETY: sets a process-wide option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(15, 0) };
    let code = match govmedia::cli::main_with_args(std::env::args_os()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("govmedia: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
