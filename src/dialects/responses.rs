//! OpenAI's Responses API (`POST /v1/responses`) on the engine: its request (`input` as text or
//! items — messages, `function_call`, `function_call_output` — with `instructions`, function
//! `tools`, `tool_choice`, `text.format`, `max_output_tokens`…) becomes a chat request; a chat
//! answer becomes a Response object with its `output` items; a stream of chat chunks becomes
//! the Responses event sequence (`response.created` … `response.completed`, or
//! `response.failed` and `error` when it breaks). What the Responses API has and chat cannot
//! carry (file inputs, built-in tools, reasoning items) is refused by name.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Unsupported, as_text, unknown_fields};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ContentPart, FunctionCall, FunctionDef,
    ImageUrl, MessageContent, Tool, ToolCall, Usage,
};

/// Top-level fields understood (or knowingly ignored, like `include` and `truncation`).
const KNOWN: &[&str] = &[
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "metadata",
    "stream",
    "store",
    "previous_response_id",
    "prompt",
    "parallel_tool_calls",
    "user",
    "include",
    "truncation",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "reasoning",
    "stream_options",
    "top_logprobs",
];

/// A prompt of the library named in the request (`prompt: {id, version, variables}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSpec {
    pub id: String,
    /// A version number or a label.
    pub version: Option<String>,
    pub variables: Map<String, Value>,
}

/// A Responses request, checked.
#[derive(Debug, Clone)]
pub struct ResponsesRequest {
    /// The body as sent (echoed in the Response object).
    pub body: Map<String, Value>,
    pub model: Option<String>,
    pub stream: bool,
    pub store: bool,
    pub previous_response_id: Option<String>,
    pub prompt: Option<PromptSpec>,
    pub metadata: BTreeMap<String, String>,
    /// The new input items (a string input is one user message).
    pub input: Vec<Value>,
}

pub fn parse(body: Value) -> Result<ResponsesRequest, Unsupported> {
    let Value::Object(body) = body else {
        return Err(Unsupported("the body must be a JSON object".into()));
    };
    let unknown = unknown_fields(&body, KNOWN);
    if !unknown.is_empty() {
        return Err(Unsupported(format!(
            "the Responses API option(s) {} are not supported by Portolan",
            unknown.join(", ")
        )));
    }
    let input = match body.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            return Err(Unsupported(
                "`input` must be a string or a list of items".into(),
            ));
        }
    };
    let prompt = match body.get("prompt") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(PromptSpec {
            id: p
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| Unsupported("`prompt.id` is required".into()))?
                .to_owned(),
            version: p.get("version").filter(|v| !v.is_null()).map(as_text),
            variables: match p.get("variables") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(m)) => m.clone(),
                Some(_) => return Err(Unsupported("`prompt.variables` must be an object".into())),
            },
        }),
        Some(_) => {
            return Err(Unsupported(
                "`prompt` must be an object with an `id`".into(),
            ));
        }
    };
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), as_text(v))).collect(),
        Some(_) => {
            return Err(Unsupported(
                "`metadata` must be an object of strings".into(),
            ));
        }
    };
    if let Some(Value::Array(include)) = body.get("include")
        && !include.is_empty()
    {
        return Err(Unsupported(format!(
            "`include` ({}) is not supported by Portolan",
            include.iter().map(as_text).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(ResponsesRequest {
        model: body.get("model").and_then(Value::as_str).map(str::to_owned),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        store: body.get("store").and_then(Value::as_bool).unwrap_or(true),
        previous_response_id: body
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        prompt,
        metadata,
        input,
        body,
    })
}

/// Items as chat messages, in order.
pub fn items_to_messages(items: &[Value]) -> Result<Vec<ChatMessage>, Unsupported> {
    let mut out: Vec<ChatMessage> = Vec::new();
    for item in items {
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        match kind {
            "message" => out.push(message_item(item)?),
            "function_call" => {
                let call = ToolCall {
                    id: item
                        .get("call_id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            Unsupported("a function_call item needs its call_id".into())
                        })?
                        .to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: item.get("name").map(as_text).unwrap_or_default(),
                        arguments: item.get("arguments").map(as_text).unwrap_or_default(),
                    },
                };
                // Calls made in one turn belong to one assistant message.
                match out.last_mut() {
                    Some(last) if last.role == "assistant" && last.tool_calls.is_some() => {
                        last.tool_calls.get_or_insert_with(Vec::new).push(call)
                    }
                    Some(last)
                        if last.role == "assistant"
                            && last.tool_calls.is_none()
                            && matches!(&last.content, Some(MessageContent::Text(_)) | None) =>
                    {
                        last.tool_calls = Some(vec![call])
                    }
                    _ => out.push(ChatMessage {
                        role: "assistant".into(),
                        content: None,
                        tool_calls: Some(vec![call]),
                        ..Default::default()
                    }),
                }
            }
            "function_call_output" => out.push(ChatMessage {
                role: "tool".into(),
                tool_call_id: Some(
                    item.get("call_id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            Unsupported("a function_call_output item needs its call_id".into())
                        })?
                        .to_owned(),
                ),
                content: Some(MessageContent::Text(
                    item.get("output").map(as_text).unwrap_or_default(),
                )),
                ..Default::default()
            }),
            other => {
                return Err(Unsupported(format!(
                    "input items of type '{other}' are not supported by Portolan (messages, function_call and function_call_output are)"
                )));
            }
        }
    }
    Ok(out)
}

