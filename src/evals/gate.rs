//! The label gate: before a label (say `production`) moves to a prompt version, an eval runs on
//! that version and on the one the label points at now (on the eval's models, rows and checks);
//! the move is allowed only when every gate of the new version holds and it is not significantly
//! worse than the current one. The CLI (`prompts label … --gate`) and the app share this.

use serde::{Deserialize, Serialize};

use super::experiment::{self, ColumnSpec, Experiment};
use super::file::EvalFile;
use super::report;
use super::stats::Finding;
use crate::error::Result;
use crate::prompts::VersionSelector;
use crate::routing::Engine;
use crate::store::Store;

/// What the gate decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GateOutcome {
    /// The experiment that decided (saved).
    pub experiment_id: String,
    pub allowed: bool,
    /// Gates of the new version that failed, each with what was measured.
    pub failed_gates: Vec<String>,
    /// The version the new one is significantly worse than, if it is.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub worse_than: Option<i64>,
    /// Rows that pass on the current version and fail on the new one, with what failed.
    pub regressed: Vec<String>,
    /// The new version's share of rows passing every check.
    pub pass_rate: f64,
}

impl GateOutcome {
    /// The refusal as a sentence (with the regressed rows on their own lines).
    pub fn refusal(&self, label: &str, version: i64) -> String {
        let mut why = Vec::new();
        if !self.failed_gates.is_empty() {
            why.push(format!("gate failed: {}", self.failed_gates.join(", ")));
        }
        if let Some(v) = self.worse_than {
            why.push(format!("significantly worse than version {v}"));
        }
        let mut text = format!(
            "label '{label}' was not moved to version {version} (experiment {}): {}",
            self.experiment_id,
            why.join("; ")
        );
        if !self.regressed.is_empty() {
            text.push_str(&format!(
                "\nrows that regressed:\n  {}",
                self.regressed.join("\n  ")
            ));
        }
        text
    }
}

/// The experiment a gate runs: the eval's rows and checks, with columns (current, candidate) for
/// each of the eval's models (the current one is the baseline).
pub fn gate_spec(
    store: &Store,
    file: &EvalFile,
    prompt: &str,
    version: i64,
    label: &str,
) -> Result<(experiment::ExperimentSpec, Option<i64>)> {
    let mut spec = file.to_spec(store)?;
    store.get_version(prompt, &VersionSelector::Number(version))?;
    let current = store
        .get_version(prompt, &VersionSelector::Label(label.to_owned()))
        .ok()
        .map(|v| v.version)
        .filter(|v| *v != version);
    let mut models: Vec<Option<String>> = Vec::new();
    for c in &spec.columns {
        if !models.contains(&c.model) {
            models.push(c.model.clone());
        }
    }
    if models.is_empty() {
        models.push(None);
    }
    let column = |v: i64, model: &Option<String>| ColumnSpec {
        prompt: prompt.to_owned(),
        version: Some(v.to_string()),
        model: model.clone(),
        params: Default::default(),
    };
    spec.columns = models
        .iter()
        .flat_map(|m| {
            current
                .map(|c| column(c, m))
                .into_iter()
                .chain(std::iter::once(column(version, m)))
        })
        .collect();
    spec.baseline = 0;
    spec.name = format!("{} gate: {prompt}@{version} → {label}", spec.name);
    Ok((spec, current))
}

/// Decides from a finished gate experiment.
pub fn decide(e: &Experiment, version: i64, current: Option<i64>) -> GateOutcome {
    let candidates: Vec<usize> = (0..e.columns.len())
        .filter(|&c| e.columns[c].version == version)
        .collect();
    let failed_gates = e
        .summary
        .gates
        .iter()
        .filter(|g| candidates.contains(&g.column) && !g.holds)
        .map(|g| format!("{} {} (measured {:.3})", g.subject, g.gate, g.measured))
        .collect::<Vec<_>>();
    let worse = e
        .summary
        .comparisons
        .iter()
        .any(|c| candidates.contains(&c.column) && c.finding == Finding::Worse);
    let mut regressed = Vec::new();
    for &c in &candidates {
        // With a current version, its column comes just before the candidate's.
        let base = current.map(|_| c - 1);
        for r in 0..e.rows.len() {
            let passed = |col: usize| {
                let cells: Vec<_> = e
                    .cells
                    .iter()
                    .filter(|x| x.row == r && x.column == col)
                    .collect();
                !cells.is_empty() && cells.iter().all(|x| x.passed())
            };
            if !passed(c) && base.is_none_or(passed) {
                let fails: Vec<String> = e
                    .cells
                    .iter()
                    .filter(|x| x.row == r && x.column == c && !x.passed())
                    .flat_map(|x| report::failures(e, x))
                    .collect();
                let line = format!("row {}: {}", r + 1, fails.join("; "));
                if !regressed.contains(&line) {
                    regressed.push(line);
                }
            }
        }
    }
    let pass_rate = candidates
        .iter()
        .map(|&c| e.summary.columns[c].pass_rate.mean)
        .fold(f64::INFINITY, f64::min);
    GateOutcome {
        experiment_id: e.id.clone(),
        allowed: failed_gates.is_empty() && !worse,
        failed_gates,
        worse_than: if worse { current } else { None },
        regressed,
        pass_rate: if pass_rate.is_finite() {
            pass_rate
        } else {
            0.0
        },
    }
}

/// Runs the gate and saves its experiment; the label is not touched (the caller moves it when
/// the outcome allows).
pub async fn run(
    engine: &Engine,
    store: &Store,
    file: &EvalFile,
    prompt: &str,
    version: i64,
    label: &str,
) -> Result<(GateOutcome, Experiment)> {
    let (spec, current) = gate_spec(store, file, prompt, version, label)?;
    let plan = experiment::plan(engine, spec).await?;
    plan.check_budgets(store)?;
    let mut e = experiment::run(engine, plan, None).await?;
    engine.flush_logs_async().await;
    e.id = store.save_experiment(&e)?;
    Ok((decide(&e, version, current), e))
}
