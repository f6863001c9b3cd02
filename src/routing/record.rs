//! What a call leaves behind, one constructor per outcome: refused before any provider was asked,
//! failed after its attempts, answered from the cache, or served (complete or streamed). Each
//! gives the log record and what the caller gets (a [`CallError`] or a [`CallSummary`]) from the
//! same facts, so the two never disagree.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::call::{CallError, CallOptions, CallSummary};
use super::settings::EngineSettings;
use crate::cache::CacheStatus;
use crate::chat::{ChatRequest, ChatResponse, Usage};
use crate::logs::{AttemptRecord, CallRecord};
use crate::providers::{Endpoint, ProviderError};

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(super) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// The body of a request or answer as the log may keep it: JSON, capped, or nothing when the
/// settings say not to keep bodies.
pub(super) fn capped_body(settings: &EngineSettings, value: &impl Serialize) -> Option<String> {
    if !settings.log_bodies {
        return None;
    }
    let mut text = serde_json::to_string(value).ok()?;
    let cap = settings.log_body_max_bytes;
    if text.len() > cap {
        let mut cut = cap;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…[truncated]");
    }
    Some(text)
}

/// How a served call ended.
pub(super) struct Finished {
    /// None when the answer reached the client whole.
    pub failure: Option<ProviderError>,
    pub usage: Option<Usage>,
    pub cost: Option<f64>,
    pub ttft_ms: u64,
    /// The answer as the log keeps it (redacted under an output guardrail).
    pub response: Option<String>,
}

/// Which target served a call.
pub(super) struct ServedBy<'a> {
    pub endpoint: &'a Endpoint,
    pub target_path: &'a str,
    pub retries: u32,
    pub attempts: Vec<AttemptRecord>,
}

/// The facts every outcome of one call shares, and the constructors of its outcomes.
pub(super) struct Ledger {
    pub call_id: String,
    pub trace_id: String,
    pub started: Instant,
    base: CallRecord,
}

impl Ledger {
    pub fn new(options: &CallOptions, stream: bool, model: &str) -> Ledger {
        let trace_id = options
            .trace_id
            .clone()
            .unwrap_or_else(crate::ids::new_trace_id);
        let call_id = crate::ids::new_sortable_id("call");
        Ledger {
            base: CallRecord {
                id: call_id.clone(),
                trace_id: trace_id.clone(),
                created_at: now_ms(),
                source: options.source.clone().unwrap_or_else(|| "cli".into()),
                prompt_id: options.prompt.as_ref().map(|p| p.id.clone()),
                prompt_version: options.prompt.as_ref().map(|p| p.version),
                variables: options
                    .variables
                    .as_ref()
                    .and_then(|v| serde_json::to_string(v).ok()),
                provider: None,
                model: Some(model.to_owned()),
                key_name: None,
                status: 0,
                success: false,
                error: None,
                stream,
                cache_status: CacheStatus::Disabled,
                latency_ms: 0,
                ttft_ms: None,
                prompt_tokens: None,
                completion_tokens: None,
                cached_tokens: None,
                cost_usd: None,
                retry_count: 0,
                target_path: None,
                request: None,
                response: None,
                metadata: options.metadata.clone(),
                attempts: Vec::new(),
                parent_span_id: options.parent_span_id.clone(),
            },
            call_id,
            trace_id,
            started: Instant::now(),
        }
    }

    /// Sets what the log keeps of the request (after any guardrail redacted it) and the tags
    /// (with the guardrail's counts).
    pub fn set_request(
        &mut self,
        settings: &EngineSettings,
        request: &ChatRequest,
        metadata: BTreeMap<String, String>,
    ) {
        self.base.request = capped_body(settings, request);
        self.base.metadata = metadata;
    }

    pub fn set_cache_status(&mut self, status: CacheStatus) {
        self.base.cache_status = status;
    }

    pub fn cache_status(&self) -> CacheStatus {
        self.base.cache_status
    }

