//! Anthropic Messages API: `POST /v1/messages`, `POST /v1/messages/count_tokens`
//! and `GET /v1/models` (when called with Anthropic headers).
//!
//! Anthropic differs from OpenAI in ways adapters trip on: mandatory
//! `anthropic-version` and `max_tokens`, named SSE events with a
//! `message_start … message_stop` envelope, `input_tokens` that exclude cache
//! reads, and the 529 `overloaded_error`. All of that is reproduced here.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::respond::{Ctx, json_response, respond_chat};
use crate::text::{TOKENS_PER_MESSAGE, words};
use crate::wire::{Call, Ev, Finish, Framing, Wire, argument_pieces};

/// The Anthropic wire format for one request.
pub(crate) struct Anthropic {
    seq: u64,
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

impl Anthropic {
    pub(crate) fn new(seq: u64) -> Self {
        Anthropic { seq }
    }

    fn error_doc(&self, kind: &str, message: &str) -> Value {
        json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": format!("req_fake{:06}", self.seq)
        })
    }

    fn fail(&self, status: StatusCode, message: &str) -> Response {
        let doc = self.error_doc(error_type(status.as_u16()), message);
        json_response(self, status, &doc)
    }

    fn usage(&self, call: &Call, output: u64) -> Value {
        json!({
            "input_tokens": call.prompt_tokens.saturating_sub(call.cached_tokens),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": call.cached_tokens,
            "output_tokens": output,
            "service_tier": "standard"
        })
    }

    fn stop_reason(finish: Finish) -> &'static str {
        match finish {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::ToolCall => "tool_use",
        }
    }

    fn message_doc(&self, call: &Call, content: Value, stop: Option<Finish>, output: u64) -> Value {
        json!({
            "id": format!("msg_fake{:06}", call.seq),
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": content,
            "stop_reason": stop.map(Self::stop_reason),
            "stop_sequence": null,
            "usage": self.usage(call, output)
        })
    }

    fn start(&self, call: &Call, block: Value) -> Vec<Ev> {
        vec![
            Ev::Json(
                Some("message_start"),
                json!({"type": "message_start", "message": self.message_doc(call, json!([]), None, 1)}),
            ),
            Ev::Json(
                Some("content_block_start"),
                json!({"type": "content_block_start", "index": 0, "content_block": block}),
            ),
            Ev::Json(Some("ping"), json!({"type": "ping"})),
        ]
    }

    fn end(&self, finish: Finish, output: u64) -> Vec<Ev> {
        vec![
            Ev::Json(
                Some("content_block_stop"),
                json!({"type": "content_block_stop", "index": 0}),
            ),
            Ev::Json(
                Some("message_delta"),
                json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": Self::stop_reason(finish), "stop_sequence": null},
                    "usage": {"output_tokens": output}
                }),
            ),
            Ev::Json(Some("message_stop"), json!({"type": "message_stop"})),
        ]
    }
}

impl Wire for Anthropic {
    fn error_body(&self, status: StatusCode, message: &str, _seq: u64) -> Value {
        self.error_doc(error_type(status.as_u16()), message)
    }

    fn request_id_header(&self) -> Option<(&'static str, String)> {
        Some(("request-id", format!("req_fake{:06}", self.seq)))
    }

    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn full_text(&self, call: &Call, text: &str, finish: Finish, output: u64) -> Value {
        self.message_doc(
            call,
            json!([{"type": "text", "text": text}]),
            Some(finish),
            output,
        )
    }

    fn full_tool(&self, call: &Call, name: &str, args: &Value, output: u64) -> Value {
        let block = json!({
            "type": "tool_use",
            "id": format!("toolu_fake{:06}", call.seq),
            "name": name,
            "input": args
        });
        self.message_doc(call, json!([block]), Some(Finish::ToolCall), output)
    }

    fn open_text(&self, call: &Call) -> Vec<Ev> {
        self.start(call, json!({"type": "text", "text": ""}))
    }

    fn text_piece(
        &self,
        _call: &Call,
        piece: &str,
        _so_far: u64,
        _last: Option<Finish>,
    ) -> Vec<Ev> {
        vec![Ev::Json(
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        )]
    }

    fn close_text(&self, _call: &Call, finish: Finish, output: u64, _marked: bool) -> Vec<Ev> {
        self.end(finish, output)
    }

