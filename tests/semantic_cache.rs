//! The semantic cache on the labelled pairs of `data/cache-pairs/`: a paraphrase of a cached
//! request is served from the cache, a near-miss (another number, unit order, name, code,
//! negation…) is not. Through `portolan chat --config` with `cache.mode = semantic` and nothing
//! else, as a user would try it, on the held-out pairs; and in-process on the calibration pairs
//! the default threshold was chosen on.

use std::sync::Arc;

use portolan::chat::{ChatMessage, ChatRequest};
use portolan::routing::config::{CacheConfig, CacheMode};
use portolan::routing::{CallOptions, Engine};
use portolan::{Store, StoreOptions};
use serde_json::Value;

use crate::support::Env;

struct Pair {
    a: String,
    b: String,
    same: bool,
}

fn pairs(file: &str) -> Vec<Pair> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/cache-pairs")
        .join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Pair {
                a: v["a"].as_str().unwrap().into(),
                b: v["b"].as_str().unwrap().into(),
                same: v["same"].as_bool().unwrap(),
            }
        })
        .collect()
}

/// (paraphrases served from the cache, near-misses wrongly served), and the misjudged pairs.
fn tally(outcomes: &[(bool, bool, String)]) -> (usize, usize, Vec<String>) {
    let hits = outcomes
        .iter()
        .filter(|(same, hit, _)| *same && *hit)
        .count();
    let false_hits = outcomes
        .iter()
        .filter(|(same, hit, _)| !*same && *hit)
        .count();
    let wrong = outcomes
        .iter()
        .filter(|(same, hit, _)| same != hit)
        .map(|(_, _, p)| p.clone())
        .collect();
    (hits, false_hits, wrong)
}

#[test]
fn held_out_pairs_through_portolan_chat_with_a_semantic_cache_config() {
    let config =
        std::env::temp_dir().join(format!("portolan-semantic-{}.json", std::process::id()));
    std::fs::write(&config, r#"{"cache": {"mode": "semantic"}}"#).unwrap();
    let cfg = config.to_str().unwrap();
    let mut outcomes = Vec::new();
    for p in pairs("heldout.jsonl") {
        // A library per pair, so one pair's answer cannot serve another's.
        let env = Env::new();
        env.ok(&["chat", "--model", "demo/fast", "--config", cfg, &p.a]);
        let second: Value = serde_json::from_str(&env.ok(&[
            "chat",
            "--model",
            "demo/fast",
            "--config",
            cfg,
            "--json",
            &p.b,
        ]))
        .unwrap();
        let status = second["info"]["cache_status"].as_str().unwrap().to_owned();
        assert!(status.starts_with("SEMANTIC"), "{status}");
        outcomes.push((
            p.same,
            status == "SEMANTIC HIT",
            format!("{} / {}", p.a, p.b),
        ));
    }
    let _ = std::fs::remove_file(&config);
    let (hits, false_hits, wrong) = tally(&outcomes);
    eprintln!(
        "held-out: {hits}/25 paraphrases hit, {false_hits}/25 near-misses falsely hit; misjudged: {wrong:#?}"
    );
    assert!(hits >= 15, "at least 15 of 25 paraphrases hit: {hits}");
    assert!(
        false_hits <= 1,
        "at most 1 of 25 near-misses hits: {false_hits}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibration_pairs_in_process_give_the_documented_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open_with(
            dir.path(),
            StoreOptions {
                seed_samples: false,
                use_keyring: false,
                master_key: Some("ab".repeat(32)),
            },
        )
        .unwrap(),
    );
    let engine = Engine::new(store).unwrap();
    let ask = |text: &str, pair: usize| {
        let engine = engine.clone();
        let request = ChatRequest {
            model: "demo/fast".into(),
            messages: vec![ChatMessage::new("user", text)],
            // Each pair in a partition of its own (the request's other fields differ).
            temperature: Some(pair as f64 / 100.0),
            ..Default::default()
        };
        async move {
            let options = CallOptions {
                cache: Some(CacheConfig {
                    mode: CacheMode::Semantic,
                    max_age: None,
                    threshold: None,
                    force_refresh: None,
                }),
                ..Default::default()
            };
            engine
                .chat(request, options)
                .await
                .unwrap()
                .info
                .cache_status
        }
    };
    let mut outcomes = Vec::new();
    for (i, p) in pairs("calibration.jsonl").into_iter().enumerate() {
        ask(&p.a, i).await;
        let status = ask(&p.b, i).await;
        outcomes.push((p.same, status.is_hit(), format!("{} / {}", p.a, p.b)));
    }
    let (hits, false_hits, wrong) = tally(&outcomes);
    assert_eq!((hits, false_hits), (20, 0), "misjudged: {wrong:#?}");
}
