//! Admission: what a call must pass before anything leaves the machine — a well-formed request
//! and routing config, the input guardrail (which may redact the request or refuse it), and the
//! gateway token's budget and rate limits (a reservation of the call's worst case). A refusal is
//! logged and returned as a [`CallError`]; nothing is sent.

use super::budget::{self, Target, refusal_error};
use super::call::{CallError, CallOptions};
use super::config::RouteConfig;
use super::guard::{self, Guard, InputOutcome};
use super::record::Ledger;
use super::resolve::TargetSpec;
use super::services::Services;
use crate::chat::ChatRequest;
use crate::guardrails::Redactions;
use crate::providers::{FailureKind, ProviderError};
use crate::store::Reservation;

/// A call that may go ahead, with what the later steps need of its admission.
pub(super) struct Admitted {
    /// The request to send (redacted when the input guardrail redacts).
    pub request: ChatRequest,
    pub config: RouteConfig,
    pub input_guard: Option<Guard>,
    pub output_guard: Option<Guard>,
    /// Placeholders put into the request, to restore in the answer.
    pub redactions: Redactions,
    /// The gateway token's reservation, settled when the call ends.
    pub token_reservation: Option<Reservation>,
}

impl Admitted {
    /// Whether answers get the input's placeholders back.
    pub fn restores(&self) -> bool {
        self.input_guard.as_ref().is_some_and(|g| g.config.restore) && !self.redactions.is_empty()
    }
}

/// A refusal as the error the caller gets, logged first.
fn refuse(services: &Services, ledger: &Ledger, cause: ProviderError) -> CallError {
    let (record, error) = ledger.refused(cause);
    services.log(record);
    error
}

pub(super) async fn admit(
    services: &Services,
    mut request: ChatRequest,
    options: &CallOptions,
    ledger: &mut Ledger,
) -> Result<Admitted, CallError> {
    let config = options.config.clone().unwrap_or_default();
    if request.messages.is_empty() {
        return Err(refuse(
            services,
            ledger,
            ProviderError::config("the request has no messages"),
        ));
    }
    if let Err(e) = config.validate() {
        return Err(refuse(
            services,
            ledger,
            ProviderError::config(e.to_string()),
        ));
    }
    let guards = Guard::input(&config, services.settings())
        .and_then(|i| Guard::output(&config).map(|o| (i, o)));
    let (input_guard, output_guard) = match guards {
        Ok(g) => g,
        Err(e) => {
            return Err(refuse(
                services,
                ledger,
                ProviderError::config(e.to_string()),
            ));
        }
    };

    // The input guardrail, before anything leaves the machine.
    let mut redactions = Redactions::default();
    let mut metadata = options.metadata.clone();
    let mut logged = None;
    if let Some(g) = &input_guard {
        let outcome = guard::guard_input(g, &mut request, &mut redactions);
        if !redactions.is_empty() {
            metadata.insert("_pii".into(), redactions.summary());
        }
        match outcome {
            InputOutcome::Proceed { logged: l } => logged = Some(l),
            InputOutcome::Deny { logged, reason } => {
                ledger.set_request(services.settings(), &logged, metadata);
                let cause = ProviderError::refused(
                    FailureKind::Guardrail,
                    format!("refused by the PII guardrail: {reason}"),
                );
                return Err(refuse(services, ledger, cause));
            }
        }
    }
    // The log keeps the redacted copy when a guardrail ran, else the request itself.
    ledger.set_request(
        services.settings(),
        logged.as_ref().unwrap_or(&request),
        metadata,
    );

    // The gateway token's budget and rate limits.
    let token_reservation = match &options.token {
        None => None,
        Some(subject) => {
            let target = async || match services
                .resolve_target(&TargetSpec::default(), &request.model)
                .await
            {
                Ok(e) => Target {
                    provider: Some(e.provider),
                    model: e.model,
                },
                Err(_) => Target {
                    provider: None,
                    model: request.model.clone(),
                },
            };
            let reserved = budget::reserve(
                services.governance(),
                services.prices(),
                subject,
                &request,
                target,
            )
            .await;
            match reserved {
                Ok(Ok(r)) => Some(r),
                Ok(Err(refusal)) => {
                    return Err(refuse(services, ledger, refusal_error(refusal)));
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not reserve a gateway token's budget");
                    return Err(refuse(
                        services,
                        ledger,
                        ProviderError::internal(
                            "Portolan could not check the token's budget; see its log",
                        ),
                    ));
                }
            }
        }
    };
    Ok(Admitted {
        request,
        config,
        input_guard,
        output_guard,
        redactions,
        token_reservation,
    })
}
