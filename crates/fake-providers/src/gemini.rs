//! Google Gemini API (Generative Language, `v1beta`): generateContent,
//! streamGenerateContent (SSE with `alt=sse`, a streamed JSON array
//! without), embedContent, batchEmbedContents, countTokens and model listing.
//!
//! Gemini's stream has no terminal sentinel: the last chunk is the one with
//! `finishReason`, and every chunk repeats cumulative `usageMetadata`. Its
//! method sits after a colon in the last path segment (`models/x:generateContent`).

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::respond::{Ctx, deliver_json, json_response, respond_chat, start_delay};
use crate::text::{EMBEDDING_DIMS, TOKENS_PER_MESSAGE, embedding, words};
use crate::wire::{Call, Ev, Finish, Framing, Wire};

/// The Gemini wire format for one request.
pub(crate) struct Gemini {
    seq: u64,
    framing: Framing,
}

fn status_name(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        500..=599 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

impl Gemini {
    pub(crate) fn new(seq: u64, framing: Framing) -> Self {
        Gemini { seq, framing }
    }

    fn fail(&self, status: StatusCode, message: &str) -> Response {
        json_response(self, status, &self.error_body(status, message, self.seq))
    }

    fn usage(&self, call: &Call, candidates: u64) -> Value {
        let prompt = call.prompt_including_cache();
        let mut u = json!({
            "promptTokenCount": prompt,
            "candidatesTokenCount": candidates,
            "totalTokenCount": prompt + candidates,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
        });
        if call.cached_tokens > 0 {
            u["cachedContentTokenCount"] = json!(call.cached_tokens);
            u["cacheTokensDetails"] =
                json!([{"modality": "TEXT", "tokenCount": call.cached_tokens}]);
        }
        u
    }

    fn finish_reason(finish: Finish) -> &'static str {
        match finish {
            Finish::Length => "MAX_TOKENS",
            Finish::Stop | Finish::ToolCall => "STOP",
        }
    }

    fn response_doc(&self, call: &Call, part: Value, finish: Option<Finish>, tokens: u64) -> Value {
        let mut candidate = json!({
            "content": {"parts": [part], "role": "model"},
            "index": 0
        });
        if let Some(f) = finish {
            candidate["finishReason"] = json!(Self::finish_reason(f));
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": self.usage(call, tokens),
            "modelVersion": call.model,
            "responseId": format!("fake-resp-{:06}", call.seq)
        })
    }
}

impl Wire for Gemini {
    fn error_body(&self, status: StatusCode, message: &str, _seq: u64) -> Value {
        json!({"error": {
            "code": status.as_u16(),
            "message": message,
            "status": status_name(status.as_u16())
        }})
    }

    fn framing(&self) -> Framing {
        self.framing
    }

    fn full_text(&self, call: &Call, text: &str, finish: Finish, tokens: u64) -> Value {
        self.response_doc(call, json!({"text": text}), Some(finish), tokens)
    }

    fn full_tool(&self, call: &Call, name: &str, args: &Value, tokens: u64) -> Value {
        let part = json!({"functionCall": {"name": name, "args": args}});
        self.response_doc(call, part, Some(Finish::ToolCall), tokens)
    }

    fn open_text(&self, _call: &Call) -> Vec<Ev> {
        Vec::new()
    }

    fn text_piece(&self, call: &Call, piece: &str, so_far: u64, last: Option<Finish>) -> Vec<Ev> {
        vec![Ev::Json(
            None,
            self.response_doc(call, json!({"text": piece}), last, so_far),
        )]
    }

    fn close_text(&self, call: &Call, finish: Finish, tokens: u64, marked: bool) -> Vec<Ev> {
        if marked {
            Vec::new()
        } else {
            vec![Ev::Json(
                None,
                self.response_doc(call, json!({"text": ""}), Some(finish), tokens),
            )]
        }
    }

    fn tool_stream(&self, call: &Call, name: &str, args: &Value, tokens: u64) -> Vec<Ev> {
        vec![Ev::Json(None, self.full_tool(call, name, args, tokens))]
    }

    fn after_malformed(&self, _call: &Call) -> Vec<Ev> {
        Vec::new()
    }
}

/// Joined `text` of a `Content` object's parts.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        _ => content
            .get("parts")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
    }
}

