//! Unit tests of the anthropic mapping: requests, responses and recorded SSE sequences.

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

fn assistant_calls(calls: Vec<(&str, &str, &str)>) -> ChatMessage {
    ChatMessage {
        role: "assistant".into(),
        content: None,
        tool_calls: Some(
            calls
                .into_iter()
                .map(|(id, name, args)| ToolCall {
                    id: id.into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: name.into(),
                        arguments: args.into(),
                    },
                })
                .collect(),
        ),
        ..Default::default()
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

#[test]
fn system_prompts_are_split_out_and_joined() {
    let r = req(vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("developer", "Answer in French."),
        ChatMessage::new("user", "Hi"),
    ]);
    let body = request_body("claude-x", &r, false).unwrap();
    assert_eq!(body["model"], "claude-x");
    assert_eq!(body["system"], "Be brief.\n\nAnswer in French.");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
    assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
    assert!(body.get("stream").is_none());
}

#[test]
fn parameters_are_mapped() {
    let mut r = req(vec![ChatMessage::new("user", "Hi")]);
    r.max_completion_tokens = Some(100);
    r.max_tokens = Some(50);
    r.temperature = Some(0.2);
    r.top_p = Some(0.9);
    r.stop = Some(Stop::One("END".into()));
    r.user = Some("u-1".into());
    r.seed = Some(7);
    r.response_format = Some(json!({"type": "json_schema", "json_schema": {"name": "r",
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}));
    r.extra.insert("top_k".into(), json!(5));
    let body = request_body("m", &r, true).unwrap();
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(body["stream"], true);
    assert!(body.get("response_format").is_none());
    assert_eq!(
        body["output_config"],
        json!({"format": {"type": "json_schema",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}})
    );
    assert!(body.get("seed").is_none());

    // JSON mode without a schema: the answer is prefilled with `{` (Anthropic's documented way).
    let mut json_mode = r.clone();
    json_mode.response_format = Some(json!({"type": "json_object"}));
    let body = request_body("m", &json_mode, false).unwrap();
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap(),
        &json!({"role": "assistant", "content": "{"})
    );
    assert!(body.get("output_config").is_none());
    assert_eq!(json_prefill(&json_mode), Some("{"));
    json_mode.messages.push(ChatMessage::new("assistant", "[")); // the caller's own prefill
    assert_eq!(json_prefill(&json_mode), None);
    json_mode.response_format = Some(json!({"type": "yaml"}));
    let e = request_body("m", &json_mode, false).unwrap_err();
    assert_eq!(e.kind, FailureKind::Config);
    assert!(
        e.message
            .contains("unsupported response_format type 'yaml'"),
        "{}",
        e.message
    );

    r.n = Some(2);
    assert_eq!(
        request_body("m", &r, false).unwrap_err().kind,
        FailureKind::Config
    );
}

#[test]
fn consecutive_roles_are_merged() {
    let r = req(vec![
        ChatMessage::new("user", "one"),
        ChatMessage::new("user", "two"),
        ChatMessage::new("assistant", "three"),
        ChatMessage::new("assistant", ""),
        ChatMessage::new("assistant", "four"),
    ]);
    let body = request_body("m", &r, false).unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        ])
    );
}

#[test]
fn images_become_image_blocks() {
    let r = req(vec![ChatMessage {
        role: "user".into(),
        content: Some(MessageContent::Parts(vec![
            ContentPart::Text {
                text: "What is this?".into(),
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "data:image/png;base64,iVBORw0K".into(),
                    detail: None,
                },
            },
            ContentPart::ImageUrl {
                image_url: ImageUrl {
                    url: "https://example.com/cat.jpg".into(),
                    detail: Some("low".into()),
                },
            },
        ])),
        ..Default::default()
    }]);
    let body = request_body("m", &r, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ])
    );

    let bad = req(vec![ChatMessage {
        role: "user".into(),
        content: Some(MessageContent::Parts(vec![ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: "file:///etc/passwd".into(),
                detail: None,
            },
        }])),
        ..Default::default()
    }]);
    assert_eq!(
        request_body("m", &bad, false).unwrap_err().kind,
        FailureKind::Config
    );
}