fn message_item(item: &Value) -> Result<ChatMessage, Unsupported> {
    let role = match item.get("role").and_then(Value::as_str).unwrap_or("user") {
        "developer" | "system" => "system",
        r @ ("user" | "assistant") => r,
        other => return Err(Unsupported(format!("unknown message role '{other}'"))),
    };
    let content = match item.get("content") {
        None | Some(Value::Null) => MessageContent::Text(String::new()),
        Some(Value::String(s)) => MessageContent::Text(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str).unwrap_or("") {
                    "input_text" | "output_text" | "text" => out.push(ContentPart::Text {
                        text: p.get("text").map(as_text).unwrap_or_default(),
                    }),
                    "input_image" => {
                        let url = p.get("image_url").and_then(Value::as_str).ok_or_else(|| {
                            Unsupported(
                                "input_image parts need an image_url (file_id is not supported)"
                                    .into(),
                            )
                        })?;
                        out.push(ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: url.to_owned(),
                                detail: p.get("detail").and_then(Value::as_str).map(str::to_owned),
                            },
                        })
                    }
                    "refusal" => out.push(ContentPart::Text {
                        text: p.get("refusal").map(as_text).unwrap_or_default(),
                    }),
                    other => {
                        return Err(Unsupported(format!(
                            "message parts of type '{other}' are not supported by Portolan"
                        )));
                    }
                }
            }
            // A single text part is plain text (what every provider takes).
            match out.as_slice() {
                [ContentPart::Text { text }] => MessageContent::Text(text.clone()),
                _ => MessageContent::Parts(out),
            }
        }
        Some(_) => return Err(Unsupported("message content must be text or parts".into())),
    };
    Ok(ChatMessage {
        role: role.into(),
        content: Some(content),
        ..Default::default()
    })
}

