//! Semantic-cache figures. Prints; asserts nothing.
//!
//! 1. **Paraphrases and near-misses** (`data/cache-pairs/`, 25 + 25 labelled pairs each in a
//!    calibration and a held-out set): for the hash embedder, the compiled-in sentence model
//!    alone, and the model with the near-miss check, how many paraphrase pairs would hit and how
//!    many near-miss pairs would falsely hit at each embedder's default threshold; and, on the
//!    calibration set, the sweep the model's threshold was chosen from.
//! 2. **Scale**: a partition of 10k / 100k / 1M entries: insert rate, lookup p50/p99, the
//!    process's resident memory, and with 100k entries the time to load the partition from SQLite
//!    and index it (what the first lookup after a start costs). The vectors are synthetic (embedding
//!    a million texts would take hours): 384-dimension unit vectors in clusters (2,000 topics, each
//!    entry its topic's centre plus noise), which, like real sentence embeddings and unlike uniform
//!    noise, have structure an index can use.
//!
//! `cargo bench --bench cache`; `PORTOLAN_BENCH_SCALES=10000,100000` picks the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use portolan::cache::ann::Partition;
use portolan::cache::near_miss;
use portolan::embeddings::{
    LOCAL_EMBEDDER, LOCAL_MODEL, LocalHashEmbedder, cosine, default_threshold,
    embed_with_local_model, normalize,
};

struct Pair {
    a: String,
    b: String,
    same: bool,
}

