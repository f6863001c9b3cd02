//! Google's Gemini API (`generateContent`, `streamGenerateContent?alt=sse`,
//! `batchEmbedContents`), translated to and from the unified OpenAI Chat Completions shape,
//! because Gemini speaks its own protocol: `contents` with `user`/`model` roles and typed
//! `parts`, a separate `systemInstruction`, `generationConfig` for sampling, function calls
//! and responses as parts, and an OpenAPI-subset schema dialect for tools.
//!
//! What is mapped: system/developer messages → `systemInstruction`; user/assistant/tool
//! messages → `contents` (same-role neighbours merged); images and audio (data URLs →
//! `inlineData`, http(s) URLs → `fileData`, best effort); assistant tool calls →
//! `functionCall` parts; tool results → `functionResponse` parts named after the call they
//! answer; `temperature`, `top_p`, `max_tokens`, `stop`, `n`, `seed`, penalties, a `top_k`
//! extra and `response_format` (JSON mode, JSON schema) → `generationConfig`; `tools` →
//! `functionDeclarations`; `tool_choice` → `toolConfig`.
//!
//! JSON schemas (tool parameters, response schemas) are rewritten into the subset Gemini's
//! `Schema` accepts: local `$ref`s inlined, `["string","null"]` types turned into `nullable`,
//! `const` into a one-value `enum`, and keywords it rejects (`additionalProperties`,
//! `$schema`, `strict`, unsupported `format`s…) dropped, since Gemini answers 400 to any of
//! them. Replayed function calls carry Google's documented placeholder thought signature,
//! because the original signatures do not survive the OpenAI shape and Gemini 3 rejects
//! function-call history without one.
//!
//! Deliberately left out: `logprobs`, `user` (Gemini has no end-user field), thought parts in
//! answers (thinking summaries are not part of the unified shape), safety settings.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::sse::Events;
use super::{
    Access, AttemptLimits, Auth, ChunkStream, Endpoint, ErrorFormat, ProviderError, body_text,
    new_completion_id, send_request, tool_call_arguments, unix_now,
};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ChunkChoice, ContentPart, Delta,
    FunctionCall, FunctionCallDelta, MessageContent, ToolCall, ToolCallDelta, Usage,
};
use crate::images::parse_data_url;

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The placeholder Google documents for function calls whose thought signature is unknown.
const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

fn model_name(endpoint: &Endpoint) -> &str {
    endpoint.model.trim().trim_start_matches("models/")
}

/// The model's URL on AI Studio (before `:method`), with the key.
fn access(endpoint: &Endpoint) -> Access {
    let base = endpoint.base_url.trim().trim_end_matches('/');
    let base = if base.is_empty() {
        DEFAULT_BASE_URL
    } else {
        base
    };
    let base = base
        .strip_suffix("/v1beta")
        .or_else(|| base.strip_suffix("/v1"))
        .unwrap_or(base);
    let auth = match endpoint.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
        Some(key) => Auth::Header("x-goog-api-key", key.clone()),
        None => Auth::None,
    };
    Access {
        url: format!("{base}/v1beta/models/{}", model_name(endpoint)),
        auth,
    }
}

/// Gemini's error JSON: `{"error":{"code":…,"message":…,"status":…}}` (sometimes in an array).
pub(crate) fn error_message(v: &Value) -> Option<String> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str);
    let status = e.get("status").and_then(Value::as_str);
    match (message, status) {
        (Some(m), Some(s)) => Some(format!("{m} ({s})")),
        (Some(m), None) => Some(m.to_owned()),
        _ => e
            .as_str()
            .map(str::to_owned)
            .or_else(|| Some(e.to_string())),
    }
}