/// Function tools as chat tools (other tool types are refused by name).
fn tools(body: &Map<String, Value>) -> Result<Option<Vec<Tool>>, Unsupported> {
    let Some(Value::Array(list)) = body.get("tools") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for t in list {
        match t.get("type").and_then(Value::as_str).unwrap_or("function") {
            "function" => out.push(Tool {
                kind: "function".into(),
                function: FunctionDef {
                    name: t
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Unsupported("a function tool needs a name".into()))?
                        .to_owned(),
                    description: t
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    parameters: t.get("parameters").cloned(),
                },
            }),
            other => {
                return Err(Unsupported(format!(
                    "tools of type '{other}' are not supported by Portolan (function tools are)"
                )));
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn tool_choice(v: &Value) -> Result<Value, Unsupported> {
    match v {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(v.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Unsupported("tool_choice of type function needs a name".into()))?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        other => Err(Unsupported(format!(
            "tool_choice {other} is not supported by Portolan"
        ))),
    }
}

fn response_format(text: &Value) -> Result<Option<Value>, Unsupported> {
    let Some(format) = text.get("format") else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        None | Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for field in ["name", "schema", "strict", "description"] {
                if let Some(v) = format.get(field) {
                    schema.insert(field.into(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(Unsupported("text.format json_schema needs a schema".into()));
            }
            schema.entry("name").or_insert_with(|| json!("response"));
            Ok(Some(
                json!({"type": "json_schema", "json_schema": Value::Object(schema)}),
            ))
        }
        Some(other) => Err(Unsupported(format!(
            "text.format '{other}' is not supported by Portolan"
        ))),
    }
}

impl ResponsesRequest {
    /// The chat request to run: `lead` (a prompt's rendered messages, if any) first, then the
    /// instructions, the earlier turns (`previous` items, from `previous_response_id`) and the new
    /// input. `model` is the request's, else the prompt's.
    pub fn to_chat(
        &self,
        previous: &[Value],
        lead: Vec<ChatMessage>,
        model: Option<String>,
    ) -> Result<ChatRequest, Unsupported> {
        let body = &self.body;
        let mut messages = lead;
        if let Some(text) = body.get("instructions").and_then(Value::as_str) {
            messages.push(ChatMessage::new("system", text));
        }
        messages.extend(items_to_messages(previous)?);
        messages.extend(items_to_messages(&self.input)?);
        if messages.is_empty() {
            return Err(Unsupported(
                "there is nothing to answer: give `input` or a `prompt`".into(),
            ));
        }
        let mut request = ChatRequest {
            model: self.model.clone().or(model).unwrap_or_default(),
            messages,
            stream: Some(self.stream),
            temperature: body.get("temperature").and_then(Value::as_f64),
            top_p: body.get("top_p").and_then(Value::as_f64),
            max_tokens: body
                .get("max_output_tokens")
                .and_then(Value::as_u64)
                .map(|n| n.min(u32::MAX as u64) as u32),
            tools: tools(body)?,
            user: body.get("user").and_then(Value::as_str).map(str::to_owned),
            ..Default::default()
        };
        if self.stream {
            request.stream_options = Some(crate::chat::StreamOptions {
                include_usage: Some(true),
            });
        }
        if let Some(tc) = body.get("tool_choice").filter(|v| !v.is_null()) {
            request.tool_choice = Some(tool_choice(tc)?);
        }
        if let Some(text) = body.get("text") {
            request.response_format = response_format(text)?;
        }
        if let Some(p) = body.get("parallel_tool_calls").filter(|v| v.is_boolean())
            && request.tools.is_some()
        {
            request
                .extra
                .insert("parallel_tool_calls".into(), p.clone());
        }
        if let Some(effort) = body
            .get("reasoning")
            .and_then(|r| r.get("effort"))
            .filter(|v| !v.is_null())
        {
            request
                .extra
                .insert("reasoning_effort".into(), effort.clone());
        }
        Ok(request)
    }
}

/// What a Response object says besides its output.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub id: String,
    pub created_at: i64,
    pub model: String,
    /// The request as sent, whose settings the Response echoes.
    pub request: Map<String, Value>,
}

pub fn new_response_id() -> String {
    crate::ids::new_sortable_id("resp")
}

fn usage_object(u: Option<Usage>) -> Value {
    match u {
        None => Value::Null,
        Some(u) => json!({
            "input_tokens": u.prompt_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_tokens()},
            "output_tokens": u.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.total_tokens,
        }),
    }
}

/// A Response object.
pub fn response_object(
    meta: &ResponseMeta,
    status: &str,
    output: Vec<Value>,
    usage: Option<Usage>,
    error: Option<Value>,
    incomplete: Option<&str>,
) -> Value {
    let r = &meta.request;
    let get = |k: &str, default: Value| r.get(k).cloned().unwrap_or(default);
    json!({
        "id": meta.id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
        "instructions": get("instructions", Value::Null),
        "max_output_tokens": get("max_output_tokens", Value::Null),
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": get("parallel_tool_calls", json!(true)),
        "previous_response_id": get("previous_response_id", Value::Null),
        "reasoning": {"effort": Value::Null, "summary": Value::Null},
        "store": get("store", json!(true)),
        "temperature": get("temperature", json!(1.0)),
        "text": get("text", json!({"format": {"type": "text"}})),
        "tool_choice": get("tool_choice", json!("auto")),
        "tools": get("tools", json!([])),
        "top_p": get("top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": usage_object(usage),
        "user": get("user", Value::Null),
        "metadata": get("metadata", json!({})),
    })
}

fn message_output(id: &str, text: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    })
}

fn call_output(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call.id,
        "name": call.function.name,
        "arguments": call.function.arguments,
    })
}

