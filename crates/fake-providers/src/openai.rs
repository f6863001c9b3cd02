//! OpenAI Chat Completions, Embeddings and Models, plus the Azure OpenAI
//! flavour of the same API.
//!
//! Azure serves the OpenAI body format under
//! `/openai/deployments/{deployment}/…?api-version=…` with `api-key` auth, its
//! own `{"error":{"code","message"}}` error shape and content-filter
//! annotations (including the choice-less first stream chunk), so both are
//! one [`Wire`] with an `azure` switch.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::respond::{Ctx, deliver_json, json_response, respond_chat, start_delay};
use crate::text::{EMBEDDING_DIMS, TOKENS_PER_MESSAGE, base64_f32, embedding, words};
use crate::wire::{Call, Ev, Finish, Framing, Wire, argument_pieces};

/// The OpenAI (or Azure OpenAI) wire format for one request.
pub(crate) struct OpenAi {
    azure: bool,
    seq: u64,
}

impl OpenAi {
    pub(crate) fn new(azure: bool, seq: u64) -> Self {
        OpenAi { azure, seq }
    }

    fn error_doc(
        &self,
        message: &str,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Value {
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
    }

    fn usage(&self, call: &Call, completion: u64) -> Value {
        let prompt = call.prompt_including_cache();
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": call.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    fn id(&self, call: &Call) -> String {
        format!("chatcmpl-fake{:06}", call.seq)
    }

    fn finish_reason(finish: Finish) -> &'static str {
        match finish {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::ToolCall => "tool_calls",
        }
    }

    fn completion_doc(
        &self,
        call: &Call,
        message: Value,
        finish: Finish,
        completion: u64,
    ) -> Value {
        let mut choice = json!({
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": Self::finish_reason(finish)
        });
        let mut doc = json!({
            "id": self.id(call),
            "object": "chat.completion",
            "created": call.created,
            "model": call.model,
            "choices": [],
            "usage": self.usage(call, completion),
            "system_fingerprint": "fp_fake"
        });
        if self.azure {
            choice["content_filter_results"] = content_filter_results();
            doc["prompt_filter_results"] = prompt_filter_results();
        } else {
            doc["service_tier"] = json!("default");
        }
        doc["choices"] = json!([choice]);
        doc
    }

    fn chunk(&self, call: &Call, delta: Value, finish: Option<Finish>) -> Ev {
        let mut doc = json!({
            "id": self.id(call),
            "object": "chat.completion.chunk",
            "created": call.created,
            "model": call.model,
            "system_fingerprint": "fp_fake",
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish.map(Self::finish_reason)
            }]
        });
        if call.include_usage {
            doc["usage"] = Value::Null;
        }
        Ev::Json(None, doc)
    }

    fn opening(&self) -> Vec<Ev> {
        if self.azure {
            vec![Ev::Json(
                None,
                json!({
                    "choices": [],
                    "created": 0,
                    "id": "",
                    "model": "",
                    "object": "",
                    "prompt_filter_results": prompt_filter_results()
                }),
            )]
        } else {
            Vec::new()
        }
    }

    fn closing(&self, call: &Call, finish: Finish, completion: u64) -> Vec<Ev> {
        let mut evs = vec![self.chunk(call, json!({}), Some(finish))];
        if call.include_usage {
            evs.push(Ev::Json(
                None,
                json!({
                    "id": self.id(call),
                    "object": "chat.completion.chunk",
                    "created": call.created,
                    "model": call.model,
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": self.usage(call, completion)
                }),
            ));
        }
        evs.push(Ev::Done);
        evs
    }
}

fn filter_categories() -> Value {
    let safe = json!({"filtered": false, "severity": "safe"});
    json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe})
}

fn content_filter_results() -> Value {
    filter_categories()
}

fn prompt_filter_results() -> Value {
    json!([{"prompt_index": 0, "content_filter_results": filter_categories()}])
}

impl Wire for OpenAi {
    fn error_body(&self, status: StatusCode, message: &str, _seq: u64) -> Value {
        if self.azure {
            return json!({"error": {"code": status.as_u16().to_string(), "message": message}});
        }
        let (kind, code) = match status.as_u16() {
            401 => ("invalid_request_error", Some("invalid_api_key")),
            403 => ("request_forbidden", None),
            429 => ("requests", Some("rate_limit_exceeded")),
            500..=599 => ("server_error", None),
            _ => ("invalid_request_error", None),
        };
        self.error_doc(message, kind, None, code)
    }

    fn request_id_header(&self) -> Option<(&'static str, String)> {
        Some(("x-request-id", format!("req_fake{:06}", self.seq)))
    }

    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn full_text(&self, call: &Call, text: &str, finish: Finish, completion: u64) -> Value {
        let message =
            json!({"role": "assistant", "content": text, "refusal": null, "annotations": []});
        self.completion_doc(call, message, finish, completion)
    }

