//! One leaf of the target tree: resolve where the call goes (provider, virtual key, base URL,
//! model), check the token's scopes and the key's budget, then send it, retrying with backoff
//! (or the provider's `Retry-After`) while [`ProviderError::is_retryable_on`] says another try
//! can help. A stream counts as served only once its first token arrives, so a stream that fails
//! before that still falls through to retries and fallbacks.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use serde_json::{Map, Value};

use super::budget::{self, Target};
use super::config::{DEFAULT_RETRY_STATUS, MAX_RETRY_ATTEMPTS, RetryConfig, RouteConfig};
use super::record::{ms, now_ms};
use super::resolve::TargetSpec;
use super::services::Services;
use crate::chat::{ChatChunk, ChatRequest, ChatResponse};
use crate::logs::AttemptRecord;
use crate::providers::{self, AttemptLimits, ChunkStream, Endpoint, FailureKind, ProviderError};
use crate::store::{Actor, Reservation, TokenScopes};

/// What a target inherits from its parents in the config tree; its own values win.
#[derive(Debug, Clone, Default)]
pub(super) struct Inherited {
    pub retry: Option<RetryConfig>,
    pub request_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub custom_host: Option<String>,
    pub override_params: Map<String, Value>,
}

impl Inherited {
    /// What `node` and its children inherit: this, with `node`'s own values laid over it.
    pub fn child(&self, node: &RouteConfig) -> Inherited {
        let mut params = self.override_params.clone();
        if let Some(p) = &node.override_params {
            for (k, v) in p {
                params.insert(k.clone(), v.clone());
            }
        }
        if let Some(m) = &node.model {
            params.insert("model".into(), Value::String(m.clone()));
        }
        Inherited {
            retry: node.retry.clone().or_else(|| self.retry.clone()),
            request_timeout: node.request_timeout.or(self.request_timeout),
            idle_timeout: node.stream_idle_timeout.or(self.idle_timeout),
            custom_host: node
                .custom_host
                .clone()
                .or_else(|| self.custom_host.clone()),
            override_params: params,
        }
    }
}

/// What every target of one call is tried with.
pub(super) struct CallTargets<'a> {
    pub services: &'a Services,
    pub request: &'a ChatRequest,
    pub stream: bool,
    /// The gateway token's scopes, checked against each resolved target.
    pub scopes: Option<&'a TokenScopes>,
    /// `x-portkey-retry-count` and `x-portkey-request-timeout`, over every target's own.
    pub retry_override: Option<u32>,
    pub timeout_override: Option<u64>,
    pub actor: &'a Actor,
    /// See [`super::call::CallOptions::custom_hosts_allowed`].
    pub allow_custom_host: bool,
}

/// Every attempt of a call so far, as data, and the time spent waiting on providers.
#[derive(Default)]
pub(super) struct Attempts {
    pub list: Vec<AttemptRecord>,
    pub upstream: Duration,
}

impl Attempts {
    fn record(
        &mut self,
        path: &str,
        endpoint: Option<&Endpoint>,
        model: &str,
        result: Result<(), &ProviderError>,
        elapsed: Duration,
    ) {
        let n = self.list.len() as u32;
        let (status, error) = match result {
            Ok(()) => (200, None),
            Err(e) => (e.status(), Some(e.message.clone())),
        };
        self.list.push(AttemptRecord {
            n,
            target_path: path.to_owned(),
            provider: endpoint.map(|e| e.provider.id().to_owned()),
            model: Some(model.to_owned()),
            key_name: endpoint.and_then(|e| e.key_name.clone()),
            status,
            error,
            latency_ms: ms(elapsed),
            started_at: now_ms() - ms(elapsed) as i64,
        });
    }
}

/// What a target answered.
pub(super) enum ServedBody {
    Complete(ChatResponse),
    Stream {
        /// Chunks read while waiting for the first token.
        buffered: Vec<ChatChunk>,
        rest: ChunkStream,
        first_token_at: Instant,
    },
}

/// A target that answered, and its answer.
pub(super) struct Served {
    pub target: ServedTarget,
    pub body: ServedBody,
}

/// Which target answered.
pub(super) struct ServedTarget {
    pub endpoint: Endpoint,
    pub target_path: String,
    /// Retries made on it before it answered.
    pub retries: u32,
    /// The serving key's budget reservation, settled when the answer is complete.
    pub reservation: Option<Reservation>,
}

