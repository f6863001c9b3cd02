//! Scripted behaviours and request records.
//!
//! This is the vocabulary a test uses to tell the fake server what to do with
//! the next model request ([`Behavior`]) and to inspect afterwards what the
//! adapter under test actually sent ([`RecordedRequest`]).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// What the fake server does with one model request.
///
/// Behaviours are queued with [`crate::FakeServer::push`]; every model request
/// (OpenAI/Azure chat completions, Anthropic messages, Gemini
/// generateContent/streamGenerateContent) pops the next one, and when the
/// queue is empty the default behaviour is used (see
/// [`crate::FakeServer::set_default`]). Every variant is rendered in the wire
/// format of the provider whose endpoint was called.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Success with this text. Streams (split into one chunk per word, each
    /// with its leading whitespace) if the request asks to stream. `delay` is
    /// waited before the response starts (before the status line and headers).
    Reply {
        /// The assistant text.
        text: String,
        /// Wait before sending anything.
        delay: Duration,
    },
    /// A streamed answer in exactly these pieces (one content event per
    /// piece). Response headers are sent at once; `first_delay` is waited
    /// before the first body event and `chunk_delay` between pieces, so a test
    /// can watch chunks arrive incrementally and measure time to first token.
    /// For a non-streaming request the pieces are joined and the JSON is sent
    /// after `first_delay + chunk_delay * (pieces - 1)`.
    Chunks {
        /// The content pieces, in order.
        chunks: Vec<String>,
        /// Wait after the headers, before the first event.
        first_delay: Duration,
        /// Wait between two pieces.
        chunk_delay: Duration,
    },
    /// A tool/function call answer: OpenAI `tool_calls` (finish_reason
    /// `tool_calls`), an Anthropic `tool_use` block (stop_reason `tool_use`),
    /// a Gemini `functionCall` part. Streamed or not, as the request asks.
    ToolCall {
        /// The function name.
        name: String,
        /// The arguments object.
        arguments: Value,
    },
    /// An HTTP error with the provider's own error JSON shape. `retry_after`
    /// becomes a `Retry-After` header (seconds, as given) and `retry_after_ms`
    /// a `retry-after-ms` header. Never streamed, even for streaming requests.
    Status {
        /// The HTTP status (an invalid code becomes 500).
        status: u16,
        /// The error message put in the provider's error JSON.
        message: String,
        /// `Retry-After` header value, if any.
        retry_after: Option<String>,
        /// `retry-after-ms` header value, if any.
        retry_after_ms: Option<u64>,
    },
    /// Accept the request and send nothing at all for `for_`, then close the
    /// connection without a response. For timeout tests; the server gives up
    /// by itself after `for_`.
    Hang {
        /// How long to stay silent before closing.
        for_: Duration,
    },
    /// Start a 200 response, send `chunks_before` content chunks, then close
    /// the connection abruptly, without the terminal event (`[DONE]`,
    /// `message_stop`, `finishReason`) and without the chunked-encoding
    /// terminator. A non-streaming request gets the first half of its JSON
    /// body and then the same abrupt close.
    DropMidStream {
        /// Content chunks sent before the connection is dropped.
        chunks_before: usize,
    },
    /// Start a stream, send `chunks_before` content chunks, go silent for
    /// `stall`, then finish normally (remaining chunks and terminal events).
    /// A non-streaming request gets the first half of its JSON body, the
    /// stall, then the rest. For idle-timeout tests.
    StallMidStream {
        /// Content chunks sent before the stall.
        chunks_before: usize,
        /// Length of the silence.
        stall: Duration,
    },
    /// A 200 whose body is not valid JSON (non-streaming: a truncated JSON
    /// document with a correct Content-Length), or, when streaming, a stream
    /// whose content event carries a `data:` payload that is not valid JSON
    /// (the provider's normal opening and terminal events surround it).
    Malformed,
}

impl Behavior {
    /// [`Behavior::Reply`] with no delay.
    pub fn reply(text: impl Into<String>) -> Self {
        Behavior::Reply {
            text: text.into(),
            delay: Duration::ZERO,
        }
    }

    /// [`Behavior::Reply`] after `delay`.
    pub fn reply_after(text: impl Into<String>, delay: Duration) -> Self {
        Behavior::Reply {
            text: text.into(),
            delay,
        }
    }

    /// [`Behavior::Chunks`] from anything yielding strings.
    pub fn chunks<I, S>(chunks: I, first_delay: Duration, chunk_delay: Duration) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Behavior::Chunks {
            chunks: chunks.into_iter().map(Into::into).collect(),
            first_delay,
            chunk_delay,
        }
    }

    /// [`Behavior::ToolCall`].
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Behavior::ToolCall {
            name: name.into(),
            arguments,
        }
    }

    /// [`Behavior::Status`] without retry headers.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Behavior::Status {
            status,
            message: message.into(),
            retry_after: None,
            retry_after_ms: None,
        }
    }

    /// A 429 rate-limit error with `Retry-After: <seconds>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Behavior::Status {
            status: 429,
            message: "Rate limit reached. Please try again later.".to_string(),
            retry_after: Some(retry_after_secs.to_string()),
            retry_after_ms: None,
        }
    }

    /// [`Behavior::Hang`].
    pub fn hang(for_: Duration) -> Self {
        Behavior::Hang { for_ }
    }
}

/// One HTTP request as the fake server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, upper case (`"POST"`).
    pub method: String,
    /// The path, without the query (`"/v1/chat/completions"`).
    pub path: String,
    /// The raw query string without `?`, if there was one.
    pub query: Option<String>,
    /// Headers with lower-cased names; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or `Value::Null` if it was empty or not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// A header value by name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// A query parameter by name, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::text::query_param(self.query.as_deref(), name)
    }
}
