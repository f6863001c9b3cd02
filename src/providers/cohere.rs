//! Cohere's v2 Chat API (`POST /v2/chat`) and v2 embeddings (`POST /v2/embed`).
//!
//! The request is close to OpenAI's (messages with the same roles, tools in OpenAI's shape);
//! what differs: `p`/`k` for `top_p`/`top_k`, `stop_sequences`, `tool_choice` only
//! `REQUIRED`/`NONE`, `response_format` as `json_object` with an optional schema. Answers carry
//! content as a list of typed items (text, and a model's `thinking`, which is not the answer),
//! finish reasons in capitals, and usage both as billed units (what is charged, used for cost) and
//! raw tokens. Streams are server-sent events whose JSON `type` says what each is.

use serde_json::{Map, Value, json};

use super::sse::{Events, relay};
use super::{
    AttemptLimits, ChunkStream, Endpoint, ErrorFormat, ProviderError, ToolChoice, body_text,
    new_completion_id, send_request, tool_choice, unix_now,
};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ContentPart, Delta, FunctionCall,
    FunctionCallDelta, MessageContent, ToolCall, ToolCallDelta, Usage,
};

const PROVIDER: &str = "cohere";

fn url(endpoint: &Endpoint, path: &str) -> String {
    let base = endpoint.base_url.trim().trim_end_matches('/');
    let base = if base.is_empty() {
        super::Provider::Cohere
            .spec()
            .default_base_url
            .unwrap_or_default()
    } else {
        base
    };
    let base = base
        .strip_suffix("/v2")
        .or_else(|| base.strip_suffix("/v1"))
        .unwrap_or(base);
    format!("{base}/v2/{path}")
}

/// Cohere's error JSON: `{"id": "…", "message": "…"}`.
fn error_message(v: &Value) -> Option<String> {
    v.get("message").and_then(Value::as_str).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Request mapping
// ---------------------------------------------------------------------------------------------

fn content(content: Option<&MessageContent>) -> Result<Value, ProviderError> {
    match content {
        None => Ok(json!("")),
        Some(MessageContent::Text(t)) => Ok(json!(t)),
        Some(MessageContent::Parts(parts)) => {
            let mut items = Vec::new();
            for part in parts {
                match part {
                    ContentPart::Text { text } => items.push(json!({"type": "text", "text": text})),
                    ContentPart::ImageUrl { image_url } => items
                        .push(json!({"type": "image_url", "image_url": {"url": image_url.url}})),
                    ContentPart::Other(v) => {
                        return Err(ProviderError::config(format!(
                            "cohere cannot take a '{}' content part",
                            v.get("type").and_then(Value::as_str).unwrap_or("unknown")
                        )));
                    }
                }
            }
            Ok(Value::Array(items))
        }
    }
}

fn map_message(m: &ChatMessage) -> Result<Value, ProviderError> {
    Ok(match m.role.as_str() {
        "system" | "developer" => json!({"role": "system", "content": m.text()}),
        "user" => json!({"role": "user", "content": content(m.content.as_ref())?}),
        "assistant" => {
            let mut out = json!({"role": "assistant"});
            let text = m.text();
            if !text.is_empty() {
                out["content"] = json!(text);
            }
            if let Some(calls) = m.tool_calls.as_ref().filter(|c| !c.is_empty()) {
                out["tool_calls"] = serde_json::to_value(calls)
                    .map_err(|e| ProviderError::internal(e.to_string()))?;
            }
            out
        }
        "tool" => {
            let id = m
                .tool_call_id
                .as_deref()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| {
                    ProviderError::config("cohere: a tool message needs its tool_call_id")
                })?;
            json!({"role": "tool", "tool_call_id": id, "content": m.text()})
        }
        other => {
            return Err(ProviderError::config(format!(
                "cohere: unknown message role '{other}'"
            )));
        }
    })
}

/// OpenAI's `tool_choice` as Cohere's, and the name of a forced function (Cohere has no forced
/// function: it is sent as `REQUIRED` with that tool alone).
fn map_tool_choice(
    choice: &Value,
) -> Result<(Option<&'static str>, Option<String>), ProviderError> {
    Ok(match tool_choice(PROVIDER, choice)? {
        ToolChoice::Auto => (None, None),
        ToolChoice::None => (Some("NONE"), None),
        ToolChoice::Required => (Some("REQUIRED"), None),
        ToolChoice::Function(name) => (Some("REQUIRED"), Some(name)),
    })
}

