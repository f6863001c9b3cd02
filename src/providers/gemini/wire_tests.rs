//! The gemini adapter against the in-process fake server, over real HTTP on 127.0.0.1.

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;

use super::*;
use crate::chat::{ChunkAccumulator, FunctionDef, Tool};
use crate::providers::FailureKind;
use crate::secrets::SecretString;

const KEY: &str = "AIza-test";
const MODEL: &str = "gemini-2.5-flash";

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn endpoint(server: &FakeServer, key: &str) -> Endpoint {
    Endpoint {
        provider: crate::providers::Provider::Gemini,
        base_url: server.base_url(),
        api_key: Some(SecretString::new(key.into())),
        key_name: Some("test".into()),
        key_id: None,
        model: MODEL.into(),
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
        max_tokens: Some(50),
        ..Default::default()
    }
}

async fn server() -> FakeServer {
    let server = FakeServer::start().await;
    server.expect_key(KEY);
    server
}

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
    server.set_cached_tokens(4);
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
    assert_eq!(r.model, MODEL);
    let usage = r.usage.unwrap();
    assert_eq!(usage.cached_tokens(), 4);
    assert!(usage.prompt_tokens >= 4);
    assert_eq!(usage.completion_tokens, 2);

    let sent = server.last_request().unwrap();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, format!("/v1beta/models/{MODEL}:generateContent"));
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        sent.query_param("key"),
        None,
        "the key goes in a header, not the URL"
    );
    assert_eq!(
        sent.body["systemInstruction"],
        json!({"parts": [{"text": "Be nice."}]})
    );
    assert_eq!(
        sent.body["contents"],
        json!([{"role": "user", "parts": [{"text": "Say hello"}]}])
    );
    assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 50);
}

#[tokio::test]
async fn a_stream_arrives_in_chunks_then_usage() {
    let server = server().await;
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
    assert_eq!(
        last.usage.unwrap().completion_tokens,
        2,
        "the fake counts the words of \"Hello world\""
    );
    let mut acc = ChunkAccumulator::default();
    chunks.iter().for_each(|c| acc.push(c));
    assert!(acc.finished());

    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.path,
        format!("/v1beta/models/{MODEL}:streamGenerateContent")
    );
    assert_eq!(sent.query_param("alt").as_deref(), Some("sse"));
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
}

fn tool_request(stream: bool) -> ChatRequest {
    let mut r = request(stream);
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Weather".into()),
            parameters: Some(json!({
                "type": "object", "additionalProperties": false,
                "properties": {"city": {"type": "string"}},
            })),
        },
    }]);
    r.tool_choice = Some(json!("required"));
    r
}

#[tokio::test]
async fn tool_calls_complete_and_streamed() {
    let server = server().await;
    let args = json!({"city": "Paris"});
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
    assert_eq!(
        (call.id.as_str(), call.function.name.as_str()),
        ("call_0", "get_weather")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        args
    );
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.body["tools"],
        json!([{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]}])
    );
    assert_eq!(
        sent.body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );

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

    server.push(Behavior::rate_limited(3));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.status(), err.retryable()),
        (FailureKind::Status, 429, true)
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
    assert!(
        err.message.contains("RESOURCE_EXHAUSTED"),
        "{}",
        err.message
    );

    server.push(Behavior::status(500, "boom"));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (500, true));

    server.push(Behavior::status(400, "bad request"));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (400, false));
    assert!(err.message.contains("bad request"));

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
        &endpoint(&server, "nope"),
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
    assert_eq!((err.kind, err.retryable()), (FailureKind::Incomplete, true));
    assert!(
        chunks
            .iter()
            .all(|c| c.choices.iter().all(|ch| ch.finish_reason.is_none()))
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
    assert_eq!(
        err.expect("a stall must end in an error").kind,
        FailureKind::Stalled
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
async fn embeddings_use_batch_embed_contents() {
    let server = server().await;
    let mut e = endpoint(&server, KEY);
    e.model = "text-embedding-004".into();
    let inputs = vec!["first text".to_string(), "second".to_string()];
    let vectors = embed(&client(), &e, &inputs, limits()).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(!vectors[0].is_empty() && vectors[0].len() == vectors[1].len());
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        sent.body["requests"][1],
        json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "second"}]}})
    );
}
