//! Cohere v2: `POST /v2/chat` (JSON or SSE with typed events) and `POST /v2/embed`.
//!
//! What adapters trip on, reproduced: content as a list of typed items, finish reasons in
//! capitals, usage both billed and raw and written as floats (`12.0`), a `tool_plan` beside tool
//! calls, tool calls in stream events as one object (not an array), `input_type` required for
//! embeddings, and errors as `{"id", "message"}`.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::respond::{Ctx, deliver_json, json_response, respond_chat, start_delay};
use crate::text::{EMBEDDING_DIMS, TOKENS_PER_MESSAGE, embedding, words};
use crate::wire::{Call, Ev, Finish, Framing, Wire, argument_pieces};

pub(crate) struct Cohere {
    seq: u64,
}

impl Cohere {
    fn id(&self) -> String {
        format!("c0e7e5a0-0000-4000-8000-{:012}", self.seq)
    }

    fn fail(&self, status: StatusCode, message: &str) -> Response {
        json_response(self, status, &self.error_body(status, message, self.seq))
    }

    fn finish(finish: Finish) -> &'static str {
        match finish {
            Finish::Stop => "COMPLETE",
            Finish::Length => "MAX_TOKENS",
            Finish::ToolCall => "TOOL_CALL",
        }
    }

    fn usage(call: &Call, output: u64) -> Value {
        // Billed units are what is charged; raw tokens include Cohere's prompt template.
        json!({
            "billed_units": {"input_tokens": call.prompt_tokens as f64, "output_tokens": output as f64},
            "tokens": {"input_tokens": (call.prompt_tokens + 200) as f64, "output_tokens": output as f64 + 2.0}
        })
    }

    fn end(call: &Call, finish: Finish, output: u64) -> Ev {
        Ev::Json(
            Some("message-end"),
            json!({"type": "message-end", "delta": {
                "finish_reason": Self::finish(finish),
                "usage": Self::usage(call, output)
            }}),
        )
    }

    fn start(&self) -> Ev {
        Ev::Json(
            Some("message-start"),
            json!({"type": "message-start", "id": self.id(), "delta": {"message": {
                "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []
            }}}),
        )
    }

    fn call_id(call: &Call, name: &str) -> String {
        format!("{name}_fake{:06}", call.seq)
    }
}

impl Wire for Cohere {
    fn error_body(&self, _status: StatusCode, message: &str, _seq: u64) -> Value {
        json!({"id": self.id(), "message": message})
    }

    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn full_text(&self, call: &Call, text: &str, finish: Finish, output: u64) -> Value {
        json!({
            "id": self.id(),
            "finish_reason": Self::finish(finish),
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
            "usage": Self::usage(call, output)
        })
    }

    fn full_tool(&self, call: &Call, name: &str, args: &Value, output: u64) -> Value {
        json!({
            "id": self.id(),
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": format!("I will call {name}."),
                "tool_calls": [{
                    "id": Self::call_id(call, name),
                    "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}
                }]
            },
            "usage": Self::usage(call, output)
        })
    }

    fn open_text(&self, _call: &Call) -> Vec<Ev> {
        vec![
            self.start(),
            Ev::Json(
                Some("content-start"),
                json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
            ),
        ]
    }

    fn text_piece(
        &self,
        _call: &Call,
        piece: &str,
        _so_far: u64,
        _last: Option<Finish>,
    ) -> Vec<Ev> {
        vec![Ev::Json(
            Some("content-delta"),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}),
        )]
    }

    fn close_text(&self, call: &Call, finish: Finish, output: u64, _marked: bool) -> Vec<Ev> {
        vec![
            Ev::Json(
                Some("content-end"),
                json!({"type": "content-end", "index": 0}),
            ),
            Self::end(call, finish, output),
        ]
    }

    fn tool_stream(&self, call: &Call, name: &str, args: &Value, output: u64) -> Vec<Ev> {
        let mut evs = vec![
            self.start(),
            Ev::Json(
                Some("tool-plan-delta"),
                json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": format!("I will call {name}.")}}}),
            ),
            Ev::Json(
                Some("tool-call-start"),
                json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                    "id": Self::call_id(call, name), "type": "function",
                    "function": {"name": name, "arguments": ""}
                }}}}),
            ),
        ];
        for piece in argument_pieces(&args.to_string()) {
            evs.push(Ev::Json(
                Some("tool-call-delta"),
                json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}}),
            ));
        }
        evs.push(Ev::Json(
            Some("tool-call-end"),
            json!({"type": "tool-call-end", "index": 0}),
        ));
        evs.push(Self::end(call, Finish::ToolCall, output));
        evs
    }

    fn after_malformed(&self, call: &Call) -> Vec<Ev> {
        self.close_text(call, Finish::Stop, words(&call.default_text).max(1), false)
    }
}

/// `Authorization: Bearer KEY`, compared when a key is expected.
fn check_auth(ctx: &Ctx, wire: &Cohere) -> Option<Response> {
    let given = ctx
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    match (given, ctx.shared.expected_key()) {
        (None, _) => Some(wire.fail(StatusCode::UNAUTHORIZED, "no api key supplied")),
        (Some(k), Some(expected)) if k != expected => {
            Some(wire.fail(StatusCode::UNAUTHORIZED, "invalid api token"))
        }
        _ => None,
    }
}

fn message_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// `POST /v2/chat`.
pub(crate) async fn chat(ctx: &Ctx) -> Response {
    let wire = Cohere {
        seq: ctx.shared.next_seq(),
    };
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: invalid json body",
        );
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: model must be specified",
        );
    };
    let Some(messages) = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: messages must have at least one message",
        );
    };
    if let Some(t) = body.get("temperature").and_then(Value::as_f64)
        && !(0.0..=1.0).contains(&t)
    {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: temperature must be between 0 and 1.0 inclusive.",
        );
    }
    if let Some(choice) = body.get("tool_choice")
        && !matches!(choice.as_str(), Some("REQUIRED" | "NONE"))
    {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: tool_choice must be one of REQUIRED, NONE",
        );
    }
    let mut prompt = 0;
    let mut last_user = String::new();
    for m in messages {
        let text = message_text(m);
        prompt += words(&text) + TOKENS_PER_MESSAGE;
        if m.get("role").and_then(Value::as_str) == Some("user") {
            last_user = text;
        }
    }
    let mut call = ctx.new_call(wire.seq, model.to_owned(), prompt, &last_user);
    call.max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

/// `POST /v2/embed`.
pub(crate) async fn embed(ctx: &Ctx) -> Response {
    let wire = Cohere {
        seq: ctx.shared.next_seq(),
    };
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: invalid json body",
        );
    };
    if body.get("input_type").and_then(Value::as_str).is_none() {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: input_type is required for embed v3 and later models",
        );
    }
    let Some(texts) = body.get("texts").and_then(Value::as_array) else {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "invalid request: texts must be specified",
        );
    };
    let texts: Vec<String> = texts
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedding(t, EMBEDDING_DIMS)).collect();
    let tokens: u64 = texts.iter().map(|t| words(t)).sum();
    let doc = json!({
        "id": wire.id(),
        "texts": texts,
        "embeddings": {"float": vectors},
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}}
    });
    let behavior = ctx
        .shared
        .next_embedding_behavior()
        .unwrap_or_else(|| Behavior::reply(""));
    deliver_json(&wire, ctx, &behavior, start_delay(&behavior), doc, wire.seq).await
}
