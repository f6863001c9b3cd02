//! The vectors of one semantic-cache partition, searchable by similarity. Small partitions are
//! scanned exactly (a scan of a few thousand 384-dimension vectors takes well under a
//! millisecond); once a partition reaches [`ANN_FROM`] entries it is indexed with HNSW (the
//! `hnsw_rs` crate), so a lookup among 100k entries stays under a few milliseconds. The index is
//! built on a thread of its own (100k entries take about half a minute on one core): until it is
//! ready, lookups scan exactly, so a start with a large cache is not a wait. Entries expire by
//! time: an expired or replaced entry is skipped by the search's filter, and the index is rebuilt
//! once the skipped ones outnumber the live ones.

use std::collections::HashMap;
use std::sync::Arc;

use hnsw_rs::prelude::{Distance, Hnsw};

use crate::embeddings::cosine;

/// From this many entries on, a partition is searched through an HNSW index.
pub const ANN_FROM: usize = 2048;
/// Neighbours per node and search breadth: recall above 0.95 on 384-dimension sentence vectors
/// in the benchmark (`cargo bench --bench cache`), at a fraction of a scan's cost.
const MAX_CONNECTIONS: usize = 16;
const EF_CONSTRUCTION: usize = 64;
const EF_SEARCH: usize = 64;
/// The search width at `n` entries: 64 up to 256k entries, then wider as the graph grows (at 1M
/// entries 64 found 313 of 500 near-duplicate probes in `cargo bench --bench cache`), at most 512.
fn ef_search(n: usize) -> usize {
    (n / 4_000).clamp(EF_SEARCH, 512)
}

/// 1 − cosine of two unit vectors, never below 0. (The crate's own dot-product distance asserts
/// it is non-negative, and rounding makes an identical pair's dot product exceed 1.)
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - cosine(a, b)).max(0.0)
    }
}

/// One cached request in a partition.
struct Slot {
    key: String,
    vector: Arc<[f32]>,
    expires_at: i64,
    /// The request's text, for the near-miss check.
    query: Option<String>,
    /// False once the entry was replaced by a newer one under the same key.
    live: bool,
}

/// A candidate found by similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub key: String,
    pub similarity: f32,
    pub query: Option<String>,
}

type Index = Hnsw<'static, f32, UnitCosine>;

/// The searchable vectors of one partition.
#[derive(Default)]
pub struct Partition {
    slots: Vec<Slot>,
    by_key: HashMap<String, usize>,
    index: Option<Index>,
    /// An index being built on another thread, and the slots added since it started.
    building: Option<(std::sync::mpsc::Receiver<Index>, Vec<usize>)>,
    /// Slots the index holds that no longer count (replaced).
    dead: usize,
    /// The earliest expiry among the slots: before it, nothing has expired and a search need
    /// not count what did.
    earliest_expiry: i64,
}

impl Partition {
    /// A partition holding `entries` (key, vector, expiry, query).
    pub fn from_entries(entries: Vec<(String, Vec<f32>, i64, Option<String>)>) -> Partition {
        let mut p = Partition::default();
        for (key, vector, expires_at, query) in entries {
            p.push_slot(key, vector.into(), expires_at, query);
        }
        if p.slots.len() >= ANN_FROM {
            p.build_index();
        }
        p
    }

    fn push_slot(
        &mut self,
        key: String,
        vector: Arc<[f32]>,
        expires_at: i64,
        query: Option<String>,
    ) -> usize {
        if let Some(&old) = self.by_key.get(&key) {
            self.slots[old].live = false;
            self.dead += 1;
        }
        let id = self.slots.len();
        if id == 0 || expires_at < self.earliest_expiry {
            self.earliest_expiry = expires_at;
        }
        self.by_key.insert(key.clone(), id);
        self.slots.push(Slot {
            key,
            vector,
            expires_at,
            query,
            live: true,
        });
        id
    }

