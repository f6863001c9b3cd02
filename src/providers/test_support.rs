//! What the adapters' wire tests share: a client, limits, and draining a stream.

use std::time::Duration;

use futures_util::StreamExt;

use super::{AttemptLimits, BodyLimits, ChunkStream, ProviderError};
use crate::chat::ChatChunk;

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

pub(crate) fn limits() -> AttemptLimits {
    AttemptLimits {
        request_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        body: BodyLimits::default(),
    }
}

pub(crate) fn short_idle() -> AttemptLimits {
    AttemptLimits {
        idle_timeout: Duration::from_millis(200),
        ..limits()
    }
}

/// Every item of a stream: the chunks, then the error that ended it, if any.
pub(crate) async fn drain(mut s: ChunkStream) -> (Vec<ChatChunk>, Option<ProviderError>) {
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

/// What a stream said, folded: its text, tool calls (name, arguments) by index, finish reason
/// and usage.
pub(crate) struct Folded {
    pub(crate) text: String,
    pub(crate) tools: Vec<(String, String)>,
    pub(crate) finish: Option<String>,
    pub(crate) usage: Option<crate::chat::Usage>,
}

pub(crate) fn fold(chunks: &[ChatChunk]) -> Folded {
    let mut text = String::new();
    let mut tools: Vec<(String, String)> = Vec::new();
    let mut finish = None;
    let mut usage = None;
    for c in chunks {
        for ch in &c.choices {
            if let Some(t) = &ch.delta.content {
                text.push_str(t);
            }
            for call in ch.delta.tool_calls.iter().flatten() {
                let i = call.index as usize;
                while tools.len() <= i {
                    tools.push((String::new(), String::new()));
                }
                if let Some(f) = &call.function {
                    if let Some(n) = &f.name {
                        tools[i].0.push_str(n);
                    }
                    if let Some(a) = &f.arguments {
                        tools[i].1.push_str(a);
                    }
                }
            }
            if ch.finish_reason.is_some() {
                finish = ch.finish_reason.clone();
            }
        }
        if c.usage.is_some() {
            usage = c.usage;
        }
    }
    Folded {
        text,
        tools,
        finish,
        usage,
    }
}
