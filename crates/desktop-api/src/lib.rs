//! The desktop app's command layer, without Tauri: every Tauri command in `src-tauri` is a
//! one-line call into [`Desktop`], so the logic runs (and is tested) without a window.

pub mod dto;
pub mod evals;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::{Mutex, oneshot, watch};

use portolan::chat::{ChatMessage, ChatRequest};
use portolan::compare::{self, CompareEvent, CompareSpec};
use portolan::diff::diff_versions;
use portolan::gateway::{self, GatewayConfig};
use portolan::keys::NewKey;
use portolan::logs::{CallRecord, LogFilter};
use portolan::prompt_file::{self, PromptFile};
use portolan::prompts::{
    Message, PromptContent, PromptVersion, Role, VariableMap, VariableSpec, VersionSelector,
};
use portolan::providers::Provider;
use portolan::routing::{CallBody, CallOptions, Engine};
use portolan::secrets::SecretString;
use portolan::store::{Actor, Subject, SubjectKind};
use portolan::{Store, StoreOptions};

pub use dto::*;
pub use evals::*;

struct RunningGateway {
    port: u16,
    stop: oneshot::Sender<()>,
    requests: Arc<AtomicU64>,
    closer: gateway::Closer,
}

/// Everything the app holds: the store, the engine on it, the gateway when switched on, and the
/// cancel switch of a running comparison. Cheap to clone (shared parts), so blocking work can
/// move to the blocking pool ([`Desktop::blocking`]).
#[derive(Clone)]
pub struct Desktop {
    store: Arc<Store>,
    engine: Engine,
    gateway: Arc<Mutex<Option<RunningGateway>>>,
    pub(crate) cancel: Arc<std::sync::Mutex<Option<watch::Sender<bool>>>>,
}

/// Changes made from the app are audited as the app's.
const ACTOR: Actor = Actor::App;

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn draft_of(content: &PromptContent) -> PromptDraft {
    PromptDraft {
        description: content.description.clone(),
        model: content.model.clone(),
        params_json: serde_json::to_string_pretty(&Value::Object(content.params.clone()))
            .unwrap_or_else(|_| "{}".into()),
        variables: content
            .variables
            .iter()
            .map(|(name, spec)| VariableDto {
                name: name.clone(),
                description: spec.description.clone(),
                default_json: spec.default.as_ref().map(|v| v.to_string()),
            })
            .collect(),
        messages: content.messages.iter().map(MessageDto::of).collect(),
    }
}

fn params_of(params_json: &str) -> ApiResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(if params_json.trim().is_empty() {
        "{}"
    } else {
        params_json
    }) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AppError::new(
            "invalid_params",
            "model parameters must be a JSON object, like {\"temperature\": 0.2}",
        )),
        Err(e) => Err(AppError::new(
            "invalid_params",
            format!("model parameters are not valid JSON: {e}"),
        )),
    }
}

fn content_of(draft: &PromptDraft) -> ApiResult<PromptContent> {
    let params = params_of(&draft.params_json)?;
    let mut variables = VariableMap::new();
    for v in &draft.variables {
        // A default that is not JSON is taken as a plain string (`friendly` for `"friendly"`).
        let default = v
            .default_json
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|text| {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
            });
        variables.insert(
            v.name.clone(),
            VariableSpec {
                description: v.description.clone().filter(|d| !d.is_empty()),
                default,
            },
        );
    }
    let mut messages = Vec::new();
    for m in &draft.messages {
        let role = Role::parse(&m.role).ok_or_else(|| {
            AppError::new(
                "invalid_role",
                format!(
                    "'{}' is not a role (system, user, assistant or tool)",
                    m.role
                ),
            )
        })?;
        messages.push(Message {
            tool_calls: m.tool_calls.clone(),
            tool_call_id: m.tool_call_id.clone().filter(|id| !id.trim().is_empty()),
            ..Message::new(role, m.content.clone())
        });
    }
    Ok(PromptContent {
        description: draft.description.clone().filter(|d| !d.trim().is_empty()),
        model: draft.model.clone().filter(|m| !m.trim().is_empty()),
        params,
        variables,
        messages,
    })
}