    pub fn elapsed_ms(&self) -> u64 {
        ms(self.started.elapsed())
    }

    fn error(&self, cause: ProviderError, attempts: Vec<AttemptRecord>) -> CallError {
        CallError {
            message: summarise(&cause, &attempts),
            retry_after_ms: cause.retry_after.map(ms),
            cause,
            call_id: self.call_id.clone(),
            trace_id: self.trace_id.clone(),
            attempts,
        }
    }

    /// Refused before any provider was asked (validation, guardrail, budget, rate limit).
    pub fn refused(&self, cause: ProviderError) -> (CallRecord, CallError) {
        let mut record = self.base.clone();
        record.status = cause.http_status();
        record.error = Some(cause.message.clone());
        record.latency_ms = self.elapsed_ms();
        (record, self.error(cause, Vec::new()))
    }

    /// Every target tried failed; `cause` is the last failure.
    pub fn failed(
        &self,
        cause: ProviderError,
        attempts: Vec<AttemptRecord>,
    ) -> (CallRecord, CallError) {
        let error = self.error(cause, attempts);
        let mut record = self.base.clone();
        record.status = error.status();
        record.error = Some(error.message.clone());
        record.latency_ms = self.elapsed_ms();
        record.attempts = error.attempts.clone();
        if let Some(last) = error.attempts.last() {
            record.provider = last.provider.clone();
            record.model = last.model.clone().or(record.model);
        }
        (record, error)
    }

    /// Answered from the cache: no provider, no cost.
    pub fn cache_hit(
        &self,
        settings: &EngineSettings,
        response: &ChatResponse,
        status: CacheStatus,
    ) -> (CallRecord, CallSummary) {
        let latency = self.elapsed_ms();
        let mut record = self.base.clone();
        record.provider = Some("cache".into());
        record.model = Some(response.model.clone());
        record.status = 200;
        record.success = true;
        record.cache_status = status;
        record.latency_ms = latency;
        record.ttft_ms = Some(latency);
        fill_usage(&mut record, response.usage, Some(0.0));
        record.response = capped_body(settings, response);
        let summary = CallSummary {
            success: true,
            status: 200,
            error: None,
            usage: response.usage,
            cost_usd: Some(0.0),
            latency_ms: latency,
            ttft_ms: Some(latency),
            cache_status: status,
        };
        (record, summary)
    }

    /// Served by a target; `finished` says how the answer ended.
    pub fn served(&self, by: ServedBy<'_>, finished: Finished) -> (CallRecord, CallSummary) {
        let latency = self.elapsed_ms();
        let mut record = self.base.clone();
        record.provider = Some(by.endpoint.provider.id().to_owned());
        record.model = Some(by.endpoint.model.clone());
        record.key_name = by.endpoint.key_name.clone();
        record.retry_count = by.retries;
        record.target_path = Some(by.target_path.to_owned());
        record.attempts = by.attempts;
        fill_usage(&mut record, finished.usage, finished.cost);
        let (status, error) = match &finished.failure {
            None => (200, None),
            Some(f) => (f.http_status(), Some(f.message.clone())),
        };
        record.status = status;
        record.success = status == 200;
        record.error = error.clone();
        record.latency_ms = latency;
        record.ttft_ms = Some(finished.ttft_ms);
        record.response = finished.response;
        let summary = CallSummary {
            success: status == 200,
            status,
            error,
            usage: finished.usage,
            cost_usd: finished.cost,
            latency_ms: latency,
            ttft_ms: Some(finished.ttft_ms),
            cache_status: record.cache_status,
        };
        (record, summary)
    }

    /// A served call's answer refused by the output guardrail after the fact.
    pub fn error_after_serving(
        &self,
        cause: ProviderError,
        attempts: Vec<AttemptRecord>,
    ) -> CallError {
        self.error(cause, attempts)
    }
}

