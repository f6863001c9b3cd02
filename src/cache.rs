//! The response cache. `simple` mode is an exact match on a hash of the canonical request (and
//! routing config); `semantic` mode, on an exact miss, compares an embedding of the last user
//! message with the cached entries whose other request fields are identical (same partition) and
//! takes the most similar one above a threshold. Entries live in SQLite; the vectors of a
//! partition are also kept in memory once searched, so a semantic lookup does not re-read them.
//! Errors and empty answers are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use crate::chat::{ChatRequest, ChatResponse};
use crate::embeddings::{cosine, from_bytes, to_bytes};
use crate::error::Result;
use crate::store::Store;

/// What the cache did for a call; reported on every response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

type Vectors = Vec<(String, Arc<[f32]>, i64)>;

pub struct ResponseCache {
    store: Arc<Store>,
    partitions: Mutex<HashMap<String, Vectors>>,
}

/// A semantic match.
#[derive(Debug, Clone)]
pub struct SemanticMatch {
    pub response: ChatResponse,
    pub similarity: f32,
}

impl ResponseCache {
    pub fn new(store: Arc<Store>) -> Self {
        ResponseCache {
            store,
            partitions: Mutex::new(HashMap::new()),
        }
    }

    pub fn get_exact(&self, key: &str, now_ms: i64) -> Result<Option<ChatResponse>> {
        let conn = self.store.conn();
        let row: Option<String> = conn
            .prepare_cached(
                "SELECT response FROM cache_entries WHERE key = ?1 AND expires_at > ?2",
            )?
            .query_row(params![key, now_ms], |r| r.get(0))
            .optional()?;
        match row {
            Some(text) => {
                conn.prepare_cached("UPDATE cache_entries SET hits = hits + 1 WHERE key = ?1")?
                    .execute([key])?;
                Ok(Some(serde_json::from_str(&text)?))
            }
            None => Ok(None),
        }
    }

    /// The most similar unexpired entry of `partition` with similarity ≥ `threshold`.
    pub fn get_semantic(
        &self,
        partition: &str,
        embedder: &str,
        vector: &[f32],
        threshold: f32,
        now_ms: i64,
    ) -> Result<Option<SemanticMatch>> {
        let best = {
            let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            if !partitions.contains_key(partition) {
                let conn = self.store.conn();
                let mut stmt = conn.prepare_cached(
                    "SELECT key, embedding, expires_at FROM cache_entries
                     WHERE partition = ?1 AND embedder = ?2 AND embedding IS NOT NULL AND expires_at > ?3",
                )?;
                let rows = stmt
                    .query_map(params![partition, embedder, now_ms], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            from_bytes(&r.get::<_, Vec<u8>>(1)?).into(),
                            r.get::<_, i64>(2)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vectors>>()?;
                partitions.insert(partition.to_owned(), rows);
            }
            let entries = partitions.get_mut(partition).expect("inserted above");
            entries.retain(|(_, _, exp)| *exp > now_ms);
            entries
                .iter()
                .map(|(k, v, _)| (k.clone(), cosine(v, vector)))
                .filter(|(_, s)| *s >= threshold)
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let Some((key, similarity)) = best else {
            return Ok(None);
        };
        Ok(self.get_exact(&key, now_ms)?.map(|response| SemanticMatch {
            response,
            similarity,
        }))
    }

    /// Stores an answer. With an embedding, it also becomes findable semantically.
    pub fn put(
        &self,
        key: &str,
        partition: &str,
        response: &ChatResponse,
        embedding: Option<(&str, &[f32])>,
        now_ms: i64,
        max_age_secs: u64,
    ) -> Result<()> {
        if response.text().trim().is_empty()
            && response
                .choices
                .iter()
                .all(|c| c.message.tool_calls.is_none())
        {
            return Ok(());
        }
        let expires = now_ms.saturating_add((max_age_secs as i64).saturating_mul(1000));
        let conn = self.store.conn();
        conn.prepare_cached(
            "INSERT INTO cache_entries(key, partition, created_at, expires_at, model, response, embedder, embedding)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(key) DO UPDATE SET partition = excluded.partition, created_at = excluded.created_at,
                 expires_at = excluded.expires_at, model = excluded.model, response = excluded.response,
                 embedder = excluded.embedder, embedding = excluded.embedding, hits = 0",
        )?
        .execute(params![
            key,
            partition,
            now_ms,
            expires,
            response.model,
            serde_json::to_string(response)?,
            embedding.map(|(n, _)| n),
            embedding.map(|(_, v)| to_bytes(v)),
        ])?;
        drop(conn);
        if let Some((_, v)) = embedding {
            let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entries) = partitions.get_mut(partition) {
                entries.retain(|(k, _, _)| k != key);
                entries.push((key.to_owned(), v.into(), expires));
            }
        }
        Ok(())
    }

    /// Number of unexpired entries.
    pub fn len(&self, now_ms: i64) -> Result<u64> {
        let n: i64 = self.store.conn().query_row(
            "SELECT COUNT(*) FROM cache_entries WHERE expires_at > ?1",
            [now_ms],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    pub fn is_empty(&self, now_ms: i64) -> Result<bool> {
        Ok(self.len(now_ms)? == 0)
    }

    /// Deletes expired entries; returns how many.
    pub fn purge_expired(&self, now_ms: i64) -> Result<usize> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(self
            .store
            .conn()
            .execute("DELETE FROM cache_entries WHERE expires_at <= ?1", [now_ms])?)
    }
}
