//! One test per attack on the gateway and the engine, each named after what it tries: a token
//! reaching past what it was granted, secrets leaving for hosts their owner did not choose,
//! budgets drifting under cuts and kills, files written outside a bundle. Fake providers on
//! 127.0.0.1 only.

use std::sync::Arc;
use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;
use portolan::Store;
use portolan::gateway::{self, GatewayConfig};
use portolan::logs::{CallRecord, LogFilter};
use portolan::routing::{Engine, EngineSettings};
use portolan::store::{Actor, BudgetUnit, Period, Subject, SubjectKind, TokenScopes};
use serde_json::{Value, json};

const KEY: &str = "sk-security-test-0123456789abcdefghijkl";

struct Gw {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    engine: Engine,
    fake: FakeServer,
    base: String,
    http: reqwest::Client,
    closer: gateway::Closer,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

fn quick() -> EngineSettings {
    EngineSettings {
        backoff_base_ms: 5,
        backoff_max_ms: 10,
        request_timeout_ms: 3000,
        ..Default::default()
    }
}

impl Gw {
    async fn start() -> Gw {
        Gw::start_with(quick()).await
    }

    async fn start_with(settings: EngineSettings) -> Gw {
        let (dir, store, fake) =
            crate::support::library_with_fake_openai(true, &["openai", "other"], KEY).await;
        let engine = Engine::with_settings(store.clone(), settings).unwrap();
        Gw::around(dir, store, fake, engine).await
    }

    async fn around(
        dir: tempfile::TempDir,
        store: Arc<Store>,
        fake: FakeServer,
        engine: Engine,
    ) -> Gw {
        let config = GatewayConfig {
            port: 0,
            ..Default::default()
        };
        let bound = gateway::bind(engine.clone(), &config).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let closer = bound.closer();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(bound.serve(async {
            let _ = rx.await;
        }));
        Gw {
            dir,
            store,
            engine,
            fake,
            base: format!("http://127.0.0.1:{}", addr.port()),
            http: reqwest::Client::new(),
            closer,
            _shutdown: tx,
        }
    }

    fn token(&self, name: &str, scopes: TokenScopes) -> (String, Subject) {
        let t = self
            .store
            .create_token_scoped(name, scopes, None, &Actor::Cli)
            .unwrap();
        let subject = Subject {
            kind: SubjectKind::Token,
            id: t.token.id.clone(),
            name: name.into(),
        };
        (t.secret, subject)
    }

    fn post(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
    }

