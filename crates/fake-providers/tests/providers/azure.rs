//! Azure OpenAI: deployment paths, api-version, api-key and Azure's shapes.

use fake_providers::{Behavior, FakeServer};
use serde_json::{Value, json};

use crate::support::{post, read_sse};

fn body(stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": "Hello Azure"}]})
}

const PATH: &str = "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21";

#[tokio::test]
async fn azure_chat_echoes_deployment_and_adds_filter_results() {
    let s = FakeServer::start().await;
    s.expect_key("azure-key");
    let resp = post(&s.url(PATH), &[("api-key", "azure-key")], &body(false)).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "my-gpt4o");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Fake reply to: Hello Azure"
    );
    assert_eq!(v["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(
        v["choices"][0]["content_filter_results"]["hate"]["filtered"],
        false
    );
    let rec = s.last_request().unwrap();
    assert_eq!(rec.path, "/openai/deployments/my-gpt4o/chat/completions");
    assert_eq!(
        rec.query_param("api-version").as_deref(),
        Some("2024-10-21")
    );
}

#[tokio::test]
async fn azure_missing_api_version_is_400() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("kept for later"));
    let resp = post(
        &s.url("/openai/deployments/d/chat/completions"),
        &[("api-key", "k")],
        &body(false),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "BadRequest");
    assert_eq!(
        v["error"]["message"],
        "Missing required query parameter: api-version"
    );
    assert_eq!(s.pending(), 1, "a rejected request pops no behaviour");
}

#[tokio::test]
async fn azure_wrong_key_is_401_in_azure_shape() {
    let s = FakeServer::start().await;
    s.expect_key("right");
    let resp = post(&s.url(PATH), &[("api-key", "wrong")], &body(false)).await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "401");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Access denied")
    );
    // An OpenAI-style bearer header is not the Azure key header, but Azure
    // accepts bearer tokens too.
    let resp = post(
        &s.url(PATH),
        &[("authorization", "Bearer right")],
        &body(false),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn azure_status_errors_use_azure_shape() {
    let s = FakeServer::start().await;
    s.push(Behavior::Status {
        status: 429,
        message: "Requests to the ChatCompletions_Create Operation have exceeded rate limit."
            .into(),
        retry_after: Some("1".into()),
        retry_after_ms: Some(800),
    });
    let resp = post(&s.url(PATH), &[], &body(false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["retry-after-ms"], "800");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "429");
}

#[tokio::test]
async fn azure_stream_starts_with_choiceless_filter_chunk() {
    let s = FakeServer::start().await;
    let read = read_sse(post(&s.url(PATH), &[], &body(true)).await).await;
    let evs = &read.events;
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    let first = evs[0].json();
    assert_eq!(first["choices"], json!([]));
    assert!(first["prompt_filter_results"].is_array());
    let text: String = evs[1..evs.len() - 1]
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "Fake reply to: Hello Azure");
}

#[tokio::test]
async fn azure_embeddings() {
    let s = FakeServer::start().await;
    let resp = post(
        &s.url("/openai/deployments/emb/embeddings?api-version=2024-10-21"),
        &[],
        &json!({"input": "hello"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["model"], "emb");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 64);
}
