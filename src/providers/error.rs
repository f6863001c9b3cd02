//! One failure type for every provider and every step of a call. What the provider itself
//! answered (its status and body) is kept apart from the status Portolan answers with; both,
//! and whether a retry can help, are derived from the failure's kind here and nowhere else.

use std::time::Duration;

use serde::Serialize;

/// Why an attempt (or a call) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The provider answered with an error status (see [`ProviderError::upstream`]).
    Status,
    /// No answer within the request timeout.
    Timeout,
    /// The connection could not be made or broke before an answer.
    Connect,
    /// The answer was not in the provider's format.
    Malformed,
    /// A stream ended (or its connection dropped) before its terminal event.
    Incomplete,
    /// A stream sent nothing for longer than the idle timeout.
    Stalled,
    /// The request cannot be sent as configured (missing key, unknown provider, an option the
    /// provider cannot honour, a bad routing config).
    Config,
    /// A gateway token's scopes do not allow it.
    Forbidden,
    /// A budget of a key or token is spent.
    BudgetExhausted,
    /// A rate limit of a key or token (Portolan's own, not the provider's).
    RateLimited,
    /// A PII guardrail refused the request or the answer.
    Guardrail,
    /// The client went away before the answer was complete.
    ClientClosed,
    /// The answer or the upstream's body was larger than Portolan accepts.
    TooLarge,
    /// Portolan itself failed (its database, a task that stopped).
    Internal,
}

impl FailureKind {
    /// The status recorded for an attempt that failed this way without an upstream status.
    fn nominal_status(self) -> u16 {
        match self {
            FailureKind::Status => 502,
            FailureKind::Timeout => 408,
            FailureKind::Stalled => 504,
            FailureKind::Connect | FailureKind::Malformed | FailureKind::Incomplete => 502,
            FailureKind::Config => 400,
            FailureKind::Forbidden => 403,
            FailureKind::BudgetExhausted => 412,
            FailureKind::RateLimited => 429,
            FailureKind::Guardrail => 446,
            FailureKind::ClientClosed => 499,
            FailureKind::TooLarge => 502,
            FailureKind::Internal => 500,
        }
    }

    /// Failures of the connection or the stream itself, which another try may not meet.
    pub fn is_transport(self) -> bool {
        matches!(
            self,
            FailureKind::Timeout
                | FailureKind::Connect
                | FailureKind::Incomplete
                | FailureKind::Stalled
        )
    }
}

/// What the provider itself answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamReply {
    pub status: u16,
    /// The start of its error body, as it came (after secrets are scrubbed, see the gateway).
    pub body: Option<String>,
}

/// Upstream statuses retried when a config says nothing: Portkey's defaults (429 and the 5xx
/// a retry can cure), plus 408 (the provider's own timeout) and 529 (Anthropic's
/// "overloaded").
pub const DEFAULT_RETRY_STATUS: &[u16] = &[408, 429, 500, 502, 503, 504, 529];

