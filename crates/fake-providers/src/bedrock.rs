//! AWS Bedrock runtime: `POST /model/{modelId}/converse` (JSON) and `/converse-stream` (AWS's
//! binary event-stream framing).
//!
//! When credentials are expected ([`crate::FakeServer::expect_aws`]) every request's SigV4
//! signature is recomputed with AWS's own signing crate from what arrived (method, path, signed
//! headers, the body's exact bytes, the date it names) and compared, as AWS does; errors carry
//! their kind in `x-amzn-ErrorType` and a `{"message"}` body.

use std::time::{Duration, SystemTime};

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::respond::{Ctx, json_response, respond_chat};
use crate::state::AwsExpected;
use crate::text::{TOKENS_PER_MESSAGE, words};
use crate::wire::{Call, Ev, Finish, Framing, Wire, argument_pieces};

pub(crate) struct Bedrock {
    seq: u64,
    framing: Framing,
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

impl Bedrock {
    fn fail_as(&self, status: StatusCode, kind: &str, message: &str) -> Response {
        let mut resp = json_response(self, status, &json!({"message": message}));
        if let Ok(v) = http::HeaderValue::from_str(&format!(
            "{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        )) {
            resp.headers_mut().insert("x-amzn-errortype", v);
        }
        resp
    }

    fn stop_reason(finish: Finish) -> &'static str {
        match finish {
            Finish::Stop => "end_turn",
            Finish::Length => "max_tokens",
            Finish::ToolCall => "tool_use",
        }
    }

    fn usage(call: &Call, output: u64) -> Value {
        let input = call.prompt_tokens.saturating_sub(call.cached_tokens);
        json!({
            "inputTokens": input,
            "outputTokens": output,
            "totalTokens": input + call.cached_tokens + output,
            "cacheReadInputTokens": call.cached_tokens,
            "cacheWriteInputTokens": 0
        })
    }

    fn doc(call: &Call, content: Value, finish: Finish, output: u64) -> Value {
        json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": Self::stop_reason(finish),
            "usage": Self::usage(call, output),
            "metrics": {"latencyMs": 42}
        })
    }

    fn end(call: &Call, finish: Finish, output: u64) -> Vec<Ev> {
        vec![
            Ev::Json(Some("contentBlockStop"), json!({"contentBlockIndex": 0})),
            Ev::Json(
                Some("messageStop"),
                json!({"stopReason": Self::stop_reason(finish)}),
            ),
            Ev::Json(
                Some("metadata"),
                json!({"usage": Self::usage(call, output), "metrics": {"latencyMs": 42}}),
            ),
        ]
    }

    fn tool_id(call: &Call) -> String {
        format!("tooluse_fake{:06}", call.seq)
    }
}

impl Wire for Bedrock {
    fn error_body(&self, _status: StatusCode, message: &str, _seq: u64) -> Value {
        json!({"message": message})
    }

    fn request_id_header(&self) -> Option<(&'static str, String)> {
        Some((
            "x-amzn-requestid",
            format!("00000000-0000-4000-8000-{:012}", self.seq),
        ))
    }

    fn error_type_header(&self, status: StatusCode) -> Option<(&'static str, String)> {
        Some(("x-amzn-errortype", error_type(status.as_u16()).to_owned()))
    }

    fn framing(&self) -> Framing {
        self.framing
    }

    fn full_text(&self, call: &Call, text: &str, finish: Finish, output: u64) -> Value {
        Self::doc(call, json!([{"text": text}]), finish, output)
    }

    fn full_tool(&self, call: &Call, name: &str, args: &Value, output: u64) -> Value {
        let block =
            json!({"toolUse": {"toolUseId": Self::tool_id(call), "name": name, "input": args}});
        Self::doc(call, json!([block]), Finish::ToolCall, output)
    }

    fn open_text(&self, _call: &Call) -> Vec<Ev> {
        vec![Ev::Json(Some("messageStart"), json!({"role": "assistant"}))]
    }

    fn text_piece(
        &self,
        _call: &Call,
        piece: &str,
        _so_far: u64,
        _last: Option<Finish>,
    ) -> Vec<Ev> {
        // Real frames carry an undocumented padding field `p`.
        vec![Ev::Json(
            Some("contentBlockDelta"),
            json!({"contentBlockIndex": 0, "delta": {"text": piece}, "p": "abcdefgh"}),
        )]
    }

    fn close_text(&self, call: &Call, finish: Finish, output: u64, _marked: bool) -> Vec<Ev> {
        Self::end(call, finish, output)
    }

    fn tool_stream(&self, call: &Call, name: &str, args: &Value, output: u64) -> Vec<Ev> {
        let mut evs = vec![
            Ev::Json(Some("messageStart"), json!({"role": "assistant"})),
            Ev::Json(
                Some("contentBlockStart"),
                json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": Self::tool_id(call), "name": name}}}),
            ),
        ];
        for piece in argument_pieces(&args.to_string()) {
            evs.push(Ev::Json(
                Some("contentBlockDelta"),
                json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}),
            ));
        }
        evs.extend(Self::end(call, Finish::ToolCall, output));
        evs
    }

    fn after_malformed(&self, call: &Call) -> Vec<Ev> {
        Self::end(call, Finish::Stop, words(&call.default_text).max(1))
    }
}

