//! Request intake: records every request, then routes it by path.
//!
//! Routing is done by hand rather than with axum's router because the fake
//! must accept OpenAI paths under any prefix (`/groq/openai/v1/chat/completions`)
//! and Gemini's `models/{model}:{method}` segments, which contain a colon.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::behavior::RecordedRequest;
use crate::conn::ConnMeta;
use crate::respond::Ctx;
use crate::state::Shared;
use crate::{anthropic, bedrock, cohere, gemini, openai, vertex};

/// Largest request body read (larger bodies are recorded as empty).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// The single axum handler: every request comes through here.
pub(crate) async fn dispatch(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_else(|_| Bytes::new());
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();

    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let path = parts.uri.path().to_string();
    if path.starts_with(crate::control::PREFIX) {
        return crate::control::handle(&shared, parts.method == Method::POST, &path, json.as_ref());
    }
    let query = parts.uri.query().map(str::to_string);
    shared.record(RecordedRequest {
        method: parts.method.as_str().to_string(),
        path: path.clone(),
        query: query.clone(),
        headers,
        body: json.clone().unwrap_or(Value::Null),
    });

    let ctx = Ctx {
        shared,
        kill: conn.kill,
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body: json,
        has_body: !bytes.is_empty(),
        raw: bytes,
    };
    route(&ctx).await
}

async fn route(ctx: &Ctx) -> Response {
    let post_ = ctx.method == Method::POST;
    // Bedrock: the model id is one percent-encoded segment (its `:` and `/` included).
    if post_ && let Some(rest) = ctx.path.strip_prefix("/model/") {
        if let Some(id) = rest.strip_suffix("/converse-stream") {
            return bedrock::converse(ctx, &bedrock::decode_model_id(id), true).await;
        }
        if let Some(id) = rest.strip_suffix("/converse") {
            return bedrock::converse(ctx, &bedrock::decode_model_id(id), false).await;
        }
    }
    if post_ && ctx.path == "/token" {
        return vertex::token(ctx);
    }
    if post_ && ctx.path == "/v2/chat" {
        return cohere::chat(ctx).await;
    }
    if post_ && ctx.path == "/v2/embed" {
        return cohere::embed(ctx).await;
    }
    // Some clients percent-encode the colon of Gemini's method segment.
    let path = ctx.path.replace("%3A", ":").replace("%3a", ":");
    let post = ctx.method == Method::POST;
    let get = ctx.method == Method::GET;

    if let Some(rest) = path.strip_prefix("/openai/deployments/")
        && let Some((deployment, tail)) = rest.split_once('/')
        && post
    {
        match tail {
            "chat/completions" => return openai::chat(ctx, Some(deployment)).await,
            "embeddings" => return openai::embeddings(ctx, Some(deployment)).await,
            _ => {}
        }
    }

    // Vertex AI: `/v1/projects/{p}/locations/{l}/publishers/{publisher}/models/{m}:{method}`.
    if post
        && let Some(idx) = path.find("/publishers/")
        && let Some((publisher, rest)) = path[idx + "/publishers/".len()..].split_once("/models/")
        && let Some((model, method)) = rest.split_once(':')
    {
        return vertex::model_method(ctx, publisher, model, method).await;
    }
    if let Some(idx) = path.find("/models/") {
        let rest = &path[idx + "/models/".len()..];
        if post
            && !rest.contains('/')
            && let Some((model, method)) = rest.split_once(':')
        {
            return gemini::model_method(ctx, model, method).await;
        }
    }

    if get && path == "/v1beta/models" {
        return gemini::models(ctx, None);
    }
    if get && let Some(id) = path.strip_prefix("/v1beta/models/") {
        return gemini::models(ctx, Some(id));
    }

    if post && path.ends_with("/v1/messages") {
        return anthropic::messages(ctx).await;
    }
    if post && path.ends_with("/v1/messages/count_tokens") {
        return anthropic::count_tokens(ctx);
    }
    if post && path.ends_with("/chat/completions") {
        return openai::chat(ctx, None).await;
    }
    if post && path.ends_with("/embeddings") {
        return openai::embeddings(ctx, None).await;
    }
    if get && path.ends_with("/models") {
        if ctx.header("anthropic-version").is_some() {
            return anthropic::models(ctx);
        }
        return openai::models(ctx, None);
    }
    if get
        && let Some((_, id)) = path.rsplit_once("/models/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return openai::models(ctx, Some(id));
    }
    openai::not_found(ctx)
}
