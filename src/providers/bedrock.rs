//! AWS Bedrock through the Converse and ConverseStream APIs: every Bedrock chat model (Claude,
//! Llama, Nova, Mistral, Cohere…) in one request shape, model ids and cross-region inference
//! profiles (`us.anthropic.claude-…`) alike.
//!
//! Requests are signed with SigV4 by `aws-sigv4` (service `bedrock`) from the credentials sealed
//! in the virtual key ([`crate::cloud_credentials::AwsCredentials`]); streams arrive in AWS's
//! binary event-stream framing, decoded by `aws-smithy-eventstream`. Errors name their kind in the
//! `x-amzn-ErrorType` header (`ThrottlingException`, `ExpiredTokenException`…); mid-stream
//! failures arrive as exception frames.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::sse::{EventSource, relay};
use super::{
    AttemptLimits, ChunkStream, Endpoint, ErrorFormat, ProviderError, ToolChoice, body_text,
    merge_turn, new_completion_id, send_request, tool_call_arguments, tool_choice, unix_now,
};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ContentPart, Delta, FunctionCall,
    FunctionCallDelta, MessageContent, ToolCall, ToolCallDelta, Usage,
};
use crate::cloud_credentials::{self, AwsCredentials};
use crate::images::parse_data_url;

const PROVIDER: &str = "bedrock";
/// The SigV4 signing name of the Bedrock runtime.
const SIGNING_NAME: &str = "bedrock";

fn credentials(endpoint: &Endpoint) -> Result<AwsCredentials, ProviderError> {
    let secret = endpoint.api_key.as_ref().ok_or_else(|| {
        ProviderError::config("bedrock needs AWS credentials: add them to its virtual key")
    })?;
    cloud_credentials::aws(secret.expose()).map_err(|e| ProviderError::config(e.0))
}

/// The runtime's address: the key's base URL when it names one (a VPC endpoint, a proxy), else
/// the region's public endpoint.
fn base_url(endpoint: &Endpoint, creds: &AwsCredentials) -> String {
    let base = endpoint.base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        format!("https://bedrock-runtime.{}.amazonaws.com", creds.region)
    } else {
        base.to_owned()
    }
}

/// `/model/{id}/{action}` with the id percent-encoded as one path segment (`:` and `/` of
/// versions and ARNs included), as AWS signs and expects it.
fn url(base: &str, model: &str, action: &str) -> String {
    let id: String = model
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{base}/model/{id}/{action}")
}

/// Bedrock's error JSON: `{"message": "…"}` (some services write `Message`).
fn error_message(v: &Value) -> Option<String> {
    v.get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Bedrock's error bodies, with the kind AWS names in `x-amzn-ErrorType`.
const BEDROCK_ERRORS: ErrorFormat = ErrorFormat {
    message: error_message,
    retry_delay: |_| None,
    kind_header: Some("x-amzn-errortype"),
};

/// The HTTP status an exception type stands for (exception frames arrive inside a 200).
fn exception_status(kind: &str) -> u16 {
    match kind {
        "throttlingException" | "ThrottlingException" | "modelNotReadyException" => 429,
        "validationException" | "ValidationException" => 400,
        "accessDeniedException" | "AccessDeniedException" => 403,
        "modelTimeoutException" => 408,
        "modelStreamErrorException" => 424,
        "serviceUnavailableException" => 503,
        _ => 500,
    }
}

// ---------------------------------------------------------------------------------------------
// Request mapping
// ---------------------------------------------------------------------------------------------

fn image_block(url: &str) -> Result<Value, ProviderError> {
    let (mime, data) = parse_data_url(url).ok_or_else(|| {
        ProviderError::config(
            "bedrock takes images as base64 data URLs (data:image/png;base64,…), not links",
        )
    })?;
    let format = match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(ProviderError::config(format!(
                "bedrock cannot take an image of type '{other}' (png, jpeg, gif or webp)"
            )));
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn content_blocks(content: Option<&MessageContent>) -> Result<Vec<Value>, ProviderError> {
    let mut blocks = Vec::new();
    match content {
        Some(MessageContent::Text(t)) if !t.is_empty() => blocks.push(json!({"text": t})),
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                match part {
                    ContentPart::Text { text } if text.is_empty() => {}
                    ContentPart::Text { text } => blocks.push(json!({"text": text})),
                    ContentPart::ImageUrl { image_url } => {
                        blocks.push(image_block(&image_url.url)?)
                    }
                    ContentPart::Other(v) => {
                        return Err(ProviderError::config(format!(
                            "bedrock cannot take a '{}' content part",
                            v.get("type").and_then(Value::as_str).unwrap_or("unknown")
                        )));
                    }
                }
            }
        }
    }
    Ok(blocks)
}

