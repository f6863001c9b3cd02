//! The Cohere adapter: request mapping, and against the in-process fake Cohere on 127.0.0.1.

use std::time::Duration;

use fake_providers::{Behavior, FakeServer};
use serde_json::json;

use super::*;
use crate::chat::{FunctionDef, Tool};
use crate::providers::test_support::{Folded, client, drain, fold, limits, short_idle};
use crate::providers::{FailureKind, Provider};
use crate::secrets::SecretString;

const KEY: &str = "co-test-key-0123456789";

fn endpoint(server: &FakeServer, key: &str) -> Endpoint {
    Endpoint {
        provider: Provider::Cohere,
        base_url: server.base_url(),
        api_key: Some(SecretString::new(key.into())),
        key_name: Some("co".into()),
        key_id: None,
        model: "command-r7b-12-2024".into(),
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

fn weather_tool() -> Tool {
    Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Weather for a city".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        },
    }
}

async fn server() -> FakeServer {
    let server = FakeServer::start().await;
    server.expect_key(KEY);
    server
}

#[test]
fn requests_map_to_cohere_names() {
    let mut r = request(false);
    r.top_p = Some(0.5);
    r.max_tokens = Some(64);
    r.stop = Some(crate::chat::Stop::One("END".into()));
    r.extra.insert("top_k".into(), json!(10));
    r.tools = Some(vec![weather_tool()]);
    r.tool_choice = Some(json!({"type": "function", "function": {"name": "get_weather"}}));
    r.response_format = None;
    let body = request_body("command-a-03-2025", &r, true).unwrap();
    assert_eq!(body["p"], 0.5);
    assert_eq!(body["k"], 10);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be nice."})
    );
    assert_eq!(body["stream"], true);

    let mut schema = request(false);
    schema.response_format = Some(
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
    );
    let body = request_body("m", &schema, false).unwrap();
    assert_eq!(
        body["response_format"],
        json!({"type": "json_object", "json_schema": {"type": "object"}})
    );

    let mut two = request(false);
    two.n = Some(2);
    assert!(
        request_body("m", &two, false)
            .unwrap_err()
            .message
            .contains("n > 1")
    );
    let mut forced = request(false);
    forced.tools = Some(vec![weather_tool()]);
    forced.tool_choice = Some(json!({"type": "function", "function": {"name": "nope"}}));
    assert!(
        request_body("m", &forced, false)
            .unwrap_err()
            .message
            .contains("'nope'")
    );
}

#[tokio::test]
async fn complete_sends_bearer_v2_chat_and_reads_billed_usage() {
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
    let usage = r.usage.unwrap();
    // Billed units (written as floats by Cohere), not the raw token counts.
    assert_eq!(usage.completion_tokens, 2);
    assert!(usage.prompt_tokens > 0 && usage.prompt_tokens < 200);
    let sent = server.last_request().unwrap();
    assert_eq!(sent.path, "/v2/chat");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.body["model"], "command-r7b-12-2024");
}

#[tokio::test]
async fn a_stream_arrives_in_chunks_with_its_usage() {
    let server = server().await;
    server.push(Behavior::chunks(
        ["Hel", "lo", " you"],
        Duration::ZERO,
        Duration::ZERO,
    ));
    let s = stream(&client(), &endpoint(&server, KEY), &request(true), limits())
        .await
        .unwrap();
    let (chunks, err) = drain(s).await;
    assert!(err.is_none(), "{err:?}");
    let Folded {
        text,
        tools: _,
        finish,
        usage,
    } = fold(&chunks);
    assert_eq!(text, "Hello you");
    assert_eq!(finish.as_deref(), Some("stop"));
    assert!(usage.unwrap().completion_tokens > 0);
    assert!(
        chunks[0].id.starts_with("c0e7e5a0"),
        "the stream keeps Cohere's id"
    );
}

