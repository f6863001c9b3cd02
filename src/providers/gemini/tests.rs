//! Unit tests of the gemini mapping: requests, responses and recorded SSE sequences.

use super::*;
use crate::chat::{ChunkAccumulator, FunctionDef, ImageUrl, Stop, Tool};
use crate::providers::FailureKind;

fn req(messages: Vec<ChatMessage>) -> ChatRequest {
    ChatRequest {
        model: "ignored".into(),
        messages,
        ..Default::default()
    }
}

fn call(id: &str, name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: id.into(),
        kind: "function".into(),
        function: FunctionCall {
            name: name.into(),
            arguments: args.into(),
        },
    }
}

fn tool_msg(id: &str, text: &str) -> ChatMessage {
    ChatMessage {
        role: "tool".into(),
        content: Some(MessageContent::Text(text.into())),
        tool_call_id: Some(id.into()),
        ..Default::default()
    }
}

fn endpoint(base: &str, model: &str) -> Endpoint {
    Endpoint {
        provider: crate::providers::Provider::Gemini,
        base_url: base.into(),
        api_key: None,
        key_name: None,
        key_id: None,
        model: model.into(),
    }
}

#[test]
fn urls() {
    assert_eq!(
        access(&endpoint("", "gemini-2.5-flash")).url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
    );
    assert_eq!(
        access(&endpoint("http://127.0.0.1:1/v1beta/", "models/m")).url,
        "http://127.0.0.1:1/v1beta/models/m"
    );
}

#[test]
fn system_roles_and_merging() {
    let r = req(vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "one"),
        ChatMessage::new("developer", "No emoji."),
        ChatMessage::new("user", "two"),
        ChatMessage::new("assistant", "three"),
    ]);
    let body = request_body(&r).unwrap();
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "Be brief.\n\nNo emoji."}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
            {"role": "model", "parts": [{"text": "three"}]},
        ])
    );
    assert!(body.get("generationConfig").is_none());
}

#[test]
fn generation_config() {
    let mut r = req(vec![ChatMessage::new("user", "Hi")]);
    r.temperature = Some(0.5);
    r.top_p = Some(0.8);
    r.max_tokens = Some(64);
    r.stop = Some(Stop::Many(vec!["A".into(), "B".into()]));
    r.n = Some(2);
    r.seed = Some(42);
    r.presence_penalty = Some(0.1);
    r.frequency_penalty = Some(0.2);
    r.response_format = Some(json!({"type": "json_object"}));
    let body = request_body(&r).unwrap();
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.5, "topP": 0.8, "maxOutputTokens": 64, "stopSequences": ["A", "B"],
            "candidateCount": 2, "seed": 42, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
            "responseMimeType": "application/json",
        })
    );

    r.response_format = Some(
        json!({"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {
            "type": "object", "additionalProperties": false,
            "properties": {"a": {"type": ["string", "null"], "format": "uri"}}, "required": ["a", "ghost"]
        }}}),
    );
    let body = request_body(&r).unwrap();
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(
        body["generationConfig"]["responseSchema"],
        json!({"type": "object", "properties": {"a": {"nullable": true, "type": "string"}}, "required": ["a"]})
    );
}

#[test]
fn images_and_audio_become_parts() {
    let r = req(vec![ChatMessage {
        role: "user".into(),
        content: Some(MessageContent::Parts(vec![
            ContentPart::Text {
                text: "Describe".into(),
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/webp;base64,UklG".into(),
                    detail: None,
                },
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://x.test/a.PNG?v=1".into(),
                    detail: None,
                },
            },
            ContentPart::Other(
                json!({"type": "input_audio", "input_audio": {"data": "AAA", "format": "mp3"}}),
            ),
        ])),
        ..Default::default()
    }]);
    let body = request_body(&r).unwrap();
    assert_eq!(
        body["contents"][0]["parts"],
        json!([
            {"text": "Describe"},
            {"inlineData": {"mimeType": "image/webp", "data": "UklG"}},
            {"fileData": {"fileUri": "https://x.test/a.PNG?v=1", "mimeType": "image/png"}},
            {"inlineData": {"mimeType": "audio/mp3", "data": "AAA"}},
        ])
    );
}

