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
use crate::cache::CacheStatus;
use crate::chat::{
    ChatMessage, ChatRequest, ChunkAccumulator, MessageContent, StreamOptions, ToolCall, Usage,
};
use crate::routing::{CallBody, CallOptions, Engine};
use crate::tools::simulate::SimulatedResults;
use crate::tools::{CheckedCall, ToolResult, ToolSchemas, ToolStep};

/// Times a cell answered 429 is queued again (after the provider's pause) before it is shown
/// as failed.
pub const RATE_LIMIT_REQUEUES: u32 = 3;

/// One cell to run.
pub struct Job {
    pub cell: Cell,
    pub model: String,
    pub request: ChatRequest,
    pub options: CallOptions,
    /// The request's tools' schemas, compiled once for every cell of the column.
    pub schemas: Arc<ToolSchemas>,
    /// Simulated tool results, to run a tool-using prompt to its final answer.
    pub simulation: Option<Arc<SimulatedResults>>,
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
                schemas,
                simulation,
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
            let mut run = CellRun::new(cell, model, request, options);
            let mut requeued = 0;
            let result = loop {
                let permit = lane.admit().await;
                send(CompareEvent::Started { cell });
                // Boxed: every cell's task is spawned at once and waits for its lane, and an
                // inline cell future (the tool loop, the stream) would make each waiting task
                // several kilobytes bigger.
                let outcome = Box::pin(run_cell(
                    &engine,
                    cell,
                    &mut run,
                    CellTools {
                        schemas: &schemas,
                        simulation: simulation.as_deref(),
                    },
                    events.as_ref(),
                ))
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
                        run.again();
                    }
                    _ => break run.result,
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

/// What a cell checks its tool calls against and answers them with.
struct CellTools<'a> {
    schemas: &'a ToolSchemas,
    simulation: Option<&'a SimulatedResults>,
}

/// What one model turn gave.
struct Turn {
    text: String,
    calls: Vec<ToolCall>,
    error: Option<String>,
    outcome: Outcome,
    trace_id: Option<String>,
    provider: Option<String>,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
    cache_status: Option<CacheStatus>,
    ttft_ms: Option<u64>,
}

impl Turn {
    /// The first choice's text and tool calls, moved out of the answer.
    fn take_answer(&mut self, resp: crate::chat::ChatResponse) {
        let Some(choice) = resp.choices.into_iter().next() else {
            return;
        };
        let message = choice.message;
        self.text = match message.content {
            Some(MessageContent::Text(t)) => t,
            Some(MessageContent::Parts(_)) => message.text(),
            None => String::new(),
        };
        self.calls = message.tool_calls.unwrap_or_default();
    }
}

/// A cell on its way through its steps. It outlives a 429: the cell is queued again and goes
/// on from the step that met it, so the steps already answered are not paid for twice.
struct CellRun {
    /// The next request: the prompt, then the exchange so far.
    request: ChatRequest,
    options: CallOptions,
    result: CellResult,
    /// The step to run next (1-based).
    step: u32,
    started: Instant,
}

impl CellRun {
    fn new(cell: Cell, model: String, request: ChatRequest, options: CallOptions) -> Self {
        CellRun {
            request,
            options,
            result: CellResult {
                row: cell.row,
                column: cell.column,
                model,
                provider: None,
                output: String::new(),
                error: None,
                latency_ms: 0,
                ttft_ms: None,
                usage: None,
                cost_usd: Some(0.0),
                cache_status: None,
                trace_id: None,
                tool_calls: Vec::new(),
                steps: Vec::new(),
            },
            step: 1,
            started: Instant::now(),
        }
    }

    /// Readies the cell to run again after a 429: from scratch when its first step met it (a new
    /// trace, a new clock), else from the step that did (same trace, the clock running on).
    fn again(&mut self) {
        if self.step == 1 {
            let cell = Cell {
                row: self.result.row,
                column: self.result.column,
            };
            let model = std::mem::take(&mut self.result.model);
            *self = CellRun::new(
                cell,
                model,
                std::mem::take(&mut self.request),
                std::mem::take(&mut self.options),
            );
        } else {
            self.result.error = None;
        }
    }
}