/// Whether a token's scopes allow this endpoint; the refusal says why not.
pub(super) fn scope_refusal(
    scopes: &TokenScopes,
    requested_model: &str,
    endpoint: &Endpoint,
) -> Option<ProviderError> {
    let message = if !scopes.allows_model(requested_model) && !scopes.allows_model(&endpoint.model)
    {
        format!(
            "this gateway token may not use model '{}' (allowed: {})",
            endpoint.model,
            scopes.models.join(", ")
        )
    } else if !scopes.allows_key(endpoint.key_name.as_deref()) {
        format!(
            "this gateway token may not use {} (allowed keys: {})",
            endpoint
                .key_name
                .as_deref()
                .map_or("the demo provider".to_owned(), |k| format!(
                    "virtual key '{k}'"
                )),
            scopes.keys.join(", ")
        )
    } else {
        return None;
    };
    Some(ProviderError::refused(FailureKind::Forbidden, message))
}

/// Tries one target (a leaf of the config tree) until it answers, its retries run out, or its
/// failure is not worth retrying.
pub(super) async fn try_target(
    call: &CallTargets<'_>,
    attempts: &mut Attempts,
    node: &RouteConfig,
    inherited: &Inherited,
    path: String,
) -> Result<Served, ProviderError> {
    let services = call.services;
    let settings = services.settings();
    let mut request = call.request.clone();
    if let Err(e) = request.apply_params(&inherited.override_params) {
        let e = ProviderError::config(format!("override_params do not fit a chat request: {e}"));
        attempts.record(&path, None, &request.model, Err(&e), Duration::ZERO);
        return Err(e);
    }
    let spec = TargetSpec {
        provider: node.provider.as_deref(),
        virtual_key: node.virtual_key.as_deref(),
        api_key: node.api_key.as_ref().map(|k| k.expose()),
        custom_host: inherited.custom_host.as_deref(),
        allow_custom_host: call.allow_custom_host,
    };
    let retry = inherited.retry.as_ref();
    let retries = call
        .retry_override
        .or(retry.map(|r| r.attempts))
        .unwrap_or(settings.retry_attempts)
        .min(MAX_RETRY_ATTEMPTS);
    let codes: Vec<u16> = retry
        .and_then(|r| r.on_status_codes.clone())
        .unwrap_or_else(|| DEFAULT_RETRY_STATUS.to_vec());
    let honour_retry_after = retry.and_then(|r| r.use_retry_after_header).unwrap_or(true);
    let limits = settings.attempt_limits(
        call.timeout_override
            .or(inherited.request_timeout)
            .unwrap_or(settings.request_timeout_ms),
        inherited
            .idle_timeout
            .unwrap_or(settings.stream_idle_timeout_ms),
    );
    let endpoint = match services.resolve_target(&spec, &request.model).await {
        Ok(e) => e,
        Err(e) => {
            attempts.record(&path, None, &request.model, Err(&e), Duration::ZERO);
            return Err(e);
        }
    };
    if let Some(scopes) = call.scopes
        && let Some(e) = scope_refusal(scopes, &request.model, &endpoint)
    {
        attempts.record(
            &path,
            Some(&endpoint),
            &endpoint.model,
            Err(&e),
            Duration::ZERO,
        );
        return Err(e);
    }
    let key_subject = budget::key_subject(&endpoint);
    let mut attempt = 0u32;
    loop {
        let reservation = match &key_subject {
            None => None,
            Some(subject) => {
                let target = async || vec![Target::of(&endpoint, &request)];
                match budget::reserve_or_refuse(services, subject, target).await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        attempts.record(
                            &path,
                            Some(&endpoint),
                            &endpoint.model,
                            Err(&e),
                            Duration::ZERO,
                        );
                        return Err(e);
                    }
                }
            }
        };
        let started = Instant::now();
        let result = send(call, &endpoint, &request, limits).await;
        let elapsed = started.elapsed();
        attempts.upstream += elapsed;
        match result {
            Ok(body) => {
                attempts.record(&path, Some(&endpoint), &endpoint.model, Ok(()), elapsed);
                return Ok(Served {
                    target: ServedTarget {
                        endpoint,
                        target_path: path,
                        retries: attempt,
                        reservation,
                    },
                    body,
                });
            }
            Err(e) => {
                services
                    .settle(reservation.as_ref(), Some(0.0), 0, call.actor)
                    .await;
                attempts.record(&path, Some(&endpoint), &endpoint.model, Err(&e), elapsed);
                if attempt >= retries || !e.is_retryable_on(&codes) {
                    return Err(e);
                }
                let wait = match (honour_retry_after, e.retry_after) {
                    (true, Some(ra)) if ms(ra) > settings.retry_after_max_ms => return Err(e),
                    (true, Some(ra)) => ra,
                    _ => backoff(settings.backoff_base_ms, settings.backoff_max_ms, attempt),
                };
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

/// Sends one attempt. A stream is committed to only once its first token arrives.
async fn send(
    call: &CallTargets<'_>,
    endpoint: &Endpoint,
    request: &ChatRequest,
    limits: AttemptLimits,
) -> Result<ServedBody, ProviderError> {
    let client = call.services.http();
    // Whatever the provider says back never carries the key the call used.
    let secret = endpoint.api_key.as_ref().map(|k| k.expose().to_owned());
    let scrub = move |e: ProviderError| e.scrubbed(secret.as_deref());
    if !call.stream {
        return providers::complete(client, endpoint, request, limits)
            .await
            .map(ServedBody::Complete)
            .map_err(scrub);
    }
    let stream = providers::stream(client, endpoint, request, limits)
        .await
        .map_err(scrub.clone())?;
    let stream: ChunkStream = Box::pin(stream.map(move |item| item.map_err(scrub.clone())));
    first_token(endpoint, stream).await
}

/// Reads a stream until its first token (text, a tool call or a finish). What came before is
/// kept to be sent on; a stream that fails or ends before then fails the attempt.
async fn first_token(
    endpoint: &Endpoint,
    mut stream: ChunkStream,
) -> Result<ServedBody, ProviderError> {
    let mut buffered = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let token = chunk.choices.iter().any(|c| {
                    c.delta.content.as_deref().is_some_and(|t| !t.is_empty())
                        || c.delta.tool_calls.is_some()
                        || c.finish_reason.is_some()
                });
                buffered.push(chunk);
                if token {
                    return Ok(ServedBody::Stream {
                        buffered,
                        rest: stream,
                        first_token_at: Instant::now(),
                    });
                }
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ProviderError::incomplete(
                    endpoint.provider.id(),
                    "the stream ended before any token",
                ));
            }
        }
    }
}