#[test]
fn tools_calls_and_responses() {
    let mut r = req(vec![
        ChatMessage::new("user", "Weather?"),
        ChatMessage {
            role: "assistant".into(),
            content: None,
            tool_calls: Some(vec![
                call("call_0", "get_weather", r#"{"city":"Paris"}"#),
                call("call_1", "get_time", ""),
            ]),
            ..Default::default()
        },
        tool_msg("call_0", r#"{"temp": 18}"#),
        tool_msg("call_1", "noon"),
    ]);
    r.tools = Some(vec![
        Tool {
            kind: "function".into(),
            function: FunctionDef {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: Some(json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {"city": {"$ref": "#/$defs/City"}, "unit": {"const": "C"}},
                    "required": ["city"],
                    "additionalProperties": false,
                    "$defs": {"City": {"type": "string", "description": "City name", "minLength": 1}},
                })),
            },
        },
        Tool {
            kind: "function".into(),
            function: FunctionDef {
                name: "get_time".into(),
                description: None,
                parameters: Some(json!({"type": "object", "properties": {}})),
            },
        },
    ]);
    r.tool_choice = Some(json!({"type": "function", "function": {"name": "get_weather"}}));
    let body = request_body(&r).unwrap();
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [
            {"name": "get_weather", "description": "Weather now", "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name", "minLength": 1},
                    "unit": {"enum": ["C"], "type": "string"},
                },
                "required": ["city"],
            }},
            {"name": "get_time"},
        ]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SKIP_THOUGHT_SIGNATURE},
            {"functionCall": {"name": "get_time", "args": {}}},
        ]})
    );
    assert_eq!(
        body["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"content": {"temp": 18}}}},
            {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
        ]})
    );

    for (choice, mode) in [("none", "NONE"), ("auto", "AUTO"), ("required", "ANY")] {
        assert_eq!(
            map_tool_choice(&json!(choice)).unwrap()["functionCallingConfig"]["mode"],
            mode
        );
    }
}

#[test]
fn request_errors() {
    let orphan = req(vec![ChatMessage::new("user", "x"), tool_msg("call_9", "r")]);
    assert_eq!(request_body(&orphan).unwrap_err().kind, FailureKind::Config);
    let bad_args = req(vec![
        ChatMessage::new("user", "x"),
        ChatMessage {
            role: "assistant".into(),
            tool_calls: Some(vec![call("c", "f", "[1")]),
            ..Default::default()
        },
    ]);
    assert_eq!(
        request_body(&bad_args).unwrap_err().kind,
        FailureKind::Config
    );
    assert_eq!(
        request_body(&req(vec![])).unwrap_err().kind,
        FailureKind::Config
    );
    let mut serial = req(vec![ChatMessage::new("user", "x")]);
    serial.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "f".into(),
            description: None,
            parameters: None,
        },
    }]);
    serial
        .extra
        .insert("parallel_tool_calls".into(), serde_json::json!(false));
    let e = request_body(&serial).unwrap_err();
    assert_eq!(e.kind, FailureKind::Config);
    assert!(
        e.message.contains("parallel_tool_calls: false"),
        "{}",
        e.message
    );
    serial
        .extra
        .insert("parallel_tool_calls".into(), serde_json::json!(true));
    request_body(&serial).unwrap();
}

#[test]
fn a_response_with_text_calls_and_cached_usage() {
    let text = json!({
        "candidates": [{
            "content": {"role": "model", "parts": [
                {"text": "thinking…", "thought": true},
                {"text": "Sure, "},
                {"text": "checking.", "thoughtSignature": "abc"},
                {"functionCall": {"name": "lookup", "args": {"q": "x"}}},
            ]},
            "finishReason": "STOP",
            "index": 0,
        }],
        "usageMetadata": {
            "promptTokenCount": 120, "candidatesTokenCount": 10, "thoughtsTokenCount": 5,
            "cachedContentTokenCount": 100, "totalTokenCount": 135,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
    })
    .to_string();
    let r = parse_response("gemini", "fallback", &text).unwrap();
    assert_eq!(r.id, "resp-1");
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.text(), "Sure, checking.");
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    let calls = r.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "call_0");
    assert_eq!(calls[0].function.arguments, r#"{"q":"x"}"#);
    assert_eq!(r.usage, Some(Usage::new(120, 15, 100)));
}

