//! The app's datasets, experiments and label gate: thin operations on the engine's
//! [`portolan::evals`] and the store, shaped for the UI. The result types are the engine's own
//! (their TypeScript is generated from them, feature `ts`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use portolan::datasets::{self, Row};
use portolan::evals::assertions::{AssertionSpec, Check};
use portolan::evals::experiment::{
    self, ColumnSpec, DatasetRef, Experiment, ExperimentCell, ExperimentEvent, ExperimentSpec,
};
use portolan::evals::file::EvalFile;
use portolan::evals::gate::{self, GateOutcome};
use portolan::evals::report::{self, RowChange};
use portolan::store::{DatasetSave, DatasetSummary, DatasetVersion, ExperimentSummary};

use super::{ACTOR, ApiResult, AppError, CompareEventDto, Desktop, event_dto, forward_batched};

/// An experiment to run from the Compare screen.
#[derive(Debug, Clone, Deserialize, Serialize, TS, PartialEq)]
#[ts(export)]
pub struct ExperimentRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Prompt versions (numbers or labels) × models.
    pub columns: Vec<ColumnSpec>,
    /// A dataset (its latest version when `version` is null), or none: `rows` are used.
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    #[ts(type = "number | null")]
    pub dataset_version: Option<i64>,
    #[serde(default)]
    pub rows: Vec<Row>,
    #[serde(default)]
    pub assertions: Vec<AssertionSpec>,
    #[serde(default)]
    pub gates: Vec<String>,
    pub repeats: u32,
    pub baseline: u32,
    #[serde(default)]
    pub judge_model: Option<String>,
    pub concurrency: u32,
    /// Simulated tool results, so tool-using prompts run to their final answer.
    #[serde(default)]
    #[ts(optional)]
    pub tools: Option<portolan::tools::simulate::ToolSimulation>,
}

/// What a run will do and cost at most, before it starts.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct PlanDto {
    pub calls: u32,
    pub judge_calls: u32,
    /// Worst-case USD (None when a model's price is unknown).
    pub estimate_usd: Option<f64>,
    pub unpriced: Vec<String>,
    /// The setting above which the app asks before running.
    pub confirm_above_usd: f64,
}

/// What an experiment reports while it runs.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
#[ts(export)]
pub enum ExperimentEventDto {
    /// The runner's progress for a cell (`row` is the dataset row).
    Cell { repeat: u32, event: CompareEventDto },
    /// A cell with its verdicts.
    Evaluated { cell: Box<ExperimentCell> },
}

/// A dataset version with the versions it has.
#[derive(Debug, Clone, Serialize, TS, PartialEq)]
#[ts(export)]
pub struct DatasetDto {
    pub dataset: DatasetVersion,
    #[ts(type = "number")]
    pub latest_version: i64,
}

/// An eval definition of the library (an eval file kept by name).
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct EvalDefDto {
    pub name: String,
    pub body: String,
}

/// A prompt version's latest evaluation result.
#[derive(Debug, Clone, Serialize, Deserialize, TS, PartialEq)]
#[ts(export)]
pub struct VersionEvalDto {
    #[ts(type = "number")]
    pub version: i64,
    pub experiment_id: String,
    pub name: String,
    #[ts(type = "number")]
    pub created_at_ms: i64,
    pub model: String,
    pub pass_rate: f64,
    pub passed: bool,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::new("invalid_request", message)
}

impl Desktop {
    pub fn list_datasets(&self) -> ApiResult<Vec<DatasetSummary>> {
        Ok(self.store().list_datasets()?)
    }

    pub fn get_dataset(&self, name: &str, version: Option<i64>) -> ApiResult<DatasetDto> {
        let latest = self.store().get_dataset(name, None)?.version;
        Ok(DatasetDto {
            dataset: self.store().get_dataset(name, version)?,
            latest_version: latest,
        })
    }

