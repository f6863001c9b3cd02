//! Experiments: columns (a prompt version with a model and parameter overrides) × rows (a
//! dataset version, or inline variable sets) × repeats, run through the comparison runner (its
//! per-provider lanes and 429 back-off), every cell checked by every assertion as it finishes.
//!
//! [`plan`] validates the whole run before anything is called — every assertion compiles, every
//! row renders in every column (missing variables listed with row numbers), model-graded checks
//! that need a reference have one — and prices its worst case. [`run`] then streams cells and
//! verdicts as events and ends with per-column statistics (pass rates and scores with bootstrap
//! intervals, cost of outputs and of judging, latency p50/p95), a paired comparison of every
//! column with the baseline, flaky rows, and gates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};

use super::EvalError;
use super::assertions::{
    Assertion, AssertionSpec, CellView, Check, Gate, GateMeasure, Graded, Verdict,
};
use super::judge::{self, JudgeSettings};
use super::summary::{self, Summary};
use crate::cache::CacheStatus;
use crate::chat::{ChatRequest, Usage};
use crate::compare::runner::{self, Job};
use crate::compare::{Cell, CompareEvent};
use crate::datasets::Row;
use crate::error::Error;
use crate::prompts::VersionSelector;
use crate::routing::{CallOptions, Engine, PromptRef};

/// One column: a prompt version, the model it runs on, and parameter overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ColumnSpec {
    pub prompt: String,
    /// `12`, `latest`, a label; None: the `production` label, else latest.
    pub version: Option<String>,
    /// None: the prompt's own model.
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
}

impl ColumnSpec {
    pub fn selector(&self) -> VersionSelector {
        match self.version.as_deref() {
            None => VersionSelector::Default,
            Some(v) => match v.trim_start_matches('v').parse::<i64>() {
                Ok(n) => VersionSelector::Number(n),
                Err(_) => VersionSelector::from_options(None, Some(v.to_owned())),
            },
        }
    }

    /// `slug`, `slug@12` or `slug:label` as the CLI takes it.
    pub fn parse_reference(text: &str) -> ColumnSpec {
        let (prompt, version) = match text.split_once('@').or_else(|| text.split_once(':')) {
            Some((p, v)) => (p.to_owned(), Some(v.to_owned())),
            None => (text.to_owned(), None),
        };
        ColumnSpec {
            prompt,
            version,
            model: None,
            params: Map::new(),
        }
    }
}

/// The dataset version an experiment ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DatasetRef {
    pub name: String,
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct ExperimentSpec {
    pub name: String,
    pub columns: Vec<ColumnSpec>,
    /// The rows; empty means one row with no variables (the prompt's defaults).
    pub rows: Vec<Row>,
    pub dataset: Option<DatasetRef>,
    pub assertions: Vec<AssertionSpec>,
    /// Gates on the share of rows whose cells pass every assertion (`pass_rate >= 0.9`).
    pub gates: Vec<String>,
    pub repeats: u32,
    /// The column the others are compared with.
    pub baseline: usize,
    pub judge_model: Option<String>,
    /// Seed of the bootstrap resampling.
    pub seed: u64,
    pub per_provider_concurrency: usize,
    /// Judge calls in flight at once.
    pub judge_concurrency: usize,
    pub metadata: BTreeMap<String, String>,
    /// Simulated tool results, so tool-using prompts run to their final answer.
    pub tools: crate::tools::simulate::ToolSimulation,
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        ExperimentSpec {
            name: "experiment".into(),
            columns: Vec::new(),
            rows: Vec::new(),
            dataset: None,
            assertions: Vec::new(),
            gates: Vec::new(),
            repeats: 1,
            baseline: 0,
            judge_model: None,
            seed: 1,
            per_provider_concurrency: 8,
            judge_concurrency: 8,
            metadata: BTreeMap::new(),
            tools: Default::default(),
        }
    }
}

