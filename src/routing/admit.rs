//! Admission: what a call must pass before anything leaves the machine — a well-formed request
//! and routing config, the input guardrail (which may redact the request or refuse it), and the
//! gateway token's budget and rate limits (a reservation of the call's worst case). A refusal is
//! logged and returned as a [`CallError`]; nothing is sent.

use super::attempt::scope_refusal;
use super::budget::{self, Target};
use super::call::{CallError, CallOptions};
use super::config::RouteConfig;
use super::guard::{self, Guard, InputOutcome};
use super::record::Ledger;
use super::services::Services;
use super::targets::{self, Reachable};
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
    /// Every target the config can reach, resolved, when admission needed them (scopes, a
    /// budget); the cache step resolves them itself otherwise.
    pub reachable: Option<Vec<Reachable>>,
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
    let guards = Guard::input(
        &config,
        &services.settings(),
        options
            .scopes
            .as_ref()
            .is_some_and(|s| s.allow_guardrail_override),
    )
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
                ledger.set_request(&services.settings(), &logged, metadata);
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
        &services.settings(),
        logged.as_ref().unwrap_or(&request),
        metadata,
    );

    // What the config can reach, before the cache and before anything is sent: a tree that
    // could fan out without bound is refused, and a token's scopes must allow every target (so
    // it never gets a cached answer of a target it may not use).
    let settings = services.settings();
    let most = targets::max_attempts(&config, settings.retry_attempts, options.retry_attempts);
    if most > u64::from(settings.max_attempts_per_call) {
        let cause = ProviderError::config(format!(
            "this routing config can make up to {most} upstream attempts (targets × retries); Portolan allows {} per call (setting max_attempts_per_call)",
            settings.max_attempts_per_call
        ));
        return Err(refuse(services, ledger, cause));
    }
    let mut reachable = None;
    if let Some(scopes) = &options.scopes {
        if !scopes.prompts.is_empty() && targets::replaces_messages(&config) {
            let cause = ProviderError::refused(
                FailureKind::Forbidden,
                "this gateway token may only call its prompts; override_params.messages would replace the prompt",
            );
            return Err(refuse(services, ledger, cause));
        }
        let reach =
            targets::reachable(services, &config, &request, options.custom_hosts_allowed()).await;
        for r in &reach {
            let refusal = match (&r.endpoint, &r.request) {
                (Ok(e), Ok(req)) => scope_refusal(scopes, &req.model, e),
                (Err(e), _) if e.kind == FailureKind::Forbidden => Some(e.clone()),
                _ => None,
            };
            if let Some(cause) = refusal {
                return Err(refuse(services, ledger, cause));
            }
        }
        reachable = Some(reach);
    }

    // The gateway token's budget and rate limits, priced on the worst target it can reach.
    let token_reservation = match &options.token {
        None => None,
        Some(subject) => {
            let known = reachable.as_ref();
            let reach = async || {
                let owned;
                let list = match known {
                    Some(l) => l,
                    None => {
                        owned = targets::reachable(
                            services,
                            &config,
                            &request,
                            options.custom_hosts_allowed(),
                        )
                        .await;
                        &owned
                    }
                };
                list.iter()
                    .map(|r| {
                        let req = r.request.as_ref().unwrap_or(&request).clone();
                        match &r.endpoint {
                            Ok(e) => Target {
                                provider: Some(e.provider),
                                model: e.model.clone(),
                                request: req,
                            },
                            Err(_) => Target {
                                provider: None,
                                model: req.model.clone(),
                                request: req,
                            },
                        }
                    })
                    .collect()
            };
            match budget::reserve_or_refuse(services, subject, reach).await {
                Ok(r) => Some(r),
                Err(e) => return Err(refuse(services, ledger, e)),
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
        reachable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatMessage;
    use crate::guardrails::PiiAction;
    use crate::providers::FailureKind;
    use crate::routing::services::for_tests;
    use crate::routing::settings::EngineSettings;
    use crate::store::{Actor, BudgetUnit, Period, Subject, SubjectKind};

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            model: "demo/small".into(),
            messages: vec![ChatMessage::new("user", text)],
            ..Default::default()
        }
    }

    async fn admit_with(
        services: &Services,
        req: ChatRequest,
        options: CallOptions,
    ) -> Result<Admitted, CallError> {
        let mut ledger = Ledger::new(&options, false, &req.model);
        admit(services, req, &options, &mut ledger).await
    }

    #[tokio::test]
    async fn an_empty_request_or_a_bad_config_is_refused_and_logged() {
        let (_dir, store, services) = for_tests(EngineSettings::default());
        let mut empty = request("x");
        empty.messages.clear();
        let err = admit_with(&services, empty, CallOptions::default())
            .await
            .err()
            .unwrap();
        assert_eq!((err.kind(), err.status()), (FailureKind::Config, 400));
        let bad = CallOptions {
            config: Some(RouteConfig {
                request_timeout: Some(0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = admit_with(&services, request("x"), bad)
            .await
            .err()
            .unwrap();
        assert!(err.message.contains("request_timeout"), "{}", err.message);
        services.call_log().flush().await;
        assert_eq!(store.list_calls(&Default::default()).unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_input_guardrail_redacts_or_refuses_before_anything_is_sent() {
        let mut settings = EngineSettings {
            pii: PiiAction::Redact,
            ..Default::default()
        };
        let (_d, _s, services) = for_tests(settings.clone());
        let a = admit_with(
            &services,
            request("mail ada@example.com"),
            CallOptions::default(),
        )
        .await
        .unwrap_or_else(|_| panic!("admitted"));
        assert_eq!(a.request.messages[0].text(), "mail [EMAIL_1]");
        settings.pii = PiiAction::Deny;
        let (_d, _s, services) = for_tests(settings);
        let err = admit_with(
            &services,
            request("mail ada@example.com"),
            CallOptions::default(),
        )
        .await
        .err()
        .unwrap();
        assert_eq!((err.kind(), err.status()), (FailureKind::Guardrail, 446));
    }

    #[tokio::test]
    async fn a_token_over_its_budget_is_refused_with_412() {
        let (_d, store, services) = for_tests(EngineSettings::default());
        let token = store.create_token("t", &Actor::Cli).unwrap().token;
        let subject = Subject {
            kind: SubjectKind::Token,
            id: token.id,
            name: token.name,
        };
        store
            .set_budget(
                &subject,
                BudgetUnit::Tokens,
                10.0,
                Period::None,
                None,
                &Actor::Cli,
            )
            .unwrap();
        let options = CallOptions {
            token: Some(subject),
            ..Default::default()
        };
        let err = admit_with(&services, request("hello"), options)
            .await
            .err()
            .unwrap();
        assert_eq!(
            (err.kind(), err.status()),
            (FailureKind::BudgetExhausted, 412)
        );
        assert!(err.message.contains("exhausted"), "{}", err.message);
    }
}