    /// Saves rows as a dataset's next version (or creates the dataset).
    pub fn save_dataset(
        &self,
        name: &str,
        rows: &[Row],
        message: Option<&str>,
    ) -> ApiResult<DatasetSave> {
        match self.store().get_dataset(name, None) {
            Ok(_) => Ok(self
                .store()
                .save_dataset_version(name, rows, message, &ACTOR)?),
            Err(portolan::Error::Dataset(datasets::DatasetError::NotFound(_))) => Ok(self
                .store()
                .create_dataset(name, rows, None, message, &ACTOR)?),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads rows from a .jsonl, .csv or promptfoo .yaml file (nothing is saved).
    pub fn read_dataset_file(&self, path: &str) -> ApiResult<Vec<Row>> {
        Ok(datasets::read_file(std::path::Path::new(path))?)
    }

    /// Writes a dataset version to a .jsonl or .csv file; returns the rows written.
    pub fn export_dataset(&self, name: &str, version: Option<i64>, path: &str) -> ApiResult<u32> {
        let v = self.store().get_dataset(name, version)?;
        let p = std::path::Path::new(path);
        let text = match datasets::Format::of(p).map_err(portolan::Error::from)? {
            datasets::Format::Csv => datasets::to_csv(&v.rows),
            datasets::Format::Jsonl => datasets::to_jsonl(&v.rows),
            datasets::Format::PromptfooYaml => {
                return Err(invalid("export writes .jsonl or .csv files"));
            }
        };
        std::fs::write(p, text)
            .map_err(|e| AppError::new("io", format!("could not write {path}: {e}")))?;
        Ok(v.rows.len() as u32)
    }

    /// Rows from logged calls (by call id): the variables that rendered them and, with
    /// `with_answers`, their answers as the expected output. Calls made without a prompt's
    /// variables are named in the error.
    pub fn rows_from_calls(&self, ids: &[String], with_answers: bool) -> ApiResult<Vec<Row>> {
        self.engine().flush_logs();
        let mut rows = Vec::new();
        let mut without = Vec::new();
        for id in ids {
            let Some(detail) = self.store().get_call(id)? else {
                return Err(AppError::new("not_found", format!("no logged call {id}")));
            };
            let c = detail.call;
            let Some(vars) = c.variables.as_deref().and_then(|v| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).ok()
            }) else {
                without.push(c.trace_id.clone());
                continue;
            };
            let expected = with_answers
                .then(|| {
                    c.response
                        .as_deref()
                        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                        .and_then(|v| {
                            v["choices"][0]["message"]["content"]
                                .as_str()
                                .map(str::to_owned)
                        })
                        .map(serde_json::Value::String)
                })
                .flatten();
            rows.push(Row {
                vars,
                expected,
                tags: vec![format!("trace:{}", c.trace_id)],
                ..Default::default()
            });
        }
        if rows.is_empty() && !without.is_empty() {
            return Err(invalid(format!(
                "these calls were not made through a prompt, so they have no variables: {}",
                without.join(", ")
            )));
        }
        Ok(rows)
    }

    /// Whether an assertion is valid (its type, pattern, schema, gate), as the form is filled in.
    pub fn check_assertion(&self, spec: &AssertionSpec) -> ApiResult<()> {
        let check = Check::compile(spec).map_err(|e| invalid(e.to_string()))?;
        let needs_model = matches!(check, Check::Graded(_));
        if needs_model && let Some(p) = &spec.prompt {
            self.store().get_prompt(p)?;
        }
        Ok(())
    }

