//! Anthropic's Messages API (`POST /v1/messages`) on the engine, so Claude Code and the Anthropic
//! SDKs can use any provider through the gateway: a Messages request (`system`, content blocks
//! text / image / document / tool_use / tool_result, `tools`, `tool_choice`, `stop_sequences`)
//! becomes a chat request; a chat answer becomes a Message; a stream of chat chunks becomes
//! Anthropic's event sequence (`message_start`, `content_block_start`, `content_block_delta`,
//! `content_block_stop`, `message_delta`, `message_stop`, or `error` when it breaks). Errors take
//! Anthropic's shape (`{"type": "error", "error": {"type", "message"}}`).
//!
//! Thinking blocks and the `thinking` option are accepted and left out: a chat request has no
//! place for them, and a model reached through chat does not need its earlier thinking back.

use serde_json::{Map, Value, json};

use super::{Unsupported, as_text, unknown_fields};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ContentPart, FunctionCall, FunctionDef,
    ImageUrl, MessageContent, Stop, Tool, ToolCall, Usage,
};

const KNOWN: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "context_management",
];

/// A Messages request, checked.
#[derive(Debug, Clone)]
pub struct MessagesRequest {
    pub model: String,
    pub stream: bool,
    pub chat: ChatRequest,
}

/// Parses a Messages request into the chat request that runs it.
pub fn parse(body: Value) -> Result<MessagesRequest, Unsupported> {
    let Value::Object(body) = body else {
        return Err(Unsupported("the body must be a JSON object".into()));
    };
    let unknown = unknown_fields(&body, KNOWN);
    if !unknown.is_empty() {
        return Err(Unsupported(format!(
            "the Messages API option(s) {} are not supported by Portolan",
            unknown.join(", ")
        )));
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| Unsupported("`model` is required".into()))?
        .to_owned();
    let max_tokens = body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .ok_or_else(|| Unsupported("`max_tokens` is required (a whole number)".into()))?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut messages = Vec::new();
    if let Some(system) = body.get("system").filter(|v| !v.is_null()) {
        let text = match system {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks
                .iter()
                .map(|b| b.get("text").map(as_text).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n\n"),
            _ => return Err(Unsupported("`system` must be text or text blocks".into())),
        };
        if !text.is_empty() {
            messages.push(ChatMessage::new("system", text));
        }
    }
    let Some(Value::Array(turns)) = body.get("messages") else {
        return Err(Unsupported("`messages` must be a list of messages".into()));
    };
    if turns.is_empty() {
        return Err(Unsupported(
            "`messages` must hold at least one message".into(),
        ));
    }
    for turn in turns {
        turn_to_messages(turn, &mut messages)?;
    }
    let mut chat = ChatRequest {
        model: model.clone(),
        messages,
        stream: Some(stream),
        max_tokens: Some(max_tokens.min(u32::MAX as u64) as u32),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        tools: tools(&body)?,
        ..Default::default()
    };
    if stream {
        chat.stream_options = Some(crate::chat::StreamOptions {
            include_usage: Some(true),
        });
    }
    match body.get("stop_sequences") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) if !list.is_empty() => {
            chat.stop = Some(Stop::Many(list.iter().map(as_text).collect()))
        }
        Some(Value::Array(_)) => {}
        Some(_) => {
            return Err(Unsupported(
                "`stop_sequences` must be a list of strings".into(),
            ));
        }
    }
    if let Some(k) = body.get("top_k").filter(|v| !v.is_null()) {
        chat.extra.insert("top_k".into(), k.clone());
    }
    if let Some(user) = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        chat.user = Some(user.to_owned());
    }
    if let Some(choice) = body.get("tool_choice").filter(|v| !v.is_null()) {
        let (choice, parallel) = tool_choice(choice)?;
        if chat.tools.is_some() {
            chat.tool_choice = choice;
            if let Some(p) = parallel {
                chat.extra.insert("parallel_tool_calls".into(), json!(p));
            }
        }
    }
    Ok(MessagesRequest {
        model,
        stream,
        chat,
    })
}

