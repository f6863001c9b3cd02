//! The gateway's own endpoints: OpenAI's chat completions, embeddings and models, prompts served by
//! id or slug, feedback, and a health check.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::calls;
use super::error::ApiError;
use super::guard::Caller;
use super::headers::call_options;
use crate::chat::ChatRequest;
use crate::prompts::VersionSelector;
use crate::routing::{CallBody, CallOptions, PromptRef};

pub(super) fn read_json(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                413,
                "request_too_large",
                "the request body is larger than the gateway accepts",
            )
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            400,
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

fn parse_request(value: Value) -> Result<ChatRequest, ApiError> {
    let request: ChatRequest = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("not a chat completion request: {e}")))?;
    if request.messages.is_empty() {
        return Err(ApiError::bad_request(
            "`messages` must hold at least one message",
        ));
    }
    Ok(request)
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = parse_request(read_json(body)?)?;
    if request.model.trim().is_empty() {
        return Err(ApiError::bad_request("`model` is required"));
    }
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
                "may only call its prompts ({}), not raw chat completions",
                caller.scopes.prompts.join(", ")
            ),
        ));
    }
    let mut options = call_options(&headers)?;
    apply_caller(&mut options, &caller);
    serve_call(&state, request, options, started).await
}

pub(super) fn forbidden(caller: &Caller, what: &str) -> ApiError {
    ApiError::new(
        403,
        "token_scope",
        format!("gateway token '{}' {what}", caller.token_name),
    )
}

pub(super) fn apply_caller(options: &mut CallOptions, caller: &Caller) {
    options
        .metadata
        .insert("_gateway_token".into(), caller.token_name.clone());
    options.token = Some(caller.subject());
    options.scopes = Some(caller.scopes.clone());
    // Portkey's rule: with the gateway key in `x-portkey-api-key`, `Authorization` carries the
    // provider's key, used when a provider is named without a virtual key.
    if let Some(key) = &caller.provider_key
        && let Some(config) = options.config.as_mut()
        && config.targets.is_empty()
        && config.provider.is_some()
        && config.virtual_key.is_none()
        && config.api_key.is_none()
    {
        config.api_key = Some(crate::routing::config::CallerKey::new(key.expose()));
    }
}

/// Whether a token limited to some prompts may use this prompt version.
pub(super) fn prompt_allowed(
    caller: &Caller,
    prompt_id: &str,
    slug: &str,
    labels: &[String],
) -> bool {
    let p = &caller.scopes.prompts;
    p.is_empty()
        || p.iter().any(|entry| match entry.strip_prefix("label:") {
            Some(label) => labels.iter().any(|l| l == label),
            None => entry == prompt_id || entry == slug,
        })
}