fn map_messages(messages: &[ChatMessage]) -> Result<(Vec<Value>, Vec<Value>), ProviderError> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        match m.role.as_str() {
            "system" | "developer" => {
                let text = m.text();
                if !text.trim().is_empty() {
                    system.push(json!({"text": text}));
                }
            }
            "user" => merge_turn(&mut turns, "user", content_blocks(m.content.as_ref())?),
            "assistant" => {
                let mut blocks = content_blocks(m.content.as_ref())?;
                for call in m.tool_calls.iter().flatten() {
                    let input = tool_call_arguments(PROVIDER, call)?;
                    blocks.push(json!({"toolUse": {
                        "toolUseId": call.id, "name": call.function.name, "input": input,
                    }}));
                }
                merge_turn(&mut turns, "assistant", blocks);
            }
            "tool" => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        ProviderError::config("bedrock: a tool message needs its tool_call_id")
                    })?;
                let text = m.text();
                let content = match serde_json::from_str::<Value>(&text) {
                    Ok(v @ Value::Object(_)) => json!([{"json": v}]),
                    _ => json!([{"text": text}]),
                };
                merge_turn(
                    &mut turns,
                    "user",
                    vec![json!({"toolResult": {"toolUseId": id, "content": content}})],
                );
            }
            other => {
                return Err(ProviderError::config(format!(
                    "bedrock: unknown message role '{other}'"
                )));
            }
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

/// Converse's `toolChoice`; `None` for "none" (Converse has no such choice: the tools are left
/// out instead).
fn map_tool_choice(choice: &Value) -> Result<Option<Value>, ProviderError> {
    Ok(match tool_choice(PROVIDER, choice)? {
        ToolChoice::Auto => Some(json!({"auto": {}})),
        ToolChoice::Required => Some(json!({"any": {}})),
        ToolChoice::None => None,
        ToolChoice::Function(name) => Some(json!({"tool": {"name": name}})),
    })
}

/// The Converse body for a unified request. Options Converse cannot carry are refused by name.
pub(crate) fn request_body(request: &ChatRequest) -> Result<Value, ProviderError> {
    super::refuse_serial_tool_calls("bedrock", request)?;
    if request.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::config(
            "bedrock returns one answer per request: n > 1 is not supported",
        ));
    }
    for (name, value) in [
        ("presence_penalty", request.presence_penalty),
        ("frequency_penalty", request.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(ProviderError::config(format!(
                "bedrock's Converse API has no {name}"
            )));
        }
    }
    if let Some(kind) = request
        .response_format
        .as_ref()
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .filter(|t| *t != "text")
    {
        return Err(ProviderError::config(format!(
            "bedrock's Converse API cannot enforce response_format '{kind}'; describe the JSON in the prompt or use a tool"
        )));
    }
    let (system, messages) = map_messages(&request.messages)?;
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    let mut config = Map::new();
    if let Some(max) = request.max_output_tokens() {
        config.insert("maxTokens".into(), json!(max));
    }
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), json!(p));
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        config.insert("stopSequences".into(), json!(stops));
    }
    if !config.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(config));
    }
    // Model-specific knobs ride in additionalModelRequestFields.
    if let Some(k) = request.extra.get("top_k").filter(|k| k.is_number()) {
        body.insert(
            "additionalModelRequestFields".into(),
            json!({"top_k": k.clone()}),
        );
    }
    let choice = match &request.tool_choice {
        Some(c) => Some(map_tool_choice(c)?),
        None => None,
    };
    let tools_off = matches!(choice, Some(None));
    if let Some(tools) = request
        .tools
        .as_ref()
        .filter(|t| !t.is_empty() && !tools_off)
    {
        let specs: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut spec = json!({
                    "name": t.function.name,
                    "inputSchema": {"json": t.function.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
                });
                if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
                    spec["description"] = json!(d);
                }
                json!({"toolSpec": spec})
            })
            .collect();
        let mut tool_config = json!({"tools": specs});
        if let Some(Some(c)) = choice {
            tool_config["toolChoice"] = c;
        }
        body.insert("toolConfig".into(), tool_config);
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Response mapping
// ---------------------------------------------------------------------------------------------