    fn spec_of(&self, req: &ExperimentRequest) -> ApiResult<ExperimentSpec> {
        if req.columns.is_empty() {
            return Err(invalid("pick at least one version and one model"));
        }
        if req.columns.len() > 16 {
            return Err(invalid("an experiment has at most 16 columns"));
        }
        let (rows, dataset) = match &req.dataset {
            Some(name) => {
                let v = self.store().get_dataset(name, req.dataset_version)?;
                (
                    v.rows,
                    Some(DatasetRef {
                        name: v.name,
                        version: v.version,
                    }),
                )
            }
            None => (req.rows.clone(), None),
        };
        Ok(ExperimentSpec {
            name: req
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| req.columns[0].prompt.clone()),
            columns: req.columns.clone(),
            rows,
            dataset,
            assertions: req.assertions.clone(),
            gates: req.gates.clone(),
            repeats: req.repeats.clamp(1, 20),
            baseline: req.baseline as usize,
            judge_model: req.judge_model.clone().filter(|m| !m.trim().is_empty()),
            per_provider_concurrency: req.concurrency.clamp(1, 16) as usize,
            tools: req.tools.clone().unwrap_or_default(),
            ..Default::default()
        })
    }

    /// Validates and prices an experiment without calling anything.
    pub async fn plan_experiment(&self, req: &ExperimentRequest) -> ApiResult<PlanDto> {
        let spec = self.spec_of(req)?;
        let plan = experiment::plan(self.engine(), spec).await?;
        plan.check_budgets(self.store())?;
        let e = &plan.estimate;
        Ok(PlanDto {
            calls: e.calls as u32,
            judge_calls: e.judge_calls as u32,
            estimate_usd: e.total_usd(),
            unpriced: e.unpriced.clone(),
            confirm_above_usd: self.engine().settings().eval_confirm_above_usd,
        })
    }

    /// Runs an experiment, streaming progress to `on_event` in batches; saves it. Cancelling
    /// ([`Desktop::cancel_compare`]) keeps the cells that finished.
    pub async fn run_experiment(
        &self,
        req: &ExperimentRequest,
        on_event: impl Fn(Vec<ExperimentEventDto>) + Send + Sync + 'static,
    ) -> ApiResult<Experiment> {
        let spec = self.spec_of(req)?;
        let repeats = spec.repeats.max(1) as usize;
        let plan = experiment::plan(self.engine(), spec).await?;
        plan.check_budgets(self.store())?;
        let cancel_rx = self.arm_cancel();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<ExperimentEvent>();
        let to_dto = move |ev: ExperimentEvent| match ev {
            ExperimentEvent::Cell { event } => {
                let mut dto = event_dto(event);
                let repeat = match &mut dto {
                    CompareEventDto::Started { row, .. }
                    | CompareEventDto::Delta { row, .. }
                    | CompareEventDto::Throttled { row, .. } => {
                        let r = *row as usize;
                        *row = (r / repeats) as u32;
                        (r % repeats) as u32
                    }
                    CompareEventDto::Finished { cell } => {
                        let r = cell.row as usize;
                        cell.row = (r / repeats) as u32;
                        (r % repeats) as u32
                    }
                };
                ExperimentEventDto::Cell { repeat, event: dto }
            }
            ExperimentEvent::Evaluated { cell } => ExperimentEventDto::Evaluated { cell },
        };
        let forward = forward_batched(rx, to_dto, on_event);
        let result = experiment::run_until(self.engine(), plan, Some(tx), Some(cancel_rx)).await;
        let _ = forward.await;
        self.engine().flush_logs_async().await;
        let mut e = result?;
        let saved = e.clone();
        e.id = self
            .blocking(move |d| Ok(d.store().save_experiment(&saved)?))
            .await?;
        Ok(e)
    }

    pub fn list_experiments(&self) -> ApiResult<Vec<ExperimentSummary>> {
        Ok(self.store().list_experiments(100)?)
    }

    pub fn get_experiment(&self, id: &str) -> ApiResult<Experiment> {
        Ok(self.store().get_experiment(id)?)
    }

    /// Rows whose outcome changed from experiment `before` to `after`, regressions first.
    pub fn diff_experiments(&self, before: &str, after: &str) -> ApiResult<Vec<RowChange>> {
        let (a, b) = (
            self.store().get_experiment(before)?,
            self.store().get_experiment(after)?,
        );
        Ok(report::diff(&a, &b))
    }

    pub fn list_evals(&self) -> ApiResult<Vec<EvalDefDto>> {
        Ok(self
            .store()
            .eval_definitions()?
            .into_iter()
            .map(|(name, body)| EvalDefDto { name, body })
            .collect())
    }

    /// Keeps an eval file in the library (checked against it first).
    pub fn save_eval(&self, name: &str, body: &str) -> ApiResult<()> {
        let mut file = EvalFile::parse(body, name)?;
        file.name.get_or_insert_with(|| name.to_owned());
        file.to_spec(self.store())?;
        self.store().save_eval_definition(name, body, &ACTOR)?;
        Ok(())
    }

    /// Each version's latest evaluation (the newest experiment with a column on it).
    pub fn version_evals(&self, prompt: &str) -> ApiResult<Vec<VersionEvalDto>> {
        let p = self.store().get_prompt(prompt)?;
        let mut latest: BTreeMap<i64, VersionEvalDto> = BTreeMap::new();
        for e in self.store().list_experiments(500)? {
            for c in &e.column_versions {
                if c.prompt_id != p.id || latest.contains_key(&c.version) {
                    continue;
                }
                latest.insert(
                    c.version,
                    VersionEvalDto {
                        version: c.version,
                        experiment_id: e.id.clone(),
                        name: e.name.clone(),
                        created_at_ms: e.created_at_ms,
                        model: c.model.clone(),
                        pass_rate: c.pass_rate,
                        passed: e.passed,
                    },
                );
            }
        }
        Ok(latest.into_values().collect())
    }

    /// Runs `eval` as the label's gate and moves the label when it allows; the outcome says
    /// what regressed when it does not.
    pub async fn set_label_gated(
        &self,
        prompt: &str,
        version: i64,
        label: &str,
        eval: &str,
    ) -> ApiResult<GateOutcome> {
        let body = self.store().eval_definition(eval)?.ok_or_else(|| {
            AppError::new(
                "not_found",
                format!("no eval named '{eval}' in the library"),
            )
        })?;
        let mut file = EvalFile::parse(&body, eval)?;
        file.name.get_or_insert_with(|| eval.to_owned());
        let (outcome, _) =
            gate::run(self.engine(), self.store(), &file, prompt, version, label).await?;
        if outcome.allowed {
            self.store().set_label(prompt, version, label, &ACTOR)?;
        }
        Ok(outcome)
    }

    /// Moves a label its gate refused, with the reason recorded in the audit log.
    pub fn set_label_override(
        &self,
        prompt: &str,
        version: i64,
        label: &str,
        eval: &str,
        reason: &str,
    ) -> ApiResult<()> {
        self.store()
            .set_label_overriding_gate(prompt, version, label, eval, reason, &ACTOR)?;
        Ok(())
    }
}
