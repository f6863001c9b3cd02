//! OpenAI's Responses API on the gateway: `POST /v1/responses` (plain, streamed, with prompts of
//! the library by id, continuing an earlier response with `previous_response_id`), `GET` and
//! `DELETE /v1/responses/{id}`. The translation is [`crate::dialects::responses`]; the call goes
//! through the engine's admission like every chat call. A kept response belongs to the token
//! that created it: another token gets 404 for it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::calls::{self, Translate};
use super::error::ApiError;
use super::guard::Caller;
use super::handlers::{apply_caller, forbidden, read_json, render_allowed, split_reference};
use crate::chat::{ChatChunk, ChatMessage, ChatRequest};
use crate::dialects::responses::{
    self as dialect, PromptSpec, ResponseMeta, ResponseStream, ResponsesRequest,
};
use crate::prompts::VersionSelector;
use crate::providers::ProviderError;
use crate::routing::{CallBody, Engine, PromptRef};
use crate::store::StoredResponse;

fn unsupported(e: crate::dialects::Unsupported) -> ApiError {
    ApiError::bad_request(e.0)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "response_not_found",
        format!(
            "no response with id '{id}' is kept for this token (responses are kept with `store: true` and deleted after the retention setting)"
        ),
    )
}

/// A response this caller may read.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<StoredResponse, ApiError> {
    match state.engine.conversations().get_response(id).await? {
        Some(r) if r.owner == caller.token_name => Ok(r),
        _ => Err(not_found(id)),
    }
}

/// A variable's value as text (OpenAI allows `{"type": "input_text", "text": …}`).
fn variable_value(v: &Value) -> Value {
    match v.get("type").and_then(Value::as_str) {
        Some("input_text") => v.get("text").cloned().unwrap_or(Value::Null),
        _ => v.clone(),
    }
}

/// The library prompt a request names: its messages, model and saved parameters.
async fn render_prompt(
    state: &AppState,
    caller: &Caller,
    spec: &PromptSpec,
) -> Result<crate::store::RenderedPrompt, ApiError> {
    let (reference, selector) = match &spec.version {
        Some(v) => {
            let sel = match v.trim_start_matches('v').parse::<i64>() {
                Ok(n) => VersionSelector::Number(n),
                Err(_) => VersionSelector::from_options(None, Some(v.clone())),
            };
            (spec.id.clone(), sel)
        }
        None => split_reference(&spec.id, &Default::default())?,
    };
    let variables: Map<String, Value> = spec
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), variable_value(v)))
        .collect();
    render_allowed(state, caller, &reference, &selector, &variables).await
}

/// Fills what the request left unset from a prompt's saved parameters.
fn fill_params(request: &mut ChatRequest, params: &Map<String, Value>) -> Result<(), ApiError> {
    let current = serde_json::to_value(&*request).unwrap_or_default();
    let missing: Map<String, Value> = params
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "model" && current.get(k.as_str()).is_none_or(Value::is_null)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    request.apply_params(&missing).map_err(|e| {
        ApiError::bad_request(format!(
            "the prompt's saved parameters do not fit a chat request: {e}"
        ))
    })
}

/// Who keeps the response, and the conversation it continues.
struct Keep {
    engine: Engine,
    record: StoredResponse,
    retention_days: u32,
}