pub(crate) fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's accounting of Converse usage: cache reads and writes are part of the prompt.
fn usage(v: &Value) -> Option<Usage> {
    let n = |k: &str| v.get(k).and_then(Value::as_u64);
    let input = n("inputTokens")?;
    let cached = n("cacheReadInputTokens").unwrap_or(0);
    let written = n("cacheWriteInputTokens").unwrap_or(0);
    Some(Usage::new(
        input + cached + written,
        n("outputTokens").unwrap_or(0),
        cached,
    ))
}

pub(crate) fn parse_response(model: &str, text: &str) -> Result<ChatResponse, ProviderError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ProviderError::malformed(PROVIDER, e))?;
    let content = v["output"]["message"]["content"]
        .as_array()
        .ok_or_else(|| ProviderError::malformed(PROVIDER, "no output.message in the answer"))?;
    let mut answer = String::new();
    let mut calls = Vec::new();
    for block in content {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            answer.push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            calls.push(ToolCall {
                id: tool["toolUseId"].as_str().unwrap_or_default().to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: tool["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: tool
                        .get("input")
                        .map_or_else(|| "{}".into(), Value::to_string),
                },
            });
        }
    }
    let stop = v["stopReason"].as_str().unwrap_or("end_turn");
    if matches!(stop, "malformed_model_output" | "malformed_tool_use") {
        return Err(ProviderError::upstream(
            502,
            format!("bedrock: the model's answer was unusable ({stop})"),
            Some(text.chars().take(2048).collect()),
        ));
    }
    let mut reply = ChatMessage::new("assistant", answer);
    if !calls.is_empty() {
        reply.tool_calls = Some(calls);
    }
    Ok(ChatResponse {
        id: new_completion_id(),
        object: "chat.completion".into(),
        created: unix_now(),
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: reply,
            finish_reason: Some(finish_reason(stop).to_owned()),
            logprobs: None,
        }],
        usage: v.get("usage").and_then(usage),
        system_fingerprint: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Stream mapping
// ---------------------------------------------------------------------------------------------

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// Folds ConverseStream events into unified chunks.
#[derive(Debug)]
pub(crate) struct StreamState {
    id: String,
    model: String,
    created: i64,
    /// Content block index → tool call index.
    tools: HashMap<u64, u32>,
    stop: Option<String>,
    finished: bool,
}

impl StreamState {
    pub(crate) fn new(model: &str) -> Self {
        StreamState {
            id: new_completion_id(),
            model: model.to_owned(),
            created: unix_now(),
            tools: HashMap::new(),
            stop: None,
            finished: false,
        }
    }

    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    fn chunk(&self, delta: Delta, finish: Option<&str>) -> ChatChunk {
        ChatChunk::with_delta(&self.id, &self.model, self.created, delta, finish)
    }

