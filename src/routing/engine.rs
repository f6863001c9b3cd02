//! Running one call: cache lookup, the routing tree (retries, fallback, load balancing,
//! conditions), the attempt itself, usage and cost, and the log record.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::conditions::{self, Facts};
use super::config::{
    CacheConfig, CacheMode, DEFAULT_CACHE_MAX_AGE_SECS, DEFAULT_RETRY_STATUS,
    DEFAULT_SEMANTIC_THRESHOLD, Mode, RetryConfig, RouteConfig,
};
use super::resolve::{KeyCache, TargetSpec, resolve};
use super::settings::EngineSettings;
use crate::cache::{CacheStatus, ResponseCache, exact_key, partition_key};
use crate::chat::{
    ChatChunk, ChatRequest, ChatResponse, ChunkAccumulator, Usage, response_to_chunks,
};
use crate::embeddings::{LOCAL_EMBEDDER, LocalHashEmbedder, normalize};
use crate::guardrails::Redactions;
use crate::logs::{AttemptRecord, CallRecord, LogWriter};
use crate::pricing::{PriceTable, TokenUsage, cost_usd};
use crate::providers::{self, AttemptLimits, ChunkStream, Endpoint, FailureKind, ProviderError};
use crate::store::{Refusal, Reservation, Store, Subject, TokenScopes};

use super::governance::{self, Guard, InputOutcome, StreamGuard, StreamRestorer};

/// The prompt a call was rendered from, for the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptRef {
    pub id: String,
    pub version: i64,
}

/// Everything about a call besides the request itself.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    pub config: Option<RouteConfig>,
    pub trace_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub prompt: Option<PromptRef>,
    /// Overrides the config's cache settings (`x-portkey-cache`).
    pub cache: Option<CacheConfig>,
    pub force_refresh: bool,
    /// Overrides the retry count of every target (`x-portkey-retry-count`).
    pub retry_attempts: Option<u32>,
    /// Overrides the per-attempt timeout (`x-portkey-request-timeout`).
    pub request_timeout_ms: Option<u64>,
    /// Who made the call: `cli`, `gateway`, `compare`, `app`.
    pub source: Option<String>,
    /// The gateway token making the call: its budget and rate limits apply.
    pub token: Option<Subject>,
    /// The token's scopes (allowed models and keys).
    pub scopes: Option<TokenScopes>,
}

/// How a finished call went; for streams it is set when the stream ends.
#[derive(Debug, Clone, Serialize)]
pub struct CallSummary {
    pub success: bool,
    pub status: u16,
    pub error: Option<String>,
    pub usage: Option<Usage>,
    /// None when the model's price is unknown (never reported as zero); 0 for cache hits.
    pub cost_usd: Option<f64>,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub cache_status: CacheStatus,
}

/// What is known about a call when its answer starts.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    pub call_id: String,
    pub trace_id: String,
    pub cache_status: CacheStatus,
    /// Which target served the call, as a path into the config (`0`, `1.0`, …).
    pub target_path: Option<String>,
    /// Retries made on the target that served the call.
    pub retry_count: u32,
    pub provider: Option<String>,
    pub model: String,
    pub key_name: Option<String>,
    /// Time spent waiting on providers before the answer (or first token) arrived.
    pub upstream_ms: u64,
    /// The same, in microseconds (for `Server-Timing`).
    pub upstream_us: u64,
    pub attempts: Vec<AttemptRecord>,
    #[serde(skip)]
    summary: Arc<OnceLock<CallSummary>>,
}

impl CallInfo {
    /// The call's outcome: available at once for complete answers, after the last chunk for
    /// streams.
    pub fn summary(&self) -> Option<&CallSummary> {
        self.summary.get()
    }
}

pub enum CallBody {
    Complete(ChatResponse),
    Stream(ChunkStream),
}

pub struct Call {
    pub info: CallInfo,
    pub body: CallBody,
}

/// A call that produced no answer.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    /// Status a gateway should answer with.
    pub status: u16,
    pub message: String,
    pub call_id: String,
    pub trace_id: String,
    pub attempts: Vec<AttemptRecord>,
    /// For 429s: when to try again (the provider's Retry-After / retry-after-ms, or the
    /// rate-limit window).
    pub retry_after_ms: Option<u64>,
}

struct Inner {
    store: Arc<Store>,
    client: reqwest::Client,
    prices: PriceTable,
    settings: EngineSettings,
    logs: LogWriter,
    cache: ResponseCache,
    keys: KeyCache,
    /// Budgets crossing their alert threshold, for whoever shows them (the app's notifications).
    alerts: tokio::sync::broadcast::Sender<crate::store::BudgetAlert>,
}

/// The routing engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

impl Engine {
    pub fn new(store: Arc<Store>) -> crate::Result<Engine> {
        let settings = EngineSettings::load(&store)?;
        Engine::with_settings(store, settings)
    }

