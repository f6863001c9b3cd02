//! The budget step of a call: the worst case a call may cost, reserved against a key's or a
//! token's budgets and rate limits before it is sent, and settled to what it used afterwards.
//! It needs the governance store and the price table, nothing of the engine.

use crate::chat::ChatRequest;
use crate::pricing::{PriceTable, TokenUsage, cost_usd};
use crate::providers::{FailureKind, Provider, ProviderError, estimate_tokens};
use crate::store::{Governance, Refusal, Reservation, Subject};

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

/// What a call will be priced as: the provider and model it goes to, when known.
pub(crate) struct Target {
    pub provider: Option<Provider>,
    pub model: String,
}

/// Reserves a call's worst case against `subject`'s budgets and rate limits, in one atomic step.
/// A subject with none (the common case) reserves nothing and takes no lock: the reservation is
/// empty, and settling it is a no-op. `target` is asked only when there is something to reserve.
pub(crate) async fn reserve(
    governance: &dyn Governance,
    prices: &PriceTable,
    subject: &Subject,
    request: &ChatRequest,
    target: impl AsyncFnOnce() -> Target,
) -> crate::Result<Result<Reservation, Refusal>> {
    if !governance.has_limits(subject).await? {
        return Ok(Ok(Reservation::default()));
    }
    let (usd, tokens) = estimate(prices, request, &target().await);
    governance
        .reserve(std::slice::from_ref(subject), usd, tokens)
        .await
}

/// Worst-case size of a call: estimated prompt tokens plus the completion limit (the request's
/// max_tokens, else the model's, else 4096), and what that would cost if the price is known.
pub(crate) fn estimate(
    prices: &PriceTable,
    request: &ChatRequest,
    target: &Target,
) -> (Option<f64>, u64) {
    let prompt: u64 = request
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.text()) + 3)
        .sum();
    let price = target
        .provider
        .and_then(|p| prices.lookup(p.id(), &target.model));
    let max_out = request
        .max_output_tokens()
        .map(u64::from)
        .or_else(|| price.and_then(|p| p.max_output_tokens))
        .unwrap_or(4096);
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

    #[test]
    fn the_estimate_is_prompt_plus_the_completion_limit() {
        let request = ChatRequest {
            model: "gpt-4o-mini".into(),
            messages: vec![ChatMessage::new("user", "12345678")],
            max_tokens: Some(100),
            ..Default::default()
        };
        let prices = PriceTable::builtin();
        let known = Target {
            provider: Some(Provider::OpenAi),
            model: "gpt-4o-mini".into(),
        };
        let (usd, tokens) = estimate(prices, &request, &known);
        assert_eq!(tokens, 2 + 3 + 100);
        assert!(usd.unwrap() > 0.0);
        let unknown = Target {
            provider: Some(Provider::OpenAi),
            model: "no-such-model".into(),
        };
        assert_eq!(estimate(prices, &request, &unknown).0, None);
        // The demo provider costs nothing, even for a model the table does not price.
        let demo = Target {
            provider: Some(Provider::Demo),
            model: "demo/unlisted".into(),
        };
        assert_eq!(estimate(prices, &request, &demo).0, Some(0.0));
    }
}
