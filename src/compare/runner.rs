//! The matrix runner shared by comparisons and experiments: cells (a chat request each) run
//! concurrently through the engine, streamed, with a concurrency limit per provider that backs
//! off when the provider answers 429 ([`super::lane`]): the cell that met the 429 is queued
//! again after the provider's pause, up to [`RATE_LIMIT_REQUEUES`] times. Each cell reports
//! started, its text deltas, throttling and its result as [`CompareEvent`]s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::lane::{Outcome, ProviderLane};
use super::{Cell, CellResult, CompareEvent};
use crate::chat::{ChatRequest, StreamOptions};
use crate::routing::{CallBody, CallOptions, Engine};

/// Times a cell answered 429 is queued again (after the provider's pause) before it is shown
/// as failed.
pub const RATE_LIMIT_REQUEUES: u32 = 3;

/// One cell to run.
pub struct Job {
    pub cell: Cell,
    pub model: String,
    pub request: ChatRequest,
    pub options: CallOptions,
}

/// Starts every job; each task's result is its cell's. Jobs wait for their provider's lane, so at
/// most `per_provider_concurrency` calls per provider are in flight.
pub async fn spawn(
    engine: &Engine,
    jobs: Vec<Job>,
    per_provider_concurrency: usize,
    events: Option<mpsc::UnboundedSender<CompareEvent>>,
) -> JoinSet<CellResult> {
    let mut providers: HashMap<String, String> = HashMap::new();
    let mut lanes: HashMap<String, Arc<ProviderLane>> = HashMap::new();
    let mut tasks = JoinSet::new();
    for job in jobs {
        let provider = match providers.get(&job.model) {
            Some(p) => p.clone(),
            None => {
                let p = engine
                    .resolve(&job.model)
                    .await
                    .map(|e| e.provider.id().to_owned())
                    .unwrap_or_else(|_| job.model.clone());
                providers.insert(job.model.clone(), p.clone());
                p
            }
        };
        let lane = lanes
            .entry(provider.clone())
            .or_insert_with(|| Arc::new(ProviderLane::new(per_provider_concurrency.max(1))))
            .clone();
        let engine = engine.clone();
        let events = events.clone();
        tasks.spawn(async move {
            let Job {
                cell,
                model,
                mut request,
                options,
            } = job;
            request.stream = Some(true);
            request.stream_options = Some(StreamOptions {
                include_usage: Some(true),
            });
            let send = |e: CompareEvent| {
                if let Some(tx) = &events {
                    let _ = tx.send(e);
                }
            };
            let mut requeued = 0;
            let result = loop {
                let permit = lane.admit().await;
                send(CompareEvent::Started { cell });
                let (result, outcome) = run_cell(
                    &engine,
                    cell,
                    model.clone(),
                    request.clone(),
                    options.clone(),
                    events.as_ref(),
                )
                .await;
                let throttle = lane.finish(permit, outcome);
                match throttle {
                    Some(t) if requeued < RATE_LIMIT_REQUEUES && !t.too_long => {
                        requeued += 1;
                        send(CompareEvent::Throttled {
                            cell,
                            provider: provider.clone(),
                            limit: t.limit,
                            pause_ms: t.pause.as_millis() as u64,
                        });
                    }
                    _ => break result,
                }
            };
            send(CompareEvent::Finished {
                cell,
                result: Box::new(result.clone()),
            });
            result
        });
    }
    tasks
}

async fn run_cell(
    engine: &Engine,
    cell: Cell,
    model: String,
    request: ChatRequest,
    options: CallOptions,
    events: Option<&mpsc::UnboundedSender<CompareEvent>>,
) -> (CellResult, Outcome) {
    let started = Instant::now();
    let mut result = CellResult {
        row: cell.row,
        column: cell.column,
        model,
        provider: None,
        output: String::new(),
        error: None,
        latency_ms: 0,
        ttft_ms: None,
        usage: None,
        cost_usd: None,
        cache_status: None,
        trace_id: None,
    };
    let mut outcome = Outcome::Done;
    match engine.chat(request, options).await {
        Err(e) => {
            if e.status() == 429 {
                outcome = Outcome::RateLimited {
                    retry_after: e.retry_after_ms.map(Duration::from_millis),
                };
            }
            result.error = Some(e.message);
            result.trace_id = Some(e.trace_id);
        }
        Ok(call) => {
            result.provider = call.info.provider.clone();
            result.trace_id = Some(call.info.trace_id.clone());
            match call.body {
                CallBody::Complete(resp) => result.output = resp.text(),
                CallBody::Stream(mut s) => {
                    while let Some(item) = s.next().await {
                        match item {
                            Ok(chunk) => {
                                for c in &chunk.choices {
                                    if let Some(t) =
                                        c.delta.content.as_deref().filter(|t| !t.is_empty())
                                    {
                                        if result.ttft_ms.is_none() {
                                            result.ttft_ms =
                                                Some(started.elapsed().as_millis() as u64);
                                        }
                                        result.output.push_str(t);
                                        if let Some(tx) = events {
                                            let _ = tx.send(CompareEvent::Delta {
                                                cell,
                                                text: t.to_owned(),
                                            });
                                        }
                                    }
                                }
                            }
                            Err(e) => {
                                result.error = Some(e.message);
                                break;
                            }
                        }
                    }
                }
            }
            if let Some(s) = call.info.summary() {
                result.usage = s.usage;
                result.cost_usd = s.cost_usd;
                result.cache_status = Some(s.cache_status);
                result.ttft_ms = s.ttft_ms.or(result.ttft_ms);
                if result.error.is_none() && !s.success {
                    result.error = s.error.clone();
                }
            }
        }
    }
    result.latency_ms = started.elapsed().as_millis() as u64;
    (result, outcome)
}