impl Keep {
    /// Keeps the response with its output added to the conversation.
    async fn save(mut self, response: Value) -> Result<(), crate::error::Error> {
        if let Some(Value::Array(output)) = response.get("output") {
            self.record.items.extend(output.iter().cloned());
        }
        self.record.response = response;
        self.engine
            .conversations()
            .save_response(self.record, self.retention_days)
            .await
    }
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let mut request: ResponsesRequest = dialect::parse(read_json(body)?).map_err(unsupported)?;
    if caller.scopes.read_only {
        return Err(forbidden(
            &caller,
            "is read-only: it may render prompts but not call models",
        ));
    }
    if !caller.scopes.prompts.is_empty() {
        if request.prompt.is_none() {
            return Err(forbidden(
                &caller,
                &format!(
                    "may only call its prompts ({}): pass `prompt` with its `variables`",
                    caller.scopes.prompts.join(", ")
                ),
            ));
        }
        for field in ["input", "instructions", "previous_response_id", "tools"] {
            if request.body.get(field).is_some_and(|v| !v.is_null()) {
                return Err(forbidden(
                    &caller,
                    &format!(
                        "may only call its prompts as saved: `{field}` would change what the model is asked"
                    ),
                ));
            }
        }
    }
    let previous = match &request.previous_response_id {
        Some(id) => owned(&state, &caller, id).await?.items,
        None => Vec::new(),
    };
    let rendered = match &request.prompt {
        Some(spec) => Some(render_prompt(&state, &caller, spec).await?),
        None => None,
    };
    let lead: Vec<ChatMessage> = match &rendered {
        Some(r) => r.chat_messages(crate::images::ImageAccess::UrlsOnly)?,
        None => Vec::new(),
    };
    let prompt_model = rendered.as_ref().and_then(|r| r.model.clone());
    let mut chat = request
        .to_chat(&previous, lead, prompt_model)
        .map_err(unsupported)?;
    if chat.model.trim().is_empty() {
        return Err(ApiError::bad_request(
            "`model` is required (or a `prompt` that names one)",
        ));
    }
    let mut options = super::headers::call_options(&headers)?;
    for (k, v) in &request.metadata {
        if crate::logs::is_reserved_metadata_key(k) {
            return Err(ApiError::bad_request(format!(
                "metadata key '{k}' is reserved: keys starting with '_' (but _user) are Portolan's own"
            )));
        }
        options.metadata.insert(k.clone(), v.clone());
    }
    if let Some(r) = &rendered {
        fill_params(&mut chat, &r.params)?;
        options
            .metadata
            .entry("_prompt".into())
            .or_insert_with(|| r.prompt_id.clone());
        options.prompt = Some(PromptRef {
            id: r.prompt_id.clone(),
            version: r.version,
        });
        options.variables = request.prompt.as_ref().map(|p| {
            p.variables
                .iter()
                .map(|(k, v)| (k.clone(), variable_value(v)))
                .collect()
        });
    }
    apply_caller(&mut options, &caller);
    let id = dialect::new_response_id();
    let keep = request.store.then(|| {
        let mut items = previous;
        items.extend(std::mem::take(&mut request.input));
        Keep {
            engine: state.engine.clone(),
            record: StoredResponse {
                id: id.clone(),
                created_at_ms: chrono::Utc::now().timestamp_millis(),
                owner: caller.token_name.clone(),
                previous_id: request.previous_response_id.clone(),
                items,
                response: Value::Null,
            },
            retention_days: state.engine.settings().responses_retention_days,
        }
    });
    let meta = ResponseMeta {
        id,
        created_at: chrono::Utc::now().timestamp(),
        model: chat.model.clone(),
        request: std::mem::take(&mut request.body),
    };
    let (served, body) = calls::run(&state, chat, options, started).await?;
    match body {
        CallBody::Complete(answer) => {
            let response = dialect::from_chat(&meta, &answer);
            if let Some(keep) = keep {
                keep.save(response.clone()).await?;
            }
            Ok(served.with_headers(axum::Json(response).into_response()))
        }
        CallBody::Stream(stream) => {
            let (events, opening) = ResponseStream::start(meta);
            let t = ResponsesEvents {
                events,
                opening,
                keep,
                last: None,
            };
            Ok(calls::event_stream(&state, &served, stream, t))
        }
    }
}

/// The Responses event sequence of a streamed call.
struct ResponsesEvents {
    events: ResponseStream,
    /// `response.created` and `response.in_progress`.
    opening: Vec<Value>,
    keep: Option<Keep>,
    /// The final Response, kept before the last event goes out.
    last: Option<Value>,
}

impl ResponsesEvents {
    fn write(&mut self, events: Vec<Value>) -> String {
        events.iter().map(dialect::sse).collect()
    }
}

impl Translate for ResponsesEvents {
    fn start(&mut self) -> String {
        let opening = std::mem::take(&mut self.opening);
        self.write(opening)
    }

    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        let events = self.events.push(chunk);
        self.write(events)
    }

    fn end(&mut self, error: Option<&ProviderError>) -> String {
        match error {
            None => {
                let (events, response) = self.events.finish();
                self.last = Some(response);
                self.write(events)
            }
            Some(e) => {
                let events = self.events.fail("stream_failed", &e.message);
                self.write(events)
            }
        }
    }

    fn shutdown(&mut self) -> String {
        let events = self
            .events
            .fail("gateway_shutdown", calls::SHUTDOWN_MESSAGE);
        self.write(events)
    }

    fn before_last(&mut self) -> futures_util::future::BoxFuture<'static, ()> {
        let (keep, last) = (self.keep.take(), self.last.take());
        Box::pin(async move {
            if let (Some(keep), Some(response)) = (keep, last) {
                let id = keep.record.id.clone();
                if let Err(e) = keep.save(response).await {
                    tracing::error!(error = %e, response = %id, "could not keep a streamed response");
                }
            }
        })
    }
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(owned(&state, &caller, &id).await?.response).into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if caller.scopes.read_only {
        return Err(forbidden(&caller, "is read-only"));
    }
    owned(&state, &caller, &id).await?;
    state.engine.conversations().delete_response(&id).await?;
    Ok(
        axum::Json(json!({"id": id, "object": "response.deleted", "deleted": true}))
            .into_response(),
    )
}