/// Checks `x-goog-api-key` or `?key=` when a key is expected (on Vertex AI's paths the bearer
/// token was checked before).
fn check_auth(ctx: &Ctx, wire: &Gemini) -> Option<Response> {
    if ctx.path.contains("/publishers/google/") {
        return None;
    }
    let expected = ctx.shared.expected_key()?;
    let given = ctx
        .header("x-goog-api-key")
        .map(str::to_string)
        .or_else(|| ctx.query_param("key"));
    if given.as_deref() == Some(expected.as_str()) {
        return None;
    }
    let doc = json!({"error": {
        "code": 401,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "UNAUTHENTICATED",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}
        }]
    }});
    Some(json_response(wire, StatusCode::UNAUTHORIZED, &doc))
}

fn json_body<'a>(ctx: &'a Ctx, wire: &Gemini) -> Result<&'a Value, Box<Response>> {
    ctx.body.as_ref().filter(|b| b.is_object()).ok_or_else(|| {
        Box::new(wire.fail(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received. Unable to parse request body.",
        ))
    })
}

/// Prompt tokens and last user text of a GenerateContentRequest.
fn count_prompt(body: &Value, contents: &[Value]) -> (u64, String) {
    let mut prompt = 0;
    if let Some(sys) = body
        .get("systemInstruction")
        .or_else(|| body.get("system_instruction"))
    {
        let text = content_text(sys);
        if !text.is_empty() {
            prompt += words(&text) + TOKENS_PER_MESSAGE;
        }
    }
    let mut last_user = String::new();
    for c in contents {
        let text = content_text(c);
        prompt += words(&text) + TOKENS_PER_MESSAGE;
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        if role == "user" {
            last_user = text;
        }
    }
    (prompt, last_user)
}

