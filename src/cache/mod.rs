//! What the response cache is: `simple` mode is an exact match on a hash of the canonical
//! request (and routing config); `semantic` mode, on an exact miss, compares an embedding of the
//! last user message with the cached entries whose other request fields are identical (same
//! partition) and takes the most similar one above a threshold. The keys and statuses live
//! here; where entries are kept is the cache store's business ([`crate::store::CacheStore`]).
//! Errors and empty answers are never cached.

pub mod ann;
pub mod near_miss;

use serde::Serialize;
use serde_json::Value;

use crate::chat::{ChatRequest, ChatResponse};

/// What the cache did for a call; reported on every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CacheStatus {
    #[serde(rename = "HIT")]
    Hit,
    #[serde(rename = "SEMANTIC HIT")]
    SemanticHit,
    #[serde(rename = "MISS")]
    Miss,
    #[serde(rename = "SEMANTIC MISS")]
    SemanticMiss,
    #[serde(rename = "REFRESH")]
    Refresh,
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::SemanticHit => "SEMANTIC HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::SemanticMiss => "SEMANTIC MISS",
            CacheStatus::Refresh => "REFRESH",
            CacheStatus::Disabled => "DISABLED",
        }
    }

    pub fn is_hit(self) -> bool {
        matches!(self, CacheStatus::Hit | CacheStatus::SemanticHit)
    }

    pub const ALL: [CacheStatus; 6] = [
        CacheStatus::Hit,
        CacheStatus::SemanticHit,
        CacheStatus::Miss,
        CacheStatus::SemanticMiss,
        CacheStatus::Refresh,
        CacheStatus::Disabled,
    ];
}

impl std::fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cache status name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cache status '{0}'")]
pub struct UnknownCacheStatus(pub String);

impl std::str::FromStr for CacheStatus {
    type Err = UnknownCacheStatus;
    fn from_str(s: &str) -> Result<Self, UnknownCacheStatus> {
        CacheStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCacheStatus(s.to_owned()))
    }
}

/// An answer to keep in the cache.
#[derive(Debug, Clone)]
pub struct CacheEntry {
    pub key: String,
    pub partition: String,
    pub response: ChatResponse,
    /// With an embedding (and the embedder's name), the entry is also found semantically.
    pub embedding: Option<(String, Vec<f32>)>,
    /// The text that was embedded (the last user message), for the near-miss check.
    pub query: Option<String>,
    pub now_ms: i64,
    pub max_age_secs: u64,
}

/// Whether an answer is worth caching: errors never get here, and an empty answer (no text, no
/// tool calls) is not kept.
pub fn worth_caching(response: &ChatResponse) -> bool {
    !response.text().trim().is_empty()
        || response
            .choices
            .iter()
            .any(|c| c.message.tool_calls.is_some())
}

fn sha256_hex(text: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// The request as it matters for caching: streaming flags and the end-user id do not change the
/// answer; everything else does.
fn canonical_request(request: &ChatRequest) -> Value {
    let mut r = request.clone();
    r.stream = None;
    r.stream_options = None;
    r.user = None;
    serde_json::to_value(&r).unwrap_or(Value::Null)
}

/// Exact-match key of a request under a routing config.
pub fn exact_key(request: &ChatRequest, config: &str) -> String {
    sha256_hex(&format!(
        "v1\u{0}{config}\u{0}{}",
        canonical_request(request)
    ))
}

/// Partition key for semantic matching: the request with the last user message's text blanked,
/// so only requests equal in everything else can match each other.
pub fn partition_key(request: &ChatRequest, config: &str) -> String {
    let mut r = request.clone();
    if let Some(m) = r.messages.iter_mut().rev().find(|m| m.role == "user") {
        m.content = None;
    }
    sha256_hex(&format!(
        "v1-semantic\u{0}{config}\u{0}{}",
        canonical_request(&r)
    ))
}