#[test]
fn finish_reasons_and_blocks() {
    assert_eq!(finish_reason("STOP", false), "stop");
    assert_eq!(finish_reason("MAX_TOKENS", false), "length");
    for r in ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT"] {
        assert_eq!(finish_reason(r, false), "content_filter");
    }
    assert_eq!(finish_reason("STOP", true), "tool_calls");

    let blocked =
        r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#;
    let err = parse_response("gemini", "m", blocked).unwrap_err();
    assert_eq!(err.kind, FailureKind::Status);
    assert_eq!(err.status(), 400);
    assert!(!err.retryable());
    assert!(err.message.contains("SAFETY"), "{}", err.message);

    assert_eq!(
        parse_response("gemini", "m", "{}").unwrap_err().kind,
        FailureKind::Malformed
    );
    assert_eq!(
        parse_response("gemini", "m", "{\"cand").unwrap_err().kind,
        FailureKind::Malformed
    );
    let err = parse_response(
        "gemini",
        "m",
        r#"{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}"#,
    )
    .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (503, true));
}

#[test]
fn error_json_and_retry_info() {
    let v = json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}]}});
    assert_eq!(
        error_message(&v).as_deref(),
        Some("Quota exceeded (RESOURCE_EXHAUSTED)")
    );
    assert_eq!(retry_delay(&v), Some(Duration::from_secs(17)));
    assert_eq!(
        error_message(&json!([v])).as_deref(),
        Some("Quota exceeded (RESOURCE_EXHAUSTED)")
    );
}

const RECORDED: &[&str] = &[
    r#"{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9},"modelVersion":"gemini-2.5-flash","responseId":"r-9"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":" world"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":2,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"r-9"}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":3,"cachedContentTokenCount":4,"thoughtsTokenCount":6,"totalTokenCount":18},"modelVersion":"gemini-2.5-flash","responseId":"r-9"}"#,
];

#[test]
fn a_recorded_stream_becomes_chunks() {
    let mut state = StreamState::new("gemini", "fallback", 1);
    let mut chunks = Vec::new();
    for data in RECORDED {
        assert!(!state.finished());
        chunks.extend(state.on_data(data).unwrap());
    }
    assert!(state.finished());
    chunks.push(state.usage_chunk());
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    assert!(chunks[1].choices[0].delta.role.is_none());
    assert!(
        chunks
            .iter()
            .all(|c| c.id == "r-9" && c.model == "gemini-2.5-flash")
    );
    assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
    assert!(chunks[3].choices.is_empty());
    assert_eq!(chunks[3].usage, Some(Usage::new(9, 9, 4)));
    let mut acc = ChunkAccumulator::default();
    chunks.iter().for_each(|c| acc.push(c));
    assert_eq!(acc.finish().text(), "Hello world!");
}

#[test]
fn a_streamed_function_call() {
    let mut state = StreamState::new("gemini", "m", 1);
    let chunk = state
        .on_data(r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}},{"functionCall":{"name":"g"}}],"role":"model"},"finishReason":"STOP","index":0}]}"#)
        .unwrap()
        .unwrap();
    assert!(state.finished());
    let choice = &chunk.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.delta.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].index, 0);
    assert_eq!(calls[0].id.as_deref(), Some("call_0"));
    assert_eq!(
        calls[0].function.as_ref().unwrap().arguments.as_deref(),
        Some(r#"{"a":1}"#)
    );
    assert_eq!(calls[1].index, 1);
    assert_eq!(
        calls[1].function.as_ref().unwrap().name.as_deref(),
        Some("g")
    );
    assert_eq!(
        calls[1].function.as_ref().unwrap().arguments.as_deref(),
        Some("{}")
    );
}

#[test]
fn stream_errors() {
    let mut state = StreamState::new("gemini", "m", 1);
    assert_eq!(
        state.on_data("{nope").unwrap_err().kind,
        FailureKind::Malformed
    );
    let err = state
        .on_data(r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}"#)
        .unwrap_err();
    assert_eq!((err.status(), err.retryable()), (400, false));
    let err = state
        .on_data(r#"{"error":{"code":500,"message":"internal","status":"INTERNAL"}}"#)
        .unwrap_err();
    assert!(err.retryable());
    assert!(
        state
            .on_data(r#"{"usageMetadata":{"promptTokenCount":1}}"#)
            .unwrap()
            .is_none()
    );
    assert!(!state.finished());
}

#[test]
fn embeddings() {
    let v = parse_embeddings(
        "gemini",
        r#"{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}"#,
        2,
    )
    .unwrap();
    assert_eq!(v, vec![vec![0.5, 1.0], vec![2.0]]);
    assert!(parse_embeddings("gemini", r#"{"embeddings":[{"values":[1]}]}"#, 2).is_err());
    assert!(parse_embeddings("gemini", r#"{"nothing":1}"#, 1).is_err());
}