/// The output items of a chat answer (its first choice): the text, then each tool call.
pub fn output_items(answer: &ChatResponse) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(choice) = answer.choices.first() else {
        return out;
    };
    let text = choice.message.text();
    if !text.is_empty() || choice.message.tool_calls.is_none() {
        out.push(message_output(
            &crate::ids::new_id("msg"),
            &text,
            "completed",
        ));
    }
    for call in choice.message.tool_calls.iter().flatten() {
        out.push(call_output(&crate::ids::new_id("fc"), call, "completed"));
    }
    out
}

/// The status of a finished answer: `incomplete` when it stopped at the token limit.
pub fn status_of(finish_reason: Option<&str>) -> (&'static str, Option<&'static str>) {
    match finish_reason {
        Some("length") => ("incomplete", Some("max_output_tokens")),
        Some("content_filter") => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    }
}

/// The Response for a complete chat answer.
pub fn from_chat(meta: &ResponseMeta, answer: &ChatResponse) -> Value {
    let (status, incomplete) = status_of(
        answer
            .choices
            .first()
            .and_then(|c| c.finish_reason.as_deref()),
    );
    response_object(
        meta,
        status,
        output_items(answer),
        answer.usage,
        None,
        incomplete,
    )
}

/// Turns a stream of chat chunks into the Responses event sequence. Feed it every chunk, then
/// [`ResponseStream::finish`] (the stream ended well) or [`ResponseStream::fail`].
pub struct ResponseStream {
    meta: ResponseMeta,
    sequence: u64,
    /// Output items finished so far.
    done: Vec<Value>,
    /// The text item being streamed: its id, output index and text so far.
    text: Option<(String, usize, String)>,
    /// Tool calls being streamed, by the chunk's tool-call index: item id, output index, call.
    calls: Vec<(u32, String, usize, ToolCall)>,
    next_index: usize,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl ResponseStream {
    /// The stream and its opening events (`response.created`, `response.in_progress`).
    pub fn start(meta: ResponseMeta) -> (ResponseStream, Vec<Value>) {
        let mut s = ResponseStream {
            meta,
            sequence: 0,
            done: Vec::new(),
            text: None,
            calls: Vec::new(),
            next_index: 0,
            finish_reason: None,
            usage: None,
        };
        let snapshot = s.snapshot("in_progress", None, None);
        let events = vec![
            s.event("response.created", json!({"response": snapshot.clone()})),
            s.event("response.in_progress", json!({"response": snapshot})),
        ];
        (s, events)
    }

    fn event(&mut self, kind: &str, mut fields: Value) -> Value {
        fields["type"] = json!(kind);
        fields["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        fields
    }

    fn snapshot(&self, status: &str, error: Option<Value>, incomplete: Option<&str>) -> Value {
        response_object(
            &self.meta,
            status,
            self.done.clone(),
            self.usage,
            error,
            incomplete,
        )
    }

    fn close_text(&mut self, out: &mut Vec<Value>) {
        let Some((id, index, text)) = self.text.take() else {
            return;
        };
        let part = json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        out.push(self.event(
            "response.output_text.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
        ));
        out.push(self.event(
            "response.content_part.done",
            json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
        ));
        let item = message_output(&id, &text, "completed");
        out.push(self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item.clone()}),
        ));
        self.done.push(item);
    }

    fn close_calls(&mut self, out: &mut Vec<Value>) {
        for (_, id, index, call) in std::mem::take(&mut self.calls) {
            out.push(self.event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "arguments": call.function.arguments}),
            ));
            let item = call_output(&id, &call, "completed");
            out.push(self.event(
                "response.output_item.done",
                json!({"output_index": index, "item": item.clone()}),
            ));
            self.done.push(item);
        }
    }

    /// The events one chat chunk amounts to.
    pub fn push(&mut self, chunk: &ChatChunk) -> Vec<Value> {
        let mut out = Vec::new();
        if let Some(u) = chunk.usage {
            self.usage = Some(u);
        }
        for c in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = c.delta.content.as_deref().filter(|t| !t.is_empty()) {
                if self.text.is_none() {
                    let id = crate::ids::new_id("msg");
                    let index = self.next_index;
                    self.next_index += 1;
                    out.push(self.event(
                        "response.output_item.added",
                        json!({"output_index": index, "item": {"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
                    ));
                    out.push(self.event(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
                    ));
                    self.text = Some((id, index, String::new()));
                }
                let (id, index) = {
                    let t = self.text.as_mut().expect("opened above");
                    t.2.push_str(text);
                    (t.0.clone(), t.1)
                };
                out.push(self.event(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "delta": text, "logprobs": []}),
                ));
            }
            for tc in c.delta.tool_calls.iter().flatten() {
                if !self.calls.iter().any(|(i, ..)| *i == tc.index) {
                    // A call starts: the text before it is finished.
                    self.close_text(&mut out);
                    let id = crate::ids::new_id("fc");
                    let index = self.next_index;
                    self.next_index += 1;
                    let call = ToolCall {
                        id: tc.id.clone().unwrap_or_else(|| crate::ids::new_id("call")),
                        kind: "function".into(),
                        function: FunctionCall {
                            name: tc
                                .function
                                .as_ref()
                                .and_then(|f| f.name.clone())
                                .unwrap_or_default(),
                            arguments: String::new(),
                        },
                    };
                    out.push(self.event(
                        "response.output_item.added",
                        json!({"output_index": index, "item": call_output(&id, &call, "in_progress")}),
                    ));
                    self.calls.push((tc.index, id, index, call));
                }
                let Some(args) = tc.function.as_ref().and_then(|f| f.arguments.clone()) else {
                    continue;
                };
                if args.is_empty() {
                    continue;
                }
                let slot = self
                    .calls
                    .iter_mut()
                    .find(|(i, ..)| *i == tc.index)
                    .expect("added above");
                slot.3.function.arguments.push_str(&args);
                let (id, index) = (slot.1.clone(), slot.2);
                out.push(self.event(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": args}),
                ));
            }
            if let Some(f) = &c.finish_reason {
                self.finish_reason = Some(f.clone());
            }
        }
        out
    }

    /// The closing events of a stream that ended well, and the final Response.
    pub fn finish(&mut self) -> (Vec<Value>, Value) {
        let mut out = Vec::new();
        self.close_text(&mut out);
        self.close_calls(&mut out);
        let (status, incomplete) = status_of(self.finish_reason.as_deref());
        let response = self.snapshot(status, None, incomplete);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        out.push(self.event(kind, json!({"response": response.clone()})));
        (out, response)
    }

    /// The closing events of a stream that broke: `response.failed`, then `error`.
    pub fn fail(&mut self, code: &str, message: &str) -> Vec<Value> {
        let error = json!({"code": code, "message": message});
        let response = self.snapshot("failed", Some(error), None);
        vec![
            self.event("response.failed", json!({"response": response})),
            self.event(
                "error",
                json!({"code": code, "message": message, "param": Value::Null}),
            ),
        ]
    }
}