    fn full_tool(&self, call: &Call, name: &str, args: &Value, completion: u64) -> Value {
        let message = json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": format!("call_fake{:06}", call.seq),
                "type": "function",
                "function": {"name": name, "arguments": args.to_string()}
            }],
            "refusal": null,
            "annotations": []
        });
        self.completion_doc(call, message, Finish::ToolCall, completion)
    }

    fn open_text(&self, call: &Call) -> Vec<Ev> {
        let mut evs = self.opening();
        evs.push(self.chunk(
            call,
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
        ));
        evs
    }

    fn text_piece(&self, call: &Call, piece: &str, _so_far: u64, _last: Option<Finish>) -> Vec<Ev> {
        vec![self.chunk(call, json!({"content": piece}), None)]
    }

    fn close_text(&self, call: &Call, finish: Finish, completion: u64, _marked: bool) -> Vec<Ev> {
        self.closing(call, finish, completion)
    }

    fn tool_stream(&self, call: &Call, name: &str, args: &Value, completion: u64) -> Vec<Ev> {
        let mut evs = self.opening();
        evs.push(self.chunk(
            call,
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "index": 0,
                    "id": format!("call_fake{:06}", call.seq),
                    "type": "function",
                    "function": {"name": name, "arguments": ""}
                }],
                "refusal": null
            }),
            None,
        ));
        for piece in argument_pieces(&args.to_string()) {
            evs.push(self.chunk(
                call,
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                None,
            ));
        }
        evs.extend(self.closing(call, Finish::ToolCall, completion));
        evs
    }

    fn after_malformed(&self, _call: &Call) -> Vec<Ev> {
        vec![Ev::Done]
    }
}

/// Text of an OpenAI message `content`: a string, or an array of parts whose
/// `text` fields are joined.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Checks the key if one is expected: `Authorization: Bearer KEY`, or for
/// Azure `api-key: KEY` (Azure also accepts a bearer token).
fn check_auth(ctx: &Ctx, wire: &OpenAi, azure: bool) -> Option<Response> {
    let expected = ctx.shared.expected_key()?;
    let bearer = ctx
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let given = if azure {
        ctx.header("api-key").or(bearer)
    } else {
        bearer
    };
    if given == Some(expected.as_str()) {
        return None;
    }
    let doc = if azure {
        json!({"error": {
            "code": "401",
            "message": "Access denied due to invalid subscription key or wrong API endpoint. \
                        Make sure to provide a valid key for an active subscription and use a \
                        correct regional API endpoint for your resource."
        }})
    } else {
        match given {
            None => wire.error_doc(
                "You didn't provide an API key. You need to provide your API key in an \
                 Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
                None,
                None,
            ),
            Some(key) => wire.error_doc(
                &format!(
                    "Incorrect API key provided: {}. You can find your API key at \
                     https://platform.openai.com/account/api-keys.",
                    redact(key)
                ),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        }
    };
    Some(json_response(wire, StatusCode::UNAUTHORIZED, &doc))
}

/// `sk-abc…wxyz` style redaction as OpenAI prints keys.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Azure's 400 for a missing `api-version` query parameter.
fn check_api_version(ctx: &Ctx, wire: &OpenAi) -> Option<Response> {
    if ctx
        .query_param("api-version")
        .is_some_and(|v| !v.is_empty())
    {
        return None;
    }
    let doc = json!({"error": {
        "code": "BadRequest",
        "message": "Missing required query parameter: api-version"
    }});
    Some(json_response(wire, StatusCode::BAD_REQUEST, &doc))
}

fn bad_request(wire: &OpenAi, message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    let doc = if wire.azure {
        json!({"error": {"code": "BadRequest", "message": message, "param": param, "type": "invalid_request_error"}})
    } else {
        wire.error_doc(message, "invalid_request_error", param, code)
    };
    json_response(wire, StatusCode::BAD_REQUEST, &doc)
}

const BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely \
    means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
    but what was sent was not valid JSON.)";

/// Common request checks; returns the wire and the JSON body, or an error.
fn prelude<'a>(
    ctx: &'a Ctx,
    deployment: Option<&str>,
) -> Result<(OpenAi, &'a Value), Box<Response>> {
    let azure = deployment.is_some();
    let wire = OpenAi::new(azure, ctx.shared.next_seq());
    if azure && let Some(resp) = check_api_version(ctx, &wire) {
        return Err(Box::new(resp));
    }
    if let Some(resp) = check_auth(ctx, &wire, azure) {
        return Err(Box::new(resp));
    }
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        return Err(Box::new(bad_request(&wire, BAD_JSON, None, None)));
    };
    if !azure && body.get("model").and_then(Value::as_str).is_none() {
        return Err(Box::new(bad_request(
            &wire,
            "you must provide a model parameter",
            None,
            None,
        )));
    }
    Ok((wire, body))
}

fn model_of(body: &Value, deployment: Option<&str>) -> String {
    body.get("model")
        .and_then(Value::as_str)
        .or(deployment)
        .unwrap_or("gpt-fake")
        .to_string()
}

