//! The routing engine against fake providers on 127.0.0.1: retries, fallbacks, load balancing,
//! conditions, timeouts, broken streams, caching, usage, cost and logs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;
use portolan::Store;
use portolan::cache::CacheStatus;
use portolan::chat::{ChatMessage, ChatRequest, StreamOptions};
use portolan::keys::NewKey;
use portolan::logs::LogFilter;
use portolan::routing::{CallBody, CallOptions, Engine, EngineSettings, RouteConfig};
use portolan::secrets::SecretString;
use portolan::store::Actor;
use serde_json::json;

const OPENAI_KEY: &str = "sk-test-openai-0123456789abcdefghijkl";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    engine: Engine,
    fake: FakeServer,
}

impl Fixture {
    async fn new() -> Fixture {
        Fixture::with_settings(|_| {}).await
    }

    async fn with_settings(adjust: impl FnOnce(&mut EngineSettings)) -> Fixture {
        let (dir, store, fake) =
            crate::support::library_with_fake_openai(false, &["openai", "backup"], OPENAI_KEY)
                .await;
        let mut settings = EngineSettings {
            backoff_base_ms: 5,
            backoff_max_ms: 20,
            retry_after_max_ms: 2_000,
            request_timeout_ms: 2_000,
            stream_idle_timeout_ms: 2_000,
            ..EngineSettings::default()
        };
        adjust(&mut settings);
        let engine = Engine::with_settings(store.clone(), settings).unwrap();
        Fixture {
            _dir: dir,
            store,
            engine,
            fake,
        }
    }

    fn calls(&self) -> Vec<portolan::logs::CallRecord> {
        self.engine.flush_logs();
        self.store
            .list_calls(&LogFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .unwrap()
    }
}

fn request(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![ChatMessage::new("user", text)],
        ..Default::default()
    }
}

fn streaming(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        stream: Some(true),
        ..request(model, text)
    }
}

fn config(json: serde_json::Value) -> Option<RouteConfig> {
    Some(RouteConfig::from_json(&json.to_string()).unwrap())
}

async fn complete_text(
    engine: &Engine,
    req: ChatRequest,
    options: CallOptions,
) -> (String, portolan::routing::CallInfo) {
    let call = engine
        .chat(req, options)
        .await
        .unwrap_or_else(|e| panic!("call failed: {e}"));
    match call.body {
        CallBody::Complete(r) => (r.text(), call.info),
        CallBody::Stream(_) => panic!("expected a complete answer"),
    }
}

#[tokio::test]
async fn complete_call_has_usage_cost_and_a_log_row() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::reply("Paris is the capital."));
    let (text, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "Capital of France?"),
        CallOptions::default(),
    )
    .await;
    assert_eq!(text, "Paris is the capital.");
    assert_eq!(info.provider.as_deref(), Some("openai"));
    assert_eq!(
        info.key_name.as_deref(),
        Some("openai"),
        "the provider's default key is the one named after it"
    );
    let s = info.summary().unwrap();
    let usage = s.usage.unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert!(s.cost_usd.unwrap() > 0.0);
    let sent = f.fake.last_request().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    let calls = f.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].status, calls[0].success), (200, true));
    assert_eq!(calls[0].cost_usd, s.cost_usd);
    assert_eq!(calls[0].attempts.len(), 0, "list view leaves attempts out");
    let detail = f.store.get_call(&info.trace_id).unwrap().unwrap();
    assert_eq!(detail.call.attempts.len(), 1);
}

#[tokio::test]
async fn unknown_model_price_is_unknown_not_zero() {
    let f = Fixture::new().await;
    let (_, info) = complete_text(
        &f.engine,
        request("@openai/my-finetune-xyz", "hi"),
        CallOptions::default(),
    )
    .await;
    assert_eq!(info.summary().unwrap().cost_usd, None);
    assert_eq!(f.calls()[0].cost_usd, None);
}

