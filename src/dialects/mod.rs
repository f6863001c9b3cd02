//! Other APIs' wire formats, translated to and from the engine's one request format (OpenAI
//! Chat Completions), so clients written for them work unchanged against the gateway and reach
//! every provider: OpenAI's Responses API ([`responses`]), Anthropic's Messages API
//! ([`messages`]) and OpenAI's legacy Completions ([`completions`]). Each translation is pure:
//! a request in, a chat request out; a chat answer (or a stream of chunks) in, the dialect's
//! answer (or event sequence) out. A stream that ends without finishing ends with the dialect's
//! error event, never with a silent success.

pub mod completions;
pub mod messages;
pub mod responses;

use serde_json::Value;

/// A request the dialect cannot carry, with what it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// The text of a JSON value that should be a string, else its JSON.
pub(crate) fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Names of `object`'s fields outside `known`, for a 400 that names them.
pub(crate) fn unknown_fields(
    object: &serde_json::Map<String, Value>,
    known: &[&str],
) -> Vec<String> {
    object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect()
}
