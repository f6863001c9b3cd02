//! The built-in `demo` provider: answers locally, deterministically, with no key and no network,
//! so a newcomer can try prompts, comparisons, logs and costs at once. Every answer says it is a
//! demo. Models: `demo/small`, `demo/large` (slower, longer answers) and `demo/fast` (no
//! simulated latency); any other `demo/<name>` behaves like `demo/small`.
//!
//! Tool use is simulated too, so tool-using prompts can be tried offline: given tools (and no
//! `tool_choice: none`), a demo model's first answer calls the forced tool or the first one,
//! with arguments made from the tool's schema and words of the request (`demo/large` fills every
//! property, the others only the required ones); once the conversation holds tool results, it
//! answers in text about them. With `response_format` `json_schema` the answer is a JSON value
//! of the schema's shape.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use serde_json::{Map, Value, json};

use super::{ChunkStream, Endpoint, ProviderError, estimate_tokens, new_completion_id, unix_now};
use crate::chat::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, Choice, ChunkChoice, Delta, FunctionCall,
    FunctionCallDelta, ToolCall, ToolCallDelta, Usage,
};

struct Profile {
    first_token: Duration,
    per_token: Duration,
    sentences: usize,
}

fn profile(model: &str) -> Profile {
    match model.trim_start_matches("demo/") {
        "large" => Profile {
            first_token: Duration::from_millis(180),
            per_token: Duration::from_millis(9),
            sentences: 4,
        },
        "fast" => Profile {
            first_token: Duration::ZERO,
            per_token: Duration::ZERO,
            sentences: 1,
        },
        _ => Profile {
            first_token: Duration::from_millis(60),
            per_token: Duration::from_millis(4),
            sentences: 2,
        },
    }
}

/// FNV-1a, so the same request always gets the same answer.
fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

const OPENERS: &[&str] = &[
    "Here is a demo answer",
    "A simulated reply",
    "This is the demo provider speaking",
    "Demo response",
];
const FILLERS: &[&str] = &[
    "A real model would reason about the request in detail",
    "Configure a virtual key to get real answers",
    "Latency, tokens and cost are simulated but computed the same way as for real calls",
    "The answer is deterministic, so runs can be compared",
    "Swap the model for a real one when you are ready",
];

/// The tool call a demo model makes for `request`, if it makes one.
pub fn tool_call(model: &str, request: &ChatRequest) -> Option<ToolCall> {
    let tools = request.tools.as_ref().filter(|t| !t.is_empty())?;
    if request.messages.last().is_some_and(|m| m.role == "tool") {
        return None;
    }
    let forced = request
        .tool_choice
        .as_ref()
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str);
    if request.tool_choice.as_ref().and_then(Value::as_str) == Some("none") {
        return None;
    }
    let tool = forced
        .and_then(|f| tools.iter().find(|t| t.function.name == f))
        .unwrap_or(&tools[0]);
    let prompt = request.last_user_text().unwrap_or_default();
    let words = content_words(&prompt);
    let all = model.trim_start_matches("demo/") == "large";
    let args = tool
        .function
        .parameters
        .as_ref()
        .map(|s| example(s, &words, all, 0))
        .unwrap_or_else(|| json!({}));
    let seq = request.messages.iter().filter(|m| m.role == "tool").count();
    Some(ToolCall {
        id: format!("call_demo{:04x}{seq}", hash(&prompt) & 0xffff),
        kind: "function".into(),
        function: FunctionCall {
            name: tool.function.name.clone(),
            arguments: args.to_string(),
        },
    })
}

/// Words of a request worth using as argument values: capitalised ones first (names, places).
fn content_words(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| w.len() > 2)
        .map(str::to_owned)
        .collect();
    let mut out: Vec<String> = words
        .iter()
        .skip(1)
        .filter(|w| w.chars().next().is_some_and(char::is_uppercase))
        .cloned()
        .collect();
    out.extend(words.into_iter().rev());
    out
}