/// One event as server-sent event text.
pub fn sse(event: &Value) -> String {
    format!(
        "event: {}\ndata: {}\n\n",
        event["type"].as_str().unwrap_or("message"),
        event
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};

    fn meta() -> ResponseMeta {
        ResponseMeta {
            id: "resp_1".into(),
            created_at: 1,
            model: "m".into(),
            request: Map::new(),
        }
    }

    #[test]
    fn items_become_chat_messages_with_calls_and_outputs() {
        let req = parse(json!({
            "model": "gpt-4o-mini",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {"type": "function_call_output", "call_id": "c2", "output": "rain"}
            ],
            "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "weather"},
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
            "max_output_tokens": 50
        }))
        .unwrap();
        let chat = req.to_chat(&[], Vec::new(), None).unwrap();
        let roles: Vec<&str> = chat.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "tool"]);
        assert_eq!(chat.messages[2].tool_calls.as_ref().unwrap().len(), 2);
        assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("c1"));
        assert_eq!(chat.tools.as_ref().unwrap()[0].function.name, "weather");
        assert_eq!(
            chat.tool_choice.as_ref().unwrap()["function"]["name"],
            "weather"
        );
        assert_eq!(
            chat.response_format.as_ref().unwrap()["json_schema"]["name"],
            "w"
        );
        assert_eq!(chat.max_tokens, Some(50));
    }

    #[test]
    fn unsupported_options_and_items_are_named() {
        let e = parse(json!({"model": "m", "input": "x", "background": true})).unwrap_err();
        assert!(e.0.contains("background"), "{e}");
        let req =
            parse(json!({"model": "m", "input": [{"type": "reasoning", "summary": []}]})).unwrap();
        assert!(
            req.to_chat(&[], Vec::new(), None)
                .unwrap_err()
                .0
                .contains("'reasoning'")
        );
        let req =
            parse(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]})).unwrap();
        assert!(
            req.to_chat(&[], Vec::new(), None)
                .unwrap_err()
                .0
                .contains("web_search")
        );
    }

    fn text_chunk(t: &str) -> ChatChunk {
        ChatChunk::text("c", "m", 0, t)
    }

    fn finish_chunk(reason: &str) -> ChatChunk {
        let mut c = ChatChunk::new("c", "m", 0);
        c.choices.push(ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: Some(reason.into()),
        });
        c
    }

    fn types(events: &[Value]) -> Vec<String> {
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_text_stream_is_the_responses_event_sequence() {
        let (mut s, mut events) = ResponseStream::start(meta());
        events.extend(s.push(&text_chunk("Hello")));
        events.extend(s.push(&text_chunk(" world")));
        events.extend(s.push(&finish_chunk("stop")));
        let (end, response) = s.finish();
        events.extend(end);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let seq: Vec<u64> = events
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seq, (0..events.len() as u64).collect::<Vec<_>>());
        assert_eq!(response["output"][0]["content"][0]["text"], "Hello world");
        assert_eq!(response["status"], "completed");
    }

    #[test]
    fn a_tool_call_streams_its_arguments() {
        let (mut s, _) = ResponseStream::start(meta());
        let mut call = ChatChunk::new("c", "m", 0);
        call.choices.push(ChunkChoice {
            index: 0,
            delta: Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_9".into()),
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
        let mut more = call.clone();
        more.choices[0].delta.tool_calls.as_mut().unwrap()[0].id = None;
        more.choices[0].delta.tool_calls.as_mut().unwrap()[0].function = Some(FunctionCallDelta {
            name: None,
            arguments: Some("\"Paris\"}".into()),
        });
        let mut events = s.push(&call);
        events.extend(s.push(&more));
        events.extend(s.push(&finish_chunk("tool_calls")));
        let (end, response) = s.finish();
        events.extend(end);
        assert_eq!(
            types(&events),
            [
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let item = &response["output"][0];
        assert_eq!(
            (item["call_id"].as_str(), item["arguments"].as_str()),
            (Some("call_9"), Some("{\"city\":\"Paris\"}"))
        );
    }

    #[test]
    fn a_stream_cut_midway_fails_and_never_completes() {
        let (mut s, _) = ResponseStream::start(meta());
        let mut events = s.push(&text_chunk("Half an ans"));
        events.extend(s.fail(
            "stream_failed",
            "openai stream ended before it was complete",
        ));
        let t = types(&events);
        assert_eq!(&t[t.len() - 2..], ["response.failed", "error"]);
        assert!(!t.iter().any(|t| t == "response.completed"));
        assert_eq!(events[events.len() - 2]["response"]["status"], "failed");
        assert!(sse(&events[0]).starts_with("event: response.output_item.added\ndata: {"));
    }

    #[test]
    fn a_complete_answer_becomes_a_response_with_usage() {
        let answer = ChatResponse {
            id: "c".into(),
            object: "chat.completion".into(),
            created: 0,
            model: "m".into(),
            choices: vec![crate::chat::Choice {
                index: 0,
                message: ChatMessage::new("assistant", "cut"),
                finish_reason: Some("length".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(7, 3, 2)),
            system_fingerprint: None,
        };
        let r = from_chat(&meta(), &answer);
        assert_eq!(r["status"], "incomplete");
        assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(r["usage"]["input_tokens"], 7);
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
        assert_eq!(r["output"][0]["content"][0]["text"], "cut");
    }
}
