//! Plays a [`Behavior`] against a request, provider-neutrally.
//!
//! Handlers parse the provider's request into a [`Call`] and hand it here
//! with the popped behaviour; this module decides timing (delays, stalls,
//! drops, hangs) and asks the provider's [`Wire`] for the bytes.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::behavior::Behavior;
use crate::body::{Steps, timed_body};
use crate::conn::KillSwitch;
use crate::state::Shared;
use crate::text::{floor_boundary, pad_pieces, split_pieces, truncate_pieces, words};
use crate::wire::{Call, Ev, Finish, Framer, Wire};

/// One request being handled, with what the handler needs from the server.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) kill: KillSwitch,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    /// The body as JSON; `None` if empty or not JSON.
    pub(crate) body: Option<Value>,
    /// Whether the body had any bytes.
    pub(crate) has_body: bool,
    /// The body as received (Bedrock's signature covers its exact bytes).
    pub(crate) raw: bytes::Bytes,
}

impl Ctx {
    /// A header value, if present and UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A decoded query parameter.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        crate::text::query_param(self.query.as_deref(), name)
    }

    /// A new call skeleton for request number `seq`, with the server's
    /// cached-token setting.
    pub(crate) fn new_call(
        &self,
        seq: u64,
        model: String,
        prompt_tokens: u64,
        last_user: &str,
    ) -> Call {
        Call {
            model,
            seq,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            prompt_tokens,
            cached_tokens: self.shared.cached_tokens(),
            max_tokens: None,
            include_usage: false,
            default_text: crate::text::default_reply(last_user),
        }
    }
}

/// Sets a header, silently skipping values that are not valid header text.
fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn with_request_id(wire: &dyn Wire, resp: &mut Response) {
    if let Some((name, value)) = wire.request_id_header() {
        set_header(resp, name, &value);
    }
}

