//! Relaying the answer: a complete answer is finished at once; a stream is passed on chunk by
//! chunk by a task of its own (placeholders restored, the output guardrail applied with its
//! hold-back) and finished when it ends. Finishing is the same either way — settle the
//! reservations to what was used, fill the cache, log the call, publish its summary — and so is
//! replaying an answer as a stream ([`replay`]), for cache hits and for providers that answered
//! a stream request whole.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::admit::Admitted;
use super::attempt::{Served, ServedBody, ServedTarget};
use super::cache::CachePlan;
use super::call::{Call, CallBody, CallError, CallInfo, CallSummary};
use super::guard::{self, StreamGuard, StreamRestorer};
use super::record::{Finished, Ledger, ServedBy, capped_body, ms};
use super::services::Services;
use crate::cache::CacheStatus;
use crate::chat::{ChatRequest, ChatResponse, ChunkAccumulator, Usage, response_to_chunks};
use crate::logs::AttemptRecord;
use crate::providers::{ChunkStream, FailureKind, ProviderError, openai::estimated_usage};
use crate::store::Actor;

/// An answer as a stream of chunks (usage last, when the client asked for it).
pub(super) fn replay(response: &ChatResponse, wants_usage: bool) -> ChunkStream {
    let chunks = response_to_chunks(response, wants_usage);
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)))
}

fn wants_usage(request: &ChatRequest) -> bool {
    request
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false)
}

fn summary_cell(summary: CallSummary) -> Arc<OnceLock<CallSummary>> {
    let cell = Arc::new(OnceLock::new());
    let _ = cell.set(summary);
    cell
}

/// Serves a cached answer: logged as a hit, placeholders of the request restored.
pub(super) async fn cached(
    services: &Services,
    ledger: Ledger,
    admitted: Admitted,
    mut response: ChatResponse,
    status: CacheStatus,
    actor: &Actor,
) -> Call {
    services
        .settle(admitted.token_reservation.as_ref(), Some(0.0), 0, actor)
        .await;
    response.id = crate::providers::new_completion_id();
    let (record, summary) = ledger.cache_hit(&services.settings(), &response, status);
    services.log_answered(record).await;
    if admitted.restores() {
        guard::restore_answer(&mut response, &admitted.redactions);
    }
    let info = CallInfo {
        call_id: ledger.call_id,
        trace_id: ledger.trace_id,
        cache_status: status,
        target_path: None,
        retry_count: 0,
        provider: Some("cache".into()),
        model: response.model.clone(),
        key_name: None,
        upstream_ms: 0,
        upstream_us: 0,
        attempts: Vec::new(),
        summary: summary_cell(summary),
    };
    let body = if admitted.request.is_stream() {
        CallBody::Stream(replay(&response, wants_usage(&admitted.request)))
    } else {
        CallBody::Complete(response)
    };
    Call { info, body }
}

/// What finishing a served call needs.
pub(super) struct Delivery {
    pub services: Arc<Services>,
    /// Whether the caller is still waiting (None: always, e.g. the CLI).
    pub client: Option<super::call::ClientWatch>,
    pub ledger: Ledger,
    pub admitted: Admitted,
    pub cache: Option<CachePlan>,
    pub actor: Actor,
    pub attempts: Vec<AttemptRecord>,
    pub upstream_us: u64,
    /// Counts the call in flight until its relay ends.
    pub _busy: super::services::BusyGuard,
}

impl Delivery {
    fn info(&self, served: &ServedTarget, summary: Arc<OnceLock<CallSummary>>) -> CallInfo {
        CallInfo {
            call_id: self.ledger.call_id.clone(),
            trace_id: self.ledger.trace_id.clone(),
            cache_status: self.ledger.cache_status(),
            target_path: Some(served.target_path.clone()),
            retry_count: served.retries,
            provider: Some(served.endpoint.provider.id().to_owned()),
            model: served.endpoint.model.clone(),
            key_name: served.endpoint.key_name.clone(),
            upstream_ms: self.upstream_us / 1000,
            upstream_us: self.upstream_us,
            attempts: self.attempts.clone(),
            summary,
        }
    }

    /// Settles both reservations to what the call used.
    async fn settle(&self, served: &ServedTarget, cost: Option<f64>, tokens: u64) {
        let services = &self.services;
        services
            .settle(
                self.admitted.token_reservation.as_ref(),
                cost,
                tokens,
                &self.actor,
            )
            .await;
        services
            .settle(served.reservation.as_ref(), cost, tokens, &self.actor)
            .await;
    }

