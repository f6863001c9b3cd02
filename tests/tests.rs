//! Black-box tests of the `portolan` binary on throwaway data directories. One test binary, so
//! the suite links once.

mod support;

mod cli_bundle;
mod cli_calls;
mod cli_cloud_providers;
mod cli_keys;
mod cli_prompts;
mod cli_tools;
mod dialects;
mod engine;
mod evals;
mod gateway;
mod governance;
mod otel;
mod sdk;
mod security;
mod semantic_cache;
mod team_store;
