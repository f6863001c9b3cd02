//! The anthropic adapter against the in-process fake server, over real HTTP on 127.0.0.1.

use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;

use super::*;
use crate::chat::{ChunkAccumulator, FunctionDef, Tool};
use crate::providers::FailureKind;
use crate::secrets::SecretString;

const KEY: &str = "sk-ant-test";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn endpoint(server: &FakeServer, key: &str) -> Endpoint {
    Endpoint {
        provider: crate::providers::Provider::Anthropic,
        base_url: server.base_url(),
        api_key: Some(SecretString::new(key.into())),
        key_name: Some("test".into()),
        key_id: None,
        model: "claude-haiku-4-5".into(),
    }
}

fn limits() -> AttemptLimits {
    AttemptLimits {
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        body: crate::providers::BodyLimits::default(),
    }
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "alias".into(),
        messages: vec![
            ChatMessage::new("system", "Be nice."),
            ChatMessage::new("user", "Say hello"),
        ],
        stream: stream.then_some(true),
        ..Default::default()
    }
}

async fn server() -> FakeServer {
    let server = FakeServer::start().await;
    server.expect_key(KEY);
    server
}

/// Every item of a stream: the chunks, then the error that ended it, if any.
async fn drain(mut s: ChunkStream) -> (Vec<ChatChunk>, Option<ProviderError>) {
    let mut chunks = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(c) => chunks.push(c),
            Err(e) => {
                assert!(s.next().await.is_none(), "an error ends the stream");
                return (chunks, Some(e));
            }
        }
    }
    (chunks, None)
}

#[tokio::test]
async fn complete_sends_the_right_request_and_reads_the_answer() {
    let server = server().await;
    server.push(Behavior::reply("Hello there"));
    let r = complete(
        &client(),
        &endpoint(&server, KEY),
        &request(false),
        limits(),
    )
    .await
    .unwrap();
    assert_eq!(r.text(), "Hello there");
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(r.id.starts_with("msg_"));
    let usage = r.usage.unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens == 2);

    let sent = server.last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    assert!(
        sent.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(sent.body["model"], "claude-haiku-4-5");
    assert_eq!(sent.body["system"], "Be nice.");
    assert_eq!(sent.body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert_eq!(
        sent.body["messages"],
        json!([{"role": "user", "content": "Say hello"}])
    );
    assert!(sent.body.get("stream").is_none());
}

#[tokio::test]
async fn cached_tokens_count_as_prompt_tokens() {
    let server = server().await;
    server.set_cached_tokens(3);
    server.push(Behavior::reply("ok"));
    let usage = complete(
        &client(),
        &endpoint(&server, KEY),
        &request(false),
        limits(),
    )
    .await
    .unwrap()
    .usage
    .unwrap();
    assert_eq!(usage.cached_tokens(), 3);
    assert!(usage.prompt_tokens >= 3);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

#[tokio::test]
async fn a_stream_arrives_in_chunks_then_usage() {
    let server = server().await;
    server.set_cached_tokens(2);
    server.push(Behavior::chunks(
        ["Hel", "lo", " world"],
        Duration::ZERO,
        Duration::from_millis(5),
    ));
    let s = stream(&client(), &endpoint(&server, KEY), &request(true), limits())
        .await
        .unwrap();
    let (chunks, err) = drain(s).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    let pieces: Vec<&str> = chunks
        .iter()
        .flat_map(|c| &c.choices)
        .filter_map(|c| c.delta.content.as_deref())
        .collect();
    assert_eq!(pieces, ["Hel", "lo", " world"]);
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    let usage = last.usage.unwrap();
    assert_eq!(usage.cached_tokens(), 2);
    assert_eq!(
        usage.completion_tokens, 2,
        "the fake counts the words of \"Hello world\""
    );
    let mut acc = ChunkAccumulator::default();
    chunks.iter().for_each(|c| acc.push(c));
    assert!(acc.finished());
    assert_eq!(
        acc.finish().choices[0].finish_reason.as_deref(),
        Some("stop")
    );
    assert_eq!(server.last_request().unwrap().body["stream"], true);
}

fn tool_request(stream: bool) -> ChatRequest {
    let mut r = request(stream);
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        },
    }]);
    r.tool_choice = Some(json!("auto"));
    r
}

#[tokio::test]
async fn tool_calls_complete_and_streamed() {
    let server = server().await;
    let args = json!({"city": "Paris", "days": 2});
    server.push(Behavior::tool_call("get_weather", args.clone()));
    server.push(Behavior::tool_call("get_weather", args.clone()));

    let r = complete(
        &client(),
        &endpoint(&server, KEY),
        &tool_request(false),
        limits(),
    )
    .await
    .unwrap();
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let call = &r.choices[0].message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.name, "get_weather");
    assert!(call.id.starts_with("toolu_"));
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        args
    );
    let sent = server.last_request().unwrap();
    assert_eq!(sent.body["tools"][0]["name"], "get_weather");
    assert_eq!(sent.body["tool_choice"], json!({"type": "auto"}));

    let s = stream(
        &client(),
        &endpoint(&server, KEY),
        &tool_request(true),
        limits(),
    )
    .await
    .unwrap();
    let (chunks, err) = drain(s).await;
    assert!(err.is_none(), "{err:?}");
    let mut acc = ChunkAccumulator::default();
    chunks.iter().for_each(|c| acc.push(c));
    let r = acc.finish();
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let call = &r.choices[0].message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        args
    );
}

