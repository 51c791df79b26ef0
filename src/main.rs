//! The `govmedia` binary: parse the command line, run, print the error chain once.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = match govmedia::cli::main_with_args(std::env::args_os()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("govmedia: {}", govmedia::cli::error_chain(&e));
            1
        }
    };
    std::process::exit(code);
}