/// A chat call's answer as Chat Completions sends it: the completion, or its chunks as events.
async fn serve_call(
    state: &AppState,
    request: ChatRequest,
    options: CallOptions,
    started: Instant,
) -> Result<Response, ApiError> {
    let (served, body) = calls::run(state, request, options, started).await?;
    Ok(match body {
        CallBody::Complete(answer) => served.with_headers(axum::Json(answer).into_response()),
        CallBody::Stream(stream) => calls::event_stream(state, &served, stream, calls::ChatEvents),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct PromptQuery {
    pub version: Option<String>,
    pub label: Option<String>,
}

fn selector(q: &PromptQuery) -> Result<VersionSelector, ApiError> {
    match (&q.version, &q.label) {
        (Some(v), _) => match v.trim_start_matches('v').parse::<i64>() {
            Ok(n) => Ok(VersionSelector::Number(n)),
            Err(_) if v == "latest" => Ok(VersionSelector::Latest),
            Err(_) => Err(ApiError::bad_request(format!(
                "?version= takes a number, not '{v}'"
            ))),
        },
        (None, Some(l)) => Ok(VersionSelector::from_options(None, Some(l.clone()))),
        (None, None) => Ok(VersionSelector::Default),
    }
}

/// `{id}` may carry `@12`, `@latest` or `@production`, as in Portkey's prompt ids.
pub(super) fn split_reference(
    id: &str,
    q: &PromptQuery,
) -> Result<(String, VersionSelector), ApiError> {
    match id.split_once('@') {
        Some((base, sel)) => {
            let s = match sel.parse::<i64>() {
                Ok(n) => VersionSelector::Number(n),
                Err(_) => VersionSelector::from_options(None, Some(sel.to_owned())),
            };
            Ok((base.to_owned(), s))
        }
        None => Ok((id.to_owned(), selector(q)?)),
    }
}

/// Renders a prompt version the caller's token may use.
pub(super) async fn render_allowed(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    sel: &VersionSelector,
    variables: &Map<String, Value>,
) -> Result<crate::store::RenderedPrompt, ApiError> {
    if !caller.scopes.prompts.is_empty() {
        let version = state.engine.catalog().get_version(reference, sel).await?;
        if !prompt_allowed(caller, &version.prompt_id, &version.slug, &version.labels) {
            return Err(forbidden(
                caller,
                &format!(
                    "may not use prompt '{}' version {}",
                    version.slug, version.version
                ),
            ));
        }
    }
    Ok(state
        .engine
        .catalog()
        .render(reference, sel, variables)
        .await?)
}

/// Renders a prompt with the body's `variables`; other body fields override the saved params.
async fn render_for_call(
    state: &AppState,
    caller: &Caller,
    id: &str,
    q: &PromptQuery,
    body: Value,
) -> Result<(ChatRequest, PromptRef, Map<String, Value>), ApiError> {
    let Value::Object(mut body) = body else {
        return Err(ApiError::bad_request(
            "the body must be a JSON object with `variables`",
        ));
    };
    let variables = match body.remove("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::bad_request(
                "`variables` must be an object of names to values",
            ));
        }
    };
    let (reference, sel) = split_reference(id, q)?;
    let rendered = render_allowed(state, caller, &reference, &sel, &variables).await?;
    let mut request = ChatRequest {
        model: rendered.model.clone().unwrap_or_default(),
        messages: rendered.chat_messages(crate::images::ImageAccess::UrlsOnly)?,
        ..Default::default()
    };
    let mut params = rendered.params.clone();
    params.remove("model");
    for (k, v) in body {
        if k == "messages" {
            return Err(ApiError::bad_request(
                "`messages` comes from the prompt; pass `variables` instead",
            ));
        }
        params.insert(k, v);
    }
    request.apply_params(&params).map_err(|e| {
        ApiError::bad_request(format!(
            "the body's parameters do not fit a chat request: {e}"
        ))
    })?;
    Ok((
        request,
        PromptRef {
            id: rendered.prompt_id,
            version: rendered.version,
        },
        variables,
    ))
}

pub async fn prompt_completions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<PromptQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    if caller.scopes.read_only {
        return Err(forbidden(
            &caller,
            "is read-only: it may render prompts but not call models",
        ));
    }
    let (request, prompt, variables) =
        render_for_call(&state, &caller, &id, &q, read_json(body)?).await?;
    if request.model.trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "prompt '{id}' names no model; pass `model` in the body"
        )));
    }
    let mut options = call_options(&headers)?;
    options
        .metadata
        .entry("_prompt".into())
        .or_insert_with(|| prompt.id.clone());
    apply_caller(&mut options, &caller);
    options.prompt = Some(prompt);
    options.variables = Some(variables);
    serve_call(&state, request, options, started).await
}

pub async fn prompt_render(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<PromptQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (request, prompt, _) = render_for_call(&state, &caller, &id, &q, read_json(body)?).await?;
    Ok(axum::Json(json!({
        "success": true,
        "data": request,
        "prompt": {"id": prompt.id, "version": prompt.version},
    }))
    .into_response())
}