/// A value of `schema`'s shape, strings taken from `words`; `all` fills optional properties.
fn example(schema: &Value, words: &[String], all: bool, depth: usize) -> Value {
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && let Some(first) = options.first()
    {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" if depth < 4 => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (i, (name, prop)) in props.iter().enumerate() {
                    if all || required.contains(&name.as_str()) || required.is_empty() && i == 0 {
                        let w = &words[i.min(words.len().saturating_sub(1))..];
                        out.insert(name.clone(), example(prop, w, all, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        "array" if depth < 4 => match schema.get("items") {
            Some(items) => json!([example(items, words, all, depth + 1)]),
            None => json!([]),
        },
        "integer" => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.5)),
        "boolean" => json!(true),
        "null" => Value::Null,
        "object" => json!({}),
        "array" => json!([]),
        _ => json!(words.first().cloned().unwrap_or_else(|| "demo".into())),
    }
}

/// The deterministic answer text for a request.
pub fn answer(model: &str, request: &ChatRequest) -> String {
    let prompt = request.last_user_text().unwrap_or_default();
    if let Some(schema) = request
        .response_format
        .as_ref()
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
        .and_then(|f| f.pointer("/json_schema/schema"))
    {
        let all = model.trim_start_matches("demo/") == "large";
        return example(schema, &content_words(&prompt), all, 0).to_string();
    }
    if let Some(result) = request.messages.last().filter(|m| m.role == "tool") {
        let name = request
            .messages
            .iter()
            .rev()
            .filter_map(|m| m.tool_calls.as_ref())
            .flatten()
            .find(|c| Some(&c.id) == result.tool_call_id.as_ref())
            .map_or("the tool", |c| c.function.name.as_str());
        let text: String = result.text().chars().take(120).collect();
        return format!(
            "[demo:{}] Going by {name}, which returned {text}, here is the answer to \"{}\".",
            model.trim_start_matches("demo/"),
            prompt
                .split_whitespace()
                .take(12)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let words: Vec<&str> = prompt.split_whitespace().take(12).collect();
    let h = hash(&format!("{model}\u{0}{prompt}"));
    let p = profile(model);
    let mut out = format!(
        "[demo:{}] {} about \"{}{}\".",
        model.trim_start_matches("demo/"),
        OPENERS[(h % OPENERS.len() as u64) as usize],
        words.join(" "),
        if prompt.split_whitespace().count() > 12 {
            " …"
        } else {
            ""
        }
    );
    for i in 0..p.sentences.saturating_sub(1) {
        out.push(' ');
        out.push_str(FILLERS[((h >> (8 * (i + 1))) % FILLERS.len() as u64) as usize]);
        out.push('.');
    }
    if let Some(max) = request.max_output_tokens() {
        let mut taken = String::new();
        for w in out.split_inclusive(' ') {
            if estimate_tokens(&(taken.clone() + w)) > max as u64 {
                break;
            }
            taken.push_str(w);
        }
        out = taken.trim_end().to_owned();
    }
    out
}

fn usage(request: &ChatRequest, text: &str) -> Usage {
    super::openai::estimated_usage(request, text)
}

fn check(endpoint: &Endpoint) -> Result<(), ProviderError> {
    if endpoint.model.is_empty() {
        return Err(ProviderError::config("name a demo model, e.g. demo/small"));
    }
    Ok(())
}

pub async fn complete(
    endpoint: &Endpoint,
    request: &ChatRequest,
) -> Result<ChatResponse, ProviderError> {
    check(endpoint)?;
    let model = format!("demo/{}", endpoint.model.trim_start_matches("demo/"));
    let call = tool_call(&model, request);
    let text = match &call {
        Some(c) => c.function.arguments.clone(),
        None => answer(&model, request),
    };
    let usage = usage(request, &text);
    let p = profile(&model);
    tokio::time::sleep(p.first_token + p.per_token * usage.completion_tokens as u32).await;
    let (message, finish) = match call {
        Some(c) => (
            ChatMessage {
                role: "assistant".into(),
                tool_calls: Some(vec![c]),
                ..Default::default()
            },
            "tool_calls",
        ),
        None => (ChatMessage::new("assistant", text), "stop"),
    };
    Ok(ChatResponse {
        id: new_completion_id(),
        object: "chat.completion".into(),
        created: unix_now(),
        model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish.into()),
            logprobs: None,
        }],
        usage: Some(usage),
        system_fingerprint: Some("portolan-demo".into()),
    })
}

