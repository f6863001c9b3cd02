//! The one request and response shape every caller and provider meets in the middle: OpenAI's
//! Chat Completions. Fields the engine reads are typed; anything else a client sends is kept in
//! `extra` and passed through to OpenAI-compatible upstreams untouched.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat completion request in OpenAI's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    /// Every other field, forwarded as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The completion-token limit, whichever field the caller used.
    /// The non-empty stop sequences, as providers that take a list want them.
    pub fn stop_sequences(&self) -> Vec<String> {
        self.stop
            .as_ref()
            .map(|s| s.to_vec().into_iter().filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn max_output_tokens(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Applies parameters from a JSON object (a prompt's saved params, a target's
    /// `override_params`): known fields set the typed field, the rest go to `extra`.
    pub fn apply_params(&mut self, params: &Map<String, Value>) -> Result<(), serde_json::Error> {
        if params.is_empty() {
            return Ok(());
        }
        let mut value = serde_json::to_value(&*self)?;
        if let Value::Object(map) = &mut value {
            for (k, v) in params {
                map.insert(k.clone(), v.clone());
            }
        }
        *self = serde_json::from_value(value)?;
        Ok(())
    }

    /// The text of the last user message, for semantic caching and the demo provider.
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.text())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

/// One message: `system`, `developer`, `user`, `assistant` or `tool`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    pub fn new(role: &str, text: impl Into<String>) -> Self {
        ChatMessage {
            role: role.to_owned(),
            content: Some(MessageContent::Text(text.into())),
            ..Default::default()
        }
    }

    /// The message's text parts joined (images and other parts left out).
    pub fn text(&self) -> String {
        match &self.content {
            None => String::new(),
            Some(MessageContent::Text(t)) => t.clone(),
            Some(MessageContent::Parts(parts)) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    #[serde(untagged)]
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDef,
}

fn function_type() -> String {
    "function".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    pub arguments: String,
}

/// Token counts, OpenAI's way: cached prompt tokens are part of `prompt_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

impl Usage {
    pub fn new(prompt: u64, completion: u64, cached: u64) -> Self {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            prompt_tokens_details: (cached > 0).then_some(PromptTokensDetails {
                cached_tokens: cached,
            }),
        }
    }
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.map_or(0, |d| d.cached_tokens)
    }
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn completion_object() -> String {
    "chat.completion".into()
}

impl ChatResponse {
    /// The first choice's text.
    pub fn text(&self) -> String {
        self.choices
            .first()
            .map(|c| c.message.text())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
}

/// One streamed chunk (`chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    #[serde(default)]
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl ChatChunk {
    pub fn new(id: &str, model: &str, created: i64) -> Self {
        ChatChunk {
            id: id.to_owned(),
            object: chunk_object(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: None,
        }
    }

    /// A chunk with one delta (and maybe the finish reason) for choice 0.
    pub fn with_delta(
        id: &str,
        model: &str,
        created: i64,
        delta: Delta,
        finish_reason: Option<&str>,
    ) -> Self {
        let mut chunk = ChatChunk::new(id, model, created);
        chunk.choices.push(ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish_reason.map(str::to_owned),
        });
        chunk
    }

    /// A chunk carrying one piece of text for choice 0.
    pub fn text(id: &str, model: &str, created: i64, text: &str) -> Self {
        let mut c = ChatChunk::new(id, model, created);
        c.choices.push(ChunkChoice {
            index: 0,
            delta: Delta {
                content: Some(text.to_owned()),
                ..Default::default()
            },
            finish_reason: None,
        });
        c
    }
}

/// Folds streamed chunks into the complete response they amount to (for logs, caching, and
/// callers that asked for no stream while the engine streamed).
#[derive(Debug, Default)]
pub struct ChunkAccumulator {
    id: String,
    model: String,
    created: i64,
    choices: Vec<(String, String, Option<String>, Vec<ToolCall>)>,
    usage: Option<Usage>,
}

impl ChunkAccumulator {
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_empty() {
            self.id = chunk.id.clone();
            self.model = chunk.model.clone();
            self.created = chunk.created;
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
        for c in &chunk.choices {
            let i = c.index as usize;
            while self.choices.len() <= i {
                self.choices
                    .push(("assistant".into(), String::new(), None, Vec::new()));
            }
            let slot = &mut self.choices[i];
            if let Some(r) = &c.delta.role {
                slot.0 = r.clone();
            }
            if let Some(t) = &c.delta.content {
                slot.1.push_str(t);
            }
            if let Some(f) = &c.finish_reason {
                slot.2 = Some(f.clone());
            }
            for tc in c.delta.tool_calls.iter().flatten() {
                let j = tc.index as usize;
                while slot.3.len() <= j {
                    slot.3.push(ToolCall {
                        id: String::new(),
                        kind: function_type(),
                        function: FunctionCall {
                            name: String::new(),
                            arguments: String::new(),
                        },
                    });
                }
                let call = &mut slot.3[j];
                if let Some(id) = &tc.id {
                    call.id = id.clone();
                }
                if let Some(f) = &tc.function {
                    if let Some(n) = &f.name {
                        call.function.name.push_str(n);
                    }
                    if let Some(a) = &f.arguments {
                        call.function.arguments.push_str(a);
                    }
                }
            }
        }
    }

    /// Whether any choice has finished.
    pub fn finished(&self) -> bool {
        self.choices.iter().any(|c| c.2.is_some())
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub fn text_len(&self) -> usize {
        self.choices.iter().map(|c| c.1.len()).sum()
    }

    pub fn finish(self) -> ChatResponse {
        ChatResponse {
            id: self.id,
            object: completion_object(),
            created: self.created,
            model: self.model,
            choices: self
                .choices
                .into_iter()
                .enumerate()
                .map(|(i, (role, text, finish, calls))| Choice {
                    index: i as u32,
                    message: ChatMessage {
                        role,
                        content: Some(MessageContent::Text(text)),
                        tool_calls: (!calls.is_empty()).then_some(calls),
                        ..Default::default()
                    },
                    finish_reason: finish,
                    logprobs: None,
                })
                .collect(),
            usage: self.usage,
            system_fingerprint: None,
        }
    }
}

/// Splits a complete response into stream chunks (cache hits replayed as a stream).
pub fn response_to_chunks(resp: &ChatResponse, include_usage: bool) -> Vec<ChatChunk> {
    let mut out = Vec::new();
    let mut first = ChatChunk::new(&resp.id, &resp.model, resp.created);
    first.choices = resp
        .choices
        .iter()
        .map(|c| ChunkChoice {
            index: c.index,
            delta: Delta {
                role: Some(c.message.role.clone()),
                content: Some(String::new()),
                tool_calls: None,
            },
            finish_reason: None,
        })
        .collect();
    out.push(first);
    for c in &resp.choices {
        let text = c.message.text();
        // Words keep their trailing whitespace so the pieces join back to the exact text.
        for piece in text.split_inclusive(' ') {
            let mut chunk = ChatChunk::text(&resp.id, &resp.model, resp.created, piece);
            chunk.choices[0].index = c.index;
            out.push(chunk);
        }
        if let Some(calls) = &c.message.tool_calls {
            let mut chunk = ChatChunk::new(&resp.id, &resp.model, resp.created);
            chunk.choices.push(ChunkChoice {
                index: c.index,
                delta: Delta {
                    tool_calls: Some(
                        calls
                            .iter()
                            .enumerate()
                            .map(|(i, tc)| ToolCallDelta {
                                index: i as u32,
                                id: Some(tc.id.clone()),
                                kind: Some(tc.kind.clone()),
                                function: Some(FunctionCallDelta {
                                    name: Some(tc.function.name.clone()),
                                    arguments: Some(tc.function.arguments.clone()),
                                }),
                            })
                            .collect(),
                    ),
                    ..Default::default()
                },
                finish_reason: None,
            });
            out.push(chunk);
        }
        let mut last = ChatChunk::new(&resp.id, &resp.model, resp.created);
        last.choices.push(ChunkChoice {
            index: c.index,
            delta: Delta::default(),
            finish_reason: Some(c.finish_reason.clone().unwrap_or_else(|| "stop".into())),
        });
        out.push(last);
    }
    if include_usage && let Some(u) = resp.usage {
        let mut chunk = ChatChunk::new(&resp.id, &resp.model, resp.created);
        chunk.usage = Some(u);
        out.push(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_pass_through() {
        let req: ChatRequest = serde_json::from_value(json!({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
            "logit_bias": {"1": 2}, "temperature": 0.5
        }))
        .unwrap();
        assert_eq!(req.extra["logit_bias"], json!({"1": 2}));
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["logit_bias"], json!({"1": 2}));
        assert_eq!(back["temperature"], json!(0.5));
    }

    #[test]
    fn content_parts_and_params() {
        let mut req: ChatRequest = serde_json::from_value(json!({
            "model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                {"type": "input_audio", "input_audio": {"data": "x"}}
            ]}]
        }))
        .unwrap();
        assert_eq!(req.messages[0].text(), "look");
        req.apply_params(
            json!({"max_tokens": 5, "custom": true})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(req.max_tokens, Some(5));
        assert_eq!(req.extra["custom"], json!(true));
    }

    #[test]
    fn chunks_round_trip_through_the_accumulator() {
        let resp = ChatResponse {
            id: "c1".into(),
            object: "chat.completion".into(),
            created: 1,
            model: "m".into(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::new("assistant", "Hello there, world"),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(5, 3, 0)),
            system_fingerprint: None,
        };
        let chunks = response_to_chunks(&resp, true);
        let mut acc = ChunkAccumulator::default();
        for c in &chunks {
            acc.push(c);
        }
        assert!(acc.finished());
        assert_eq!(acc.finish(), resp);
    }
}
