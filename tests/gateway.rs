//! The gateway over real HTTP on 127.0.0.1, in front of fake providers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;
use portolan::Store;
use portolan::gateway::{self, GatewayConfig};
use portolan::logs::LogFilter;
use portolan::routing::{Engine, EngineSettings};
use portolan::store::Actor;
use serde_json::{Value, json};

const KEY: &str = "sk-gateway-test-0123456789abcdefghijkl";

pub(crate) struct Gw {
    _dir: tempfile::TempDir,
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Engine,
    pub(crate) fake: FakeServer,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Gw {
    pub(crate) async fn start() -> Gw {
        Gw::start_with(GatewayConfig {
            port: 0,
            ..Default::default()
        })
        .await
    }

    async fn start_with(config: GatewayConfig) -> Gw {
        let (dir, store, fake) =
            crate::support::library_with_fake_openai(true, &["openai"], KEY).await;
        let token = store.create_token("tests", &Actor::Cli).unwrap().secret;
        let settings = EngineSettings {
            backoff_base_ms: 5,
            backoff_max_ms: 10,
            request_timeout_ms: 1500,
            ..Default::default()
        };
        let engine = Engine::with_settings(store.clone(), settings).unwrap();
        let bound = gateway::bind(engine.clone(), &config).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(bound.serve(async {
            let _ = rx.await;
        }));
        Gw {
            _dir: dir,
            store,
            engine,
            fake,
            base: format!("http://127.0.0.1:{}", addr.port()),
            token,
            http: reqwest::Client::new(),
            _shutdown: tx,
        }
    }

    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }
}

fn chat_body(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"].is_string(),
        "OpenAI error shape: {body}"
    );
    (status, body["error"].clone())
}