#[tokio::test]
async fn streams_arrive_incrementally_with_usage_and_cost() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::chunks(
        ["Hello", " there", " from", " the", " stream"],
        Duration::ZERO,
        Duration::from_millis(60),
    ));
    let started = Instant::now();
    let call = f
        .engine
        .chat(streaming("gpt-4o-mini", "hi"), CallOptions::default())
        .await
        .unwrap();
    let CallBody::Stream(mut s) = call.body else {
        panic!("expected a stream")
    };
    let mut text = String::new();
    let mut first_at = None;
    let mut usage_chunks = 0;
    while let Some(item) = s.next().await {
        let chunk = item.unwrap();
        if chunk.usage.is_some() && chunk.choices.is_empty() {
            usage_chunks += 1;
        }
        for c in &chunk.choices {
            if let Some(t) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
                first_at.get_or_insert(started.elapsed());
                text.push_str(t);
            }
        }
    }
    let total = started.elapsed();
    assert_eq!(text, "Hello there from the stream");
    assert!(
        first_at.unwrap() < total / 2,
        "first chunk at {first_at:?} of {total:?}: the stream was buffered"
    );
    assert_eq!(usage_chunks, 0, "the client did not ask for usage");
    assert_eq!(
        f.fake.last_request().unwrap().body["stream_options"]["include_usage"],
        true
    );
    let s = call.info.summary().unwrap();
    assert!(
        s.usage.unwrap().completion_tokens > 0 && s.cost_usd.unwrap() > 0.0 && s.ttft_ms.is_some()
    );

    // Asking for usage keeps the usage chunk.
    let mut req = streaming("gpt-4o-mini", "again");
    req.stream_options = Some(StreamOptions {
        include_usage: Some(true),
    });
    let call = f.engine.chat(req, CallOptions::default()).await.unwrap();
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    let chunks: Vec<_> = s.collect().await;
    assert!(chunks.last().unwrap().as_ref().unwrap().usage.is_some());
    let calls = f.calls();
    assert!(
        calls.iter().all(|c| c.stream
            && c.success
            && c.ttft_ms.is_some()
            && c.completion_tokens.unwrap() > 0)
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: None,
        retry_after_ms: Some(30),
    });
    f.fake.push(Behavior::reply("ok now"));
    let started = Instant::now();
    let (text, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "hi"),
        CallOptions::default(),
    )
    .await;
    assert_eq!(text, "ok now");
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "Retry-After was honoured"
    );
    assert_eq!(info.retry_count, 1);
    assert_eq!(info.attempts.len(), 2);
    assert_eq!(info.attempts[0].status, 429);
    assert_eq!(f.fake.request_count(), 2);
}

#[tokio::test]
async fn server_errors_exhaust_retries_then_fall_back() {
    let f = Fixture::new().await;
    for _ in 0..3 {
        f.fake.push(Behavior::status(500, "boom"));
    }
    f.fake.push(Behavior::reply("from the backup"));
    let cfg = config(json!({
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 2},
        "targets": [
            {"virtual_key": "openai", "override_params": {"model": "gpt-4o"}},
            {"virtual_key": "backup", "override_params": {"model": "gpt-4o-mini"}}
        ]
    }));
    let (text, info) = complete_text(
        &f.engine,
        request("ignored", "hi"),
        CallOptions {
            config: cfg,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(text, "from the backup");
    assert_eq!(info.target_path.as_deref(), Some("1"));
    assert_eq!(info.key_name.as_deref(), Some("backup"));
    assert_eq!(
        info.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let models: Vec<String> = f
        .fake
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"]);
    f.engine.flush_logs();
    let detail = f.store.get_call(&info.trace_id).unwrap().unwrap();
    assert_eq!(detail.call.attempts.len(), 4, "every attempt is logged");
}

#[tokio::test]
async fn fallback_respects_on_status_codes_and_errors_summarise_attempts() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::status(400, "bad request body"));
    let cfg = config(json!({
        "strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
        "targets": [{"virtual_key": "openai"}, {"provider": "demo", "model": "demo/fast"}]
    }));
    let err = f
        .engine
        .chat(
            request("gpt-4o-mini", "hi"),
            CallOptions {
                config: cfg,
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 400);
    assert!(err.message.contains("bad request body"), "{}", err.message);
    assert_eq!(
        f.fake.request_count(),
        1,
        "400 is neither retried nor a fallback trigger here"
    );
    let calls = f.calls();
    assert_eq!((calls[0].status, calls[0].success), (400, false));
}

#[tokio::test]
async fn timeouts_are_retried_and_reported() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::hang(Duration::from_millis(800)));
    f.fake.push(Behavior::hang(Duration::from_millis(800)));
    let cfg =
        config(json!({"request_timeout": 150, "retry": {"attempts": 1}, "virtual_key": "openai"}));
    let err = f
        .engine
        .chat(
            request("gpt-4o-mini", "hi"),
            CallOptions {
                config: cfg,
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 504);
    assert!(
        err.message.contains("did not answer within 150 ms"),
        "{}",
        err.message
    );
    assert!(err.message.contains("after 2 attempts"), "{}", err.message);
}

