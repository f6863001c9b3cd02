//! The response cache in SQLite: entries in `cache_entries`, keyed by the exact-match hash, with
//! the semantic partition, embedder and vector beside them. The vectors of a partition are kept
//! in memory once searched, so a semantic lookup does not re-read them; a brute-force cosine scan
//! over one partition finds the nearest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::cache::{CacheEntry, SemanticMatch, worth_caching};
use crate::chat::ChatResponse;
use crate::embeddings::{cosine, from_bytes, to_bytes};
use crate::error::Result;

type Vectors = Vec<(String, Arc<[f32]>, i64)>;

/// The SQLite response cache.
pub struct SqliteCache {
    store: Arc<Store>,
    partitions: Mutex<HashMap<String, Vectors>>,
}

impl SqliteCache {
    pub fn new(store: Arc<Store>) -> Self {
        SqliteCache {
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
    pub fn get_nearest(
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
            let entries = partitions.entry(partition.to_owned()).or_default();
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

    /// Stores an answer (an empty one is skipped). With an embedding, it also becomes findable
    /// semantically.
    pub fn put(&self, entry: &CacheEntry) -> Result<()> {
        if !worth_caching(&entry.response) {
            return Ok(());
        }
        let expires = entry
            .now_ms
            .saturating_add((entry.max_age_secs as i64).saturating_mul(1000));
        let conn = self.store.conn();
        conn.prepare_cached(
            "INSERT INTO cache_entries(key, partition, created_at, expires_at, model, response, embedder, embedding)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(key) DO UPDATE SET partition = excluded.partition, created_at = excluded.created_at,
                 expires_at = excluded.expires_at, model = excluded.model, response = excluded.response,
                 embedder = excluded.embedder, embedding = excluded.embedding, hits = 0",
        )?
        .execute(params![
            entry.key,
            entry.partition,
            entry.now_ms,
            expires,
            entry.response.model,
            serde_json::to_string(&entry.response)?,
            entry.embedding.as_ref().map(|(n, _)| n.as_str()),
            entry.embedding.as_ref().map(|(_, v)| to_bytes(v)),
        ])?;
        drop(conn);
        if let Some((_, v)) = &entry.embedding {
            let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(entries) = partitions.get_mut(&entry.partition) {
                entries.retain(|(k, _, _)| *k != entry.key);
                entries.push((entry.key.clone(), v.as_slice().into(), expires));
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
