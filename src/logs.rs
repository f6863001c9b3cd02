//! Request logs: what is kept of every call and every attempt (the records, the filters that
//! search them, feedback and the totals the charts show). Where they are kept is the call log
//! store's business ([`crate::store::CallLog`]); it writes records in the background, so logging
//! never sits on the request path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cache::CacheStatus;

/// Whether a metadata key is Portolan's own (`_prompt`, `_pii`, `_gateway_token`, …): tags that
/// start with `_` are written by Portolan, and a caller may not set them, so the log's record of
/// which prompt, token or guardrail a call went through cannot be forged. `_user` stays the
/// caller's, as in Portkey's vocabulary.
pub fn is_reserved_metadata_key(key: &str) -> bool {
    key.starts_with('_') && key != "_user"
}

/// One upstream attempt (a retry or a fallback step).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptRecord {
    pub n: u32,
    /// Position in the routing config: `0`, `1.0` (first target of the second group), …
    pub target_path: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub key_name: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub started_at: i64,
}

/// One call as logged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    pub id: String,
    pub trace_id: String,
    pub created_at: i64,
    pub source: String,
    pub prompt_id: Option<String>,
    pub prompt_version: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub key_name: Option<String>,
    pub status: u16,
    pub success: bool,
    pub error: Option<String>,
    pub stream: bool,
    pub cache_status: CacheStatus,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub retry_count: u32,
    pub target_path: Option<String>,
    pub request: Option<String>,
    pub response: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The variables that rendered the call's prompt (JSON), so the call can become a dataset row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<String>,
    #[serde(default)]
    pub attempts: Vec<AttemptRecord>,
    /// The caller's span from a W3C `traceparent`, for exported telemetry (not stored).
    #[serde(skip)]
    pub parent_span_id: Option<String>,
}

/// Filters for listing calls.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogFilter {
    pub limit: Option<u32>,
    pub model: Option<String>,
    pub status: Option<u16>,
    pub success: Option<bool>,
    pub trace_id: Option<String>,
    pub prompt_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Calls whose metadata has all these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Text that the request or response contains.
    pub search: Option<String>,
}

/// Checks a feedback value (a whole number from -10 to 10) and weight (0 to 1).
pub fn check_feedback(value: i64, weight: f64) -> crate::error::Result<()> {
    if !(-10..=10).contains(&value) {
        return Err(crate::error::Error::InvalidFeedback(format!(
            "value must be a whole number from -10 to 10, not {value}"
        )));
    }
    if !(0.0..=1.0).contains(&weight) {
        return Err(crate::error::Error::InvalidFeedback(format!(
            "weight must be between 0 and 1, not {weight}"
        )));
    }
    Ok(())
}

/// Feedback on a traced call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Feedback {
    pub id: String,
    pub trace_id: String,
    pub value: i64,
    pub weight: f64,
    pub metadata: BTreeMap<String, String>,
    pub created_at: i64,
}

/// A call with its attempts and feedback.
#[derive(Debug, Clone, Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallRecord,
    pub feedback: Vec<Feedback>,
}

/// Per-day totals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayCost {
    pub day: String,
    pub calls: u64,
    pub cost_usd: f64,
    /// Calls whose cost is unknown (model not in the price table).
    pub unpriced_calls: u64,
    pub tokens: u64,
}

/// Latency percentiles of one model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelLatency {
    pub model: String,
    pub calls: u64,
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
}
