//! The response cache in SQLite: entries in `cache_entries`, keyed by the exact-match hash, with
//! the semantic partition, embedder, vector and request text beside them. The vectors of a
//! partition are loaded into memory when it is first searched (the index is rebuilt from the
//! table at start) and kept there, searched exactly while small and through an HNSW index once
//! large ([`crate::cache::ann`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::cache::ann::{Candidate, Partition};
use crate::cache::{CacheEntry, worth_caching};
use crate::chat::ChatResponse;
use crate::embeddings::{from_bytes, to_bytes};
use crate::error::Result;

/// The SQLite response cache.
pub struct SqliteCache {
    store: Arc<Store>,
    /// Searchable vectors by (partition, embedder).
    partitions: Mutex<HashMap<(String, String), Partition>>,
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

    /// Up to `limit` unexpired entries of `partition` embedded by `embedder` with similarity ≥
    /// `threshold`, most similar first.
    pub fn get_nearest(
        &self,
        partition: &str,
        embedder: &str,
        vector: &[f32],
        threshold: f32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        let id = (partition.to_owned(), embedder.to_owned());
        if !partitions.contains_key(&id) {
            let loaded = self.load_partition(partition, embedder, now_ms)?;
            partitions.insert(id.clone(), loaded);
        }
        Ok(partitions
            .get_mut(&id)
            .map(|p| p.search(vector, threshold, limit, now_ms))
            .unwrap_or_default())
    }

    /// Waits until the partition's index (if one is being built) is ready; for benchmarks.
    pub fn wait_for_index(&self, partition: &str, embedder: &str) {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = partitions.get_mut(&(partition.to_owned(), embedder.to_owned())) {
            p.wait_for_index();
        }
    }

    fn load_partition(&self, partition: &str, embedder: &str, now_ms: i64) -> Result<Partition> {
        let conn = self.store.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT key, embedding, expires_at, query FROM cache_entries
             WHERE partition = ?1 AND embedder = ?2 AND embedding IS NOT NULL AND expires_at > ?3",
        )?;
        let rows = stmt
            .query_map(params![partition, embedder, now_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    from_bytes(&r.get::<_, Vec<u8>>(1)?),
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Partition::from_entries(rows))
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
            "INSERT INTO cache_entries(key, partition, created_at, expires_at, model, response, embedder, embedding, query)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(key) DO UPDATE SET partition = excluded.partition, created_at = excluded.created_at,
                 expires_at = excluded.expires_at, model = excluded.model, response = excluded.response,
                 embedder = excluded.embedder, embedding = excluded.embedding, query = excluded.query, hits = 0",
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
            entry.query,
        ])?;
        drop(conn);
        if let Some((embedder, v)) = &entry.embedding {
            let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
            // A partition not loaded yet reads this entry from the table when it is.
            if let Some(p) = partitions.get_mut(&(entry.partition.clone(), embedder.clone())) {
                p.insert(entry.key.clone(), v.clone(), expires, entry.query.clone());
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