    pub fn with_settings(store: Arc<Store>, settings: EngineSettings) -> crate::Result<Engine> {
        // reqwest is built without a default crypto provider; ring is the one used everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            // Provider APIs do not redirect; following one would silently re-send (or, for 301
            // and 302, turn a POST into a GET). A 3xx is reported as the provider's answer.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("portolan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Routing(format!("could not build the HTTP client: {e}")))?;
        let prices =
            PriceTable::with_overrides(&store.data_dir().join(crate::pricing::OVERRIDES_FILE))?;
        let logs = LogWriter::start(store.db_path(), settings.log_retention_days)?;
        let cache = ResponseCache::new(store.clone());
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                client,
                prices,
                settings,
                logs,
                cache,
                keys: KeyCache::default(),
                alerts: tokio::sync::broadcast::channel(64).0,
            }),
        })
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Budget alerts from now on, as calls settle (each budget alerts once per period; headless,
    /// the same alert is a warning on stderr and an audit entry).
    pub fn budget_alerts(&self) -> tokio::sync::broadcast::Receiver<crate::store::BudgetAlert> {
        self.inner.alerts.subscribe()
    }

    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.inner.settings
    }

    pub fn cache(&self) -> &ResponseCache {
        &self.inner.cache
    }

    /// Waits until every log record queued so far is in the database.
    pub fn flush_logs(&self) {
        self.inner.logs.flush();
    }

    /// Log records dropped because the writer fell behind.
    pub fn logs_dropped(&self) -> u64 {
        self.inner.logs.dropped()
    }

    /// Resolves a model string the way a call would (for listing and key tests).
    pub fn resolve(&self, model: &str) -> Result<Endpoint, ProviderError> {
        resolve(
            &self.inner.store,
            &self.inner.keys,
            &self.inner.prices,
            &TargetSpec::default(),
            model,
        )
    }

    /// Cost of `usage` on `provider`/`model`, if the model's price is known.
    pub fn cost(&self, provider: &str, model: &str, usage: &Usage) -> Option<f64> {
        let price = self.inner.prices.lookup(provider, model)?;
        cost_usd(
            price,
            &TokenUsage {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                cached_prompt_tokens: usage.cached_tokens(),
                cache_write_tokens: 0,
            },
        )
    }

    /// Embeds texts with a model string (`@key/model`, `ollama/nomic-embed-text`…), or with the
    /// local hashing embedder when `model` is `local-hash-v1`. Returns the embedder's name.
    pub async fn embed(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        let (mut vectors, name) = self.embed_raw(model, inputs).await?;
        for v in &mut vectors {
            normalize(v);
        }
        Ok((vectors, name))
    }

    /// As [`Engine::embed`], with the provider's vectors as they came (the gateway's
    /// `/v1/embeddings` passes them through).
    pub async fn embed_raw(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<(Vec<Vec<f32>>, String), ProviderError> {
        if model == LOCAL_EMBEDDER {
            return Ok((
                inputs.iter().map(|t| LocalHashEmbedder.embed(t)).collect(),
                LOCAL_EMBEDDER.into(),
            ));
        }
        let endpoint = self.resolve(model)?;
        let limits = self.default_limits(None);
        let vectors = providers::embed(&self.inner.client, &endpoint, inputs, limits).await?;
        Ok((vectors, format!("{}/{}", endpoint.provider, endpoint.model)))
    }

    fn default_limits(&self, timeout_ms: Option<u64>) -> AttemptLimits {
        AttemptLimits {
            request_timeout: Duration::from_millis(
                timeout_ms.unwrap_or(self.inner.settings.request_timeout_ms),
            ),
            idle_timeout: Duration::from_millis(self.inner.settings.stream_idle_timeout_ms),
        }
    }

    /// Runs one call.
    pub async fn chat(
        &self,
        mut request: ChatRequest,
        options: CallOptions,
    ) -> Result<Call, CallError> {
        let started = Instant::now();
        let created_at = now_ms();
        let call_id = crate::ids::new_sortable_id("call");
        let trace_id = options
            .trace_id
            .clone()
            .unwrap_or_else(|| crate::ids::new_sortable_id("trace"));
        let config = options.config.clone().unwrap_or_default();
        let stream = request.is_stream();
        let wants_usage = request
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);

        let fail_early = |status: u16, message: String| CallError {
            status,
            message,
            call_id: call_id.clone(),
            trace_id: trace_id.clone(),
            attempts: Vec::new(),
            retry_after_ms: None,
        };
        if request.messages.is_empty() {
            return Err(fail_early(400, "the request has no messages".into()));
        }
        if let Err(e) = config.validate() {
            return Err(fail_early(400, e.to_string()));
        }

        // Guardrails and the token's budget, before anything leaves the machine.
        let input_guard =
            Guard::input(&config, &self.inner.settings).map_err(|e| fail_early(400, e))?;
        let output_guard = Guard::output(&config).map_err(|e| fail_early(400, e))?;
        let mut redactions = Redactions::default();
        let mut metadata = options.metadata.clone();
        let mut redacted_copy = None;
        if let Some(g) = &input_guard {
            match governance::guard_input(g, &mut request, &mut redactions) {
                InputOutcome::Proceed { logged } => redacted_copy = Some(logged),
                InputOutcome::Deny { logged, reason } => {
                    metadata.insert("_pii".into(), redactions.summary());
                    let message = format!("refused by the PII guardrail: {reason}");
                    self.log_refused(
                        &call_id, &trace_id, created_at, &options, &metadata, &logged, 446,
                        &message,
                    );
                    return Err(fail_early(446, message));
                }
            }
            if !redactions.is_empty() {
                metadata.insert("_pii".into(), redactions.summary());
            }
        }
        // The request as the log may keep it: a redacted copy when a guardrail ran, else the
        // request itself (no copy on the common path).
        let request = request;
        let logged_request: &ChatRequest = redacted_copy.as_ref().unwrap_or(&request);
        let token_reservation = match &options.token {
            None => None,
            Some(subject) => {
                let target = || match self.resolve(&request.model) {
                    Ok(e) => (Some(e.provider), e.model),
                    Err(_) => (None, request.model.clone()),
                };
                match governance::reserve(self, subject, &request, target) {
                    Ok(Ok(r)) => Some(r),
                    Ok(Err(refusal)) => {
                        let (status, retry) = refusal_status(&refusal);
                        self.log_refused(
                            &call_id,
                            &trace_id,
                            created_at,
                            &options,
                            &metadata,
                            logged_request,
                            status,
                            refusal.message(),
                        );
                        let mut e = fail_early(status, refusal.message().to_owned());
                        e.retry_after_ms = retry.map(|secs| secs * 1000);
                        return Err(e);
                    }
                    Err(e) => return Err(fail_early(500, e.to_string())),
                }
            }
        };

        // Cache lookup.
        let cache_cfg = options.cache.clone().or_else(|| config.cache.clone());
        let mut cache_plan: Option<CachePlan> = None;
        let mut cache_status = CacheStatus::Disabled;
        if let Some(cfg) = &cache_cfg {
            // The routing config is part of the key (the same request routed elsewhere is
            // another answer); computed only when caching is on.
            let fingerprint = {
                let mut c = config.clone();
                c.cache = None;
                serde_json::to_string(&c).unwrap_or_default()
            };
            let plan = CachePlan::new(self, cfg, &request, &fingerprint).await;
            let force = options.force_refresh || cfg.force_refresh.unwrap_or(false);
            if force {
                cache_status = CacheStatus::Refresh;
            } else {
                match plan.lookup(self) {
                    Ok(Some((resp, status))) => {
                        self.settle(token_reservation.as_ref(), Some(0.0), 0);
                        let restore = input_guard
                            .as_ref()
                            .filter(|g| g.config.restore)
                            .map(|_| &redactions);
                        return Ok(self.serve_cached(
                            resp,
                            status,
                            logged_request,
                            &options,
                            &metadata,
                            restore,
                            call_id,
                            trace_id,
                            started,
                            created_at,
                        ));
                    }
                    Ok(None) => {
                        cache_status = if cfg.mode == CacheMode::Semantic {
                            CacheStatus::SemanticMiss
                        } else {
                            CacheStatus::Miss
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cache lookup failed; calling the provider");
                        cache_status = CacheStatus::Miss;
                    }
                }
            }
            cache_plan = Some(plan);
        }

        let mut run = Run {
            engine: self,
            request: &request,
            stream,
            metadata: &options.metadata,
            attempts: Vec::new(),
            upstream: Duration::ZERO,
            scopes: options.scopes.as_ref(),
            retry_override: options.retry_attempts,
            timeout_override: options.request_timeout_ms,
        };
        let outcome = run.node(&config, Inherited::default(), String::new()).await;
        let attempts = run.attempts;
        let upstream_us = run.upstream.as_micros() as u64;
        let upstream_ms = upstream_us / 1000;
        let summary = Arc::new(OnceLock::new());
        let mut base = self.record_for(
            &call_id,
            &trace_id,
            created_at,
            &options,
            &metadata,
            logged_request,
        );
        base.cache_status = cache_status.as_str().into();
        base.attempts = attempts.clone();
        let served = match outcome {
            Ok(s) => s,
            Err(failure) => {
                let status = gateway_status(&failure);
                let message = summarise_failure(&failure, &attempts);
                let mut record = base;
                record.status = status;
                record.error = Some(message.clone());
                record.latency_ms = ms(started.elapsed());
                if let Some(last) = attempts.last() {
                    record.provider = last.provider.clone();
                    record.model = last.model.clone().or(record.model);
                }
                self.inner.logs.log(record);
                self.settle(token_reservation.as_ref(), Some(0.0), 0);
                return Err(CallError {
                    status,
                    message,
                    call_id,
                    trace_id,
                    attempts,
                    retry_after_ms: failure.retry_after.map(|d| d.as_millis() as u64),
                });
            }
        };
        let info = CallInfo {
            call_id,
            trace_id,
            cache_status,
            target_path: Some(served.target_path.clone()),
            retry_count: served.retries,
            provider: Some(served.endpoint.provider.clone()),
            model: served.endpoint.model.clone(),
            key_name: served.endpoint.key_name.clone(),
            upstream_ms,
            upstream_us,
            attempts,
            summary: summary.clone(),
        };
        let mut record = base;
        record.provider = info.provider.clone();
        record.model = Some(info.model.clone());
        record.key_name = info.key_name.clone();
        record.retry_count = info.retry_count;
        record.target_path = info.target_path.clone();

        match served.body {
            ServedBody::Complete(mut response) => {
                if response.usage.is_none() {
                    response.usage = Some(providers::openai::estimated_usage(
                        &request,
                        &response.text(),
                    ));
                }
                let usage = response.usage;
                let cost = usage
                    .and_then(|u| self.cost(&served.endpoint.provider, &served.endpoint.model, &u));
                let latency = ms(started.elapsed());
                let total_tokens = usage.map_or(0, |u| u.total_tokens);
                self.settle(token_reservation.as_ref(), cost, total_tokens);
                self.settle(served.reservation.as_ref(), cost, total_tokens);
                // Answers under an output guardrail are not cached: a hit is served without
                // the provider, so it would also be served without the guardrail.
                if let Some(plan) = cache_plan.as_ref().filter(|_| output_guard.is_none()) {
                    plan.store(self, &response);
                }
                let (response, logged_response, refused) = governance::guard_output(
                    response,
                    input_guard.as_ref(),
                    &redactions,
                    output_guard.as_ref(),
                );
                fill_usage(&mut record, usage, cost);
                record.latency_ms = latency;
                record.ttft_ms = Some(latency);
                record.response = self.capped_body(&logged_response);
                if let Some(reason) = refused {
                    let message = format!("refused by the output PII guardrail: {reason}");
                    record.status = 446;
                    record.error = Some(message.clone());
                    self.inner.logs.log(record);
                    return Err(CallError {
                        status: 446,
                        message,
                        call_id: info.call_id,
                        trace_id: info.trace_id,
                        attempts: info.attempts,
                        retry_after_ms: None,
                    });
                }
                record.status = 200;
                record.success = true;
                self.inner.logs.log(record);
                let _ = summary.set(CallSummary {
                    success: true,
                    status: 200,
                    error: None,
                    usage,
                    cost_usd: cost,
                    latency_ms: latency,
                    ttft_ms: Some(latency),
                    cache_status,
                });
                if stream {
                    // A provider that cannot stream answered whole: replay it as a stream.
                    let chunks = response_to_chunks(&response, wants_usage);
                    let s: ChunkStream =
                        Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
                    return Ok(Call {
                        info,
                        body: CallBody::Stream(s),
                    });
                }
                Ok(Call {
                    info,
                    body: CallBody::Complete(response),
                })
            }
            ServedBody::Stream {
                buffered,
                rest,
                first_token_at,
            } => {
                let ttft = ms(first_token_at.duration_since(started));
                let (tx, rx) = mpsc::channel(64);
                let engine = self.clone();
                let provider = served.endpoint.provider.clone();
                let model = served.endpoint.model.clone();
                let key_reservation = served.reservation;
                let restore = input_guard.as_ref().is_some_and(|g| g.config.restore)
                    && !redactions.is_empty();
                tokio::spawn(async move {
                    let mut restorer = StreamRestorer::default();
                    let mut out_guard: Vec<StreamGuard> = Vec::new();
                    let mut acc = ChunkAccumulator::default();
                    let mut error: Option<ProviderError> = None;
                    let mut client_gone = false;
                    let mut items =
                        futures_util::stream::iter(buffered.into_iter().map(Ok)).chain(rest);
                    while let Some(item) = items.next().await {
                        match item {
                            Ok(chunk) => {
                                acc.push(&chunk);
                                let usage_only = chunk.choices.is_empty() && chunk.usage.is_some();
                                if usage_only && !wants_usage {
                                    continue;
                                }
                                let mut chunk = chunk;
                                if restore {
                                    for c in &mut chunk.choices {
                                        if let Some(t) = &c.delta.content {
                                            let mut text = restorer.push(&redactions, t);
                                            if c.finish_reason.is_some() {
                                                text.push_str(&restorer.finish(&redactions));
                                            }
                                            c.delta.content = Some(text);
                                        } else if c.finish_reason.is_some() {
                                            let rest = restorer.finish(&redactions);
                                            if !rest.is_empty() {
                                                c.delta.content = Some(rest);
                                            }
                                        }
                                    }
                                }
                                if let Some(g) = &output_guard
                                    && let Err(reason) = guard_chunk(g, &mut out_guard, &mut chunk)
                                {
                                    let e = ProviderError::new(FailureKind::Config, 446, reason);
                                    error = Some(e.clone());
                                    let _ = tx.send(Err(e)).await;
                                    break;
                                }
                                if tx.send(Ok(chunk)).await.is_err() {
                                    client_gone = true;
                                    break;
                                }
                            }
                            Err(e) => {
                                error = Some(e.clone());
                                let _ = tx.send(Err(e)).await;
                                break;
                            }
                        }
                    }
                    // A choice that ended without a finish_reason still gets what the output
                    // guardrail held back (the stream itself then counts as unfinished).
                    if error.is_none()
                        && !client_gone
                        && let Some(g) = &output_guard
                    {
                        match flush_held_back(g, &mut out_guard, &model) {
                            Ok(Some(chunk)) => {
                                if tx.send(Ok(chunk)).await.is_err() {
                                    client_gone = true;
                                }
                            }
                            Ok(None) => {}
                            Err(reason) => {
                                let e = ProviderError::new(FailureKind::Config, 446, reason);
                                error = Some(e.clone());
                                let _ = tx.send(Err(e)).await;
                            }
                        }
                    }
                    let complete = error.is_none() && !client_gone && acc.finished();
                    let latency = ms(started.elapsed());
                    let usage = acc.usage();
                    let cost = usage.and_then(|u| engine.cost(&provider, &model, &u));
                    let mut response = acc.finish();
                    let total_tokens = usage.map_or(0, |u| u.total_tokens);
                    let charged = if complete || usage.is_some() {
                        cost
                    } else {
                        Some(0.0)
                    };
                    engine.settle(token_reservation.as_ref(), charged, total_tokens);
                    engine.settle(key_reservation.as_ref(), charged, total_tokens);
                    let (status, err_text) = match (&error, client_gone, complete) {
                        (Some(e), _, _) => (gateway_status_of(e), Some(e.message.clone())),
                        (None, true, _) => (
                            499,
                            Some("the client stopped reading the stream".to_owned()),
                        ),
                        (None, false, false) => {
                            (502, Some("the stream ended without finishing".to_owned()))
                        }
                        (None, false, true) => (200, None),
                    };
                    if complete
                        && output_guard.is_none()
                        && let Some(plan) = &cache_plan
                    {
                        plan.store(&engine, &response);
                    }
                    fill_usage(&mut record, usage, cost);
                    record.status = status;
                    record.success = status == 200;
                    record.error = err_text.clone();
                    record.latency_ms = latency;
                    record.ttft_ms = Some(ttft);
                    if let Some(g) = &output_guard {
                        governance::redact_for_log(g, &mut response);
                    }
                    record.response = engine.capped_body(&response);
                    engine.inner.logs.log(record);
                    let _ = summary.set(CallSummary {
                        success: status == 200,
                        status,
                        error: err_text,
                        usage,
                        cost_usd: cost,
                        latency_ms: latency,
                        ttft_ms: Some(ttft),
                        cache_status,
                    });
                    drop(tx);
                });
                Ok(Call {
                    info,
                    body: CallBody::Stream(Box::pin(ReceiverStream::new(rx))),
                })
            }
        }
    }

    /// Replaces a reservation's estimate with the actual use; errors are logged, not raised (the
    /// call itself already happened).
    fn settle(&self, reservation: Option<&Reservation>, usd: Option<f64>, tokens: u64) {
        let Some(r) = reservation else { return };
        match self.inner.store.settle(r, usd, tokens, chrono::Utc::now()) {
            // No subscriber (headless) is fine: the alert is already logged and audited.
            Ok(alerts) => alerts.into_iter().for_each(|a| {
                let _ = self.inner.alerts.send(a);
            }),
            Err(e) => tracing::error!(error = %e, "could not settle a budget reservation"),
        }
    }

    /// The log record every outcome of a call starts from (the request as it may be logged).
    fn record_for(
        &self,
        call_id: &str,
        trace_id: &str,
        created_at: i64,
        options: &CallOptions,
        metadata: &BTreeMap<String, String>,
        request: &ChatRequest,
    ) -> CallRecord {
        CallRecord {
            id: call_id.to_owned(),
            trace_id: trace_id.to_owned(),
            created_at,
            source: options.source.clone().unwrap_or_else(|| "cli".into()),
            prompt_id: options.prompt.as_ref().map(|p| p.id.clone()),
            prompt_version: options.prompt.as_ref().map(|p| p.version),
            provider: None,
            model: Some(request.model.clone()),
            key_name: None,
            status: 0,
            success: false,
            error: None,
            stream: request.is_stream(),
            cache_status: CacheStatus::Disabled.as_str().into(),
            latency_ms: 0,
            ttft_ms: None,
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cost_usd: None,
            retry_count: 0,
            target_path: None,
            request: self.capped_body(request),
            response: None,
            metadata: metadata.clone(),
            attempts: Vec::new(),
        }
    }

    /// Logs a call refused before any provider was asked (guardrail, budget, rate limit).
    #[allow(clippy::too_many_arguments)]
    fn log_refused(
        &self,
        call_id: &str,
        trace_id: &str,
        created_at: i64,
        options: &CallOptions,
        metadata: &BTreeMap<String, String>,
        request: &ChatRequest,
        status: u16,
        message: &str,
    ) {
        let mut record = self.record_for(call_id, trace_id, created_at, options, metadata, request);
        record.status = status;
        record.error = Some(message.to_owned());
        self.inner.logs.log(record);
    }

    #[allow(clippy::too_many_arguments)]
    fn serve_cached(
        &self,
        mut response: ChatResponse,
        status: CacheStatus,
        request: &ChatRequest,
        options: &CallOptions,
        metadata: &BTreeMap<String, String>,
        restore: Option<&Redactions>,
        call_id: String,
        trace_id: String,
        started: Instant,
        created_at: i64,
    ) -> Call {
        response.id = crate::providers::new_completion_id();
        let latency = ms(started.elapsed());
        let usage = response.usage;
        let mut record =
            self.record_for(&call_id, &trace_id, created_at, options, metadata, request);
        record.provider = Some("cache".into());
        record.model = Some(response.model.clone());
        record.status = 200;
        record.success = true;
        record.cache_status = status.as_str().into();
        record.latency_ms = latency;
        record.ttft_ms = Some(latency);
        fill_usage(&mut record, usage, Some(0.0));
        record.response = self.capped_body(&response);
        self.inner.logs.log(record);
        if let Some(r) = restore {
            let (restored, _, _) =
                governance::guard_output(response, Some(&Guard::restoring()), r, None);
            response = restored;
        }
        let summary = Arc::new(OnceLock::new());
        let _ = summary.set(CallSummary {
            success: true,
            status: 200,
            error: None,
            usage,
            cost_usd: Some(0.0),
            latency_ms: latency,
            ttft_ms: Some(latency),
            cache_status: status,
        });
        let info = CallInfo {
            call_id,
            trace_id,
            cache_status: status,
            target_path: None,
            retry_count: 0,
            provider: Some("cache".into()),
            model: response.model.clone(),
            key_name: None,
            upstream_ms: 0,
            upstream_us: 0,
            attempts: Vec::new(),
            summary,
        };
        if request.is_stream() {
            let wants_usage = request
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false);
            let chunks = response_to_chunks(&response, wants_usage);
            return Call {
                info,
                body: CallBody::Stream(Box::pin(futures_util::stream::iter(
                    chunks.into_iter().map(Ok),
                ))),
            };
        }
        Call {
            info,
            body: CallBody::Complete(response),
        }
    }

    fn capped_body(&self, value: &impl Serialize) -> Option<String> {
        if !self.inner.settings.log_bodies {
            return None;
        }
        let mut text = serde_json::to_string(value).ok()?;
        let cap = self.inner.settings.log_body_max_bytes;
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
}