/// A column as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ColumnInfo {
    pub label: String,
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub model: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
}

/// A validated experiment, ready to run: nothing has been called yet.
pub struct Plan {
    pub spec: ExperimentSpec,
    pub columns: Vec<ColumnInfo>,
    assertions: Vec<Assertion>,
    row_assertions: Vec<Vec<Assertion>>,
    gates: Vec<Gate>,
    /// `requests[row][column]`.
    requests: Vec<Vec<ChatRequest>>,
    /// What each row asks (the rendered user text), for judges to read: `inputs[row][column]`.
    inputs: Vec<Vec<String>>,
    pub rows: Vec<Row>,
    pub estimate: CostEstimate,
}

/// The worst case of a run, priced before it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CostEstimate {
    /// Output calls (cells × repeats), at their completion limits.
    pub outputs_usd: Option<f64>,
    /// Judge calls, roughly (the cell's prompt and a 400-token answer each).
    pub judging_usd: Option<f64>,
    pub calls: usize,
    pub judge_calls: usize,
    /// Estimated worst-case USD by virtual key (for budget checks).
    pub by_key: BTreeMap<String, f64>,
    /// Models without a known price (their cost is not in the totals).
    pub unpriced: Vec<String>,
}

impl CostEstimate {
    pub fn total_usd(&self) -> Option<f64> {
        Some(self.outputs_usd? + self.judging_usd.unwrap_or(0.0))
    }
}