/// The v2 Chat body for a unified request.
pub(crate) fn request_body(
    model: &str,
    request: &ChatRequest,
    stream: bool,
) -> Result<Value, ProviderError> {
    super::refuse_serial_tool_calls(PROVIDER, request)?;
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::config(
            "cohere returns one answer per request: n > 1 is not supported",
        ));
    }
    let messages = request
        .messages
        .iter()
        .map(map_message)
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(max) = request.max_output_tokens() {
        body.insert("max_tokens".into(), json!(max));
    }
    if let Some(p) = request.top_p {
        body.insert("p".into(), json!(p));
    }
    if let Some(k) = request.extra.get("top_k").filter(|k| k.is_number()) {
        body.insert("k".into(), k.clone());
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(seed) = request.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(p) = request.presence_penalty {
        body.insert("presence_penalty".into(), json!(p));
    }
    if let Some(p) = request.frequency_penalty {
        body.insert("frequency_penalty".into(), json!(p));
    }
    if let Some(format) = &request.response_format {
        match format.get("type").and_then(Value::as_str) {
            Some("text") | None => {}
            Some("json_object") => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some("json_schema") => {
                let schema = format
                    .get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .cloned()
                    .ok_or_else(|| {
                        ProviderError::config(
                            "cohere: response_format json_schema needs json_schema.schema",
                        )
                    })?;
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_object", "json_schema": schema}),
                );
            }
            Some(other) => {
                return Err(ProviderError::config(format!(
                    "cohere: unsupported response_format type '{other}'"
                )));
            }
        }
    }
    let (choice, forced) = match &request.tool_choice {
        Some(c) => map_tool_choice(c)?,
        None => (None, None),
    };
    if let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) {
        let kept: Vec<Value> = tools
            .iter()
            .filter(|t| forced.as_ref().is_none_or(|name| &t.function.name == name))
            .map(|t| {
                let mut f = json!({"name": t.function.name});
                if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
                    f["description"] = json!(d);
                }
                f["parameters"] = t
                    .function
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                json!({"type": "function", "function": f})
            })
            .collect();
        if let Some(name) = forced.as_ref().filter(|_| kept.is_empty()) {
            return Err(ProviderError::config(format!(
                "cohere: tool_choice names '{name}', which is not among the tools"
            )));
        }
        body.insert("tools".into(), Value::Array(kept));
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), json!(choice));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Response mapping
// ---------------------------------------------------------------------------------------------

pub(crate) fn finish_reason(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "TOOL_CALL" => "tool_calls",
        _ => "stop",
    }
}

fn count(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    // Cohere writes counts as numbers that may be floats (`37.0`).
    cur.as_f64().map(|f| f.max(0.0).round() as u64)
}

/// Usage from Cohere's `usage`: the billed units (what is charged, so what costs are computed
/// from), else the raw token counts.
fn usage(v: &Value) -> Option<Usage> {
    let billed = (
        count(v, &["billed_units", "input_tokens"]),
        count(v, &["billed_units", "output_tokens"]),
    );
    let tokens = (
        count(v, &["tokens", "input_tokens"]),
        count(v, &["tokens", "output_tokens"]),
    );
    let (input, output) = match (billed, tokens) {
        ((Some(i), Some(o)), _) => (i, o),
        (_, (Some(i), Some(o))) => (i, o),
        _ => return None,
    };
    Some(Usage::new(
        input,
        output,
        count(v, &["cached_tokens"]).unwrap_or(0),
    ))
}