fn fill_usage(record: &mut CallRecord, usage: Option<Usage>, cost: Option<f64>) {
    record.prompt_tokens = usage.map(|u| u.prompt_tokens);
    record.completion_tokens = usage.map(|u| u.completion_tokens);
    record.cached_tokens = usage.map(|u| u.cached_tokens());
    record.cost_usd = cost;
}

/// The failure as a sentence; after several attempts, each one's target and error follow.
fn summarise(last: &ProviderError, attempts: &[AttemptRecord]) -> String {
    if attempts.len() <= 1 {
        return last.message.clone();
    }
    let path: Vec<String> = attempts
        .iter()
        .map(|a| {
            format!(
                "#{} target {} {}{} → {}",
                a.n + 1,
                if a.target_path.is_empty() {
                    "0"
                } else {
                    &a.target_path
                },
                a.provider.as_deref().unwrap_or("?"),
                a.model
                    .as_deref()
                    .map(|m| format!(" {m}"))
                    .unwrap_or_default(),
                a.error.as_deref().unwrap_or("ok")
            )
        })
        .collect();
    let n = attempts.len();
    format!(
        "{} after {n} attempt{}: {}",
        last.message,
        if n == 1 { "" } else { "s" },
        path.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{FailureKind, Provider};

    fn attempt(n: u32, status: u16, error: &str) -> AttemptRecord {
        AttemptRecord {
            n,
            target_path: n.to_string(),
            provider: Some("openai".into()),
            model: Some("gpt-4o-mini".into()),
            key_name: None,
            status,
            error: Some(error.into()),
            latency_ms: 1,
            started_at: 0,
        }
    }

    #[test]
    fn one_failure_is_its_own_message_several_are_listed() {
        let ledger = Ledger::new(&CallOptions::default(), false, "gpt-4o-mini");
        let cause = ProviderError::upstream(500, "openai returned 500: boom", None);
        let (record, err) = ledger.failed(cause.clone(), vec![attempt(0, 500, "boom")]);
        assert_eq!(err.message, "openai returned 500: boom");
        assert_eq!((err.status(), record.status), (502, 502));
        let (_, err) = ledger.failed(
            cause,
            vec![attempt(0, 500, "boom"), attempt(1, 500, "boom again")],
        );
        assert!(err.message.contains("after 2 attempts"), "{}", err.message);
        assert_eq!(err.attempts.len(), 2, "the attempts stay data");
    }

    #[test]
    fn refusals_carry_their_own_status_and_no_attempts() {
        let ledger = Ledger::new(&CallOptions::default(), true, "demo/small");
        let (record, err) = ledger.refused(ProviderError::refused(
            FailureKind::BudgetExhausted,
            "spent",
        ));
        assert_eq!((record.status, err.status()), (412, 412));
        assert!(err.attempts.is_empty());
        assert!(record.stream);
    }

    #[test]
    fn a_served_call_and_its_summary_agree() {
        let ledger = Ledger::new(&CallOptions::default(), false, "gpt-4o-mini");
        let endpoint = Endpoint {
            provider: Provider::OpenAi,
            base_url: String::new(),
            api_key: None,
            key_name: Some("k".into()),
            key_id: None,
            model: "gpt-4o-mini".into(),
        };
        let by = ServedBy {
            endpoint: &endpoint,
            target_path: "0",
            retries: 1,
            attempts: Vec::new(),
        };
        let finished = Finished {
            failure: Some(ProviderError::refused(FailureKind::ClientClosed, "gone")),
            usage: Some(Usage::new(3, 4, 0)),
            cost: Some(0.5),
            ttft_ms: 7,
            response: None,
        };
        let (record, summary) = ledger.served(by, finished);
        assert_eq!((record.status, summary.status), (499, 499));
        assert_eq!(record.cost_usd, summary.cost_usd);
        assert_eq!(record.key_name.as_deref(), Some("k"));
        assert!(!summary.success);
    }
}