    fn tool_stream(&self, call: &Call, name: &str, args: &Value, output: u64) -> Vec<Ev> {
        let block = json!({
            "type": "tool_use",
            "id": format!("toolu_fake{:06}", call.seq),
            "name": name,
            "input": {}
        });
        let mut evs = self.start(call, block);
        let mut pieces = vec![String::new()];
        pieces.extend(argument_pieces(&args.to_string()));
        for piece in pieces {
            evs.push(Ev::Json(
                Some("content_block_delta"),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        evs.extend(self.end(Finish::ToolCall, output));
        evs
    }

    fn after_malformed(&self, call: &Call) -> Vec<Ev> {
        self.end(Finish::Stop, words(&call.default_text).max(1))
    }
}

/// Text of a `system` value or a message `content`: a string, or blocks whose
/// `text` (and `tool_result` contents) are joined.
fn blocks_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match (b.get("text"), b.get("content")) {
                (Some(Value::String(t)), _) => t.clone(),
                (_, Some(c)) => blocks_text(c),
                _ => String::new(),
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Header checks shared by every Anthropic endpoint: `x-api-key` (required;
/// compared when a key is expected) and `anthropic-version` (required).
fn check_headers(ctx: &Ctx, wire: &Anthropic) -> Option<Response> {
    let key = ctx.header("x-api-key");
    match (key, ctx.shared.expected_key()) {
        (None, _) => {
            return Some(wire.fail(StatusCode::UNAUTHORIZED, "x-api-key header is required"));
        }
        (Some(k), Some(expected)) if k != expected => {
            return Some(wire.fail(StatusCode::UNAUTHORIZED, "invalid x-api-key"));
        }
        _ => {}
    }
    if ctx.header("anthropic-version").is_none() {
        return Some(wire.fail(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        ));
    }
    None
}

/// Prompt tokens and last user text of a Messages request body.
fn count_prompt(body: &Value, messages: &[Value]) -> (u64, String) {
    let mut prompt = 0;
    if let Some(system) = body.get("system") {
        let text = blocks_text(system);
        if !text.is_empty() {
            prompt += words(&text) + TOKENS_PER_MESSAGE;
        }
    }
    let mut last_user = String::new();
    for m in messages {
        let text = m.get("content").map(blocks_text).unwrap_or_default();
        prompt += words(&text) + TOKENS_PER_MESSAGE;
        if m.get("role").and_then(Value::as_str) == Some("user") {
            last_user = text;
        }
    }
    (prompt, last_user)
}

/// Validates a Messages body; `needs_max_tokens` is false for count_tokens.
fn validate<'a>(
    ctx: &'a Ctx,
    wire: &Anthropic,
    needs_max_tokens: bool,
) -> Result<(&'a Value, &'a [Value]), Box<Response>> {
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        let msg = if ctx.has_body {
            "There was an issue with your request body: invalid JSON"
        } else {
            "request body is required"
        };
        return Err(Box::new(wire.fail(StatusCode::BAD_REQUEST, msg)));
    };
    if body.get("model").and_then(Value::as_str).is_none() {
        return Err(Box::new(
            wire.fail(StatusCode::BAD_REQUEST, "model: Field required"),
        ));
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err(Box::new(
            wire.fail(StatusCode::BAD_REQUEST, "messages: Field required"),
        ));
    };
    if needs_max_tokens && body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return Err(Box::new(
            wire.fail(StatusCode::BAD_REQUEST, "max_tokens: Field required"),
        ));
    }
    Ok((body, messages))
}

/// `POST /v1/messages`.
pub(crate) async fn messages(ctx: &Ctx) -> Response {
    let wire = Anthropic::new(ctx.shared.next_seq());
    if let Some(resp) = check_headers(ctx, &wire) {
        return resp;
    }
    let (body, messages) = match validate(ctx, &wire, true) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let (prompt, last_user) = count_prompt(body, messages);
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-fake")
        .to_string();
    let mut call = ctx.new_call(wire.seq, model, prompt, &last_user);
    call.max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

/// Vertex AI's `…/publishers/anthropic/models/{model}:rawPredict` and `:streamRawPredict`: the
/// Messages body without `model` and with `anthropic_version: "vertex-2023-10-16"` in it (the
/// caller has checked the bearer token).
pub(crate) async fn vertex_raw_predict(ctx: &Ctx, model: &str, streaming_method: bool) -> Response {
    let wire = Anthropic::new(ctx.shared.next_seq());
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        return wire.fail(StatusCode::BAD_REQUEST, "request body is required");
    };
    if body.get("anthropic_version").and_then(Value::as_str) != Some("vertex-2023-10-16") {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "anthropic_version: Input should be 'vertex-2023-10-16'",
        );
    }
    if body.get("model").is_some() {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "model: Extra inputs are not permitted",
        );
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return wire.fail(StatusCode::BAD_REQUEST, "messages: Field required");
    };
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return wire.fail(StatusCode::BAD_REQUEST, "max_tokens: Field required");
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if stream != streaming_method {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "stream must be true with streamRawPredict and absent with rawPredict",
        );
    }
    let (prompt, last_user) = count_prompt(body, messages);
    let mut call = ctx.new_call(wire.seq, model.to_owned(), prompt, &last_user);
    call.max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}`; pops no behaviour.
pub(crate) fn count_tokens(ctx: &Ctx) -> Response {
    let wire = Anthropic::new(ctx.shared.next_seq());
    if let Some(resp) = check_headers(ctx, &wire) {
        return resp;
    }
    match validate(ctx, &wire, false) {
        Ok((body, messages)) => {
            let (prompt, _) = count_prompt(body, messages);
            json_response(&wire, StatusCode::OK, &json!({"input_tokens": prompt}))
        }
        Err(resp) => *resp,
    }
}

/// `GET /v1/models` with Anthropic headers.
pub(crate) fn models(ctx: &Ctx) -> Response {
    let wire = Anthropic::new(ctx.shared.next_seq());
    if let Some(resp) = check_headers(ctx, &wire) {
        return resp;
    }
    let data: Vec<Value> = [
        (
            "claude-sonnet-4-5",
            "Claude Sonnet 4.5",
            "2025-09-29T00:00:00Z",
        ),
        (
            "claude-haiku-4-5",
            "Claude Haiku 4.5",
            "2025-10-01T00:00:00Z",
        ),
    ]
    .iter()
    .map(
        |(id, name, at)| json!({"type": "model", "id": id, "display_name": name, "created_at": at}),
    )
    .collect();
    let doc = json!({
        "data": data,
        "has_more": false,
        "first_id": "claude-sonnet-4-5",
        "last_id": "claude-haiku-4-5"
    });
    json_response(&wire, StatusCode::OK, &doc)
}
