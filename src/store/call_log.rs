//! The SQLite call log: a background thread writes [`CallRecord`]s in batches on its own
//! connection, so logging never sits on the request path. A full queue drops the record and
//! counts it (reported by [`LogWriter::dropped`]); it never blocks a request. The queries the
//! CLI and the app search with live here too.
//!
//! The same writer keeps the Responses API's stored responses, in the same batches: a response
//! is readable from memory ([`PendingResponses`]) from the moment it is queued until its row is
//! committed, so a client that continues a conversation at once finds it, and a request does
//! not wait for a commit of its own (a commit per response cut the Responses API's throughput
//! to a third, bench/gateway.sh).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, params, params_from_iter};

use super::connection::{self, PageCache};
use super::{Store, StoredResponse};
use crate::cache::CacheStatus;
use crate::error::{Error, Result};
use crate::logs::{
    AttemptRecord, CallDetail, CallRecord, DayCost, Feedback, LogFilter, ModelLatency,
};

enum Message {
    Call(Box<CallRecord>),
    /// Keep the pending response with this id; delete responses older than the retention.
    Response {
        id: String,
        retention_days: u32,
    },
    DeleteResponse(String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Responses queued for the writer, by id, until their rows are committed.
#[derive(Clone, Default)]
pub(crate) struct PendingResponses(Arc<Mutex<HashMap<String, StoredResponse>>>);

impl PendingResponses {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredResponse>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, id: &str) -> Option<StoredResponse> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }
}

/// The writer's answer to a flush: [`FlushSignal::wait`] returns once what was queued before it
/// is written (at once if the writer is gone).
pub struct FlushSignal(std::sync::mpsc::Receiver<()>);

impl FlushSignal {
    pub fn wait(self) {
        let _ = self.0.recv();
    }
}

/// Background writer of [`CallRecord`]s.
pub struct LogWriter {
    tx: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    pending: PendingResponses,
}

const QUEUE: usize = 8192;
const BATCH: usize = 512;
/// After the first record of a batch, how long the writer gathers more before committing. Under
/// load one commit then carries a hundred calls instead of one or two, which cuts the WAL's page
/// writes (and the CPU they take from the requests) by as much. Longer lingers save a little
/// more CPU but make each commit a longer stall for requests sharing the core (p99 at
/// concurrency 32 went from 5 to 7 ms at 25 ms, bench/gateway.sh). A single call is written
/// within this time; a flush ends the wait at once.
const LINGER: std::time::Duration = std::time::Duration::from_millis(5);

impl LogWriter {
    /// Starts the writer thread on its own connection to `db_path`, after deleting calls older
    /// than `retention_days` (0 keeps everything).
    pub fn start(db_path: &Path, retention_days: u32) -> Result<LogWriter> {
        let conn = connection::open(db_path, PageCache::Large)?;
        if retention_days > 0 {
            let cutoff = chrono::Utc::now().timestamp_millis() - retention_days as i64 * 86_400_000;
            conn.execute("DELETE FROM calls WHERE created_at < ?1", [cutoff])?;
        }
        let (tx, rx) = sync_channel(QUEUE);
        let pending = PendingResponses::default();
        let for_writer = pending.clone();
        let thread = std::thread::Builder::new()
            .name("portolan-logs".into())
            .spawn(move || run(conn, rx, for_writer))
            .map_err(|e| Error::io("could not start the log writer", e))?;
        Ok(LogWriter {
            tx: Some(tx),
            thread: Some(thread),
            dropped: Arc::new(AtomicU64::new(0)),
            pending,
        })
    }

    /// Responses queued and not yet written.
    pub(crate) fn pending(&self) -> &PendingResponses {
        &self.pending
    }

    /// Queues a response to keep; readable through [`LogWriter::pending`] at once. Never blocks:
    /// with the queue full the response comes back, for the caller to write itself.
    pub(crate) fn keep_response(
        &self,
        response: StoredResponse,
        retention_days: u32,
    ) -> std::result::Result<(), Box<StoredResponse>> {
        let Some(tx) = &self.tx else {
            return Err(Box::new(response));
        };
        let id = response.id.clone();
        self.pending.lock().insert(id.clone(), response);
        match tx.try_send(Message::Response {
            id: id.clone(),
            retention_days,
        }) {
            Ok(()) => Ok(()),
            // Not queued: hand it back (unless a deletion took it meanwhile).
            Err(_) => match self.pending.lock().remove(&id) {
                Some(r) => Err(Box::new(r)),
                None => Ok(()),
            },
        }
    }

