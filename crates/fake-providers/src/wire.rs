//! The provider-neutral model of one answer, and the trait each provider
//! implements to render it in its own wire format.
//!
//! Behaviours (delays, drops, stalls, truncation by max tokens) are played
//! once, generically, in [`crate::respond`]; a provider only says what its
//! JSON documents and SSE events look like. This keeps the four providers'
//! failure modes identical in timing and different only in bytes.

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

/// Everything a provider needs to render an answer to one request.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The model to echo back.
    pub(crate) model: String,
    /// Unique number of this call within the server, for ids.
    pub(crate) seq: u64,
    /// Unix seconds when the call was handled.
    pub(crate) created: u64,
    /// Prompt tokens counted from the request (before cache accounting).
    pub(crate) prompt_tokens: u64,
    /// Cached prompt tokens to report.
    pub(crate) cached_tokens: u64,
    /// The request's output-token limit, if any.
    pub(crate) max_tokens: Option<u64>,
    /// OpenAI `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    /// The request-derived default reply.
    pub(crate) default_text: String,
}

impl Call {
    /// Prompt tokens to report where the count includes cached tokens
    /// (OpenAI, Gemini): never below the cached count.
    pub(crate) fn prompt_including_cache(&self) -> u64 {
        self.prompt_tokens.max(self.cached_tokens)
    }
}

/// Why the answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Natural end.
    Stop,
    /// Cut by the request's max tokens.
    Length,
    /// A tool call.
    ToolCall,
}

/// One stream event before framing.
#[derive(Debug, Clone)]
pub(crate) enum Ev {
    /// A JSON event, with an SSE `event:` name for providers that use one.
    Json(Option<&'static str>, Value),
    /// OpenAI's terminal `data: [DONE]`.
    Done,
    /// A content event whose payload is not valid JSON.
    Malformed,
}

/// How events are laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `[event: NAME\n]data: JSON\n\n` (OpenAI, Anthropic).
    Sse,
    /// `data: JSON\r\n\r\n` (Gemini `alt=sse`).
    SseCrlf,
    /// A JSON array streamed element by element (Gemini without `alt=sse`).
    JsonArray,
    /// AWS's binary event-stream: one frame per event, its type in the `:event-type` header
    /// (Bedrock's ConverseStream).
    EventStream,
}

/// Turns events into bytes; stateful for the JSON-array framing.
#[derive(Debug)]
pub(crate) struct Framer {
    framing: Framing,
    elements: usize,
}

/// Payload used for [`Ev::Malformed`]: an unterminated JSON object.
const BROKEN_JSON: &str = r#"{"id":"fake-malformed","choices":[{"delta":{"content":"unterminated"#;

impl Framer {
    pub(crate) fn new(framing: Framing) -> Self {
        Framer {
            framing,
            elements: 0,
        }
    }

    /// The content type of a stream in this framing.
    pub(crate) fn content_type(&self) -> &'static str {
        match self.framing {
            Framing::Sse => "text/event-stream; charset=utf-8",
            Framing::SseCrlf => "text/event-stream",
            Framing::JsonArray => "application/json; charset=UTF-8",
            Framing::EventStream => "application/vnd.amazon.eventstream",
        }
    }

    /// Frames a batch of events into one chunk of bytes.
    pub(crate) fn frame(&mut self, evs: Vec<Ev>) -> Bytes {
        if self.framing == Framing::EventStream {
            let mut out = Vec::new();
            for ev in evs {
                let (name, payload) = match ev {
                    Ev::Json(name, data) => (name.unwrap_or("unknown"), data.to_string()),
                    Ev::Done => continue,
                    Ev::Malformed => ("contentBlockDelta", BROKEN_JSON.to_string()),
                };
                out.extend(event_frame(name, payload.as_bytes()));
            }
            return Bytes::from(out);
        }
        let mut out = String::new();
        for ev in evs {
            self.frame_one(&mut out, ev);
        }
        Bytes::from(out)
    }

    fn frame_one(&mut self, out: &mut String, ev: Ev) {
        match self.framing {
            Framing::EventStream => unreachable!("event-stream frames are binary"),
            Framing::Sse => match ev {
                Ev::Json(name, data) => {
                    if let Some(name) = name {
                        out.push_str("event: ");
                        out.push_str(name);
                        out.push('\n');
                    }
                    out.push_str("data: ");
                    out.push_str(&data.to_string());
                    out.push_str("\n\n");
                }
                Ev::Done => out.push_str("data: [DONE]\n\n"),
                Ev::Malformed => {
                    out.push_str("data: ");
                    out.push_str(BROKEN_JSON);
                    out.push_str("\n\n");
                }
            },
            Framing::SseCrlf => match ev {
                Ev::Json(_, data) => {
                    out.push_str("data: ");
                    out.push_str(&data.to_string());
                    out.push_str("\r\n\r\n");
                }
                Ev::Done => {}
                Ev::Malformed => {
                    out.push_str("data: ");
                    out.push_str(BROKEN_JSON);
                    out.push_str("\r\n\r\n");
                }
            },
            Framing::JsonArray => {
                let text = match ev {
                    Ev::Json(_, data) => data.to_string(),
                    Ev::Done => return,
                    Ev::Malformed => BROKEN_JSON.to_string(),
                };
                out.push_str(if self.elements == 0 { "[" } else { ",\r\n" });
                out.push_str(&text);
                self.elements += 1;
            }
        }
    }

    /// Bytes that end a complete stream (the array's `]`).
    pub(crate) fn close(&mut self) -> Bytes {
        match self.framing {
            Framing::JsonArray if self.elements == 0 => Bytes::from_static(b"[]"),
            Framing::JsonArray => Bytes::from_static(b"]"),
            _ => Bytes::new(),
        }
    }
}