/// One Messages turn as chat messages: a user turn's tool results become tool messages (first,
/// as chat wants them right after the calls), the rest of it one user message; an assistant
/// turn's text and tool_use blocks become one assistant message.
fn turn_to_messages(turn: &Value, out: &mut Vec<ChatMessage>) -> Result<(), Unsupported> {
    let role = match turn.get("role").and_then(Value::as_str) {
        Some(r @ ("user" | "assistant")) => r,
        Some(other) => {
            return Err(Unsupported(format!(
                "unknown message role '{other}' (user or assistant; the system prompt goes in `system`)"
            )));
        }
        None => return Err(Unsupported("every message needs a role".into())),
    };
    let blocks = match turn.get("content") {
        Some(Value::String(s)) => {
            out.push(ChatMessage::new(role, s.clone()));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(Unsupported(
                "message content must be text or content blocks".into(),
            ));
        }
    };
    let mut parts: Vec<ContentPart> = Vec::new();
    let mut calls: Vec<ToolCall> = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => parts.push(ContentPart::Text {
                text: block.get("text").map(as_text).unwrap_or_default(),
            }),
            "image" => parts.push(ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: source_url(block, "image")?,
                    detail: None,
                },
            }),
            "document" => {
                let url = source_url(block, "document")?;
                parts.push(ContentPart::Other(
                    json!({"type": "file", "file": {"file_data": url}}),
                ));
            }
            "tool_use" => calls.push(ToolCall {
                id: block.get("id").map(as_text).unwrap_or_default(),
                kind: "function".into(),
                function: FunctionCall {
                    name: block.get("name").map(as_text).unwrap_or_default(),
                    arguments: match block.get("input") {
                        None | Some(Value::Null) => "{}".into(),
                        Some(v) => v.to_string(),
                    },
                },
            }),
            "tool_result" => {
                let id = block
                    .get("tool_use_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Unsupported("a tool_result block needs its tool_use_id".into())
                    })?;
                let mut text = match block.get("content") {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(inner)) => inner
                        .iter()
                        .map(|b| match b.get("type").and_then(Value::as_str) {
                            Some("text") => Ok(b.get("text").map(as_text).unwrap_or_default()),
                            Some(other) => Err(Unsupported(format!(
                                "tool_result content of type '{other}' is not supported by Portolan (text is)"
                            ))),
                            None => Ok(String::new()),
                        })
                        .collect::<Result<Vec<_>, _>>()?
                        .join("\n"),
                    Some(other) => other.to_string(),
                };
                if block.get("is_error").and_then(Value::as_bool) == Some(true) {
                    text = format!("Error: {text}");
                }
                out.push(ChatMessage {
                    role: "tool".into(),
                    tool_call_id: Some(id.to_owned()),
                    content: Some(MessageContent::Text(text)),
                    ..Default::default()
                });
            }
            // Not carried by chat; see the module's notes.
            "thinking" | "redacted_thinking" => {}
            other => {
                return Err(Unsupported(format!(
                    "content blocks of type '{other}' are not supported by Portolan (text, image, document, tool_use and tool_result are)"
                )));
            }
        }
    }
    let content = match parts.as_slice() {
        [] => None,
        [ContentPart::Text { text }] => Some(MessageContent::Text(text.clone())),
        _ => Some(MessageContent::Parts(parts)),
    };
    if role == "assistant" {
        if content.is_some() || !calls.is_empty() {
            out.push(ChatMessage {
                role: "assistant".into(),
                content,
                tool_calls: (!calls.is_empty()).then_some(calls),
                ..Default::default()
            });
        }
    } else if let Some(content) = content {
        out.push(ChatMessage {
            role: "user".into(),
            content: Some(content),
            ..Default::default()
        });
    }
    Ok(())
}