    /// Logs the served call (before the answer's last byte, when the log is durable) and
    /// publishes its summary.
    async fn finish(
        &self,
        served: &ServedTarget,
        finished: Finished,
        cell: &OnceLock<CallSummary>,
    ) {
        let by = ServedBy {
            endpoint: &served.endpoint,
            target_path: &served.target_path,
            retries: served.retries,
            attempts: self.attempts.clone(),
        };
        let (record, summary) = self.ledger.served(by, finished);
        self.services.log_answered(record).await;
        let _ = cell.set(summary);
    }
}

/// Relays a served call's answer.
pub(super) async fn deliver(delivery: Delivery, served: Served) -> Result<Call, CallError> {
    let Served {
        target: served,
        body,
    } = served;
    match body {
        ServedBody::Complete(response) => complete(delivery, served, response).await,
        ServedBody::Stream {
            buffered,
            rest,
            first_token_at,
        } => Ok(stream(delivery, served, buffered, rest, first_token_at)),
    }
}

async fn complete(
    d: Delivery,
    served: ServedTarget,
    mut response: ChatResponse,
) -> Result<Call, CallError> {
    let request = &d.admitted.request;
    if response.usage.is_none() {
        response.usage = Some(estimated_usage(request, &response.text()));
    }
    let usage = response.usage;
    let cost = usage.and_then(|u| {
        d.services
            .cost(served.endpoint.provider.id(), &served.endpoint.model, &u)
    });
    d.settle(&served, cost, usage.map_or(0, |u| u.total_tokens))
        .await;
    if let Some(plan) = &d.cache {
        plan.fill(&d.services, &response).await;
    }
    let (response, logged, refused) = guard::guard_output(
        response,
        d.admitted.input_guard.as_ref(),
        &d.admitted.redactions,
        d.admitted.output_guard.as_ref(),
    );
    let latency = d.ledger.elapsed_ms();
    let gone = d.client.as_ref().is_some_and(|c| c.is_gone());
    let failure = match refused {
        Some(reason) => Some(ProviderError::refused(
            FailureKind::Guardrail,
            format!("refused by the output PII guardrail: {reason}"),
        )),
        // The answer came (and is paid for) but nobody is there to take it.
        None if gone => Some(client_closed()),
        None => None,
    };
    let cell = Arc::new(OnceLock::new());
    d.finish(
        &served,
        Finished {
            failure: failure.clone(),
            usage,
            cost,
            ttft_ms: latency,
            response: capped_body(&d.services.settings(), &logged),
        },
        &cell,
    )
    .await;
    if let Some(cause) = failure {
        return Err(d.ledger.error_after_serving(cause, d.attempts.clone()));
    }
    let info = d.info(&served, cell);
    let body = if request.is_stream() {
        // A provider that cannot stream answered whole: replay it as a stream.
        CallBody::Stream(replay(&response, wants_usage(request)))
    } else {
        CallBody::Complete(response)
    };
    Ok(Call { info, body })
}

