//! Anthropic Messages: headers, validation, JSON and SSE shapes, tools, errors.

use fake_providers::{Behavior, FakeServer};
use serde_json::{Value, json};

use crate::support::{ANTHROPIC_HEADERS, anthropic_body, client, post, read_sse};

#[tokio::test]
async fn message_json_shape_and_usage() {
    let s = FakeServer::start().await;
    let resp = post(
        &s.url("/v1/messages"),
        ANTHROPIC_HEADERS,
        &anthropic_body("Hello Claude", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Fake reply to: Hello Claude"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["usage"]["input_tokens"], 11);
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
}

#[tokio::test]
async fn header_and_body_validation() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("still queued"));
    let body = anthropic_body("hi", false);

    let resp = post(&s.url("/v1/messages"), &[("x-api-key", "k")], &body).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    let resp = post(
        &s.url("/v1/messages"),
        &[("anthropic-version", "2023-06-01")],
        &body,
    )
    .await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");

    let mut no_max = body.clone();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let resp = post(&s.url("/v1/messages"), ANTHROPIC_HEADERS, &no_max).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["message"], "max_tokens: Field required");

    s.expect_key("sk-ant-right");
    let resp = post(&s.url("/v1/messages"), ANTHROPIC_HEADERS, &body).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(s.pending(), 1);
    let resp = post(
        &s.url("/v1/messages"),
        &[
            ("x-api-key", "sk-ant-right"),
            ("anthropic-version", "2023-06-01"),
        ],
        &body,
    )
    .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "still queued");
}

#[tokio::test]
async fn stream_event_sequence() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("Hi there friend"));
    let resp = post(
        &s.url("/v1/messages"),
        ANTHROPIC_HEADERS,
        &anthropic_body("hey", true),
    )
    .await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let read = read_sse(resp).await;
    assert!(read.error.is_none());
    let names: Vec<String> = read
        .events
        .iter()
        .map(|e| e.event.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for e in &read.events {
        assert_eq!(
            e.json()["type"],
            e.event.as_deref().unwrap(),
            "data.type matches event name"
        );
    }
    let start = read.events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["model"], "claude-sonnet-4-5");
    assert_eq!(start["message"]["usage"]["input_tokens"], 10);
    assert_eq!(
        read.events[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = read
        .events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let v = e.json();
            assert_eq!(v["delta"]["type"], "text_delta");
            v["delta"]["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(text, "Hi there friend");
    let delta = read.events[7].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 3);
}

#[tokio::test]
async fn tool_use_non_stream_and_stream() {
    let s = FakeServer::start().await;
    let args = json!({"query": "rust sse", "limit": 3});
    s.push(Behavior::tool_call("search", args.clone()));
    s.push(Behavior::tool_call("search", args.clone()));
    let v: Value = post(
        &s.url("/v1/messages"),
        ANTHROPIC_HEADERS,
        &anthropic_body("find", false),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "search");
    assert_eq!(block["input"], args);

    let read = read_sse(
        post(
            &s.url("/v1/messages"),
            ANTHROPIC_HEADERS,
            &anthropic_body("find", true),
        )
        .await,
    )
    .await;
    let start = read
        .events
        .iter()
        .find(|e| e.event.as_deref() == Some("content_block_start"))
        .unwrap();
    let cb = start.json()["content_block"].clone();
    assert_eq!(cb["type"], "tool_use");
    assert_eq!(cb["name"], "search");
    assert_eq!(cb["input"], json!({}));
    let partial: String = read
        .events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let v = e.json();
            assert_eq!(v["delta"]["type"], "input_json_delta");
            v["delta"]["partial_json"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), args);
    let delta = read
        .events
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(delta.json()["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        read.events.last().unwrap().event.as_deref(),
        Some("message_stop")
    );
}

#[tokio::test]
async fn overloaded_and_rate_limit_errors() {
    let s = FakeServer::start().await;
    s.push(Behavior::status(529, "Overloaded"));
    s.push(Behavior::rate_limited(7));
    let body = anthropic_body("hi", true);
    let resp = post(&s.url("/v1/messages"), ANTHROPIC_HEADERS, &body).await;
    assert_eq!(resp.status().as_u16(), 529);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(
        v["error"],
        json!({"type": "overloaded_error", "message": "Overloaded"})
    );
    let resp = post(&s.url("/v1/messages"), ANTHROPIC_HEADERS, &body).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn cached_tokens_and_max_tokens() {
    let s = FakeServer::start().await;
    s.set_cached_tokens(4);
    s.push(Behavior::reply("a b c d e f"));
    let mut body = anthropic_body("Hello Claude", false);
    body["max_tokens"] = json!(2);
    let v: Value = post(&s.url("/v1/messages"), ANTHROPIC_HEADERS, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["input_tokens"], 11 - 4);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 4);
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["content"][0]["text"], "a b");
    assert_eq!(v["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn count_tokens_and_models() {
    let s = FakeServer::start().await;
    let v: Value = post(
        &s.url("/v1/messages/count_tokens"),
        ANTHROPIC_HEADERS,
        &json!({
            "model": "claude-sonnet-4-5",
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]}]
        }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["input_tokens"], 2 + 3 + 3 + 3);
    let mut req = client().get(s.url("/v1/models"));
    for (k, val) in ANTHROPIC_HEADERS {
        req = req.header(*k, *val);
    }
    let v: Value = req.send().await.unwrap().json().await.unwrap();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
}