    fn calls(&self) -> Vec<CallRecord> {
        self.engine.flush_logs();
        self.store
            .list_calls(&LogFilter {
                limit: Some(10_000),
                ..Default::default()
            })
            .unwrap()
    }
}

/// An HTTP client for a test that starts no engine (the engine installs the TLS provider).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Keys never leave for a host their owner did not choose.

#[tokio::test]
async fn custom_host_cannot_carry_a_stored_key_elsewhere() {
    let g = Gw::start().await;
    let attacker = FakeServer::start().await;
    let (token, _) = g.token(
        "narrow",
        TokenScopes {
            keys: vec!["openai".into()],
            models: vec!["gpt-4o-mini".into()],
            allow_custom_host: true,
            ..Default::default()
        },
    );
    let config =
        json!({"virtual_key": "openai", "custom_host": format!("{}/v1", attacker.base_url())});
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", config.to_string())
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 403, "{e}");
    assert!(message(&e).contains("a host it was not stored for"), "{e}");
    assert_eq!(
        attacker.request_count(),
        0,
        "the stored secret went to the attacker"
    );
    // Even the local user (no token) cannot send a stored key elsewhere.
    let err = g
        .engine
        .chat(
            serde_json::from_value(chat("gpt-4o-mini", "hi")).unwrap(),
            portolan::routing::CallOptions {
                config: Some(
                    portolan::routing::RouteConfig::from_json(&config.to_string()).unwrap(),
                ),
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 403);
    assert_eq!(attacker.request_count(), 0);
    // The key's own host is fine as a custom host.
    let own = json!({"virtual_key": "openai", "custom_host": format!("{}/v1", g.fake.base_url())});
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", own.to_string())
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn keyless_target_cannot_reach_arbitrary_hosts() {
    let g = Gw::start().await;
    let internal = FakeServer::start().await;
    let (token, _) = g.token(
        "demo-only",
        TokenScopes {
            keys: vec!["demo".into()],
            ..Default::default()
        },
    );
    let probe = json!({"provider": "openai-compatible", "custom_host": format!("{}/v1", internal.base_url())});
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", probe.to_string())
        .json(&chat("anything", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 403, "{e}");
    assert!(message(&e).contains("--allow-custom-host"), "{e}");
    assert_eq!(
        internal.request_count(),
        0,
        "the gateway became an HTTP client for the token"
    );
    // A token created for it may.
    let (allowed, _) = g.token(
        "custom",
        TokenScopes {
            allow_custom_host: true,
            ..Default::default()
        },
    );
    let r = g
        .post(&allowed, "/v1/chat/completions")
        .header("x-portkey-config", probe.to_string())
        .json(&chat("anything", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(internal.request_count(), 1);
}

#[tokio::test]
async fn upstream_error_bodies_are_scrubbed_before_they_are_returned_logged_or_stored() {
    let g = Gw::start().await;
    let (token, _) = g.token("t", TokenScopes::default());
    g.fake.push(Behavior::status(
        400,
        format!("Incorrect API key provided: {KEY}. Also seen: sk-ant-api03-abcdefghijklmnopqrstuv and Bearer pt_ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    ));
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 400);
    let text = e.to_string();
    assert!(text.contains("[REDACTED]"), "{text}");
    for leak in [KEY, "abcdefghijklmnopqrstuv", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] {
        assert!(!text.contains(leak), "the answer leaks {leak}: {text}");
    }
    let logged = serde_json::to_string(&g.calls()).unwrap();
    assert!(!logged.contains(KEY), "the log keeps the key");
    let db = std::fs::read(g.dir.path().join("portolan.db")).unwrap();
    let wal = std::fs::read(g.dir.path().join("portolan.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the database holds the key in the clear"
        );
    }
}

#[tokio::test]
async fn oversized_upstream_answers_are_refused_with_memory_bounded() {
    let g = Gw::start_with(EngineSettings {
        retry_attempts: 0,
        max_response_bytes: 64 * 1024,
        max_stream_event_bytes: 16 * 1024,
        max_stream_bytes: 256 * 1024,
        ..quick()
    })
    .await;
    let (token, _) = g.token("t", TokenScopes::default());
    // A complete answer larger than the limit.
    g.fake.push(Behavior::reply("x".repeat(200 * 1024)));
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 502, "{e}");
    assert!(message(&e).contains("larger than Portolan accepts"), "{e}");
    // One stream event larger than the limit (before the first token: the call fails).
    g.fake.push(Behavior::chunks(
        vec!["y".repeat(40 * 1024)],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let mut body = chat("gpt-4o-mini", "hi");
    body["stream"] = json!(true);
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 502, "{e}");
    assert!(message(&e).contains("a stream event larger"), "{e}");
    // A whole stream larger than the limit: it starts, then ends with an error event.
    let pieces: Vec<String> = (0..100).map(|_| "z".repeat(8 * 1024)).collect();
    g.fake
        .push(Behavior::chunks(pieces, Duration::ZERO, Duration::ZERO));
    let text = g
        .post(&token, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("a stream larger than"),
        "{}",
        &text[text.len().saturating_sub(400)..]
    );
    assert!(!text.contains("[DONE]"));
}

// ---------------------------------------------------------------------------------------------
// Scopes hold on every path.

#[tokio::test]
async fn scoped_token_gets_no_cached_answer_of_a_key_it_may_not_use() {
    let g = Gw::start().await;
    let (wide, _) = g.token("wide", TokenScopes::default());
    let (narrow, _) = g.token(
        "narrow",
        TokenScopes {
            keys: vec!["openai".into()],
            ..Default::default()
        },
    );
    let config = json!({"virtual_key": "other", "cache": {"mode": "simple"}}).to_string();
    let call = |t: &str| {
        g.post(t, "/v1/chat/completions")
            .header("x-portkey-config", config.clone())
            .json(&chat("gpt-4o-mini", "a cached question"))
    };
    let r = call(&wide).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = call(&wide).send().await.unwrap();
    assert_eq!(r.headers()["x-portkey-cache-status"], "HIT");
    let r = call(&narrow).send().await.unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(
        s, 403,
        "a token scoped to 'openai' got an answer made with 'other': {e}"
    );
}

#[tokio::test]
async fn prompt_only_token_cannot_send_raw_chat_through_override_params() {
    let g = Gw::start().await;
    let (token, _) = g.token(
        "prompt-only",
        TokenScopes {
            prompts: vec!["summarize".into()],
            ..Default::default()
        },
    );
    let config = json!({"override_params": {"messages": [{"role": "user", "content": "anything I like"}], "model": "demo/fast"}});
    let r = g
        .post(&token, "/v1/prompts/summarize/completions")
        .header("x-portkey-config", config.to_string())
        .json(&json!({"variables": {"text": "hello"}}))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 403, "{e}");
    assert!(message(&e).contains("override_params.messages"), "{e}");
}

#[tokio::test]
async fn embeddings_go_through_scopes_budgets_and_the_call_log() {
    let g = Gw::start().await;
    let body = |model: &str| json!({"model": model, "input": ["one", "two"]});
    let (narrow, _) = g.token(
        "narrow",
        TokenScopes {
            keys: vec!["openai".into()],
            ..Default::default()
        },
    );
    let r = g
        .post(&narrow, "/v1/embeddings")
        .json(&body("@other/text-embedding-3-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (prompt_only, _) = g.token(
        "prompt-only",
        TokenScopes {
            prompts: vec!["summarize".into()],
            ..Default::default()
        },
    );
    let r = g
        .post(&prompt_only, "/v1/embeddings")
        .json(&body("@openai/text-embedding-3-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (spent, subject) = g.token("budgeted", TokenScopes::default());
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let r = g
        .post(&spent, "/v1/embeddings")
        .json(&body("@openai/text-embedding-3-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let r = g
        .post(&narrow, "/v1/embeddings")
        .json(&body("@openai/text-embedding-3-small"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let trace = r.headers()["x-portkey-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let calls = g.calls();
    let logged = calls.iter().find(|c| c.trace_id == trace).expect("logged");
    assert_eq!(logged.status, 200);
    assert!(logged.prompt_tokens.unwrap() > 0);
    assert!(logged.cost_usd.is_some(), "priced from the table");
    assert_eq!(
        logged.metadata.get("_gateway_token").map(String::as_str),
        Some("narrow")
    );
    assert_eq!(
        calls.iter().filter(|c| c.status == 403).count(),
        2,
        "refusals are logged too"
    );
}

#[tokio::test]
async fn token_with_unreadable_scopes_is_refused_not_unrestricted() {
    let g = Gw::start().await;
    let (token, subject) = g.token(
        "scoped",
        TokenScopes {
            models: vec!["demo/*".into()],
            ..Default::default()
        },
    );
    let conn = rusqlite::Connection::open(g.dir.path().join("portolan.db")).unwrap();
    conn.execute(
        "UPDATE gateway_tokens SET scopes = '{\"models\": 42' WHERE id = ?1",
        [&subject.id],
    )
    .unwrap();
    drop(conn);
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 403, "{e}");
    assert!(message(&e).contains("cannot be read"), "{e}");
}

#[tokio::test]
async fn callers_cannot_set_portolans_own_metadata_keys() {
    let g = Gw::start().await;
    let (token, _) = g.token("t", TokenScopes::default());
    for key in ["_prompt", "_pii", "_gateway_token"] {
        let r = g
            .post(&token, "/v1/chat/completions")
            .header("x-portkey-metadata", json!({key: "forged"}).to_string())
            .json(&chat("demo/fast", "hi"))
            .send()
            .await
            .unwrap();
        let (s, e) = status_and_body(r).await;
        assert_eq!(s, 400, "{key}: {e}");
        assert!(message(&e).contains("reserved"), "{e}");
    }
    // Portkey's own `_user` stays the caller's.
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-metadata", json!({"_user": "ada"}).to_string())
        .json(&chat("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn one_request_cannot_fan_out_without_bound() {
    let g = Gw::start().await;
    let (token, _) = g.token("t", TokenScopes::default());
    let targets: Vec<Value> = (0..6)
        .map(|_| json!({"virtual_key": "openai", "retry": {"attempts": 5}}))
        .collect();
    let config = json!({"strategy": {"mode": "fallback"}, "targets": targets});
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", config.to_string())
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 400, "{e}");
    assert!(message(&e).contains("up to 36 upstream attempts"), "{e}");
    assert_eq!(
        g.fake.request_count(),
        0,
        "refused before anything was sent"
    );
}

// ---------------------------------------------------------------------------------------------
// Budgets are exact under cuts, disconnects and crashes.

#[tokio::test]
async fn reservation_covers_every_reachable_target() {
    let g = Gw::start().await;
    let (token, subject) = g.token("budgeted", TokenScopes::default());
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Usd,
            0.01,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    // A fallback to a model with no known price: its cost cannot be bounded.
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"virtual_key": "openai"},
        {"virtual_key": "openai", "override_params": {"model": "no-such-model-anywhere"}}
    ]});
    let mut body = chat("gpt-4o-mini", "hi");
    body["max_tokens"] = json!(10);
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", config.to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 412, "{e}");
    assert!(message(&e).contains("price is unknown"), "{e}");
    // A target that raises max_tokens raises the reservation with it.
    let config = json!({"strategy": {"mode": "fallback"}, "targets": [
        {"virtual_key": "openai"},
        {"virtual_key": "openai", "override_params": {"model": "gpt-4o", "max_tokens": 100000}}
    ]});
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", config.to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 412, "{e}");
    assert_eq!(g.fake.request_count(), 0);
    // The same call without the expensive fallback fits.
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_stream_cut_before_its_usage_is_charged_for_what_was_sent() {
    let g = Gw::start_with(EngineSettings {
        retry_attempts: 0,
        ..quick()
    })
    .await;
    let (token, subject) = g.token("budgeted", TokenScopes::default());
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1_000_000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    g.fake.push(Behavior::DropMidStream { chunks_before: 3 });
    let mut body = chat("gpt-4o-mini", "tell me a long story please");
    body["stream"] = json!(true);
    let text = g
        .post(&token, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("error"), "{text}");
    assert!(g.engine.wait_idle(Duration::from_secs(5)).await);
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, chrono::Utc::now())
        .unwrap()
        .unwrap();
    assert!(b.spent > 0.0, "a cut stream was charged nothing");
    assert_eq!(b.reserved, 0.0);
    let calls = g.calls();
    assert_eq!(calls[0].prompt_tokens.map(|t| t > 0), Some(true));
    assert!(calls[0].cost_usd.unwrap() > 0.0);
}

#[tokio::test]
async fn a_client_that_disconnects_is_settled_and_logged_as_499() {
    let g = Gw::start().await;
    let (token, subject) = g.token("budgeted", TokenScopes::default());
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1_000_000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    g.fake.push(Behavior::reply_after(
        "a slow answer",
        Duration::from_millis(400),
    ));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = impatient
        .post(format!("{}/v1/chat/completions", g.base))
        .bearer_auth(&token)
        .json(&chat("gpt-4o-mini", "hi"))
        .send()
        .await;
    assert!(err.is_err(), "the client should have given up");
    // The call goes on without its client; wait for it to finish (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let logged = loop {
        if let Some(c) = g.calls().into_iter().next() {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "never logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(logged.status, 499, "{:?}", logged.error);
    assert!(logged.cost_usd.unwrap() > 0.0);
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, chrono::Utc::now())
        .unwrap()
        .unwrap();
    assert!(b.spent > 0.0);
    assert_eq!(b.reserved, 0.0);
}

#[tokio::test]
async fn expired_leases_are_charged_and_released() {
    let g = Gw::start().await;
    let (_, subject) = g.token("t", TokenScopes::default());
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1000.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let now = chrono::Utc::now();
    let r = g
        .store
        .reserve(
            std::slice::from_ref(&subject),
            None,
            300,
            now,
            Duration::from_secs(60),
        )
        .unwrap()
        .unwrap();
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, now)
        .unwrap()
        .unwrap();
    assert_eq!((b.reserved, b.spent), (300.0, 0.0));
    // Nothing expires early.
    assert_eq!(
        g.store.sweep_expired_leases(now, &Actor::System).unwrap(),
        0
    );
    // The process that held it "died": a minute later the sweep charges its estimate.
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(
        g.store.sweep_expired_leases(later, &Actor::System).unwrap(),
        1
    );
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, later)
        .unwrap()
        .unwrap();
    assert_eq!((b.reserved, b.spent), (0.0, 300.0));
    // A call that outlived its lease and settles after the sweep is corrected to what it used.
    g.store.settle(&r, None, 120, later, &Actor::Cli).unwrap();
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, later)
        .unwrap()
        .unwrap();
    assert_eq!((b.reserved, b.spent), (0.0, 120.0));
    assert_eq!(g.store.active_leases().unwrap(), 0);
}

/// 32 clients at once, a quarter of them walking away at random points, an upstream that cuts
/// some streams: every cent spent is a logged cost, nothing stays reserved, and the budget is
/// overspent by at most one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_with_cuts_and_disconnects_keep_the_budget_exact() {
    let g = Gw::start_with(EngineSettings {
        retry_attempts: 0,
        ..quick()
    })
    .await;
    let (token, subject) = g.token("budgeted", TokenScopes::default());
    let limit = 0.0015;
    g.store
        .set_budget(
            &subject,
            BudgetUnit::Usd,
            limit,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let words: Vec<String> = (0..12).map(|i| format!(" word{i}")).collect();
    for i in 0..400 {
        g.fake.push(if i % 5 == 0 {
            Behavior::DropMidStream { chunks_before: 2 }
        } else {
            Behavior::chunks(words.clone(), Duration::ZERO, Duration::from_millis(2))
        });
    }
    let base = g.base.clone();
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..32u64 {
        let (base, token) = (base.clone(), token.clone());
        clients.spawn(async move {
            let http = reqwest::Client::new();
            let leaves = c % 4 == 0;
            for n in 0..8u64 {
                let mut body = chat("gpt-4o-mini", "count some words for me");
                body["stream"] = json!(n % 2 == 0);
                body["max_tokens"] = json!(40);
                let Ok(r) = http
                    .post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                else {
                    continue;
                };
                if n % 2 == 1 {
                    let _ = r.bytes().await;
                    continue;
                }
                let mut s = r.bytes_stream();
                // A leaving client reads a few chunks (0..3, by its numbers) and drops the stream.
                let keep = if leaves { (c + n) % 4 } else { u64::MAX };
                let mut read = 0;
                while let Some(chunk) = s.next().await {
                    if chunk.is_err() {
                        break;
                    }
                    read += 1;
                    if read >= keep {
                        break;
                    }
                }
            }
        });
    }
    while clients.join_next().await.is_some() {}
    assert!(
        g.engine.wait_idle(Duration::from_secs(10)).await,
        "calls still running"
    );
    let calls: Vec<CallRecord> = g
        .calls()
        .into_iter()
        .filter(|c| c.metadata.get("_gateway_token").map(String::as_str) == Some("budgeted"))
        .collect();
    let logged: f64 = calls.iter().filter_map(|c| c.cost_usd).sum();
    let most: f64 = calls.iter().filter_map(|c| c.cost_usd).fold(0.0, f64::max);
    let b = g
        .store
        .budget(SubjectKind::Token, &subject.id, chrono::Utc::now())
        .unwrap()
        .unwrap();
    assert!(
        (b.spent - logged).abs() < 1e-9,
        "spent {} but the log says {logged}",
        b.spent
    );
    assert_eq!(b.reserved, 0.0);
    assert_eq!(g.store.active_leases().unwrap(), 0);
    assert!(
        b.spent <= limit + most + 1e-12,
        "overspent: {} of {limit}",
        b.spent
    );
    assert!(calls.iter().any(|c| c.status == 412), "the budget ran out");
    assert!(calls.iter().any(|c| c.status == 499), "some clients left");
    eprintln!(
        "32 clients: {} calls logged, spent ${:.6} of ${limit} (largest call ${most:.6}), {} refused, {} left early",
        calls.len(),
        b.spent,
        calls.iter().filter(|c| c.status == 412).count(),
        calls.iter().filter(|c| c.status == 499).count()
    );
}

// ---------------------------------------------------------------------------------------------
// Policy cannot be lowered by a request.

#[tokio::test]
async fn a_request_cannot_lower_the_pii_guardrail() {
    let g = Gw::start_with(EngineSettings {
        pii: portolan::guardrails::PiiAction::Deny,
        ..quick()
    })
    .await;
    let (token, _) = g.token("t", TokenScopes::default());
    let off = json!({"input_guardrails": [{"type": "pii", "action": "off"}]}).to_string();
    let r = g
        .post(&token, "/v1/chat/completions")
        .header("x-portkey-config", off.clone())
        .json(&chat("demo/fast", "mail ada@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 446);
    let (allowed, _) = g.token(
        "override",
        TokenScopes {
            allow_guardrail_override: true,
            ..Default::default()
        },
    );
    let r = g
        .post(&allowed, "/v1/chat/completions")
        .header("x-portkey-config", off)
        .json(&chat("demo/fast", "mail ada@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn settings_changed_elsewhere_reach_a_running_gateway() {
    let (dir, store, fake) = crate::support::library_with_fake_openai(true, &["openai"], KEY).await;
    let engine = Engine::new(store.clone()).unwrap();
    let g = Gw::around(dir, store, fake, engine).await;
    let (token, _) = g.token("t", TokenScopes::default());
    let call = || {
        g.post(&token, "/v1/chat/completions")
            .json(&chat("demo/fast", "mail ada@example.com"))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    // `portolan settings pii deny` from another process.
    let other = Store::open_with(
        g.dir.path(),
        portolan::StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: Some("ab".repeat(32)),
        },
    )
    .unwrap();
    let mut s = EngineSettings::load(&other).unwrap();
    s.pii = portolan::guardrails::PiiAction::Deny;
    s.save(&other, &Actor::Cli).unwrap();
    let changed = std::time::Instant::now();
    loop {
        if call().await.unwrap().status() == 446 {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(3),
            "the gateway kept the old settings"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "the new PII setting took effect after {} ms",
        changed.elapsed().as_millis()
    );
    assert!(changed.elapsed() < Duration::from_millis(1500));
}

// ---------------------------------------------------------------------------------------------
// Shutdown and durability.

#[tokio::test]
async fn open_streams_end_with_an_error_event_when_the_drain_deadline_passes() {
    let g = Gw::start().await;
    let (token, _) = g.token("t", TokenScopes::default());
    g.fake.push(Behavior::chunks(
        vec!["first", " never"],
        Duration::ZERO,
        Duration::from_secs(30),
    ));
    let mut body = chat("gpt-4o-mini", "hi");
    body["stream"] = json!(true);
    let r = g
        .post(&token, "/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut s = r.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("first") {
        let b = s.next().await.expect("the stream ended early").unwrap();
        seen.push_str(&String::from_utf8_lossy(&b));
    }
    g.closer.close();
    let mut rest = String::new();
    while let Some(Ok(b)) = s.next().await {
        rest.push_str(&String::from_utf8_lossy(&b));
    }
    assert!(rest.contains("gateway_shutdown"), "{rest}");
    assert!(!rest.contains("[DONE]"));
    assert!(g.engine.wait_idle(Duration::from_secs(5)).await);
    let logged = &g.calls()[0];
    assert_eq!(logged.status, 499, "{:?}", logged.error);
}

#[test]
fn sigterm_finishes_calls_in_flight_then_exits() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeServer::start());
    fake.push(Behavior::reply_after(
        "finished anyway",
        Duration::from_millis(300),
    ));
    let env = crate::support::Env::empty();
    env.ok_with_stdin(
        &[
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
            "--base-url",
            &format!("{}/v1", fake.base_url()),
        ],
        KEY,
    );
    let token = env
        .ok(&["tokens", "create", "t"])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut child = env
        .command(&["serve", "--port", "0", "--drain-timeout", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.rsplit(' ').next().unwrap().to_owned();
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id();
    let call = rt.spawn(async move {
        client()
            .post(format!("{base}/chat/completions"))
            .bearer_auth(token)
            .json(&chat("gpt-4o-mini", "hi"))
            .send()
            .await
            .unwrap()
            .status()
    });
    // Signal once the call is in flight upstream.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.request_count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never reached the upstream"
        );
        std::thread::yield_now();
    }
    // SAFETY: kill(2) on the gateway child's own pid.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    assert_eq!(
        rt.block_on(call).unwrap(),
        200,
        "the call in flight was cut"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let logs = env.json(&["logs", "--json"]);
    assert_eq!(
        logs[0]["status"], 200,
        "the call was logged before the exit: {logs}"
    );
}

#[test]
fn kill_9_loses_no_committed_version_and_no_reservation() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let env = crate::support::Env::empty();
    let file = env.write_str(
        "p.prompt.md",
        &crate::support::prompt_file("p", "v0", "{{x}}"),
    );
    env.ok(&["prompts", "create", "p", "--file", &file]);
    let dir = env.home().to_path_buf();
    // A writer saving version after version, each confirmed on stdout once committed; killed
    // (the whole process group, the portolan process mid-write included) after a while.
    let script = r#"i=0; while [ $i -lt 400 ]; do i=$((i+1)); printf -- '---\nname: p\nmodel:\n  id: gpt-4o-mini\n---\nsystem:\nv%s\n\nuser:\n{{x}}\n' $i > "$F"; "$BIN" prompts save p --file "$F" >/dev/null && echo "saved $i"; done"#;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BIN", env!("CARGO_BIN_EXE_portolan"))
        .env("F", dir.join("draft.prompt.md"))
        .env("PORTOLAN_HOME", &dir)
        .env("PORTOLAN_KEYRING", "0")
        .env("PORTOLAN_SEED", "0")
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut confirmed = 0u32;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        confirmed = line.unwrap().trim_start_matches("saved ").parse().unwrap();
        if confirmed >= 25 {
            break;
        }
    }
    let group = child.id() as i32;
    assert!(group > 1, "a process group of its own");
    // SAFETY: kill(2) on the child's own process group (made with process_group(0)); no memory
    // is shared.
    let killed = unsafe { libc::kill(-group, libc::SIGKILL) };
    assert_eq!(killed, 0, "could not kill the writer's process group");
    let _ = child.wait();
    let versions = env.json(&["prompts", "versions", "p", "--json"]);
    let latest = versions.as_array().unwrap().len() as u32;
    assert!(
        latest > confirmed,
        "confirmed {confirmed} saves but only {latest} versions survived"
    );
    let conn = rusqlite::Connection::open(dir.join("portolan.db")).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn a_reservation_held_by_a_killed_gateway_is_released_after_restart() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeServer::start());
    fake.push(Behavior::hang(Duration::from_secs(20)));
    let env = crate::support::Env::empty();
    env.ok_with_stdin(
        &[
            "keys",
            "add",
            "openai",
            "--provider",
            "openai",
            "--base-url",
            &format!("{}/v1", fake.base_url()),
        ],
        KEY,
    );
    env.ok(&["tokens", "create", "t"]);
    let token = env
        .ok(&["tokens", "create", "spender"])
        .lines()
        .last()
        .unwrap()
        .to_owned();
    env.ok(&["tokens", "budget", "spender", "--tokens", "100000"]);
    let mut child = env
        .command(&["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .next()
        .unwrap()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    std::thread::spawn(move || for _ in lines {});
    let _call = rt.spawn(async move {
        let _ = client()
            .post(format!("{base}/chat/completions"))
            .bearer_auth(token)
            .json(&chat("gpt-4o-mini", "hi"))
            .send()
            .await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fake.request_count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the call never reached the upstream"
        );
        std::thread::yield_now();
    }
    // SAFETY: kill(2) on the gateway child's own pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let _ = child.wait();
    let store = Store::open_with(
        env.home(),
        portolan::StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: None,
        },
    )
    .unwrap();
    let t = store
        .list_tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.name == "spender")
        .unwrap();
    let now = chrono::Utc::now();
    let held = store
        .budget(SubjectKind::Token, &t.id, now)
        .unwrap()
        .unwrap();
    assert!(
        held.reserved > 0.0,
        "the killed call's reservation is held until its lease ends"
    );
    assert_eq!(store.active_leases().unwrap(), 1);
    // When the lease has run out (the default 15 minutes, seen from the future), the next start
    // or sweep charges the estimate and releases it.
    let later = now + chrono::Duration::seconds(901);
    assert_eq!(
        store.sweep_expired_leases(later, &Actor::System).unwrap(),
        1
    );
    let b = store
        .budget(SubjectKind::Token, &t.id, later)
        .unwrap()
        .unwrap();
    assert_eq!(b.reserved, 0.0);
    assert_eq!(b.spent, held.reserved);
}

#[test]
fn data_directory_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("home");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = crate::support::Env::empty();
    let out = env
        .command(&["keys", "add", "k", "--provider", "openai"])
        .env("PORTOLAN_HOME", &dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(KEY.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(out.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "an existing data directory is tightened");
    for name in ["portolan.db", "master.key"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    for name in ["portolan.db-wal", "portolan.db-shm"] {
        let p = dir.join(name);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bundles cannot touch files outside the bundle.

#[test]
fn bundle_export_never_writes_or_deletes_outside_its_folder() {
    let env = crate::support::Env::new();
    let root = tempfile::tempdir().unwrap();
    let bundle = root.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let victim = root.path().join("victim.prompt.md");
    std::fs::write(&victim, "precious").unwrap();
    // A manifest that names files outside the folder for prompts that no longer exist.
    std::fs::write(
        bundle.join("portolan.toml"),
        format!(
            "format_version = 1\n\n[prompts.gone]\nid = \"pr_gone\"\nfile = \"../victim.prompt.md\"\nversion = 1\nsha256 = \"x\"\n\n[prompts.abs]\nid = \"pr_abs\"\nfile = \"{}\"\nversion = 1\nsha256 = \"x\"\n",
            victim.display()
        ),
    )
    .unwrap();
    env.ok(&["bundle", "export", bundle.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    // A symlink where a prompt's file goes is not written through.
    let outside = root.path().join("outside.txt");
    std::fs::write(&outside, "untouched").unwrap();
    let link = bundle.join("summarize.prompt.md");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let err = env.fails(&["bundle", "export", bundle.to_str().unwrap()]);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
}

#[test]
fn bundle_import_does_not_follow_symlinks_out_of_the_bundle() {
    let env = crate::support::Env::empty();
    let root = tempfile::tempdir().unwrap();
    let secret = root.path().join("secret.prompt.md");
    std::fs::write(
        &secret,
        crate::support::prompt_file("stolen", "private text", "{{x}}"),
    )
    .unwrap();
    let bundle = root.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::fs::write(
        bundle.join("fine.prompt.md"),
        crate::support::prompt_file("fine", "ok", "{{x}}"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, bundle.join("stolen.prompt.md")).unwrap();
    let err = env.fails(&["bundle", "import", bundle.to_str().unwrap()]);
    assert!(err.contains("symbolic link"), "{err}");
    assert!(!env.ok(&["prompts", "list"]).contains("stolen"));
}

// ---------------------------------------------------------------------------------------------
// Also.

#[test]
fn secrets_are_not_printed_by_debug() {
    let config = portolan::routing::RouteConfig::from_json(
        &json!({"api_key": "sk-debug-0123456789abcdefghijkl", "provider": "openai"}).to_string(),
    )
    .unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    let secret = portolan::secrets::SecretString::new("sk-debug-0123456789abcdefghijkl".into());
    assert!(!format!("{secret:?}").contains("0123456789"));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        portolan::StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: Some("ab".repeat(32)),
        },
    )
    .unwrap();
    let t = store.create_token("t", &Actor::Cli).unwrap();
    assert!(!format!("{t:?}").contains(&t.secret));
}

#[tokio::test]
async fn internal_errors_are_not_shown_to_token_holders() {
    let g = Gw::start().await;
    let (token, _) = g.token("t", TokenScopes::default());
    let conn = rusqlite::Connection::open(g.dir.path().join("portolan.db")).unwrap();
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF; DROP TABLE prompt_labels; DROP TABLE prompt_versions; DROP TABLE prompts;",
    )
    .unwrap();
    drop(conn);
    let r = g
        .http
        .get(format!("{}/v1/prompts", g.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (s, e) = status_and_body(r).await;
    assert_eq!(s, 500);
    let m = message(&e);
    assert!(m.contains("internal error (err_"), "{m}");
    let dir = g.dir.path().display().to_string();
    for leak in ["no such table", "SELECT", dir.as_str()] {
        assert!(!m.contains(leak), "the answer shows {leak}: {m}");
    }
}
