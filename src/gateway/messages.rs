//! Anthropic's Messages API on the gateway: `POST /v1/messages` (plain and streamed) and
//! `POST /v1/messages/count_tokens`, so Claude Code and the Anthropic SDKs reach every provider
//! through the engine's admission. The translation is [`crate::dialects::messages`]; errors,
//! the gateway's own included, take Anthropic's shape on these routes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::calls::{self, Translate};
use super::error::ApiError;
use super::guard::Caller;
use super::handlers::{apply_caller, forbidden, read_json};
use crate::chat::ChatChunk;
use crate::dialects::messages::{self as dialect, MessageStream};
use crate::providers::ProviderError;
use crate::routing::CallBody;

fn parse(body: Result<Bytes, BytesRejection>) -> Result<dialect::MessagesRequest, ApiError> {
    dialect::parse(read_json(body)?).map_err(|e| ApiError::bad_request(e.0))
}

/// Refuses tokens that may not make raw calls (read-only, or limited to some prompts).
fn may_call(caller: &Caller) -> Result<(), ApiError> {
    if caller.scopes.read_only {
        return Err(forbidden(
            caller,
            "is read-only: it may render prompts but not call models",
        ));
    }
    if !caller.scopes.prompts.is_empty() {
        return Err(forbidden(
            caller,
            &format!(
                "may only call its prompts ({}), not the Messages API",
                caller.scopes.prompts.join(", ")
            ),
        ));
    }
    Ok(())
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = parse(body)?;
    may_call(&caller)?;
    let mut options = super::headers::call_options(&headers)?;
    apply_caller(&mut options, &caller);
    let id = dialect::new_message_id();
    let (served, body) = calls::run(&state, request.chat, options, started).await?;
    Ok(match body {
        CallBody::Complete(answer) => served.with_headers(
            axum::Json(dialect::from_chat(&id, &request.model, &answer)).into_response(),
        ),
        CallBody::Stream(stream) => {
            let (events, opening) = MessageStream::start(&id, &request.model);
            let t = MessageEvents { events, opening };
            calls::event_stream(&state, &served, stream, t)
        }
    })
}

pub async fn count_tokens(
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // count_tokens takes no max_tokens; the translation requires one.
    let mut value = read_json(body)?;
    if let Value::Object(map) = &mut value {
        map.entry("max_tokens").or_insert(json!(1));
    }
    let request = dialect::parse(value).map_err(|e| ApiError::bad_request(e.0))?;
    if caller.scopes.read_only {
        return Err(forbidden(&caller, "is read-only"));
    }
    Ok(
        axum::Json(json!({"input_tokens": dialect::count_input_tokens(&request.chat)}))
            .into_response(),
    )
}

/// Anthropic's event sequence of a streamed call.
struct MessageEvents {
    events: MessageStream,
    opening: Vec<Value>,
}

fn write(events: Vec<Value>) -> String {
    events.iter().map(dialect::sse).collect()
}

impl Translate for MessageEvents {
    fn start(&mut self) -> String {
        write(std::mem::take(&mut self.opening))
    }

    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        write(self.events.push(chunk))
    }

    fn end(&mut self, error: Option<&ProviderError>) -> String {
        match error {
            None => write(self.events.finish()),
            Some(e) => write(self.events.fail(e.http_status(), &e.message)),
        }
    }

    fn shutdown(&mut self) -> String {
        write(self.events.fail(529, calls::SHUTDOWN_MESSAGE))
    }
}

/// Rewrites the error responses of the Messages routes (the gateway's own: a missing token, a
/// scope, a budget) into Anthropic's shape, so its SDKs raise their usual exceptions.
pub async fn anthropic_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (
            status,
            axum::Json(dialect::error_body(
                status.as_u16(),
                "the gateway could not complete the request",
            )),
        )
            .into_response();
    };
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    let body = dialect::error_body(status.as_u16(), &message).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}