/// `RetryInfo.retryDelay` ("30s", "1.5s") from an error's details: Gemini puts the wait for a
/// 429 there rather than in a header.
fn retry_delay(v: &Value) -> Option<Duration> {
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(v);
    v.get("error")?
        .get("details")?
        .as_array()?
        .iter()
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(|s| s.trim().strip_suffix('s')?.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// Gemini's error bodies: the message, and the 429 wait in `RetryInfo`.
pub(crate) const GEMINI_ERRORS: ErrorFormat = ErrorFormat {
    message: error_message,
    retry_delay,
    kind_header: None,
};

// ---------------------------------------------------------------------------------------------
// Schema translation
// ---------------------------------------------------------------------------------------------

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
/// `format` is kept only with one of these values (Gemini rejects the others).
const SCHEMA_FORMATS: &[&str] = &["enum", "date-time", "float", "double", "int32", "int64"];
const MAX_SCHEMA_DEPTH: usize = 24;

/// A JSON Schema rewritten into Gemini's OpenAPI-subset `Schema`.
pub(crate) fn gemini_schema(schema: &Value) -> Value {
    let defs = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    convert_schema(schema, &defs, 0)
}

fn resolve_ref<'a>(reference: &str, defs: &'a Map<String, Value>) -> Option<&'a Value> {
    let name = reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))?;
    defs.get(name)
}

fn convert_schema(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Some(obj) = schema.as_object() else {
        return json!({});
    };
    if depth > MAX_SCHEMA_DEPTH {
        return json!({"type": "object"});
    }
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| resolve_ref(r, defs))
    {
        let mut resolved = convert_schema(target, defs, depth + 1);
        if let (Some(d), Some(out)) = (obj.get("description"), resolved.as_object_mut()) {
            out.insert("description".into(), d.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    // A single-schema allOf is a common wrapper (e.g. around a $ref): merge it in.
    if let Some([only]) = obj
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        && let Value::Object(inner) = convert_schema(only, defs, depth + 1)
    {
        out.extend(inner);
    }
    for (key, value) in obj {
        match key.as_str() {
            "type" => match value {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types
                        .iter()
                        .filter(|t| t.as_str() != Some("null"))
                        .collect();
                    if non_null.len() < types.len() {
                        out.insert("nullable".into(), json!(true));
                    }
                    match non_null.as_slice() {
                        [one] => {
                            out.insert("type".into(), (*one).clone());
                        }
                        [] => {}
                        many => {
                            out.insert(
                                "anyOf".into(),
                                Value::Array(many.iter().map(|t| json!({"type": t})).collect()),
                            );
                        }
                    }
                }
                Value::String(t) if t == "null" => {
                    out.insert("nullable".into(), json!(true));
                }
                other => {
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Some(props) = value.as_object() {
                    let props: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), convert_schema(v, defs, depth + 1)))
                        .collect();
                    out.insert("properties".into(), Value::Object(props));
                }
            }
            "items" => {
                let item = match value {
                    Value::Array(tuple) => tuple.first().cloned().unwrap_or_else(|| json!({})),
                    v => v.clone(),
                };
                out.insert("items".into(), convert_schema(&item, defs, depth + 1));
            }
            "anyOf" | "oneOf" => {
                if let Some(options) = value.as_array() {
                    let options: Vec<Value> = options
                        .iter()
                        .map(|o| convert_schema(o, defs, depth + 1))
                        .collect();
                    out.insert("anyOf".into(), Value::Array(options));
                }
            }
            "const" => {
                out.insert("enum".into(), json!([value]));
                if !obj.contains_key("type") && value.is_string() {
                    out.insert("type".into(), json!("string"));
                }
            }
            "format" if value.as_str().is_some_and(|f| SCHEMA_FORMATS.contains(&f)) => {
                out.insert("format".into(), value.clone());
            }
            k if SCHEMA_KEYS.contains(&k) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    // `required` may only name declared properties.
    if let (Some(Value::Array(required)), Some(Value::Object(props))) =
        (out.get("required"), out.get("properties"))
    {
        let kept: Vec<Value> = required
            .iter()
            .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
            .cloned()
            .collect();
        out.insert("required".into(), Value::Array(kept));
    }
    Value::Object(out)
}

/// Tool parameters, or `None` for a function that takes none (Gemini rejects an object schema
/// with no properties).
fn function_parameters(parameters: Option<&Value>) -> Option<Value> {
    let schema = gemini_schema(parameters?);
    let is_empty_object = schema
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("object"))
        && schema
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
        && schema.get("anyOf").is_none();
    (!is_empty_object && schema.as_object().is_some_and(|o| !o.is_empty())).then_some(schema)
}

