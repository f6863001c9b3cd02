//! A call as seen from outside the engine: the options it is made with, what is known when its
//! answer starts ([`CallInfo`]), how it ended ([`CallSummary`]), the answer itself
//! ([`CallBody`]), and a call that produced no answer ([`CallError`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use serde::Serialize;

use super::config::{CacheConfig, RouteConfig};
use crate::cache::CacheStatus;
use crate::chat::{ChatResponse, Usage};
use crate::logs::AttemptRecord;
use crate::providers::{ChunkStream, FailureKind, ProviderError};
use crate::store::{Actor, Subject, TokenScopes};

/// The prompt a call was rendered from, for the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptRef {
    pub id: String,
    pub version: i64,
}

/// Everything about a call besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub config: Option<RouteConfig>,
    pub trace_id: Option<String>,
    /// The caller's span (16 hex digits) from a W3C `traceparent`: exported spans are its
    /// children.
    pub parent_span_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub prompt: Option<PromptRef>,
    /// The variables that rendered the prompt (logged with the call).
    pub variables: Option<serde_json::Map<String, serde_json::Value>>,
    /// Overrides the config's cache settings (`x-portkey-cache`).
    pub cache: Option<CacheConfig>,
    pub force_refresh: bool,
    /// Overrides the retry count of every target (`x-portkey-retry-count`).
    pub retry_attempts: Option<u32>,
    /// Overrides the per-attempt timeout (`x-portkey-request-timeout`).
    pub request_timeout_ms: Option<u64>,
    /// Who made the call: `cli`, `gateway`, `compare`, `app`.
    pub source: Option<String>,
    /// The gateway token making the call: its budget and rate limits apply.
    pub token: Option<Subject>,
    /// The token's scopes (allowed models and keys).
    pub scopes: Option<TokenScopes>,
    /// Whether the caller is still waiting (the gateway's handler); a call whose client left is
    /// still finished, settled and logged, as 499.
    pub client: Option<ClientWatch>,
}

/// Tells a call whether its client is still there. The gateway holds a [`ClientGuard`] while it
/// waits for the answer; if the request is dropped (the client disconnected), the guard marks the
/// client gone.
#[derive(Debug, Clone, Default)]
pub struct ClientWatch(Arc<AtomicBool>);

impl ClientWatch {
    pub fn new() -> Self {
        ClientWatch::default()
    }

    pub fn is_gone(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// A guard that marks the client gone when dropped, unless [`ClientGuard::answered`] first.
    pub fn guard(&self) -> ClientGuard {
        ClientGuard(Some(self.0.clone()))
    }
}

/// See [`ClientWatch::guard`].
pub struct ClientGuard(Option<Arc<AtomicBool>>);

impl ClientGuard {
    /// The answer reached the handler: the client was there for it.
    pub fn answered(mut self) {
        self.0.take();
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Release);
        }
    }
}

impl CallOptions {
    /// Whether this call may go to a routing config's `custom_host`: the local user's calls may;
    /// a gateway token's only when it was created with `--allow-custom-host`.
    pub fn custom_hosts_allowed(&self) -> bool {
        self.token.is_none() || self.scopes.as_ref().is_some_and(|s| s.allow_custom_host)
    }

    /// Who changes made by this call (budget alerts) are attributed to.
    pub fn actor(&self) -> Actor {
        Actor::of_call(
            self.source.as_deref(),
            self.token.as_ref().map(|t| t.name.as_str()),
        )
    }
}

/// How a finished call went; for streams it is set when the stream ends.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub success: bool,
    pub status: u16,
    pub error: Option<String>,
    pub usage: Option<Usage>,
    /// None when the model's price is unknown (never reported as zero); 0 for cache hits.
    pub cost_usd: Option<f64>,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub cache_status: CacheStatus,
}

/// What is known about a call when its answer starts.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    pub call_id: String,
    pub trace_id: String,
    pub cache_status: CacheStatus,
    /// Which target served the call, as a path into the config (`0`, `1.0`, …).
    pub target_path: Option<String>,
    /// Retries made on the target that served the call.
    pub retry_count: u32,
    pub provider: Option<String>,
    pub model: String,
    pub key_name: Option<String>,
    /// Time spent waiting on providers before the answer (or first token) arrived.
    pub upstream_ms: u64,
    /// The same, in microseconds (for `Server-Timing`).
    pub upstream_us: u64,
    pub attempts: Vec<AttemptRecord>,
    #[serde(skip)]
    pub(super) summary: Arc<OnceLock<CallSummary>>,
}

impl CallInfo {
    /// The call's outcome: available at once for complete answers, after the last chunk for
    /// streams.
    pub fn summary(&self) -> Option<&CallSummary> {
        self.summary.get()
    }
}

pub enum CallBody {
    Complete(ChatResponse),
    Stream(ChunkStream),
}

pub struct Call {
    pub info: CallInfo,
    pub body: CallBody,
}

/// A call that produced no answer.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// What went wrong last: its kind, and the provider's own status and body when it answered.
    pub cause: ProviderError,
    /// A sentence for people: the cause, and after several attempts each attempt's target and
    /// error.
    pub message: String,
    pub call_id: String,
    pub trace_id: String,
    /// Every attempt, as data.
    pub attempts: Vec<AttemptRecord>,
    /// For 429s: when to try again (the provider's Retry-After / retry-after-ms, or the
    /// rate-limit window).
    pub retry_after_ms: Option<u64>,
}

impl CallError {
    /// The status a gateway answers with (one mapping, [`ProviderError::http_status`]).
    pub fn status(&self) -> u16 {
        self.cause.http_status()
    }

    pub fn kind(&self) -> FailureKind {
        self.cause.kind
    }
}
