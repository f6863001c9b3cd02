//! The storage boundary: what the routing engine, the runners and the gateway need from storage,
//! cut by concern into five traits — the catalog (prompts, keys, tokens, settings), governance
//! (budgets, rate limits, reservations), the call log (writes in the background, queries,
//! feedback), the response cache (exact get, nearest, put, purge) and kept conversations
//! (the Responses API's stored responses). The embedded SQLite store
//! implements all four ([`super::sqlite`]); a server database implements the same traits.
//!
//! The methods are async so an implementation never blocks the executor: SQLite's run on the
//! blocking pool, a network database's are async by nature. Fast paths that need no I/O (a
//! subject known to have no limits, an empty reservation) answer without leaving the task.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{
    Actor, BudgetAlert, GatewayToken, Refusal, RenderedPrompt, Reservation, StoredResponse, Subject,
};
use crate::cache::CacheEntry;
use crate::cache::ann::Candidate;
use crate::chat::ChatResponse;
use crate::error::Result;
use crate::keys::VirtualKey;
use crate::logs::{CallDetail, CallRecord, Feedback, LogFilter};
use crate::prompts::{Prompt, PromptVersion, VersionSelector};
use crate::secrets::SecretString;
use crate::template::TemplateRefs;

/// Prompts, keys, tokens and settings, as calls read them.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// Renders a prompt version with `variables` (compiled templates cached per version).
    async fn render(
        &self,
        reference: &str,
        selector: &VersionSelector,
        variables: &Map<String, Value>,
    ) -> Result<RenderedPrompt>;
    async fn get_version(
        &self,
        reference: &str,
        selector: &VersionSelector,
    ) -> Result<PromptVersion>;
    async fn get_prompt(&self, reference: &str) -> Result<Prompt>;
    async fn list_prompts(&self) -> Result<Vec<Prompt>>;
    /// Variables and partials a version uses.
    async fn references(&self, version: &PromptVersion) -> Result<TemplateRefs>;
    async fn list_keys(&self) -> Result<Vec<VirtualKey>>;
    /// A key and its decrypted secret (the only way a secret leaves the store).
    async fn open_key(&self, name: &str) -> Result<(VirtualKey, SecretString)>;
    /// Records that a key was just used.
    async fn touch_key(&self, id: &str) -> Result<()>;
    /// The live (unrevoked) token whose SHA-256 hash is `hash`.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<GatewayToken>>;
    async fn touch_token(&self, id: &str) -> Result<()>;
    /// The settings document named `key`.
    /// A value sealed with the master key for `record_id` (base64, as settings keep secrets such
    /// as an OpenTelemetry backend's header), opened; `name` names it in errors.
    async fn open_sealed(&self, record_id: &str, name: &str, sealed: &str) -> Result<SecretString>;
    async fn setting(&self, key: &str) -> Result<Option<Value>>;
}

/// Budgets and rate limits: a call reserves its worst case before it is sent, in one atomic
/// step with the check, and settles to what it actually used.
#[async_trait]
pub trait Governance: Send + Sync {
    /// Whether `subject` has any budget or rate limit (calls through subjects without any take
    /// no lock and write nothing).
    async fn has_limits(&self, subject: &Subject) -> Result<bool>;
    /// Checks every budget and rate limit of `subjects` and reserves the estimate, atomically.
    /// `estimate_usd` is None when the model's price is unknown.
    /// The reservation is a lease: if nothing settles it within `lease`, a sweep charges its
    /// estimate and releases it.
    async fn reserve(
        &self,
        subjects: &[Subject],
        estimate_usd: Option<f64>,
        estimate_tokens: u64,
        lease: std::time::Duration,
    ) -> Result<std::result::Result<Reservation, Refusal>>;
    /// Replaces a reservation's estimate with the actual use; returns budgets that crossed
    /// their alert threshold (each once per period).
    async fn settle(
        &self,
        reservation: &Reservation,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        actor: &Actor,
    ) -> Result<Vec<BudgetAlert>>;
    /// Charges and releases every expired lease; returns how many.
    async fn sweep_expired_leases(&self, actor: &Actor) -> Result<usize>;
    /// How often a long-running process sweeps. One process on its own store sweeps rarely
    /// (its leases expire only if it dies, and it sweeps at start); replicas sharing a store
    /// sweep often, so a dead one's leases are charged soon after they expire.
    fn sweep_every(&self) -> std::time::Duration {
        std::time::Duration::from_secs(10)
    }
}

/// Where call records go, and how they are searched.
#[async_trait]
pub trait CallLog: Send + Sync {
    /// Queues a record; never blocks (a full queue drops it and counts it).
    fn log(&self, record: CallRecord);
    /// Logs the record of a call being answered. With a durable log (a team gateway's `sync`
    /// durability) this returns once the record is stored, and the answer's last byte waits for
    /// it; otherwise it queues like [`CallLog::log`].
    async fn log_answered(&self, record: CallRecord) {
        self.log(record);
    }
    /// Records dropped because the writer fell behind.
    fn dropped(&self) -> u64;
    /// Waits, blocking the thread, until every record queued so far is stored.
    fn flush_blocking(&self);
    /// Waits until every record queued so far is stored.
    async fn flush(&self);
    async fn list_calls(&self, filter: &LogFilter) -> Result<Vec<CallRecord>>;
    /// One call with its attempts and feedback, by call id or trace id.
    async fn get_call(&self, id: &str) -> Result<Option<CallDetail>>;
    async fn add_feedback(
        &self,
        trace_id: &str,
        value: i64,
        weight: f64,
        metadata: BTreeMap<String, String>,
    ) -> Result<Feedback>;
}

/// Cached answers: exact entries by key, and the nearest entry of a partition by embedding.
#[async_trait]
pub trait CacheStore: Send + Sync {
    async fn get_exact(&self, key: &str, now_ms: i64) -> Result<Option<ChatResponse>>;
    /// Up to `limit` unexpired entries of `partition` embedded by `embedder` whose similarity
    /// reaches `threshold`, most similar first (the caller checks them for near-misses and reads
    /// the answer of the first that passes with [`CacheStore::get_exact`]).
    async fn get_nearest(
        &self,
        partition: &str,
        embedder: &str,
        vector: &[f32],
        threshold: f32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>>;
    async fn put(&self, entry: CacheEntry) -> Result<()>;
    /// Deletes expired entries; returns how many.
    async fn purge_expired(&self, now_ms: i64) -> Result<usize>;
}

/// Responses kept for the Responses API's `store` and `previous_response_id`.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// Keeps `response`, deleting those older than `retention_days` (0 keeps all).
    async fn save_response(&self, response: StoredResponse, retention_days: u32) -> Result<()>;
    async fn get_response(&self, id: &str) -> Result<Option<StoredResponse>>;
    async fn delete_response(&self, id: &str) -> Result<bool>;
}

/// One implementation of each storage concern, as the engine holds them.
#[derive(Clone)]
pub struct Backends {
    /// Where local state files live (the exporter's counters), if anywhere.
    pub data_dir: Option<std::path::PathBuf>,
    pub catalog: Arc<dyn Catalog>,
    pub governance: Arc<dyn Governance>,
    pub calls: Arc<dyn CallLog>,
    pub cache: Arc<dyn CacheStore>,
    pub conversations: Arc<dyn Conversations>,
}