/// `POST …/models/{model}:generateContent` and `:streamGenerateContent`.
async fn generate(ctx: &Ctx, model: &str, stream: bool) -> Response {
    let framing = if ctx.query_param("alt").as_deref() == Some("sse") {
        Framing::SseCrlf
    } else {
        Framing::JsonArray
    };
    let wire = Gemini::new(ctx.shared.next_seq(), framing);
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let body = match json_body(ctx, &wire) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let contents = match body.get("contents").and_then(Value::as_array) {
        Some(c) if !c.is_empty() => c,
        _ => {
            return wire.fail(
                StatusCode::BAD_REQUEST,
                "* GenerateContentRequest.contents: contents is not specified\n",
            );
        }
    };
    // Vertex AI (unlike AI Studio) wants every content's role, and only these two.
    if ctx.path.contains("/publishers/google/")
        && contents.iter().any(|c| {
            !matches!(
                c.get("role").and_then(Value::as_str),
                Some("user" | "model")
            )
        })
    {
        return wire.fail(
            StatusCode::BAD_REQUEST,
            "Unable to submit request because Please use a valid role: user, model.. Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini",
        );
    }
    let (prompt, last_user) = count_prompt(body, contents);
    let mut call = ctx.new_call(wire.seq, model.to_string(), prompt, &last_user);
    call.max_tokens = body
        .pointer("/generationConfig/maxOutputTokens")
        .or_else(|| body.pointer("/generation_config/max_output_tokens"))
        .and_then(Value::as_u64);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

fn dims_of(v: &Value) -> usize {
    v.get("outputDimensionality")
        .or_else(|| v.get("output_dimensionality"))
        .and_then(Value::as_u64)
        .map_or(EMBEDDING_DIMS, |d| d.clamp(1, 4096) as usize)
}

/// `POST …:embedContent` and `POST …:batchEmbedContents`.
async fn embed(ctx: &Ctx, batch: bool) -> Response {
    let wire = Gemini::new(ctx.shared.next_seq(), Framing::SseCrlf);
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let body = match json_body(ctx, &wire) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let one = |req: &Value| -> Option<Value> {
        let content = req.get("content")?;
        let v = embedding(&content_text(content), dims_of(req));
        Some(json!({"values": v}))
    };
    let doc = if batch {
        let Some(reqs) = body.get("requests").and_then(Value::as_array) else {
            return wire.fail(
                StatusCode::BAD_REQUEST,
                "* BatchEmbedContentsRequest.requests: requests is not specified\n",
            );
        };
        let embeddings: Option<Vec<Value>> = reqs.iter().map(one).collect();
        match embeddings {
            Some(e) => json!({"embeddings": e}),
            None => {
                return wire.fail(
                    StatusCode::BAD_REQUEST,
                    "* BatchEmbedContentsRequest.requests[].content: content is not specified\n",
                );
            }
        }
    } else {
        match one(body) {
            Some(e) => json!({"embedding": e}),
            None => {
                return wire.fail(
                    StatusCode::BAD_REQUEST,
                    "* EmbedContentRequest.content: content is not specified\n",
                );
            }
        }
    };
    let behavior = ctx
        .shared
        .next_embedding_behavior()
        .unwrap_or_else(|| Behavior::reply(""));
    deliver_json(&wire, ctx, &behavior, start_delay(&behavior), doc, wire.seq).await
}

/// Vertex AI's `…/publishers/google/models/{model}:predict` for text embeddings:
/// `{"instances": [{"content": …}]}` → `{"predictions": [{"embeddings": {"values": […]}}]}`.
pub(crate) async fn vertex_predict(ctx: &Ctx) -> Response {
    let wire = Gemini::new(ctx.shared.next_seq(), Framing::SseCrlf);
    let body = match json_body(ctx, &wire) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let Some(instances) = body.get("instances").and_then(Value::as_array) else {
        return wire.fail(StatusCode::BAD_REQUEST, "instances is required");
    };
    let predictions: Vec<Value> = instances
        .iter()
        .map(|i| {
            let text = i.get("content").and_then(Value::as_str).unwrap_or_default();
            json!({"embeddings": {
                "values": embedding(text, EMBEDDING_DIMS),
                "statistics": {"token_count": words(text), "truncated": false}
            }})
        })
        .collect();
    let doc = json!({"predictions": predictions});
    let behavior = ctx
        .shared
        .next_embedding_behavior()
        .unwrap_or_else(|| Behavior::reply(""));
    deliver_json(&wire, ctx, &behavior, start_delay(&behavior), doc, wire.seq).await
}

/// `POST …:countTokens`: `{"totalTokens": N}`; pops no behaviour.
fn count_tokens(ctx: &Ctx) -> Response {
    let wire = Gemini::new(ctx.shared.next_seq(), Framing::SseCrlf);
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let body = match json_body(ctx, &wire) {
        Ok(b) => b,
        Err(resp) => return *resp,
    };
    let req = body.get("generateContentRequest").unwrap_or(body);
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (prompt, _) = count_prompt(req, contents);
    let doc = json!({
        "totalTokens": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
    });
    json_response(&wire, StatusCode::OK, &doc)
}

/// Dispatches `POST …/models/{model}:{method}`.
pub(crate) async fn model_method(ctx: &Ctx, model: &str, method: &str) -> Response {
    match method {
        "generateContent" => generate(ctx, model, false).await,
        "streamGenerateContent" => generate(ctx, model, true).await,
        "embedContent" => embed(ctx, false).await,
        "batchEmbedContents" => embed(ctx, true).await,
        "countTokens" => count_tokens(ctx),
        _ => {
            let wire = Gemini::new(ctx.shared.next_seq(), Framing::SseCrlf);
            wire.fail(
                StatusCode::NOT_FOUND,
                &format!("Method not found: models/{model}:{method}"),
            )
        }
    }
}

const MODELS: &[(&str, &str, &[&str])] = &[
    (
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        &["generateContent", "countTokens"],
    ),
    (
        "gemini-2.0-flash",
        "Gemini 2.0 Flash",
        &["generateContent", "countTokens"],
    ),
    (
        "text-embedding-004",
        "Text Embedding 004",
        &["embedContent"],
    ),
];

/// `GET /v1beta/models` and `GET /v1beta/models/{model}`.
pub(crate) fn models(ctx: &Ctx, id: Option<&str>) -> Response {
    let wire = Gemini::new(ctx.shared.next_seq(), Framing::SseCrlf);
    if let Some(resp) = check_auth(ctx, &wire) {
        return resp;
    }
    let entry = |(id, name, methods): &(&str, &str, &[&str])| {
        json!({
            "name": format!("models/{id}"),
            "version": "001",
            "displayName": name,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": methods
        })
    };
    match id {
        None => {
            let list: Vec<Value> = MODELS.iter().map(entry).collect();
            json_response(&wire, StatusCode::OK, &json!({"models": list}))
        }
        Some(id) => match MODELS.iter().find(|m| m.0 == id) {
            Some(m) => json_response(&wire, StatusCode::OK, &entry(m)),
            None => wire.fail(
                StatusCode::NOT_FOUND,
                &format!("models/{id} is not found for API version v1beta, or is not supported for generateContent."),
            ),
        },
    }
}