#[tokio::test]
async fn a_stream_cut_midway_is_an_error_never_a_short_answer() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::DropMidStream { chunks_before: 2 });
    let call = f
        .engine
        .chat(
            streaming("gpt-4o-mini", "tell me a story"),
            CallOptions::default(),
        )
        .await
        .unwrap();
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    let items: Vec<_> = s.collect().await;
    assert!(items.iter().take(items.len() - 1).all(|i| i.is_ok()));
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(
        last.message.contains("ended before it was complete"),
        "{}",
        last.message
    );
    let calls = f.calls();
    assert!(!calls[0].success);
    assert_eq!(calls[0].status, 502);
}

#[tokio::test]
async fn a_stream_failing_before_its_first_token_falls_through() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::DropMidStream { chunks_before: 0 });
    let cfg = config(json!({
        "strategy": {"mode": "fallback"}, "retry": {"attempts": 0},
        "targets": [{"virtual_key": "openai"}, {"provider": "demo", "model": "demo/fast"}]
    }));
    let call = f
        .engine
        .chat(
            streaming("gpt-4o-mini", "hi"),
            CallOptions {
                config: cfg,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(call.info.provider.as_deref(), Some("demo"));
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    assert!(s.collect::<Vec<_>>().await.iter().all(|i| i.is_ok()));
}

#[tokio::test]
async fn a_stalled_stream_ends_with_an_idle_timeout() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::StallMidStream {
        chunks_before: 1,
        stall: Duration::from_millis(900),
    });
    let cfg = config(json!({"virtual_key": "openai", "stream_idle_timeout": 150}));
    let call = f
        .engine
        .chat(
            streaming("gpt-4o-mini", "hi"),
            CallOptions {
                config: cfg,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    let items: Vec<_> = s.collect().await;
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert!(
        err.message.contains("sent nothing for 150 ms"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn malformed_answers_fail_without_retry() {
    let f = Fixture::new().await;
    f.fake.push(Behavior::Malformed);
    let err = f
        .engine
        .chat(request("gpt-4o-mini", "hi"), CallOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 502);
    assert!(err.message.contains("could not read"), "{}", err.message);
    assert_eq!(f.fake.request_count(), 1);
}

#[tokio::test]
async fn a_wrong_key_is_401_and_not_retried() {
    let f = Fixture::new().await;
    f.store
        .add_key(
            &NewKey {
                name: "stale".into(),
                provider: "openai".into(),
                base_url: Some(format!("{}/v1", f.fake.base_url())),
                notes: None,
            },
            &SecretString::new("sk-wrong-0000000000000000000000".into()),
            &Actor::Cli,
        )
        .unwrap();
    let err = f
        .engine
        .chat(request("@stale/gpt-4o-mini", "hi"), CallOptions::default())
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 401);
    assert_eq!(f.fake.request_count(), 1);
}

#[tokio::test]
async fn loadbalance_follows_weights() {
    let f = Fixture::new().await;
    let cfg = config(json!({
        "strategy": {"mode": "loadbalance"},
        "targets": [
            {"provider": "demo", "model": "demo/fast", "weight": 0.75},
            {"provider": "demo", "model": "demo/fast", "weight": 0.25}
        ]
    }));
    let mut first = 0;
    let n = 400;
    for _ in 0..n {
        let (_, info) = complete_text(
            &f.engine,
            request("x", "hi"),
            CallOptions {
                config: cfg.clone(),
                ..Default::default()
            },
        )
        .await;
        if info.target_path.as_deref() == Some("0") {
            first += 1;
        }
    }
    let share = first as f64 / n as f64;
    assert!(
        (0.65..0.85).contains(&share),
        "share of the 0.75 target: {share}"
    );
}

#[tokio::test]
async fn nested_strategies_and_conditions() {
    let f = Fixture::new().await;
    f.fake.set_default(Behavior::status(503, "down"));
    let cfg = config(json!({
        "strategy": {"mode": "fallback"},
        "retry": {"attempts": 0},
        "targets": [
            {"strategy": {"mode": "loadbalance"}, "targets": [{"virtual_key": "openai"}, {"virtual_key": "backup"}]},
            {"strategy": {"mode": "conditional",
                          "conditions": [{"query": {"metadata.tier": {"$eq": "pro"}}, "then": "big"}],
                          "default": "small"},
             "targets": [{"name": "big", "provider": "demo", "model": "demo/large-fast"},
                         {"name": "small", "provider": "demo", "model": "demo/fast"}]}
        ]
    }));
    let pro = CallOptions {
        config: cfg.clone(),
        metadata: BTreeMap::from([("tier".into(), "pro".into())]),
        ..Default::default()
    };
    let (_, info) = complete_text(&f.engine, request("gpt-4o-mini", "hi"), pro).await;
    assert_eq!(info.target_path.as_deref(), Some("1.0"));
    assert_eq!(info.model, "demo/large-fast");
    let (_, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "hi"),
        CallOptions {
            config: cfg,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(info.target_path.as_deref(), Some("1.1"));
    assert_eq!(info.attempts[0].status, 503);
}

#[tokio::test]
async fn simple_cache_hits_cost_nothing_and_expire_and_refresh() {
    let f = Fixture::new().await;
    let cfg =
        config(json!({"cache": {"mode": "simple", "max_age": 3600}, "virtual_key": "openai"}));
    let opts = || CallOptions {
        config: cfg.clone(),
        ..Default::default()
    };
    let (a, info) = complete_text(&f.engine, request("gpt-4o-mini", "cache me"), opts()).await;
    assert_eq!(info.cache_status.as_str(), "MISS");
    let (b, info) = complete_text(&f.engine, request("gpt-4o-mini", "cache me"), opts()).await;
    assert_eq!(a, b);
    assert_eq!(info.cache_status.as_str(), "HIT");
    assert_eq!(info.summary().unwrap().cost_usd, Some(0.0));
    assert_eq!(
        f.fake.request_count(),
        1,
        "the hit did not reach the provider"
    );
    // A streamed request is served from the same entry, replayed as a stream.
    let call = f
        .engine
        .chat(streaming("gpt-4o-mini", "cache me"), opts())
        .await
        .unwrap();
    assert_eq!(call.info.cache_status.as_str(), "HIT");
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    let mut text = String::new();
    for item in s.collect::<Vec<_>>().await {
        for c in item.unwrap().choices {
            text.push_str(c.delta.content.as_deref().unwrap_or(""));
        }
    }
    assert_eq!(text, a);
    // Force refresh calls the provider again and stores the new answer.
    let (_, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "cache me"),
        CallOptions {
            force_refresh: true,
            ..opts()
        },
    )
    .await;
    assert_eq!(info.cache_status.as_str(), "REFRESH");
    assert_eq!(f.fake.request_count(), 2);
    // Expired entries are misses.
    let conn = rusqlite::Connection::open(f.store.db_path()).unwrap();
    conn.execute("UPDATE cache_entries SET expires_at = 0", [])
        .unwrap();
    let (_, info) = complete_text(&f.engine, request("gpt-4o-mini", "cache me"), opts()).await;
    assert_eq!(info.cache_status.as_str(), "MISS");
    assert_eq!(f.fake.request_count(), 3);
    // Errors are not cached.
    f.fake.push(Behavior::status(400, "nope"));
    assert!(
        f.engine
            .chat(request("gpt-4o-mini", "an error"), opts())
            .await
            .is_err()
    );
    f.fake.push(Behavior::reply("fine"));
    let (_, info) = complete_text(&f.engine, request("gpt-4o-mini", "an error"), opts()).await;
    assert_eq!(info.cache_status.as_str(), "MISS");
    let hits: Vec<_> = f
        .calls()
        .into_iter()
        .filter(|c| c.cache_status == CacheStatus::Hit)
        .collect();
    assert!(hits.iter().all(|c| c.cost_usd == Some(0.0)));
}

#[tokio::test]
async fn semantic_cache_matches_near_repeats_only() {
    let f = Fixture::new().await;
    let cfg =
        config(json!({"cache": {"mode": "semantic", "threshold": 0.9}, "virtual_key": "openai"}));
    let opts = || CallOptions {
        config: cfg.clone(),
        ..Default::default()
    };
    let (_, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "What is the capital of France?"),
        opts(),
    )
    .await;
    assert_eq!(info.cache_status.as_str(), "SEMANTIC MISS");
    let (_, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "what is the capital of france"),
        opts(),
    )
    .await;
    assert_eq!(info.cache_status.as_str(), "SEMANTIC HIT");
    let (_, info) = complete_text(
        &f.engine,
        request("gpt-4o-mini", "Write a poem about the sea"),
        opts(),
    )
    .await;
    assert_eq!(info.cache_status.as_str(), "SEMANTIC MISS");
    // Other fields must match exactly: a different temperature is a different partition.
    let mut req = request("gpt-4o-mini", "what is the capital of france");
    req.temperature = Some(1.5);
    let (_, info) = complete_text(&f.engine, req, opts()).await;
    assert_eq!(info.cache_status.as_str(), "SEMANTIC MISS");
    assert_eq!(f.fake.request_count(), 3);
}

#[tokio::test]
async fn logs_hold_no_secret_and_carry_metadata_and_trace() {
    let f = Fixture::new().await;
    let options = CallOptions {
        trace_id: Some("trace-from-client".into()),
        metadata: BTreeMap::from([
            ("_user".into(), "ada".into()),
            ("env".into(), "test".into()),
        ]),
        ..Default::default()
    };
    complete_text(&f.engine, request("gpt-4o-mini", "hi"), options).await;
    let calls = f.calls();
    assert_eq!(calls[0].trace_id, "trace-from-client");
    assert_eq!(calls[0].metadata["_user"], "ada");
    let tagged = f
        .store
        .list_calls(&LogFilter {
            tags: BTreeMap::from([("env".into(), "test".into())]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(tagged.len(), 1);
    drop(f.engine);
    let mut bytes = std::fs::read(f.store.db_path()).unwrap();
    bytes.extend(std::fs::read(f.store.db_path().with_extension("db-wal")).unwrap_or_default());
    assert!(
        !bytes
            .windows(OPENAI_KEY.len())
            .any(|w| w == OPENAI_KEY.as_bytes())
    );
    // Feedback attaches by trace id; unknown traces are refused.
    let fb = f
        .store
        .add_feedback("trace-from-client", 1, 0.5, BTreeMap::new())
        .unwrap();
    assert_eq!(fb.value, 1);
    assert!(
        f.store
            .add_feedback("no-such-trace", 1, 1.0, BTreeMap::new())
            .is_err()
    );
    assert!(
        f.store
            .add_feedback("trace-from-client", 11, 1.0, BTreeMap::new())
            .is_err()
    );
}

/// A one-message prompt for comparisons, `{{topic}}` filled per row.
fn compare_prompt(f: &Fixture) {
    use portolan::prompts::{Message, PromptContent, Role};
    f.store
        .create_prompt(
            "cmp",
            &PromptContent {
                messages: vec![Message::new(Role::User, "Say something about {{topic}}")],
                ..Default::default()
            },
            None,
            &Actor::Cli,
        )
        .unwrap();
}

fn compare_spec(rows: usize, concurrency: usize) -> portolan::compare::CompareSpec {
    portolan::compare::CompareSpec {
        prompt: "cmp".into(),
        selector: portolan::prompts::VersionSelector::Default,
        models: vec!["gpt-4o-mini".into()],
        variable_sets: (0..rows)
            .map(|i| {
                let mut m = serde_json::Map::new();
                m.insert("topic".into(), json!(format!("topic {i}")));
                m
            })
            .collect(),
        per_provider_concurrency: concurrency,
        metadata: BTreeMap::new(),
        tools: Default::default(),
        config: None,
        source: None,
    }
}

#[tokio::test]
async fn compare_backs_off_a_provider_that_answers_429_and_queues_the_cell_again() {
    use portolan::compare::CompareEvent;
    // The engine's own retries off, so the comparison's lane sees the 429 itself.
    let f = Fixture::with_settings(|s| s.retry_attempts = 0).await;
    compare_prompt(&f);
    f.fake.push(Behavior::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: None,
        retry_after_ms: Some(40),
    });
    f.fake.set_default(Behavior::reply("fine"));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let result = portolan::compare::run(&f.engine, compare_spec(6, 4), Some(tx))
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    assert!(
        result
            .cells
            .iter()
            .flatten()
            .all(|c| c.error.is_none() && c.output == "fine"),
        "every cell answered after the back-off: {:?}",
        result.cells
    );
    assert_eq!(f.fake.request_count(), 7, "six cells and one repeat");
    let throttles: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            CompareEvent::Throttled {
                cell,
                provider,
                limit,
                pause_ms,
            } => Some((*cell, provider.clone(), *limit, *pause_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(throttles.len(), 1, "{events:?}");
    let (cell, provider, limit, pause_ms) = &throttles[0];
    assert_eq!(provider, "openai");
    assert_eq!(*limit, 2, "the limit of 4 is halved");
    assert!(
        (1..=40).contains(pause_ms),
        "paused for retry-after-ms: {pause_ms}"
    );
    let starts = events
        .iter()
        .filter(|e| matches!(e, CompareEvent::Started { cell: c } if c == cell))
        .count();
    assert_eq!(starts, 2, "the throttled cell started again");
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "the repeat waited for the provider's retry-after-ms"
    );
    // Both attempts of the throttled cell are in the logs: the 429 and the answer.
    let calls = f.calls();
    assert_eq!(calls.len(), 7);
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 1);
}

#[tokio::test]
async fn compare_shows_a_cell_failed_after_repeated_429s() {
    use portolan::compare::CompareEvent;
    let f = Fixture::with_settings(|s| s.retry_attempts = 0).await;
    compare_prompt(&f);
    f.fake.set_default(Behavior::Status {
        status: 429,
        message: "quota exhausted".into(),
        retry_after: None,
        retry_after_ms: Some(5),
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let result = portolan::compare::run(&f.engine, compare_spec(1, 4), Some(tx))
        .await
        .unwrap();
    let cell = &result.cells[0][0];
    let error = cell.error.as_deref().expect("the cell failed");
    assert!(error.contains("quota exhausted"), "{error}");
    assert_eq!(f.fake.request_count(), 4, "one call and three repeats");
    let mut throttled = 0;
    while let Ok(e) = rx.try_recv() {
        throttled += usize::from(matches!(e, CompareEvent::Throttled { .. }));
    }
    // The last 429 ends the cell instead of queuing it again.
    assert_eq!(throttled, 3);
    assert_eq!(result.totals[0].errors, 1);
}

#[tokio::test]
async fn a_429_in_the_middle_of_a_tool_exchange_resumes_at_its_step() {
    use portolan::prompts::{Message, PromptContent, Role};
    let f = Fixture::with_settings(|s| s.retry_attempts = 0).await;
    let params = json!({"tools": [{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
    f.store
        .create_prompt(
            "cmp",
            &PromptContent {
                messages: vec![Message::new(Role::User, "Weather in {{topic}}?")],
                params: params.as_object().unwrap().clone(),
                ..Default::default()
            },
            None,
            &Actor::Cli,
        )
        .unwrap();
    f.fake
        .push(Behavior::tool_call("get_weather", json!({"city": "Oslo"})));
    f.fake.push(Behavior::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: None,
        retry_after_ms: Some(5),
    });
    f.fake.push(Behavior::reply("Sunny, 21 °C."));
    let mut spec = compare_spec(1, 1);
    spec.tools
        .parse_cli(r#"get_weather={"temp_c": 21}"#)
        .unwrap();
    let result = portolan::compare::run(&f.engine, spec, None).await.unwrap();
    let cell = &result.cells[0][0];
    assert!(cell.error.is_none(), "{cell:?}");
    assert_eq!(cell.output, "Sunny, 21 °C.");
    assert_eq!(
        cell.steps.len(),
        1,
        "the first step is not repeated: {cell:?}"
    );
    // The call, the 429, the same step again: three requests, not the whole cell twice.
    assert_eq!(f.fake.request_count(), 3);
    let requests = f.fake.requests();
    assert_eq!(requests[1].body["messages"], requests[2].body["messages"]);
    assert_eq!(requests[2].body["messages"][2]["role"], "tool");
    // All under the cell's one trace.
    let calls = f.calls();
    assert_eq!(calls.len(), 3);
    let trace = cell.trace_id.as_deref().unwrap();
    assert!(calls.iter().all(|c| c.trace_id == trace), "{calls:?}");
    assert!(cell.cost_usd.is_some());
}
