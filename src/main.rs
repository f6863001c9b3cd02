//! The `portolan` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

// The gateway allocates and frees many small buffers per request (headers, JSON, log records);
// with mimalloc it serves about 10% more requests per second than with glibc's allocator
// (bench/gateway.sh, A/B runs). Built with `no_thp`: otherwise mimalloc asks for transparent
// huge pages for its arenas, which made an idle `portolan serve` 8 MB larger (25 vs 17 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
