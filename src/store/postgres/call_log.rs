//! The call log on the shared store: every replica's calls in one day-partitioned table.
//!
//! A background task per replica writes records in batches with one multi-row insert (the batch
//! travels as one JSON parameter), idempotent on the call id, so a batch sent twice stores each
//! call once. Durability is a choice:
//!
//! - [`Durability::Async`]: [`CallLog::log`] queues and returns; what a crash loses is at most
//!   the queue (records not yet written);
//! - [`Durability::Sync`]: [`PgCallLog::log_durable`] returns once the record is committed (or
//!   spooled); records that arrive while a commit runs share the next one (group commit).
//!
//! While PostgreSQL cannot be reached, batches are appended to a spool file in the data
//! directory (flushed to disk before a waiter is told), and sent again, oldest first, once it
//! answers. Retention drops whole partitions.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::PgStore;
use crate::error::{Error, Result};
use crate::logs::{CallDetail, CallRecord, Feedback, LogFilter};
use crate::store::backend::CallLog;

/// Records waiting for the writer at most; more are dropped and counted.
const QUEUE: usize = 8192;
/// Records in one insert at most.
const BATCH: usize = 512;
/// How long the writer gathers more records after the first of an async batch.
const LINGER: Duration = Duration::from_millis(5);
/// How often a non-empty spool is tried again while nothing else happens.
const SPOOL_RETRY: Duration = Duration::from_secs(1);
const DAY_MS: i64 = 86_400_000;
const SPOOL_FILE: &str = "calls-spool.jsonl";

/// When a logged call counts as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Queued: a crash loses at most the records not yet written.
    #[default]
    Async,
    /// Committed (or spooled to disk) before the caller goes on.
    Sync,
}

enum Message {
    Record(Box<CallRecord>, Option<oneshot::Sender<()>>),
    Flush(oneshot::Sender<()>),
}

/// The shared call log of one replica.
pub struct PgCallLog {
    store: Arc<PgStore>,
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
    durability: Durability,
    spool: PathBuf,
}