/// Exponential backoff with ±25 % jitter.
pub(super) fn backoff(base_ms: u64, max_ms: u64, attempt: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(20)).min(max_ms);
    let r = u16::from_le_bytes(crate::ids::random_bytes::<2>()) as f64 / u16::MAX as f64;
    Duration::from_millis((exp as f64 * (0.75 + 0.5 * r)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Provider;

    #[test]
    fn backoff_grows_and_caps() {
        for attempt in 0..6 {
            let d = backoff(100, 1000, attempt).as_millis() as u64;
            let exp = (100u64 << attempt).min(1000);
            assert!(
                d >= exp * 3 / 4 && d <= exp * 5 / 4,
                "attempt {attempt}: {d}"
            );
        }
    }

    #[test]
    fn scopes_refuse_models_and_keys_they_do_not_list() {
        let endpoint = Endpoint {
            provider: Provider::OpenAi,
            base_url: String::new(),
            api_key: None,
            key_name: Some("work".into()),
            key_id: None,
            model: "gpt-4o".into(),
        };
        let scopes = TokenScopes {
            models: vec!["gpt-4o-mini".into()],
            ..Default::default()
        };
        let e = scope_refusal(&scopes, "gpt-4o", &endpoint).unwrap();
        assert_eq!((e.kind, e.http_status()), (FailureKind::Forbidden, 403));
        let scopes = TokenScopes {
            keys: vec!["other".into()],
            ..Default::default()
        };
        assert!(scope_refusal(&scopes, "gpt-4o", &endpoint).is_some());
        assert!(scope_refusal(&TokenScopes::default(), "gpt-4o", &endpoint).is_none());
    }

    #[tokio::test]
    async fn a_stream_that_ends_before_a_token_fails_the_attempt() {
        let endpoint = Endpoint {
            provider: Provider::Demo,
            base_url: String::new(),
            api_key: None,
            key_name: None,
            key_id: None,
            model: "demo/small".into(),
        };
        let empty: ChunkStream = Box::pin(futures_util::stream::iter(vec![Ok(ChatChunk::new(
            "c", "m", 0,
        ))]));
        let err = first_token(&endpoint, empty).await.err().unwrap();
        assert_eq!(err.kind, FailureKind::Incomplete);
        let one: ChunkStream = Box::pin(futures_util::stream::iter(vec![Ok(ChatChunk::text(
            "c", "m", 0, "hi",
        ))]));
        assert!(matches!(
            first_token(&endpoint, one).await,
            Ok(ServedBody::Stream { .. })
        ));
    }
}
