//! Engine defaults, stored in the `settings` table so the app and the CLI share them. With no
//! routing config at all a call gets 2 retries on the default status codes with backoff, a 60 s
//! request timeout and no cache.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::providers::{AttemptLimits, BodyLimits};
use crate::store::{Actor, Store};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineSettings {
    /// Retries per target when a config says nothing.
    pub retry_attempts: u32,
    /// Per-attempt timeout until an answer (or, for streams, the response headers) arrives.
    pub request_timeout_ms: u64,
    /// Longest silence allowed between two chunks of a stream.
    pub stream_idle_timeout_ms: u64,
    /// First retry waits this long, then twice as long each time (with ±25 % jitter).
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// A `Retry-After` longer than this is not waited for: the attempt counts as failed.
    pub retry_after_max_ms: u64,
    /// Keep request and response bodies in the logs (capped at `log_body_max_bytes`).
    pub log_bodies: bool,
    pub log_body_max_bytes: usize,
    /// Calls older than this many days are deleted when the engine starts (0 keeps all).
    pub log_retention_days: u32,
    /// Model string of the embedding model for semantic caching (e.g.
    /// `@openai-main/text-embedding-3-small`, `ollama/nomic-embed-text`, or `local-hash-v1`);
    /// unset uses the sentence model compiled in, `local-minilm-l3-v2-q4`.
    pub embedding_model: Option<String>,
    /// PII guardrail applied to every call that names none in its config.
    pub pii: crate::guardrails::PiiAction,
    /// With `pii: redact`, put the original values back into answers.
    pub pii_restore: bool,
    /// The largest complete answer (or error body) read from a provider, in bytes.
    pub max_response_bytes: usize,
    /// The largest single server-sent event read from a provider, in bytes.
    pub max_stream_event_bytes: usize,
    /// The largest whole stream read from a provider, in bytes.
    pub max_stream_bytes: usize,
    /// The most upstream attempts one call may make (targets × retries); a config that could make
    /// more is refused before anything is sent.
    pub max_attempts_per_call: u32,
    /// How long a budget reservation holds before a sweep charges its estimate and releases it
    /// (the process that made it died); a call outliving it is still settled exactly.
    pub reservation_lease_secs: u64,
    /// Responses kept for the Responses API (`store: true`) are deleted after this many days
    /// (0 keeps them).
    pub responses_retention_days: u32,
    /// An evaluation whose estimated worst-case cost is above this (USD) needs `--yes`.
    pub eval_confirm_above_usd: f64,
    /// OpenTelemetry export of calls (off until an endpoint is set).
    pub otel: crate::otel::OtelSettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            retry_attempts: 2,
            request_timeout_ms: 60_000,
            stream_idle_timeout_ms: 30_000,
            backoff_base_ms: 250,
            backoff_max_ms: 8_000,
            retry_after_max_ms: 60_000,
            log_bodies: true,
            log_body_max_bytes: 64 * 1024,
            log_retention_days: 30,
            embedding_model: None,
            pii: crate::guardrails::PiiAction::Off,
            pii_restore: false,
            max_response_bytes: BodyLimits::default().max_response_bytes,
            max_stream_event_bytes: BodyLimits::default().max_event_bytes,
            max_stream_bytes: BodyLimits::default().max_stream_bytes,
            max_attempts_per_call: 16,
            reservation_lease_secs: 900,
            responses_retention_days: 30,
            eval_confirm_above_usd: 1.0,
            otel: crate::otel::OtelSettings::default(),
        }
    }
}

/// The name the engine settings are stored under.
pub(crate) const KEY: &str = "engine";

impl EngineSettings {
    /// The size limits of an upstream's answers.
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_response_bytes: self.max_response_bytes,
            max_event_bytes: self.max_stream_event_bytes,
            max_stream_bytes: self.max_stream_bytes,
        }
    }

    /// An attempt's limits with these timeouts (milliseconds) and the size limits.
    pub fn attempt_limits(&self, request_timeout_ms: u64, idle_timeout_ms: u64) -> AttemptLimits {
        AttemptLimits {
            request_timeout: std::time::Duration::from_millis(request_timeout_ms),
            idle_timeout: std::time::Duration::from_millis(idle_timeout_ms),
            body: self.body_limits(),
        }
    }
}

impl EngineSettings {
    pub fn load(store: &Store) -> Result<EngineSettings> {
        Ok(match store.setting(KEY)? {
            Some(v) => serde_json::from_value(v)?,
            None => EngineSettings::default(),
        })
    }

    /// The settings a shared catalog holds (a team gateway's), or the defaults.
    pub async fn load_shared(catalog: &dyn crate::store::Catalog) -> Result<EngineSettings> {
        Ok(match catalog.setting(KEY).await? {
            Some(v) => serde_json::from_value(v)?,
            None => EngineSettings::default(),
        })
    }

    /// Saves these settings in a team's shared store; every replica follows them.
    #[cfg(feature = "team")]
    pub async fn save_shared(&self, catalog: &crate::store::postgres::PgCatalog) -> Result<()> {
        catalog.set_setting(KEY, &serde_json::to_value(self)?).await
    }

    pub fn save(&self, store: &Store, actor: &Actor) -> Result<()> {
        store.save_setting(KEY, &serde_json::to_value(self)?, actor)
    }
}
