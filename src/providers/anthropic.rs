//! Anthropic's Messages API (`POST /v1/messages`), translated to and from the unified OpenAI
//! Chat Completions shape, because Anthropic speaks its own protocol: the system prompt is a
//! top-level field, roles must alternate, tool calls and tool results are content blocks,
//! `max_tokens` is required, and streams are typed SSE events rather than OpenAI chunks.
//!
//! What is mapped: system/developer messages → `system`; user/assistant/tool messages →
//! alternating `messages` (same-role neighbours merged, tool results as `tool_result` blocks
//! first in their user message); images (data URLs → base64 sources, http(s) URLs → URL
//! sources) and PDF file parts → `document` blocks; `max_tokens` (default
//! [`DEFAULT_MAX_TOKENS`]), `temperature`, `top_p`, `stop` → `stop_sequences`, `tools`,
//! `tool_choice`, `parallel_tool_calls: false` → `disable_parallel_tool_use`, `user` →
//! `metadata.user_id`, and a `top_k` passed as an extra field.
//!
//! `response_format` of type `json_schema` → `output_config.format` (structured outputs); type
//! `json_object` (Anthropic has no JSON mode without a schema) the way Anthropic documents it:
//! the answer is prefilled with `{`, which the model continues, and the `{` is put back in front
//! of the text returned ([`json_prefill`]).
//!
//! What is deliberately left out: `seed`, `presence_penalty`, `frequency_penalty`,
//! `logprobs` and other OpenAI-only extras. `n > 1` is refused with a config error, since
//! Anthropic returns one answer per request and silently returning fewer choices would be a
//! truncation. Thinking blocks in answers are skipped.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::sse::{Events, relay};
use super::{
    Access, AttemptLimits, Auth, ChunkStream, Endpoint, ErrorFormat, ProviderError, body_text,
    send_request, tool_call_arguments, unix_now,
};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ContentPart, Delta, FunctionCall,
    FunctionCallDelta, MessageContent, ToolCall, ToolCallDelta, Usage,
};
use crate::images::parse_data_url;

/// The API version header Portolan speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` when the request sets no limit (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

fn url(endpoint: &Endpoint) -> String {
    let base = endpoint.base_url.trim().trim_end_matches('/');
    let base = if base.is_empty() {
        DEFAULT_BASE_URL
    } else {
        base
    };
    let base = base.strip_suffix("/v1").unwrap_or(base);
    format!("{base}/v1/messages")
}

/// Anthropic's error JSON: `{"type":"error","error":{"type":…,"message":…}}`.
fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str);
    let kind = e.get("type").and_then(Value::as_str);
    match (kind, message) {
        (Some(k), Some(m)) => Some(format!("{m} ({k})")),
        (None, Some(m)) => Some(m.to_owned()),
        _ => e
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some(e.to_string())),
    }
}

/// The HTTP status an Anthropic error type stands for (errors sent inside a 200 stream).
fn status_for_error_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "api_error" => 500,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 502,
    }
}

/// An `error` event (or error-shaped body) as a [`ProviderError`].
fn stream_error(provider: &str, v: &Value) -> ProviderError {
    let kind = v
        .get("error")
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let message = error_message(v).unwrap_or_else(|| "no details".into());
    ProviderError::upstream(
        status_for_error_type(kind),
        format!("{provider} stream error: {message}"),
        Some(v.to_string()),
    )
}

// ---------------------------------------------------------------------------------------------
// Request mapping
// ---------------------------------------------------------------------------------------------

fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn image_block(url: &str) -> Result<Value, ProviderError> {
    if let Some((media_type, data)) = parse_data_url(url) {
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    if is_http_url(url) {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ProviderError::config(
        "anthropic: an image must be a base64 data URL or an http(s) URL",
    ))
}

/// An OpenAI `file` part (`{"file": {"file_data": "data:application/pdf;base64,…"}}`) as a
/// `document` block; only PDFs, which is what Anthropic reads.
fn file_block(part: &Value) -> Result<Value, ProviderError> {
    let data_url = part
        .get("file")
        .and_then(|f| f.get("file_data"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match parse_data_url(data_url) {
        Some((media_type, data)) if media_type == "application/pdf" => Ok(json!({
            "type": "document",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        })),
        _ => Err(ProviderError::config(
            "anthropic: file parts must carry a PDF as a base64 data URL (file.file_data)",
        )),
    }
}

fn part_type(part: &Value) -> &str {
    part.get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// A user or assistant message's content as Anthropic content blocks (empty text left out:
/// the API rejects empty text blocks).
fn content_blocks(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    match content {
        Some(MessageContent::Text(t)) if !t.is_empty() => blocks.push(text_block(t)),
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                match part {
                    ContentPart::Text { text } if text.is_empty() => {}
                    ContentPart::Text { text } => blocks.push(text_block(text)),
                    ContentPart::ImageUrl { image_url } => {
                        blocks.push(image_block(&image_url.url)?)
                    }
                    ContentPart::Other(v) if part_type(v) == "file" => blocks.push(file_block(v)?),
                    ContentPart::Other(v) => {
                        return Err(ProviderError::config(format!(
                            "anthropic cannot take a '{}' content part",
                            part_type(v)
                        )));
                    }
                }
            }
        }
    }
    Ok(blocks)
}

fn tool_use_block(call: &ToolCall) -> Result<Value, ProviderError> {
    let input = tool_call_arguments("anthropic", call)?;
    Ok(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}))
}

fn tool_result_block(message: &ChatMessage) -> Result<Value, ProviderError> {
    let id = message
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ProviderError::config("anthropic: a tool message needs its tool_call_id"))?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let text = message.text();
    if !text.is_empty() {
        block["content"] = Value::String(text);
    }
    Ok(block)
}

/// Splits the system prompt out and turns the rest into alternating Anthropic messages.
fn map_messages(messages: &[ChatMessage]) -> Result<(Option<String>, Vec<Value>), ProviderError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role.as_str() {
            "system" | "developer" => {
                let text = m.text();
                if !text.trim().is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", content_blocks(m.content.as_ref())?),
            "assistant" => {
                let mut blocks = content_blocks(m.content.as_ref())?;
                for call in m.tool_calls.iter().flatten() {
                    blocks.push(tool_use_block(call)?);
                }
                ("assistant", blocks)
            }
            "tool" | "function" => ("user", vec![tool_result_block(m)?]),
            other => {
                return Err(ProviderError::config(format!(
                    "anthropic cannot take a message with role '{other}'"
                )));
            }
        };
        super::merge_turn(&mut turns, role, blocks);
    }
    if turns.is_empty() {
        return Err(ProviderError::config(
            "anthropic needs at least one user or assistant message with content",
        ));
    }
    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // Tool results must come before anything else in their user message.
                blocks
                    .sort_by_key(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"));
            }
            let content = match blocks.as_slice() {
                [only] if only.get("type").and_then(Value::as_str) == Some("text") => {
                    only["text"].clone()
                }
                _ => Value::Array(blocks),
            };
            json!({"role": role, "content": content})
        })
        .collect();
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok((system, messages))
}

fn map_tool_choice(choice: &Value) -> Result<Value, ProviderError> {
    let mapped = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" | "any" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            other => {
                return Err(ProviderError::config(format!(
                    "anthropic: unknown tool_choice '{other}'"
                )));
            }
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str);
            match name {
                Some(n) => json!({"type": "tool", "name": n}),
                None => {
                    return Err(ProviderError::config(
                        "anthropic: tool_choice objects must name a function",
                    ));
                }
            }
        }
        _ => {
            return Err(ProviderError::config(
                "anthropic: tool_choice must be a string or an object",
            ));
        }
    };
    Ok(mapped)
}

/// What a `json_object` request's answer is prefilled with (`{`): Anthropic's way to have the
/// answer be a JSON object. None when the request is not `json_object`, or already ends with an
/// assistant message (its own prefill).
pub(crate) fn json_prefill(request: &ChatRequest) -> Option<&'static str> {
    let json_object = request
        .response_format
        .as_ref()
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        == Some("json_object");
    let ends_with_assistant = request
        .messages
        .last()
        .is_some_and(|m| m.role == "assistant");
    (json_object && !ends_with_assistant).then_some("{")
}