/// One failure, in one shape for every provider.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: FailureKind,
    /// A sentence for people: what failed, and the provider's own words where it gave any.
    pub message: String,
    /// The provider's own answer, when it answered with an error.
    pub upstream: Option<UpstreamReply>,
    #[serde(skip)]
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    fn of(kind: FailureKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            upstream: None,
            retry_after: None,
        }
    }

    /// The provider answered `status`; `body` is the start of what it said.
    pub fn upstream(status: u16, message: impl Into<String>, body: Option<String>) -> Self {
        ProviderError {
            upstream: Some(UpstreamReply { status, body }),
            ..ProviderError::of(FailureKind::Status, message)
        }
    }

    /// A failure of Portolan's own making or refusing (config, scope, budget, guardrail…).
    pub fn refused(kind: FailureKind, message: impl Into<String>) -> Self {
        ProviderError::of(kind, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        ProviderError::of(FailureKind::Config, message)
    }

    /// Portolan's own failure; the details stay in the log, the client sees a general sentence.
    pub fn internal(message: impl Into<String>) -> Self {
        ProviderError::of(FailureKind::Internal, message)
    }

    pub fn timeout(provider: &str, after: Duration) -> Self {
        ProviderError::of(
            FailureKind::Timeout,
            format!("{provider} did not answer within {} ms", after.as_millis()),
        )
    }

    pub fn stalled(provider: &str, after: Duration) -> Self {
        ProviderError::of(
            FailureKind::Stalled,
            format!(
                "{provider} stream sent nothing for {} ms",
                after.as_millis()
            ),
        )
    }

    pub fn connect(message: impl Into<String>) -> Self {
        ProviderError::of(FailureKind::Connect, message)
    }

    pub fn malformed(provider: &str, detail: impl std::fmt::Display) -> Self {
        ProviderError::of(
            FailureKind::Malformed,
            format!("{provider} sent an answer Portolan could not read: {detail}"),
        )
    }

    pub fn incomplete(provider: &str, detail: &str) -> Self {
        ProviderError::of(
            FailureKind::Incomplete,
            format!("{provider} stream ended before it was complete ({detail})"),
        )
    }

    pub fn too_large(provider: &str, what: &str, limit: usize) -> Self {
        ProviderError::of(
            FailureKind::TooLarge,
            format!("{provider} sent {what} larger than Portolan accepts ({limit} bytes)"),
        )
    }

    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    /// The status of this failure as an attempt records it (and as fallbacks'
    /// `on_status_codes` match it): the provider's own status when it answered, else the
    /// status that stands for the kind (408 for a timeout, 502 for a broken answer, 412 for a
    /// spent budget…).
    pub fn status(&self) -> u16 {
        match &self.upstream {
            Some(u) => u.status,
            None => self.kind.nominal_status(),
        }
    }

    /// The status Portolan answers its own client with. Provider server errors become 502,
    /// timeouts 504; a provider's client errors (401, 429…) pass through, since they are about
    /// the client's request or key.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            FailureKind::Timeout | FailureKind::Stalled => 504,
            FailureKind::Connect
            | FailureKind::Malformed
            | FailureKind::Incomplete
            | FailureKind::TooLarge => 502,
            FailureKind::Status => match self.status() {
                s if s >= 500 => 502,
                s if s < 400 => 502,
                s => s,
            },
            _ => self.kind.nominal_status(),
        }
    }

    /// Whether another try can help when these upstream statuses are retried: transport
    /// failures always, provider statuses only when listed, Portolan's own refusals never.
    /// The retry loop asks this and nothing else.
    pub fn is_retryable_on(&self, statuses: &[u16]) -> bool {
        self.kind.is_transport()
            || (self.kind == FailureKind::Status && statuses.contains(&self.status()))
    }

    /// This error with the key the call used, and anything shaped like a provider secret,
    /// removed from its message and the provider's body (see [`super::scrub`]).
    pub fn scrubbed(mut self, secret: Option<&str>) -> Self {
        self.message = super::scrub::scrub(&self.message, secret, super::scrub::MESSAGE_KEPT);
        if let Some(u) = &mut self.upstream
            && let Some(body) = &u.body
        {
            u.body = Some(super::scrub::scrub(body, secret, 2048));
        }
        self
    }

    /// [`ProviderError::is_retryable_on`] the default statuses.
    pub fn retryable(&self) -> bool {
        self.is_retryable_on(DEFAULT_RETRY_STATUS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_and_gateway_statuses_are_kept_apart() {
        let e = ProviderError::upstream(503, "openai returned 503: later", Some("later".into()));
        assert_eq!(
            (e.status(), e.http_status(), e.retryable()),
            (503, 502, true)
        );
        let e = ProviderError::upstream(401, "bad key", None);
        assert_eq!(
            (e.status(), e.http_status(), e.retryable()),
            (401, 401, false)
        );
        let e = ProviderError::timeout("openai", Duration::from_millis(5));
        assert_eq!(
            (e.status(), e.http_status(), e.retryable()),
            (408, 504, true)
        );
        let e = ProviderError::refused(FailureKind::BudgetExhausted, "spent");
        assert_eq!(
            (e.status(), e.http_status(), e.retryable()),
            (412, 412, false)
        );
        let e = ProviderError::refused(FailureKind::Guardrail, "pii");
        assert_eq!(e.http_status(), 446);
        assert_eq!(ProviderError::malformed("x", "y").http_status(), 502);
    }

    #[test]
    fn retry_follows_the_configured_statuses() {
        let e = ProviderError::upstream(418, "teapot", None);
        assert!(!e.retryable());
        assert!(e.is_retryable_on(&[418]));
        let e = ProviderError::connect("refused");
        assert!(e.is_retryable_on(&[]));
        assert!(!ProviderError::config("x").is_retryable_on(&[400]));
    }
}
