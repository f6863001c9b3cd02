//! Errors in OpenAI's JSON shape (`{"error": {"message", "type", "code", "param"}}`) with the
//! right HTTP status, so OpenAI SDKs raise their usual exceptions.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let kind = match status.as_u16() {
            400 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            408 | 504 => "timeout_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            _ if status.is_server_error() => "upstream_error",
            _ => "invalid_request_error",
        };
        ApiError {
            status,
            kind,
            code: Some(code.to_owned()),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "invalid_request", message)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message, "type": self.kind, "code": self.code, "param": null}});
        let mut response = (self.status, axum::Json(body)).into_response();
        for (k, v) in self.headers {
            if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
                response.headers_mut().insert(k, v);
            }
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, code) = match &e {
            Error::PromptNotFound(_) => (404, "prompt_not_found"),
            Error::VersionNotFound { .. } => (404, "version_not_found"),
            Error::LabelNotFound { .. } => (404, "label_not_found"),
            Error::MissingVariables(_) => (400, "missing_variables"),
            Error::UnknownPartial(_) | Error::PartialCycle(_) | Error::Render { .. } => {
                (400, "render_failed")
            }
            Error::InvalidVariables(_) | Error::InvalidFeedback(_) => (400, "invalid_request"),
            Error::InvalidSchema { .. } | Error::InvalidToolUse(_) => (400, "invalid_request"),
            Error::Image(_) => (400, "invalid_image"),
            Error::TraceNotFound(_) => (404, "trace_not_found"),
            Error::KeyNotFound(_) => (404, "virtual_key_not_found"),
            Error::Json(_) => (400, "invalid_json"),
            _ => (500, "internal_error"),
        };
        if status == 500 {
            // The details (file paths, SQL) stay in the gateway's log; the caller gets an id to
            // quote.
            let id = crate::ids::new_id("err");
            tracing::error!(error = %e, error_id = %id, "gateway request failed");
            return ApiError::new(
                500,
                code,
                format!(
                    "Portolan could not complete the request because of an internal error ({id}); the gateway's log has the details"
                ),
            );
        }
        ApiError::new(status, code, e.to_string())
    }
}