/// The Messages API body for a unified request.
pub(crate) fn request_body(
    model: &str,
    request: &ChatRequest,
    stream: bool,
) -> Result<Value, ProviderError> {
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::config(
            "anthropic returns one answer per request: n > 1 is not supported",
        ));
    }
    let (system, messages) = map_messages(&request.messages)?;
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "max_tokens".into(),
        json!(request.max_output_tokens().unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if let Some(system) = system {
        body.insert("system".into(), json!(system));
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = request.extra.get("top_k").filter(|k| k.is_number()) {
        body.insert("top_k".into(), k.clone());
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut tool = json!({
                    "name": t.function.name,
                    "input_schema": t.function.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                });
                if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut tool_choice = request
        .tool_choice
        .as_ref()
        .map(map_tool_choice)
        .transpose()?;
    let has_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty());
    if request.extra.get("parallel_tool_calls") == Some(&Value::Bool(false)) && has_tools {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(choice) = tool_choice {
        body.insert("tool_choice".into(), choice);
    }
    if let Some(user) = request.user.as_ref().filter(|u| !u.is_empty()) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(format) = &request.response_format {
        match format.get("type").and_then(Value::as_str) {
            None | Some("text") => {}
            Some("json_schema") => {
                let schema = format.pointer("/json_schema/schema").ok_or_else(|| {
                    ProviderError::config(
                        "anthropic: response_format json_schema needs json_schema.schema",
                    )
                })?;
                body.insert(
                    "output_config".into(),
                    json!({"format": {"type": "json_schema", "schema": schema}}),
                );
            }
            Some("json_object") => {
                if let Some(prefill) = json_prefill(request)
                    && let Some(Value::Array(messages)) = body.get_mut("messages")
                {
                    messages.push(json!({"role": "assistant", "content": prefill}));
                }
            }
            Some(other) => {
                return Err(ProviderError::config(format!(
                    "anthropic: unsupported response_format type '{other}' (text, json_object or json_schema)"
                )));
            }
        }
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Response mapping
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone, Copy, Deserialize)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Later counts (cumulative ones from `message_delta`) replace earlier ones.
    fn update(&mut self, newer: &AnthropicUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }

    /// OpenAI's accounting: cache reads and writes are part of the prompt.
    fn unified(&self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let prompt =
            self.input_tokens.unwrap_or(0) + cached + self.cache_creation_input_tokens.unwrap_or(0);
        Usage::new(prompt, self.output_tokens.unwrap_or(0), cached)
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct MessageResponse {
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

/// Anthropic's `stop_reason` as an OpenAI `finish_reason`.
pub(crate) fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

fn arguments_text(input: &Value) -> String {
    match input {
        Value::Null => "{}".into(),
        v => v.to_string(),
    }
}

/// A Messages API answer as a unified response.
pub(crate) fn parse_response(provider: &str, text: &str) -> Result<ChatResponse, ProviderError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ProviderError::malformed(provider, e))?;
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(stream_error(provider, &value));
    }
    let parsed: MessageResponse =
        serde_json::from_value(value).map_err(|e| ProviderError::malformed(provider, e))?;
    let mut answer = String::new();
    let mut calls = Vec::new();
    for block in parsed.content {
        match block {
            Block::Text { text } => answer.push_str(&text),
            Block::ToolUse { id, name, input } => calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: arguments_text(&input),
                },
            }),
            Block::Other => {}
        }
    }
    let content = (!answer.is_empty() || calls.is_empty()).then_some(MessageContent::Text(answer));
    Ok(ChatResponse {
        id: parsed.id,
        object: "chat.completion".into(),
        created: unix_now(),
        model: parsed.model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage {
                role: "assistant".into(),
                content,
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..Default::default()
            },
            finish_reason: Some(finish_reason(parsed.stop_reason.as_deref()).into()),
            logprobs: None,
        }],
        usage: Some(parsed.usage.unified()),
        system_fingerprint: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Stream mapping
