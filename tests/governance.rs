//! Governance: budgets under concurrency, periodic resets, rate limits, scoped tokens over real
//! HTTP, PII redaction as the provider sees it, and the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use fake_providers::{Behavior, FakeServer};
use portolan::chat::{ChatMessage, ChatRequest};
use portolan::gateway::{self, GatewayConfig};
use portolan::keys::NewKey;
use portolan::logs::LogFilter;
use portolan::routing::{CallBody, CallOptions, Engine, EngineSettings, RouteConfig};
use portolan::secrets::SecretString;
use portolan::store::Actor;
use portolan::store::{
    BudgetUnit, Period, RateUnit, Refusal, Subject, SubjectKind, TokenScopes, Window,
};
use portolan::{Store, StoreOptions};
use serde_json::{Value, json};

const KEY: &str = "sk-governance-test-0123456789abcdefghij";

struct Fx {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    engine: Engine,
    fake: FakeServer,
}

async fn fixture(settings: EngineSettings) -> Fx {
    let (dir, store, fake) = crate::support::library_with_fake_openai(true, &["openai"], KEY).await;
    let engine = Engine::with_settings(
        store.clone(),
        EngineSettings {
            backoff_base_ms: 5,
            ..settings
        },
    )
    .unwrap();
    Fx {
        _dir: dir,
        store,
        engine,
        fake,
    }
}

fn key_subject(store: &Store) -> Subject {
    let k = store.get_key("openai").unwrap();
    Subject {
        kind: SubjectKind::Key,
        id: k.id,
        name: k.name,
    }
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![ChatMessage::new("user", text)],
        max_tokens: Some(50),
        ..Default::default()
    }
}

#[tokio::test]
async fn concurrent_calls_cannot_overspend_a_budget() {
    let f = fixture(EngineSettings::default()).await;
    f.fake.set_default(Behavior::reply_after(
        "a fairly short answer of a few words",
        Duration::from_millis(40),
    ));
    // Each call reserves its worst case: ~8 prompt tokens + 50 completion tokens of gpt-4o-mini.
    let one_call_max = 60.0 * 0.6 / 1e6;
    let limit = one_call_max * 5.5;
    f.store
        .set_budget(
            &key_subject(&f.store),
            BudgetUnit::Usd,
            limit,
            Period::None,
            Some(0.1),
            &Actor::Cli,
        )
        .unwrap();
    let mut alerts = f.engine.budget_alerts();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let engine = f.engine.clone();
        tasks.push(tokio::spawn(async move {
            engine
                .chat(request(&format!("question {i}")), CallOptions::default())
                .await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.status(), 412, "{}", e.message);
                assert!(
                    e.message.contains("virtual key 'openai'") && e.message.contains("exhausted"),
                    "{}",
                    e.message
                );
                refused += 1;
            }
        }
    }
    let b = f
        .store
        .budget(SubjectKind::Key, &key_subject(&f.store).id, Utc::now())
        .unwrap()
        .unwrap();
    assert!(ok >= 1 && refused >= 1, "ok {ok}, refused {refused}");
    assert_eq!(b.reserved, 0.0, "every reservation settled");
    assert!(
        b.spent <= limit + one_call_max,
        "spent {} of {limit}",
        b.spent
    );
    assert_eq!(
        f.fake.request_count(),
        ok,
        "refused calls never reached the provider"
    );
    // Crossing the alert threshold is audited.
    assert!(
        f.store
            .audit_entries(100)
            .unwrap()
            .iter()
            .any(|e| e.action == "budget.alert")
    );
    // …and reaches subscribers (the app's notification) exactly once for the period.
    let alert = alerts.try_recv().expect("one budget alert");
    assert_eq!(alert.subject.name, "openai");
    let text = alert.message();
    assert!(
        text.starts_with("virtual key 'openai' has used") && text.contains(" of $"),
        "{text}"
    );
    assert!(
        alerts.try_recv().is_err(),
        "a budget alerts once per period"
    );
}