#[tokio::test]
async fn error_statuses() {
    let server = server().await;
    let c = client();
    let e = endpoint(&server, KEY);

    server.push(Behavior::rate_limited(2));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.status(), err.retryable()),
        (FailureKind::Status, 429, true)
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
    assert!(err.message.contains("rate_limit_error"), "{}", err.message);

    server.push(Behavior::status(500, "boom"));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (500, true));
    assert!(err.message.contains("boom"));

    server.push(Behavior::status(529, "Overloaded"));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (529, true));

    server.push(Behavior::status(400, "bad request"));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (400, false));

    // Errors before a stream starts come back from `stream` itself.
    server.push(Behavior::status(503, "later"));
    let err = stream(&c, &e, &request(true), limits())
        .await
        .err()
        .unwrap();
    assert_eq!((err.status(), err.retryable()), (503, true));
}

#[tokio::test]
async fn a_wrong_key_is_401_and_not_retryable() {
    let server = server().await;
    let err = complete(
        &client(),
        &endpoint(&server, "sk-wrong"),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.kind, err.status(), err.retryable()),
        (FailureKind::Status, 401, false)
    );
}

#[tokio::test]
async fn a_dropped_stream_is_incomplete() {
    let server = server().await;
    server.push(Behavior::DropMidStream { chunks_before: 2 });
    let s = stream(&client(), &endpoint(&server, KEY), &request(true), limits())
        .await
        .unwrap();
    let (chunks, err) = drain(s).await;
    let err = err.expect("a dropped stream must end in an error");
    assert_eq!(err.kind, FailureKind::Incomplete);
    assert!(err.retryable());
    assert!(
        chunks
            .iter()
            .all(|c| c.choices.iter().all(|ch| ch.finish_reason.is_none()))
    );

    server.push(Behavior::DropMidStream { chunks_before: 1 });
    let err = complete(
        &client(),
        &endpoint(&server, KEY),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.kind, FailureKind::Incomplete | FailureKind::Malformed),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    let server = server().await;
    server.push(Behavior::StallMidStream {
        chunks_before: 1,
        stall: Duration::from_secs(2),
    });
    let limits = AttemptLimits {
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(200),
        body: crate::providers::BodyLimits::default(),
    };
    let s = stream(&client(), &endpoint(&server, KEY), &request(true), limits)
        .await
        .unwrap();
    let (_, err) = drain(s).await;
    let err = err.expect("a stall must end in an error");
    assert_eq!((err.kind, err.retryable()), (FailureKind::Stalled, true));
}

#[tokio::test]
async fn a_hung_request_times_out() {
    let server = server().await;
    server.push(Behavior::hang(Duration::from_secs(2)));
    let limits = AttemptLimits {
        request_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(5),
        body: crate::providers::BodyLimits::default(),
    };
    let err = complete(&client(), &endpoint(&server, KEY), &request(false), limits)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.status(), err.retryable()),
        (FailureKind::Timeout, 408, true)
    );
}

#[tokio::test]
async fn malformed_answers() {
    let server = server().await;
    server.push(Behavior::Malformed);
    let err = complete(
        &client(),
        &endpoint(&server, KEY),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!((err.kind, err.retryable()), (FailureKind::Malformed, false));

    server.push(Behavior::Malformed);
    let s = stream(&client(), &endpoint(&server, KEY), &request(true), limits())
        .await
        .unwrap();
    let (_, err) = drain(s).await;
    assert_eq!(err.expect("malformed stream").kind, FailureKind::Malformed);
}

#[tokio::test]
async fn json_mode_answers_start_with_the_prefilled_brace() {
    let server = server().await;
    let c = client();
    let mut r = request(false);
    r.response_format = Some(serde_json::json!({"type": "json_object"}));
    // The model continues after the prefilled `{`.
    server.push(Behavior::reply("\"greeting\": \"hello\"}"));
    let resp = complete(&c, &endpoint(&server, KEY), &r, limits())
        .await
        .unwrap();
    assert_eq!(resp.text(), "{\"greeting\": \"hello\"}");
    let sent = server.last_request().unwrap().body;
    assert_eq!(
        sent["messages"][1],
        serde_json::json!({"role": "assistant", "content": "{"})
    );
    server.push(Behavior::chunks(
        ["\"greeting\"", ": \"hi\"}"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    r.stream = Some(true);
    let (chunks, err) = drain(
        stream(&c, &endpoint(&server, KEY), &r, limits())
            .await
            .unwrap(),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let mut acc = ChunkAccumulator::default();
    for ch in &chunks {
        acc.push(ch);
    }
    assert_eq!(acc.finish().text(), "{\"greeting\": \"hi\"}");
}