// ---------------------------------------------------------------------------------------------
// Request mapping
// ---------------------------------------------------------------------------------------------

fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// A MIME type guessed from a URL's extension, for `fileData`.
fn mime_from_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "image/jpeg",
    }
}

fn image_part(url: &str) -> Result<Value, ProviderError> {
    if let Some((mime, data)) = parse_data_url(url) {
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    if is_http_url(url) {
        return Ok(json!({"fileData": {"fileUri": url, "mimeType": mime_from_url(url)}}));
    }
    Err(ProviderError::config(
        "gemini: an image must be a base64 data URL or an http(s) URL",
    ))
}

fn part_type(part: &Value) -> &str {
    part.get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// OpenAI `input_audio` and `file` parts as `inlineData`.
fn other_part(part: &Value) -> Result<Value, ProviderError> {
    match part_type(part) {
        "input_audio" => {
            let audio = part.get("input_audio");
            let data = audio.and_then(|a| a.get("data")).and_then(Value::as_str);
            let format = audio
                .and_then(|a| a.get("format"))
                .and_then(Value::as_str)
                .unwrap_or("wav");
            match data {
                Some(d) => {
                    Ok(json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": d}}))
                }
                None => Err(ProviderError::config(
                    "gemini: an input_audio part needs its data",
                )),
            }
        }
        "file" => {
            let data_url = part
                .get("file")
                .and_then(|f| f.get("file_data"))
                .and_then(Value::as_str)
                .unwrap_or("");
            match parse_data_url(data_url) {
                Some((mime, data)) => Ok(json!({"inlineData": {"mimeType": mime, "data": data}})),
                None => Err(ProviderError::config(
                    "gemini: file parts must carry their content as a base64 data URL (file.file_data)",
                )),
            }
        }
        other => Err(ProviderError::config(format!(
            "gemini cannot take a '{other}' content part"
        ))),
    }
}

fn content_parts(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    let mut parts = Vec::new();
    match content {
        Some(MessageContent::Text(t)) if !t.is_empty() => parts.push(json!({"text": t})),
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(items)) => {
            for item in items {
                match item {
                    ContentPart::Text { text } if text.is_empty() => {}
                    ContentPart::Text { text } => parts.push(json!({"text": text})),
                    ContentPart::ImageUrl { image_url } => parts.push(image_part(&image_url.url)?),
                    ContentPart::Other(v) => parts.push(other_part(v)?),
                }
            }
        }
    }
    Ok(parts)
}

fn function_call_part(call: &ToolCall, first: bool) -> Result<Value, ProviderError> {
    let args = tool_call_arguments("gemini", call)?;
    let mut part = json!({"functionCall": {"name": call.function.name, "args": args}});
    if first {
        part["thoughtSignature"] = json!(SKIP_THOUGHT_SIGNATURE);
    }
    Ok(part)
}

/// Splits the system prompt out and turns the rest into merged `contents`.
fn map_messages(messages: &[ChatMessage]) -> Result<(Option<String>, Vec<Value>), ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Tool call id → function name, from the assistant messages seen so far (ids like
    // `call_0` repeat across turns, so the latest wins).
    let mut call_names: HashMap<String, String> = HashMap::new();
    for m in messages {
        let (role, parts) = match m.role.as_str() {
            "system" | "developer" => {
                let text = m.text();
                if !text.trim().is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", content_parts(m.content.as_ref())?),
            "assistant" => {
                let mut parts = content_parts(m.content.as_ref())?;
                for (i, call) in m.tool_calls.iter().flatten().enumerate() {
                    call_names.insert(call.id.clone(), call.function.name.clone());
                    parts.push(function_call_part(call, i == 0)?);
                }
                ("model", parts)
            }
            "tool" | "function" => {
                let name = m
                    .tool_call_id
                    .as_ref()
                    .and_then(|id| call_names.get(id))
                    .cloned()
                    .or_else(|| m.name.clone().filter(|n| !n.is_empty()))
                    .ok_or_else(|| {
                        ProviderError::config(format!(
                            "gemini: the tool message for call '{}' answers no earlier tool call",
                            m.tool_call_id.as_deref().unwrap_or("?")
                        ))
                    })?;
                let text = m.text();
                let content = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                (
                    "user",
                    vec![
                        json!({"functionResponse": {"name": name, "response": {"content": content}}}),
                    ],
                )
            }
            other => {
                return Err(ProviderError::config(format!(
                    "gemini cannot take a message with role '{other}'"
                )));
            }
        };
        super::merge_turn(&mut turns, role, parts);
    }
    if turns.is_empty() {
        return Err(ProviderError::config(
            "gemini needs at least one user or assistant message with content",
        ));
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok(((!system.is_empty()).then(|| system.join("\n\n")), contents))
}

fn map_tool_choice(choice: &Value) -> Result<Value, ProviderError> {
    let config = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" | "any" => json!({"mode": "ANY"}),
            other => {
                return Err(ProviderError::config(format!(
                    "gemini: unknown tool_choice '{other}'"
                )));
            }
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ProviderError::config("gemini: tool_choice objects must name a function")
                })?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
        _ => {
            return Err(ProviderError::config(
                "gemini: tool_choice must be a string or an object",
            ));
        }
    };
    Ok(json!({"functionCallingConfig": config}))
}

fn map_response_format(
    format: &Value,
    config: &mut Map<String, Value>,
) -> Result<(), ProviderError> {
    match format.get("type").and_then(Value::as_str) {
        None | Some("text") => {}
        Some("json_object") => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            config.insert("responseMimeType".into(), json!("application/json"));
            let schema = format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .ok_or_else(|| {
                    ProviderError::config(
                        "gemini: response_format json_schema needs json_schema.schema",
                    )
                })?;
            config.insert("responseSchema".into(), gemini_schema(schema));
        }
        Some(other) => {
            return Err(ProviderError::config(format!(
                "gemini: unknown response_format type '{other}'"
            )));
        }
    }
    Ok(())
}