/// An image or document block's source as a URL (base64 as a data URL).
fn source_url(block: &Value, kind: &str) -> Result<String, Unsupported> {
    let source = block
        .get("source")
        .ok_or_else(|| Unsupported(format!("an {kind} block needs a source")))?;
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            source.get("media_type").map(as_text).unwrap_or_default(),
            source.get("data").map(as_text).unwrap_or_default()
        )),
        Some("url") => Ok(source.get("url").map(as_text).unwrap_or_default()),
        other => Err(Unsupported(format!(
            "{kind} sources of type '{}' are not supported by Portolan (base64 and url are)",
            other.unwrap_or("none")
        ))),
    }
}

fn tools(body: &Map<String, Value>) -> Result<Option<Vec<Tool>>, Unsupported> {
    let Some(Value::Array(list)) = body.get("tools") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for t in list {
        // Client tools have no type (or "custom"); server tools are typed and versioned.
        match t.get("type").and_then(Value::as_str) {
            None | Some("custom") => {}
            Some(other) => {
                return Err(Unsupported(format!(
                    "Anthropic's server tool '{other}' is not supported by Portolan (client tools with an input_schema are)"
                )));
            }
        }
        out.push(Tool {
            kind: "function".into(),
            function: FunctionDef {
                name: t
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Unsupported("a tool needs a name".into()))?
                    .to_owned(),
                description: t
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                parameters: t.get("input_schema").cloned(),
            },
        });
    }
    Ok((!out.is_empty()).then_some(out))
}

/// `tool_choice` as chat's, and whether parallel calls are allowed.
fn tool_choice(v: &Value) -> Result<(Option<Value>, Option<bool>), Unsupported> {
    let parallel = v
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .map(|d| !d);
    let choice = match v.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Unsupported("tool_choice of type tool needs a name".into()))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => {
            return Err(Unsupported(format!(
                "tool_choice {v} is not supported by Portolan"
            )));
        }
    };
    Ok((Some(choice), parallel))
}

/// Anthropic's `stop_reason` for a chat `finish_reason`.
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

fn usage_object(u: Option<Usage>) -> Value {
    let u = u.unwrap_or_default();
    let cached = u.cached_tokens();
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(cached),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    })
}

fn arguments_value(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| json!({"arguments": arguments}))
}

/// The Message for a complete chat answer (its first choice).
pub fn from_chat(id: &str, model: &str, answer: &ChatResponse) -> Value {
    let mut content = Vec::new();
    let choice = answer.choices.first();
    if let Some(choice) = choice {
        let text = choice.message.text();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in choice.message.tool_calls.iter().flatten() {
            content.push(json!({
                "type": "tool_use",
                "id": call.id,
                "name": call.function.name,
                "input": arguments_value(&call.function.arguments),
            }));
        }
    }
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(choice.and_then(|c| c.finish_reason.as_deref())),
        "stop_sequence": Value::Null,
        "usage": usage_object(answer.usage),
    })
}

pub fn new_message_id() -> String {
    crate::ids::new_id("msg")
}

/// The open content block of a stream.
enum Open {
    Text,
    /// A tool call, by the chunk's tool-call index.
    Tool(u32),
}

