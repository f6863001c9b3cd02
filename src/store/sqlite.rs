//! The embedded SQLite store as the four storage traits. SQLite's calls block, so each runs on
//! tokio's blocking pool ([`tokio::task::spawn_blocking`]), never on an executor thread; answers
//! known without I/O (a subject recently seen without limits, an empty reservation) come back at
//! once.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::backend::{Backends, CacheStore, CallLog, Catalog, Conversations, Governance};
use super::call_log::LogWriter;
use super::response_cache::SqliteCache;
use super::{
    Actor, BudgetAlert, GatewayToken, Refusal, RenderedPrompt, Reservation, Store, StoredResponse,
    Subject,
};
use crate::cache::CacheEntry;
use crate::cache::ann::Candidate;
use crate::chat::ChatResponse;
use crate::error::{Error, Result};
use crate::keys::VirtualKey;
use crate::logs::{CallDetail, CallRecord, Feedback, LogFilter};
use crate::prompts::{Prompt, PromptVersion, VersionSelector};
use crate::secrets::SecretString;
use crate::template::TemplateRefs;

/// Runs `f` on the blocking pool with the store.
async fn blocking<T, F>(store: &Arc<Store>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T> + Send + 'static,
{
    let store = store.clone();
    run(move || f(&store)).await
}

/// The catalog and governance of a SQLite store.
pub struct SqliteCatalog(pub Arc<Store>);

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn render(
        &self,
        reference: &str,
        selector: &VersionSelector,
        variables: &Map<String, Value>,
    ) -> Result<RenderedPrompt> {
        let (r, s, v) = (reference.to_owned(), selector.clone(), variables.clone());
        blocking(&self.0, move |st| st.render(&r, &s, &v)).await
    }

    async fn get_version(
        &self,
        reference: &str,
        selector: &VersionSelector,
    ) -> Result<PromptVersion> {
        let (r, s) = (reference.to_owned(), selector.clone());
        blocking(&self.0, move |st| st.get_version(&r, &s)).await
    }

    async fn get_prompt(&self, reference: &str) -> Result<Prompt> {
        let r = reference.to_owned();
        blocking(&self.0, move |st| st.get_prompt(&r)).await
    }

    async fn list_prompts(&self) -> Result<Vec<Prompt>> {
        blocking(&self.0, |st| st.list_prompts()).await
    }

    async fn references(&self, version: &PromptVersion) -> Result<TemplateRefs> {
        let v = version.clone();
        blocking(&self.0, move |st| st.references(&v)).await
    }

    async fn list_keys(&self) -> Result<Vec<VirtualKey>> {
        blocking(&self.0, |st| st.list_keys()).await
    }

    async fn open_key(&self, name: &str) -> Result<(VirtualKey, SecretString)> {
        let n = name.to_owned();
        blocking(&self.0, move |st| st.open_key(&n)).await
    }

    async fn touch_key(&self, id: &str) -> Result<()> {
        let i = id.to_owned();
        blocking(&self.0, move |st| st.touch_key(&i)).await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<GatewayToken>> {
        let h = hash.to_owned();
        blocking(&self.0, move |st| st.token_by_hash(&h)).await
    }

    async fn touch_token(&self, id: &str) -> Result<()> {
        let i = id.to_owned();
        blocking(&self.0, move |st| st.touch_token(&i)).await
    }

    async fn setting(&self, key: &str) -> Result<Option<Value>> {
        let k = key.to_owned();
        blocking(&self.0, move |st| st.setting(&k)).await
    }

    async fn open_sealed(&self, record_id: &str, name: &str, sealed: &str) -> Result<SecretString> {
        let (r, n, s) = (record_id.to_owned(), name.to_owned(), sealed.to_owned());
        blocking(&self.0, move |st| st.open_sealed(&r, &n, &s)).await
    }
}

#[async_trait]
impl Governance for SqliteCatalog {
    async fn has_limits(&self, subject: &Subject) -> Result<bool> {
        if self.0.known_unlimited(subject) {
            return Ok(false);
        }
        let s = subject.clone();
        blocking(&self.0, move |st| st.has_limits(&s)).await
    }

    async fn reserve(
        &self,
        subjects: &[Subject],
        estimate_usd: Option<f64>,
        estimate_tokens: u64,
        lease: std::time::Duration,
    ) -> Result<std::result::Result<Reservation, Refusal>> {
        let s = subjects.to_vec();
        blocking(&self.0, move |st| {
            st.reserve(&s, estimate_usd, estimate_tokens, chrono::Utc::now(), lease)
        })
        .await
    }

    async fn sweep_expired_leases(&self, actor: &Actor) -> Result<usize> {
        let a = actor.clone();
        blocking(&self.0, move |st| {
            st.sweep_expired_leases(chrono::Utc::now(), &a)
        })
        .await
    }

    async fn settle(
        &self,
        reservation: &Reservation,
        actual_usd: Option<f64>,
        actual_tokens: u64,
        actor: &Actor,
    ) -> Result<Vec<BudgetAlert>> {
        if reservation.is_empty() {
            return Ok(Vec::new());
        }
        let (r, a) = (reservation.clone(), actor.clone());
        blocking(&self.0, move |st| {
            st.settle(&r, actual_usd, actual_tokens, chrono::Utc::now(), &a)
        })
        .await
    }
}

/// The call log of a SQLite store: a background writer, and queries on the blocking pool.
pub struct SqliteCallLog {
    store: Arc<Store>,
    writer: Arc<LogWriter>,
}

impl SqliteCallLog {
    /// Starts the writer, after deleting calls older than `retention_days` (0 keeps all).
    pub fn start(store: Arc<Store>, retention_days: u32) -> Result<SqliteCallLog> {
        let writer = Arc::new(LogWriter::start(store.db_path(), retention_days)?);
        Ok(SqliteCallLog { store, writer })
    }
}

#[async_trait]
impl CallLog for SqliteCallLog {
    fn log(&self, record: CallRecord) {
        self.writer.log(record);
    }

    fn dropped(&self) -> u64 {
        self.writer.dropped()
    }

    fn flush_blocking(&self) {
        self.writer.flush();
    }

    async fn flush(&self) {
        let done = self.writer.flush_signal();
        let _ = tokio::task::spawn_blocking(move || done.wait()).await;
    }

    async fn list_calls(&self, filter: &LogFilter) -> Result<Vec<CallRecord>> {
        let f = filter.clone();
        blocking(&self.store, move |st| st.list_calls(&f)).await
    }

    async fn get_call(&self, id: &str) -> Result<Option<CallDetail>> {
        let i = id.to_owned();
        blocking(&self.store, move |st| st.get_call(&i)).await
    }

    async fn add_feedback(
        &self,
        trace_id: &str,
        value: i64,
        weight: f64,
        metadata: BTreeMap<String, String>,
    ) -> Result<Feedback> {
        let t = trace_id.to_owned();
        blocking(&self.store, move |st| {
            st.add_feedback(&t, value, weight, metadata)
        })
        .await
    }
}

/// The response cache of a SQLite store, on the blocking pool.
pub struct SqliteCacheStore(pub Arc<SqliteCache>);

#[async_trait]
impl CacheStore for SqliteCacheStore {
    async fn get_exact(&self, key: &str, now_ms: i64) -> Result<Option<ChatResponse>> {
        let (c, k) = (self.0.clone(), key.to_owned());
        run(move || c.get_exact(&k, now_ms)).await
    }

    async fn get_nearest(
        &self,
        partition: &str,
        embedder: &str,
        vector: &[f32],
        threshold: f32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        let (c, p, e, v) = (
            self.0.clone(),
            partition.to_owned(),
            embedder.to_owned(),
            vector.to_vec(),
        );
        run(move || c.get_nearest(&p, &e, &v, threshold, now_ms, limit)).await
    }

    async fn put(&self, entry: CacheEntry) -> Result<()> {
        let c = self.0.clone();
        run(move || c.put(&entry)).await
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<usize> {
        let c = self.0.clone();
        run(move || c.purge_expired(now_ms)).await
    }
}

/// Kept responses go through the call log's writer, in its batches (see
/// [`super::call_log`]); reads look at what is queued first.
#[async_trait]
impl Conversations for SqliteCallLog {
    async fn save_response(&self, response: StoredResponse, retention_days: u32) -> Result<()> {
        match self.writer.keep_response(response, retention_days) {
            Ok(()) => Ok(()),
            // The queue is full: write it here rather than lose it.
            Err(response) => {
                blocking(&self.store, move |s| {
                    s.save_response(&response, retention_days)
                })
                .await
            }
        }
    }

    async fn get_response(&self, id: &str) -> Result<Option<StoredResponse>> {
        if let Some(r) = self.writer.pending().get(id) {
            return Ok(Some(r));
        }
        let id = id.to_owned();
        blocking(&self.store, move |s| s.get_response(&id)).await
    }

    async fn delete_response(&self, id: &str) -> Result<bool> {
        let queued = self.writer.pending().get(id).is_some();
        let writer_id = id.to_owned();
        let found = {
            let id = id.to_owned();
            blocking(&self.store, move |s| Ok(s.get_response(&id)?.is_some())).await?
        };
        // Through the writer, so a queued write of it cannot come after the deletion.
        let writer = self.writer.clone();
        run(move || {
            writer.delete_response(&writer_id);
            Ok(())
        })
        .await?;
        Ok(queued || found)
    }
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a storage task stopped unexpectedly: {e}")))?
}

impl Backends {
    /// Every concern on one SQLite store; the call log's writer starts now.
    pub fn sqlite(store: Arc<Store>, log_retention_days: u32) -> Result<Backends> {
        let catalog = Arc::new(SqliteCatalog(store.clone()));
        let calls = Arc::new(SqliteCallLog::start(store.clone(), log_retention_days)?);
        Ok(Backends {
            data_dir: Some(store.data_dir().to_path_buf()),
            catalog: catalog.clone(),
            governance: catalog,
            conversations: calls.clone(),
            calls,
            cache: Arc::new(SqliteCacheStore(Arc::new(SqliteCache::new(store)))),
        })
    }
}
