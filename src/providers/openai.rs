//! OpenAI Chat Completions, and everything that speaks it: Azure OpenAI (deployment URLs,
//! `api-key` header, `api-version`), Groq, Mistral, Together, OpenRouter, DeepSeek, xAI,
//! Fireworks, Ollama, LM Studio, vLLM and any OpenAI-compatible server.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::sse::Events;
use super::{
    AttemptLimits, ChunkStream, Endpoint, ErrorFormat, Protocol, ProviderError, body_text,
    estimate_tokens, send_request,
};
use crate::chat::{ChatChunk, ChatRequest, ChatResponse, StreamOptions, Usage};

/// Azure's GA API version used when the base URL names none.
pub const AZURE_DEFAULT_API_VERSION: &str = "2024-10-21";

fn url(endpoint: &Endpoint, path: &str) -> Result<String, ProviderError> {
    let base = endpoint.base_url.trim_end_matches('/');
    if endpoint.protocol() == Protocol::AzureOpenAi {
        // The base URL may carry `?api-version=…`; keep it, or add the default.
        let (root, query) = match base.split_once('?') {
            Some((r, q)) => (r.trim_end_matches('/'), q.to_owned()),
            None => (base, format!("api-version={AZURE_DEFAULT_API_VERSION}")),
        };
        let root = root.trim_end_matches("/openai");
        return Ok(format!(
            "{root}/openai/deployments/{}/{path}?{query}",
            endpoint.model
        ));
    }
    if base.is_empty() {
        return Err(ProviderError::config(format!(
            "provider '{}' needs a base URL: set one on its virtual key",
            endpoint.provider
        )));
    }
    Ok(format!("{base}/{path}"))
}

fn authorize(endpoint: &Endpoint, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match (&endpoint.api_key, endpoint.protocol()) {
        (Some(key), Protocol::AzureOpenAi) => builder.header("api-key", key.expose()),
        (Some(key), _) if !key.expose().is_empty() => builder.bearer_auth(key.expose()),
        _ => builder,
    }
}

fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    match e {
        Value::String(s) => Some(s.clone()),
        _ => e
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| Some(e.to_string())),
    }
}

fn body(endpoint: &Endpoint, request: &ChatRequest, stream: bool) -> ChatRequest {
    let mut body = request.clone();
    body.model = endpoint.model.clone();
    body.stream = stream.then_some(true);
    if stream {
        // Always ask for usage so every streamed call is priced; the router keeps the usage
        // chunk away from clients that did not ask for it.
        body.stream_options = Some(StreamOptions {
            include_usage: Some(true),
        });
    } else {
        body.stream_options = None;
    }
    body
}

async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    path: &str,
    json: &impl serde::Serialize,
    limits: AttemptLimits,
    whole_timeout: bool,
) -> Result<reqwest::Response, ProviderError> {
    let builder = authorize(endpoint, client.post(url(endpoint, path)?).json(json));
    send_request(
        endpoint,
        builder,
        limits,
        whole_timeout,
        ErrorFormat::headers_only(error_message),
    )
    .await
}

pub async fn complete(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    let response = send(
        client,
        endpoint,
        "chat/completions",
        &body(endpoint, request, false),
        limits,
        true,
    )
    .await?;
    let text = body_text(endpoint, response, limits).await?;
    let mut parsed: ChatResponse = serde_json::from_str(&text)
        .map_err(|e| ProviderError::malformed(endpoint.provider.id(), e))?;
    if parsed.choices.is_empty() {
        return Err(ProviderError::malformed(
            endpoint.provider.id(),
            "no choices in the answer",
        ));
    }
    if parsed.usage.is_none() {
        parsed.usage = Some(estimated_usage(request, &parsed.text()));
    }
    Ok(parsed)
}

/// Usage for servers that report none (some local ones): estimated, never left empty.
pub(crate) fn estimated_usage(request: &ChatRequest, answer: &str) -> Usage {
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.text()) + 3)
        .sum();
    Usage::new(prompt, estimate_tokens(answer), 0)
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let response = send(
        client,
        endpoint,
        "chat/completions",
        &body(endpoint, request, true),
        limits,
        false,
    )
    .await?;
    let mut events = Events::new(endpoint.provider.id(), response, limits);
    let provider = endpoint.provider.id().to_owned();
    let request = request.clone();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut finished = false;
        let mut usage_seen = false;
        let mut text_len = 0usize;
        let mut last_meta: Option<(String, String, i64)> = None;
        loop {
            let item = match events.next().await {
                Err(e) => Err(e),
                Ok(None) if finished => break,
                Ok(None) => Err(ProviderError::incomplete(
                    &provider,
                    "no finish_reason and no [DONE]",
                )),
                Ok(Some(event)) => {
                    let data = event.data.trim();
                    if data == "[DONE]" {
                        if !finished {
                            Err(ProviderError::incomplete(
                                &provider,
                                "[DONE] before any finish_reason",
                            ))
                        } else {
                            break;
                        }
                    } else if data.is_empty() {
                        continue;
                    } else {
                        match serde_json::from_str::<ChatChunk>(data) {
                            Ok(chunk) => {
                                if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
                                    finished = true;
                                }
                                usage_seen |= chunk.usage.is_some();
                                text_len += chunk
                                    .choices
                                    .iter()
                                    .filter_map(|c| c.delta.content.as_deref())
                                    .map(str::len)
                                    .sum::<usize>();
                                last_meta =
                                    Some((chunk.id.clone(), chunk.model.clone(), chunk.created));
                                Ok(chunk)
                            }
                            Err(e) => match serde_json::from_str::<Value>(data)
                                .ok()
                                .as_ref()
                                .and_then(error_message)
                            {
                                Some(msg) => Err(ProviderError::upstream(
                                    502,
                                    format!("{provider} stream error: {msg}"),
                                    Some(data.to_owned()),
                                )),
                                None => Err(ProviderError::malformed(&provider, e)),
                            },
                        }
                    }
                }
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
        if !usage_seen && let Some((id, model, created)) = last_meta {
            // The server ignored include_usage: estimate rather than report nothing.
            let mut chunk = ChatChunk::new(&id, &model, created);
            let approx = "x".repeat(text_len);
            chunk.usage = Some(estimated_usage(&request, &approx));
            let _ = tx.send(Ok(chunk)).await;
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

pub async fn embed(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    inputs: &[String],
    limits: AttemptLimits,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let json = serde_json::json!({"model": endpoint.model, "input": inputs});
    let response = send(client, endpoint, "embeddings", &json, limits, true).await?;
    let value: Value = response
        .json()
        .await
        .map_err(|e| ProviderError::malformed(endpoint.provider.id(), e))?;
    let data = value.get("data").and_then(Value::as_array).ok_or_else(|| {
        ProviderError::malformed(endpoint.provider.id(), "no data in the embeddings answer")
    })?;
    let mut out = vec![Vec::new(); inputs.len()];
    for (i, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(i, |n| n as usize);
        let vector: Vec<f32> = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ProviderError::malformed(endpoint.provider.id(), "an embedding without a vector")
            })?
            .iter()
            .filter_map(Value::as_f64)
            .map(|f| f as f32)
            .collect();
        if let Some(slot) = out.get_mut(index) {
            *slot = vector;
        }
    }
    if out.iter().any(Vec::is_empty) {
        return Err(ProviderError::malformed(
            endpoint.provider.id(),
            "fewer embeddings than inputs",
        ));
    }
    Ok(out)
}