fn stream(
    d: Delivery,
    served: ServedTarget,
    buffered: Vec<crate::chat::ChatChunk>,
    rest: ChunkStream,
    first_token_at: Instant,
) -> Call {
    let cell = Arc::new(OnceLock::new());
    let info = d.info(&served, cell.clone());
    let ttft = ms(first_token_at.duration_since(d.ledger.started));
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let wants_usage = wants_usage(&d.admitted.request);
        let restore = d.admitted.restores();
        let output_guard = d.admitted.output_guard.as_ref();
        let redactions = &d.admitted.redactions;
        let mut restorer = StreamRestorer::default();
        let mut out_guard: Vec<StreamGuard> = Vec::new();
        let mut acc = ChunkAccumulator::default();
        let mut error: Option<ProviderError> = None;
        let mut client_gone = false;
        let mut items = futures_util::stream::iter(buffered.into_iter().map(Ok)).chain(rest);
        loop {
            // A client that went away is noticed at once, not at the next chunk: the upstream
            // request is dropped and the call settled and logged now.
            let item = tokio::select! {
                biased;
                _ = tx.closed() => {
                    client_gone = true;
                    break;
                }
                item = items.next() => item,
            };
            let Some(item) = item else { break };
            let mut chunk = match item {
                Ok(chunk) => chunk,
                Err(e) => {
                    error = Some(e.clone());
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            };
            acc.push(&chunk);
            let usage_only = chunk.choices.is_empty() && chunk.usage.is_some();
            if usage_only && !wants_usage {
                continue;
            }
            if restore {
                restore_chunk(&mut restorer, redactions, &mut chunk);
            }
            if let Some(g) = output_guard
                && let Err(reason) = guard::guard_chunk(g, &mut out_guard, &mut chunk)
            {
                let e = ProviderError::refused(FailureKind::Guardrail, reason.0);
                error = Some(e.clone());
                let _ = tx.send(Err(e)).await;
                break;
            }
            if tx.send(Ok(chunk)).await.is_err() {
                client_gone = true;
                break;
            }
        }
        // A choice that ended without a finish_reason still gets what the output guardrail
        // held back (the stream itself then counts as unfinished).
        if error.is_none()
            && !client_gone
            && let Some(g) = output_guard
        {
            match guard::flush_held_back(g, &mut out_guard, &served.endpoint.model) {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        client_gone = true;
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    let e = ProviderError::refused(FailureKind::Guardrail, reason.0);
                    error = Some(e.clone());
                    let _ = tx.send(Err(e)).await;
                }
            }
        }
        let complete = error.is_none() && !client_gone && acc.finished();
        let failure = match (error, client_gone, complete) {
            (Some(e), _, _) => Some(e),
            (None, true, _) => Some(client_closed()),
            (None, false, false) => Some(ProviderError::incomplete(
                served.endpoint.provider.id(),
                "it ended without finishing",
            )),
            (None, false, true) => None,
        };
        // A stream cut (by the client or the upstream) before its usage chunk is charged for
        // what was sent and what came back, counted locally, never as free.
        let reported: Option<Usage> = acc.usage();
        let mut response = acc.finish();
        let usage =
            reported.or_else(|| Some(estimated_usage(&d.admitted.request, &response.text())));
        let cost = usage.and_then(|u| {
            d.services
                .cost(served.endpoint.provider.id(), &served.endpoint.model, &u)
        });
        d.settle(&served, cost, usage.map_or(0, |u| u.total_tokens))
            .await;
        if complete && let Some(plan) = &d.cache {
            plan.fill(&d.services, &response).await;
        }
        if let Some(g) = output_guard {
            guard::redact_for_log(g, &mut response);
        }
        let logged = capped_body(&d.services.settings(), &response);
        d.finish(
            &served,
            Finished {
                failure,
                usage,
                cost,
                ttft_ms: ttft,
                response: logged,
            },
            &cell,
        )
        .await;
        // The stream ends (its last byte is sent) only now: with a durable log, once the
        // record is stored.
        drop(tx);
    });
    Call {
        info,
        body: CallBody::Stream(Box::pin(ReceiverStream::new(rx))),
    }
}

fn client_closed() -> ProviderError {
    ProviderError::refused(
        FailureKind::ClientClosed,
        "client closed request: the caller went away before the answer was delivered",
    )
}

/// Restores the request's placeholders in one chunk, holding back a placeholder split across
/// chunks until it is whole.
fn restore_chunk(
    restorer: &mut StreamRestorer,
    redactions: &crate::guardrails::Redactions,
    chunk: &mut crate::chat::ChatChunk,
) {
    for c in &mut chunk.choices {
        if let Some(t) = &c.delta.content {
            let mut text = restorer.push(redactions, t);
            if c.finish_reason.is_some() {
                text.push_str(&restorer.finish(redactions));
            }
            c.delta.content = Some(text);
        } else if c.finish_reason.is_some() {
            let rest = restorer.finish(redactions);
            if !rest.is_empty() {
                c.delta.content = Some(rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatMessage, Choice};

    #[tokio::test]
    async fn a_replayed_answer_streams_its_text_and_usage_when_asked() {
        let response = ChatResponse {
            id: "c".into(),
            object: "chat.completion".into(),
            created: 0,
            model: "m".into(),
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::new("assistant", "hello there"),
                finish_reason: Some("stop".into()),
                logprobs: None,
            }],
            usage: Some(Usage::new(1, 2, 0)),
            system_fingerprint: None,
        };
        let chunks: Vec<_> = replay(&response, true).collect().await;
        let mut acc = ChunkAccumulator::default();
        for c in &chunks {
            acc.push(c.as_ref().unwrap());
        }
        assert!(acc.finished());
        assert_eq!(acc.usage().map(|u| u.completion_tokens), Some(2));
        assert_eq!(acc.finish().text(), "hello there");
        let without: Vec<_> = replay(&response, false).collect().await;
        assert!(without.iter().all(|c| c.as_ref().unwrap().usage.is_none()));
    }
}
