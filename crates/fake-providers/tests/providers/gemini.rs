//! Gemini generateContent / streamGenerateContent / embeddings / errors.

use fake_providers::{Behavior, FakeServer};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{client, gemini_body, post, read_sse};

const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

#[tokio::test]
async fn generate_content_json_shape() {
    let s = FakeServer::start().await;
    let resp = post(&s.url(GEN), &[], &gemini_body("Hello Gemini")).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let cand = &v["candidates"][0];
    assert_eq!(cand["content"]["role"], "model");
    assert_eq!(
        cand["content"]["parts"],
        json!([{"text": "Fake reply to: Hello Gemini"}])
    );
    assert_eq!(cand["finishReason"], "STOP");
    assert_eq!(cand["index"], 0);
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 11);
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 5);
    assert_eq!(v["usageMetadata"]["totalTokenCount"], 16);
    assert!(v["usageMetadata"].get("cachedContentTokenCount").is_none());
    assert_eq!(v["modelVersion"], "gemini-2.5-flash");
}

#[tokio::test]
async fn auth_by_header_or_query_key() {
    let s = FakeServer::start().await;
    s.expect_key("AIza-right");
    let resp = post(&s.url(GEN), &[], &gemini_body("x")).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 401);
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
    assert!(v["error"]["message"].is_string());
    let resp = post(
        &s.url(GEN),
        &[("x-goog-api-key", "AIza-wrong")],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let resp = post(
        &s.url(GEN),
        &[("x-goog-api-key", "AIza-right")],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = post(
        &s.url(&format!("{GEN}?key=AIza-right")),
        &[],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn stream_sse_has_finish_and_usage_last_and_no_done() {
    let s = FakeServer::start().await;
    s.set_cached_tokens(5);
    s.push(Behavior::reply("alpha beta gamma"));
    let resp = post(&s.url(STREAM), &[], &gemini_body("Hello Gemini")).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let read = read_sse(resp).await;
    assert!(read.error.is_none());
    assert!(!read.raw.contains("[DONE]"));
    assert!(read.raw.ends_with("\r\n\r\n"));
    let docs: Vec<Value> = read.events.iter().map(|e| e.json()).collect();
    assert_eq!(docs.len(), 3);
    let text: String = docs
        .iter()
        .map(|d| {
            d["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "alpha beta gamma");
    for d in &docs[..2] {
        assert!(d["candidates"][0].get("finishReason").is_none());
    }
    let last = docs.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 3);
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 11);
    assert_eq!(last["usageMetadata"]["cachedContentTokenCount"], 5);
}

#[tokio::test]
async fn stream_without_alt_sse_is_a_json_array() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("one two"));
    let resp = post(
        &s.url("/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
        &[],
        &gemini_body("x"),
    )
    .await;
    let mut body = String::new();
    let mut stream = resp.bytes_stream();
    while let Some(b) = stream.next().await {
        body.push_str(&String::from_utf8_lossy(&b.unwrap()));
    }
    let arr: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[1]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn function_call_and_max_tokens() {
    let s = FakeServer::start().await;
    let args = json!({"location": "Berlin"});
    s.push(Behavior::tool_call("lookup", args.clone()));
    s.push(Behavior::tool_call("lookup", args.clone()));
    s.push(Behavior::reply("w1 w2 w3 w4"));
    let v: Value = post(&s.url(GEN), &[], &gemini_body("x"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "lookup", "args": args})
    );
    let read = read_sse(post(&s.url(STREAM), &[], &gemini_body("x")).await).await;
    let last = read.events.last().unwrap().json();
    assert_eq!(
        last["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "lookup"
    );
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");

    let mut body = gemini_body("x");
    body["generationConfig"] = json!({"maxOutputTokens": 2});
    let v: Value = post(&s.url(GEN), &[], &body).await.json().await.unwrap();
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], "w1 w2");
}

#[tokio::test]
async fn errors_use_google_shape() {
    let s = FakeServer::start().await;
    s.push(Behavior::Status {
        status: 429,
        message: "Resource has been exhausted (e.g. check quota).".into(),
        retry_after: Some("3".into()),
        retry_after_ms: None,
    });
    let resp = post(&s.url(STREAM), &[], &gemini_body("x")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        v["error"]["message"],
        "Resource has been exhausted (e.g. check quota)."
    );

    let resp = post(&s.url(GEN), &[], &json!({"contents": []})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn embeddings_single_and_batch() {
    let s = FakeServer::start().await;
    let v: Value = post(
        &s.url("/v1beta/models/text-embedding-004:embedContent"),
        &[],
        &json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}}),
    )
    .await
    .json()
    .await
    .unwrap();
    let single = v["embedding"]["values"].as_array().unwrap().clone();
    assert_eq!(single.len(), 64);
    let v: Value = post(
        &s.url("/v1beta/models/text-embedding-004:batchEmbedContents"),
        &[],
        &json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "other"}]}, "outputDimensionality": 16}
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let embs = v["embeddings"].as_array().unwrap();
    assert_eq!(embs[0]["values"].as_array().unwrap(), &single);
    assert_eq!(embs[1]["values"].as_array().unwrap().len(), 16);

    // Embedding behaviours have their own queue.
    s.push_embedding(Behavior::status(503, "The model is overloaded."));
    let resp = post(
        &s.url("/v1beta/models/text-embedding-004:embedContent"),
        &[],
        &json!({"content": {"parts": [{"text": "x"}]}}),
    )
    .await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
}

#[tokio::test]
async fn models_count_tokens_and_encoded_colon() {
    let s = FakeServer::start().await;
    let v: Value = client()
        .get(s.url("/v1beta/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/gemini-2.5-flash")
    );
    let v: Value = post(
        &s.url("/v1beta/models/gemini-2.5-flash:countTokens"),
        &[],
        &gemini_body("a b c"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["totalTokens"], 3 + 3 + 3 + 3);
    let resp = post(
        &s.url("/v1beta/models/gemini-2.5-flash%3AgenerateContent"),
        &[],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let resp = post(
        &s.url("/v1beta/models/gemini-2.5-flash:bogus"),
        &[],
        &gemini_body("x"),
    )
    .await;
    assert_eq!(resp.status(), 404);
}
