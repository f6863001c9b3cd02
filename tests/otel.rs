//! OpenTelemetry export through the gateway, received by an in-process OTLP/HTTP collector on
//! 127.0.0.1 that decodes the protobuf: GenAI attributes, the caller's trace continued from
//! `traceparent`, content only when switched on (and redacted), sealed headers sent, and a
//! collector that refuses or hangs never failing or holding up a call.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use portolan::gateway::{self, GatewayConfig};
use portolan::otel::OtelSettings;
use portolan::routing::{Engine, EngineSettings};
use portolan::store::Actor;
use prost::Message;
use serde_json::json;
use tokio::sync::mpsc;

const KEY: &str = "sk-otel-test-0123456789abcdefghijkl";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    Refuse,
    Hang,
}

/// One export request as the collector received it.
struct Export {
    headers: HeaderMap,
    request: ExportTraceServiceRequest,
}

async fn collector(mode: Mode) -> (String, mpsc::UnboundedReceiver<Export>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(
                |State((mode, tx)): State<(Mode, mpsc::UnboundedSender<Export>)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let _ = tx.send(Export { headers, request });
                    match mode {
                        Mode::Accept => StatusCode::OK,
                        Mode::Refuse => StatusCode::SERVICE_UNAVAILABLE,
                        Mode::Hang => {
                            // Longer than the exporter waits; the server task ends with the test.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            StatusCode::OK
                        }
                    }
                },
            ),
        )
        .with_state((mode, tx));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/traces"), rx)
}

struct Setup {
    _dir: tempfile::TempDir,
    engine: Engine,
    fake: fake_providers::FakeServer,
    base: String,
    token: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn gateway_exporting_to(endpoint: &str, content: bool) -> Setup {
    let (dir, store, fake) =
        crate::support::library_with_fake_openai(false, &["openai"], KEY).await;
    let token = store.create_token("tests", &Actor::Cli).unwrap().secret;
    let header = OtelSettings::header_record_id("x-collector-key");
    let settings = EngineSettings {
        otel: OtelSettings {
            endpoint: Some(endpoint.to_owned()),
            headers: [(
                "x-collector-key".to_owned(),
                store.seal_value(&header, "collector-secret").unwrap(),
            )]
            .into(),
            content,
        },
        ..Default::default()
    };
    let engine = Engine::with_settings(store, settings).unwrap();
    let bound = gateway::bind(
        engine.clone(),
        &GatewayConfig {
            port: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let port = bound.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bound.serve(async {
        let _ = rx.await;
    }));
    Setup {
        _dir: dir,
        engine,
        fake,
        base: format!("http://127.0.0.1:{port}"),
        token,
        _shutdown: tx,
    }
}

impl Setup {
    async fn chat(&self, text: &str, traceparent: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(&self.token)
            .json(
                &json!({"model": "gpt-4o-mini", "temperature": 0.2, "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": text}
                ]}),
            );
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp
    }
}

/// The spans of the next export request (waits at most 10 s for it).
async fn next_export(
    rx: &mut mpsc::UnboundedReceiver<Export>,
) -> (HeaderMap, Vec<Span>, Vec<String>) {
    let export = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an export within 10 s")
        .expect("the collector is running");
    let mut spans = Vec::new();
    let mut services = Vec::new();
    for rs in export.request.resource_spans {
        if let Some(resource) = rs.resource {
            for kv in resource.attributes {
                if kv.key == "service.name"
                    && let Some(AnyValue::StringValue(s)) = kv.value.and_then(|v| v.value)
                {
                    services.push(s);
                }
            }
        }
        for ss in rs.scope_spans {
            spans.extend(ss.spans);
        }
    }
    (export.headers, spans, services)
}

