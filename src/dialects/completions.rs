//! OpenAI's legacy Completions API (`POST /v1/completions`), still used by older LangChain and
//! LlamaIndex code paths and some evaluation tools: the prompt becomes one user message of a chat
//! request (chat models are what every provider serves), and the chat answer (or its chunks)
//! becomes `text_completion` choices. Several prompts in one request are answered one call each;
//! options chat cannot honour (`suffix`, `logprobs`, `best_of` above 1) are refused by name.

use serde_json::{Map, Value, json};

use super::{Unsupported, as_text, unknown_fields};
use crate::chat::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, Stop, Usage};

const KNOWN: &[&str] = &[
    "model",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stream",
    "stream_options",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "user",
    "echo",
    "suffix",
    "logprobs",
    "best_of",
];

/// A Completions request, checked: one chat request per prompt.
#[derive(Debug, Clone)]
pub struct CompletionsRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// The prompts, each with its chat request.
    pub calls: Vec<(String, ChatRequest)>,
    /// Put the prompt back in front of each answer.
    pub echo: bool,
}

pub fn parse(body: Value) -> Result<CompletionsRequest, Unsupported> {
    let Value::Object(body) = body else {
        return Err(Unsupported("the body must be a JSON object".into()));
    };
    let unknown = unknown_fields(&body, KNOWN);
    if !unknown.is_empty() {
        return Err(Unsupported(format!(
            "the Completions API option(s) {} are not supported by Portolan",
            unknown.join(", ")
        )));
    }
    if body.get("suffix").is_some_and(|s| !as_text(s).is_empty()) {
        return Err(Unsupported(
            "`suffix` (insertion) is not supported by Portolan: chat models answer after the prompt".into(),
        ));
    }
    if body.get("logprobs").is_some_and(|v| !v.is_null()) {
        return Err(Unsupported(
            "`logprobs` is not supported by Portolan's /v1/completions".into(),
        ));
    }
    if body
        .get("best_of")
        .and_then(Value::as_u64)
        .is_some_and(|b| b > 1)
    {
        return Err(Unsupported(
            "`best_of` above 1 is not supported by Portolan".into(),
        ));
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| Unsupported("`model` is required".into()))?
        .to_owned();
    let prompts: Vec<String> = match body.get("prompt") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
            list.iter().map(as_text).collect()
        }
        Some(Value::Array(list)) if !list.is_empty() => {
            return Err(Unsupported(
                "token-id prompts are not supported by Portolan: send the prompt as text".into(),
            ));
        }
        _ => {
            return Err(Unsupported(
                "`prompt` must be a string or a list of strings".into(),
            ));
        }
    };
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream && prompts.len() > 1 {
        return Err(Unsupported("a streamed completion takes one prompt".into()));
    }
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut params = Map::new();
    for field in [
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "seed",
        "user",
    ] {
        if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
            params.insert(field.into(), v.clone());
        }
    }
    let mut calls = Vec::new();
    for prompt in prompts {
        let mut chat = ChatRequest {
            model: model.clone(),
            messages: vec![ChatMessage::new("user", prompt.clone())],
            ..Default::default()
        };
        chat.apply_params(&params)
            .map_err(|e| Unsupported(format!("the request's parameters do not fit: {e}")))?;
        if let Some(Stop::One(s)) = &chat.stop
            && s.is_empty()
        {
            chat.stop = None;
        }
        chat.stream = Some(stream);
        if stream {
            chat.stream_options = Some(crate::chat::StreamOptions {
                include_usage: Some(true),
            });
        }
        calls.push((prompt, chat));
    }
    Ok(CompletionsRequest {
        model,
        stream,
        include_usage,
        calls,
        echo: body.get("echo").and_then(Value::as_bool).unwrap_or(false),
    })
}

pub fn new_completion_id() -> String {
    crate::ids::new_id("cmpl")
}

fn add_usage(total: &mut Option<Usage>, u: Option<Usage>) {
    if let Some(u) = u {
        let t = total.get_or_insert_with(Usage::default);
        *t = Usage::new(
            t.prompt_tokens + u.prompt_tokens,
            t.completion_tokens + u.completion_tokens,
            t.cached_tokens() + u.cached_tokens(),
        );
    }
}