// ---------------------------------------------------------------------------------------------

/// Folds Anthropic stream events into unified chunks.
#[derive(Debug)]
pub(crate) struct StreamState {
    provider: String,
    id: String,
    model: String,
    created: i64,
    started: bool,
    usage: AnthropicUsage,
    stop_reason: Option<String>,
    /// Content block index → tool call index (tool calls are numbered from 0 whatever text
    /// blocks come between them).
    tool_indices: HashMap<u64, u32>,
    finished: bool,
    /// Text sent before the first text delta (a JSON prefill).
    prefix: Option<String>,
}

impl StreamState {
    pub(crate) fn new(provider: &str, model: &str) -> Self {
        StreamState {
            provider: provider.to_owned(),
            id: String::new(),
            model: model.to_owned(),
            created: unix_now(),
            started: false,
            usage: AnthropicUsage::default(),
            stop_reason: None,
            tool_indices: HashMap::new(),
            finished: false,
            prefix: None,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::with_delta(
            &self.id,
            &self.model,
            self.created,
            delta,
            finish_reason.as_deref(),
        )
    }

    /// The role chunk, the first time anything arrives.
    fn start(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.started {
            self.started = true;
            if self.id.is_empty() {
                self.id = super::new_completion_id();
            }
            out.push(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    ..Default::default()
                },
                None,
            ));
        }
    }

    fn malformed(&self, detail: &str) -> ProviderError {
        ProviderError::malformed(&self.provider, detail)
    }

    /// One SSE event (its `event:` name and `data:` text) → the chunks to send.
    pub(crate) fn on_event(
        &mut self,
        event_name: &str,
        data: &str,
    ) -> Result<Vec<ChatChunk>, ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| ProviderError::malformed(&self.provider, e))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(event_name);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                let message = v
                    .get("message")
                    .ok_or_else(|| self.malformed("message_start without a message"))?;
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.id = id.to_owned();
                }
                if let Some(model) = message
                    .get("model")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                {
                    self.model = model.to_owned();
                }
                if let Some(u) = message.get("usage") {
                    let u: AnthropicUsage = serde_json::from_value(u.clone())
                        .map_err(|e| ProviderError::malformed(&self.provider, e))?;
                    self.usage.update(&u);
                }
                self.start(&mut out);
            }
            "content_block_start" => {
                self.start(&mut out);
                let index = v
                    .get("index")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| self.malformed("content_block_start without an index"))?;
                let block = v
                    .get("content_block")
                    .ok_or_else(|| self.malformed("content_block_start without a block"))?;
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let tool_index = self.tool_indices.len() as u32;
                        self.tool_indices.insert(index, tool_index);
                        let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                        let name = block
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        // The input arrives as input_json_delta pieces; a non-empty input here
                        // (never sent by the API today) is passed on whole.
                        let initial = block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                            .map(Value::to_string)
                            .unwrap_or_default();
                        out.push(self.chunk(
                            Delta {
                                tool_calls: Some(vec![ToolCallDelta {
                                    index: tool_index,
                                    id: Some(id.to_owned()),
                                    kind: Some("function".into()),
                                    function: Some(FunctionCallDelta {
                                        name: Some(name.to_owned()),
                                        arguments: Some(initial),
                                    }),
                                }]),
                                ..Default::default()
                            },
                            None,
                        ));
                    }
                    Some("text") => {
                        if let Some(t) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(self.text_chunk(t));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                self.start(&mut out);
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let delta = v
                    .get("delta")
                    .ok_or_else(|| self.malformed("content_block_delta without a delta"))?;
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            let chunk = match self.prefix.take() {
                                Some(p) => self.text_chunk(&format!("{p}{t}")),
                                None => self.text_chunk(t),
                            };
                            out.push(chunk);
                        }
                    }
                    Some("input_json_delta") => {
                        let tool_index = *self.tool_indices.get(&index).ok_or_else(|| {
                            self.malformed("input_json_delta for a block that is not a tool_use")
                        })?;
                        let piece = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if !piece.is_empty() {
                            out.push(self.chunk(
                                Delta {
                                    tool_calls: Some(vec![ToolCallDelta {
                                        index: tool_index,
                                        function: Some(FunctionCallDelta {
                                            name: None,
                                            arguments: Some(piece.to_owned()),
                                        }),
                                        ..Default::default()
                                    }]),
                                    ..Default::default()
                                },
                                None,
                            ));
                        }
                    }
                    // thinking_delta, signature_delta, citations_delta: not part of the unified shape.
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(u) = v.get("usage") {
                    let u: AnthropicUsage = serde_json::from_value(u.clone())
                        .map_err(|e| ProviderError::malformed(&self.provider, e))?;
                    self.usage.update(&u);
                }
            }
            "message_stop" => {
                self.start(&mut out);
                self.finished = true;
                out.push(self.chunk(
                    Delta::default(),
                    Some(finish_reason(self.stop_reason.as_deref()).into()),
                ));
                let mut usage = ChatChunk::new(&self.id, &self.model, self.created);
                usage.usage = Some(self.usage.unified());
                out.push(usage);
            }
            "error" => return Err(stream_error(&self.provider, &v)),
            // ping, content_block_stop, and event types added later: nothing to send.
            _ => {}
        }
        Ok(out)
    }

    fn text_chunk(&self, text: &str) -> ChatChunk {
        self.chunk(
            Delta {
                content: Some(text.to_owned()),
                ..Default::default()
            },
            None,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

/// Where Messages API calls for `endpoint` go, with its key.
fn access(endpoint: &Endpoint) -> Access {
    let auth = match endpoint.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
        Some(key) => Auth::Header("x-api-key", key.clone()),
        None => Auth::None,
    };
    Access {
        url: url(endpoint),
        auth,
    }
}

async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    body: &Value,
    limits: AttemptLimits,
    whole_timeout: bool,
) -> Result<reqwest::Response, ProviderError> {
    let builder = access.auth.apply(
        client
            .post(&access.url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(body),
    );
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
    let prefill = json_prefill(request);
    complete_at(client, endpoint, &access(endpoint), &body, prefill, limits).await
}

/// A non-streamed Messages call with a prepared body, sent where `access` says; `prefill` (the
/// start of the answer the body put in an assistant turn) is put back in front of the text.
pub(crate) async fn complete_at(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    body: &Value,
    prefill: Option<&str>,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    let response = send(client, endpoint, access, body, limits, true).await?;
    let text = body_text(endpoint, response, limits).await?;
    let mut parsed = parse_response(endpoint.provider.id(), &text)?;
    if let Some(prefill) = prefill {
        put_back_prefill(&mut parsed, prefill);
    }
    Ok(parsed)
}

/// Puts the prefill back in front of an answer's text. As when streamed, only text gets it: an
/// answer of tool calls alone stays without text.
fn put_back_prefill(response: &mut ChatResponse, prefill: &str) {
    if let Some(choice) = response.choices.first_mut()
        && !choice.message.text().is_empty()
    {
        let text = choice.message.text();
        choice.message.content = Some(crate::chat::MessageContent::Text(format!(
            "{prefill}{text}"
        )));
    }
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let body = request_body(&endpoint.model, request, true)?;
    let prefill = json_prefill(request);
    stream_at(client, endpoint, &access(endpoint), &body, prefill, limits).await
}

/// A streamed Messages call with a prepared body, sent where `access` says; `prefill` comes
/// before the first text.
pub(crate) async fn stream_at(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    body: &Value,
    prefill: Option<&str>,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let response = send(client, endpoint, access, body, limits, false).await?;
    let events = Events::new(endpoint.provider.id(), response, limits);
    let mut state = StreamState::new(endpoint.provider.id(), &endpoint.model);
    state.prefix = prefill.map(str::to_owned);
    Ok(relay(
        events,
        state,
        |state, event| state.on_event(&event.event, &event.data),
        |state| {
            Err(ProviderError::incomplete(
                &state.provider,
                "no message_stop event",
            ))
        },
        StreamState::finished,
    ))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wire_tests;
