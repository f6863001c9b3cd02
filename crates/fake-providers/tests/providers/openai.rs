//! OpenAI Chat Completions, Embeddings, Models, auth and queueing.

use fake_providers::{Behavior, FakeServer};
use serde_json::{Value, json};

use crate::support::{client, openai_chat_body, post, read_sse};

#[tokio::test]
async fn chat_completion_json_shape_and_usage() {
    let s = FakeServer::start().await;
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("Hello there", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(resp.headers().contains_key("x-request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Fake reply to: Hello there");
    assert!(choice["message"].get("tool_calls").is_none());
    // system: 3 words + 3, user: 2 words + 3 => 11; reply: 5 words.
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 16);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn default_reply_uses_first_eight_words_of_last_user_message() {
    let s = FakeServer::start().await;
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "one two three four five six seven eight nine ten"}]}
    ]});
    let v: Value = post(&s.url("/v1/chat/completions"), &[], &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Fake reply to: one two three four five six seven eight"
    );
}

#[tokio::test]
async fn chat_stream_with_usage_chunk_and_done() {
    let s = FakeServer::start().await;
    let mut body = openai_chat_body("Stream me please", true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = post(&s.url("/v1/chat/completions"), &[], &body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let read = read_sse(resp).await;
    assert!(read.error.is_none(), "{:?}", read.error);
    let evs = &read.events;
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = evs[..evs.len() - 1].iter().map(|e| e.json()).collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "gpt-4o-mini");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Fake reply to: Stream me please");
    // One chunk per word after the role chunk.
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .count();
    assert_eq!(content_chunks, 6);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(finish["usage"].is_null());
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 6);
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 12);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 18);
}

#[tokio::test]
async fn chat_stream_without_usage_has_no_usage_field() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("a b"));
    let read = read_sse(
        post(
            &s.url("/v1/chat/completions"),
            &[],
            &openai_chat_body("x", true),
        )
        .await,
    )
    .await;
    let evs = &read.events;
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    for e in &evs[..evs.len() - 1] {
        let v = e.json();
        assert!(v.get("usage").is_none());
        assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    }
    assert!(read.raw.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn prefixed_paths_models_and_unknown_urls() {
    let s = FakeServer::start().await;
    let resp = post(
        &s.url("/groq/openai/v1/chat/completions"),
        &[],
        &openai_chat_body("hi", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");

    let list: Value = client()
        .get(s.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "gpt-4o-mini" && m["object"] == "model")
    );
    let prefixed = client()
        .get(s.url("/together/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.status(), 200);
    let one: Value = client()
        .get(s.url("/v1/models/gpt-4o"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "gpt-4o");
    let missing = client().get(s.url("/v1/models/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let unknown = client().post(s.url("/v1/unknown")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let v: Value = unknown.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Invalid URL (POST /v1/unknown)");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["error"]["param"].is_null());
}

#[tokio::test]
async fn tool_call_non_stream_and_stream() {
    let s = FakeServer::start().await;
    let args = json!({"city": "Paris", "unit": "celsius"});
    s.push(Behavior::tool_call("get_weather", args.clone()));
    s.push(Behavior::tool_call("get_weather", args.clone()));

    let v: Value = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("weather?", false),
    )
    .await
    .json()
    .await
    .unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["function"]["name"], "get_weather");
    let parsed: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(parsed, args);

    let read = read_sse(
        post(
            &s.url("/v1/chat/completions"),
            &[],
            &openai_chat_body("weather?", true),
        )
        .await,
    )
    .await;
    let evs = &read.events;
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = evs[..evs.len() - 1].iter().map(|e| e.json()).collect();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["function"]["name"], "get_weather");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert!(chunks.len() >= 4, "arguments are streamed in pieces");
    assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), args);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn embeddings_are_deterministic_and_similar() {
    let s = FakeServer::start().await;
    let body = json!({"model": "text-embedding-3-small", "input": [
        "the cat sat on the mat", "the cat sat on the mat", "a cat sat on a mat today", "quantum chromodynamics lecture"
    ]});
    let resp = post(&s.url("/v1/embeddings"), &[], &body).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    let vecs: Vec<Vec<f64>> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["object"], "embedding");
            assert_eq!(d["index"], i);
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(vecs[0].len(), 64);
    assert_eq!(vecs[0], vecs[1]);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert!((dot(&vecs[0], &vecs[0]) - 1.0).abs() < 1e-3);
    assert!(dot(&vecs[0], &vecs[2]) > dot(&vecs[0], &vecs[3]));
    assert_eq!(v["usage"]["prompt_tokens"], 6 + 6 + 7 + 3);
    assert_eq!(v["usage"]["total_tokens"], 22);

    // A single string, custom dimensions, base64 encoding.
    let body =
        json!({"model": "m", "input": "hello world", "dimensions": 8, "encoding_format": "base64"});
    let v: Value = post(&s.url("/v1/embeddings"), &[], &body)
        .await
        .json()
        .await
        .unwrap();
    let b64 = v["data"][0]["embedding"].as_str().unwrap();
    assert_eq!(b64.len(), 44, "8 floats = 32 bytes = 44 base64 chars");
}