#[tokio::test]
async fn an_exhausted_key_falls_back_to_another_target() {
    let f = fixture(EngineSettings::default()).await;
    f.store
        .set_budget(
            &key_subject(&f.store),
            BudgetUnit::Tokens,
            10.0,
            Period::Daily,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let cfg = RouteConfig::from_json(
        &json!({"strategy": {"mode": "fallback"}, "targets": [{"virtual_key": "openai"}, {"provider": "demo", "model": "demo/fast"}]}).to_string(),
    )
    .unwrap();
    let call = f
        .engine
        .chat(
            request("hello"),
            CallOptions {
                config: Some(cfg),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(call.info.provider.as_deref(), Some("demo"));
    assert_eq!(call.info.attempts[0].status, 412);
    assert_eq!(f.fake.request_count(), 0);
}

#[test]
fn budgets_reset_at_the_period_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: Some("56".repeat(32)),
        },
    )
    .unwrap();
    let subject = Subject {
        kind: SubjectKind::Token,
        id: "tok_x".into(),
        name: "ci".into(),
    };
    store
        .set_budget(
            &subject,
            BudgetUnit::Tokens,
            1000.0,
            Period::Monthly,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let jan31 = Utc.with_ymd_and_hms(2027, 1, 31, 23, 59, 0).unwrap();
    let r = store
        .reserve(
            std::slice::from_ref(&subject),
            None,
            900,
            jan31,
            std::time::Duration::from_secs(900),
        )
        .unwrap()
        .unwrap();
    store.settle(&r, None, 900, jan31, &Actor::Cli).unwrap();
    match store
        .reserve(
            std::slice::from_ref(&subject),
            None,
            200,
            jan31,
            std::time::Duration::from_secs(900),
        )
        .unwrap()
    {
        Err(Refusal::Budget { message }) => assert!(
            message.contains(
                "monthly budget of gateway token 'ci' is exhausted: 900 tokens of 1000 tokens"
            ),
            "{message}"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let feb1 = Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 1).unwrap();
    assert_eq!(
        store
            .budget(SubjectKind::Token, "tok_x", feb1)
            .unwrap()
            .unwrap()
            .spent,
        0.0
    );
    let r = store
        .reserve(
            std::slice::from_ref(&subject),
            None,
            200,
            feb1,
            std::time::Duration::from_secs(900),
        )
        .unwrap()
        .unwrap();
    store.settle(&r, None, 150, feb1, &Actor::Cli).unwrap();
    assert_eq!(
        store
            .budget(SubjectKind::Token, "tok_x", feb1)
            .unwrap()
            .unwrap()
            .spent,
        150.0
    );
}

#[test]
fn rate_limit_windows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            seed_samples: false,
            use_keyring: false,
            master_key: Some("78".repeat(32)),
        },
    )
    .unwrap();
    let subject = Subject {
        kind: SubjectKind::Key,
        id: "vk_x".into(),
        name: "k".into(),
    };
    store
        .set_rate_limit(&subject, RateUnit::Requests, Window::Minute, 2, &Actor::Cli)
        .unwrap();
    store
        .set_rate_limit(&subject, RateUnit::Tokens, Window::Hour, 1000, &Actor::Cli)
        .unwrap();
    let t0 = Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 10).unwrap();
    for _ in 0..2 {
        let r = store
            .reserve(
                std::slice::from_ref(&subject),
                None,
                100,
                t0,
                std::time::Duration::from_secs(900),
            )
            .unwrap()
            .unwrap();
        store.settle(&r, None, 50, t0, &Actor::Cli).unwrap();
    }
    match store
        .reserve(
            std::slice::from_ref(&subject),
            None,
            100,
            t0,
            std::time::Duration::from_secs(900),
        )
        .unwrap()
    {
        Err(Refusal::Rate {
            message,
            retry_after_secs,
        }) => {
            assert_eq!(retry_after_secs, 50);
            assert!(
                message.contains("rate limit of 2 requests per minute"),
                "{message}"
            );
        }
        other => panic!("expected a rate refusal, got {other:?}"),
    }
    // The next minute is a new window; tokens settled to actual use (2 × 50).
    let t1 = t0 + chrono::Duration::seconds(55);
    assert!(
        store
            .reserve(
                std::slice::from_ref(&subject),
                None,
                100,
                t1,
                std::time::Duration::from_secs(900)
            )
            .unwrap()
            .is_ok()
    );
    let tokens = store.rate_limits(SubjectKind::Key, "vk_x", t1).unwrap();
    let hourly = tokens.iter().find(|l| l.unit == RateUnit::Tokens).unwrap();
    assert_eq!(hourly.used, 200);
    // Tokens per hour run out across minutes.
    assert!(matches!(
        store
            .reserve(
                std::slice::from_ref(&subject),
                None,
                900,
                t1,
                std::time::Duration::from_secs(900)
            )
            .unwrap(),
        Err(Refusal::Rate { .. })
    ));
}