    /// Deletes a kept response, queued or written; waits until it is gone.
    pub(crate) fn delete_response(&self, id: &str) {
        self.pending.remove(id);
        if let Some(tx) = &self.tx
            && tx.send(Message::DeleteResponse(id.to_owned())).is_ok()
        {
            self.flush();
        }
    }

    /// Queues a record; never blocks.
    pub fn log(&self, record: CallRecord) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(Message::Call(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        "log queue full: request logs are being dropped"
                    );
                }
            }
        }
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until everything queued so far is written.
    pub fn flush(&self) {
        self.flush_signal().wait();
    }

    /// Asks the writer to report when everything queued so far is written; wait on the answer
    /// where blocking is allowed.
    pub fn flush_signal(&self) -> FlushSignal {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if let Some(tx) = &self.tx
            && tx.send(Message::Flush(done_tx)).is_ok()
        {
            self.wake();
        }
        FlushSignal(done_rx)
    }

    /// Ends the writer's linger, so what is queued is written now.
    fn wake(&self) {
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.tx.take();
        self.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(mut conn: Connection, rx: Receiver<Message>, pending: PendingResponses) {
    let mut backlog = false;
    while let Ok(first) = rx.recv() {
        // Let a batch gather by sleeping, not by waiting on the channel: a receiver blocked on
        // the channel is woken by every record sent, one context switch per call. A flush
        // unparks this thread, so it never waits out the linger; after a full batch there is a
        // backlog to write at once.
        if !backlog && !matches!(first, Message::Flush(_)) {
            std::thread::park_timeout(LINGER);
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        backlog = batch.len() == BATCH;
        let mut waiters = Vec::new();
        let mut calls: Vec<Box<CallRecord>> = Vec::new();
        // Responses and deletions, in the order they were asked for.
        let mut responses: Vec<ResponseWrite> = Vec::new();
        for m in batch {
            match m {
                Message::Call(c) => calls.push(c),
                Message::Response { id, retention_days } => {
                    // Deleted before it was written: nothing to keep.
                    if let Some(r) = pending.get(&id) {
                        responses.push(ResponseWrite::Keep(Box::new(r), retention_days));
                    }
                }
                Message::DeleteResponse(id) => responses.push(ResponseWrite::Delete(id)),
                Message::Flush(w) => waiters.push(w),
            }
        }
        if (!calls.is_empty() || !responses.is_empty())
            && let Err(e) = write_batch(&mut conn, &calls, &responses)
        {
            tracing::error!(error = %e, calls = calls.len(), responses = responses.len(), "could not write request logs and kept responses");
        }
        // Written (or failed and reported): readers go to the table from now on.
        for r in &responses {
            if let ResponseWrite::Keep(r, _) = r {
                pending.remove(&r.id);
            }
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

enum ResponseWrite {
    Keep(Box<StoredResponse>, u32),
    Delete(String),
}

fn write_batch(
    conn: &mut Connection,
    calls: &[Box<CallRecord>],
    responses: &[ResponseWrite],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    let mut cutoff = None;
    for r in responses {
        match r {
            ResponseWrite::Keep(r, retention_days) => {
                super::responses::insert(&tx, r)?;
                if *retention_days > 0 {
                    cutoff = Some(r.created_at_ms - i64::from(*retention_days) * 86_400_000);
                }
            }
            ResponseWrite::Delete(id) => {
                tx.execute("DELETE FROM responses WHERE id = ?1", [id])?;
            }
        }
    }
    if let Some(cutoff) = cutoff {
        tx.execute("DELETE FROM responses WHERE created_at < ?1", [cutoff])?;
    }
    {
        let mut call = tx.prepare_cached(
            "INSERT OR IGNORE INTO calls(id, trace_id, created_at, source, prompt_id, prompt_version, provider,
                 model, key_name, status, success, error, stream, cache_status, latency_ms, ttft_ms,
                 prompt_tokens, completion_tokens, cached_tokens, cost_usd, retry_count, target_path,
                 request, response, metadata, variables)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                 ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
        )?;
        let mut tag = tx.prepare_cached(
            "INSERT OR IGNORE INTO call_tags(call_id, key, value) VALUES(?1, ?2, ?3)",
        )?;
        let mut attempt = tx.prepare_cached(
            "INSERT OR IGNORE INTO attempts(call_id, n, target_path, provider, model, key_name, status, error,
                 latency_ms, started_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for c in calls {
            call.execute(params![
                c.id,
                c.trace_id,
                c.created_at,
                c.source,
                c.prompt_id,
                c.prompt_version,
                c.provider,
                c.model,
                c.key_name,
                c.status,
                c.success,
                c.error,
                c.stream,
                c.cache_status.as_str(),
                c.latency_ms as i64,
                c.ttft_ms.map(|v| v as i64),
                c.prompt_tokens.map(|v| v as i64),
                c.completion_tokens.map(|v| v as i64),
                c.cached_tokens.map(|v| v as i64),
                c.cost_usd,
                c.retry_count,
                c.target_path,
                c.request,
                c.response,
                serde_json::to_string(&c.metadata).unwrap_or_else(|_| "{}".into()),
                c.variables,
            ])?;
            for (k, v) in &c.metadata {
                tag.execute(params![c.id, k, v])?;
            }
            for a in &c.attempts {
                attempt.execute(params![
                    c.id,
                    a.n,
                    a.target_path,
                    a.provider,
                    a.model,
                    a.key_name,
                    a.status,
                    a.error,
                    a.latency_ms as i64,
                    a.started_at
                ])?;
            }
        }
    }
    tx.commit()
}

const CALL_COLUMNS: &str = "id, trace_id, created_at, source, prompt_id, prompt_version, provider, model, key_name,
    status, success, error, stream, cache_status, latency_ms, ttft_ms, prompt_tokens, completion_tokens,
    cached_tokens, cost_usd, retry_count, target_path, request, response, metadata, variables";

fn call_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallRecord> {
    let u = |v: Option<i64>| v.map(|x| x as u64);
    Ok(CallRecord {
        parent_span_id: None,
        id: r.get(0)?,
        trace_id: r.get(1)?,
        created_at: r.get(2)?,
        source: r.get(3)?,
        prompt_id: r.get(4)?,
        prompt_version: r.get(5)?,
        provider: r.get(6)?,
        model: r.get(7)?,
        key_name: r.get(8)?,
        status: r.get(9)?,
        success: r.get(10)?,
        error: r.get(11)?,
        stream: r.get(12)?,
        cache_status: r
            .get::<_, String>(13)?
            .parse()
            .unwrap_or(CacheStatus::Disabled),
        latency_ms: r.get::<_, i64>(14)? as u64,
        ttft_ms: u(r.get(15)?),
        prompt_tokens: u(r.get(16)?),
        completion_tokens: u(r.get(17)?),
        cached_tokens: u(r.get(18)?),
        cost_usd: r.get(19)?,
        retry_count: r.get(20)?,
        target_path: r.get(21)?,
        request: r.get(22)?,
        response: r.get(23)?,
        metadata: serde_json::from_str(&r.get::<_, String>(24)?).unwrap_or_default(),
        variables: r.get(25)?,
        attempts: Vec::new(),
    })
}

impl Store {
    /// Calls, newest first.
    pub fn list_calls(&self, filter: &LogFilter) -> Result<Vec<CallRecord>> {
        let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls c WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        let mut push = |clause: &str, v: rusqlite::types::Value, sql: &mut String| {
            args.push(v);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(m) = &filter.model {
            push(" AND c.model = ?", m.clone().into(), &mut sql);
        }
        if let Some(s) = filter.status {
            push(" AND c.status = ?", (s as i64).into(), &mut sql);
        }
        if let Some(s) = filter.success {
            push(" AND c.success = ?", (s as i64).into(), &mut sql);
        }
        if let Some(t) = &filter.trace_id {
            push(" AND c.trace_id = ?", t.clone().into(), &mut sql);
        }
        if let Some(p) = &filter.prompt_id {
            push(" AND c.prompt_id = ?", p.clone().into(), &mut sql);
        }
        if let Some(t) = filter.since_ms {
            push(" AND c.created_at >= ?", t.into(), &mut sql);
        }
        if let Some(t) = filter.until_ms {
            push(" AND c.created_at < ?", t.into(), &mut sql);
        }
        if let Some(q) = &filter.search {
            let like = format!("%{}%", q.replace('%', "\\%").replace('_', "\\_"));
            push(
                " AND (c.request LIKE ? ESCAPE '\\'",
                like.clone().into(),
                &mut sql,
            );
            push(" OR c.response LIKE ? ESCAPE '\\')", like.into(), &mut sql);
        }
        for (k, v) in &filter.tags {
            args.push(k.clone().into());
            let ki = args.len();
            args.push(v.clone().into());
            let vi = args.len();
            sql.push_str(&format!(
                " AND EXISTS(SELECT 1 FROM call_tags t WHERE t.call_id = c.id AND t.key = ?{ki} AND t.value = ?{vi})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY c.created_at DESC LIMIT {}",
            filter.limit.unwrap_or(50).min(10_000)
        ));
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let calls = stmt
            .query_map(params_from_iter(args.iter()), call_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(calls)
    }

    /// One call with its attempts and feedback, by call id or trace id.
    pub fn get_call(&self, id: &str) -> Result<Option<CallDetail>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE id = ?1 OR trace_id = ?1 ORDER BY created_at DESC LIMIT 1"
        ))?;
        let mut rows = stmt.query_map([id], call_from_row)?;
        let Some(mut call) = rows.next().transpose()? else {
            return Ok(None);
        };
        call.attempts = conn
            .prepare("SELECT n, target_path, provider, model, key_name, status, error, latency_ms, started_at
                      FROM attempts WHERE call_id = ?1 ORDER BY n")?
            .query_map([&call.id], |r| {
                Ok(AttemptRecord {
                    n: r.get(0)?,
                    target_path: r.get(1)?,
                    provider: r.get(2)?,
                    model: r.get(3)?,
                    key_name: r.get(4)?,
                    status: r.get(5)?,
                    error: r.get(6)?,
                    latency_ms: r.get::<_, i64>(7)? as u64,
                    started_at: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let feedback = feedback_for(&conn, &call.trace_id)?;
        Ok(Some(CallDetail { call, feedback }))
    }

    /// Records feedback on a trace. The trace must belong to a logged call.
    pub fn add_feedback(
        &self,
        trace_id: &str,
        value: i64,
        weight: f64,
        metadata: BTreeMap<String, String>,
    ) -> Result<Feedback> {
        crate::logs::check_feedback(value, weight)?;
        let conn = self.conn();
        let known: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM calls WHERE trace_id = ?1)",
            [trace_id],
            |r| r.get(0),
        )?;
        if !known {
            return Err(Error::TraceNotFound(trace_id.to_owned()));
        }
        let fb = Feedback {
            id: crate::ids::new_id("fb"),
            trace_id: trace_id.to_owned(),
            value,
            weight,
            metadata,
            created_at: chrono::Utc::now().timestamp_millis(),
        };
        conn.execute(
            "INSERT INTO feedback(id, trace_id, value, weight, metadata, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![fb.id, fb.trace_id, fb.value, fb.weight, serde_json::to_string(&fb.metadata)?, fb.created_at],
        )?;
        Ok(fb)
    }

    /// Cost and call counts per UTC day, oldest first.
    pub fn cost_by_day(&self, since_ms: i64) -> Result<Vec<DayCost>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS day, COUNT(*),
                    COALESCE(SUM(cost_usd), 0), SUM(cost_usd IS NULL AND success = 1),
                    COALESCE(SUM(COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0)), 0)
             FROM calls WHERE created_at >= ?1 GROUP BY day ORDER BY day",
        )?;
        let rows = stmt
            .query_map([since_ms], |r| {
                Ok(DayCost {
                    day: r.get(0)?,
                    calls: r.get::<_, i64>(1)? as u64,
                    cost_usd: r.get(2)?,
                    unpriced_calls: r.get::<_, i64>(3)? as u64,
                    tokens: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Latency percentiles per model over successful, uncached calls.
    pub fn latency_by_model(&self, since_ms: i64) -> Result<Vec<ModelLatency>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT model, latency_ms FROM calls WHERE created_at >= ?1 AND success = 1
             AND cache_status NOT IN ('HIT', 'SEMANTIC HIT') AND model IS NOT NULL ORDER BY model, latency_ms",
        )?;
        let mut by_model: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for row in stmt.query_map([since_ms], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })? {
            let (m, l) = row?;
            by_model.entry(m).or_default().push(l);
        }
        let pct = |v: &[u64], p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
        Ok(by_model
            .into_iter()
            .map(|(model, v)| ModelLatency {
                calls: v.len() as u64,
                p50_ms: pct(&v, 0.5),
                p90_ms: pct(&v, 0.9),
                p99_ms: pct(&v, 0.99),
                model,
            })
            .collect())
    }
}

fn feedback_for(conn: &Connection, trace_id: &str) -> Result<Vec<Feedback>> {
    Ok(conn
        .prepare("SELECT id, trace_id, value, weight, metadata, created_at FROM feedback WHERE trace_id = ?1 ORDER BY created_at")?
        .query_map([trace_id], |r| {
            Ok(Feedback {
                id: r.get(0)?,
                trace_id: r.get(1)?,
                value: r.get(2)?,
                weight: r.get(3)?,
                metadata: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                created_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?)
}
