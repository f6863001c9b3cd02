//! Side-by-side comparison: one prompt version × several models × several variable sets, run
//! concurrently through the routing engine, with a per-provider concurrency limit that backs off
//! when a provider answers 429 ([`lane`]). Cells report progress as events (started, text
//! deltas, throttled, finished) so a terminal or a window can fill in as answers stream.
mod lane;
pub mod runner;

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::cache::CacheStatus;
use crate::chat::{ChatRequest, Usage};
use crate::error::{Error, Result};
use crate::prompts::VersionSelector;
use crate::routing::{CallOptions, Engine, PromptRef};
use crate::tools::ToolSchemas;

#[derive(Debug, Clone)]
pub struct CompareSpec {
    pub prompt: String,
    pub selector: VersionSelector,
    pub models: Vec<String>,
    /// One row per set; an empty list means one row with no variables (defaults only).
    pub variable_sets: Vec<Map<String, Value>>,
    /// Calls in flight at once per provider (the most; a provider answering 429 gets fewer).
    pub per_provider_concurrency: usize,
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Simulated tool results (empty: a tool call ends the cell).
    pub tools: crate::tools::simulate::ToolSimulation,
    /// A routing config every cell's call follows (the CLI's `--config`); None: the model's own
    /// route.
    pub config: Option<crate::routing::RouteConfig>,
    /// What the call log names as the calls' source; None: `compare`.
    pub source: Option<String>,
}

