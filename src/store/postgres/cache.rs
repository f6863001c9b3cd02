//! The response cache on the shared store, so an answer cached through one replica is a hit on
//! every replica.
//!
//! Exact entries are rows keyed by the exact-match hash. Semantic entries carry their embedding
//! in the same row; each replica searches them in memory with the same HNSW partitions as the
//! embedded store ([`crate::cache::ann`]), loaded from the table on the first search and brought
//! up to date before every search with the rows other replicas wrote since (`seq` grows with each
//! write; the query is an index range scan). pgvector would keep the index in the database, but
//! Debian 12 has no package of it, and building it needs a source these machines cannot fetch;
//! see the README.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::PgStore;
use crate::cache::ann::{Candidate, Partition};
use crate::cache::{CacheEntry, worth_caching};
use crate::chat::ChatResponse;
use crate::embeddings::{from_bytes, to_bytes};
use crate::error::Result;
use crate::store::backend::CacheStore;

/// Rows below the newest seen that are read again at each search: a write that took its `seq`
/// before another's but committed after it is still found, if it committed within this many
/// writes. (A missed semantic entry costs a hit, never a wrong answer: the exact key is always
/// read from the table.)
const CATCH_UP_MARGIN: i64 = 32;

/// A partition searched by this replica, and the newest row it has seen.
struct Known {
    partition: Partition,
    seen: i64,
}

/// The shared response cache of one replica.
pub struct PgCache {
    store: Arc<PgStore>,
    partitions: Mutex<HashMap<(String, String), Known>>,
}

impl PgCache {
    pub fn new(store: Arc<PgStore>) -> Self {
        PgCache {
            store,
            partitions: Mutex::new(HashMap::new()),
        }
    }

    fn partitions(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Known>> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unexpired entries stored (all replicas').
    pub async fn len(&self, now_ms: i64) -> Result<u64> {
        let client = self.store.client().await?;
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM cache_entries WHERE expires_at > $1",
                &[&now_ms],
            )
            .await
            .map_err(|e| self.store.fail(e))?
            .get(0);
        Ok(n as u64)
    }
}

#[async_trait]
impl CacheStore for PgCache {
    async fn get_exact(&self, key: &str, now_ms: i64) -> Result<Option<ChatResponse>> {
        let client = self.store.client().await?;
        let row = client
            .query_opt(
                "UPDATE cache_entries SET hits = hits + 1 WHERE key = $1 AND expires_at > $2
                 RETURNING response",
                &[&key, &now_ms],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        match row {
            Some(r) => Ok(Some(serde_json::from_str(r.get::<_, &str>(0))?)),
            None => Ok(None),
        }
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
        let id = (partition.to_owned(), embedder.to_owned());
        let seen = self.partitions().get(&id).map(|k| k.seen);
        // The rows written (by any replica) since this replica last looked; all of them the
        // first time.
        let client = self.store.client().await?;
        let rows = client
            .query(
                "SELECT key, embedding, expires_at, query, seq FROM cache_entries
                 WHERE partition = $1 AND embedder = $2 AND embedding IS NOT NULL
                   AND seq > $3 AND expires_at > $4
                 ORDER BY seq",
                &[
                    &partition,
                    &embedder,
                    &seen.map_or(0, |s| s - CATCH_UP_MARGIN),
                    &now_ms,
                ],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        drop(client);
        let mut partitions = self.partitions();
        let known = partitions.entry(id).or_insert_with(|| Known {
            partition: Partition::default(),
            seen: 0,
        });
        if seen.is_none() && known.seen == 0 {
            let entries = rows
                .iter()
                .map(|r| {
                    (
                        r.get::<_, String>(0),
                        from_bytes(r.get::<_, &[u8]>(1)),
                        r.get::<_, i64>(2),
                        r.get::<_, Option<String>>(3),
                    )
                })
                .collect();
            known.partition = Partition::from_entries(entries);
            known.seen = rows.last().map_or(0, |r| r.get(4));
        } else {
            // Inserting a key again replaces it, so rows read twice (the margin, or another
            // search meanwhile) change nothing.
            for r in &rows {
                known.partition.insert(
                    r.get(0),
                    from_bytes(r.get::<_, &[u8]>(1)),
                    r.get(2),
                    r.get(3),
                );
                known.seen = known.seen.max(r.get(4));
            }
        }
        Ok(known.partition.search(vector, threshold, limit, now_ms))
    }

    async fn put(&self, entry: CacheEntry) -> Result<()> {
        if !worth_caching(&entry.response) {
            return Ok(());
        }
        let expires = entry
            .now_ms
            .saturating_add((entry.max_age_secs as i64).saturating_mul(1000));
        let embedder = entry.embedding.as_ref().map(|(n, _)| n.clone());
        let embedding = entry.embedding.as_ref().map(|(_, v)| to_bytes(v));
        let client = self.store.client().await?;
        client
            .execute(
                "INSERT INTO cache_entries(key, partition, created_at, expires_at, model, response, embedder, embedding, query)
                 VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (key) DO UPDATE SET partition = excluded.partition,
                     created_at = excluded.created_at, expires_at = excluded.expires_at,
                     model = excluded.model, response = excluded.response,
                     embedder = excluded.embedder, embedding = excluded.embedding,
                     query = excluded.query, hits = 0, seq = nextval('cache_entries_seq_seq')",
                &[
                    &entry.key,
                    &entry.partition,
                    &entry.now_ms,
                    &expires,
                    &entry.response.model,
                    &serde_json::to_string(&entry.response)?,
                    &embedder,
                    &embedding,
                    &entry.query,
                ],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        Ok(())
    }

    async fn purge_expired(&self, now_ms: i64) -> Result<usize> {
        self.partitions().clear();
        let client = self.store.client().await?;
        let n = client
            .execute(
                "DELETE FROM cache_entries WHERE expires_at <= $1",
                &[&now_ms],
            )
            .await
            .map_err(|e| self.store.fail(e))?;
        Ok(n as usize)
    }
}
