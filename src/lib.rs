//! Portolan's engine: the prompt library, virtual keys and (in later modules) the routing engine
//! and gateway. Nothing here depends on a GUI toolkit: the CLI, the headless gateway and the desktop
//! shell are all thin layers over this crate.

pub mod bundle;
pub mod cache;
pub mod chat;
pub mod cloud_credentials;
pub mod compare;
pub mod datasets;
pub mod dialects;
pub mod diff;
pub mod embeddings;
pub mod error;
pub mod evals;
pub mod gateway;
pub mod guardrails;
pub mod ids;
pub mod images;
pub mod keys;
pub mod logs;
pub mod message;
pub mod models;
pub mod otel;
pub mod paths;
pub mod pricing;
pub mod prompt_file;
pub mod prompt_source;
pub mod prompts;
pub mod prompty;
pub mod providers;
pub mod routing;
pub mod secrets;
pub mod seed;
pub mod store;
pub mod template;
pub mod tools;

pub use error::{Error, Result};
pub use store::{Store, StoreOptions};