#[test]
fn tools_and_tool_results_are_mapped() {
    let mut r = req(vec![
        ChatMessage::new("user", "Weather in Paris and Rome?"),
        ChatMessage {
            content: Some(MessageContent::Text("Let me check.".into())),
            ..assistant_calls(vec![
                ("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                ("toolu_2", "get_weather", ""),
            ])
        },
        tool_msg("toolu_1", "18C"),
        tool_msg("toolu_2", "21C"),
        ChatMessage::new("user", "Thanks, and?"),
    ]);
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "get_weather".into(),
            description: Some("Current weather".into()),
            parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
        },
    }]);
    r.tool_choice = Some(json!("required"));
    let body = request_body("m", &r, false).unwrap();
    assert_eq!(
        body["tools"],
        json!([{
            "name": "get_weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Current weather",
        }])
    );
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1],
        json!({"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
        ]})
    );
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "21C"},
            {"type": "text", "text": "Thanks, and?"},
        ]})
    );
}

#[test]
fn tool_choice_variants() {
    assert_eq!(
        map_tool_choice(&json!("auto")).unwrap(),
        json!({"type": "auto"})
    );
    assert_eq!(
        map_tool_choice(&json!("none")).unwrap(),
        json!({"type": "none"})
    );
    assert_eq!(
        map_tool_choice(&json!({"type": "function", "function": {"name": "f"}})).unwrap(),
        json!({"type": "tool", "name": "f"})
    );
    assert!(map_tool_choice(&json!("sometimes")).is_err());

    let mut r = req(vec![ChatMessage::new("user", "x")]);
    r.tools = Some(vec![Tool {
        kind: "function".into(),
        function: FunctionDef {
            name: "f".into(),
            description: None,
            parameters: None,
        },
    }]);
    r.extra.insert("parallel_tool_calls".into(), json!(false));
    let body = request_body("m", &r, false).unwrap();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    // A function without parameters still gets the object schema Anthropic requires.
    assert_eq!(
        body["tools"][0]["input_schema"],
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn unparseable_tool_arguments_are_a_config_error() {
    let r = req(vec![
        ChatMessage::new("user", "x"),
        assistant_calls(vec![("toolu_1", "f", "{not json")]),
    ]);
    let err = request_body("m", &r, false).unwrap_err();
    assert_eq!(err.kind, FailureKind::Config);
    assert!(err.message.contains("toolu_1"), "{}", err.message);

    let only_system = req(vec![ChatMessage::new("system", "x")]);
    assert_eq!(
        request_body("m", &only_system, false).unwrap_err().kind,
        FailureKind::Config
    );
}

#[test]
fn base_urls_with_or_without_v1() {
    let mut e = Endpoint {
        provider: crate::providers::Provider::Anthropic,
        base_url: String::new(),
        api_key: None,
        key_name: None,
        key_id: None,
        model: "m".into(),
    };
    assert_eq!(url(&e), "https://api.anthropic.com/v1/messages");
    e.base_url = "https://proxy.example/v1/".into();
    assert_eq!(url(&e), "https://proxy.example/v1/messages");
    e.base_url = "http://127.0.0.1:9000".into();
    assert_eq!(url(&e), "http://127.0.0.1:9000/v1/messages");
}

#[test]
fn a_response_with_text_tools_and_cache_usage() {
    let text = json!({
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Checking "},
            {"type": "text", "text": "now."},
            {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 100,
            "output_tokens": 7,
        },
    })
    .to_string();
    let r = parse_response("anthropic", &text).unwrap();
    assert_eq!(r.id, "msg_01");
    assert_eq!(r.model, "claude-sonnet-4-5");
    assert_eq!(r.text(), "Checking now.");
    let choice = &r.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "toolu_9");
    assert_eq!(calls[0].function.name, "lookup");
    assert_eq!(calls[0].function.arguments, r#"{"q":"x"}"#);
    let usage = r.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 115);
    assert_eq!(usage.cached_tokens(), 100);
    assert_eq!(usage.completion_tokens, 7);
    assert_eq!(usage.total_tokens, 122);
}

#[test]
fn a_json_prefill_goes_back_in_front_of_text_only() {
    let answer = |content: Value| {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": content, "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1}});
        parse_response("anthropic", &body.to_string()).unwrap()
    };
    let mut text = answer(json!([{"type": "text", "text": "\"a\": 1}"}]));
    put_back_prefill(&mut text, "{");
    assert_eq!(text.text(), r#"{"a": 1}"#);
    let mut calls =
        answer(json!([{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]));
    put_back_prefill(&mut calls, "{");
    assert_eq!(calls.text(), "");
    assert_eq!(
        calls.choices[0].message.tool_calls.as_ref().unwrap().len(),
        1
    );
}

#[test]
fn finish_reasons() {
    assert_eq!(finish_reason(Some("end_turn")), "stop");
    assert_eq!(finish_reason(Some("stop_sequence")), "stop");
    assert_eq!(finish_reason(Some("max_tokens")), "length");
    assert_eq!(finish_reason(Some("tool_use")), "tool_calls");
    assert_eq!(finish_reason(None), "stop");
}

#[test]
fn malformed_and_error_bodies() {
    assert_eq!(
        parse_response("anthropic", "{\"id\":").unwrap_err().kind,
        FailureKind::Malformed
    );
    assert_eq!(
        parse_response("anthropic", "{\"content\":[]}")
            .unwrap_err()
            .kind,
        FailureKind::Malformed
    );
    let err = parse_response(
        "anthropic",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .unwrap_err();
    assert_eq!(err.status(), 529);
    assert!(err.retryable());
    assert_eq!(
        error_message(
            &json!({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})
        )
        .as_deref(),
        Some("bad (invalid_request_error)")
    );
}

/// A recorded stream: text, then a tool call, with cache usage.
const RECORDED: &[(&str, &str)] = &[
    (
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_s1","type":"message","role":"assistant","content":[],"model":"claude-haiku-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":40,"output_tokens":1}}}"#,
    ),
    (
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    ),
    ("ping", r#"{"type": "ping"}"#),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me "}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"look."}}"#,
    ),
    (
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    ),
    (
        "content_block_start",
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_weather","input":{}}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#,
    ),
    (
        "content_block_delta",
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
    ),
    (
        "content_block_stop",
        r#"{"type":"content_block_stop","index":1}"#,
    ),
    (
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":33}}"#,
    ),
    ("message_stop", r#"{"type":"message_stop"}"#),
];

#[test]
fn a_recorded_stream_becomes_chunks() {
    let mut state = StreamState::new("anthropic", "fallback-model");
    let mut chunks = Vec::new();
    for (name, data) in RECORDED {
        assert!(!state.finished());
        chunks.extend(state.on_event(name, data).unwrap());
    }
    assert!(state.finished());
    assert_eq!(
        chunks[0].choices[0].delta.role.as_deref(),
        Some("assistant")
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.id == "msg_s1" && c.model == "claude-haiku-4-5")
    );
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(last.usage, Some(Usage::new(65, 33, 40)));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(
        finish.choices[0].finish_reason.as_deref(),
        Some("tool_calls")
    );

    let tool_start = chunks
        .iter()
        .find_map(|c| c.choices[0].delta.tool_calls.as_ref())
        .unwrap();
    assert_eq!(
        tool_start[0].index, 0,
        "the first tool call is index 0 even after a text block"
    );
    assert_eq!(tool_start[0].id.as_deref(), Some("toolu_a"));
    assert_eq!(tool_start[0].kind.as_deref(), Some("function"));

    let mut acc = ChunkAccumulator::default();
    chunks.iter().for_each(|c| acc.push(c));
    let r = acc.finish();
    assert_eq!(r.text(), "Let me look.");
    let calls = r.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"city": "Paris"}"#);
    assert_eq!(r.usage.unwrap().cached_tokens(), 40);
}

#[test]
fn stream_error_events() {
    let mut state = StreamState::new("anthropic", "m");
    state.on_event("message_start", RECORDED[0].1).unwrap();
    let err = state
        .on_event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::Status);
    assert_eq!(err.status(), 529);
    assert!(err.retryable());
    assert!(err.message.contains("Overloaded"));

    let err = state
        .on_event(
            "error",
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"no"}}"#,
        )
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(!err.retryable());

    assert_eq!(
        state
            .on_event("content_block_delta", "{oops")
            .unwrap_err()
            .kind,
        FailureKind::Malformed
    );
    let orphan = r#"{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#;
    assert_eq!(
        state
            .on_event("content_block_delta", orphan)
            .unwrap_err()
            .kind,
        FailureKind::Malformed
    );
    assert!(
        state
            .on_event("some_future_event", r#"{"type":"some_future_event"}"#)
            .unwrap()
            .is_empty()
    );
}
