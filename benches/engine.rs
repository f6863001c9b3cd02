//! Engine overhead and cache lookup figures. Prints; asserts nothing.
//!
//! - Per-call overhead: the same request sent N times straight to a fake upstream with reqwest,
//!   then N times through `Engine::chat` (key decryption, routing, usage, cost, logging); the
//!   difference is the engine's own cost per call.
//! - Cache lookups with 10k and 100k entries: exact (primary-key) hits, and semantic search over
//!   one partition holding every entry (the worst case) with the local 512-dimension embedder.
//!
//! `cargo bench --bench engine`; `PORTOLAN_BENCH_CALLS` sets N (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_providers::{Behavior, FakeServer};
use portolan::cache::CacheEntry;
use portolan::chat::{ChatMessage, ChatRequest, ChatResponse, Choice, Usage};
use portolan::embeddings::LocalHashEmbedder;
use portolan::keys::NewKey;
use portolan::routing::{CallBody, CallOptions, Engine, EngineSettings};
use portolan::secrets::SecretString;
use portolan::store::SqliteCache;
use portolan::{Store, StoreOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{label:<44} mean {:>8.1} µs   p50 {:>8.1} µs   p99 {:>8.1} µs",
        mean.as_secs_f64() * 1e6,
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
    mean
}

fn response(i: usize) -> ChatResponse {
    ChatResponse {
        id: format!("c{i}"),
        object: "chat.completion".into(),
        created: 0,
        model: "gpt-4o-mini".into(),
        choices: vec![Choice {
            index: 0,
            message: ChatMessage::new("assistant", format!("answer {i}")),
            finish_reason: Some("stop".into()),
            logprobs: None,
        }],
        usage: Some(Usage::new(10, 5, 0)),
        system_fingerprint: None,
    }
}

fn main() {
    let n: usize = std::env::var("PORTOLAN_BENCH_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        Store::open_with(
            dir.path(),
            StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("ef".repeat(32)),
            },
        )
        .expect("store"),
    );
    let fake = rt.block_on(FakeServer::start());
    fake.set_default(Behavior::reply("ok"));
    let base = format!("{}/v1", fake.base_url());
    store
        .add_key(
            &NewKey {
                name: "openai".into(),
                provider: "openai".into(),
                base_url: Some(base.clone()),
                notes: None,
            },
            &SecretString::new("sk-bench-000000000000000000000000".into()),
            &portolan::store::Actor::Cli,
        )
        .expect("key");
    let engine = Engine::with_settings(store.clone(), EngineSettings::default()).expect("engine");
    let request = ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![ChatMessage::new("user", "Say ok")],
        ..Default::default()
    };

    println!("engine benchmark: {n} sequential calls to a fake upstream on 127.0.0.1");
    let client = reqwest::Client::new();
    let body = serde_json::to_value(&request).expect("json");
    let direct = rt.block_on(async {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/chat/completions"))
                .bearer_auth("sk-bench-000000000000000000000000")
                .json(&body)
                .send()
                .await
                .expect("send");
            let _: serde_json::Value = r.json().await.expect("json");
            samples.push(t.elapsed());
        }
        samples
    });
    let direct_mean = report("direct reqwest call (baseline)", direct);
    let through = rt.block_on(async {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            let call = engine
                .chat(request.clone(), CallOptions::default())
                .await
                .expect("call");
            assert!(matches!(call.body, CallBody::Complete(_)));
            samples.push(t.elapsed());
        }
        samples
    });
    let engine_mean = report("Engine::chat (route, key, usage, cost, log)", through);
    println!(
        "engine overhead per call: {:.1} µs (mean difference)",
        (engine_mean.as_secs_f64() - direct_mean.as_secs_f64()) * 1e6
    );
    engine.flush_logs();
    println!("log records dropped: {}", engine.logs_dropped());

    let cache = SqliteCache::new(store.clone());
    let embedder = LocalHashEmbedder;
    let now = chrono::Utc::now().timestamp_millis();
    let mut filled = 0usize;
    for target in [10_000usize, 100_000] {
        let t = Instant::now();
        for i in filled..target {
            let text = format!(
                "question number {i} about topic {} and detail {}",
                i % 97,
                i % 13
            );
            let v = embedder.embed(&text);
            cache
                .put(&CacheEntry {
                    key: format!("key-{i}"),
                    partition: "one-partition".into(),
                    response: response(i),
                    embedding: Some(("local-hash-v1".into(), v)),
                    query: None,
                    now_ms: now,
                    max_age_secs: 3600,
                })
                .expect("put");
        }
        filled = target;
        println!(
            "\ncache with {target} entries (filled in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        let mut exact = Vec::new();
        for i in 0..2000 {
            let key = format!("key-{}", (i * 7919) % target);
            let t = Instant::now();
            assert!(cache.get_exact(&key, now).expect("get").is_some());
            exact.push(t.elapsed());
        }
        report("exact lookup (hit)", exact);
        let probe = embedder.embed(&format!(
            "question number {} about topic {} and detail {}",
            4242 % target,
            (4242 % target) % 97,
            (4242 % target) % 13
        ));
        let _ = cache
            .get_nearest("one-partition", "local-hash-v1", &probe, 0.95, now, 5)
            .expect("warm");
        let mut semantic = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let m = cache
                .get_nearest("one-partition", "local-hash-v1", &probe, 0.95, now, 5)
                .expect("semantic");
            assert!(!m.is_empty());
            semantic.push(t.elapsed());
        }
        report("semantic lookup (all entries in one partition)", semantic);
    }
}