fn fill_usage(record: &mut CallRecord, usage: Option<Usage>, cost: Option<f64>) {
    record.prompt_tokens = usage.map(|u| u.prompt_tokens);
    record.completion_tokens = usage.map(|u| u.completion_tokens);
    record.cached_tokens = usage.map(|u| u.cached_tokens());
    record.cost_usd = cost;
}

/// Runs the streamed-output guardrail over one chunk's text (each choice held back on its own),
/// flushing what it held back when the choice finishes.
fn guard_chunk(
    guard: &Guard,
    states: &mut Vec<StreamGuard>,
    chunk: &mut crate::chat::ChatChunk,
) -> Result<(), String> {
    for c in &mut chunk.choices {
        let i = (c.index as usize).min(127);
        if states.len() <= i {
            states.resize_with(i + 1, StreamGuard::default);
        }
        let state = &mut states[i];
        let mut text = match &c.delta.content {
            Some(t) => state.push(guard, t)?,
            None => String::new(),
        };
        if c.finish_reason.is_some() {
            text.push_str(&state.finish(guard)?);
        }
        if c.delta.content.is_some() || !text.is_empty() {
            c.delta.content = Some(text);
        }
    }
    Ok(())
}

/// A last chunk with whatever the output guardrail still holds for choices that never
/// finished; `None` when nothing is held.
fn flush_held_back(
    guard: &Guard,
    states: &mut [StreamGuard],
    model: &str,
) -> Result<Option<crate::chat::ChatChunk>, String> {
    let mut choices = Vec::new();
    for (i, state) in states.iter_mut().enumerate() {
        let text = state.finish(guard)?;
        if !text.is_empty() {
            choices.push(crate::chat::ChunkChoice {
                index: i as u32,
                delta: crate::chat::Delta {
                    content: Some(text),
                    ..Default::default()
                },
                finish_reason: None,
            });
        }
    }
    Ok((!choices.is_empty()).then(|| crate::chat::ChatChunk {
        id: crate::providers::new_completion_id(),
        object: "chat.completion.chunk".into(),
        created: chrono::Utc::now().timestamp(),
        model: model.to_owned(),
        choices,
        usage: None,
    }))
}