    /// Starts building the index of the live slots on a thread of its own.
    fn build_index(&mut self) {
        let data: Vec<(Arc<[f32]>, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, s)| (s.vector.clone(), i))
            .collect();
        let capacity = self.slots.len().max(ANN_FROM);
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("portolan-cache-index".into())
            .spawn(move || {
                let index = Hnsw::new(MAX_CONNECTIONS, capacity, 16, EF_CONSTRUCTION, UnitCosine);
                let refs: Vec<(&[f32], usize)> = data.iter().map(|(v, i)| (&v[..], *i)).collect();
                index.parallel_insert_slice(&refs);
                let _ = tx.send(index);
            });
        match spawned {
            Ok(_) => self.building = Some((rx, Vec::new())),
            Err(e) => {
                tracing::warn!(error = %e, "could not start indexing the semantic cache; it is scanned")
            }
        }
    }

    /// Takes a finished index in (with the slots added while it was built).
    fn adopt_index(&mut self, wait: bool) {
        let Some((rx, _)) = &self.building else {
            return;
        };
        let ready = if wait {
            rx.recv().ok()
        } else {
            rx.try_recv().ok()
        };
        if let Some(index) = ready {
            let (_, added) = self.building.take().expect("checked above");
            for id in added {
                if self.slots[id].live {
                    index.insert((&self.slots[id].vector[..], id));
                }
            }
            self.index = Some(index);
        }
    }

    /// Waits for an index being built (tests and benchmarks measure the indexed path).
    pub fn wait_for_index(&mut self) {
        self.adopt_index(true);
    }

    /// Adds (or replaces) an entry.
    pub fn insert(
        &mut self,
        key: String,
        vector: Vec<f32>,
        expires_at: i64,
        query: Option<String>,
    ) {
        self.adopt_index(false);
        let id = self.push_slot(key, vector.into(), expires_at, query);
        if let Some(index) = &self.index {
            index.insert((&self.slots[id].vector[..], id));
        } else if let Some((_, added)) = &mut self.building {
            added.push(id);
        } else if self.slots.len() >= ANN_FROM {
            self.build_index();
        }
    }

    /// Live, unexpired entries.
    pub fn len(&self, now_ms: i64) -> usize {
        self.slots
            .iter()
            .filter(|s| s.live && s.expires_at > now_ms)
            .count()
    }

    pub fn is_empty(&self, now_ms: i64) -> bool {
        self.len(now_ms) == 0
    }

    /// Up to `limit` live, unexpired entries with similarity ≥ `threshold`, most similar first.
    pub fn search(
        &mut self,
        vector: &[f32],
        threshold: f32,
        limit: usize,
        now_ms: i64,
    ) -> Vec<Candidate> {
        self.adopt_index(false);
        // Drop what expired or was replaced, when it outweighs what is left. Expired slots are
        // counted (a pass over all of them) only once something may have expired.
        let stale = if self.earliest_expiry > now_ms {
            self.dead
        } else {
            self.slots
                .iter()
                .filter(|s| !s.live || s.expires_at <= now_ms)
                .count()
        };
        if stale > 0 && stale * 2 > self.slots.len() && self.building.is_none() {
            self.compact(now_ms);
        }
        let mut found: Vec<(usize, f32)> = match &self.index {
            Some(index) => {
                let slots = &self.slots;
                let usable = |id: &usize| {
                    slots
                        .get(*id)
                        .is_some_and(|s| s.live && s.expires_at > now_ms)
                };
                let ef = ef_search(slots.len());
                index
                    .search_filter(vector, limit.max(1), ef.max(limit), Some(&usable))
                    .into_iter()
                    .map(|n| (n.d_id, 1.0 - n.distance))
                    .collect()
            }
            None => self
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.live && s.expires_at > now_ms)
                .map(|(i, s)| (i, cosine(&s.vector, vector)))
                .collect(),
        };
        found.retain(|(_, sim)| *sim >= threshold);
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        found.truncate(limit);
        found
            .into_iter()
            .map(|(i, similarity)| Candidate {
                key: self.slots[i].key.clone(),
                similarity,
                query: self.slots[i].query.clone(),
            })
            .collect()
    }

    /// Keeps only live, unexpired entries (and re-indexes them).
    fn compact(&mut self, now_ms: i64) {
        let slots = std::mem::take(&mut self.slots);
        self.by_key.clear();
        self.index = None;
        self.building = None;
        self.dead = 0;
        for s in slots
            .into_iter()
            .filter(|s| s.live && s.expires_at > now_ms)
        {
            self.push_slot(s.key, s.vector, s.expires_at, s.query);
        }
        if self.slots.len() >= ANN_FROM {
            self.build_index();
        }
    }

    /// Whether the partition is searched through an HNSW index (else scanned).
    pub fn indexed(&self) -> bool {
        self.index.is_some()
    }

    /// Whether an index is being built.
    pub fn indexing(&self) -> bool {
        self.building.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embeddings::normalize;

    fn vector(seed: u64) -> Vec<f32> {
        // A deterministic pseudo-random unit vector.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        normalize(&mut v);
        v
    }

    #[test]
    fn scans_small_partitions_and_indexes_large_ones_with_expiry_and_replacement() {
        let mut p = Partition::from_entries(
            (0..10)
                .map(|i| (format!("k{i}"), vector(i), 1_000, Some(format!("q{i}"))))
                .collect(),
        );
        assert!(!p.indexed());
        let hit = p.search(&vector(3), 0.99, 3, 0);
        assert_eq!(hit[0].key, "k3");
        assert_eq!(hit[0].query.as_deref(), Some("q3"));
        assert_eq!(p.len(1_000), 0, "all ten expire at 1_000");
        // Replacing a key hides the old vector.
        let replacement = vector(1_000_000);
        p.insert("k3".into(), replacement.clone(), 2_000, None);
        assert!(p.search(&vector(3), 0.99, 3, 0).is_empty());
        assert_eq!(p.search(&replacement, 0.99, 3, 0)[0].key, "k3");
        // Past ANN_FROM entries, the index answers the same.
        for i in 10..(ANN_FROM as u64 + 100) {
            p.insert(format!("k{i}"), vector(i), 5_000, None);
        }
        // Lookups scan while the index is built, then use it.
        assert!(p.indexing() || p.indexed());
        let scanned = p.search(&vector(500), 0.99, 1, 0);
        assert_eq!(scanned[0].key, "k500");
        p.wait_for_index();
        assert!(p.indexed());
        for probe in [7u64, 500, 2_000] {
            let found = p.search(&vector(probe), 0.99, 1, 0);
            assert_eq!(found[0].key, format!("k{probe}"), "probe {probe}");
        }
        // At 1_500 the first ten expired (k3 was renewed); at 5_000 all but k3… and then k3 too.
        assert_eq!(p.len(1_500), ANN_FROM + 90 + 1);
        assert_eq!(p.search(&replacement, 0.99, 1, 1_500)[0].key, "k3");
        assert!(
            p.search(&vector(7), 0.99, 1, 1_500).is_empty(),
            "k7 expired at 1_000"
        );
        assert!(p.search(&vector(500), 0.99, 1, 5_000).is_empty());
        // Most of it is stale now: the next search compacts and re-indexes what is left.
        assert!(p.search(&vector(2_000), 0.99, 1, 5_000).is_empty());
        assert!(!p.indexed());
    }
}