/// `Credential=AKID/20261204/us-east-1/bedrock/aws4_request, SignedHeaders=a;b, Signature=hex`.
struct Authorization<'a> {
    access_key_id: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let access_key_id = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    let service = scope.next()?;
    Some(Authorization {
        access_key_id,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

/// `20261204T101500Z` → the time it names.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, se) = (n(9..11)?, n(11..13)?, n(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Recomputes the request's signature with `expected` and compares; `Err` is the AWS error.
fn check_signature(
    ctx: &Ctx,
    expected: &AwsExpected,
) -> Result<(), (StatusCode, &'static str, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    let denied =
        |kind: &'static str, message: &str| Err((StatusCode::FORBIDDEN, kind, message.to_owned()));
    let Some(auth) = ctx.header("authorization").and_then(parse_authorization) else {
        return denied(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        );
    };
    if auth.access_key_id != expected.access_key_id || auth.service != "bedrock" {
        return denied(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    }
    if expected.expired {
        return denied(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        );
    }
    if ctx.header("x-amz-security-token") != expected.session_token.as_deref() {
        return denied(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        );
    }
    let Some(time) = ctx.header("x-amz-date").and_then(parse_amz_date) else {
        return denied(
            "InvalidSignatureException",
            "x-amz-date is missing or invalid",
        );
    };
    let host = ctx.header("host").unwrap_or_default().to_owned();
    let uri = format!(
        "http://{host}{}{}",
        ctx.path,
        ctx.query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    );
    let headers: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .filter(|h| **h != "host" && **h != "x-amz-date" && **h != "x-amz-security-token")
        .filter_map(|h| Some((*h, ctx.header(h)?)))
        .collect();
    let identity = aws_credential_types::Credentials::new(
        expected.access_key_id.clone(),
        expected.secret_access_key.clone(),
        expected.session_token.clone(),
        None,
        "fake-bedrock",
    )
    .into();
    let params = match v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name("bedrock")
        .time(time)
        .settings(SigningSettings::default())
        .build()
    {
        Ok(p) => p.into(),
        Err(e) => return denied("InvalidSignatureException", &e.to_string()),
    };
    let signable = match SignableRequest::new(
        ctx.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(&ctx.raw),
    ) {
        Ok(s) => s,
        Err(e) => return denied("InvalidSignatureException", &e.to_string()),
    };
    let signature = match sign(signable, &params) {
        Ok(out) => out.signature().to_owned(),
        Err(e) => return denied("InvalidSignatureException", &e.to_string()),
    };
    if signature != auth.signature {
        return denied(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        );
    }
    Ok(())
}

fn block_text(blocks: &Value) -> String {
    blocks
        .as_array()
        .map(|bs| {
            bs.iter()
                .filter_map(|b| {
                    b.get("text")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .or_else(|| {
                            b.pointer("/toolResult/content/0/text")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// `POST /model/{modelId}/converse` and `/converse-stream`.
pub(crate) async fn converse(ctx: &Ctx, model_id: &str, stream: bool) -> Response {
    let framing = if stream {
        Framing::EventStream
    } else {
        Framing::Sse
    };
    let wire = Bedrock {
        seq: ctx.shared.next_seq(),
        framing,
    };
    if let Some(expected) = ctx.shared.expected_aws()
        && let Err((status, kind, message)) = check_signature(ctx, &expected)
    {
        return wire.fail_as(status, kind, &message);
    }
    let Some(body) = ctx.body.as_ref().filter(|b| b.is_object()) else {
        return wire.fail_as(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "Unable to parse request body",
        );
    };
    if body.get("model").is_some() || body.get("max_tokens").is_some() {
        return wire.fail_as(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Malformed input request: extraneous key [model/max_tokens] is not permitted",
        );
    }
    let Some(messages) = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return wire.fail_as(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "The model returned the following errors: messages: at least one message is required",
        );
    };
    let mut prompt = 0;
    if let Some(system) = body.get("system") {
        let text = block_text(system);
        if !text.is_empty() {
            prompt += words(&text) + TOKENS_PER_MESSAGE;
        }
    }
    let mut last_user = String::new();
    for m in messages {
        if !matches!(
            m.get("role").and_then(Value::as_str),
            Some("user" | "assistant")
        ) {
            return wire.fail_as(
                StatusCode::BAD_REQUEST,
                "ValidationException",
                "1 validation error detected: Value at 'messages.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
            );
        }
        let text = m.get("content").map(block_text).unwrap_or_default();
        prompt += words(&text) + TOKENS_PER_MESSAGE;
        if m.get("role").and_then(Value::as_str) == Some("user") {
            last_user = text;
        }
    }
    let mut call = ctx.new_call(wire.seq, model_id.to_owned(), prompt, &last_user);
    call.max_tokens = body
        .pointer("/inferenceConfig/maxTokens")
        .and_then(Value::as_u64);
    let behavior = ctx
        .shared
        .next_behavior()
        .unwrap_or_else(|| Behavior::reply(call.default_text.clone()));
    respond_chat(&wire, ctx, call, stream, behavior).await
}

/// The model id of a `/model/{id}/{action}` path, percent-decoded.
pub(crate) fn decode_model_id(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&encoded[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_and_model_ids_decode() {
        let t = parse_amz_date("20261204T101500Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_796_379_300);
        assert_eq!(
            decode_model_id("us.anthropic.claude-sonnet-4-6%3A0"),
            "us.anthropic.claude-sonnet-4-6:0"
        );
        assert_eq!(decode_model_id("a%2Fb"), "a/b");
    }
}