impl Plan {
    /// Refuses a run that a virtual key's remaining USD budget could not pay for at its worst.
    pub fn check_budgets(&self, store: &crate::store::Store) -> Result<(), Error> {
        let mut problems = Vec::new();
        for (key, usd) in &self.estimate.by_key {
            let Ok(k) = store.get_key(key) else { continue };
            if let Some(b) =
                store.budget(crate::store::SubjectKind::Key, &k.id, chrono::Utc::now())?
                && b.unit == crate::store::BudgetUnit::Usd
            {
                let left = b.limit - b.spent - b.reserved;
                if *usd > left {
                    problems.push(format!(
                        "the run could cost up to ${usd:.4} on key '{key}', which has ${left:.4} of its budget left"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EvalError::Invalid(problems).into())
        }
    }
}

fn judge_input(request: &ChatRequest) -> String {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.text())
        .unwrap_or_else(|| {
            request
                .messages
                .iter()
                .map(|m| m.text())
                .collect::<Vec<_>>()
                .join("\n\n")
        })
}

fn compile_all(specs: &[AssertionSpec], problems: &mut Vec<String>, place: &str) -> Vec<Assertion> {
    specs
        .iter()
        .filter_map(|s| match Assertion::compile(s) {
            Ok(a) => Some(a),
            Err(e) => {
                problems.push(format!("{place}{e}"));
                None
            }
        })
        .collect()
}

/// Validates an experiment and prices it; calls nothing.
pub async fn plan(engine: &Engine, spec: ExperimentSpec) -> Result<Plan, Error> {
    let mut problems = Vec::new();
    if spec.columns.is_empty() {
        return Err(EvalError::Invalid(vec![
            "no columns: name at least one prompt (and model)".into(),
        ])
        .into());
    }
    if spec.baseline >= spec.columns.len() {
        problems.push(format!(
            "the baseline column {} does not exist (there are {})",
            spec.baseline + 1,
            spec.columns.len()
        ));
    }
    if spec.repeats == 0 {
        problems.push("repeats must be at least 1".into());
    }
    if let Err(e) = spec.tools.validate() {
        problems.push(e.to_string());
    }
    let assertions = compile_all(&spec.assertions, &mut problems, "");
    let mut gates = Vec::new();
    for g in &spec.gates {
        match Gate::parse(g) {
            Ok(g) if g.measure == GateMeasure::PassRate => gates.push(g),
            Ok(_) => problems.push(format!(
                "the gate '{g}' on the whole run must be a pass_rate (a mean belongs to one assertion's gate)"
            )),
            Err(e) => problems.push(e),
        }
    }
    let rows = if spec.rows.is_empty() {
        vec![Row::default()]
    } else {
        spec.rows.clone()
    };
    let mut row_assertions: Vec<Vec<Assertion>> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let mut specs = Vec::new();
        for a in &r.assert {
            match serde_json::from_value::<AssertionSpec>(a.clone()) {
                Ok(s) => specs.push(s),
                Err(e) => problems.push(format!(
                    "row {}: the assertion {a} is not valid: {e}",
                    i + 1
                )),
            }
        }
        row_assertions.push(compile_all(
            &specs,
            &mut problems,
            &format!("row {}: ", i + 1),
        ));
    }
    let needs_reference = assertions.iter().any(|a| {
        matches!(a.check, Check::Graded(Graded::Reference))
            || matches!(&a.check, Check::Similar { to: None, .. })
    });
    if needs_reference {
        let missing: Vec<String> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.expected.is_none())
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "rows {} have no expected output, which a reference-based check needs",
                missing.join(", ")
            ));
        }
    }
    if assertions
        .iter()
        .any(|a| matches!(a.check, Check::Graded(Graded::Pairwise { .. })))
        && spec.columns.len() < 2
    {
        problems.push("pairwise compares columns: give at least two".into());
    }

    // Render every row in every column: a missing variable fails the run before any call.
    let mut columns = Vec::new();
    let mut requests: Vec<Vec<ChatRequest>> = vec![Vec::new(); rows.len()];
    let mut inputs: Vec<Vec<String>> = vec![Vec::new(); rows.len()];
    for (c, col) in spec.columns.iter().enumerate() {
        let selector = col.selector();
        let mut info: Option<ColumnInfo> = None;
        let mut missing: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (r, row) in rows.iter().enumerate() {
            match engine
                .catalog()
                .render(&col.prompt, &selector, &row.vars)
                .await
            {
                Ok(rendered) => {
                    let model = col
                        .model
                        .clone()
                        .or_else(|| rendered.model.clone())
                        .unwrap_or_default();
                    if info.is_none() {
                        let version_label = format!("{}@{}", rendered.slug, rendered.version);
                        info = Some(ColumnInfo {
                            label: format!("{version_label} · {model}"),
                            prompt_id: rendered.prompt_id.clone(),
                            slug: rendered.slug.clone(),
                            version: rendered.version,
                            model: model.clone(),
                            params: col.params.clone(),
                        });
                    }
                    let messages = rendered
                        .chat_messages(crate::images::ImageAccess::LocalFiles)
                        .unwrap_or_else(|e| {
                            problems.push(format!("column {}, row {}: {e}", c + 1, r + 1));
                            Vec::new()
                        });
                    let mut request = ChatRequest {
                        model,
                        messages,
                        ..Default::default()
                    };
                    let mut params = rendered.params.clone();
                    params.remove("model");
                    for (k, v) in &col.params {
                        params.insert(k.clone(), v.clone());
                    }
                    if let Err(e) = request.apply_params(&params) {
                        problems.push(format!("column {}: {e}", c + 1));
                    }
                    inputs[r].push(judge_input(&request));
                    requests[r].push(request);
                }
                Err(Error::MissingVariables(names)) => {
                    for n in names {
                        missing.entry(n).or_default().push(r + 1);
                    }
                    requests[r].push(ChatRequest::default());
                    inputs[r].push(String::new());
                }
                Err(e) => {
                    problems.push(format!("column {} ({}): {e}", c + 1, col.prompt));
                    break;
                }
            }
        }
        for (name, at) in missing {
            let list: Vec<String> = at.iter().map(usize::to_string).collect();
            problems.push(
                format!(
                    "{} row{} {} lack{} the variable '{name}' that {} needs",
                    if at.len() == rows.len() { "all" } else { "" },
                    if at.len() == 1 { "" } else { "s" },
                    list.join(", "),
                    if at.len() == 1 { "s" } else { "" },
                    col.prompt
                )
                .trim_start()
                .to_owned(),
            );
        }
        match info {
            Some(i) if i.model.trim().is_empty() => problems.push(format!(
                "column {} ({}): the prompt names no model; give one",
                c + 1,
                i.slug
            )),
            Some(i) => columns.push(i),
            None => {}
        }
    }
    if !problems.is_empty() {
        return Err(EvalError::Invalid(problems).into());
    }

    // Price the worst case.
    let mut estimate = CostEstimate {
        outputs_usd: Some(0.0),
        judging_usd: Some(0.0),
        calls: 0,
        judge_calls: 0,
        by_key: BTreeMap::new(),
        unpriced: Vec::new(),
    };
    let repeats = spec.repeats as usize;
    let judges_per_cell = assertions.iter().filter(|a| a.calls_models()).count();
    let mut cells = 0;
    for (c, col) in columns.iter().enumerate() {
        for row in &requests {
            // A simulated tool exchange may take up to max_steps calls per cell (each later
            // step sends a little more than the first; the first's price stands in for it).
            let steps = if spec.tools.is_active() && row[c].tools.is_some() {
                spec.tools.max_steps as usize
            } else {
                1
            };
            match engine.estimate(&row[c]).await {
                Ok(e) => match e.usd {
                    Some(u) => {
                        let u = u * (repeats * steps) as f64;
                        estimate.outputs_usd = estimate.outputs_usd.map(|t| t + u);
                        if let Some(k) = e.key_name {
                            *estimate.by_key.entry(k).or_default() += u;
                        }
                    }
                    None => {
                        estimate.outputs_usd = None;
                        if !estimate.unpriced.contains(&col.model) {
                            estimate.unpriced.push(col.model.clone());
                        }
                    }
                },
                Err(e) => {
                    return Err(EvalError::Invalid(vec![format!(
                        "column {} ({}): {}",
                        c + 1,
                        col.label,
                        e.message
                    )])
                    .into());
                }
            }
            estimate.calls += repeats * steps;
            cells += repeats;
        }
    }
    let pairwise = assertions
        .iter()
        .filter(|a| matches!(a.check, Check::Graded(Graded::Pairwise { .. })))
        .count();
    estimate.judge_calls = cells * (judges_per_cell - pairwise)
        + rows.len() * repeats * (columns.len().saturating_sub(1)) * 2 * pairwise;
    if estimate.judge_calls > 0 {
        let judge_model = spec
            .judge_model
            .clone()
            .or_else(|| assertions.iter().find_map(|a| a.spec.model.clone()))
            .unwrap_or_else(|| "gpt-4o-mini".into());
        let sample = ChatRequest {
            model: judge_model.clone(),
            messages: requests[0][0].messages.clone(),
            max_tokens: Some(400),
            ..Default::default()
        };
        match engine.estimate(&sample).await {
            Ok(e) => match e.usd {
                Some(u) => {
                    let total = u * estimate.judge_calls as f64;
                    estimate.judging_usd = Some(total);
                    if let Some(k) = e.key_name {
                        *estimate.by_key.entry(k).or_default() += total;
                    }
                }
                None => {
                    estimate.judging_usd = None;
                    estimate.unpriced.push(judge_model);
                }
            },
            Err(e) => {
                return Err(EvalError::Invalid(vec![format!(
                    "the judge model {judge_model}: {}",
                    e.message
                )])
                .into());
            }
        }
    }
    Ok(Plan {
        spec,
        columns,
        assertions,
        row_assertions,
        gates,
        requests,
        inputs,
        rows,
        estimate,
    })
}