fn tool_calls(v: Option<&Value>) -> Vec<ToolCall> {
    v.and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: c["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        arguments: c["function"]["arguments"]
                            .as_str()
                            .unwrap_or("{}")
                            .to_owned(),
                    },
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn parse_response(model: &str, text: &str) -> Result<ChatResponse, ProviderError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ProviderError::malformed(PROVIDER, e))?;
    let message = v
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| ProviderError::malformed(PROVIDER, "no message in the answer"))?;
    let reason = v
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("COMPLETE");
    if matches!(reason, "ERROR" | "TIMEOUT") {
        return Err(ProviderError::upstream(
            502,
            format!("cohere ended the answer with {reason}"),
            Some(text.chars().take(2048).collect()),
        ));
    }
    // Only text items are the answer; a `thinking` item is the model's plan.
    let answer: String = message
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "text")
                .filter_map(|i| i["text"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let calls = tool_calls(message.get("tool_calls"));
    let mut reply = ChatMessage::new("assistant", answer);
    if !calls.is_empty() {
        reply.tool_calls = Some(calls);
    }
    Ok(ChatResponse {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(new_completion_id, str::to_owned),
        object: "chat.completion".into(),
        created: unix_now(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: reply,
            finish_reason: Some(finish_reason(reason).to_owned()),
            logprobs: None,
        }],
        usage: v.get("usage").and_then(usage),
        system_fingerprint: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Stream mapping
// ---------------------------------------------------------------------------------------------

/// Folds Cohere stream events into unified chunks.
#[derive(Debug)]
pub(crate) struct StreamState {
    id: String,
    model: String,
    created: i64,
    finished: bool,
}

impl StreamState {
    pub(crate) fn new(model: &str) -> Self {
        StreamState {
            id: new_completion_id(),
            model: model.to_owned(),
            created: unix_now(),
            finished: false,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::with_delta(&self.id, &self.model, self.created, delta, finish)
    }

    /// One event's data (its JSON `type` says what it is).
    pub(crate) fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, ProviderError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| ProviderError::malformed(PROVIDER, e))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0) as u32;
        let message = &v["delta"]["message"];
        Ok(match kind {
            "message-start" => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    self.id = id.to_owned();
                }
                vec![self.chunk(
                    Delta {
                        role: Some("assistant".into()),
                        ..Default::default()
                    },
                    None,
                )]
            }
            "content-delta" => match message["content"]["text"].as_str() {
                // `thinking` deltas carry `content.thinking`, not text: not the answer.
                Some(text) if !text.is_empty() => vec![self.chunk(
                    Delta {
                        content: Some(text.to_owned()),
                        ..Default::default()
                    },
                    None,
                )],
                _ => Vec::new(),
            },
            "tool-call-start" => {
                let call = &message["tool_calls"];
                vec![self.chunk(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: call["id"].as_str().map(str::to_owned),
                            kind: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: call["function"]["name"].as_str().map(str::to_owned),
                                arguments: Some(
                                    call["function"]["arguments"]
                                        .as_str()
                                        .unwrap_or("")
                                        .to_owned(),
                                ),
                            }),
                        }]),
                        ..Default::default()
                    },
                    None,
                )]
            }
            "tool-call-delta" => match message["tool_calls"]["function"]["arguments"].as_str() {
                Some(args) if !args.is_empty() => vec![self.chunk(
                    Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(args.to_owned()),
                            }),
                        }]),
                        ..Default::default()
                    },
                    None,
                )],
                _ => Vec::new(),
            },
            "message-end" => {
                let delta = &v["delta"];
                let reason = delta["finish_reason"].as_str().unwrap_or("COMPLETE");
                let error = delta["error"].as_str().filter(|e| !e.is_empty());
                if matches!(reason, "ERROR" | "TIMEOUT") || error.is_some() {
                    return Err(ProviderError::upstream(
                        502,
                        format!(
                            "cohere stream error: {}",
                            error.unwrap_or("the answer ended with an error")
                        ),
                        Some(data.chars().take(2048).collect()),
                    ));
                }
                self.finished = true;
                let mut last = self.chunk(Delta::default(), Some(finish_reason(reason)));
                last.usage = delta.get("usage").and_then(usage);
                vec![last]
            }
            // content-start/-end, tool-plan-delta, tool-call-end, citations, debug: nothing to
            // pass on.
            _ => Vec::new(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    path: &str,
    body: &Value,
    limits: AttemptLimits,
    whole_timeout: bool,
) -> Result<reqwest::Response, ProviderError> {
    let mut builder = client.post(url(endpoint, path)).json(body);
    if !whole_timeout {
        builder = builder.header(reqwest::header::ACCEPT, "text/event-stream");
    }
    if let Some(key) = endpoint.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
        builder = builder.bearer_auth(key.expose());
    }
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
    let body = request_body(&endpoint.model, request, false)?;
    let response = send(client, endpoint, "chat", &body, limits, true).await?;
    let text = body_text(endpoint, response, limits).await?;
    parse_response(&endpoint.model, &text)
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let body = request_body(&endpoint.model, request, true)?;
    let response = send(client, endpoint, "chat", &body, limits, false).await?;
    let events = Events::new(PROVIDER, response, limits);
    Ok(relay(
        events,
        StreamState::new(&endpoint.model),
        |state, event| state.on_event(&event.data),
        |_| Err(ProviderError::incomplete(PROVIDER, "no message-end event")),
        StreamState::finished,
    ))
}

/// Embeds texts with a Cohere embedding model. Cohere asks what the texts are for; the vectors
/// Portolan needs compare requests with requests, so they are embedded as queries.
pub async fn embed(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    inputs: &[String],
    limits: AttemptLimits,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let body = json!({
        "model": endpoint.model,
        "texts": inputs,
        "input_type": "search_query",
        "embedding_types": ["float"],
    });
    let response = send(client, endpoint, "embed", &body, limits, true).await?;
    let text = body_text(endpoint, response, limits).await?;
    parse_embeddings(&text, inputs.len())
}

pub(crate) fn parse_embeddings(
    text: &str,
    expected: usize,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ProviderError::malformed(PROVIDER, e))?;
    let vectors = v["embeddings"]["float"]
        .as_array()
        .ok_or_else(|| ProviderError::malformed(PROVIDER, "no embeddings.float in the answer"))?;
    let out: Vec<Vec<f32>> = vectors
        .iter()
        .map(|row| {
            row.as_array()
                .map(|xs| {
                    xs.iter()
                        .filter_map(Value::as_f64)
                        .map(|f| f as f32)
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    if out.len() != expected || out.iter().any(Vec::is_empty) {
        return Err(ProviderError::malformed(
            PROVIDER,
            "fewer embeddings than inputs",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
