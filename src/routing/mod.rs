//! The embedded routing engine: one function takes a unified chat request plus a routing config
//! and returns an answer or a stream, with retries, fallbacks, weighted load balancing,
//! conditional routing, timeouts, caching, usage, cost and a log record for every call and
//! attempt. The comparison runner and the gateway both call [`Engine::chat`].

pub mod conditions;
pub mod config;
mod engine;
mod governance;
pub mod resolve;
mod settings;

pub use config::{CacheConfig, CacheMode, RetryConfig, RouteConfig};
pub use engine::{
    Call, CallBody, CallError, CallInfo, CallOptions, CallSummary, Engine, PromptRef,
};
pub use settings::EngineSettings;
