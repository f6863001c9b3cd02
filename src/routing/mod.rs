//! The embedded routing engine: one function takes a unified chat request plus a routing config
//! and returns an answer or a stream, with retries, fallbacks, weighted load balancing,
//! conditional routing, timeouts, caching, usage, cost and a log record for every call and
//! attempt. The comparison runner and the gateway both call [`Engine::chat`].
//!
//! A call's steps, in the order they run, each in its own module:
//! [`admit`] (validation, input guardrail, the token's reservation) → [`cache`] (lookup) →
//! [`route`] (the target tree) → [`attempt`] (one target: resolve, scopes, the key's
//! reservation, retries) → [`relay`] (the answer to the caller, then settle, cache fill, log).
//! [`record`] builds what each outcome leaves in the log; [`guard`] and [`budget`] are the PII
//! guardrail and the reservation estimate those steps use.

mod admit;
mod attempt;
mod budget;
mod cache;
mod call;
pub mod conditions;
pub mod config;
mod embed;
mod engine;
mod guard;
mod record;
mod relay;
pub mod resolve;
mod route;
mod services;
mod settings;
mod targets;

pub use call::{
    Call, CallBody, CallError, CallInfo, CallOptions, CallSummary, ClientGuard, ClientWatch,
    PromptRef,
};
pub use config::{CacheConfig, CacheMode, RetryConfig, RouteConfig};
pub use embed::Embeddings;
pub use engine::{CallEstimate, Engine};
pub use settings::EngineSettings;
