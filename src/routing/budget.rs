//! The budget step of a call: the worst case a call may cost, reserved against a key's or a
//! token's budgets and rate limits before it is sent, and settled to what it used afterwards.
//! It needs the governance store and the price table, nothing of the engine.

use super::services::Services;
use crate::chat::ChatRequest;
use crate::pricing::{PriceTable, TokenUsage, cost_usd};
use crate::providers::{Endpoint, FailureKind, Provider, ProviderError, estimate_tokens};
use crate::store::{Governance, Refusal, Reservation, Subject, SubjectKind};

/// A budget or rate-limit refusal as the failure it is (412, or 429 with when to retry).
pub(crate) fn refusal_error(refusal: Refusal) -> ProviderError {
    match refusal {
        Refusal::Budget { message } => {
            ProviderError::refused(FailureKind::BudgetExhausted, message)
        }
        Refusal::Rate {
            message,
            retry_after_secs,
        } => ProviderError::refused(FailureKind::RateLimited, message)
            .with_retry_after(Some(std::time::Duration::from_secs(retry_after_secs))),
    }
}

/// A target a call may go to, as its reservation prices it: the provider and model (when they
/// could be resolved) and the request as that target would send it.
pub(crate) struct Target {
    pub provider: Option<Provider>,
    pub model: String,
    pub request: ChatRequest,
}

impl Target {
    /// A resolved target sending `request`.
    pub fn of(endpoint: &Endpoint, request: &ChatRequest) -> Target {
        Target {
            provider: Some(endpoint.provider),
            model: endpoint.model.clone(),
            request: request.clone(),
        }
    }
}

/// The budget subject of the virtual key an endpoint uses, if it uses one.
pub(crate) fn key_subject(endpoint: &Endpoint) -> Option<Subject> {
    endpoint.key_id.clone().map(|id| Subject {
        kind: SubjectKind::Key,
        id,
        name: endpoint.key_name.clone().unwrap_or_default(),
    })
}

/// [`reserve`] for one call's step: the reservation, or the error the call fails with — the
/// budget or rate-limit refusal, or (when the check itself failed) an internal error whose
/// details go to the log only.
pub(crate) async fn reserve_or_refuse(
    services: &Services,
    subject: &Subject,
    targets: impl AsyncFnOnce() -> Vec<Target>,
) -> Result<Reservation, ProviderError> {
    let reserved = reserve(
        services.governance(),
        services.prices(),
        subject,
        services.lease(),
        targets,
    )
    .await;
    match reserved {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(refusal)) => Err(refusal_error(refusal)),
        Err(e) => {
            tracing::error!(error = %e, subject = %subject.name, "could not reserve a budget");
            Err(ProviderError::internal(
                "Portolan could not check the budget; see its log",
            ))
        }
    }
}

/// Reserves a call's worst case against `subject`'s budgets and rate limits, in one atomic step.
/// A subject with none (the common case) reserves nothing and takes no lock: the reservation is
/// empty, and settling it is a no-op. `targets` are asked for only when there is something to
/// reserve; the worst of them is reserved.
pub(crate) async fn reserve(
    governance: &dyn Governance,
    prices: &PriceTable,
    subject: &Subject,
    lease: std::time::Duration,
    targets: impl AsyncFnOnce() -> Vec<Target>,
) -> crate::Result<Result<Reservation, Refusal>> {
    if !governance.has_limits(subject).await? {
        return Ok(Ok(Reservation::default()));
    }
    let (usd, tokens) = estimate_worst(prices, &targets().await);
    governance
        .reserve(std::slice::from_ref(subject), usd, tokens, lease)
        .await
}

/// The worst case over `targets`: the most tokens any could use, and the most any could cost —
/// unknown (None) when any target's price is unknown, so a USD budget refuses the call rather
/// than reserve too little.
pub(crate) fn estimate_worst(prices: &PriceTable, targets: &[Target]) -> (Option<f64>, u64) {
    let mut usd = Some(0.0f64);
    let mut tokens = 0u64;
    for t in targets {
        let (u, n) = estimate(prices, t);
        tokens = tokens.max(n);
        usd = match (usd, u) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    (usd, tokens)
}

/// Worst-case size of a call to one target: estimated prompt tokens plus the completion limit
/// (the request's max_tokens, else the model's, else 4096) for each of its `n` choices, and what
/// that would cost if the price is known.
pub(crate) fn estimate(prices: &PriceTable, target: &Target) -> (Option<f64>, u64) {
    let request = &target.request;
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.text()) + 3)
        .sum();
    let price = target
        .provider
        .and_then(|p| prices.lookup(p.id(), &target.model));
    let choices = u64::from(request.n.unwrap_or(1).max(1));
    let max_out = request
        .max_output_tokens()
        .map(u64::from)
        .or_else(|| price.and_then(|p| p.max_output_tokens))
        .unwrap_or(4096)
        * choices;
    let usd = if target.provider == Some(Provider::Demo) && price.is_none() {
        Some(0.0)
    } else {
        price.and_then(|p| {
            cost_usd(
                p,
                &TokenUsage {
                    prompt_tokens: prompt,
                    completion_tokens: max_out,
                    cached_prompt_tokens: 0,
                    cache_write_tokens: 0,
                },
            )
        })
    };
    (usd, prompt + max_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatMessage;

    fn target(provider: Provider, model: &str, max_tokens: u32, n: Option<u32>) -> Target {
        Target {
            provider: Some(provider),
            model: model.into(),
            request: ChatRequest {
                model: model.into(),
                messages: vec![ChatMessage::new("user", "12345678")],
                max_tokens: Some(max_tokens),
                n,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_estimate_is_prompt_plus_the_completion_limit_for_each_choice() {
        let prices = PriceTable::builtin();
        let (usd, tokens) = estimate(prices, &target(Provider::OpenAi, "gpt-4o-mini", 100, None));
        assert_eq!(tokens, 2 + 3 + 100);
        assert!(usd.unwrap() > 0.0);
        let (_, tokens) = estimate(
            prices,
            &target(Provider::OpenAi, "gpt-4o-mini", 100, Some(3)),
        );
        assert_eq!(tokens, 2 + 3 + 300);
        let unknown = target(Provider::OpenAi, "no-such-model", 100, None);
        assert_eq!(estimate(prices, &unknown).0, None);
        // The demo provider costs nothing, even for a model the table does not price.
        let demo = target(Provider::Demo, "demo/unlisted", 100, None);
        assert_eq!(estimate(prices, &demo).0, Some(0.0));
    }

    #[test]
    fn the_worst_target_is_reserved_and_an_unpriced_one_makes_the_cost_unknown() {
        let prices = PriceTable::builtin();
        let cheap = target(Provider::OpenAi, "gpt-4o-mini", 100, None);
        let dear = target(Provider::OpenAi, "gpt-4o", 1000, None);
        let (usd, tokens) = estimate_worst(prices, &[cheap, dear]);
        let (dear_usd, dear_tokens) =
            estimate(prices, &target(Provider::OpenAi, "gpt-4o", 1000, None));
        assert_eq!((usd, tokens), (dear_usd, dear_tokens));
        let unknown = target(Provider::OpenAi, "no-such-model", 10, None);
        let cheap = target(Provider::OpenAi, "gpt-4o-mini", 100, None);
        assert_eq!(estimate_worst(prices, &[cheap, unknown]).0, None);
    }
}