/// The `generateContent` body for a unified request.
pub(crate) fn request_body(request: &ChatRequest) -> Result<Value, ProviderError> {
    super::refuse_serial_tool_calls("gemini", request)?;
    let (system, contents) = map_messages(&request.messages)?;
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        body.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    let mut config = Map::new();
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    if let Some(k) = request.extra.get("top_k").filter(|k| k.is_number()) {
        config.insert("topK".into(), k.clone());
    }
    if let Some(max) = request.max_output_tokens() {
        config.insert("maxOutputTokens".into(), json!(max));
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        config.insert("stopSequences".into(), json!(stops));
    }
    if let Some(n) = request.n {
        config.insert("candidateCount".into(), json!(n));
    }
    if let Some(seed) = request.seed {
        config.insert("seed".into(), json!(seed));
    }
    if let Some(p) = request.presence_penalty {
        config.insert("presencePenalty".into(), json!(p));
    }
    if let Some(p) = request.frequency_penalty {
        config.insert("frequencyPenalty".into(), json!(p));
    }
    if let Some(format) = &request.response_format {
        map_response_format(format, &mut config)?;
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) {
        let declarations: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.function.name});
                if let Some(desc) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
                    d["description"] = json!(desc);
                }
                if let Some(params) = function_parameters(t.function.parameters.as_ref()) {
                    d["parameters"] = params;
                }
                d
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        body.insert("toolConfig".into(), map_tool_choice(choice)?);
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Response mapping
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
    #[serde(default)]
    function_call: Option<GeminiFunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