pub async fn stream(
    endpoint: &Endpoint,
    request: &ChatRequest,
) -> Result<ChunkStream, ProviderError> {
    check(endpoint)?;
    let model = format!("demo/{}", endpoint.model.trim_start_matches("demo/"));
    let call = tool_call(&model, request);
    let text = match &call {
        Some(c) => c.function.arguments.clone(),
        None => answer(&model, request),
    };
    let usage = usage(request, &text);
    let p = profile(&model);
    let id = new_completion_id();
    let created = unix_now();
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        tokio::time::sleep(p.first_token).await;
        let mut first = ChatChunk::new(&id, &model, created);
        first.choices.push(ChunkChoice {
            index: 0,
            delta: Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                tool_calls: None,
            },
            finish_reason: None,
        });
        if tx.send(Ok(first)).await.is_err() {
            return;
        }
        if let Some(c) = call {
            tokio::time::sleep(p.per_token * usage.completion_tokens as u32).await;
            let mut chunk = ChatChunk::new(&id, &model, created);
            chunk.choices.push(ChunkChoice {
                index: 0,
                delta: Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: 0,
                        id: Some(c.id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(c.function.name),
                            arguments: Some(c.function.arguments),
                        }),
                    }]),
                    ..Default::default()
                },
                finish_reason: Some("tool_calls".into()),
            });
            let _ = tx.send(Ok(chunk)).await;
            let mut u = ChatChunk::new(&id, &model, created);
            u.usage = Some(usage);
            let _ = tx.send(Ok(u)).await;
            return;
        }
        for piece in text.split_inclusive(' ') {
            if !p.per_token.is_zero() {
                tokio::time::sleep(p.per_token * estimate_tokens(piece) as u32).await;
            }
            if tx
                .send(Ok(ChatChunk::text(&id, &model, created, piece)))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut last = ChatChunk::new(&id, &model, created);
        last.choices.push(ChunkChoice {
            index: 0,
            delta: Delta::default(),
            finish_reason: Some("stop".into()),
        });
        let _ = tx.send(Ok(last)).await;
        let mut u = ChatChunk::new(&id, &model, created);
        u.usage = Some(usage);
        let _ = tx.send(Ok(u)).await;
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> ChatRequest {
        ChatRequest {
            model: "demo/fast".into(),
            messages: vec![ChatMessage::new("user", text)],
            ..Default::default()
        }
    }

    #[test]
    fn answers_are_deterministic_labelled_and_differ_by_model() {
        let r = req("Summarise the meeting notes about the Q3 launch");
        assert_eq!(answer("demo/small", &r), answer("demo/small", &r));
        assert!(answer("demo/small", &r).starts_with("[demo:small]"));
        assert_ne!(answer("demo/small", &r), answer("demo/large", &r));
        assert!(answer("demo/large", &r).len() > answer("demo/fast", &r).len());
    }

    #[test]
    fn max_tokens_caps_the_answer() {
        let mut r = req("hello there");
        r.max_tokens = Some(5);
        assert!(estimate_tokens(&answer("demo/large", &r)) <= 5);
    }

    #[test]
    fn tools_are_called_then_results_answered_and_schemas_followed() {
        let mut r = req("What is the weather in Oslo today?");
        r.tools = Some(vec![crate::chat::Tool {
            kind: "function".into(),
            function: crate::chat::FunctionDef {
                name: "get_weather".into(),
                description: None,
                parameters: Some(json!({"type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"]})),
            },
        }]);
        let small = tool_call("demo/small", &r).unwrap();
        assert_eq!(small.function.name, "get_weather");
        assert_eq!(small.function.arguments, r#"{"city":"Oslo"}"#);
        let large = tool_call("demo/large", &r).unwrap();
        assert_eq!(large.function.arguments, r#"{"city":"Oslo","days":1}"#);
        r.messages.push(ChatMessage {
            role: "assistant".into(),
            tool_calls: Some(vec![small.clone()]),
            ..Default::default()
        });
        r.messages.push(ChatMessage {
            tool_call_id: Some(small.id.clone()),
            ..ChatMessage::new("tool", r#"{"temp_c": 21}"#)
        });
        assert!(tool_call("demo/small", &r).is_none());
        let text = answer("demo/small", &r);
        assert!(
            text.contains("get_weather") && text.contains("temp_c"),
            "{text}"
        );
        let mut j = req("Describe Oslo");
        j.response_format = Some(json!({"type": "json_schema", "json_schema": {"name": "x",
            "schema": {"type": "object", "properties": {"city": {"type": "string"},
                "rank": {"type": "integer"}}, "required": ["city", "rank"]}}}));
        let doc: Value = serde_json::from_str(&answer("demo/fast", &j)).unwrap();
        assert_eq!(doc, json!({"city": "Oslo", "rank": 1}));
    }
}