/// One cell of an experiment, with every check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExperimentCell {
    pub row: usize,
    pub column: usize,
    pub repeat: u32,
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_status: Option<CacheStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The calls the answer ended with, checked against the tools' schemas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::tools::CheckedCall>,
    /// Earlier turns of a simulated tool exchange.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::tools::ToolStep>,
    /// The experiment's assertions in order, then the row's own.
    pub verdicts: Vec<Verdict>,
}

impl ExperimentCell {
    /// Every check that applies passed (and the call succeeded).
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self
                .verdicts
                .iter()
                .filter(|v| !is_skipped(v))
                .all(|v| v.pass == Some(true))
    }

    pub fn judge_cost(&self) -> Option<f64> {
        let costs: Vec<f64> = self.verdicts.iter().filter_map(|v| v.cost_usd).collect();
        (!costs.is_empty()).then(|| costs.iter().sum())
    }
}

/// A verdict that does not apply (pairwise on the baseline column).
pub(super) fn is_skipped(v: &Verdict) -> bool {
    v.pass.is_none() && v.error.is_none()
}

fn skipped(reason: &str) -> Verdict {
    Verdict {
        pass: None,
        score: None,
        reason: reason.into(),
        error: None,
        cost_usd: None,
    }
}

/// A finished experiment: what ran, every cell, and the statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Experiment {
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetRef>,
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Row>,
    pub assertions: Vec<AssertionSpec>,
    pub gates: Vec<String>,
    pub repeats: u32,
    pub baseline: usize,
    pub seed: u64,
    pub cells: Vec<ExperimentCell>,
    pub summary: Summary,
    /// Stopped before every cell ran (the finished ones are here).
    #[serde(default)]
    pub cancelled: bool,
    pub wall_ms: u64,
}