    fn tool_delta(&self, index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> Delta {
        Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index,
                id: id.map(str::to_owned),
                kind: id.map(|_| "function".to_owned()),
                function: Some(FunctionCallDelta {
                    name: name.map(str::to_owned),
                    arguments: Some(args.to_owned()),
                }),
            }]),
            ..Default::default()
        }
    }

    /// One decoded frame.
    pub(crate) fn on_message(
        &mut self,
        message: &Message,
    ) -> Result<Vec<ChatChunk>, ProviderError> {
        let payload = || -> Result<Value, ProviderError> {
            serde_json::from_slice(message.payload())
                .map_err(|e| ProviderError::malformed(PROVIDER, e))
        };
        match header(message, ":message-type") {
            Some("exception") | Some("error") => {
                let kind = header(message, ":exception-type")
                    .or_else(|| header(message, ":error-code"))
                    .unwrap_or("unknown");
                let detail = serde_json::from_slice::<Value>(message.payload())
                    .ok()
                    .as_ref()
                    .and_then(error_message)
                    .or_else(|| header(message, ":error-message").map(str::to_owned))
                    .unwrap_or_else(|| "no details".into());
                let body = String::from_utf8_lossy(message.payload()).into_owned();
                return Err(ProviderError::upstream(
                    exception_status(kind),
                    format!("bedrock stream error: {detail} ({kind})"),
                    Some(body.chars().take(2048).collect()),
                ));
            }
            Some("event") => {}
            other => {
                return Err(ProviderError::malformed(
                    PROVIDER,
                    format!("a frame of message type {other:?}"),
                ));
            }
        }
        let event = header(message, ":event-type").unwrap_or("");
        let v = payload()?;
        let block = v.get("contentBlockIndex").and_then(Value::as_u64);
        Ok(match event {
            "messageStart" => vec![self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    ..Default::default()
                },
                None,
            )],
            "contentBlockStart" => match (v["start"].get("toolUse"), block) {
                (Some(tool), Some(block)) => {
                    let index = self.tools.len() as u32;
                    self.tools.insert(block, index);
                    let delta = self.tool_delta(
                        index,
                        tool["toolUseId"].as_str(),
                        tool["name"].as_str(),
                        "",
                    );
                    vec![self.chunk(delta, None)]
                }
                _ => Vec::new(),
            },
            "contentBlockDelta" => {
                let delta = &v["delta"];
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    vec![self.chunk(
                        Delta {
                            content: Some(text.to_owned()),
                            ..Default::default()
                        },
                        None,
                    )]
                } else if let Some(input) = delta["toolUse"]["input"].as_str() {
                    let index =
                        block
                            .and_then(|b| self.tools.get(&b).copied())
                            .ok_or_else(|| {
                                ProviderError::malformed(PROVIDER, "tool input before its block")
                            })?;
                    vec![self.chunk(self.tool_delta(index, None, None, input), None)]
                } else {
                    // Reasoning and citations are not part of the answer.
                    Vec::new()
                }
            }
            "messageStop" => {
                self.stop = Some(v["stopReason"].as_str().unwrap_or("end_turn").to_owned());
                Vec::new()
            }
            "metadata" => {
                // Usage comes last, after messageStop.
                self.finished = true;
                let stop = self.stop.as_deref().unwrap_or("end_turn");
                let mut last = self.chunk(Delta::default(), Some(finish_reason(stop)));
                last.usage = v.get("usage").and_then(usage);
                vec![last]
            }
            _ => Vec::new(),
        })
    }

    /// The body ended: complete if the answer stopped (usage may be missing).
    fn on_end(&mut self) -> Result<Vec<ChatChunk>, ProviderError> {
        match self.stop.as_deref() {
            Some(stop) if !self.finished => {
                self.finished = true;
                Ok(vec![
                    self.chunk(Delta::default(), Some(finish_reason(stop))),
                ])
            }
            Some(_) => Ok(Vec::new()),
            None => Err(ProviderError::incomplete(PROVIDER, "no messageStop event")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

/// Signs and sends one request; an error status becomes a [`ProviderError`] naming the
/// exception type AWS gave.
async fn send(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    action: &str,
    body: &Value,
    limits: AttemptLimits,
    whole_timeout: bool,
) -> Result<reqwest::Response, ProviderError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let creds = credentials(endpoint)?;
    let url = url(&base_url(endpoint, &creds), &endpoint.model, action);
    let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::internal(e.to_string()))?;
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "portolan",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&creds.region)
        .name(SIGNING_NAME)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ProviderError::internal(format!("bedrock signing: {e}")))?
        .into();
    let headers = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(&bytes),
    )
    .map_err(|e| ProviderError::config(format!("bedrock: cannot sign a request to {url}: {e}")))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| ProviderError::internal(format!("bedrock signing: {e}")))?
        .into_parts();
    let mut builder = client
        .post(&url)
        .header("content-type", "application/json")
        .body(bytes);
    for (name, value) in instructions.headers() {
        builder = builder.header(name, value);
    }
    if !whole_timeout {
        builder = builder.header("accept", "application/vnd.amazon.eventstream");
    }
    send_request(endpoint, builder, limits, whole_timeout, BEDROCK_ERRORS).await
}