/// `POST …/chat/completions` (OpenAI and OpenAI-compatible prefixes) and
/// `POST /openai/deployments/{deployment}/chat/completions` (Azure).
pub(crate) async fn chat(ctx: &Ctx, deployment: Option<&str>) -> Response {
    let (wire, body) = match prelude(ctx, deployment) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return bad_request(
            &wire,
            "Missing required parameter: 'messages'.",
            Some("messages"),
            Some("missing_required_parameter"),
        );
    };
    if messages.is_empty() {
        return bad_request(
            &wire,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        );
    }
    let mut prompt = 0;
    let mut last_user = String::new();
    for m in messages {
        let text = m.get("content").map(content_text).unwrap_or_default();
        prompt += words(&text) + TOKENS_PER_MESSAGE;
        if m.get("role").and_then(Value::as_str) == Some("user") {
            last_user = text;
        }
    }
    let mut call = ctx.new_call(wire.seq, model_of(body, deployment), prompt, &last_user);
    call.max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64);
    call.include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

/// Embedding inputs: a string, an array of strings, a token array or an
/// array of token arrays. Each entry is `(text to embed, token count)`.
fn embedding_inputs(input: &Value) -> Option<Vec<(String, u64)>> {
    let tokens_text = |arr: &[Value]| -> Option<(String, u64)> {
        let ids: Option<Vec<u64>> = arr.iter().map(Value::as_u64).collect();
        let ids = ids?;
        let text = ids.iter().map(|t| format!("tok{t}")).collect::<Vec<_>>();
        Some((text.join(" "), ids.len() as u64))
    };
    match input {
        Value::String(s) => Some(vec![(s.clone(), words(s))]),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_string) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| (s.to_string(), words(s)))
                .collect(),
        ),
        Value::Array(items) if items.iter().all(Value::is_u64) => Some(vec![tokens_text(items)?]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_array().and_then(|a| tokens_text(a)))
            .collect(),
        _ => None,
    }
}

/// `POST …/embeddings` (OpenAI) and
/// `POST /openai/deployments/{deployment}/embeddings` (Azure).
pub(crate) async fn embeddings(ctx: &Ctx, deployment: Option<&str>) -> Response {
    let (wire, body) = match prelude(ctx, deployment) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let Some(input) = body.get("input") else {
        return bad_request(
            &wire,
            "Missing required parameter: 'input'.",
            Some("input"),
            Some("missing_required_parameter"),
        );
    };
    let Some(inputs) = embedding_inputs(input) else {
        return bad_request(
            &wire,
            "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
            Some("input"),
            None,
        );
    };
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(EMBEDDING_DIMS, |d| d.clamp(1, 4096) as usize);
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (text, t))| {
            tokens += t;
            let v = embedding(text, dims);
            let emb = if base64 {
                json!(base64_f32(&v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": emb})
        })
        .collect();
    let doc = json!({
        "object": "list",
        "data": data,
        "model": model_of(body, deployment),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    });
    let behavior = ctx
        .shared
        .next_embedding_behavior()
        .unwrap_or_else(|| Behavior::reply(""));
    deliver_json(&wire, ctx, &behavior, start_delay(&behavior), doc, wire.seq).await
}

/// Models the fake OpenAI claims to serve.
const MODELS: &[(&str, u64, &str)] = &[
    ("gpt-4o", 1_715_367_049, "system"),
    ("gpt-4o-mini", 1_721_172_741, "system"),
    ("gpt-4.1-mini", 1_744_318_173, "system"),
    ("text-embedding-3-small", 1_705_948_997, "system"),
    ("text-embedding-3-large", 1_705_953_180, "system"),
];

/// `GET …/models` and `GET …/models/{id}`.
pub(crate) fn models(ctx: &Ctx, id: Option<&str>) -> Response {
    let wire = OpenAi::new(false, ctx.shared.next_seq());
    if let Some(resp) = check_auth(ctx, &wire, false) {
        return resp;
    }
    let entry = |(id, created, owner): (&str, u64, &str)| json!({"id": id, "object": "model", "created": created, "owned_by": owner});
    match id {
        None => {
            let data: Vec<Value> = MODELS.iter().map(|m| entry(*m)).collect();
            json_response(
                &wire,
                StatusCode::OK,
                &json!({"object": "list", "data": data}),
            )
        }
        Some(id) => match MODELS.iter().find(|m| m.0 == id) {
            Some(m) => json_response(&wire, StatusCode::OK, &entry(*m)),
            None => {
                let doc = wire.error_doc(
                    &format!("The model '{id}' does not exist"),
                    "invalid_request_error",
                    Some("model"),
                    Some("model_not_found"),
                );
                json_response(&wire, StatusCode::NOT_FOUND, &doc)
            }
        },
    }
}

/// The OpenAI-style 404 for an unknown URL.
pub(crate) fn not_found(ctx: &Ctx) -> Response {
    let wire = OpenAi::new(false, ctx.shared.next_seq());
    let doc = wire.error_doc(
        &format!("Invalid URL ({} {})", ctx.method, ctx.path),
        "invalid_request_error",
        None,
        None,
    );
    json_response(&wire, StatusCode::NOT_FOUND, &doc)
}
