//! The response cache on the shared store, so an answer cached through one replica is a hit on
//! every replica.
//!
//! Exact entries are rows keyed by the exact-match hash. Semantic entries carry their embedding
//! as well; where the server has pgvector, they are searched in the database: a `vector` column,
//! an HNSW index per embedder and dimension (a partial expression index), and a filtered search
//! with pgvector's iterative scans, so filtering by partition still returns enough rows. Without
//! pgvector, each replica searches them in memory with the same HNSW partitions as the embedded
//! store ([`crate::cache::ann`]), loaded from the table on the first search and brought up to date
//! before every search with the rows other replicas wrote since (`seq` grows with each write).

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
    /// pgvector's version on the server, if it has it (read once).
    pgvector: tokio::sync::OnceCell<Option<String>>,
    /// (embedder, dimensions) whose HNSW index is known to exist.
    indexed: Mutex<std::collections::HashSet<(String, usize)>>,
}

/// Candidates an HNSW search looks at (pgvector's default is 40).
const EF_SEARCH: i32 = 100;

impl PgCache {
    pub fn new(store: Arc<PgStore>) -> Self {
        PgCache {
            store,
            partitions: Mutex::new(HashMap::new()),
            pgvector: tokio::sync::OnceCell::new(),
            indexed: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// A cache that searches semantic entries in this replica's memory even where the server
    /// has pgvector (what a server without it does).
    pub fn searching_in_memory(store: Arc<PgStore>) -> Self {
        let cache = PgCache::new(store);
        let _ = cache.pgvector.set(None);
        cache
    }

    /// Whether semantic entries are searched in the database (pgvector), and its version.
    pub async fn pgvector(&self) -> Result<Option<String>> {
        self.pgvector
            .get_or_try_init(|| async {
                let client = self.store.client().await?;
                let row = client
                    .query_opt(
                        "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
                        &[],
                    )
                    .await
                    .map_err(|e| self.store.fail(e))?;
                let Some(row) = row else { return Ok(None) };
                // The vectors' table, beside the entries (it needs the extension's type).
                let mut client = client;
                let tx = client
                    .transaction()
                    .await
                    .map_err(|e| self.store.fail(e))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&0x7667_6563_i64])
                    .await
                    .map_err(|e| self.store.fail(e))?;
                tx.batch_execute(
                    "CREATE TABLE IF NOT EXISTS cache_vectors (
                         key        text PRIMARY KEY REFERENCES cache_entries(key) ON DELETE CASCADE,
                         partition  text NOT NULL,
                         embedder   text NOT NULL,
                         dims       integer NOT NULL,
                         expires_at bigint NOT NULL,
                         query      text,
                         embedding  vector NOT NULL
                     )",
                )
                .await
                .map_err(|e| self.store.fail(e))?;
                tx.commit().await.map_err(|e| self.store.fail(e))?;
                Ok(Some(row.get::<_, String>(0)))
            })
            .await
            .cloned()
    }

    /// Creates the HNSW index of one embedder's vectors of `dims` dimensions, once.
    async fn ensure_index(&self, embedder: &str, dims: usize) -> Result<()> {
        let id = (embedder.to_owned(), dims);
        if self
            .indexed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id)
        {
            return Ok(());
        }
        let name = format!("cache_vectors_hnsw_{}_{dims}", short_hash(embedder));
        let mut client = self.store.client().await?;
        let result: std::result::Result<(), tokio_postgres::Error> = async {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&0x7667_6563_i64])
                .await?;
            tx.batch_execute(&format!(
                "CREATE INDEX IF NOT EXISTS {name} ON cache_vectors
                 USING hnsw ((embedding::vector({dims})) vector_cosine_ops)
                 WHERE embedder = {} AND dims = {dims}",
                literal(embedder)
            ))
            .await?;
            tx.commit().await
        }
        .await;
        result.map_err(|e| self.store.fail(e))?;
        self.indexed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
        Ok(())
    }

    /// [`CacheStore::get_nearest`] in the database.
    async fn nearest_in_db(
        &self,
        partition: &str,
        embedder: &str,
        vector: &[f32],
        threshold: f32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Candidate>> {
        let dims = vector.len();
        let version = self.pgvector().await?.unwrap_or_default();
        let mut client = self.store.client().await?;
        let result: std::result::Result<Vec<Candidate>, tokio_postgres::Error> = async {
            let tx = client.transaction().await?;
            // Filtered HNSW searches go on past the first candidates until enough rows pass the
            // filter (pgvector 0.8); older versions search ef_search candidates only.
            if version_at_least(&version, 0, 8) {
                tx.batch_execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    .await?;
            }
            tx.batch_execute(&format!("SET LOCAL hnsw.ef_search = {EF_SEARCH}"))
                .await?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT key, query, 1 - (embedding::vector({dims}) <=> $1::text::vector({dims}))
                         FROM cache_vectors
                         WHERE embedder = {} AND dims = {dims} AND partition = $2 AND expires_at > $3
                         ORDER BY embedding::vector({dims}) <=> $1::text::vector({dims})
                         LIMIT $4",
                        literal(embedder)
                    ),
                    &[&vector_text(vector), &partition, &now_ms, &(limit as i64)],
                )
                .await?;
            tx.commit().await?;
            let mut found: Vec<Candidate> = rows
                .iter()
                .map(|r| Candidate {
                    key: r.get(0),
                    query: r.get(1),
                    similarity: r.get::<_, f64>(2) as f32,
                })
                .filter(|c| c.similarity >= threshold)
                .collect();
            // Relaxed order: sorted again here.
            found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
            Ok(found)
        }
        .await;
        result.map_err(|e| self.store.fail(e))
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
        if self.pgvector().await?.is_some() {
            return self
                .nearest_in_db(partition, embedder, vector, threshold, now_ms, limit)
                .await;
        }
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
        // One connection at a time: holding this one while another is asked for could leave
        // every connection of the pool waiting for a second.
        drop(client);
        if let Some((embedder, vector)) = &entry.embedding
            && self.pgvector().await?.is_some()
        {
            self.ensure_index(embedder, vector.len()).await?;
            self.store
                .client()
                .await?
                .execute(
                    "INSERT INTO cache_vectors(key, partition, embedder, dims, expires_at, query, embedding)
                     VALUES($1, $2, $3, $4, $5, $6, $7::text::vector)
                     ON CONFLICT (key) DO UPDATE SET partition = excluded.partition,
                         embedder = excluded.embedder, dims = excluded.dims,
                         expires_at = excluded.expires_at, query = excluded.query,
                         embedding = excluded.embedding",
                    &[
                        &entry.key,
                        &entry.partition,
                        embedder,
                        &(vector.len() as i32),
                        &expires,
                        &entry.query,
                        &vector_text(vector),
                    ],
                )
                .await
                .map_err(|e| self.store.fail(e))?;
        }
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

/// A vector as pgvector's text form, `[0.1,0.2,…]`.
fn vector_text(v: &[f32]) -> String {
    let mut out = String::with_capacity(v.len() * 10 + 2);
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Non-finite values cannot be stored; an embedding never has them.
        out.push_str(&if x.is_finite() {
            x.to_string()
        } else {
            "0".into()
        });
    }
    out.push(']');
    out
}

/// `text` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A short, stable name part for an embedder (index names are at most 63 bytes).
fn short_hash(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hex::encode(&digest.as_ref()[..6])
}

/// Whether a version string such as `0.8.0` is at least `major.minor`.
fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}