pub async fn complete(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChatResponse, ProviderError> {
    let body = request_body(request)?;
    let response = send(client, endpoint, "converse", &body, limits, true).await?;
    let text = body_text(endpoint, response, limits).await?;
    parse_response(&endpoint.model, &text)
}

pub async fn stream(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ChunkStream, ProviderError> {
    let body = request_body(request)?;
    let response = send(client, endpoint, "converse-stream", &body, limits, false).await?;
    let frames = Frames {
        bytes: response.bytes_stream().boxed(),
        decoder: MessageFrameDecoder::new(),
        buffer: BytesMut::new(),
        total: 0,
        limits,
    };
    Ok(relay(
        frames,
        StreamState::new(&endpoint.model),
        |state, message| state.on_message(&message),
        StreamState::on_end,
        StreamState::finished,
    ))
}

/// ConverseStream's frames, decoded from the body as it arrives, within the idle timeout and
/// the stream's size limits.
struct Frames {
    bytes: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: MessageFrameDecoder,
    buffer: BytesMut,
    total: usize,
    limits: AttemptLimits,
}

impl EventSource for Frames {
    type Event = Message;

    async fn next_event(&mut self) -> Result<Option<Message>, ProviderError> {
        let limits = self.limits;
        loop {
            match self.decoder.decode_frame(&mut self.buffer) {
                Ok(DecodedFrame::Complete(message)) => return Ok(Some(message)),
                Ok(DecodedFrame::Incomplete) => {}
                Err(e) => {
                    return Err(ProviderError::malformed(
                        PROVIDER,
                        format!("event stream: {e}"),
                    ));
                }
            }
            let piece = match tokio::time::timeout(limits.idle_timeout, self.bytes.next()).await {
                Err(_) => return Err(ProviderError::stalled(PROVIDER, limits.idle_timeout)),
                Ok(None) => return Ok(None),
                Ok(Some(Err(e))) => {
                    return Err(ProviderError::incomplete(
                        PROVIDER,
                        &format!("connection broke: {e}"),
                    ));
                }
                Ok(Some(Ok(piece))) => piece,
            };
            self.total += piece.len();
            if self.total > limits.body.max_stream_bytes {
                return Err(ProviderError::too_large(
                    PROVIDER,
                    "a stream",
                    limits.body.max_stream_bytes,
                ));
            }
            self.buffer.extend_from_slice(&piece);
            if self.buffer.len() > limits.body.max_event_bytes {
                return Err(ProviderError::too_large(
                    PROVIDER,
                    "a stream event",
                    limits.body.max_event_bytes,
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