#[tokio::test]
async fn pii_is_redacted_before_it_leaves_and_restored_in_the_answer() {
    let f = fixture(EngineSettings {
        pii: portolan::guardrails::PiiAction::Redact,
        pii_restore: true,
        ..Default::default()
    })
    .await;
    f.fake.push(Behavior::reply(
        "I will write to [EMAIL_1] about card [CREDIT_CARD_1].",
    ));
    let text =
        "Email ada@example.com, card 4111 1111 1111 1111, order 4111111111111112, IP 10.1.2.3";
    let call = f
        .engine
        .chat(request(text), CallOptions::default())
        .await
        .unwrap();
    let sent = f.fake.last_request().unwrap().body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sent,
        "Email [EMAIL_1], card [CREDIT_CARD_1], order 4111111111111112, IP [IP_ADDRESS_1]"
    );
    let CallBody::Complete(resp) = call.body else {
        panic!()
    };
    assert_eq!(
        resp.text(),
        "I will write to ada@example.com about card 4111 1111 1111 1111."
    );
    f.engine.flush_logs();
    let logged = f.store.list_calls(&LogFilter::default()).unwrap().remove(0);
    assert!(
        !logged
            .request
            .as_deref()
            .unwrap()
            .contains("ada@example.com")
    );
    assert!(
        !logged
            .response
            .as_deref()
            .unwrap()
            .contains("ada@example.com"),
        "the log keeps the placeholder answer"
    );
    assert_eq!(
        logged.metadata["_pii"],
        "email:1,credit_card:1,ip_address:1"
    );
    // Streams are restored too, even when a placeholder is split across chunks.
    f.fake.push(Behavior::chunks(
        ["Sent to [EMA", "IL_1", "] now"],
        Duration::ZERO,
        Duration::from_millis(5),
    ));
    let mut req = request("mail ada@example.com");
    req.stream = Some(true);
    let call = f.engine.chat(req, CallOptions::default()).await.unwrap();
    let CallBody::Stream(s) = call.body else {
        panic!()
    };
    let mut out = String::new();
    for item in futures_util::StreamExt::collect::<Vec<_>>(s).await {
        for c in item.unwrap().choices {
            out.push_str(c.delta.content.as_deref().unwrap_or(""));
        }
    }
    assert_eq!(out, "Sent to ada@example.com now");
}

