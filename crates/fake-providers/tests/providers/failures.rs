//! Failure modes and timing: delays, incremental chunks, hangs, drops,
//! stalls, malformed bodies, and the blocking server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fake_providers::{Behavior, FakeServer};
use serde_json::Value;

use crate::support::{
    ANTHROPIC_HEADERS, anthropic_body, gemini_body, openai_chat_body, post, read_sse,
};

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test]
async fn reply_delay_holds_back_the_headers() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply_after("late", MS(80)));
    let t0 = Instant::now();
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", true),
    )
    .await;
    assert!(t0.elapsed() >= MS(80), "headers only after the delay");
    let read = read_sse(resp).await;
    assert_eq!(read.events.last().unwrap().data, "[DONE]");
}

#[tokio::test]
async fn chunks_arrive_incrementally() {
    let s = FakeServer::start().await;
    s.push(Behavior::chunks(["Hel", "lo", " world"], MS(40), MS(40)));
    let t0 = Instant::now();
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", true),
    )
    .await;
    let headers_at = t0.elapsed();
    let read = read_sse(resp).await;
    let content: Vec<(String, Duration)> = read
        .events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            let v = e.json();
            let c = v["choices"][0]["delta"]["content"].as_str()?.to_string();
            (!c.is_empty()).then(|| (c, e.at.duration_since(t0)))
        })
        .collect();
    let texts: Vec<&str> = content.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(texts, ["Hel", "lo", " world"]);
    assert!(
        content[0].1 >= MS(40),
        "first token after first_delay: {:?}",
        content[0].1
    );
    // Headers go out at once, before first_delay: the first token comes well after them. (A
    // gap, not a deadline, so a loaded machine cannot fail it.)
    assert!(
        content[0].1 >= headers_at + MS(20),
        "headers at {headers_at:?}, first token at {:?}",
        content[0].1
    );
    assert!(content[1].1 >= content[0].1 + MS(30), "{content:?}");
    assert!(content[2].1 >= content[1].1 + MS(30), "{content:?}");
}

#[tokio::test]
async fn chunks_non_stream_are_joined_after_total_delay() {
    let s = FakeServer::start().await;
    s.push(Behavior::chunks(["a", " b", " c"], MS(20), MS(20)));
    let t0 = Instant::now();
    let v: Value = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", false),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(t0.elapsed() >= MS(60));
    assert_eq!(v["choices"][0]["message"]["content"], "a b c");
}

#[tokio::test]
async fn hang_times_out_the_client_then_closes_by_itself() {
    let s = FakeServer::start().await;
    s.push(Behavior::hang(MS(400)));
    super::support::install_crypto();
    let client = reqwest::Client::builder().timeout(MS(100)).build().unwrap();
    let t0 = Instant::now();
    let err = client
        .post(s.url("/v1/chat/completions"))
        .json(&openai_chat_body("q", false))
        .send()
        .await
        .expect_err("must time out");
    assert!(err.is_timeout(), "{err:?}");
    assert!(t0.elapsed() >= MS(100));

    // Without a client timeout the server closes the socket with no response.
    s.push(Behavior::hang(MS(50)));
    let t0 = Instant::now();
    let res = crate::support::client()
        .post(s.url("/v1/messages"))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("q", false))
        .send()
        .await;
    assert!(res.is_err(), "no response is ever sent: {res:?}");
    assert!(t0.elapsed() >= MS(50));
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn drop_mid_stream_openai_has_no_done() {
    let s = FakeServer::start().await;
    s.push(Behavior::DropMidStream { chunks_before: 2 });
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("tell me more now", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let read = read_sse(resp).await;
    assert!(
        read.error.is_some(),
        "body must end with an error: {read:?}"
    );
    assert!(!read.raw.contains("[DONE]"));
    let contents: Vec<String> = read
        .events
        .iter()
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(contents, ["Fake", " reply"]);
    assert!(
        read.events
            .iter()
            .all(|e| e.json()["choices"][0]["finish_reason"].is_null())
    );
}

#[tokio::test]
async fn drop_mid_stream_anthropic_and_gemini() {
    let s = FakeServer::start().await;
    s.push(Behavior::DropMidStream { chunks_before: 1 });
    s.push(Behavior::DropMidStream { chunks_before: 3 });
    let read = read_sse(
        post(
            &s.url("/v1/messages"),
            ANTHROPIC_HEADERS,
            &anthropic_body("q", true),
        )
        .await,
    )
    .await;
    assert!(read.error.is_some());
    let names: Vec<&str> = read
        .events
        .iter()
        .filter_map(|e| e.event.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta"
        ]
    );

    let url = s.url("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    let read = read_sse(post(&url, &[], &gemini_body("q")).await).await;
    assert!(read.error.is_some());
    assert_eq!(read.events.len(), 3);
    assert!(
        read.events
            .iter()
            .all(|e| e.json()["candidates"][0].get("finishReason").is_none())
    );
}

#[tokio::test]
async fn drop_mid_stream_non_streaming_body_is_cut() {
    let s = FakeServer::start().await;
    s.push(Behavior::DropMidStream { chunks_before: 0 });
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());
}