struct GeminiFunctionCall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
    #[serde(default)]
    block_reason_message: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    /// OpenAI's accounting: cached tokens are part of the prompt (as Gemini counts them too),
    /// thinking tokens part of the completion.
    fn unified(&self) -> Usage {
        Usage::new(
            self.prompt_token_count + self.tool_use_prompt_token_count,
            self.candidates_token_count + self.thoughts_token_count,
            self.cached_content_token_count,
        )
    }
}

/// Gemini's `finishReason` as an OpenAI `finish_reason`.
pub(crate) fn finish_reason(reason: &str, has_tool_calls: bool) -> &'static str {
    if has_tool_calls {
        return "tool_calls";
    }
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    }
}

fn blocked_error(provider: &str, feedback: Option<&PromptFeedback>) -> ProviderError {
    match feedback.and_then(|f| f.block_reason.as_deref()) {
        Some(reason) => {
            let detail = feedback
                .and_then(|f| f.block_reason_message.as_deref())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            ProviderError::upstream(
                400,
                format!("{provider} blocked the prompt (blockReason {reason}){detail}"),
                None,
            )
        }
        None => ProviderError::malformed(provider, "an answer with no candidates"),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(
    provider: &str,
    text: &str,
) -> Result<T, ProviderError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ProviderError::malformed(provider, e))?;
    if value.get("error").is_some() {
        let status = value["error"]
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| *c >= 400)
            .unwrap_or(502);
        let message = error_message(&value).unwrap_or_else(|| "no details".into());
        return Err(ProviderError::upstream(
            status,
            format!("{provider} error: {message}"),
            Some(text.to_owned()),
        ));
    }
    serde_json::from_value(value).map_err(|e| ProviderError::malformed(provider, e))
}

/// Text (thought parts left out) and function calls of one candidate.
fn candidate_content(candidate: &Candidate) -> (String, Vec<(String, String)>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate.content.iter().flat_map(|c| &c.parts) {
        if let Some(call) = &part.function_call {
            let args = call.args.clone().unwrap_or_else(|| json!({}));
            calls.push((call.name.clone(), args.to_string()));
        } else if let Some(t) = &part.text
            && part.thought != Some(true)
        {
            text.push_str(t);
        }
    }
    (text, calls)
}