impl PgCallLog {
    /// Starts the writer task (on the current tokio runtime); records that could not be sent
    /// are spooled under `spool_dir`, and a spool left by an earlier run is sent first.
    pub fn start(store: Arc<PgStore>, spool_dir: PathBuf, durability: Durability) -> Result<Self> {
        crate::paths::ensure_private_dir(&spool_dir)?;
        let spool = spool_dir.join(SPOOL_FILE);
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            store: store.clone(),
            spool: spool.clone(),
            partitions: HashSet::new(),
        };
        tokio::spawn(writer.run(rx));
        Ok(PgCallLog {
            store,
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            durability,
            spool,
        })
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Logs `record` and returns once it is committed or spooled to disk (the `sync`
    /// durability). With the queue full the record waits for room rather than being dropped.
    pub async fn log_durable(&self, record: CallRecord) {
        let (done, stored) = oneshot::channel();
        if self
            .tx
            .send(Message::Record(Box::new(record), Some(done)))
            .await
            .is_ok()
        {
            let _ = stored.await;
        }
    }

    /// Whether records wait in the spool for PostgreSQL to come back.
    pub fn spooled(&self) -> bool {
        std::fs::metadata(&self.spool).is_ok_and(|m| m.len() > 0)
    }

    /// Drops the partitions whose days all lie more than `retention_days` before now (by the
    /// server's clock); returns how many.
    pub async fn drop_expired_partitions(&self, retention_days: u32) -> Result<usize> {
        let client = self.store.client().await?;
        let now: i64 = client
            .query_one(
                "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                &[],
            )
            .await
            .map_err(|e| self.store.fail(e))?
            .get(0);
        let cutoff = now - retention_days as i64 * DAY_MS;
        let rows = client
            .query(
                "SELECT c.relname::text FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                 WHERE p.relname = 'calls'",
                &[],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        let mut dropped = 0;
        for row in rows {
            let name: String = row.get(0);
            let Some(day) = name
                .strip_prefix("calls_d")
                .and_then(|d| d.parse::<i64>().ok())
            else {
                continue;
            };
            if (day + 1) * DAY_MS <= cutoff {
                // The name was read from the catalog and is `calls_d<digits>`.
                client
                    .batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
                    .await
                    .map_err(|e| self.store.fail(e))?;
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    /// Calls stored, all partitions (for checks).
    pub async fn count(&self) -> Result<i64> {
        let client = self.store.client().await?;
        Ok(client
            .query_one("SELECT count(*) FROM calls", &[])
            .await
            .map_err(|e| self.store.fail(e))?
            .get(0))
    }
}

/// The writer task's state.
struct Writer {
    store: Arc<PgStore>,
    spool: PathBuf,
    /// Days whose partition is known to exist.
    partitions: HashSet<i64>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut spool_waiting = std::fs::metadata(&self.spool).is_ok_and(|m| m.len() > 0);
        loop {
            if spool_waiting {
                spool_waiting = !self.send_spool().await;
            }
            let first = if spool_waiting {
                match tokio::time::timeout(SPOOL_RETRY, rx.recv()).await {
                    Ok(m) => m,
                    Err(_) => continue,
                }
            } else {
                rx.recv().await
            };
            let Some(first) = first else { break };
            let mut records = Vec::new();
            let mut waiters = Vec::new();
            let mut flush = false;
            take(first, &mut records, &mut waiters, &mut flush);
            // A batch that someone waits on goes at once with what is already queued (group
            // commit); otherwise the writer lingers a moment for more.
            let deadline = tokio::time::Instant::now() + LINGER;
            while records.len() < BATCH && !flush {
                let next = if waiters.is_empty() {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                } else {
                    match rx.try_recv() {
                        Ok(m) => Some(m),
                        Err(_) => break,
                    }
                };
                match next {
                    Some(m) => take(m, &mut records, &mut waiters, &mut flush),
                    None => break,
                }
            }
            if !records.is_empty() {
                if spool_waiting {
                    // Keep the order: behind what is already spooled.
                    self.append_spool(&records);
                } else if let Err(e) = self.insert(&records).await {
                    tracing::warn!(
                        records = records.len(),
                        "call log spooled to disk, the shared store failed: {e}"
                    );
                    self.append_spool(&records);
                    spool_waiting = true;
                }
            }
            for w in waiters {
                let _ = w.send(());
            }
        }
    }

    /// Inserts `records` in one statement, creating their days' partitions first.
    async fn insert(&mut self, records: &[CallRecord]) -> Result<()> {
        for day in records
            .iter()
            .map(|r| r.created_at.div_euclid(DAY_MS))
            .collect::<HashSet<_>>()
        {
            if !self.partitions.contains(&day) {
                self.create_partition(day).await?;
                self.partitions.insert(day);
            }
        }
        match self.insert_batch(records).await? {
            Ok(()) => Ok(()),
            // The server refused the batch itself (not unreachable): one record it cannot store
            // must not hold back the others, nor stay in the spool for ever. Each goes alone;
            // one refused again is dropped, and said so.
            Err(refused) if records.len() > 1 => {
                tracing::warn!(
                    "the shared store refused a batch of call records ({refused}); sending them one by one"
                );
                for r in records {
                    if let Err(e) = self.insert_batch(std::slice::from_ref(r)).await? {
                        tracing::error!(call = %r.id, "call record dropped: the shared store refuses it ({e})");
                    }
                }
                Ok(())
            }
            Err(refused) => {
                tracing::error!(call = %records[0].id, "call record dropped: the shared store refuses it ({refused})");
                Ok(())
            }
        }
    }

    /// Sends `records` in one statement: Err when the store cannot be reached, Ok(Err) when it
    /// answered with a refusal of the data.
    async fn insert_batch(
        &self,
        records: &[CallRecord],
    ) -> Result<std::result::Result<(), String>> {
        let mut batch = serde_json::to_value(records)?;
        // PostgreSQL's text and jsonb cannot hold NUL; a header or an answer may.
        without_nul(&mut batch);
        let client = self.store.client().await?;
        let sent = client
            .execute(
                "INSERT INTO calls(id, trace_id, created_at, source, model, provider, prompt_id,
                                   status, success, cost_nanos, record)
                 SELECT r->>'id', r->>'trace_id', (r->>'created_at')::bigint, r->>'source',
                        r->>'model', r->>'provider', r->>'prompt_id', (r->>'status')::integer,
                        (r->>'success')::boolean, round((r->>'cost_usd')::float8 * 1e9)::bigint, r
                 FROM jsonb_array_elements($1::text::jsonb) AS r
                 ON CONFLICT (id, created_at) DO NOTHING",
                &[&batch.to_string()],
            )
            .await;
        match sent {
            Ok(_) => Ok(Ok(())),
            Err(e) if e.as_db_error().is_some() => Ok(Err(super::db_error(&e))),
            Err(e) => Err(self.store.fail(e)),
        }
    }

    /// Creates the partition of `day` (days since the epoch) unless it exists; replicas that
    /// meet on a new day wait for each other on an advisory lock instead of failing.
    async fn create_partition(&self, day: i64) -> Result<()> {
        let mut client = self.store.client().await?;
        let tx = client.transaction().await.map_err(|e| self.store.fail(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(0x6c6f_6700 + day)])
            .await
            .map_err(|e| self.store.fail(e))?;
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS calls_d{day} PARTITION OF calls FOR VALUES FROM ({}) TO ({})",
            day * DAY_MS,
            (day + 1) * DAY_MS
        ))
        .await
        .map_err(|e| self.store.fail(e))?;
        tx.commit().await.map_err(|e| self.store.fail(e))?;
        Ok(())
    }

    /// Appends records to the spool, flushed to disk. A spool that cannot be written loses the
    /// records, which is said in the log.
    fn append_spool(&self, records: &[CallRecord]) {
        let result = (|| -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.spool)?;
            let mut text = String::new();
            for r in records {
                text.push_str(&serde_json::to_string(r).map_err(std::io::Error::other)?);
                text.push('\n');
            }
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })();
        if let Err(e) = result {
            tracing::error!(
                records = records.len(),
                "call records lost: the spool {} cannot be written: {e}",
                self.spool.display()
            );
        }
    }

    /// Sends the spool, oldest first; true when it is empty afterwards.
    async fn send_spool(&mut self) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.spool) else {
            return true;
        };
        // A line cut short by a crash while it was appended is skipped.
        let records: Vec<CallRecord> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        for chunk in records.chunks(BATCH) {
            if self.insert(chunk).await.is_err() {
                return false;
            }
        }
        if let Err(e) = std::fs::remove_file(&self.spool) {
            tracing::warn!("the sent spool {} stays: {e}", self.spool.display());
        }
        tracing::info!(
            records = records.len(),
            "spooled call records sent to the shared store"
        );
        true
    }
}