/// One `text_completion` for the answers to every prompt, in order (choice indexes run across
/// prompts, `n` per prompt, as OpenAI numbers them).
pub fn from_chat(
    id: &str,
    model: &str,
    created: i64,
    answers: &[(String, ChatResponse)],
    echo: bool,
) -> Value {
    let mut choices = Vec::new();
    let mut usage = None;
    for (prompt, answer) in answers {
        for c in &answer.choices {
            let text = c.message.text();
            choices.push(json!({
                "text": if echo { format!("{prompt}{text}") } else { text },
                "index": choices.len(),
                "logprobs": Value::Null,
                "finish_reason": c.finish_reason.clone().unwrap_or_else(|| "stop".into()),
            }));
        }
        add_usage(&mut usage, answer.usage);
    }
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    })
}

/// The `text_completion` chunks one chat chunk amounts to (none for a chunk with nothing to
/// say; the usage chunk only when the client asked for it).
pub fn chunk(
    id: &str,
    model: &str,
    created: i64,
    chat: &ChatChunk,
    include_usage: bool,
) -> Option<Value> {
    let choices: Vec<Value> = chat
        .choices
        .iter()
        .filter(|c| {
            c.delta.content.as_deref().is_some_and(|t| !t.is_empty()) || c.finish_reason.is_some()
        })
        .map(|c| {
            json!({
                "text": c.delta.content.clone().unwrap_or_default(),
                "index": c.index,
                "logprobs": Value::Null,
                "finish_reason": c.finish_reason,
            })
        })
        .collect();
    let usage = chat.usage.filter(|_| include_usage);
    if choices.is_empty() && usage.is_none() {
        return None;
    }
    Some(json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_list_is_one_chat_call_each_with_the_same_params() {
        let r = parse(json!({"model": "gpt-4o-mini", "prompt": ["a", "b"], "max_tokens": 5, "stop": "\n", "temperature": 0, "logprobs": null})).unwrap();
        assert_eq!(r.calls.len(), 2);
        let (prompt, chat) = &r.calls[1];
        assert_eq!(prompt, "b");
        assert_eq!(chat.messages[0].text(), "b");
        assert_eq!(chat.max_tokens, Some(5));
        assert_eq!(chat.stop, Some(Stop::One("\n".into())));
    }

    #[test]
    fn what_chat_cannot_do_is_refused_by_name() {
        let e = |b: Value| parse(b).unwrap_err().0;
        assert!(e(json!({"model": "m", "prompt": "x", "suffix": "y"})).contains("suffix"));
        assert!(e(json!({"model": "m", "prompt": "x", "logprobs": 3})).contains("logprobs"));
        assert!(e(json!({"model": "m", "prompt": [1, 2]})).contains("token-id"));
        assert!(
            e(json!({"model": "m", "prompt": ["a", "b"], "stream": true})).contains("one prompt")
        );
        assert!(e(json!({"model": "m", "prompt": "x", "frobnicate": 1})).contains("frobnicate"));
    }

    #[test]
    fn answers_become_text_completion_choices() {
        let answer = |t: &str| ChatResponse {
            id: "c".into(),
            object: "chat.completion".into(),
            created: 0,
            model: "m".into(),
            choices: vec![crate::chat::Choice {
                index: 0,
                message: ChatMessage::new("assistant", t),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(3, 2, 0)),
            system_fingerprint: None,
        };
        let out = from_chat(
            "cmpl-1",
            "m",
            0,
            &[("Q1 ".into(), answer("A1")), ("Q2 ".into(), answer("A2"))],
            true,
        );
        assert_eq!(out["choices"][1]["text"], "Q2 A2");
        assert_eq!(out["choices"][1]["index"], 1);
        assert_eq!(out["usage"]["total_tokens"], 10);
        let c = chunk("cmpl-1", "m", 0, &ChatChunk::text("c", "m", 0, "Hi"), false).unwrap();
        assert_eq!(
            (c["object"].as_str(), c["choices"][0]["text"].as_str()),
            (Some("text_completion"), Some("Hi"))
        );
        assert!(chunk("cmpl-1", "m", 0, &ChatChunk::new("c", "m", 0), false).is_none());
    }
}