#[tokio::test]
async fn pii_deny_and_detect() {
    let f = fixture(EngineSettings::default()).await;
    let deny = RouteConfig::from_json(
        &json!({"input_guardrails": [{"type": "pii", "action": "deny", "types": ["ssn", "iban"]}]})
            .to_string(),
    )
    .unwrap();
    let err = f
        .engine
        .chat(
            request("my ssn is 123-45-6789"),
            CallOptions {
                config: Some(deny.clone()),
                ..Default::default()
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), 446);
    assert!(
        err.message.contains("personal data (ssn ×1)"),
        "{}",
        err.message
    );
    assert_eq!(f.fake.request_count(), 0);
    // Not an SSN (area 000): allowed.
    f.engine
        .chat(
            request("ticket 000-12-3456"),
            CallOptions {
                config: Some(deny),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let detect = RouteConfig::from_json(
        &json!({"input_guardrails": [{"type": "pii", "action": "detect"}]}).to_string(),
    )
    .unwrap();
    f.engine
        .chat(
            request("call me at +1 415 555 0100"),
            CallOptions {
                config: Some(detect),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let sent = f.fake.last_request().unwrap().body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sent.contains("+1 415 555 0100"),
        "detect sends the original"
    );
    f.engine.flush_logs();
    let logged = f.store.list_calls(&LogFilter::default()).unwrap();
    assert!(
        logged
            .iter()
            .all(|c| !c.request.as_deref().unwrap_or("").contains("555 0100")),
        "logs never keep the original"
    );
    assert!(
        logged
            .iter()
            .any(|c| c.metadata.get("_pii").map(String::as_str) == Some("phone:1"))
    );
    assert!(logged.iter().any(|c| c.status == 446));
    let bad = RouteConfig::from_json(
        &json!({"input_guardrails": [{"type": "pii", "action": "redact", "custom": ["("]}]})
            .to_string(),
    );
    assert!(bad.is_err());
}

struct Gw {
    f: Fx,
    base: String,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn gateway_fixture() -> Gw {
    let f = fixture(EngineSettings::default()).await;
    let bound = gateway::bind(
        f.engine.clone(),
        &GatewayConfig {
            port: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", bound.local_addr().unwrap().port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.serve(async {
        let _ = rx.await;
    }));
    Gw {
        f,
        base,
        http: reqwest::Client::new(),
        _stop: tx,
    }
}

impl Gw {
    fn token(&self, name: &str, scopes: TokenScopes) -> String {
        self.f
            .store
            .create_token_scoped(name, scopes, None, &Actor::Cli)
            .unwrap()
            .secret
    }
    async fn post(
        &self,
        token: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }
}

#[tokio::test]
async fn token_scopes_over_http() {
    let g = gateway_fixture().await;
    let chat = json!({"model": "demo/fast", "messages": [{"role": "user", "content": "hi"}]});
    let ro = g.token(
        "reader",
        TokenScopes {
            read_only: true,
            ..Default::default()
        },
    );
    let (s, e, _) = g.post(&ro, "/v1/chat/completions", chat.clone()).await;
    assert_eq!(s, 403);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway token 'reader' is read-only"),
        "{e}"
    );
    let (s, _, _) = g
        .post(
            &ro,
            "/v1/prompts/summarize/render",
            json!({"variables": {"text": "x"}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, _) = g
        .post(
            &ro,
            "/v1/prompts/summarize/completions",
            json!({"variables": {"text": "x"}, "model": "demo/fast"}),
        )
        .await;
    assert_eq!(s, 403);

    let one = g.token(
        "summarizer",
        TokenScopes {
            prompts: vec!["summarize".into()],
            ..Default::default()
        },
    );
    let (s, _, _) = g.post(&one, "/v1/chat/completions", chat.clone()).await;
    assert_eq!(s, 403);
    let (s, _, _) = g
        .post(
            &one,
            "/v1/prompts/summarize/completions",
            json!({"variables": {"text": "x"}, "model": "demo/fast"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e, _) = g
        .post(
            &one,
            "/v1/prompts/support-reply/completions",
            json!({"variables": {}}),
        )
        .await;
    assert_eq!(s, 403, "{e}");
    let listed: Value = g
        .http
        .get(format!("{}/v1/prompts", g.base))
        .bearer_auth(&one)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let prod = g.token(
        "prod-only",
        TokenScopes {
            prompts: vec!["label:production".into()],
            ..Default::default()
        },
    );
    let (s, _, _) = g
        .post(
            &prod,
            "/v1/prompts/summarize/completions",
            json!({"variables": {"text": "x"}, "model": "demo/fast"}),
        )
        .await;
    assert_eq!(s, 200);

    let demo_only = g.token(
        "demo-only",
        TokenScopes {
            models: vec!["demo/*".into()],
            keys: vec!["demo".into()],
            ..Default::default()
        },
    );
    let (s, _, _) = g
        .post(&demo_only, "/v1/chat/completions", chat.clone())
        .await;
    assert_eq!(s, 200);
    let (s, e, _) = g
        .post(
            &demo_only,
            "/v1/chat/completions",
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(s, 403);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may not use model 'gpt-4o-mini'"),
        "{e}"
    );
    assert_eq!(g.f.fake.request_count(), 0);

    let old =
        g.f.store
            .create_token_scoped(
                "old",
                TokenScopes::default(),
                Some(Utc::now() - chrono::Duration::days(1)),
                &Actor::Cli,
            )
            .unwrap()
            .secret;
    let (s, e, _) = g.post(&old, "/v1/chat/completions", chat).await;
    assert_eq!(s, 401);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("expired"),
        "{e}"
    );
}

#[tokio::test]
async fn token_budgets_and_rate_limits_over_http() {
    let g = gateway_fixture().await;
    let token = g.token("metered", TokenScopes::default());
    let id =
        g.f.store
            .list_tokens()
            .unwrap()
            .into_iter()
            .find(|t| t.name == "metered")
            .unwrap()
            .id;
    let subject = Subject {
        kind: SubjectKind::Token,
        id,
        name: "metered".into(),
    };
    g.f.store
        .set_rate_limit(&subject, RateUnit::Requests, Window::Minute, 1, &Actor::Cli)
        .unwrap();
    let chat = json!({"model": "demo/fast", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]});
    let (s, _, _) = g.post(&token, "/v1/chat/completions", chat.clone()).await;
    assert_eq!(s, 200);
    let (s, e, h) = g.post(&token, "/v1/chat/completions", chat.clone()).await;
    assert_eq!(s, 429, "{e}");
    assert!(h.contains_key("retry-after"));
    assert_eq!(e["error"]["type"], "rate_limit_error");
    let budgeted = g.token("budgeted", TokenScopes::default());
    let id =
        g.f.store
            .list_tokens()
            .unwrap()
            .into_iter()
            .find(|t| t.name == "budgeted")
            .unwrap()
            .id;
    g.f.store
        .set_budget(
            &Subject {
                kind: SubjectKind::Token,
                id,
                name: "budgeted".into(),
            },
            BudgetUnit::Tokens,
            5.0,
            Period::None,
            None,
            &Actor::Cli,
        )
        .unwrap();
    let (s, e, _) = g.post(&budgeted, "/v1/chat/completions", chat).await;
    assert_eq!(s, 412);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget of gateway token 'budgeted' is exhausted"),
        "{e}"
    );
}

#[test]
fn every_kind_of_change_is_audited_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(
        dir.path(),
        StoreOptions {
            seed_samples: true,
            use_keyring: false,
            master_key: Some("9a".repeat(32)),
        },
    )
    .unwrap();
    let v = store
        .get_version("summarize", &portolan::prompts::VersionSelector::Latest)
        .unwrap();
    let mut content = v.content.clone();
    content.description = Some("changed".into());
    store
        .save_version("summarize", &content, Some("edit"), &Actor::App)
        .unwrap();
    store
        .set_label("summarize", 2, "staging", &Actor::App)
        .unwrap();
    store
        .remove_label("summarize", "staging", &Actor::App)
        .unwrap();
    let secret = "sk-audit-secret-000000000000000000";
    store
        .add_key(
            &NewKey {
                name: "k".into(),
                provider: "openai".into(),
                base_url: None,
                notes: None,
            },
            &SecretString::new(secret.into()),
            &Actor::App,
        )
        .unwrap();
    store
        .rotate_key("k", &SecretString::new(format!("{secret}-2")), &Actor::App)
        .unwrap();
    let k = store.get_key("k").unwrap();
    store
        .set_budget(
            &Subject {
                kind: SubjectKind::Key,
                id: k.id,
                name: "k".into(),
            },
            BudgetUnit::Usd,
            5.0,
            Period::Monthly,
            None,
            &Actor::App,
        )
        .unwrap();
    store.remove_key("k", &Actor::App).unwrap();
    store.create_token("t", &Actor::App).unwrap();
    store.revoke_token("t", &Actor::App).unwrap();
    EngineSettings {
        pii: portolan::guardrails::PiiAction::Detect,
        ..Default::default()
    }
    .save(&store, &Actor::App)
    .unwrap();
    let entries = store.audit_entries(100).unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .filter(|e| e.actor == "app")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "prompt.save",
            "label.set",
            "label.remove",
            "key.add",
            "key.rotate",
            "key.budget",
            "key.remove",
            "token.create",
            "token.revoke",
            "settings.update"
        ]
    );
    assert!(
        entries
            .iter()
            .any(|e| e.actor == "seed" && e.action == "prompt.create")
    );
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains(secret) && !all.contains("sk-audit"));
    // Append-only.
    let conn = rusqlite::Connection::open(store.db_path()).unwrap();
    assert!(
        conn.execute("DELETE FROM audit_log", [])
            .unwrap_err()
            .to_string()
            .contains("append-only")
    );
    assert!(
        conn.execute("UPDATE audit_log SET actor = 'x'", [])
            .unwrap_err()
            .to_string()
            .contains("append-only")
    );
    let _ = BTreeMap::<String, String>::new();
}