fn take(
    m: Message,
    records: &mut Vec<CallRecord>,
    waiters: &mut Vec<oneshot::Sender<()>>,
    flush: &mut bool,
) {
    match m {
        Message::Record(r, w) => {
            records.push(*r);
            waiters.extend(w);
        }
        Message::Flush(w) => {
            waiters.push(w);
            *flush = true;
        }
    }
}

#[async_trait]
impl CallLog for PgCallLog {
    fn log(&self, record: CallRecord) {
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.tx.try_send(Message::Record(Box::new(record), None))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn log_answered(&self, record: CallRecord) {
        match self.durability {
            Durability::Async => self.log(record),
            Durability::Sync => self.log_durable(record).await,
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn flush_blocking(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.blocking_send(Message::Flush(done)).is_ok() {
            let _ = flushed.blocking_recv();
        }
    }

    async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    async fn list_calls(&self, filter: &LogFilter) -> Result<Vec<CallRecord>> {
        let mut sql = String::from("SELECT record::text FROM calls WHERE true");
        let mut args: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = Vec::new();
        let mut push =
            |clause: &str, value: Box<dyn tokio_postgres::types::ToSql + Sync + Send>| {
                args.push(value);
                sql.push_str(&clause.replace('?', &format!("${}", args.len())));
            };
        if let Some(m) = &filter.model {
            push(" AND model = ?", Box::new(m.clone()));
        }
        if let Some(s) = filter.status {
            push(" AND status = ?", Box::new(s as i32));
        }
        if let Some(s) = filter.success {
            push(" AND success = ?", Box::new(s));
        }
        if let Some(t) = &filter.trace_id {
            push(" AND trace_id = ?", Box::new(t.clone()));
        }
        if let Some(p) = &filter.prompt_id {
            push(" AND prompt_id = ?", Box::new(p.clone()));
        }
        if let Some(t) = filter.since_ms {
            push(" AND created_at >= ?", Box::new(t));
        }
        if let Some(t) = filter.until_ms {
            push(" AND created_at < ?", Box::new(t));
        }
        if !filter.tags.is_empty() {
            let tags = serde_json::json!({ "metadata": filter.tags }).to_string();
            push(" AND record @> ?::text::jsonb", Box::new(tags));
        }
        if let Some(q) = &filter.search {
            let like = format!("%{}%", q.replace('%', "\\%").replace('_', "\\_"));
            push(
                " AND (record->>'request' ILIKE ? OR record->>'response' ILIKE ?)",
                Box::new(like),
            );
        }
        let limit = filter.limit.unwrap_or(50).min(10_000) as i64;
        push(" ORDER BY created_at DESC LIMIT ?", Box::new(limit));
        let client = self.store.client().await?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let rows = client
            .query(&sql, &params)
            .await
            .map_err(|e| self.store.fail(e))?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
            .collect()
    }

    async fn get_call(&self, id: &str) -> Result<Option<CallDetail>> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(
                "SELECT record::text FROM calls WHERE id = $1 OR trace_id = $1
                 ORDER BY created_at DESC LIMIT 1",
                &[&id],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        let Some(row) = row else { return Ok(None) };
        let call: CallRecord = serde_json::from_str(row.get::<_, &str>(0))?;
        let rows = client
            .query(
                "SELECT id, trace_id, value, weight, metadata::text, created_at FROM feedback
                 WHERE trace_id = $1 ORDER BY created_at",
                &[&call.trace_id],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        let feedback = rows
            .iter()
            .map(|r| {
                Ok(Feedback {
                    id: r.get(0),
                    trace_id: r.get(1),
                    value: r.get::<_, i32>(2) as i64,
                    weight: r.get(3),
                    metadata: serde_json::from_str(r.get::<_, &str>(4))?,
                    created_at: r.get(5),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(CallDetail { call, feedback }))
    }

    /// Accepted whether or not the trace is stored yet: its call may be in another replica's
    /// queue or spool.
    async fn add_feedback(
        &self,
        trace_id: &str,
        value: i64,
        weight: f64,
        metadata: BTreeMap<String, String>,
    ) -> Result<Feedback> {
        crate::logs::check_feedback(value, weight)?;
        if trace_id.is_empty() || trace_id.len() > 128 {
            return Err(Error::InvalidFeedback(
                "a trace id has 1 to 128 characters".into(),
            ));
        }
        let fb = Feedback {
            id: crate::ids::new_id("fb"),
            trace_id: trace_id.to_owned(),
            value,
            weight,
            metadata,
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO feedback(id, trace_id, value, weight, metadata, created_at)
                 VALUES($1, $2, $3, $4, $5::text::jsonb, $6)",
                &[
                    &fb.id,
                    &fb.trace_id,
                    &(fb.value as i32),
                    &fb.weight,
                    &serde_json::to_string(&fb.metadata)?,
                    &fb.created_at,
                ],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        Ok(fb)
    }
}

/// Replaces NUL characters (which PostgreSQL's text cannot hold) in every string of `value`.
fn without_nul(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(without_nul),
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| k.contains('\0')).cloned().collect();
            for k in keys {
                if let Some(v) = map.remove(&k) {
                    map.insert(k.replace('\0', "\u{FFFD}"), v);
                }
            }
            map.values_mut().for_each(without_nul);
        }
        _ => {}
    }
}