#[tokio::test]
async fn tool_calls_complete_and_streamed() {
    let server = server().await;
    let mut r = request(false);
    r.tools = Some(vec![weather_tool()]);
    server.push(Behavior::tool_call("get_weather", json!({"city": "Paris"})));
    let resp = complete(&client(), &endpoint(&server, KEY), &r, limits())
        .await
        .unwrap();
    let call = &resp.choices[0].message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&call.function.arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(resp.text(), "", "the tool plan is not the answer");

    r.stream = Some(true);
    server.push(Behavior::tool_call("get_weather", json!({"city": "Paris"})));
    let s = stream(&client(), &endpoint(&server, KEY), &r, limits())
        .await
        .unwrap();
    let (chunks, err) = drain(s).await;
    assert!(err.is_none(), "{err:?}");
    let Folded {
        text,
        tools,
        finish,
        usage: _,
    } = fold(&chunks);
    assert_eq!(text, "");
    assert_eq!(tools[0].0, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&tools[0].1).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));

    // A history with a tool result goes back in Cohere's shape.
    let mut follow = request(false);
    let mut assistant = ChatMessage::new("assistant", "");
    assistant.tool_calls = Some(vec![call.clone()]);
    let mut result = ChatMessage::new("tool", "{\"temp\": 21}");
    result.tool_call_id = Some(call.id.clone());
    follow.messages.extend([assistant, result]);
    server.push(Behavior::reply("21 degrees"));
    complete(&client(), &endpoint(&server, KEY), &follow, limits())
        .await
        .unwrap();
    let sent = server.last_request().unwrap();
    assert_eq!(
        sent.body["messages"][2]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    assert_eq!(sent.body["messages"][3]["role"], "tool");
    assert_eq!(sent.body["messages"][3]["tool_call_id"], json!(call.id));
}

#[tokio::test]
async fn errors_in_cohere_shape() {
    let server = server().await;
    let (c, e) = (client(), endpoint(&server, KEY));
    server.push(Behavior::rate_limited(1));
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (429, true));
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));

    let err = complete(
        &c,
        &endpoint(&server, "co-wrong"),
        &request(false),
        limits(),
    )
    .await
    .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (401, false));
    assert!(err.message.contains("invalid api token"), "{}", err.message);

    let mut hot = request(false);
    hot.temperature = Some(1.5);
    let err = complete(&c, &e, &hot, limits()).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message.contains("temperature"), "{}", err.message);

    server.push(Behavior::DropMidStream { chunks_before: 1 });
    let (_, err) = drain(stream(&c, &e, &request(true), limits()).await.unwrap()).await;
    assert_eq!(err.unwrap().kind, FailureKind::Incomplete);

    server.push(Behavior::StallMidStream {
        chunks_before: 1,
        stall: Duration::from_secs(2),
    });
    let (_, err) = drain(stream(&c, &e, &request(true), short_idle()).await.unwrap()).await;
    assert_eq!(err.unwrap().kind, FailureKind::Stalled);

    server.push(Behavior::Malformed);
    let err = complete(&c, &e, &request(false), limits())
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Malformed);
}

#[test]
fn a_stream_that_ends_in_error_is_an_error() {
    let mut state = StreamState::new("m");
    let err = state
        .on_event(r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal failure"}}"#)
        .unwrap_err();
    assert!(err.message.contains("internal failure"), "{}", err.message);
    // Thinking deltas are not the answer.
    let mut state = StreamState::new("m");
    let out = state
        .on_event(r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"hmm"}}}}"#)
        .unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn embeddings_ask_for_query_vectors() {
    let server = server().await;
    let mut e = endpoint(&server, KEY);
    e.model = "embed-v4.0".into();
    let inputs = vec!["one".to_string(), "two words".to_string()];
    let vectors = embed(&client(), &e, &inputs, limits()).await.unwrap();
    assert_eq!(vectors.len(), 2);
    assert!(!vectors[0].is_empty());
    let sent = server.last_request().unwrap();
    assert_eq!(sent.path, "/v2/embed");
    assert_eq!(sent.body["input_type"], "search_query");
    assert_eq!(sent.body["embedding_types"], json!(["float"]));
}
