//! Shared helpers: an HTTP client and an incremental SSE reader.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

/// Installs the crypto provider reqwest needs in this workspace (see Cargo.toml).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// One parsed SSE event and when its last byte arrived.
#[derive(Debug, Clone)]
pub struct Event {
    pub event: Option<String>,
    pub data: String,
    pub at: Instant,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", self.data))
    }
}

/// The outcome of reading a whole SSE body.
#[derive(Debug)]
pub struct SseRead {
    pub events: Vec<Event>,
    /// Set if the body ended with a transport error (abrupt close).
    pub error: Option<String>,
    /// Raw bytes received, for framing checks.
    pub raw: String,
}

fn take_event(buf: &mut String) -> Option<String> {
    let lf = buf.find("\n\n").map(|i| (i, 2));
    let crlf = buf.find("\r\n\r\n").map(|i| (i, 4));
    let (i, len) = match (lf, crlf) {
        (Some(a), Some(b)) => {
            if a.0 <= b.0 {
                a
            } else {
                b
            }
        }
        (a, b) => a.or(b)?,
    };
    let block = buf[..i].to_string();
    buf.drain(..i + len);
    Some(block)
}

fn parse_block(block: &str, at: Instant) -> Option<Event> {
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.split('\n') {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(Event {
        event,
        data: data.join("\n"),
        at,
    })
}

pub async fn read_sse(resp: reqwest::Response) -> SseRead {
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut raw = String::new();
    let mut events = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => {
                let at = Instant::now();
                let s = String::from_utf8_lossy(&bytes).into_owned();
                raw.push_str(&s);
                buf.push_str(&s);
                while let Some(block) = take_event(&mut buf) {
                    if let Some(ev) = parse_block(&block, at) {
                        events.push(ev);
                    }
                }
            }
            Err(e) => {
                error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    SseRead { events, error, raw }
}

pub async fn post(url: &str, headers: &[(&str, &str)], body: &Value) -> reqwest::Response {
    let mut req = client().post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("send")
}

pub fn openai_chat_body(user: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": user}
        ]
    })
}

pub fn anthropic_body(user: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": user}]
    })
}

pub const ANTHROPIC_HEADERS: &[(&str, &str)] = &[
    ("x-api-key", "sk-ant-test"),
    ("anthropic-version", "2023-06-01"),
];

pub fn gemini_body(user: &str) -> Value {
    serde_json::json!({
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": user}]}]
    })
}