/// The text and the error (if any) of a streamed call.
async fn stream_text(
    engine: &Engine,
    config: &RouteConfig,
    text: &str,
) -> (String, Option<String>) {
    let mut req = request(text);
    req.stream = Some(true);
    let call = engine
        .chat(
            req,
            CallOptions {
                config: Some(config.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let CallBody::Stream(mut s) = call.body else {
        panic!("expected a stream")
    };
    let mut out = String::new();
    while let Some(item) = futures_util::StreamExt::next(&mut s).await {
        match item {
            Ok(chunk) => {
                for c in chunk.choices {
                    out.push_str(c.delta.content.as_deref().unwrap_or(""));
                }
            }
            Err(e) => return (out, Some(format!("{} {}", e.status(), e.message))),
        }
    }
    (out, None)
}

/// A non-streamed call with a routing config.
async fn call_with(
    engine: &Engine,
    config: &RouteConfig,
    text: &str,
) -> Result<portolan::routing::Call, portolan::routing::CallError> {
    engine
        .chat(
            request(text),
            CallOptions {
                config: Some(config.clone()),
                ..Default::default()
            },
        )
        .await
}

#[tokio::test]
async fn output_guardrails_redact_or_deny_answers_streamed_or_not() {
    let f = fixture(EngineSettings::default()).await;
    let redact = RouteConfig::from_json(
        &json!({"output_guardrails": [{"type": "pii", "action": "redact"}]}).to_string(),
    )
    .unwrap();
    let deny = RouteConfig::from_json(
        &json!({"output_guardrails": [{"type": "pii", "action": "deny"}]}).to_string(),
    )
    .unwrap();
    // A complete answer is redacted for the client and the log.
    f.fake
        .push(Behavior::reply("Write to bob@example.com today"));
    let call = call_with(&f.engine, &redact, "who?").await.unwrap();
    let CallBody::Complete(r) = call.body else {
        panic!()
    };
    assert_eq!(r.text(), "Write to [EMAIL_1] today");
    // Streamed, with the address and the card number split across chunks: held back until
    // whole, then replaced; nothing of them reaches the client.
    f.fake.push(Behavior::chunks(
        [
            "Write to bob@exa",
            "mple.com or pay with 4111 1111 ",
            "1111 1111, and ",
            "say hi.",
        ],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let (text, err) = stream_text(&f.engine, &redact, "who?").await;
    assert_eq!(err, None);
    assert_eq!(
        text,
        "Write to [EMAIL_1] or pay with [CREDIT_CARD_1], and say hi."
    );
    // deny: a complete answer is refused; a stream stops before the personal data, with 446.
    f.fake
        .push(Behavior::reply("Write to bob@example.com today"));
    let refused = call_with(&f.engine, &deny, "who?")
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status(), 446);
    f.fake.push(Behavior::chunks(
        ["Sure. ", "Write to bob@exa", "mple.com today"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let (text, err) = stream_text(&f.engine, &deny, "who?").await;
    assert!(!text.contains("bob"), "{text}");
    let err = err.expect("the stream ends with the refusal");
    assert!(
        err.starts_with("446 the answer contains personal data (email"),
        "{err}"
    );
    // The log keeps the redacted answers only, and the refused stream as refused.
    f.engine.flush_logs();
    let calls = f.store.list_calls(&LogFilter::default()).unwrap();
    assert_eq!(calls.len(), 4);
    for c in &calls {
        let response = c.response.clone().unwrap_or_default();
        assert!(
            !response.contains("bob@"),
            "a log keeps the address: {response}"
        );
        assert!(
            !response.contains("4111"),
            "a log keeps the card: {response}"
        );
    }
    assert_eq!(calls[0].status, 446, "newest first: the refused stream");
    // Guarded answers are not cached (a hit would skip the guardrail): both calls reach the
    // provider.
    let cached = RouteConfig::from_json(
        &json!({"cache": {"mode": "simple"}, "output_guardrails": [{"type": "pii", "action": "redact"}]})
            .to_string(),
    )
    .unwrap();
    let before = f.fake.request_count();
    for _ in 0..2 {
        f.fake
            .push(Behavior::reply("Write to bob@example.com today"));
        let call = call_with(&f.engine, &cached, "cache me").await.unwrap();
        let CallBody::Complete(r) = call.body else {
            panic!()
        };
        assert_eq!(r.text(), "Write to [EMAIL_1] today");
    }
    assert_eq!(f.fake.request_count(), before + 2);
    // With input redact + restore, the output guardrail judges the answer as the client would
    // get it, restored, streamed or not: here that is a refusal.
    let both = RouteConfig::from_json(
        &json!({
            "input_guardrails": [{"type": "pii", "action": "redact", "restore": true}],
            "output_guardrails": [{"type": "pii", "action": "deny"}]
        })
        .to_string(),
    )
    .unwrap();
    f.fake.push(Behavior::reply("Sent to [EMAIL_1] now"));
    let refused = call_with(&f.engine, &both, "mail ada@example.com")
        .await
        .err()
        .expect("the restored answer holds an address");
    assert_eq!(refused.status(), 446);
    f.fake.push(Behavior::chunks(
        ["Sent to [EMAIL_1] now"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let (text, err) = stream_text(&f.engine, &both, "mail ada@example.com").await;
    assert!(!text.contains("ada@"), "{text}");
    assert!(err.is_some_and(|e| e.starts_with("446")));
}
