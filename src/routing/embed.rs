//! Embeddings as a call like any other: the same admission as chat (a token's read-only and
//! prompt-only limits, its model and key scopes, the input guardrail, the token's and the key's
//! budgets and rate limits), then the provider, then settling, and a record in the call log with
//! tokens and cost. The gateway's `/v1/embeddings` goes through here.

use std::time::Instant;

use super::budget::{self, Target};
use super::call::{CallError, CallOptions};
use super::guard::{self, Guard, InputOutcome};
use super::record::{Finished, Ledger, ServedBy, ms};
use super::resolve::TargetSpec;
use super::services::Services;
use crate::chat::{ChatMessage, ChatRequest, Usage};
use crate::guardrails::Redactions;
use crate::logs::AttemptRecord;
use crate::providers::{self, Endpoint, FailureKind, Provider, ProviderError, estimate_tokens};
use crate::store::Reservation;

/// The vectors, as the provider sent them, and what they cost.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    /// `provider/model` that made them.
    pub model: String,
    pub prompt_tokens: u64,
    pub cost_usd: Option<f64>,
    pub trace_id: String,
}

fn refuse(services: &Services, ledger: &Ledger, cause: ProviderError) -> CallError {
    let (record, error) = ledger.refused(cause);
    services.log(record);
    error
}

/// The inputs as a request, for the guardrail, the log and the reservation (nothing comes back
/// but vectors: no completion tokens).
fn as_request(model: &str, inputs: &[String]) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: inputs
            .iter()
            .map(|t| ChatMessage::new("user", t.clone()))
            .collect(),
        max_tokens: Some(0),
        ..Default::default()
    }
}

