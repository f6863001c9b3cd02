//! OpenAI's legacy Completions API on the gateway (`POST /v1/completions`), translated to chat by
//! [`crate::dialects::completions`]: one engine call per prompt, each through the same admission
//! and log as a chat call.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::calls::{self, Translate};
use super::error::ApiError;
use super::guard::Caller;
use super::handlers::{apply_caller, forbidden, read_json};
use crate::chat::ChatChunk;
use crate::dialects::completions as dialect;
use crate::providers::ProviderError;
use crate::routing::CallBody;

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = dialect::parse(read_json(body)?).map_err(|e| ApiError::bad_request(e.0))?;
    if caller.scopes.read_only {
        return Err(forbidden(
            &caller,
            "is read-only: it may render prompts but not call models",
        ));
    }
    if !caller.scopes.prompts.is_empty() {
        return Err(forbidden(
            &caller,
            &format!(
                "may only call its prompts ({}), not raw completions",
                caller.scopes.prompts.join(", ")
            ),
        ));
    }
    let mut options = super::headers::call_options(&headers)?;
    apply_caller(&mut options, &caller);
    let id = dialect::new_completion_id();
    let created = chrono::Utc::now().timestamp();
    // One call per prompt, at once; the first failure is the answer.
    let runs = request.calls.into_iter().map(|(prompt, chat)| {
        let (state, options) = (&state, options.clone());
        async move {
            let (served, body) = calls::run(state, chat, options, started).await?;
            Ok::<_, ApiError>((prompt, served, body))
        }
    });
    let mut answers = Vec::new();
    let mut first = None;
    for outcome in futures_util::future::join_all(runs).await {
        let (prompt, served, body) = outcome?;
        match body {
            CallBody::Complete(answer) => answers.push((prompt, answer)),
            CallBody::Stream(stream) => {
                // Only a single prompt streams (checked when parsed).
                let t = CompletionEvents {
                    id,
                    model: request.model,
                    created,
                    include_usage: request.include_usage,
                    echo: request.echo.then_some(prompt),
                };
                return Ok(calls::event_stream(&state, &served, stream, t));
            }
        }
        first.get_or_insert(served);
    }
    let out = dialect::from_chat(&id, &request.model, created, &answers, request.echo);
    let response = axum::Json(out).into_response();
    Ok(match first {
        Some(served) => served.with_headers(response),
        None => response,
    })
}

struct CompletionEvents {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    /// The prompt, sent first when the client asked for `echo`.
    echo: Option<String>,
}

impl Translate for CompletionEvents {
    fn start(&mut self) -> String {
        match self.echo.take() {
            Some(prompt) => {
                let chunk = ChatChunk::text(&self.id, &self.model, self.created, &prompt);
                self.chunk(&chunk)
            }
            None => String::new(),
        }
    }

    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        match dialect::chunk(
            &self.id,
            &self.model,
            self.created,
            chunk,
            self.include_usage,
        ) {
            Some(v) => format!("data: {v}\n\n"),
            None => String::new(),
        }
    }

    fn end(&mut self, error: Option<&ProviderError>) -> String {
        calls::ChatEvents.end(error)
    }

    fn shutdown(&mut self) -> String {
        calls::ChatEvents.shutdown()
    }
}