fn attr(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

fn text(span: &Span, key: &str) -> Option<String> {
    match attr(span, key) {
        Some(AnyValue::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key) {
        Some(AnyValue::IntValue(n)) => Some(n),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_exported_as_genai_spans_continuing_the_callers_trace() {
    let (endpoint, mut rx) = collector(Mode::Accept).await;
    let gw = gateway_exporting_to(&endpoint, false).await;
    gw.fake
        .push(fake_providers::Behavior::reply("Paris is the capital."));
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    gw.chat(
        "Capital of France? Mail alice@example.com",
        Some(&format!("00-{caller_trace}-00f067aa0ba902b7-01")),
    )
    .await;

    let (headers, spans, services) = next_export(&mut rx).await;
    assert_eq!(headers.get("x-collector-key").unwrap(), "collector-secret");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
    assert_eq!(services, vec!["portolan".to_owned()]);
    let call = spans
        .iter()
        .find(|s| s.name == "chat gpt-4o-mini")
        .expect("the call's span");
    assert_eq!(hex(&call.trace_id), caller_trace);
    assert_eq!(
        hex(&call.parent_span_id),
        "00f067aa0ba902b7",
        "a child of the caller's span"
    );
    assert_eq!(call.kind, 3, "CLIENT");
    assert_eq!(text(call, "gen_ai.operation.name").as_deref(), Some("chat"));
    assert_eq!(
        text(call, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    assert_eq!(text(call, "gen_ai.system").as_deref(), Some("openai"));
    assert_eq!(
        text(call, "gen_ai.request.model").as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        text(call, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-mini")
    );
    assert!(int(call, "gen_ai.usage.input_tokens").unwrap() > 0);
    assert!(int(call, "gen_ai.usage.output_tokens").unwrap() > 0);
    assert!(text(call, "gen_ai.response.id").is_some());
    assert!(matches!(
        attr(call, "gen_ai.response.finish_reasons"),
        Some(AnyValue::ArrayValue(_))
    ));
    assert!(matches!(attr(call, "portolan.cost_usd"), Some(AnyValue::DoubleValue(c)) if c > 0.0));
    assert_eq!(
        text(call, "portolan.cache_status").as_deref(),
        Some("DISABLED")
    );
    assert_eq!(
        text(call, "portolan.virtual_key").as_deref(),
        Some("openai")
    );
    assert!(
        matches!(attr(call, "gen_ai.request.temperature"), Some(AnyValue::DoubleValue(t)) if t == 0.2)
    );
    assert!(call.end_time_unix_nano >= call.start_time_unix_nano);
    // Content is off by default: no messages, anywhere.
    assert!(text(call, "gen_ai.input.messages").is_none());
    assert!(text(call, "gen_ai.output.messages").is_none());
    assert!(spans.iter().all(|s| {
        s.attributes
            .iter()
            .all(|kv| !format!("{:?}", kv.value).contains("alice@"))
    }));
    // The attempt is the call's child.
    let attempt = spans
        .iter()
        .find(|s| s.name.starts_with("attempt 1"))
        .expect("an attempt span");
    assert_eq!(attempt.parent_span_id, call.span_id);
    assert_eq!(attempt.trace_id, call.trace_id);

    // Without a traceparent, the trace is the call's own trace id.
    let resp = gw.chat("Again", None).await;
    let trace = resp.headers()["x-portkey-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, spans, _) = next_export(&mut rx).await;
    let call = spans.iter().find(|s| s.name.starts_with("chat")).unwrap();
    assert_eq!(hex(&call.trace_id), trace);
    assert!(call.parent_span_id.is_empty(), "a new trace");
    assert_eq!(
        gw.engine
            .otel_stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_is_exported_only_when_on_and_redacted() {
    let (endpoint, mut rx) = collector(Mode::Accept).await;
    let gw = gateway_exporting_to(&endpoint, true).await;
    gw.fake.push(fake_providers::Behavior::reply("Noted."));
    gw.chat("My email is alice@example.com", None).await;
    let (_, spans, _) = next_export(&mut rx).await;
    let call = spans.iter().find(|s| s.name.starts_with("chat")).unwrap();
    let input = text(call, "gen_ai.input.messages").expect("input messages");
    let parsed: serde_json::Value = serde_json::from_str(&input).unwrap();
    assert_eq!(parsed[0]["role"], "user");
    let said = parsed[0]["parts"][0]["content"].as_str().unwrap();
    assert!(
        said.starts_with("My email is ") && !said.contains("alice@example.com"),
        "{said}"
    );
    let system = text(call, "gen_ai.system_instructions").unwrap();
    assert!(system.contains("Be brief."), "{system}");
    let output = text(call, "gen_ai.output.messages").unwrap();
    assert!(output.contains("Noted."), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_refuses_or_hangs_neither_fails_nor_holds_calls() {
    for mode in [Mode::Refuse, Mode::Hang] {
        let (endpoint, mut rx) = collector(mode).await;
        let gw = gateway_exporting_to(&endpoint, false).await;
        // The call answers while the collector refuses or hangs (the export runs apart).
        gw.chat("one", None).await;
        next_export(&mut rx).await;
        gw.chat("two", None).await;
        if mode == Mode::Refuse {
            // The refused batch is counted as dropped once its export has failed.
            let stats = gw.engine.otel_stats();
            let mut waited = 0;
            while stats.dropped.load(std::sync::atomic::Ordering::Relaxed) == 0 && waited < 500 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                waited += 1;
            }
            assert!(stats.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0);
            assert!(
                stats
                    .failed_exports
                    .load(std::sync::atomic::Ordering::Relaxed)
                    > 0
            );
        }
    }
    // A collector that is not there at all.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/traces", l.local_addr().unwrap())
    };
    let gw = gateway_exporting_to(&dead, false).await;
    gw.chat("three", None).await;
}

#[test]
fn the_cli_switches_export_on_with_sealed_headers_and_status_reports_it() {
    let env = crate::support::Env::new().with_master_key(&"ab".repeat(32));
    let err = env.fails(&["settings", "otel", "--endpoint", "collector:4318"]);
    assert!(
        err.contains("not a URL") || err.contains("http://"),
        "{err}"
    );
    let out = env.ok(&[
        "settings",
        "otel",
        "--endpoint",
        "http://127.0.0.1:4318/v1/traces",
        "--header",
        "x-honeycomb-team=hc-secret-value",
        "--content",
        "on",
    ]);
    assert!(
        out.contains("1 header (sealed)") && out.contains("content on"),
        "{out}"
    );
    for args in [
        &["settings", "show"][..],
        &["audit"][..],
        &["status", "--json"][..],
    ] {
        let text = env.ok(args);
        assert!(
            !text.contains("hc-secret-value"),
            "{args:?} shows the header: {text}"
        );
    }
    let status = env.ok(&["status"]);
    assert!(
        status.contains("OpenTelemetry:  http://127.0.0.1:4318/v1/traces (nothing exported yet)"),
        "{status}"
    );
    env.ok(&["settings", "otel", "--off"]);
    assert!(env.ok(&["status"]).contains("OpenTelemetry:  off"));
}