/// Turns a stream of chat chunks into Anthropic's event sequence. Feed it every chunk, then
/// [`MessageStream::finish`] (the stream ended well) or [`MessageStream::fail`].
pub struct MessageStream {
    /// Index of the next content block.
    next: usize,
    open: Option<Open>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl MessageStream {
    /// The stream and its opening events (`message_start`, `ping`).
    pub fn start(id: &str, model: &str) -> (MessageStream, Vec<Value>) {
        let message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": Value::Null,
            "stop_sequence": Value::Null,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
        });
        (
            MessageStream {
                next: 0,
                open: None,
                finish_reason: None,
                usage: None,
            },
            vec![
                json!({"type": "message_start", "message": message}),
                json!({"type": "ping"}),
            ],
        )
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        if self.open.take().is_some() {
            out.push(json!({"type": "content_block_stop", "index": self.next - 1}));
        }
    }

    fn open(&mut self, block: Open, start: Value, out: &mut Vec<Value>) {
        self.close(out);
        out.push(
            json!({"type": "content_block_start", "index": self.next, "content_block": start}),
        );
        self.next += 1;
        self.open = Some(block);
    }

    /// The events one chat chunk amounts to.
    pub fn push(&mut self, chunk: &ChatChunk) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for c in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
                if !matches!(self.open, Some(Open::Text)) {
                    self.open(Open::Text, json!({"type": "text", "text": ""}), &mut out);
                }
                out.push(json!({
                    "type": "content_block_delta",
                    "index": self.next - 1,
                    "delta": {"type": "text_delta", "text": text},
                }));
            }
            for tc in c.delta.tool_calls.iter().flatten() {
                if !matches!(self.open, Some(Open::Tool(i)) if i == tc.index) {
                    let start = json!({
                        "type": "tool_use",
                        "id": tc.id.clone().unwrap_or_else(|| crate::ids::new_id("toolu")),
                        "name": tc.function.as_ref().and_then(|f| f.name.clone()).unwrap_or_default(),
                        "input": {},
                    });
                    self.open(Open::Tool(tc.index), start, &mut out);
                }
                if let Some(args) = tc
                    .function
                    .as_ref()
                    .and_then(|f| f.arguments.as_deref())
                    .filter(|a| !a.is_empty())
                {
                    out.push(json!({
                        "type": "content_block_delta",
                        "index": self.next - 1,
                        "delta": {"type": "input_json_delta", "partial_json": args},
                    }));
                }
            }
            if let Some(f) = &c.finish_reason {
                self.finish_reason = Some(f.clone());
            }
        }
        out
    }

    /// The closing events of a stream that ended well.
    pub fn finish(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        out.push(json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish_reason.as_deref()), "stop_sequence": Value::Null},
            "usage": usage_object(self.usage),
        }));
        out.push(json!({"type": "message_stop"}));
        out
    }

    /// The closing event of a stream that broke: an `error` event, never `message_stop`.
    pub fn fail(&mut self, status: u16, message: &str) -> Vec<Value> {
        vec![error_body(status, message)]
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// Anthropic's error type for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 | 412 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

/// An error as Anthropic writes it.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

/// One event as server-sent event text (`event:` names the type, as Anthropic's SDKs read it).
pub fn sse(event: &Value) -> String {
    format!(
        "event: {}\ndata: {}\n\n",
        event["type"].as_str().unwrap_or("message"),
        event
    )
}

/// An estimate of a request's input tokens (`POST /v1/messages/count_tokens`): its text, tool
/// definitions and a few tokens per message, at about four characters a token.
pub fn count_input_tokens(chat: &ChatRequest) -> u64 {
    let mut total = 0;
    for m in &chat.messages {
        total += crate::providers::estimate_tokens(&m.text()) + 3;
        for call in m.tool_calls.iter().flatten() {
            total += crate::providers::estimate_tokens(&call.function.name)
                + crate::providers::estimate_tokens(&call.function.arguments);
        }
        if let Some(MessageContent::Parts(parts)) = &m.content {
            // An image costs about what a 512×512 tile does.
            total += 85
                * parts
                    .iter()
                    .filter(|p| matches!(p, ContentPart::ImageUrl { .. }))
                    .count() as u64;
        }
    }
    for t in chat.tools.iter().flatten() {
        total += crate::providers::estimate_tokens(&serde_json::to_string(t).unwrap_or_default());
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};

    #[test]
    fn a_messages_request_becomes_chat_with_tools_and_results() {
        let r = parse(json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image, and the weather?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
                ]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "…", "signature": "x"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
                    {"type": "text", "text": "Thanks"}
                ]}
            ],
            "tools": [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "stream": true
        }))
        .unwrap();
        let roles: Vec<&str> = r.chat.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(r.chat.messages[0].text(), "Be brief.");
        let MessageContent::Parts(parts) = r.chat.messages[1].content.as_ref().unwrap() else {
            panic!("text and image are parts")
        };
        assert!(
            matches!(&parts[1], ContentPart::ImageUrl { image_url } if image_url.url == "data:image/png;base64,AAAA")
        );
        let call = &r.chat.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.id.as_str(), call.function.arguments.as_str()),
            ("toolu_1", "{\"city\":\"Paris\"}")
        );
        assert_eq!(r.chat.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
        assert_eq!(r.chat.messages[3].text(), "sunny");
        assert_eq!(r.chat.tool_choice, Some(json!("required")));
        assert_eq!(r.chat.extra["parallel_tool_calls"], json!(false));
        assert_eq!(r.chat.stop, Some(Stop::Many(vec!["END".into()])));
        assert_eq!(r.chat.max_tokens, Some(100));
        assert_eq!(r.chat.user.as_deref(), Some("u1"));
        assert!(r.stream);
    }

    #[test]
    fn what_chat_cannot_carry_is_named() {
        let base = |extra: Value| {
            let mut b = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            parse(b).unwrap_err().0
        };
        assert!(base(json!({"mcp_servers": []})).contains("mcp_servers"));
        assert!(
            base(json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}))
                .contains("web_search_20250305")
        );
        assert!(
            base(json!({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]}))
                .contains("'search_result'")
        );
        assert!(
            parse(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
                .unwrap_err()
                .0
                .contains("max_tokens")
        );
    }

    fn text_chunk(t: &str) -> ChatChunk {
        ChatChunk::text("c", "m", 0, t)
    }

    fn finish(reason: &str, usage: Option<Usage>) -> ChatChunk {
        let mut c = ChatChunk::new("c", "m", 0);
        c.choices.push(ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: Some(reason.into()),
        });
        c.usage = usage;
        c
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap()).collect()
    }

    #[test]
    fn a_stream_with_text_then_a_tool_call_is_anthropics_event_sequence() {
        let (mut s, mut events) = MessageStream::start("msg_1", "m");
        events.extend(s.push(&text_chunk("Checking")));
        let mut call = ChatChunk::new("c", "m", 0);
        call.choices.push(ChunkChoice {
            index: 0,
            delta: Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_1".into()),
                    kind: Some("function".into()),
                    function: Some(FunctionCallDelta {
                        name: Some("weather".into()),
                        arguments: Some("{\"city\":".into()),
                    }),
                }]),
                ..Default::default()
            },
            finish_reason: None,
        });
        events.extend(s.push(&call));
        events.extend(s.push(&finish("tool_calls", Some(Usage::new(10, 4, 0)))));
        events.extend(s.finish());
        assert_eq!(
            types(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[5]["index"], 1);
        assert_eq!(events[5]["content_block"]["type"], "tool_use");
        assert_eq!(events[6]["delta"]["partial_json"], "{\"city\":");
        assert_eq!(events[8]["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[8]["usage"]["output_tokens"], 4);
        assert!(sse(&events[0]).starts_with("event: message_start\ndata: "));
    }

    #[test]
    fn a_stream_cut_midway_ends_with_an_error_event_not_message_stop() {
        let (mut s, mut events) = MessageStream::start("msg_1", "m");
        events.extend(s.push(&text_chunk("Half")));
        events.extend(s.fail(502, "the upstream stream was cut"));
        let t = types(&events);
        assert_eq!(t.last(), Some(&"error"));
        assert!(!t.contains(&"message_stop"));
        assert_eq!(events.last().unwrap()["error"]["type"], "api_error");
    }

    #[test]
    fn a_complete_answer_is_a_message() {
        let answer = ChatResponse {
            id: "c".into(),
            object: "chat.completion".into(),
            created: 0,
            model: "m".into(),
            choices: vec![crate::chat::Choice {
                index: 0,
                message: ChatMessage {
                    role: "assistant".into(),
                    content: Some(MessageContent::Text("Sure".into())),
                    tool_calls: Some(vec![ToolCall {
                        id: "call_1".into(),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: "weather".into(),
                            arguments: "{\"city\":\"Paris\"}".into(),
                        },
                    }]),
                    ..Default::default()
                },
                finish_reason: Some("tool_calls".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(12, 5, 2)),
            system_fingerprint: None,
        };
        let m = from_chat("msg_1", "claude", &answer);
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["content"][0]["text"], "Sure");
        assert_eq!(m["content"][1]["input"]["city"], "Paris");
        assert_eq!(m["usage"]["input_tokens"], 10);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 2);
    }
}
