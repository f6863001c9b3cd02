//! What every model-calling endpoint shares, whatever API it speaks: the call runs on the engine
//! in a task of its own (a client that disconnects is settled and logged, not cancelled half-way);
//! a call that produced nothing becomes an API error with its trace id and `Retry-After`; a
//! stream of chat chunks becomes the endpoint's server-sent events through a [`Translate`], and
//! ends with the endpoint's error event when the gateway's drain deadline passes.

use std::convert::Infallible;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;

use super::AppState;
use super::error::ApiError;
use super::headers::response_headers;
use crate::chat::{ChatChunk, ChatRequest};
use crate::providers::{ChunkStream, ProviderError};
use crate::routing::{CallBody, CallError, CallOptions, ClientWatch};

/// A call that answered: the headers that report what happened.
pub(super) struct Served {
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Served {
    /// Adds the report headers to a response built from the answer.
    pub fn with_headers(&self, mut response: Response) -> Response {
        for (name, v) in &self.headers {
            response.headers_mut().insert(name.clone(), v.clone());
        }
        response
    }
}

/// Runs one call on the engine; its report and its answer.
pub(super) async fn run(
    state: &AppState,
    request: ChatRequest,
    mut options: CallOptions,
    started: Instant,
) -> Result<(Served, CallBody), ApiError> {
    state
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The call runs in a task of its own, so a client that disconnects does not cancel it
    // half-way: it is finished, settled and logged (as 499, client closed request) whatever
    // happens to this handler.
    let watch = ClientWatch::new();
    options.client = Some(watch.clone());
    let guard = watch.guard();
    let engine = state.engine.clone();
    let task = tokio::spawn(async move { engine.chat(request, options).await });
    let result = task.await.map_err(|e| {
        tracing::error!(error = %e, "a gateway call stopped unexpectedly");
        ApiError::new(
            500,
            "internal_error",
            "the call stopped unexpectedly; see the gateway's log",
        )
    })?;
    guard.answered();
    let call = result.map_err(call_error)?;
    let upstream_ms = call.info.upstream_us as f64 / 1000.0;
    let gateway_ms = (started.elapsed().as_secs_f64() * 1000.0 - upstream_ms).max(0.0);
    let headers = response_headers(&call.info, gateway_ms, upstream_ms);
    Ok((Served { headers }, call.body))
}

/// A call that produced no answer, as the API error a client gets (with the trace id, and when
/// to retry a 429).
pub(super) fn call_error(e: CallError) -> ApiError {
    let status = e.status();
    let code = match status {
        504 => "upstream_timeout",
        400 => "invalid_request",
        403 => "token_scope",
        404 => "not_found",
        412 => "budget_exhausted",
        446 => "guardrail",
        499 => "client_closed",
        s if s >= 500 => "upstream_failed",
        _ => "upstream_error",
    };
    let mut err = ApiError::new(status, code, e.message);
    err = err
        .with_header("x-portkey-trace-id", e.trace_id.clone())
        .with_header("x-portolan-trace-id", e.trace_id);
    if let Some(ms) = e.retry_after_ms {
        // Retry-After counts whole seconds: round up, never 0.
        err = err.with_header("retry-after", ms.div_ceil(1000).max(1).to_string());
    }
    err
}

/// How one API writes a stream of chat chunks as server-sent events.
pub(super) trait Translate: Send + 'static {
    /// The events that open the stream, sent at once.
    fn start(&mut self) -> String {
        String::new()
    }
    /// The events for one chunk (empty when it says nothing this API shows).
    fn chunk(&mut self, chunk: &ChatChunk) -> String;
    /// The closing events: of a stream that finished (`None`) or broke.
    fn end(&mut self, error: Option<&ProviderError>) -> String;
    /// The event that ends a stream the gateway cuts because it is shutting down.
    fn shutdown(&mut self) -> String;
    /// Work to finish before the last event goes out (so a client that reads it and sends its
    /// next request finds it done): keeping a response, say.
    fn before_last(&mut self) -> futures_util::future::BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// A server-sent event response that writes a chat stream as `t`'s events: every chunk's, then
/// the end's; nothing follows an error. When the gateway's drain deadline passes, the stream is
/// cut with `t`'s shutdown event (the engine settles and logs the call as cut).
pub(super) fn event_stream<T: Translate>(
    state: &AppState,
    served: &Served,
    stream: ChunkStream,
    mut t: T,
) -> Response {
    let opening = t.start();
    let events = futures_util::stream::unfold(
        Some((stream, t, state.closing.clone())),
        |state| async move {
            let (mut stream, mut t, mut closing) = state?;
            loop {
                let next = tokio::select! {
                    biased;
                    next = stream.next() => next,
                    // A gateway without a closer (the router alone) never closes.
                    _ = async {
                        if closing.wait_for(|c| *c).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    } => return Some((t.shutdown(), None)),
                };
                match next {
                    Some(Ok(chunk)) => {
                        let text = t.chunk(&chunk);
                        if !text.is_empty() {
                            return Some((text, Some((stream, t, closing))));
                        }
                    }
                    Some(Err(e)) => return Some((t.end(Some(&e)), None)),
                    None => {
                        let last = t.end(None);
                        t.before_last().await;
                        return Some((last, None));
                    }
                }
            }
        },
    );
    let events = futures_util::stream::iter((!opening.is_empty()).then_some(opening))
        .chain(events)
        .map(|t| Ok::<Bytes, Infallible>(Bytes::from(t)));
    let mut r = Response::new(Body::from_stream(events));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    served.with_headers(r)
}

/// Chat Completions' own events: each chunk as `data:`, then `[DONE]`, or an error object.
pub(super) struct ChatEvents;

fn chat_error(message: &str, code: &str) -> String {
    format!(
        "data: {}\n\n",
        serde_json::json!({"error": {"message": message, "type": "upstream_error", "code": code, "param": null}})
    )
}

impl Translate for ChatEvents {
    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        format!(
            "data: {}\n\n",
            serde_json::to_string(chunk).unwrap_or_default()
        )
    }

    fn end(&mut self, error: Option<&ProviderError>) -> String {
        match error {
            // `[DONE]` only after a stream that finished.
            None => "data: [DONE]\n\n".to_owned(),
            Some(e) => chat_error(&e.message, "stream_failed"),
        }
    }

    fn shutdown(&mut self) -> String {
        chat_error(SHUTDOWN_MESSAGE, "gateway_shutdown")
    }
}

pub(super) const SHUTDOWN_MESSAGE: &str = "the gateway is shutting down; the stream was ended";