#[test]
fn drop_mid_stream_closes_without_chunk_terminator() {
    let s = FakeServer::start_blocking();
    s.push(Behavior::DropMidStream { chunks_before: 1 });
    let body = openai_chat_body("q", true).to_string();
    let mut tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw); // EOF or reset, either is fine
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("transfer-encoding: chunked"), "{raw}");
    assert!(raw.contains("\"content\":\"Fake\""), "{raw}");
    assert!(!raw.contains("[DONE]"));
    assert!(!raw.ends_with("0\r\n\r\n"), "no terminating chunk: {raw}");
}

#[tokio::test]
async fn stall_mid_stream_pauses_then_finishes() {
    let s = FakeServer::start().await;
    s.push(Behavior::StallMidStream {
        chunks_before: 2,
        stall: MS(120),
    });
    let read = read_sse(
        post(
            &s.url("/v1/chat/completions"),
            &[],
            &openai_chat_body("go on", true),
        )
        .await,
    )
    .await;
    assert!(read.error.is_none());
    assert_eq!(read.events.last().unwrap().data, "[DONE]");
    let contents: Vec<&crate::support::Event> = read
        .events
        .iter()
        .filter(|e| {
            e.data != "[DONE]"
                && e.json()["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty())
        })
        .collect();
    let text: String = contents
        .iter()
        .map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(text, "Fake reply to: go on");
    let gap = contents[2].at.duration_since(contents[1].at);
    assert!(gap >= MS(90), "stall between chunk 2 and 3: {gap:?}");
}

#[tokio::test]
async fn malformed_non_stream_and_stream() {
    let s = FakeServer::start().await;
    s.push(Behavior::Malformed);
    s.push(Behavior::Malformed);
    s.push(Behavior::Malformed);
    let resp = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.expect("complete body");
    assert!(serde_json::from_slice::<Value>(&bytes).is_err());

    let read = read_sse(
        post(
            &s.url("/v1/chat/completions"),
            &[],
            &openai_chat_body("q", true),
        )
        .await,
    )
    .await;
    assert!(read.error.is_none());
    assert_eq!(read.events.last().unwrap().data, "[DONE]");
    let bad = read
        .events
        .iter()
        .filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err())
        .count();
    assert_eq!(bad, 1);

    let read = read_sse(
        post(
            &s.url("/v1/messages"),
            ANTHROPIC_HEADERS,
            &anthropic_body("q", true),
        )
        .await,
    )
    .await;
    assert!(
        read.events
            .iter()
            .any(|e| serde_json::from_str::<Value>(&e.data).is_err())
    );
    assert_eq!(
        read.events.last().unwrap().event.as_deref(),
        Some("message_stop")
    );
}

#[tokio::test]
async fn embeddings_queue_is_separate_from_chat_queue() {
    let s = FakeServer::start().await;
    s.push(Behavior::reply("chat only"));
    s.push_embedding(Behavior::rate_limited(1));
    let emb = serde_json::json!({"model": "m", "input": "x"});
    let resp = post(&s.url("/v1/embeddings"), &[], &emb).await;
    assert_eq!(resp.status(), 429);
    let resp = post(&s.url("/v1/embeddings"), &[], &emb).await;
    assert_eq!(resp.status(), 200);
    let v: Value = post(
        &s.url("/v1/chat/completions"),
        &[],
        &openai_chat_body("q", false),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "chat only");
}

#[test]
fn blocking_server_serves_plain_tests_and_stops_on_drop() {
    let s = FakeServer::start_blocking();
    assert!(s.base_url().starts_with("http://127.0.0.1:"));
    let addr = s.addr();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("\"object\":\"list\""));
    assert_eq!(s.request_count(), 1);
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if TcpStream::connect(addr).is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server still accepting after drop"
        );
        std::thread::sleep(MS(10));
    }
}