fn pairs(file: &str) -> Vec<Pair> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/cache-pairs")
        .join(file);
    std::fs::read_to_string(&path)
        .expect("pair file")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            Pair {
                a: v["a"].as_str().unwrap().to_owned(),
                b: v["b"].as_str().unwrap().to_owned(),
                same: v["same"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// (paraphrase hits, near-miss false hits) at `threshold`, with or without the check.
fn score(p: &[Pair], sims: &[f32], threshold: f32, check: bool) -> (usize, usize) {
    let mut hits = 0;
    let mut false_hits = 0;
    for (pair, s) in p.iter().zip(sims) {
        let hit = *s >= threshold && (!check || near_miss::agrees(&pair.a, &pair.b).is_ok());
        if hit && pair.same {
            hits += 1;
        }
        if hit && !pair.same {
            false_hits += 1;
        }
    }
    (hits, false_hits)
}

fn similarities(p: &[Pair], model: bool) -> Vec<f32> {
    if model {
        let texts: Vec<String> = p.iter().flat_map(|x| [x.a.clone(), x.b.clone()]).collect();
        let v = embed_with_local_model(&texts).expect("the local model embeds");
        v.chunks(2).map(|c| cosine(&c[0], &c[1])).collect()
    } else {
        p.iter()
            .map(|x| {
                cosine(
                    &LocalHashEmbedder.embed(&x.a),
                    &LocalHashEmbedder.embed(&x.b),
                )
            })
            .collect()
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn unit_vector(rng: &mut u64, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            (*rng % 20_000) as f32 / 10_000.0 - 1.0
        })
        .collect();
    normalize(&mut v);
    v
}

/// A clustered vector: one of `topics` random centres plus noise.
fn clustered(rng: &mut u64, centres: &[Vec<f32>]) -> Vec<f32> {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let c = &centres[(*rng % centres.len() as u64) as usize];
    let noise = unit_vector(rng, c.len());
    let mut v: Vec<f32> = c.iter().zip(&noise).map(|(a, b)| a + 0.35 * b).collect();
    normalize(&mut v);
    v
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // 1. Paraphrases and near-misses.
    let calibration = pairs("calibration.jsonl");
    let heldout = pairs("heldout.jsonl");
    println!(
        "Paraphrase hits (of 25) and near-miss false hits (of 25), at each embedder's default threshold:"
    );
    println!("{:<44} {:>16} {:>16}", "", "calibration", "held-out");
    for (label, model, check) in [
        ("hash embedder (local-hash-v1)", false, false),
        ("sentence model alone (local-minilm-l3-v2-q4)", true, false),
        ("sentence model + near-miss check", true, true),
    ] {
        let t = default_threshold(if model { LOCAL_MODEL } else { LOCAL_EMBEDDER });
        let (ch, cf) = score(&calibration, &similarities(&calibration, model), t, check);
        let (hh, hf) = score(&heldout, &similarities(&heldout, model), t, check);
        println!(
            "{label:<44} {:>16} {:>16}",
            format!("{ch} hit / {cf} false"),
            format!("{hh} hit / {hf} false")
        );
    }
    let sims = similarities(&calibration, true);
    println!(
        "\nThe sentence model's threshold sweep on the calibration pairs (with the check / alone):"
    );
    for t in [
        0.50, 0.55, 0.60, 0.65, 0.70, 0.72, 0.74, 0.76, 0.78, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90,
        0.92, 0.94,
    ] {
        let (h, f) = score(&calibration, &sims, t, true);
        let (h0, f0) = score(&calibration, &sims, t, false);
        println!("  {t:.2}: {h:>2} hit / {f} false   (alone: {h0:>2} hit / {f0:>2} false)");
    }
    let texts: Vec<String> = calibration.iter().map(|p| p.a.clone()).collect();
    let started = Instant::now();
    for t in &texts {
        embed_with_local_model(std::slice::from_ref(t)).expect("embeds");
    }
    println!(
        "sentence model: {:.2} ms per short text (one at a time, one thread)",
        started.elapsed().as_secs_f64() * 1000.0 / texts.len() as f64
    );

    // 2. Scale.
    let scales: Vec<usize> = std::env::var("PORTOLAN_BENCH_SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let dims = 384;
    println!("\nOne partition of N entries (clustered synthetic unit vectors, {dims} dimensions):");
    for n in scales {
        let base = rss_mb();
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let centres: Vec<Vec<f32>> = (0..2000).map(|_| unit_vector(&mut rng, dims)).collect();
        let vectors: Vec<Vec<f32>> = (0..n).map(|_| clustered(&mut rng, &centres)).collect();
        let started = Instant::now();
        let mut p = Partition::from_entries(
            vectors
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("k{i}"), v.clone(), i64::MAX, Some(format!("q{i}"))))
                .collect(),
        );
        p.wait_for_index();
        let build = started.elapsed();
        // Lookups: half of known vectors slightly perturbed (should find them), half new.
        let mut times = Vec::new();
        let mut found = 0;
        for q in 0..1000 {
            let probe = if q % 2 == 0 {
                let mut v = vectors[(q * 7919) % n].clone();
                v[0] += 0.01;
                normalize(&mut v);
                v
            } else {
                clustered(&mut rng, &centres)
            };
            let t = Instant::now();
            let hits = p.search(&probe, 0.95, 5, 0);
            times.push(t.elapsed());
            found += usize::from(!hits.is_empty());
        }
        // Inserts into the built index.
        let t = Instant::now();
        let inserts = 1000;
        for i in 0..inserts {
            p.insert(
                format!("new{i}"),
                clustered(&mut rng, &centres),
                i64::MAX,
                None,
            );
        }
        let insert_rate = inserts as f64 / t.elapsed().as_secs_f64();
        println!(
            "  {n:>9} entries: built in {:.1} s ({:.0} entries/s); lookup p50 {:.3} ms, p99 {:.3} ms ({found} of 500 near-duplicates found); {:.0} inserts/s; +{:.0} MB resident",
            build.as_secs_f64(),
            n as f64 / build.as_secs_f64(),
            pct(times.clone(), 0.5).as_secs_f64() * 1000.0,
            pct(times, 0.99).as_secs_f64() * 1000.0,
            insert_rate,
            rss_mb() - base
        );
        drop(p);
        drop(vectors);
    }

    // Start-up with 100k entries in SQLite: the first lookup loads and indexes the partition.
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        portolan::Store::open_with(
            dir.path(),
            portolan::StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("cd".repeat(32)),
            },
        )
        .expect("store"),
    );
    let cache = portolan::store::SqliteCache::new(store.clone());
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let centres: Vec<Vec<f32>> = (0..2000).map(|_| unit_vector(&mut rng, dims)).collect();
    let n = 100_000;
    let response: portolan::chat::ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "c", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "cached"}, "finish_reason": "stop"}]
    }))
    .expect("response");
    let fill = Instant::now();
    for i in 0..n {
        cache
            .put(&portolan::cache::CacheEntry {
                key: format!("k{i}"),
                partition: "p".into(),
                response: response.clone(),
                embedding: Some((LOCAL_MODEL.into(), clustered(&mut rng, &centres))),
                query: Some(format!("question {i}")),
                now_ms: 0,
                max_age_secs: 86_400_000,
            })
            .expect("put");
    }
    let filled = fill.elapsed();
    let fresh = portolan::store::SqliteCache::new(store);
    let probe = clustered(&mut rng, &centres);
    let t = Instant::now();
    fresh
        .get_nearest("p", LOCAL_MODEL, &probe, 0.95, 1, 5)
        .expect("lookup");
    let first = t.elapsed();
    // While the index is built in the background, lookups scan.
    let mut scanning = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        fresh
            .get_nearest("p", LOCAL_MODEL, &probe, 0.95, 1, 5)
            .expect("lookup");
        scanning.push(t.elapsed());
    }
    let built = Instant::now();
    fresh.wait_for_index("p", LOCAL_MODEL);
    let waited = built.elapsed() + first;
    let mut indexed = Vec::new();
    for _ in 0..200 {
        let probe = clustered(&mut rng, &centres);
        let t = Instant::now();
        fresh
            .get_nearest("p", LOCAL_MODEL, &probe, 0.95, 1, 5)
            .expect("lookup");
        indexed.push(t.elapsed());
    }
    println!(
        "\n100k entries in SQLite (written at {:.0}/s), after a start: the first lookup loads them in {:.2} s and answers by scanning ({:.1} ms p50 while the index builds); the index is ready {:.1} s after the start; then lookups take {:.3} ms p50, {:.3} ms p99",
        n as f64 / filled.as_secs_f64(),
        first.as_secs_f64(),
        pct(scanning, 0.5).as_secs_f64() * 1000.0,
        waited.as_secs_f64(),
        pct(indexed.clone(), 0.5).as_secs_f64() * 1000.0,
        pct(indexed, 0.99).as_secs_f64() * 1000.0,
    );
}
