//! The `portolan` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The gateway allocates and frees many small buffers per request (headers, JSON, log records);
// mimalloc does that in about half the CPU time of glibc's allocator (bench/gateway.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