/// How one provider renders answers, errors and streams.
pub(crate) trait Wire: Send + Sync {
    /// The provider's error document for `status` with `message`.
    fn error_body(&self, status: StatusCode, message: &str, seq: u64) -> Value;

    /// A request-id header this provider sets on every response.
    fn request_id_header(&self) -> Option<(&'static str, String)> {
        None
    }

    /// A header naming the error's kind, for providers that put it there (Bedrock's
    /// `x-amzn-ErrorType`).
    fn error_type_header(&self, _status: StatusCode) -> Option<(&'static str, String)> {
        None
    }

    /// Framing of this provider's streams.
    fn framing(&self) -> Framing;

    /// The complete (non-streaming) document for a text answer.
    fn full_text(&self, call: &Call, text: &str, finish: Finish, completion_tokens: u64) -> Value;

    /// The complete (non-streaming) document for a tool call.
    fn full_tool(&self, call: &Call, name: &str, args: &Value, completion_tokens: u64) -> Value;

    /// Events opening a text stream, before any content.
    fn open_text(&self, call: &Call) -> Vec<Ev>;

    /// Events for one content piece. `so_far` counts output tokens including
    /// this piece; `last` is set on the final piece of a complete answer.
    fn text_piece(&self, call: &Call, piece: &str, so_far: u64, last: Option<Finish>) -> Vec<Ev>;

    /// Events closing a text stream. `last_marked` tells whether the final
    /// piece was sent with `last` set.
    fn close_text(
        &self,
        call: &Call,
        finish: Finish,
        completion_tokens: u64,
        last_marked: bool,
    ) -> Vec<Ev>;

    /// The whole event sequence of a streamed tool call.
    fn tool_stream(&self, call: &Call, name: &str, args: &Value, completion_tokens: u64)
    -> Vec<Ev>;

    /// Events that follow a malformed content event, ending the stream.
    fn after_malformed(&self, call: &Call) -> Vec<Ev>;
}

/// Splits a tool's argument JSON into a few pieces for streaming.
pub(crate) fn argument_pieces(args: &str) -> Vec<String> {
    if args.len() < 4 {
        return vec![args.to_string()];
    }
    let a = crate::text::floor_boundary(args, args.len() / 3);
    let b = crate::text::floor_boundary(args, 2 * args.len() / 3).max(a);
    [&args[..a], &args[a..b], &args[b..]]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One binary event-stream frame (AWS's framing, written by AWS's own crate): an event, or with
/// `exception_type` an exception.
pub(crate) fn stream_frame(
    message_type: &str,
    type_header: (&str, &str),
    payload: &[u8],
) -> Vec<u8> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let message = Message::new(bytes::Bytes::copy_from_slice(payload))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String(message_type.to_owned().into()),
        ))
        .add_header(Header::new(
            type_header.0.to_owned(),
            HeaderValue::String(type_header.1.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ));
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out)
        .expect("an event-stream frame of this size encodes");
    out
}

/// An event frame named `event_type`.
pub(crate) fn event_frame(event_type: &str, payload: &[u8]) -> Vec<u8> {
    stream_frame("event", (":event-type", event_type), payload)
}
