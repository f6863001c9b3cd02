//! The test-control endpoints, for tests written in other languages (the SDK tests in Python and
//! JavaScript) that cannot call [`crate::FakeServer`]'s methods: `POST /__fake/push` queues
//! behaviours given as JSON, `GET /__fake/last` returns the last model request. Control requests
//! are not recorded and pop nothing.
//!
//! Behaviours as JSON: `{"reply": "text"}`, `{"chunks": ["a", "b"]}`,
//! `{"tool_call": {"name": "f", "arguments": {…}}}`, `{"status": 503, "message": "…"}`,
//! `{"rate_limited": 1}` (Retry-After seconds), `{"drop_mid_stream": 2}`, `{"malformed": true}`.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use crate::behavior::Behavior;
use crate::state::Shared;

pub(crate) const PREFIX: &str = "/__fake/";

/// A behaviour from its JSON form.
pub fn behavior_from_json(v: &Value) -> Result<Behavior, String> {
    let o = v.as_object().ok_or("a behaviour is a JSON object")?;
    if let Some(text) = o.get("reply").and_then(Value::as_str) {
        return Ok(Behavior::reply(text));
    }
    if let Some(Value::Array(pieces)) = o.get("chunks") {
        let pieces: Vec<String> = pieces
            .iter()
            .map(|p| p.as_str().map(str::to_owned).ok_or("chunks are strings"))
            .collect::<Result<_, _>>()?;
        return Ok(Behavior::chunks(pieces, Duration::ZERO, Duration::ZERO));
    }
    if let Some(call) = o.get("tool_call") {
        let name = call
            .get("name")
            .and_then(Value::as_str)
            .ok_or("tool_call needs a name")?;
        return Ok(Behavior::tool_call(
            name,
            call.get("arguments").cloned().unwrap_or(json!({})),
        ));
    }
    if let Some(status) = o.get("status").and_then(Value::as_u64) {
        let message = o
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("fake error");
        return Ok(Behavior::status(status as u16, message));
    }
    if let Some(secs) = o.get("rate_limited").and_then(Value::as_u64) {
        return Ok(Behavior::rate_limited(secs));
    }
    if let Some(n) = o.get("drop_mid_stream").and_then(Value::as_u64) {
        return Ok(Behavior::DropMidStream {
            chunks_before: n as usize,
        });
    }
    if o.get("malformed").and_then(Value::as_bool) == Some(true) {
        return Ok(Behavior::Malformed);
    }
    Err(format!("unknown behaviour {v}"))
}

pub(crate) fn handle(
    shared: &Arc<Shared>,
    post: bool,
    path: &str,
    body: Option<&Value>,
) -> Response {
    let action = &path[PREFIX.len()..];
    match (post, action) {
        (true, "push") => {
            let list = match body {
                Some(Value::Array(list)) => list.clone(),
                Some(one @ Value::Object(_)) => vec![one.clone()],
                _ => return bad("POST /__fake/push takes a behaviour or a list of them"),
            };
            let behaviours: Result<Vec<Behavior>, String> =
                list.iter().map(behavior_from_json).collect();
            match behaviours {
                Ok(bs) => {
                    let n = bs.len();
                    for b in bs {
                        shared.push(b);
                    }
                    json_response(json!({"queued": n}))
                }
                Err(e) => bad(&e),
            }
        }
        (false, "last") => match shared.requests().pop() {
            Some(r) => json_response(json!({
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "headers": r.headers,
                "body": r.body,
            })),
            None => (StatusCode::NOT_FOUND, "no request yet").into_response(),
        },
        _ => (StatusCode::NOT_FOUND, "unknown control endpoint").into_response(),
    }
}

fn json_response(v: Value) -> Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_parse_from_json() {
        assert!(matches!(
            behavior_from_json(&json!({"reply": "hi"})),
            Ok(Behavior::Reply { .. })
        ));
        assert!(matches!(
            behavior_from_json(&json!({"tool_call": {"name": "f", "arguments": {"a": 1}}})),
            Ok(Behavior::ToolCall { .. })
        ));
        assert!(matches!(
            behavior_from_json(&json!({"status": 503})),
            Ok(Behavior::Status { status: 503, .. })
        ));
        assert!(behavior_from_json(&json!({"frobnicate": 1})).is_err());
    }
}