/// A `generateContent` answer as a unified response.
pub(crate) fn parse_response(
    provider: &str,
    model: &str,
    text: &str,
) -> Result<ChatResponse, ProviderError> {
    let parsed: GenerateResponse = parse_json(provider, text)?;
    if parsed.candidates.is_empty() {
        return Err(blocked_error(provider, parsed.prompt_feedback.as_ref()));
    }
    let choices = parsed
        .candidates
        .iter()
        .enumerate()
        .map(|(i, candidate)| {
            let (answer, calls) = candidate_content(candidate);
            let calls: Vec<ToolCall> = calls
                .into_iter()
                .enumerate()
                .map(|(j, (name, arguments))| ToolCall {
                    id: format!("call_{j}"),
                    kind: "function".into(),
                    function: FunctionCall { name, arguments },
                })
                .collect();
            let reason = candidate.finish_reason.as_deref().unwrap_or("STOP");
            Choice {
                index: candidate.index.unwrap_or(i as u32),
                message: ChatMessage {
                    role: "assistant".into(),
                    content: (!answer.is_empty() || calls.is_empty())
                        .then_some(MessageContent::Text(answer)),
                    tool_calls: (!calls.is_empty()).then_some(calls.clone()),
                    ..Default::default()
                },
                finish_reason: Some(finish_reason(reason, !calls.is_empty()).into()),
                logprobs: None,
            }
        })
        .collect();
    Ok(ChatResponse {
        id: parsed.response_id.unwrap_or_else(new_completion_id),
        object: "chat.completion".into(),
        created: unix_now(),
        model: parsed.model_version.unwrap_or_else(|| model.to_owned()),
        choices,
        usage: Some(parsed.usage_metadata.unwrap_or_default().unified()),
        system_fingerprint: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Stream mapping
// ---------------------------------------------------------------------------------------------

/// Folds streamed `GenerateContentResponse`s into unified chunks.
#[derive(Debug)]
pub(crate) struct StreamState {
    provider: String,
    id: Option<String>,
    model: String,
    created: i64,
    /// Candidates expected (`n`), so a stream is done only once all of them finished.
    expected: usize,
    /// Per candidate index: role sent, tool calls so far, finished.
    candidates: HashMap<u32, (bool, u32, bool)>,
    usage: Option<UsageMetadata>,
}

impl StreamState {
    pub(crate) fn new(provider: &str, model: &str, expected_candidates: u32) -> Self {
        StreamState {
            provider: provider.to_owned(),
            id: None,
            model: model.to_owned(),
            created: unix_now(),
            expected: expected_candidates.max(1) as usize,
            candidates: HashMap::new(),
            usage: None,
        }
    }

    /// Whether every candidate sent its `finishReason`.
    pub(crate) fn finished(&self) -> bool {
        let done = self.candidates.values().filter(|c| c.2).count();
        done > 0 && done >= self.expected.max(self.candidates.len())
    }

    /// Whether any candidate finished (a stream ending after that is complete enough).
    fn any_finished(&self) -> bool {
        self.candidates.values().any(|c| c.2)
    }

    /// The usage-only chunk that closes the stream.
    pub(crate) fn usage_chunk(&self) -> ChatChunk {
        let mut c = ChatChunk::new(
            self.id.as_deref().unwrap_or_default(),
            &self.model,
            self.created,
        );
        c.usage = Some(self.usage.unwrap_or_default().unified());
        c
    }

    /// One SSE `data:` payload → the chunk to send, if it carries anything.
    pub(crate) fn on_data(&mut self, data: &str) -> Result<Option<ChatChunk>, ProviderError> {
        let data = data.trim();
        if data.is_empty() {
            return Ok(None);
        }
        let parsed: GenerateResponse = parse_json(&self.provider, data)?;
        if parsed.usage_metadata.is_some() {
            self.usage = parsed.usage_metadata;
        }
        if self.id.is_none() {
            self.id = Some(parsed.response_id.clone().unwrap_or_else(new_completion_id));
        }
        if let Some(v) = parsed.model_version.as_ref().filter(|v| !v.is_empty()) {
            self.model = v.clone();
        }
        if parsed.candidates.is_empty() {
            if parsed
                .prompt_feedback
                .as_ref()
                .is_some_and(|f| f.block_reason.is_some())
            {
                return Err(blocked_error(
                    &self.provider,
                    parsed.prompt_feedback.as_ref(),
                ));
            }
            return Ok(None);
        }
        let mut chunk = ChatChunk::new(
            self.id.as_deref().unwrap_or_default(),
            &self.model,
            self.created,
        );
        for (i, candidate) in parsed.candidates.iter().enumerate() {
            let index = candidate.index.unwrap_or(i as u32);
            let (text, calls) = candidate_content(candidate);
            let slot = self.candidates.entry(index).or_insert((false, 0, false));
            let mut delta = Delta::default();
            if !slot.0 {
                slot.0 = true;
                delta.role = Some("assistant".into());
            }
            if !text.is_empty() {
                delta.content = Some(text);
            }
            if !calls.is_empty() {
                let deltas = calls
                    .into_iter()
                    .map(|(name, arguments)| {
                        let n = slot.1;
                        slot.1 += 1;
                        ToolCallDelta {
                            index: n,
                            id: Some(format!("call_{n}")),
                            kind: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: Some(name),
                                arguments: Some(arguments),
                            }),
                        }
                    })
                    .collect();
                delta.tool_calls = Some(deltas);
            }
            let finish = candidate.finish_reason.as_deref().map(|r| {
                slot.2 = true;
                finish_reason(r, slot.1 > 0).to_owned()
            });
            if delta == Delta::default() && finish.is_none() {
                continue;
            }
            chunk.choices.push(ChunkChoice {
                index,
                delta,
                finish_reason: finish,
            });
        }
        Ok((!chunk.choices.is_empty()).then_some(chunk))
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    method: &str,
    body: &Value,
    limits: AttemptLimits,
    stream: bool,
) -> Result<reqwest::Response, ProviderError> {
    let mut builder = client.post(format!("{}:{method}", access.url)).json(body);
    if stream {
        builder = builder.query(&[("alt", "sse")]);
    }
    let builder = access.auth.apply(builder);
    send_request(endpoint, builder, limits, !stream, GEMINI_ERRORS).await
}

pub async fn complete(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    complete_at(client, endpoint, &access(endpoint), request, limits).await
}

/// A `generateContent` call sent where `access` says (AI Studio or Vertex AI).
pub(crate) async fn complete_at(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    let body = request_body(request)?;
    let response = send(
        client,
        endpoint,
        access,
        "generateContent",
        &body,
        limits,
        false,
    )
    .await?;
    let text = body_text(endpoint, response, limits).await?;
    parse_response(endpoint.provider.id(), model_name(endpoint), &text)
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    stream_at(client, endpoint, &access(endpoint), request, limits).await
}

/// A `streamGenerateContent` call sent where `access` says (AI Studio or Vertex AI).
pub(crate) async fn stream_at(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    access: &Access,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let body = request_body(request)?;
    let response = send(
        client,
        endpoint,
        access,
        "streamGenerateContent",
        &body,
        limits,
        true,
    )
    .await?;
    let mut events = Events::new(endpoint.provider.id(), response, limits);
    let mut state = StreamState::new(
        endpoint.provider.id(),
        model_name(endpoint),
        request.n.unwrap_or(1),
    );
    let provider = endpoint.provider.id().to_owned();
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let item = match events.next().await {
                Err(e) => Err(e),
                // Fewer candidates than asked for may finish; a clean end after one did is whole.
                Ok(None) if state.any_finished() => break,
                Ok(None) => Err(ProviderError::incomplete(&provider, "no finishReason")),
                Ok(Some(event)) => match state.on_data(&event.data) {
                    Ok(None) => continue,
                    Ok(Some(chunk)) => Ok(chunk),
                    Err(e) => Err(e),
                },
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
            if state.finished() {
                break;
            }
        }
        let _ = tx.send(Ok(state.usage_chunk())).await;
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

pub async fn embed(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    inputs: &[String],
    limits: AttemptLimits,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let model = format!("models/{}", model_name(endpoint));
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| json!({"model": model, "content": {"parts": [{"text": text}]}}))
        .collect();
    let body = json!({"requests": requests});
    let response = send(
        client,
        endpoint,
        &access(endpoint),
        "batchEmbedContents",
        &body,
        limits,
        false,
    )
    .await?;
    let text = body_text(endpoint, response, limits).await?;
    parse_embeddings(endpoint.provider.id(), &text, inputs.len())
}

/// `{"embeddings":[{"values":[…]}, …]}` → one vector per input.
pub(crate) fn parse_embeddings(
    provider: &str,
    text: &str,
    expected: usize,
) -> Result<Vec<Vec<f32>>, ProviderError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| ProviderError::malformed(provider, e))?;
    let embeddings = value
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::malformed(provider, "no embeddings in the answer"))?;
    let vectors: Vec<Vec<f32>> = embeddings
        .iter()
        .map(|e| {
            e.get("values")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_f64)
                        .map(|f| f as f32)
                        .collect::<Vec<f32>>()
                })
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ProviderError::malformed(provider, "an embedding without values"))
        })
        .collect::<Result<_, _>>()?;
    if vectors.len() != expected {
        return Err(ProviderError::malformed(
            provider,
            format!("{} embeddings for {expected} inputs", vectors.len()),
        ));
    }
    Ok(vectors)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wire_tests;