fn summary_of(p: &portolan::prompts::Prompt) -> PromptSummary {
    PromptSummary {
        id: p.id.clone(),
        slug: p.slug.clone(),
        latest_version: p.latest_version,
        description: p.description.clone(),
        model: p.model.clone(),
        labels: p
            .labels
            .iter()
            .map(|l| LabelDto {
                name: l.name.clone(),
                version: l.version,
            })
            .collect(),
        updated_at: time(&p.updated_at),
    }
}

fn u32_of(v: u64) -> u32 {
    v.min(u32::MAX as u64) as u32
}

fn row_of(c: &CallRecord) -> LogRow {
    LogRow {
        id: c.id.clone(),
        trace_id: c.trace_id.clone(),
        created_at: c.created_at,
        source: c.source.clone(),
        prompt_id: c.prompt_id.clone(),
        prompt_version: c.prompt_version,
        provider: c.provider.clone(),
        model: c.model.clone(),
        key_name: c.key_name.clone(),
        status: c.status,
        success: c.success,
        error: c.error.clone(),
        cache_status: c.cache_status.as_str().to_owned(),
        latency_ms: u32_of(c.latency_ms),
        ttft_ms: c.ttft_ms.map(u32_of),
        prompt_tokens: c.prompt_tokens.map(u32_of),
        completion_tokens: c.completion_tokens.map(u32_of),
        cost_usd: c.cost_usd,
        retry_count: c.retry_count,
        target_path: c.target_path.clone(),
        metadata: c.metadata.clone(),
    }
}

fn cell_of(c: &compare::CellResult) -> CellDto {
    CellDto {
        row: c.row as u32,
        column: c.column as u32,
        model: c.model.clone(),
        provider: c.provider.clone(),
        output: c.output.clone(),
        error: c.error.clone(),
        latency_ms: u32_of(c.latency_ms),
        ttft_ms: c.ttft_ms.map(u32_of),
        prompt_tokens: c.usage.map(|u| u32_of(u.prompt_tokens)),
        completion_tokens: c.usage.map(|u| u32_of(u.completion_tokens)),
        cost_usd: c.cost_usd,
        cache_status: c.cache_status.map(|s| s.as_str().to_owned()),
        trace_id: c.trace_id.clone(),
        tool_calls: c.tool_calls.clone(),
        steps: c.steps.clone(),
    }
}

fn pretty(body: &Option<String>) -> Option<String> {
    body.as_ref().map(|b| {
        serde_json::from_str::<Value>(b)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| b.clone())
    })
}

/// A cheap model to test a provider's key with (one token), from the provider registry.
fn probe_model(provider: &str) -> Option<&'static str> {
    Provider::from_id(provider).and_then(|p| p.spec().test_model)
}

/// The providers a key can be added for, as the key form shows them (from the registry).
pub fn providers() -> Vec<ProviderDto> {
    Provider::with_keys()
        .map(|p| {
            let s = p.spec();
            ProviderDto {
                id: s.id.into(),
                label: s.label.into(),
                needs_base_url: s.needs_base_url,
                needs_secret: s.needs_secret,
                base_url_hint: s
                    .base_url_hint
                    .or(s.default_base_url)
                    .unwrap_or_default()
                    .into(),
                test_model: s.test_model.map(Into::into),
                credentials: match p {
                    Provider::Bedrock => "aws",
                    Provider::Vertex => "service_account",
                    _ => "api_key",
                }
                .into(),
            }
        })
        .collect()
}