/// Runs one cell: one model call, or — when the answer calls tools that `simulation` has
/// results for — a loop that sends the simulated results back until the model answers without
/// calls or `max_steps` calls were made. Every step is logged under the first step's trace;
/// the cell's cost, tokens and latency are the sums. A 429 leaves `run` at its step, to go on
/// from there if the cell is queued again.
async fn run_cell(
    engine: &Engine,
    cell: Cell,
    run: &mut CellRun,
    tools: CellTools<'_>,
    events: Option<&mpsc::UnboundedSender<CompareEvent>>,
) -> Outcome {
    let CellTools {
        schemas,
        simulation,
    } = tools;
    let CellRun {
        request,
        options,
        result,
        step: next_step,
        started,
    } = run;
    let started = *started;
    let vars = options.variables.clone().unwrap_or_default();
    let simulation = simulation.filter(|s| s.is_active());
    let max_steps = simulation.map_or(1, SimulatedResults::max_steps);
    let mut outcome = Outcome::Done;
    while *next_step <= max_steps {
        let step = *next_step;
        let step_started = Instant::now();
        // Sent as a copy: the request stays to add the exchange to, or to send again after a
        // 429.
        let turn = one_turn(
            engine,
            cell,
            request.clone(),
            options.clone(),
            events,
            started,
        )
        .await;
        outcome = turn.outcome;
        if result.trace_id.is_none() {
            result.trace_id = turn.trace_id.clone();
        }
        result.provider = turn.provider.or(result.provider.take());
        result.ttft_ms = result.ttft_ms.or(turn.ttft_ms);
        result.cache_status = turn.cache_status.or(result.cache_status);
        result.usage = match (result.usage, turn.usage) {
            (Some(a), Some(b)) => Some(Usage::new(
                a.prompt_tokens + b.prompt_tokens,
                a.completion_tokens + b.completion_tokens,
                a.cached_tokens() + b.cached_tokens(),
            )),
            (a, b) => a.or(b),
        };
        // A 429 costs nothing and is sent again: it leaves the sum as it was.
        if !matches!(turn.outcome, Outcome::RateLimited { .. }) {
            result.cost_usd = result.cost_usd.zip(turn.cost_usd).map(|(a, b)| a + b);
        }
        if let Some(e) = turn.error {
            result.error = Some(e);
            break;
        }
        let checked: Vec<CheckedCall> = turn.calls.iter().map(|c| schemas.check(c)).collect();
        let results: Option<Vec<std::result::Result<String, String>>> = match simulation {
            Some(sim) if step < max_steps && !turn.calls.is_empty() => {
                turn.calls.iter().map(|c| sim.result(c, &vars)).collect()
            }
            _ => None,
        };
        let Some(results) = results else {
            result.output = turn.text;
            result.tool_calls = checked;
            break;
        };
        let mut sent = Vec::with_capacity(results.len());
        let mut failed = None;
        for (call, r) in turn.calls.iter().zip(results) {
            match r {
                Ok(content) => sent.push(ToolResult {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    content,
                }),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        request.messages.push(ChatMessage {
            role: "assistant".into(),
            content: (!turn.text.is_empty()).then(|| MessageContent::Text(turn.text.clone())),
            tool_calls: Some(turn.calls.clone()),
            ..Default::default()
        });
        for r in &sent {
            request.messages.push(ChatMessage {
                tool_call_id: Some(r.id.clone()),
                ..ChatMessage::new("tool", r.content.clone())
            });
        }
        result.steps.push(ToolStep {
            text: turn.text,
            calls: checked,
            results: sent,
            latency_ms: step_started.elapsed().as_millis() as u64,
            cost_usd: turn.cost_usd,
        });
        if let Some(e) = failed {
            result.error = Some(format!("step {step}: {e}"));
            break;
        }
        options.trace_id = result.trace_id.clone();
        options
            .metadata
            .insert("tool_step".into(), (step + 1).to_string());
        *next_step += 1;
    }
    result.latency_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// One model call, streamed: its text (sent on as deltas), its tool calls and its measures.
async fn one_turn(
    engine: &Engine,
    cell: Cell,
    request: ChatRequest,
    options: CallOptions,
    events: Option<&mpsc::UnboundedSender<CompareEvent>>,
    started: Instant,
) -> Turn {
    let mut turn = Turn {
        text: String::new(),
        calls: Vec::new(),
        error: None,
        outcome: Outcome::Done,
        trace_id: None,
        provider: None,
        usage: None,
        cost_usd: None,
        cache_status: None,
        ttft_ms: None,
    };
    match engine.chat(request, options).await {
        Err(e) => {
            if e.status() == 429 {
                turn.outcome = Outcome::RateLimited {
                    retry_after: e.retry_after_ms.map(Duration::from_millis),
                };
            }
            turn.error = Some(e.message);
            turn.trace_id = Some(e.trace_id);
        }
        Ok(call) => {
            turn.provider = call.info.provider.clone();
            turn.trace_id = Some(call.info.trace_id.clone());
            match call.body {
                CallBody::Complete(resp) => turn.take_answer(resp),
                CallBody::Stream(mut s) => {
                    let mut acc = ChunkAccumulator::default();
                    while let Some(item) = s.next().await {
                        match item {
                            Ok(chunk) => {
                                for c in &chunk.choices {
                                    if let Some(t) =
                                        c.delta.content.as_deref().filter(|t| !t.is_empty())
                                    {
                                        if turn.ttft_ms.is_none() {
                                            turn.ttft_ms =
                                                Some(started.elapsed().as_millis() as u64);
                                        }
                                        if let Some(tx) = events {
                                            let _ = tx.send(CompareEvent::Delta {
                                                cell,
                                                text: t.to_owned(),
                                            });
                                        }
                                    }
                                }
                                acc.push(&chunk);
                            }
                            Err(e) => {
                                turn.error = Some(e.message);
                                break;
                            }
                        }
                    }
                    turn.take_answer(acc.finish());
                }
            }
            if let Some(s) = call.info.summary() {
                turn.usage = s.usage;
                turn.cost_usd = s.cost_usd;
                turn.cache_status = Some(s.cache_status);
                turn.ttft_ms = s.ttft_ms.or(turn.ttft_ms);
                if turn.error.is_none() && !s.success {
                    turn.error = s.error.clone();
                }
            }
        }
    }
    turn
}