pub async fn list_prompts(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let mut prompts = state.engine.catalog().list_prompts().await?;
    prompts.retain(|p| {
        let labels: Vec<String> = p.labels.iter().map(|l| l.name.clone()).collect();
        prompt_allowed(&caller, &p.id, &p.slug, &labels)
    });
    Ok(axum::Json(json!({"object": "list", "data": prompts})).into_response())
}

pub async fn get_prompt(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<PromptQuery>,
) -> Result<Response, ApiError> {
    let (reference, sel) = split_reference(&id, &q)?;
    let catalog = state.engine.catalog();
    let version = catalog.get_version(&reference, &sel).await?;
    if !prompt_allowed(&caller, &version.prompt_id, &version.slug, &version.labels) {
        return Err(forbidden(
            &caller,
            &format!(
                "may not use prompt '{}' version {}",
                version.slug, version.version
            ),
        ));
    }
    let prompt = catalog.get_prompt(&reference).await?;
    let refs = catalog.references(&version).await?;
    Ok(axum::Json(json!({
        "id": prompt.id,
        "slug": prompt.slug,
        "latest_version": prompt.latest_version,
        "labels": prompt.labels,
        "version": version.version,
        "message": version.message,
        "created_at": version.created_at,
        "content": version.content,
        "variables": refs.variables,
        "partials": refs.partials,
    }))
    .into_response())
}

pub async fn list_models(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let models = crate::models::available(&state.engine).await?;
    let data: Vec<Value> = models
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.provider.id()}))
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let value = read_json(body)?;
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("`model` is required"))?
        .to_owned();
    let inputs: Vec<String> = match value.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if a.iter().all(Value::is_string) && !a.is_empty() => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            return Err(ApiError::bad_request(
                "`input` must be a string or a non-empty list of strings",
            ));
        }
    };
    // The same admission, budgets and log as chat: the engine does it all.
    let mut options = call_options(&headers)?;
    apply_caller(&mut options, &caller);
    state
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = state
        .engine
        .embeddings(&model, inputs, options)
        .await
        .map_err(calls::call_error)?;
    let data: Vec<Value> = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    let tokens = out.prompt_tokens;
    let mut response = axum::Json(json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})).into_response();
    for name in ["x-portkey-trace-id", "x-portolan-trace-id"] {
        if let Ok(v) = header::HeaderValue::from_str(&out.trace_id) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}

pub async fn feedback(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if caller.scopes.read_only {
        return Err(forbidden(&caller, "is read-only"));
    }
    let value = read_json(body)?;
    // Portkey's Node SDK sends `traceID`, its Python SDK `trace_id`.
    let trace = value
        .get("trace_id")
        .or_else(|| value.get("traceID"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("`trace_id` is required"))?;
    let score = value
        .get("value")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("`value` must be a whole number from -10 to 10"))?;
    let weight = match value.get("weight") {
        None | Some(Value::Null) => 1.0,
        Some(w) => w
            .as_f64()
            .ok_or_else(|| ApiError::bad_request("`weight` must be a number from 0 to 1"))?,
    };
    let metadata = match value.get("metadata") {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        Some(_) => return Err(ApiError::bad_request("`metadata` must be an object")),
    };
    // Logs are written in the background; make sure the traced call is in before looking.
    state.engine.flush_logs_async().await;
    let fb = state
        .engine
        .call_log()
        .add_feedback(trace, score, weight, metadata)
        .await?;
    Ok((
        StatusCode::OK,
        axum::Json(
            json!({"status": "success", "message": "feedback recorded", "feedback_ids": [fb.id]}),
        ),
    )
        .into_response())
}

pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "requests": state.requests.load(std::sync::atomic::Ordering::Relaxed),
        "logs_dropped": state.engine.logs_dropped(),
    }))
    .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        404,
        "unknown_route",
        "no such endpoint; see GET /v1/models, POST /v1/chat/completions, /v1/responses, /v1/messages, /v1/completions, POST /v1/prompts/{id}/completions",
    )
}