/// Forwards a run's events to the window in batches, one message per [`EVENT_BATCH_WINDOW`]
/// instead of one per token: each message to the web view is a script evaluation, and thousands
/// of them per run grew WebKit's memory by tens of MB per run (bench/compare-matrix.sh). Ends
/// when the run drops its sender.
pub(crate) fn forward_batched<E, D>(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<E>,
    map: impl Fn(E) -> D + Send + 'static,
    on_event: impl Fn(Vec<D>) + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()>
where
    E: Send + 'static,
    D: Send + 'static,
{
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![map(first)];
            let deadline = tokio::time::Instant::now() + EVENT_BATCH_WINDOW;
            let mut closed = false;
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(ev)) => batch.push(map(ev)),
                    Ok(None) => {
                        closed = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            on_event(batch);
            if closed {
                break;
            }
        }
    })
}

impl Desktop {
    /// Arms the cancel switch for a new run (comparison or experiment); cancelling flips it.
    pub(crate) fn arm_cancel(&self) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        if let Ok(mut c) = self.cancel.lock() {
            *c = Some(tx);
        }
        rx
    }

    /// Opens the data directory (`PORTOLAN_HOME` or the platform's) the way the CLI does;
    /// changes made from the app are audited as `app`.
    pub fn open(data_dir: Option<&Path>) -> ApiResult<Desktop> {
        let dir = portolan::paths::resolve_data_dir(data_dir)?;
        let store = Arc::new(Store::open_with(&dir, StoreOptions::from_env())?);
        let engine = Engine::new(store.clone())?;
        Ok(Desktop {
            store,
            engine,
            gateway: Arc::new(Mutex::new(None)),
            cancel: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs blocking work (SQLite, a log flush) on the blocking pool, so a command never holds
    /// one of the executor's threads.
    pub async fn blocking<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Desktop) -> ApiResult<T> + Send + 'static,
    {
        let d = self.clone();
        tokio::task::spawn_blocking(move || f(&d))
            .await
            .map_err(|e| AppError::new("internal", format!("a task stopped unexpectedly: {e}")))?
    }

    pub fn data_dir(&self) -> String {
        self.store().data_dir().display().to_string()
    }

    pub fn list_prompts(&self) -> ApiResult<Vec<PromptSummary>> {
        Ok(self
            .store()
            .list_prompts()?
            .iter()
            .map(summary_of)
            .collect())
    }

    fn version_dto(&self, v: PromptVersion) -> ApiResult<VersionDto> {
        let refs = self.store().references(&v)?;
        let latest = self.store().get_prompt(&v.prompt_id)?.latest_version;
        let file_text = prompt_file::render(&PromptFile {
            name: v.slug.clone(),
            content: v.content.clone(),
            labels: v.labels.clone(),
        });
        Ok(VersionDto {
            prompt_id: v.prompt_id.clone(),
            slug: v.slug.clone(),
            version: v.version,
            latest_version: latest,
            message: v.message.clone(),
            created_at: time(&v.created_at),
            labels: v.labels.clone(),
            draft: draft_of(&v.content),
            variables_used: refs.variables,
            partials: refs.partials,
            file_text,
        })
    }

    pub fn get_version(&self, prompt: &str, version: Option<i64>) -> ApiResult<VersionDto> {
        let sel = version.map_or(VersionSelector::Latest, VersionSelector::Number);
        self.version_dto(self.store().get_version(prompt, &sel)?)
    }

    /// Every version, newest first (the timeline).
    pub fn list_versions(&self, prompt: &str) -> ApiResult<Vec<VersionDto>> {
        let mut out = Vec::new();
        for v in self.store().list_versions(prompt)?.into_iter().rev() {
            out.push(self.version_dto(v)?);
        }
        Ok(out)
    }

    pub fn create_prompt(
        &self,
        slug: &str,
        draft: &PromptDraft,
        message: Option<&str>,
    ) -> ApiResult<SaveResult> {
        let s = self
            .store()
            .create_prompt(slug, &content_of(draft)?, message, &ACTOR)?;
        Ok(SaveResult {
            prompt_id: s.prompt_id,
            slug: s.slug,
            version: s.version,
            created: s.created,
        })
    }

    pub fn save_prompt(
        &self,
        prompt: &str,
        draft: &PromptDraft,
        message: Option<&str>,
    ) -> ApiResult<SaveResult> {
        let s = self
            .store()
            .save_version(prompt, &content_of(draft)?, message, &ACTOR)?;
        Ok(SaveResult {
            prompt_id: s.prompt_id,
            slug: s.slug,
            version: s.version,
            created: s.created,
        })
    }

    /// Renders the editor's unsaved draft with the variables form's values.
    pub fn preview(
        &self,
        slug: &str,
        draft: &PromptDraft,
        variables: &Map<String, Value>,
    ) -> ApiResult<PreviewDto> {
        let content = content_of(draft)?;
        let refs = self.store().draft_references(slug, &content)?;
        let messages = self.store().render_draft(slug, &content, variables)?;
        Ok(PreviewDto {
            messages: messages.iter().map(MessageDto::of).collect(),
            image_lines: messages
                .iter()
                .map(|m| m.image_lines.iter().map(|&l| l as u32).collect())
                .collect(),
            variables_used: refs.variables,
        })
    }

    /// Checks the editor's parameters as a save would (types, tools, tool choice and response
    /// schema), so the tools editor can show an error as it is typed.
    pub fn check_params(&self, params_json: &str) -> ApiResult<()> {
        let params = params_of(params_json)?;
        portolan::prompts::validate_params(&params)?;
        Ok(())
    }

    /// An image file as a data URL to embed in a message (type from its extension, at most
    /// 5 MB).
    pub fn image_data_url(&self, path: &str) -> ApiResult<String> {
        Ok(portolan::images::data_url_from_file(std::path::Path::new(
            path,
        ))?)
    }

    pub fn set_label(&self, prompt: &str, version: i64, label: &str) -> ApiResult<()> {
        self.store().set_label(prompt, version, label, &ACTOR)?;
        Ok(())
    }

    pub fn diff(&self, prompt: &str, from: i64, to: i64) -> ApiResult<DiffDto> {
        let a = self
            .store()
            .get_version(prompt, &VersionSelector::Number(from))?;
        let b = self
            .store()
            .get_version(prompt, &VersionSelector::Number(to))?;
        let d = diff_versions(&a, &b);
        let tag = |t: portolan::diff::Tag| {
            serde_json::to_value(t)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        Ok(DiffDto {
            slug: d.slug.clone(),
            from: d.from,
            to: d.to,
            changed: d.changed,
            sections: d
                .sections
                .iter()
                .map(|s| DiffSectionDto {
                    title: s.title.clone(),
                    change: serde_json::to_value(s.change)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    lines: s
                        .lines
                        .iter()
                        .map(|l| DiffLineDto {
                            tag: tag(l.tag),
                            old_line: l.old_line.map(|n| n as u32),
                            new_line: l.new_line.map(|n| n as u32),
                            segments: l
                                .segments
                                .iter()
                                .map(|g| SegmentDto {
                                    text: g.text.clone(),
                                    emphasized: g.emphasized,
                                })
                                .collect(),
                        })
                        .collect(),
                    words: s
                        .words
                        .iter()
                        .map(|w| WordDto {
                            tag: tag(w.tag),
                            text: w.text.clone(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    /// Models to offer: the demo ones, then those reachable through configured keys (the same
    /// list the gateway's `/v1/models` gives, without `@key/<model>` patterns).
    pub async fn list_models(&self) -> ApiResult<Vec<ModelOption>> {
        Ok(portolan::models::available(&self.engine)
            .await?
            .into_iter()
            .filter(|m| !m.pattern)
            .map(|m| ModelOption {
                demo: m.provider == Provider::Demo,
                provider: m.provider.id().into(),
                id: m.id,
            })
            .collect())
    }

    /// Runs a comparison, reporting progress through `on_event`; [`Desktop::cancel_compare`]
    /// stops it (cells in flight are dropped and their calls cancelled).
    pub async fn run_compare(
        &self,
        request: CompareRequest,
        on_event: impl Fn(Vec<CompareEventDto>) + Send + Sync + 'static,
    ) -> ApiResult<CompareResultDto> {
        if request.models.is_empty() || request.models.len() > 8 {
            return Err(AppError::new("invalid_compare", "pick 1 to 8 models"));
        }
        let mut cancel_rx = self.arm_cancel();
        let spec = CompareSpec {
            prompt: request.prompt.clone(),
            selector: request
                .version
                .map_or(VersionSelector::Default, VersionSelector::Number),
            models: request.models.clone(),
            variable_sets: request.variable_sets.clone(),
            per_provider_concurrency: request.concurrency.clamp(1, 16) as usize,
            metadata: Default::default(),
            tools: request.tools.clone().unwrap_or_default(),
            config: None,
            source: None,
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = forward_batched(rx, event_dto, on_event);
        let engine = self.engine.clone();
        let result = tokio::select! {
            r = compare::run(&engine, spec, Some(tx)) => r.map_err(AppError::from),
            _ = cancel_rx.wait_for(|c| *c) => Err(AppError::new("cancelled", "the comparison was cancelled")),
        };
        let _ = forward.await;
        self.engine.flush_logs_async().await;
        let r = result?;
        let store = self.store.clone();
        let (r, run_id) =
            tokio::task::spawn_blocking(move || compare::save_run(&store, &r).map(|id| (r, id)))
                .await
                .map_err(|e| AppError::new("internal", format!("saving the run stopped: {e}")))??;
        Ok(result_dto(r, Some(run_id)))
    }

    /// Saved runs, newest first.
    pub fn list_compare_runs(&self) -> ApiResult<Vec<CompareRunSummary>> {
        Ok(self
            .store()
            .list_compare_runs(50)?
            .into_iter()
            .map(|r| CompareRunSummary {
                id: r.id,
                created_at: r.created_at,
                slug: r.slug,
                version: r.version,
                models: r.models,
                rows: r.rows,
                cost_usd: r.cost_usd,
            })
            .collect())
    }

    /// A saved run, to show again.
    pub fn get_compare_run(&self, id: &str) -> ApiResult<CompareResultDto> {
        Ok(result_dto(
            compare::load_run(self.store(), id)?,
            Some(id.to_owned()),
        ))
    }
}

fn result_dto(r: compare::CompareResult, run_id: Option<String>) -> CompareResultDto {
    CompareResultDto {
        run_id,
        prompt_id: r.prompt_id,
        slug: r.slug,
        version: r.version,
        models: r.models,
        cells: r
            .cells
            .iter()
            .map(|row| row.iter().map(cell_of).collect())
            .collect(),
        totals: r
            .totals
            .iter()
            .map(|t| ColumnTotalDto {
                model: t.model.clone(),
                cells: t.cells as u32,
                errors: t.errors as u32,
                prompt_tokens: u32_of(t.prompt_tokens),
                completion_tokens: u32_of(t.completion_tokens),
                cost_usd: t.cost_usd,
                mean_latency_ms: u32_of(t.mean_latency_ms),
            })
            .collect(),
        wall_ms: u32_of(r.wall_ms),
    }
}

impl Desktop {
    pub fn cancel_compare(&self) {
        if let Ok(c) = self.cancel.lock()
            && let Some(tx) = c.as_ref()
        {
            let _ = tx.send(true);
        }
    }

    /// Thumbs up (1) or down (-1) on a cell, by its trace id.
    pub fn feedback(&self, trace_id: &str, value: i64) -> ApiResult<()> {
        self.engine.flush_logs();
        self.store()
            .add_feedback(trace_id, value, 1.0, Default::default())?;
        Ok(())
    }

    pub fn list_logs(&self, q: &LogQuery) -> ApiResult<Vec<LogRow>> {
        self.engine.flush_logs();
        let filter = LogFilter {
            limit: Some(q.limit.unwrap_or(500)),
            model: q.model.clone().filter(|m| !m.is_empty()),
            status: q.status,
            search: q.search.clone().filter(|s| !s.is_empty()),
            prompt_id: q.prompt_id.clone(),
            ..Default::default()
        };
        Ok(self
            .store()
            .list_calls(&filter)?
            .iter()
            .map(row_of)
            .collect())
    }

    pub fn get_log(&self, id: &str) -> ApiResult<LogDetail> {
        self.engine.flush_logs();
        let d = self
            .store()
            .get_call(id)?
            .ok_or_else(|| AppError::new("not_found", format!("no logged call '{id}'")))?;
        Ok(LogDetail {
            call: row_of(&d.call),
            request: pretty(&d.call.request),
            response: pretty(&d.call.response),
            attempts: d
                .call
                .attempts
                .iter()
                .map(|a| AttemptDto {
                    n: a.n,
                    target_path: a.target_path.clone(),
                    provider: a.provider.clone(),
                    model: a.model.clone(),
                    status: a.status,
                    error: a.error.clone(),
                    latency_ms: u32_of(a.latency_ms),
                })
                .collect(),
            feedback: d.feedback.iter().map(|f| f.value).collect(),
        })
    }

    pub fn cost_by_day(&self, days: u32) -> ApiResult<Vec<DayCostDto>> {
        self.engine.flush_logs();
        let since = chrono::Utc::now().timestamp_millis() - days as i64 * 86_400_000;
        Ok(self
            .store()
            .cost_by_day(since)?
            .into_iter()
            .map(|d| DayCostDto {
                day: d.day,
                calls: u32_of(d.calls),
                cost_usd: d.cost_usd,
                unpriced_calls: u32_of(d.unpriced_calls),
            })
            .collect())
    }

    pub fn latency_by_model(&self, days: u32) -> ApiResult<Vec<ModelLatencyDto>> {
        let since = chrono::Utc::now().timestamp_millis() - days as i64 * 86_400_000;
        Ok(self
            .store()
            .latency_by_model(since)?
            .into_iter()
            .map(|m| ModelLatencyDto {
                model: m.model,
                calls: u32_of(m.calls),
                p50_ms: u32_of(m.p50_ms),
                p90_ms: u32_of(m.p90_ms),
                p99_ms: u32_of(m.p99_ms),
            })
            .collect())
    }

    pub fn list_keys(&self) -> ApiResult<Vec<KeyDto>> {
        let now = chrono::Utc::now();
        let mut out = Vec::new();
        for k in self.store().list_keys()? {
            let budget = self.store().budget(SubjectKind::Key, &k.id, now)?.map(|b| {
                let unit = |v: f64| {
                    if b.unit == portolan::store::BudgetUnit::Usd {
                        format!("${v:.2}")
                    } else {
                        format!("{} tok", v.round())
                    }
                };
                format!("{} / {}", unit(b.spent), unit(b.limit))
            });
            out.push(KeyDto {
                id: k.id,
                name: k.name,
                provider: k.provider,
                base_url: k.base_url,
                notes: k.notes,
                mask: k.mask,
                created_at: time(&k.created_at),
                last_used_at: k.last_used_at.as_ref().map(time),
                budget,
            });
        }
        Ok(out)
    }

    pub fn add_key(&self, key: &NewKeyDto) -> ApiResult<KeyDto> {
        let new = NewKey {
            name: key.name.clone(),
            provider: key.provider.clone(),
            base_url: key.base_url.clone().filter(|u| !u.is_empty()),
            notes: key.notes.clone(),
        };
        let fields = portolan::cloud_credentials::CloudFields {
            region: key.region.as_deref(),
            location: key.location.as_deref(),
            project: key.project.as_deref(),
        };
        let raw = match key.secret_file.as_deref().filter(|_| key.secret.is_empty()) {
            Some(path) => zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                AppError::new("io", format!("could not read the key file {path}: {e}"))
            })?),
            None => zeroize::Zeroizing::new(key.secret.clone()),
        };
        let secret = portolan::cloud_credentials::secret_for(&key.provider, &raw, fields, None)
            .map_err(|e| AppError::new("invalid_credentials", e.0))?;
        self.store()
            .add_key(&new, &SecretString::new(secret), &ACTOR)?;
        self.list_keys()?
            .into_iter()
            .find(|k| k.name == key.name)
            .ok_or_else(|| AppError::new("key_not_found", "the key vanished"))
    }

    /// Replaces a key's secret; cloud credentials keep the key's region, location and project.
    pub fn rotate_key(&self, name: &str, secret: &str) -> ApiResult<()> {
        let (key, previous) = self.store().key_secret(name)?;
        let secret = portolan::cloud_credentials::secret_for(
            &key.provider,
            secret,
            Default::default(),
            Some(previous.expose()),
        )
        .map_err(|e| AppError::new("invalid_credentials", e.0))?;
        self.store()
            .rotate_key(name, &SecretString::new(secret), &ACTOR)?;
        Ok(())
    }

    pub fn remove_key(&self, name: &str) -> ApiResult<()> {
        self.store().remove_key(name, &ACTOR)?;
        Ok(())
    }

    /// A one-token call through the key, to see it works.
    pub async fn test_key(&self, name: &str, model: Option<&str>) -> ApiResult<KeyTestDto> {
        let n = name.to_owned();
        let key = self.blocking(move |d| Ok(d.store().get_key(&n)?)).await?;
        let model = match model
            .filter(|m| !m.is_empty())
            .or_else(|| probe_model(&key.provider))
        {
            Some(m) => m.to_owned(),
            None => {
                return Err(AppError::new(
                    "model_needed",
                    format!("name a model to test '{name}' with (its provider has no default)"),
                ));
            }
        };
        let request = ChatRequest {
            model: format!("@{name}/{model}"),
            messages: vec![ChatMessage::new("user", "Reply with OK.")],
            max_tokens: Some(1),
            ..Default::default()
        };
        let started = Instant::now();
        let options = CallOptions {
            source: Some("app".into()),
            retry_attempts: Some(0),
            ..Default::default()
        };
        let result = self.engine.chat(request, options).await;
        let latency_ms = started.elapsed().as_millis() as u32;
        Ok(match result {
            Ok(call) => {
                if let CallBody::Stream(_) = call.body {
                    unreachable!("the test call does not stream");
                }
                KeyTestDto {
                    ok: true,
                    message: format!("{} answered ({model})", key.provider),
                    latency_ms,
                }
            }
            Err(e) => KeyTestDto {
                ok: false,
                message: e.message,
                latency_ms,
            },
        })
    }

    pub async fn gateway_status(&self) -> ApiResult<GatewayStatus> {
        let tokens = self.blocking(|d| Ok(d.store().list_tokens()?)).await?;
        let g = self.gateway.lock().await;
        let tokens = tokens
            .into_iter()
            .map(|t| TokenDto {
                name: t.name,
                prefix: t.prefix,
                created_at: time(&t.created_at),
                last_used_at: t.last_used_at.as_ref().map(time),
            })
            .collect();
        let settings = self
            .blocking(|d| Ok(portolan::routing::EngineSettings::load(d.store())?))
            .await?;
        let snapshot = self.engine.otel_snapshot();
        let otel = OtelStatusDto {
            endpoint: settings.otel.endpoint.clone(),
            content: settings.otel.content,
            headers: settings.otel.headers.keys().cloned().collect(),
            exported: snapshot.exported,
            dropped: snapshot.dropped,
            last_error: snapshot.last_error,
        };
        Ok(GatewayStatus {
            otel,
            running: g.is_some(),
            url: g
                .as_ref()
                .map(|r| format!("http://127.0.0.1:{}/v1", r.port)),
            port: g.as_ref().map_or(gateway::DEFAULT_PORT, |r| r.port),
            requests: g.as_ref().map_or(0, |r| r.requests.load(Ordering::Relaxed)),
            tokens,
        })
    }

    /// Switches the gateway on (127.0.0.1 only). Port 0 picks a free one.
    pub async fn gateway_start(&self, port: u16) -> ApiResult<GatewayStatus> {
        {
            let mut g = self.gateway.lock().await;
            if g.is_none() {
                let config = GatewayConfig {
                    port,
                    ..Default::default()
                };
                let bound = gateway::bind(self.engine.clone(), &config)
                    .await
                    .map_err(|e| {
                        AppError::new(
                            "gateway",
                            format!("could not listen on 127.0.0.1:{port}: {e}"),
                        )
                    })?;
                let actual = bound
                    .local_addr()
                    .map_err(|e| AppError::new("gateway", e.to_string()))?
                    .port();
                let requests = bound.requests();
                let closer = bound.closer();
                let (stop, stopped) = oneshot::channel::<()>();
                tokio::spawn(bound.serve(async {
                    let _ = stopped.await;
                }));
                *g = Some(RunningGateway {
                    port: actual,
                    stop,
                    requests,
                    closer,
                });
            }
        }
        self.gateway_status().await
    }

    /// Switches the gateway off; in-flight requests finish first.
    pub async fn gateway_stop(&self) -> ApiResult<GatewayStatus> {
        if let Some(r) = self.gateway.lock().await.take() {
            let _ = r.stop.send(());
            // Calls in flight get a few seconds; streams still open then end with an error.
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                r.closer.close();
            });
        }
        self.gateway_status().await
    }

    /// Creates a gateway token; the secret is returned once.
    pub fn create_token(&self, name: &str) -> ApiResult<String> {
        Ok(self.store().create_token(name, &ACTOR)?.secret)
    }

    pub fn revoke_token(&self, name: &str) -> ApiResult<()> {
        self.store().revoke_token(name, &ACTOR)?;
        Ok(())
    }

    /// Budget alerts from now on (keys and gateway tokens, from the app's calls and the
    /// gateway's), for the window's notifications.
    pub fn budget_alerts(&self) -> BudgetAlerts {
        BudgetAlerts(self.engine.budget_alerts())
    }

    /// For budgets shown next to keys (unused subjects are fine).
    pub fn key_subject(&self, name: &str) -> ApiResult<Subject> {
        let k = self.store().get_key(name)?;
        Ok(Subject {
            kind: SubjectKind::Key,
            id: k.id,
            name: k.name,
        })
    }
}

/// How long comparison events are gathered into one message for the window (about two frames).
pub(crate) const EVENT_BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(32);

pub(crate) fn event_dto(ev: CompareEvent) -> CompareEventDto {
    match ev {
        CompareEvent::Started { cell } => CompareEventDto::Started {
            row: cell.row as u32,
            column: cell.column as u32,
        },
        CompareEvent::Delta { cell, text } => CompareEventDto::Delta {
            row: cell.row as u32,
            column: cell.column as u32,
            text,
        },
        CompareEvent::Throttled {
            cell,
            provider,
            limit,
            pause_ms,
        } => CompareEventDto::Throttled {
            row: cell.row as u32,
            column: cell.column as u32,
            provider,
            limit: limit as u32,
            pause_ms: pause_ms as u32,
        },
        CompareEvent::Finished { result, .. } => CompareEventDto::Finished {
            cell: Box::new(cell_of(&result)),
        },
    }
}

/// A subscription to budget alerts; see [`Desktop::budget_alerts`].
pub struct BudgetAlerts(tokio::sync::broadcast::Receiver<portolan::store::BudgetAlert>);

impl BudgetAlerts {
    /// The next alert; `None` once the engine is gone. Alerts missed because the window was
    /// too slow are skipped (each is also in the audit log).
    pub async fn next(&mut self) -> Option<BudgetAlertDto> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.0.recv().await {
                Ok(a) => {
                    return Some(BudgetAlertDto {
                        kind: a.subject.kind.label().into(),
                        message: a.message(),
                        name: a.subject.name,
                        spent: a.spent,
                        limit: a.limit,
                        unit: match a.unit {
                            portolan::store::BudgetUnit::Usd => "usd".into(),
                            portolan::store::BudgetUnit::Tokens => "tokens".into(),
                        },
                    });
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
