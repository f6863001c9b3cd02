//! The built-in `demo` provider: answers locally, deterministically, with no key and no network,
//! so a newcomer can try prompts, comparisons, logs and costs at once. Every answer says it is a
//! demo. Models: `demo/small`, `demo/large` (slower, longer answers) and `demo/fast` (no
//! simulated latency); any other `demo/<name>` behaves like `demo/small`.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{ChunkStream, Endpoint, ProviderError, estimate_tokens, new_completion_id, unix_now};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ChunkChoice, Delta, Usage,
};

struct Profile {
    first_token: Duration,
    per_token: Duration,
    sentences: usize,
}

fn profile(model: &str) -> Profile {
    match model.trim_start_matches("demo/") {
        "large" => Profile {
            first_token: Duration::from_millis(180),
            per_token: Duration::from_millis(9),
            sentences: 4,
        },
        "fast" => Profile {
            first_token: Duration::ZERO,
            per_token: Duration::ZERO,
            sentences: 1,
        },
        _ => Profile {
            first_token: Duration::from_millis(60),
            per_token: Duration::from_millis(4),
            sentences: 2,
        },
    }
}

/// FNV-1a, so the same request always gets the same answer.
fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const OPENERS: &[&str] = &[
    "Here is a demo answer",
    "A simulated reply",
    "This is the demo provider speaking",
    "Demo response",
];
const FILLERS: &[&str] = &[
    "A real model would reason about the request in detail",
    "Configure a virtual key to get real answers",
    "Latency, tokens and cost are simulated but computed the same way as for real calls",
    "The answer is deterministic, so runs can be compared",
    "Swap the model for a real one when you are ready",
];

/// The deterministic answer text for a request.
pub fn answer(model: &str, request: &ChatRequest) -> String {
    let prompt = request.last_user_text().unwrap_or_default();
    let words: Vec<&str> = prompt.split_whitespace().take(12).collect();
    let h = hash(&format!("{model}\u{0}{prompt}"));
    let p = profile(model);
    let mut out = format!(
        "[demo:{}] {} about \"{}{}\".",
        model.trim_start_matches("demo/"),
        OPENERS[(h % OPENERS.len() as u64) as usize],
        words.join(" "),
        if prompt.split_whitespace().count() > 12 {
            " …"
        } else {
            ""
        }
    );
    for i in 0..p.sentences.saturating_sub(1) {
        out.push(' ');
        out.push_str(FILLERS[((h >> (8 * (i + 1))) % FILLERS.len() as u64) as usize]);
        out.push('.');
    }
    if let Some(max) = request.max_output_tokens() {
        let mut taken = String::new();
        for w in out.split_inclusive(' ') {
            if estimate_tokens(&(taken.clone() + w)) > max as u64 {
                break;
            }
            taken.push_str(w);
        }
        out = taken.trim_end().to_owned();
    }
    out
}

fn usage(request: &ChatRequest, text: &str) -> Usage {
    super::openai::estimated_usage(request, text)
}

fn check(endpoint: &Endpoint) -> Result<(), ProviderError> {
    if endpoint.model.is_empty() {
        return Err(ProviderError::config("name a demo model, e.g. demo/small"));
    }
    Ok(())
}

pub async fn complete(
    endpoint: &Endpoint,
    request: &ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    check(endpoint)?;
    let model = format!("demo/{}", endpoint.model.trim_start_matches("demo/"));
    let text = answer(&model, request);
    let usage = usage(request, &text);
    let p = profile(&model);
    tokio::time::sleep(p.first_token + p.per_token * usage.completion_tokens as u32).await;
    Ok(ChatResponse {
        id: new_completion_id(),
        object: "chat.completion".into(),
        created: unix_now(),
        model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage::new("assistant", text),
            finish_reason: Some("stop".into()),
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: Some("portolan-demo".into()),
    })
}

pub async fn stream(
    endpoint: &Endpoint,
    request: &ChatRequest,
) -> Result<ChunkStream, ProviderError> {
    check(endpoint)?;
    let model = format!("demo/{}", endpoint.model.trim_start_matches("demo/"));
    let text = answer(&model, request);
    let usage = usage(request, &text);
    let p = profile(&model);
    let id = new_completion_id();
    let created = unix_now();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        tokio::time::sleep(p.first_token).await;
        let mut first = ChatChunk::new(&id, &model, created);
        first.choices.push(ChunkChoice {
            index: 0,
            delta: Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                tool_calls: None,
            },
            finish_reason: None,
        });
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        for piece in text.split_inclusive(' ') {
            if !p.per_token.is_zero() {
                tokio::time::sleep(p.per_token * estimate_tokens(piece) as u32).await;
            }
            if tx
                .send(Ok(ChatChunk::text(&id, &model, created, piece)))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut last = ChatChunk::new(&id, &model, created);
        last.choices.push(ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: Some("stop".into()),
        });
        let _ = tx.send(Ok(last)).await;
        let mut u = ChatChunk::new(&id, &model, created);
        u.usage = Some(usage);
        let _ = tx.send(Ok(u)).await;
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "demo/fast".into(),
            messages: vec![ChatMessage::new("user", text)],
            ..Default::default()
        }
    }

    #[test]
    fn answers_are_deterministic_labelled_and_differ_by_model() {
        let r = req("Summarise the meeting notes about the Q3 launch");
        assert_eq!(answer("demo/small", &r), answer("demo/small", &r));
        assert!(answer("demo/small", &r).starts_with("[demo:small]"));
        assert_ne!(answer("demo/small", &r), answer("demo/large", &r));
        assert!(answer("demo/large", &r).len() > answer("demo/fast", &r).len());
    }

    #[test]
    fn max_tokens_caps_the_answer() {
        let mut r = req("hello there");
        r.max_tokens = Some(5);
        assert!(estimate_tokens(&answer("demo/large", &r)) <= 5);
    }
}