#[tokio::test]
async fn tokens_host_and_origin_are_enforced() {
    let g = Gw::start().await;
    let url = format!("{}/v1/chat/completions", g.base);
    let r = g
        .http
        .post(&url)
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!(
        (s, e["type"].as_str().unwrap()),
        (401, "authentication_error")
    );
    let r = g
        .http
        .post(&url)
        .bearer_auth("pt_wrong")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = g
        .http
        .post(&url)
        .header("x-portkey-api-key", &g.token)
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked = g.store.create_token("old", &Actor::Cli).unwrap().secret;
    g.store.revoke_token("old", &Actor::Cli).unwrap();
    let r = g
        .http
        .post(&url)
        .bearer_auth(&revoked)
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    let r = g
        .post("/v1/chat/completions")
        .header("host", "evil.example:8787")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!(s, 403);
    assert!(e["message"].as_str().unwrap().contains("evil.example"));
    let r = g
        .http
        .get(format!("{}/healthz", g.base))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "even the health check refuses foreign hosts"
    );
    // Browser CSRF: a foreign Origin is refused, a local one is fine.
    let r = g
        .post("/v1/chat/completions")
        .header("origin", "https://evil.example")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = g
        .post("/v1/chat/completions")
        .header("origin", "http://localhost:5173")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health: Value = g
        .http
        .get(format!("{}/healthz", g.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let g = Gw::start_with(GatewayConfig {
        port: 0,
        body_limit: 2048,
        ..Default::default()
    })
    .await;
    let big =
        json!({"model": "demo/fast", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let (s, e) = error_of(
        g.post("/v1/chat/completions")
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["type"].as_str().unwrap()), (413, "request_too_large"));
    let r = g
        .post("/v1/chat/completions")
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert_eq!((s, e["code"].as_str().unwrap()), (400, "invalid_json"));
    let (s, e) = error_of(
        g.post("/v1/chat/completions")
            .json(&json!({"model": "demo/fast", "messages": []}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s == 400 && e["message"].as_str().unwrap().contains("messages"));
    let (s, _) = error_of(g.post("/v1/nope").json(&json!({})).send().await.unwrap()).await;
    assert_eq!(s, 404);
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-config", "{\"retry\": {\"attempts\": 99}}")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    let (s, e) = error_of(r).await;
    assert!(
        s == 400 && e["message"].as_str().unwrap().contains("at most 5"),
        "{e}"
    );
}

#[tokio::test]
async fn chat_completions_with_portkey_headers() {
    let g = Gw::start().await;
    g.fake.push(Behavior::reply("Hello from upstream"));
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-trace-id", "trace-abc")
        .header("x-portkey-metadata", r#"{"_user": "ada", "team": "docs"}"#)
        .json(&chat_body("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-portkey-trace-id"], "trace-abc");
    assert_eq!(h["x-portkey-cache-status"], "DISABLED");
    assert_eq!(h["x-portkey-retry-attempt-count"], "0");
    assert_eq!(h["x-portkey-last-used-option-index"], "0");
    let timing = h["server-timing"].to_str().unwrap();
    assert!(
        timing.starts_with("gateway;dur=") && timing.contains("upstream;dur="),
        "{timing}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from upstream"
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
    g.engine.flush_logs();
    let calls = g
        .store
        .list_calls(&LogFilter {
            trace_id: Some("trace-abc".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].metadata["team"], "docs");
    assert_eq!(calls[0].metadata["_gateway_token"], "tests");
    assert_eq!(calls[0].source, "gateway");
    // W3C traceparent becomes the trace id; retry count and cache headers apply.
    g.fake.push(Behavior::status(503, "busy"));
    g.fake.push(Behavior::reply("second try"));
    let r = g
        .post("/v1/chat/completions")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-portkey-retry-count", "1")
        .header("x-portkey-cache", "simple")
        .json(&chat_body("gpt-4o-mini", "cache this"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-portkey-trace-id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(r.headers()["x-portkey-retry-attempt-count"], "1");
    assert_eq!(r.headers()["x-portkey-cache-status"], "MISS");
    let r = g
        .post("/v1/chat/completions")
        .header("x-portolan-cache", "simple")
        .json(&chat_body("gpt-4o-mini", "cache this"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-portolan-cache-status"], "HIT");
    // A config in a header: fallback from a failing target to the demo provider.
    g.fake.set_default(Behavior::status(500, "down"));
    let cfg = json!({"strategy": {"mode": "fallback"}, "retry": {"attempts": 0},
                     "targets": [{"virtual_key": "openai"}, {"provider": "demo", "model": "demo/fast"}]});
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-config", cfg.to_string())
        .json(&chat_body("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-portkey-last-used-option-index"], "1");
    // No secret ever comes back.
    let text = r.text().await.unwrap();
    assert!(!text.contains(KEY));
}

#[tokio::test]
async fn upstream_failures_map_to_502_and_504() {
    let g = Gw::start().await;
    g.fake.set_default(Behavior::status(500, "exploded"));
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-retry-count", "2")
        .json(&chat_body("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-portkey-trace-id"));
    let (s, e) = error_of(r).await;
    assert_eq!(s, 502);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("after 3 attempts") && msg.contains("exploded"),
        "{msg}"
    );
    g.fake
        .set_default(Behavior::hang(Duration::from_millis(1500)));
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-retry-count", "0")
        .header("x-portkey-request-timeout", "100")
        .json(&chat_body("gpt-4o-mini", "hi"))
        .send()
        .await
        .unwrap();
    let (s, _) = error_of(r).await;
    assert_eq!(s, 504);
    let (s, e) = error_of(
        g.post("/v1/chat/completions")
            .json(&chat_body("anthropic/claude-haiku-4-5", "hi"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("no virtual key for provider 'anthropic'")
    );
}

#[tokio::test]
async fn streams_are_forwarded_as_they_arrive() {
    let g = Gw::start().await;
    g.fake.push(Behavior::chunks(
        ["one", " two", " three", " four"],
        Duration::ZERO,
        Duration::from_millis(80),
    ));
    let mut body = chat_body("gpt-4o-mini", "count");
    body["stream"] = json!(true);
    let started = Instant::now();
    let r = g
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut stream = r.bytes_stream();
    let mut raw = String::new();
    let mut first_content_at = None;
    while let Some(bytes) = stream.next().await {
        raw.push_str(&String::from_utf8_lossy(&bytes.unwrap()));
        if first_content_at.is_none() && raw.contains("\"content\":\"one\"") {
            first_content_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    assert!(
        first_content_at.unwrap() < total / 2,
        "first chunk at {first_content_at:?} of {total:?}"
    );
    assert!(raw.trim_end().ends_with("data: [DONE]"), "{raw}");
    assert!(
        !raw.contains("\"usage\""),
        "usage chunk is kept back unless asked for"
    );
    let text: String = raw
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "one two three four");
}

#[tokio::test]
async fn a_broken_stream_ends_with_an_error_event_not_done() {
    let g = Gw::start().await;
    g.fake.push(Behavior::DropMidStream { chunks_before: 2 });
    let mut body = chat_body("gpt-4o-mini", "tell me");
    body["stream"] = json!(true);
    let raw = g
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!raw.contains("[DONE]"), "{raw}");
    let last = raw.lines().rfind(|l| l.starts_with("data: ")).unwrap();
    let v: Value = serde_json::from_str(last.trim_start_matches("data: ")).unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended before it was complete"),
        "{v}"
    );
}

#[tokio::test]
async fn prompt_completions_send_saved_tools_schema_and_images() {
    use portolan::prompts::{Message, PromptContent, Role};
    let g = Gw::start().await;
    let mut content = PromptContent {
        model: Some("gpt-4o-mini".into()),
        messages: vec![Message::new(
            Role::User,
            "What is in this picture?\n![picture]({{picture}})",
        )],
        ..Default::default()
    };
    content.params.insert(
        "tools".into(),
        json!([{"type": "function", "function": {"name": "describe",
            "parameters": {"type": "object", "properties": {"what": {"type": "string"}}}}}]),
    );
    content
        .params
        .insert("tool_choice".into(), json!("required"));
    content.params.insert(
        "response_format".into(),
        json!({"type": "json_schema", "json_schema": {"name": "seen",
            "schema": {"type": "object"}}}),
    );
    g.store
        .create_prompt("vision", &content, None, &Actor::Cli)
        .unwrap();
    let pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    g.fake
        .push(Behavior::tool_call("describe", json!({"what": "a dot"})));
    let r = g
        .post("/v1/prompts/vision/completions")
        .json(&json!({"variables": {"picture": pixel}, "tool_choice": "auto"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "describe"
    );
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(sent["tools"][0]["function"]["name"], "describe");
    assert_eq!(sent["response_format"]["json_schema"]["name"], "seen");
    // The request's own tool_choice overrides the saved one.
    assert_eq!(sent["tool_choice"], "auto");
    let parts = sent["messages"][0]["content"].as_array().unwrap();
    assert_eq!(parts[1]["image_url"]["url"], pixel);
    // A local path is not read on behalf of a network caller; nothing reaches the provider.
    let before = g.fake.request_count();
    let (s, e) = error_of(
        g.post("/v1/prompts/vision/completions")
            .json(&json!({"variables": {"picture": "/etc/hostname"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["code"].as_str().unwrap()), (400, "invalid_image"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("cannot read local files"),
        "{e}"
    );
    assert_eq!(g.fake.request_count(), before);
}

#[tokio::test]
async fn prompts_are_served_by_id_or_slug() {
    let g = Gw::start().await;
    let list: Value = g
        .get("/v1/prompts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let summarize = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slug"] == "summarize")
        .unwrap()
        .clone();
    let id = summarize["id"].as_str().unwrap();
    // Render without calling a model.
    let r: Value = g
        .post(&format!("/v1/prompts/{id}/render"))
        .json(&json!({"variables": {"text": "Rust is fast.", "bullets": 2}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["success"], true);
    assert!(
        r["data"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Write exactly 2 bullet points")
    );
    assert_eq!(r["data"]["model"], "gpt-4o-mini");
    assert_eq!(r["data"]["max_tokens"], 400);
    // Completions: body params win over the saved ones.
    g.fake.push(Behavior::reply("- Rust is fast."));
    let r = g
        .post("/v1/prompts/summarize/completions")
        .json(
            &json!({"variables": {"text": "Rust is fast."}, "temperature": 0.9, "max_tokens": 50}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "- Rust is fast.");
    let sent = g.fake.last_request().unwrap().body;
    assert_eq!(
        (sent["temperature"].clone(), sent["max_tokens"].clone()),
        (json!(0.9), json!(50))
    );
    assert_eq!(sent["model"], "gpt-4o-mini");
    // Model override to the demo provider, streamed, by id with an explicit version.
    let r = g
        .post(&format!("/v1/prompts/{id}/completions?version=1"))
        .json(&json!({"variables": {"text": "x"}, "model": "demo/fast", "stream": true}))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("[demo:fast]"));
    g.engine.flush_logs();
    let logged = g
        .store
        .list_calls(&LogFilter {
            prompt_id: Some(id.to_owned()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(logged.len(), 2);
    assert!(logged.iter().all(|c| c.prompt_version == Some(1)));
    // Errors: missing variables listed, unknown prompt, unknown version.
    let (s, e) = error_of(
        g.post("/v1/prompts/support-reply/completions")
            .json(&json!({"variables": {}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, e["code"].as_str().unwrap()), (400, "missing_variables"));
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("customer_name, ticket"),
        "{e}"
    );
    let (s, _) = error_of(
        g.post("/v1/prompts/nope/completions")
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = error_of(
        g.post("/v1/prompts/summarize/completions?version=9")
            .json(&json!({"variables": {"text": "x"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let one: Value = g
        .get("/v1/prompts/summarize@production")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["version"], 1);
    assert_eq!(one["variables"], json!(["bullets", "audience", "text"]));
}

#[tokio::test]
async fn models_embeddings_and_feedback() {
    let g = Gw::start().await;
    let models: Value = g
        .get("/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"demo/small") && ids.contains(&"gpt-4o-mini"),
        "{ids:?}"
    );
    let r: Value = g
        .post("/v1/embeddings")
        .json(&json!({"model": "text-embedding-3-small", "input": ["hello world", "goodbye"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["data"].as_array().unwrap().len(), 2);
    assert!(r["data"][0]["embedding"].as_array().unwrap().len() > 8);
    let r = g
        .post("/v1/chat/completions")
        .header("x-portkey-trace-id", "t-feedback")
        .json(&chat_body("demo/fast", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fb: Value = g
        .post("/v1/feedback")
        .json(&json!({"trace_id": "t-feedback", "value": 5, "weight": 0.5, "metadata": {"who": "qa"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fb["status"], "success");
    assert_eq!(fb["feedback_ids"].as_array().unwrap().len(), 1);
    let (s, _) = error_of(
        g.post("/v1/feedback")
            .json(&json!({"trace_id": "nope", "value": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = error_of(
        g.post("/v1/feedback")
            .json(&json!({"trace_id": "t-feedback", "value": 50}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 400);
}