#[tokio::test]
async fn wrong_or_missing_key_gets_401_and_does_not_pop_the_queue() {
    let s = FakeServer::start().await;
    s.expect_key("sk-right-key-1234");
    s.push(Behavior::reply("queued answer"));
    let body = openai_chat_body("hi", false);

    let resp = post(
        &s.url("/v1/chat/completions"),
        &[("authorization", "Bearer sk-wrong-key-9999")],
        &body,
    )
    .await;
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Incorrect API key provided")
    );
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sk-wrong-key-9999")
    );

    let resp = post(&s.url("/v1/chat/completions"), &[], &body).await;
    assert_eq!(resp.status(), 401);

    let resp = post(
        &s.url("/v1/chat/completions"),
        &[("authorization", "Bearer sk-right-key-1234")],
        &body,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "queued answer");
    assert_eq!(s.pending(), 0);

    let models = client().get(s.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
}

#[tokio::test]
async fn status_behaviour_with_retry_headers() {
    let s = FakeServer::start().await;
    s.push(Behavior::Status {
        status: 429,
        message: "Rate limit reached for requests".into(),
        retry_after: Some("2".into()),
        retry_after_ms: Some(1500),
    });
    s.push(Behavior::status(503, "The engine is currently overloaded"));
    let body = openai_chat_body("hi", true);
    let resp = post(&s.url("/v1/chat/completions"), &[], &body).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["retry-after-ms"], "1500");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Rate limit reached for requests");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["param"].is_null());

    let resp = post(&s.url("/v1/chat/completions"), &[], &body).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("retry-after").is_none());
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");

    // Queue empty again: back to the default, streamed.
    let read = read_sse(post(&s.url("/v1/chat/completions"), &[], &body).await).await;
    assert_eq!(read.events.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn queue_order_default_and_reset() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("first"));
    s.push(Behavior::reply("second"));
    let ask = |s: &FakeServer| {
        let url = s.url("/v1/chat/completions");
        async move {
            let v: Value = post(&url, &[], &openai_chat_body("q", false))
                .await
                .json()
                .await
                .unwrap();
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(ask(&s).await, "first");
    assert_eq!(ask(&s).await, "second");
    assert_eq!(ask(&s).await, "Fake reply to: q");
    s.set_default(Behavior::reply("always this"));
    assert_eq!(ask(&s).await, "always this");
    assert_eq!(s.request_count(), 4);
    s.push(Behavior::reply("never used"));
    s.expect_key("k");
    s.reset();
    assert_eq!(s.request_count(), 0);
    assert_eq!(s.pending(), 0);
    assert_eq!(ask(&s).await, "Fake reply to: q");
}

#[tokio::test]
async fn max_tokens_truncates_with_length_finish() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("one two three four five"));
    let mut body = openai_chat_body("q", false);
    body["max_completion_tokens"] = json!(3);
    let v: Value = post(&s.url("/v1/chat/completions"), &[], &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "one two three");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn cached_tokens_are_reported() {
    let s = FakeServer::start().await;
    s.set_cached_tokens(8);
    let v: Value = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("Hello there", false),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 11);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
}

#[tokio::test]
async fn requests_are_recorded_in_order() {
    let s = FakeServer::start().await;
    let body = openai_chat_body("record me", false);
    post(
        &s.url("/v1/chat/completions?trace=1"),
        &[("Authorization", "Bearer abc"), ("X-Custom", "yes")],
        &body,
    )
    .await;
    client().get(s.url("/v1/models")).send().await.unwrap();
    client()
        .post(s.url("/v1/embeddings"))
        .body("not json")
        .send()
        .await
        .unwrap();
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(s.request_count(), 3);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].query.as_deref(), Some("trace=1"));
    assert_eq!(reqs[0].query_param("trace").as_deref(), Some("1"));
    assert_eq!(reqs[0].headers["authorization"], "Bearer abc");
    assert_eq!(reqs[0].headers["x-custom"], "yes");
    assert_eq!(reqs[0].header("X-Custom"), Some("yes"));
    assert_eq!(reqs[0].body, body);
    assert_eq!(reqs[1].method, "GET");
    assert_eq!(reqs[1].query, None);
    assert_eq!(reqs[1].body, Value::Null);
    assert_eq!(reqs[2].body, Value::Null);
    assert_eq!(s.last_request().unwrap().path, "/v1/embeddings");
}

#[tokio::test]
async fn validation_errors_use_openai_shape() {
    let s = FakeServer::start().await;
    let resp = post(&s.url("/v1/chat/completions"), &[], &json!({"model": "m"})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "messages");
    assert_eq!(v["error"]["code"], "missing_required_parameter");

    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &json!({"messages": []}),
    )
    .await;
    assert_eq!(resp.status(), 400);

    let resp = client()
        .post(s.url("/v1/chat/completions"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not parse the JSON body")
    );
}