impl Experiment {
    /// The cell at (row, column, repeat).
    pub fn cell(&self, row: usize, column: usize, repeat: u32) -> Option<&ExperimentCell> {
        self.cells
            .iter()
            .find(|c| c.row == row && c.column == column && c.repeat == repeat)
    }
}

/// What an experiment reports while it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExperimentEvent {
    /// The runner's progress for a cell (started, text, throttled, finished); `cell.row` is
    /// `row × repeats + repeat`.
    Cell { event: CompareEvent },
    /// A cell with its verdicts.
    Evaluated { cell: Box<ExperimentCell> },
}

/// Runs a planned experiment.
pub async fn run(
    engine: &Engine,
    plan: Plan,
    events: Option<mpsc::UnboundedSender<ExperimentEvent>>,
) -> Result<Experiment, Error> {
    run_until(engine, plan, events, None).await
}

/// As [`run`], stopping early when `cancel` turns true: the cells that finished are kept (and
/// checked), the others are dropped, and the experiment says it was cancelled.
pub async fn run_until(
    engine: &Engine,
    plan: Plan,
    events: Option<mpsc::UnboundedSender<ExperimentEvent>>,
    cancel: Option<tokio::sync::watch::Receiver<bool>>,
) -> Result<Experiment, Error> {
    let started = Instant::now();
    let Plan {
        spec,
        columns,
        assertions,
        row_assertions,
        gates,
        requests,
        inputs,
        rows,
        ..
    } = plan;
    let repeats = spec.repeats.max(1);
    let simulation = spec.tools.compile()?;
    let simulation = simulation.is_active().then(|| Arc::new(simulation));
    // Each column's tools' schemas, compiled once for all its cells.
    let schemas: Vec<Arc<crate::tools::ToolSchemas>> = (0..columns.len())
        .map(|c| {
            let tools = requests
                .first()
                .and_then(|row| row.get(c)?.tools.as_deref());
            Arc::new(crate::tools::ToolSchemas::of(tools))
        })
        .collect();
    let experiment_tag = crate::ids::new_sortable_id("exp");
    // Each column's response schema, compiled once, for `final-json-schema` without a schema
    // of its own.
    let formats: Arc<Vec<Option<jsonschema::Validator>>> = Arc::new(
        (0..columns.len())
            .map(|c| {
                let format = requests.first()?.get(c)?.response_format.as_ref()?;
                crate::tools::response_validator(format)
            })
            .collect(),
    );
    let mut jobs = Vec::new();
    for repeat in 0..repeats {
        for (r, row_requests) in requests.iter().enumerate() {
            for (c, request) in row_requests.iter().enumerate() {
                let mut metadata = spec.metadata.clone();
                metadata.insert("experiment".into(), experiment_tag.clone());
                metadata.insert("eval_row".into(), (r + 1).to_string());
                jobs.push(Job {
                    cell: Cell {
                        row: r * repeats as usize + repeat as usize,
                        column: c,
                    },
                    model: columns[c].model.clone(),
                    request: request.clone(),
                    options: CallOptions {
                        metadata,
                        prompt: Some(PromptRef {
                            id: columns[c].prompt_id.clone(),
                            version: columns[c].version,
                        }),
                        variables: Some(rows[r].vars.clone()),
                        source: Some("eval".into()),
                        // Repeats measure how stable a column is: never from the cache.
                        force_refresh: repeats > 1,
                        ..Default::default()
                    },
                    schemas: schemas[c].clone(),
                    simulation: simulation.clone(),
                });
            }
        }
    }
    // Forward the runner's progress.
    let (tx, mut rx) = mpsc::unbounded_channel::<CompareEvent>();
    let forward = events.clone().map(|out| {
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = out.send(ExperimentEvent::Cell { event });
            }
        })
    });
    let mut tasks = runner::spawn(
        engine,
        jobs,
        spec.per_provider_concurrency,
        forward.as_ref().map(|_| tx.clone()),
    )
    .await;
    drop(tx);
    let judge_settings = JudgeSettings {
        model: spec.judge_model.clone(),
        metadata: [("experiment".to_owned(), experiment_tag.clone())]
            .into_iter()
            .collect(),
    };
    let judges = Arc::new(Semaphore::new(spec.judge_concurrency.max(1)));
    let assertions = Arc::new(assertions);
    let row_assertions = Arc::new(row_assertions);
    let rows = Arc::new(rows);
    let inputs = Arc::new(inputs);
    let mut checking = tokio::task::JoinSet::new();
    let mut cancel = cancel;
    let mut cancelled = false;
    loop {
        let next = tokio::select! {
            next = tasks.join_next() => next,
            _ = async {
                match cancel.as_mut() {
                    Some(rx) => {
                        if rx.wait_for(|c| *c).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            } => {
                cancelled = true;
                tasks.abort_all();
                None
            }
        };
        let Some(done) = next else { break };
        if done.as_ref().is_err_and(|e| e.is_cancelled()) {
            continue;
        }
        let result = done.map_err(|e| {
            Error::Internal(format!("an experiment cell stopped unexpectedly: {e}"))
        })?;
        let (row, repeat) = (
            result.row / repeats as usize,
            (result.row % repeats as usize) as u32,
        );
        let cell = ExperimentCell {
            row,
            column: result.column,
            repeat,
            output: result.output,
            error: result.error,
            latency_ms: result.latency_ms,
            ttft_ms: result.ttft_ms,
            usage: result.usage,
            cost_usd: result.cost_usd,
            cache_status: result.cache_status,
            trace_id: result.trace_id,
            tool_calls: result.tool_calls,
            steps: result.steps,
            verdicts: Vec::new(),
        };
        let (engine, judges, settings) = (engine.clone(), judges.clone(), judge_settings.clone());
        let (assertions, row_assertions, rows, inputs, formats) = (
            assertions.clone(),
            row_assertions.clone(),
            rows.clone(),
            inputs.clone(),
            formats.clone(),
        );
        let events = events.clone();
        let baseline = spec.baseline;
        checking.spawn(async move {
            let mut cell = cell;
            let row = &rows[cell.row];
            let expected = row.expected_text();
            let input = &inputs[cell.row][cell.column];
            let all = assertions.iter().chain(row_assertions[cell.row].iter());
            for a in all {
                let verdict = if let Some(e) = &cell.error {
                    Verdict::error(format!("the call failed: {e}"))
                } else if matches!(a.check, Check::Graded(Graded::Pairwise { .. })) {
                    // Checked per row once every column is in.
                    if cell.column == baseline {
                        skipped("the baseline")
                    } else {
                        Verdict::error("pending")
                    }
                } else {
                    let view = CellView {
                        output: &cell.output,
                        vars: &row.vars,
                        expected: expected.as_deref(),
                        latency_ms: cell.latency_ms,
                        cost_usd: cell.cost_usd,
                        steps: &cell.steps,
                        tool_calls: &cell.tool_calls,
                        response_schema: formats[cell.column].as_ref(),
                    };
                    if a.calls_models() {
                        let _permit = judges.acquire().await;
                        judge::grade(&engine, a, &view, input, &settings).await
                    } else {
                        a.check(&view)
                    }
                };
                cell.verdicts.push(verdict);
            }
            if let Some(tx) = &events {
                let _ = tx.send(ExperimentEvent::Evaluated {
                    cell: Box::new(cell.clone()),
                });
            }
            cell
        });
    }
    let mut cells = Vec::new();
    while let Some(done) = checking.join_next().await {
        cells.push(
            done.map_err(|e| {
                Error::Internal(format!("checking a cell stopped unexpectedly: {e}"))
            })?,
        );
    }
    if let Some(f) = forward {
        let _ = f.await;
    }
    cells.sort_by_key(|c| (c.row, c.column, c.repeat));

    // Pairwise checks: each candidate against the baseline, row by row.
    for (ai, a) in assertions.iter().enumerate() {
        if !matches!(a.check, Check::Graded(Graded::Pairwise { .. })) {
            continue;
        }
        let mut jobs = tokio::task::JoinSet::new();
        for i in 0..cells.len() {
            let cand = &cells[i];
            if cand.column == spec.baseline || cand.error.is_some() {
                continue;
            }
            let Some(base) = cells.iter().find(|b| {
                b.row == cand.row && b.repeat == cand.repeat && b.column == spec.baseline
            }) else {
                continue;
            };
            if let Some(e) = &base.error {
                let msg = format!("the baseline's call failed: {e}");
                jobs.spawn(async move { (i, Verdict::error(msg)) });
                continue;
            }
            let (engine, judges, settings, a) = (
                engine.clone(),
                judges.clone(),
                judge_settings.clone(),
                a.clone(),
            );
            let vars = rows[cand.row].vars.clone();
            let input = inputs[cand.row][cand.column].clone();
            let (base_out, cand_out) = (base.output.clone(), cand.output.clone());
            jobs.spawn(async move {
                let _permit = judges.acquire().await;
                let v =
                    judge::pairwise(&engine, &a, &vars, &input, &base_out, &cand_out, &settings)
                        .await;
                (i, v)
            });
        }
        while let Some(done) = jobs.join_next().await {
            let (i, v) = done.map_err(|e| {
                Error::Internal(format!("a pairwise check stopped unexpectedly: {e}"))
            })?;
            cells[i].verdicts[ai] = v;
        }
    }

    let summary = summary::summarize(&spec, &columns, &assertions, &gates, &rows, &cells);
    Ok(Experiment {
        id: String::new(),
        name: spec.name.clone(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
        dataset: spec.dataset.clone(),
        columns,
        rows: rows.as_ref().clone(),
        assertions: spec.assertions.clone(),
        gates: spec.gates.clone(),
        repeats,
        baseline: spec.baseline,
        seed: spec.seed,
        cells,
        summary,
        cancelled,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}