pub(super) async fn embed(
    services: &Services,
    model: &str,
    inputs: Vec<String>,
    options: &CallOptions,
) -> Result<Embeddings, CallError> {
    let mut ledger = Ledger::new(options, false, model);
    let actor = options.actor();
    if inputs.is_empty() {
        return Err(refuse(
            services,
            &ledger,
            ProviderError::config("no input to embed"),
        ));
    }
    if let Some(scopes) = &options.scopes {
        let limited = if scopes.read_only {
            Some("is read-only: it may render prompts but not call models")
        } else if !scopes.prompts.is_empty() {
            Some("may only call its prompts, not embeddings")
        } else {
            None
        };
        if let Some(why) = limited {
            let name = options.token.as_ref().map_or("", |t| t.name.as_str());
            let cause = ProviderError::refused(
                FailureKind::Forbidden,
                format!("gateway token '{name}' {why}"),
            );
            return Err(refuse(services, &ledger, cause));
        }
    }

    // The input guardrail, as for chat: nothing leaves the machine unguarded.
    let settings = services.settings();
    let may_weaken = options
        .scopes
        .as_ref()
        .is_some_and(|s| s.allow_guardrail_override);
    let mut request = as_request(model, &inputs);
    let guard = match Guard::input(
        &options.config.clone().unwrap_or_default(),
        &settings,
        may_weaken,
    ) {
        Ok(g) => g,
        Err(e) => {
            return Err(refuse(
                services,
                &ledger,
                ProviderError::config(e.to_string()),
            ));
        }
    };
    let mut metadata = options.metadata.clone();
    let mut logged = request.clone();
    if let Some(g) = &guard {
        let mut redactions = Redactions::default();
        match guard::guard_input(g, &mut request, &mut redactions) {
            InputOutcome::Proceed { logged: l } => logged = l,
            InputOutcome::Deny { logged, reason } => {
                metadata.insert("_pii".into(), redactions.summary());
                ledger.set_request(&settings, &logged, metadata);
                let cause = ProviderError::refused(
                    FailureKind::Guardrail,
                    format!("refused by the PII guardrail: {reason}"),
                );
                return Err(refuse(services, &ledger, cause));
            }
        }
        if !redactions.is_empty() {
            metadata.insert("_pii".into(), redactions.summary());
        }
    }
    ledger.set_request(&settings, &logged, metadata);
    let inputs: Vec<String> = request.messages.iter().map(|m| m.text()).collect();

    // Where the call goes, and whether the token may go there.
    let local = crate::embeddings::is_local(model);
    let endpoint = if local {
        Endpoint {
            provider: Provider::Demo,
            base_url: String::new(),
            api_key: None,
            key_name: None,
            key_id: None,
            model: model.to_owned(),
        }
    } else {
        match services.resolve_target(&TargetSpec::default(), model).await {
            Ok(e) => e,
            Err(e) => return Err(refuse(services, &ledger, e)),
        }
    };
    if let Some(scopes) = &options.scopes
        && let Some(cause) = super::attempt::scope_refusal(scopes, model, &endpoint)
    {
        return Err(refuse(services, &ledger, cause));
    }

    // Budgets and rate limits of the token and of the key.
    let mut reservations: Vec<Reservation> = Vec::new();
    let key = budget::key_subject(&endpoint);
    for subject in options.token.iter().chain(key.iter()) {
        let target = async || vec![Target::of(&endpoint, &request)];
        match budget::reserve_or_refuse(services, subject, target).await {
            Ok(r) => reservations.push(r),
            Err(refusal) => {
                for r in &reservations {
                    services.settle(Some(r), Some(0.0), 0, &actor).await;
                }
                return Err(refuse(services, &ledger, refusal));
            }
        }
    }

    // The call itself.
    let started = Instant::now();
    let result = if local {
        services.embed_raw(model, &inputs).await.map(|(v, _)| v)
    } else {
        let limits =
            settings.attempt_limits(settings.request_timeout_ms, settings.stream_idle_timeout_ms);
        let secret = endpoint.api_key.as_ref().map(|k| k.expose().to_owned());
        providers::embed(services.http(), &endpoint, &inputs, limits)
            .await
            .map_err(|e| e.scrubbed(secret.as_deref()))
    };
    let elapsed = started.elapsed();
    let attempt = AttemptRecord {
        n: 0,
        target_path: "0".into(),
        provider: Some(endpoint.provider.id().to_owned()),
        model: Some(endpoint.model.clone()),
        key_name: endpoint.key_name.clone(),
        status: result.as_ref().map_or_else(|e| e.status(), |_| 200),
        error: result.as_ref().err().map(|e| e.message.clone()),
        latency_ms: ms(elapsed),
        started_at: chrono::Utc::now().timestamp_millis() - ms(elapsed) as i64,
    };
    let vectors = match result {
        Ok(v) => v,
        Err(cause) => {
            for r in &reservations {
                services.settle(Some(r), Some(0.0), 0, &actor).await;
            }
            let (record, error) = ledger.failed(cause, vec![attempt]);
            services.log(record);
            return Err(error);
        }
    };
    let prompt_tokens: u64 = inputs.iter().map(|t| estimate_tokens(t)).sum();
    let usage = Usage::new(prompt_tokens, 0, 0);
    let cost = if local {
        Some(0.0)
    } else {
        services.cost(endpoint.provider.id(), &endpoint.model, &usage)
    };
    for r in &reservations {
        services.settle(Some(r), cost, prompt_tokens, &actor).await;
    }
    let dims = vectors.first().map_or(0, Vec::len);
    let by = ServedBy {
        endpoint: &endpoint,
        target_path: "0",
        retries: 0,
        attempts: vec![attempt],
    };
    let (record, _) = ledger.served(
        by,
        Finished {
            failure: None,
            usage: Some(usage),
            cost,
            ttft_ms: ms(elapsed),
            response: Some(format!(
                "{{\"object\":\"list\",\"embeddings\":{},\"dimensions\":{dims}}}",
                vectors.len()
            )),
        },
    );
    services.log(record);
    Ok(Embeddings {
        vectors,
        model: if local {
            model.to_owned()
        } else {
            format!("{}/{}", endpoint.provider, endpoint.model)
        },
        prompt_tokens,
        cost_usd: cost,
        trace_id: ledger.trace_id.clone(),
    })
}