/// Where a cell sits: row = variable set, column = model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Cell {
    pub row: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CompareEvent {
    Started {
        cell: Cell,
    },
    Delta {
        cell: Cell,
        text: String,
    },
    /// A provider answered 429: its calls in flight are limited to `limit` and new ones wait
    /// `pause_ms`; the cell that met it is queued again.
    Throttled {
        cell: Cell,
        provider: String,
        limit: usize,
        pause_ms: u64,
    },
    Finished {
        cell: Cell,
        result: Box<CellResult>,
    },
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CellResult {
    pub row: usize,
    pub column: usize,
    pub model: String,
    pub provider: Option<String>,
    pub output: String,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    pub cache_status: Option<CacheStatus>,
    pub trace_id: Option<String>,
    /// The calls the answer ended with (none when it ended in text), checked against the
    /// tools' schemas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<crate::tools::CheckedCall>,
    /// Earlier turns of a simulated tool exchange, in order; `output` is the last turn's text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::tools::ToolStep>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ColumnTotals {
    pub model: String,
    pub cells: usize,
    pub errors: usize,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// None when any successful cell's cost is unknown.
    pub cost_usd: Option<f64>,
    pub mean_latency_ms: u64,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CompareResult {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub models: Vec<String>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<CellResult>>,
    pub totals: Vec<ColumnTotals>,
    pub wall_ms: u64,
}

/// Runs the matrix. Every row is rendered first, so a missing variable fails the run before any
/// model is called.
pub async fn run(
    engine: &Engine,
    spec: CompareSpec,
    events: Option<mpsc::UnboundedSender<CompareEvent>>,
) -> Result<CompareResult> {
    if spec.models.is_empty() {
        return Err(Error::NoModels);
    }
    let simulation = spec.tools.compile()?;
    let simulation = simulation.is_active().then(|| Arc::new(simulation));
    let sets = if spec.variable_sets.is_empty() {
        vec![Map::new()]
    } else {
        spec.variable_sets.clone()
    };
    let mut rendered = Vec::with_capacity(sets.len());
    for (i, vars) in sets.iter().enumerate() {
        let r = engine
            .catalog()
            .render(&spec.prompt, &spec.selector, vars)
            .await
            .map_err(|e| match e {
                Error::MissingVariables(names) if sets.len() > 1 => Error::InvalidVariables(
                    format!("variable set {} is missing {}", i + 1, names.join(", ")),
                ),
                other => other,
            })?;
        rendered.push(r);
    }
    let first = &rendered[0];
    let (prompt_id, slug, version) = (first.prompt_id.clone(), first.slug.clone(), first.version);

    let started = Instant::now();
    let mut jobs = Vec::with_capacity(rendered.len() * spec.models.len());
    // One version for every cell: its tools' schemas are compiled once.
    let mut schemas: Option<Arc<ToolSchemas>> = None;
    for (row, r) in rendered.iter().enumerate() {
        // Images are read from disk once per row, not once per model.
        let messages = r.chat_messages(crate::images::ImageAccess::LocalFiles)?;
        let mut params = r.params.clone();
        params.remove("model");
        for (column, model) in spec.models.iter().enumerate() {
            let mut request = ChatRequest {
                model: model.clone(),
                messages: messages.clone(),
                ..Default::default()
            };
            if let Err(e) = request.apply_params(&params) {
                return Err(Error::PromptParams(e.to_string()));
            }
            let schemas = schemas
                .get_or_insert_with(|| Arc::new(ToolSchemas::of(request.tools.as_deref())))
                .clone();
            let mut metadata = spec.metadata.clone();
            metadata.insert("compare_row".into(), (row + 1).to_string());
            jobs.push(runner::Job {
                cell: Cell { row, column },
                model: model.clone(),
                request,
                options: CallOptions {
                    metadata,
                    prompt: Some(PromptRef {
                        id: r.prompt_id.clone(),
                        version: r.version,
                    }),
                    variables: Some(sets[row].clone()),
                    config: spec.config.clone(),
                    source: Some(spec.source.clone().unwrap_or_else(|| "compare".into())),
                    ..Default::default()
                },
                schemas,
                simulation: simulation.clone(),
            });
        }
    }
    let mut tasks = runner::spawn(engine, jobs, spec.per_provider_concurrency, events).await;
    let mut cells: Vec<Vec<Option<CellResult>>> =
        vec![vec![None; spec.models.len()]; rendered.len()];
    while let Some(done) = tasks.join_next().await {
        let result = done
            .map_err(|e| Error::Internal(format!("a comparison cell stopped unexpectedly: {e}")))?;
        let (r, c) = (result.row, result.column);
        cells[r][c] = Some(result);
    }
    let cells: Vec<Vec<CellResult>> = cells
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|c| c.expect("every cell joined"))
                .collect()
        })
        .collect();
    let totals = spec
        .models
        .iter()
        .enumerate()
        .map(|(column, model)| {
            let col: Vec<&CellResult> = cells.iter().map(|row| &row[column]).collect();
            let ok: Vec<&&CellResult> = col.iter().filter(|c| c.error.is_none()).collect();
            ColumnTotals {
                model: model.clone(),
                cells: col.len(),
                errors: col.len() - ok.len(),
                prompt_tokens: ok
                    .iter()
                    .filter_map(|c| c.usage)
                    .map(|u| u.prompt_tokens)
                    .sum(),
                completion_tokens: ok
                    .iter()
                    .filter_map(|c| c.usage)
                    .map(|u| u.completion_tokens)
                    .sum(),
                cost_usd: ok.iter().map(|c| c.cost_usd).sum::<Option<f64>>(),
                mean_latency_ms: if ok.is_empty() {
                    0
                } else {
                    ok.iter().map(|c| c.latency_ms).sum::<u64>() / ok.len() as u64
                },
            }
        })
        .collect();
    Ok(CompareResult {
        prompt_id,
        slug,
        version,
        models: spec.models,
        cells,
        totals,
        wall_ms: started.elapsed().as_millis() as u64,
    })
}

pub use crate::store::RunSummary;

/// Saves a finished run in the store; returns its id.
pub fn save_run(store: &crate::store::Store, result: &CompareResult) -> Result<String> {
    store.save_compare_run(crate::store::NewRun {
        prompt_id: &result.prompt_id,
        slug: &result.slug,
        version: result.version,
        models: &result.models,
        rows: result.cells.len(),
        cost_usd: result.totals.iter().map(|t| t.cost_usd).sum(),
        result: serde_json::to_string(result)?,
    })
}

/// A saved run's result.
pub fn load_run(store: &crate::store::Store, id: &str) -> Result<CompareResult> {
    Ok(serde_json::from_str(&store.compare_run_json(id)?)?)
}