/// A complete JSON response.
pub(crate) fn json_response(wire: &dyn Wire, status: StatusCode, value: &Value) -> Response {
    let mut resp = Response::new(Body::from(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    with_request_id(wire, &mut resp);
    resp
}

/// The provider's error response, with optional retry headers.
pub(crate) fn error_response(
    wire: &dyn Wire,
    status: StatusCode,
    message: &str,
    seq: u64,
    retry_after: Option<&str>,
    retry_after_ms: Option<u64>,
) -> Response {
    let mut resp = json_response(wire, status, &wire.error_body(status, message, seq));
    if let Some((name, value)) = wire.error_type_header(status) {
        set_header(&mut resp, name, &value);
    }
    if let Some(v) = retry_after {
        set_header(&mut resp, "retry-after", v);
    }
    if let Some(ms) = retry_after_ms {
        set_header(&mut resp, "retry-after-ms", &ms.to_string());
    }
    resp
}

fn body_response(wire: &dyn Wire, content_type: &'static str, body: Body) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_request_id(wire, &mut resp);
    resp
}

/// Handles the behaviours that ignore the request kind: `Status` and `Hang`.
async fn status_or_hang(wire: &dyn Wire, ctx: &Ctx, b: &Behavior, seq: u64) -> Option<Response> {
    match b {
        Behavior::Status {
            status,
            message,
            retry_after,
            retry_after_ms,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(error_response(
                wire,
                status,
                message,
                seq,
                retry_after.as_deref(),
                *retry_after_ms,
            ))
        }
        Behavior::Hang { for_ } => {
            tokio::time::sleep(*for_).await;
            // The response below is never written: the socket now fails.
            ctx.kill.trigger();
            Some(Response::new(Body::empty()))
        }
        _ => None,
    }
}

/// Delivers a complete JSON document according to `b` (delays, truncation,
/// drop, stall, malformed, errors). Used for non-streaming answers and for
/// embeddings.
pub(crate) async fn deliver_json(
    wire: &dyn Wire,
    ctx: &Ctx,
    b: &Behavior,
    delay: Duration,
    doc: Value,
    seq: u64,
) -> Response {
    if let Some(resp) = status_or_hang(wire, ctx, b, seq).await {
        return resp;
    }
    let text = doc.to_string();
    let half = floor_boundary(&text, text.len() / 2);
    match b {
        Behavior::DropMidStream { .. } => {
            let mut steps = Steps::default();
            steps.data(text[..half].to_string());
            steps.abort();
            body_response(
                wire,
                "application/json",
                timed_body(steps, ctx.kill.clone()),
            )
        }
        Behavior::StallMidStream { stall, .. } => {
            let mut steps = Steps::default();
            steps.data(text[..half].to_string());
            steps.sleep(*stall);
            steps.data(text[half..].to_string());
            body_response(
                wire,
                "application/json",
                timed_body(steps, ctx.kill.clone()),
            )
        }
        Behavior::Malformed => {
            let mut resp = Response::new(Body::from(text[..half].to_string()));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            with_request_id(wire, &mut resp);
            resp
        }
        _ => {
            wait(delay).await;
            json_response(wire, StatusCode::OK, &doc)
        }
    }
}

/// The start delay a success behaviour asks for (embeddings use only this).
pub(crate) fn start_delay(b: &Behavior) -> Duration {
    match b {
        Behavior::Reply { delay, .. } => *delay,
        Behavior::Chunks { first_delay, .. } => *first_delay,
        _ => Duration::ZERO,
    }
}

/// How a text stream ends.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Complete,
    DropAfter(usize),
    StallAfter(usize, Duration),
}

fn completion_tokens(text: &str) -> u64 {
    words(text).max(1)
}

fn text_stream(
    wire: &dyn Wire,
    call: &Call,
    pieces: Vec<String>,
    first_delay: Duration,
    chunk_delay: Duration,
    mode: Mode,
) -> (Steps, &'static str) {
    let dropping = matches!(mode, Mode::DropAfter(_));
    let (pieces, cut) = if dropping {
        (pieces, false)
    } else {
        truncate_pieces(pieces, call.max_tokens)
    };
    let finish = if cut { Finish::Length } else { Finish::Stop };
    let completion = completion_tokens(&pieces.concat());
    let mut fr = Framer::new(wire.framing());
    let mut steps = Steps::default();
    steps.sleep(first_delay);
    steps.data(fr.frame(wire.open_text(call)));
    let n = pieces.len();
    let mut so_far = 0;
    for (i, piece) in pieces.iter().enumerate() {
        match mode {
            Mode::DropAfter(k) if k == i => {
                steps.abort();
                return (steps, fr.content_type());
            }
            Mode::StallAfter(k, stall) if k == i => steps.sleep(stall),
            _ => {}
        }
        if i > 0 {
            steps.sleep(chunk_delay);
        }
        so_far += words(piece);
        let last = (!dropping && i + 1 == n).then_some(finish);
        let count = if last.is_some() { completion } else { so_far };
        steps.data(fr.frame(wire.text_piece(call, piece, count, last)));
    }
    if dropping {
        steps.abort();
        return (steps, fr.content_type());
    }
    steps.data(fr.frame(wire.close_text(call, finish, completion, n > 0)));
    steps.data(fr.close());
    (steps, fr.content_type())
}

/// Answers a chat-like model request according to `b`.
pub(crate) async fn respond_chat(
    wire: &dyn Wire,
    ctx: &Ctx,
    call: Call,
    stream: bool,
    b: Behavior,
) -> Response {
    let seq = call.seq;
    if let Some(resp) = status_or_hang(wire, ctx, &b, seq).await {
        return resp;
    }
    if !stream {
        let full_text = |pieces: Vec<String>| {
            let (pieces, cut) = truncate_pieces(pieces, call.max_tokens);
            let text = pieces.concat();
            let finish = if cut { Finish::Length } else { Finish::Stop };
            wire.full_text(&call, &text, finish, completion_tokens(&text))
        };
        let (delay, doc) = match &b {
            Behavior::Reply { text, delay } => (*delay, full_text(split_pieces(text))),
            Behavior::Chunks {
                chunks,
                first_delay,
                chunk_delay,
            } => {
                let gaps = u32::try_from(chunks.len().saturating_sub(1)).unwrap_or(u32::MAX);
                let delay = *first_delay + chunk_delay.saturating_mul(gaps);
                (delay, full_text(chunks.clone()))
            }
            Behavior::ToolCall { name, arguments } => {
                let tokens = completion_tokens(&arguments.to_string());
                (
                    Duration::ZERO,
                    wire.full_tool(&call, name, arguments, tokens),
                )
            }
            _ => (Duration::ZERO, full_text(split_pieces(&call.default_text))),
        };
        return deliver_json(wire, ctx, &b, delay, doc, seq).await;
    }

    let (steps, content_type) = match &b {
        Behavior::Reply { text, delay } => {
            wait(*delay).await;
            text_stream(
                wire,
                &call,
                split_pieces(text),
                Duration::ZERO,
                Duration::ZERO,
                Mode::Complete,
            )
        }
        Behavior::Chunks {
            chunks,
            first_delay,
            chunk_delay,
        } => text_stream(
            wire,
            &call,
            chunks.clone(),
            *first_delay,
            *chunk_delay,
            Mode::Complete,
        ),
        Behavior::ToolCall { name, arguments } => {
            let tokens = completion_tokens(&arguments.to_string());
            let mut fr = Framer::new(wire.framing());
            let mut steps = Steps::default();
            steps.data(fr.frame(wire.tool_stream(&call, name, arguments, tokens)));
            steps.data(fr.close());
            (steps, fr.content_type())
        }
        Behavior::DropMidStream { chunks_before } => {
            let pieces = pad_pieces(split_pieces(&call.default_text), *chunks_before + 1);
            text_stream(
                wire,
                &call,
                pieces,
                Duration::ZERO,
                Duration::ZERO,
                Mode::DropAfter(*chunks_before),
            )
        }
        Behavior::StallMidStream {
            chunks_before,
            stall,
        } => {
            let pieces = pad_pieces(split_pieces(&call.default_text), *chunks_before + 1);
            text_stream(
                wire,
                &call,
                pieces,
                Duration::ZERO,
                Duration::ZERO,
                Mode::StallAfter(*chunks_before, *stall),
            )
        }
        // Status and Hang were answered above; only Malformed is left.
        _ => {
            let mut fr = Framer::new(wire.framing());
            let mut steps = Steps::default();
            let mut evs = wire.open_text(&call);
            evs.push(Ev::Malformed);
            evs.extend(wire.after_malformed(&call));
            steps.data(fr.frame(evs));
            steps.data(fr.close());
            (steps, fr.content_type())
        }
    };
    body_response(wire, content_type, timed_body(steps, ctx.kill.clone()))
}

/// Waits `d`; nothing at all for zero (tokio's timer would round a zero sleep up to its next
/// millisecond tick, which a benchmark's baseline would then measure).
async fn wait(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
