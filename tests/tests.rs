//! Black-box tests of the `portolan` binary on throwaway data directories. One test binary, so
//! the suite links once.

mod support;

mod cli_calls;
mod cli_keys;
mod engine;
mod cli_prompts;