/// HTTP status and Retry-After seconds for a refused reservation.
fn refusal_status(refusal: &Refusal) -> (u16, Option<u64>) {
    match refusal {
        Refusal::Budget { .. } => (412, None),
        Refusal::Rate {
            retry_after_secs, ..
        } => (429, Some(*retry_after_secs)),
    }
}

/// Status for a gateway to answer with after a failed call.
fn gateway_status_of(e: &ProviderError) -> u16 {
    match e.kind {
        FailureKind::Timeout | FailureKind::Stalled => 504,
        FailureKind::Config => e.status,
        FailureKind::Connect | FailureKind::Malformed | FailureKind::Incomplete => 502,
        FailureKind::Status if e.status >= 500 => 502,
        FailureKind::Status => e.status,
    }
}

fn gateway_status(f: &ProviderError) -> u16 {
    gateway_status_of(f)
}

fn summarise_failure(last: &ProviderError, attempts: &[AttemptRecord]) -> String {
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

struct CachePlan {
    exact: String,
    partition: String,
    semantic: Option<(String, Vec<f32>, f32)>,
    max_age: u64,
}

impl CachePlan {
    async fn new(
        engine: &Engine,
        cfg: &CacheConfig,
        request: &ChatRequest,
        fingerprint: &str,
    ) -> CachePlan {
        let mut semantic = None;
        if cfg.mode == CacheMode::Semantic
            && let Some(text) = request.last_user_text()
        {
            let model = engine
                .inner
                .settings
                .embedding_model
                .clone()
                .unwrap_or_else(|| LOCAL_EMBEDDER.into());
            match engine.embed(&model, &[text]).await {
                Ok((mut v, name)) if !v.is_empty() => {
                    semantic = Some((
                        name,
                        v.remove(0),
                        cfg.threshold.unwrap_or(DEFAULT_SEMANTIC_THRESHOLD),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "embedding for the semantic cache failed; exact matching only")
                }
            }
        }
        CachePlan {
            exact: exact_key(request, fingerprint),
            partition: partition_key(request, fingerprint),
            semantic,
            max_age: cfg.max_age.unwrap_or(DEFAULT_CACHE_MAX_AGE_SECS),
        }
    }

    fn lookup(&self, engine: &Engine) -> crate::Result<Option<(ChatResponse, CacheStatus)>> {
        let now = now_ms();
        if let Some(r) = engine.inner.cache.get_exact(&self.exact, now)? {
            return Ok(Some((r, CacheStatus::Hit)));
        }
        if let Some((embedder, v, threshold)) = &self.semantic
            && let Some(m) =
                engine
                    .inner
                    .cache
                    .get_semantic(&self.partition, embedder, v, *threshold, now)?
        {
            return Ok(Some((m.response, CacheStatus::SemanticHit)));
        }
        Ok(None)
    }

    fn store(&self, engine: &Engine, response: &ChatResponse) {
        let embedding = self
            .semantic
            .as_ref()
            .map(|(n, v, _)| (n.as_str(), v.as_slice()));
        if let Err(e) = engine.inner.cache.put(
            &self.exact,
            &self.partition,
            response,
            embedding,
            now_ms(),
            self.max_age,
        ) {
            tracing::warn!(error = %e, "could not store the answer in the cache");
        }
    }
}

/// What a parent passes down; a child's own values win.
#[derive(Debug, Clone, Default)]
struct Inherited {
    retry: Option<RetryConfig>,
    request_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    custom_host: Option<String>,
    override_params: Map<String, Value>,
}

impl Inherited {
    fn child(&self, node: &RouteConfig) -> Inherited {
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

enum ServedBody {
    Complete(ChatResponse),
    Stream {
        buffered: Vec<ChatChunk>,
        rest: ChunkStream,
        first_token_at: Instant,
    },
}

struct Served {
    endpoint: Endpoint,
    target_path: String,
    retries: u32,
    body: ServedBody,
    /// The serving key's budget reservation, settled when the answer is complete.
    reservation: Option<Reservation>,
}

struct Run<'a> {
    engine: &'a Engine,
    request: &'a ChatRequest,
    stream: bool,
    metadata: &'a BTreeMap<String, String>,
    attempts: Vec<AttemptRecord>,
    upstream: Duration,
    scopes: Option<&'a TokenScopes>,
    retry_override: Option<u32>,
    timeout_override: Option<u64>,
}

type NodeFuture<'b> = Pin<Box<dyn Future<Output = Result<Served, ProviderError>> + Send + 'b>>;

fn join_path(parent: &str, i: usize) -> String {
    if parent.is_empty() {
        i.to_string()
    } else {
        format!("{parent}.{i}")
    }
}

impl<'a> Run<'a> {
    fn node<'b>(
        &'b mut self,
        node: &'b RouteConfig,
        parent: Inherited,
        path: String,
    ) -> NodeFuture<'b>
    where
        'a: 'b,
    {
        Box::pin(async move {
            let inherited = parent.child(node);
            if node.targets.is_empty() {
                return self
                    .leaf(
                        node,
                        &inherited,
                        if path.is_empty() { "0".into() } else { path },
                    )
                    .await;
            }
            match node.mode() {
                Mode::Single => {
                    self.node(&node.targets[0], inherited, join_path(&path, 0))
                        .await
                }
                Mode::Loadbalance => {
                    let i = pick_weighted(&node.targets);
                    self.node(&node.targets[i], inherited, join_path(&path, i))
                        .await
                }
                Mode::Conditional => {
                    let strategy = node.strategy.as_ref().expect("conditional has a strategy");
                    let params = serde_json::to_value(self.request)
                        .ok()
                        .and_then(|v| v.as_object().cloned())
                        .unwrap_or_default();
                    let facts = Facts {
                        metadata: self.metadata,
                        params: &params,
                    };
                    let chosen = strategy
                        .conditions
                        .iter()
                        .find(|c| conditions::matches(&c.query, &facts))
                        .map(|c| c.then.as_str())
                        .or(strategy.default.as_deref())
                        .ok_or_else(|| {
                            ProviderError::config(
                                "no condition matched and the conditional router has no default",
                            )
                        })?;
                    let i = node
                        .targets
                        .iter()
                        .position(|t| t.name.as_deref() == Some(chosen))
                        .ok_or_else(|| {
                            ProviderError::config(format!("no target named '{chosen}'"))
                        })?;
                    self.node(&node.targets[i], inherited, join_path(&path, i))
                        .await
                }
                Mode::Fallback => {
                    let codes = node
                        .strategy
                        .as_ref()
                        .and_then(|s| s.on_status_codes.clone());
                    let mut last = None;
                    for (i, target) in node.targets.iter().enumerate() {
                        match self
                            .node(target, inherited.clone(), join_path(&path, i))
                            .await
                        {
                            Ok(s) => return Ok(s),
                            Err(e) => {
                                let falls_through = match (&codes, &target.on_status_codes) {
                                    (_, Some(own)) => own.contains(&e.status),
                                    (Some(c), None) => c.contains(&e.status),
                                    (None, None) => true,
                                };
                                if !falls_through {
                                    return Err(e);
                                }
                                last = Some(e);
                            }
                        }
                    }
                    Err(last.unwrap_or_else(|| ProviderError::config("fallback has no targets")))
                }
            }
        })
    }

    async fn leaf(
        &mut self,
        node: &RouteConfig,
        inherited: &Inherited,
        path: String,
    ) -> Result<Served, ProviderError> {
        let settings = &self.engine.inner.settings;
        let mut request = self.request.clone();
        request
            .apply_params(&inherited.override_params)
            .map_err(|e| {
                ProviderError::config(format!("override_params do not fit a chat request: {e}"))
            })?;
        let spec = TargetSpec {
            provider: node.provider.as_deref(),
            virtual_key: node.virtual_key.as_deref(),
            api_key: node.api_key.as_deref(),
            custom_host: inherited.custom_host.as_deref(),
        };
        let retry = inherited.retry.clone();
        let retries = self
            .retry_override
            .or(retry.as_ref().map(|r| r.attempts))
            .unwrap_or(settings.retry_attempts)
            .min(super::config::MAX_RETRY_ATTEMPTS);
        let codes: Vec<u16> = retry
            .as_ref()
            .and_then(|r| r.on_status_codes.clone())
            .unwrap_or_else(|| DEFAULT_RETRY_STATUS.to_vec());
        let honour_retry_after = retry
            .as_ref()
            .and_then(|r| r.use_retry_after_header)
            .unwrap_or(true);
        let limits = AttemptLimits {
            request_timeout: Duration::from_millis(
                self.timeout_override
                    .or(inherited.request_timeout)
                    .unwrap_or(settings.request_timeout_ms),
            ),
            idle_timeout: Duration::from_millis(
                inherited
                    .idle_timeout
                    .unwrap_or(settings.stream_idle_timeout_ms),
            ),
        };
        let endpoint = {
            let store = &self.engine.inner.store;
            resolve(
                store,
                &self.engine.inner.keys,
                &self.engine.inner.prices,
                &spec,
                &request.model,
            )
        };
        let endpoint = match endpoint {
            Ok(e) => e,
            Err(e) => {
                self.record(
                    &path,
                    None,
                    &request.model,
                    e.status,
                    Some(&e.message),
                    Duration::ZERO,
                );
                return Err(e);
            }
        };
        if let Some(scopes) = self.scopes {
            let refusal =
                if !scopes.allows_model(&request.model) && !scopes.allows_model(&endpoint.model) {
                    Some(format!(
                        "this gateway token may not use model '{}' (allowed: {})",
                        endpoint.model,
                        scopes.models.join(", ")
                    ))
                } else if !scopes.allows_key(endpoint.key_name.as_deref()) {
                    Some(format!(
                        "this gateway token may not use {} (allowed keys: {})",
                        endpoint
                            .key_name
                            .as_deref()
                            .map_or("the demo provider".to_owned(), |k| format!(
                                "virtual key '{k}'"
                            )),
                        scopes.keys.join(", ")
                    ))
                } else {
                    None
                };
            if let Some(message) = refusal {
                let e = ProviderError::new(FailureKind::Config, 403, message);
                self.record(
                    &path,
                    Some(&endpoint),
                    &endpoint.model,
                    403,
                    Some(&e.message),
                    Duration::ZERO,
                );
                return Err(e);
            }
        }
        let key_subject = endpoint.key_id.clone().map(|id| Subject {
            kind: crate::store::SubjectKind::Key,
            id,
            name: endpoint.key_name.clone().unwrap_or_default(),
        });
        let mut attempt = 0u32;
        loop {
            let reservation = match &key_subject {
                None => None,
                Some(subject) => {
                    let target = || (Some(endpoint.provider.clone()), endpoint.model.clone());
                    match governance::reserve(self.engine, subject, &request, target) {
                        Ok(Ok(r)) => Some(r),
                        Ok(Err(refusal)) => {
                            let (status, retry) = refusal_status(&refusal);
                            let mut e = ProviderError::new(
                                FailureKind::Config,
                                status,
                                refusal.message().to_owned(),
                            );
                            e.retry_after = retry.map(Duration::from_secs);
                            self.record(
                                &path,
                                Some(&endpoint),
                                &endpoint.model,
                                status,
                                Some(&e.message),
                                Duration::ZERO,
                            );
                            return Err(e);
                        }
                        Err(err) => return Err(ProviderError::config(err.to_string())),
                    }
                }
            };
            let started = Instant::now();
            let result = self.attempt(&endpoint, &request, limits).await;
            let elapsed = started.elapsed();
            self.upstream += elapsed;
            match result {
                Ok(body) => {
                    self.record(&path, Some(&endpoint), &endpoint.model, 200, None, elapsed);
                    return Ok(Served {
                        endpoint,
                        target_path: path,
                        retries: attempt,
                        body,
                        reservation,
                    });
                }
                Err(e) => {
                    self.engine.settle(reservation.as_ref(), Some(0.0), 0);
                    self.record(
                        &path,
                        Some(&endpoint),
                        &endpoint.model,
                        e.status,
                        Some(&e.message),
                        elapsed,
                    );
                    let transport = matches!(
                        e.kind,
                        FailureKind::Timeout
                            | FailureKind::Connect
                            | FailureKind::Incomplete
                            | FailureKind::Stalled
                    );
                    let retryable =
                        transport || (e.kind == FailureKind::Status && codes.contains(&e.status));
                    if attempt >= retries || !retryable {
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

    async fn attempt(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest,
        limits: AttemptLimits,
    ) -> Result<ServedBody, ProviderError> {
        let client = &self.engine.inner.client;
        if !self.stream {
            return providers::complete(client, endpoint, request, limits)
                .await
                .map(ServedBody::Complete);
        }
        let mut stream = providers::stream(client, endpoint, request, limits).await?;
        // A stream that fails before its first token fails the attempt, so retries and
        // fallbacks still apply; after the first token the client is committed to it.
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
                        &endpoint.provider,
                        "the stream ended before any token",
                    ));
                }
            }
        }
    }

    fn record(
        &mut self,
        path: &str,
        endpoint: Option<&Endpoint>,
        model: &str,
        status: u16,
        error: Option<&str>,
        elapsed: Duration,
    ) {
        let n = self.attempts.len() as u32;
        self.attempts.push(AttemptRecord {
            n,
            target_path: path.to_owned(),
            provider: endpoint.map(|e| e.provider.clone()),
            model: Some(model.to_owned()),
            key_name: endpoint.and_then(|e| e.key_name.clone()),
            status,
            error: error.map(str::to_owned),
            latency_ms: ms(elapsed),
            started_at: now_ms() - ms(elapsed) as i64,
        });
    }
}

/// Exponential backoff with ±25 % jitter.
fn backoff(base_ms: u64, max_ms: u64, attempt: u32) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(20)).min(max_ms);
    let r = u16::from_le_bytes(crate::ids::random_bytes::<2>()) as f64 / u16::MAX as f64;
    Duration::from_millis((exp as f64 * (0.75 + 0.5 * r)) as u64)
}

/// Weighted random choice (weight defaults to 1).
fn pick_weighted(targets: &[RouteConfig]) -> usize {
    let weights: Vec<f64> = targets
        .iter()
        .map(|t| t.weight.unwrap_or(1.0).max(0.0))
        .collect();
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let r = u64::from_le_bytes(crate::ids::random_bytes::<8>()) as f64 / u64::MAX as f64 * total;
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if r < acc {
            return i;
        }
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights() {
        let targets: Vec<RouteConfig> = [3.0, 1.0, 0.0]
            .iter()
            .map(|w| RouteConfig {
                weight: Some(*w),
                ..Default::default()
            })
            .collect();
        let mut counts = [0u32; 3];
        for _ in 0..4000 {
            counts[pick_weighted(&targets)] += 1;
        }
        assert_eq!(counts[2], 0);
        let share = counts[0] as f64 / 4000.0;
        assert!((0.70..0.80).contains(&share), "{counts:?}");
    }

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
}
