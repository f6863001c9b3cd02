//! The statistics of a finished experiment: per column, the share of rows passing every check and
//! each check's pass rate and mean score (bootstrap intervals over rows), cost of outputs and of
//! judging, latency p50/p95; each column against the baseline row by row (wins, ties, losses, the
//! paired difference and what it means); rows whose verdicts differ across repeats; gates.

use serde::{Deserialize, Serialize};

use super::assertions::{Assertion, Gate, GateMeasure, Verdict};
use super::experiment::{ColumnInfo, ExperimentCell, ExperimentSpec, is_skipped};
use super::stats::{self, Estimate, Finding};
use crate::datasets::Row;

/// How one assertion did in one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AssertionSummary {
    pub label: String,
    /// Share of rows passing (each row the mean of its repeats).
    pub pass_rate: Estimate,
    /// Mean score (0–1, or 1–5 for a scoring judge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_score: Option<Estimate>,
    /// Cells whose check could not be made.
    pub errors: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ColumnSummary {
    pub label: String,
    /// Share of rows whose cells pass every check.
    pub pass_rate: Estimate,
    pub assertions: Vec<AssertionSummary>,
    /// Cells whose call failed.
    pub errors: usize,
    /// What the outputs cost (None when a price is unknown).
    pub cost_usd: Option<f64>,
    /// A row's output cost (the mean of its repeats), with its interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_row_usd: Option<Estimate>,
    /// What judging cost.
    pub judge_cost_usd: Option<f64>,
    pub latency_p50_ms: Estimate,
    pub latency_p95_ms: Estimate,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A column against the baseline, row by row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Comparison {
    pub column: usize,
    pub baseline: usize,
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
    /// Mean of (column − baseline) row scores, with its interval.
    pub difference: Estimate,
    pub finding: Finding,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GateResult {
    pub column: usize,
    /// The assertion's label, or "all checks" for a gate on the whole run.
    pub subject: String,
    pub gate: String,
    pub measured: f64,
    pub holds: bool,
}

/// A row whose verdicts differ across repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FlakyRow {
    pub row: usize,
    pub columns: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Summary {
    pub columns: Vec<ColumnSummary>,
    pub comparisons: Vec<Comparison>,
    pub gates: Vec<GateResult>,
    pub flaky: Vec<FlakyRow>,
    /// Every gate held.
    pub passed: bool,
}

fn at_least_one_graded(scores: &[f64]) -> bool {
    scores.iter().any(|s| *s != 0.0 && *s != 1.0)
}

/// Mixes a seed with indexes, so every interval resamples on its own stream, reproducibly.
fn seed_for(seed: u64, parts: &[usize]) -> u64 {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for &p in parts {
        h = (h ^ p as u64).wrapping_mul(0x100_0000_01b3).rotate_left(17);
    }
    h
}

pub(super) fn summarize(
    spec: &ExperimentSpec,
    columns: &[ColumnInfo],
    assertions: &[Assertion],
    gates: &[Gate],
    rows: &[Row],
    cells: &[ExperimentCell],
) -> Summary {
    let repeats = spec.repeats.max(1);
    let n_rows = rows.len();
    let at = |r: usize, c: usize| -> Vec<&ExperimentCell> {
        cells
            .iter()
            .filter(|x| x.row == r && x.column == c)
            .collect()
    };
    // Per row: the share of its repeats passing everything (None: no cell of the row ran, in a
    // cancelled experiment).
    let row_scores: Vec<Vec<Option<f64>>> = (0..columns.len())
        .map(|c| {
            (0..n_rows)
                .map(|r| {
                    let cs = at(r, c);
                    (!cs.is_empty())
                        .then(|| cs.iter().filter(|x| x.passed()).count() as f64 / cs.len() as f64)
                })
                .collect()
        })
        .collect();
    let mut summaries = Vec::new();
    let mut gate_results = Vec::new();
    for (c, col) in columns.iter().enumerate() {
        let col_cells: Vec<&ExperimentCell> = cells.iter().filter(|x| x.column == c).collect();
        let mut per_assertion = Vec::new();
        for (ai, a) in assertions.iter().enumerate() {
            let mut pass_rows = Vec::new();
            let mut scores = Vec::new();
            let mut errors = 0;
            for r in 0..n_rows {
                let vs: Vec<&Verdict> = at(r, c)
                    .iter()
                    .filter_map(|x| x.verdicts.get(ai))
                    .filter(|v| !is_skipped(v))
                    .collect();
                if vs.is_empty() {
                    continue;
                }
                errors += vs.iter().filter(|v| v.pass.is_none()).count();
                pass_rows.push(
                    vs.iter().filter(|v| v.pass == Some(true)).count() as f64 / vs.len() as f64,
                );
                let s: Vec<f64> = vs.iter().filter_map(|v| v.score).collect();
                if !s.is_empty() {
                    scores.push(s.iter().sum::<f64>() / s.len() as f64);
                }
            }
            let pass_rate = stats::bootstrap_mean(&pass_rows, seed_for(spec.seed, &[c, ai, 1]));
            // A mean says more than the pass rate only for graded checks (similarity, a judge's
            // score, pairwise wins and ties).
            let graded = at_least_one_graded(&scores);
            let mean_score =
                graded.then(|| stats::bootstrap_mean(&scores, seed_for(spec.seed, &[c, ai, 2])));
            if let Some(g) = a.spec.gate.as_deref().and_then(|g| Gate::parse(g).ok())
                && !pass_rows.is_empty()
            {
                let measured = match g.measure {
                    GateMeasure::PassRate => pass_rate.mean,
                    GateMeasure::Mean => mean_score.map_or(0.0, |m| m.mean),
                };
                gate_results.push(GateResult {
                    column: c,
                    subject: a.spec.label(),
                    gate: g.to_string(),
                    measured,
                    holds: g.holds(measured),
                });
            }
            per_assertion.push(AssertionSummary {
                label: a.spec.label(),
                pass_rate,
                mean_score,
                errors,
            });
        }
        let ran: Vec<f64> = row_scores[c].iter().flatten().copied().collect();
        let pass_rate = stats::bootstrap_mean(&ran, seed_for(spec.seed, &[c, 0]));
        for g in gates {
            gate_results.push(GateResult {
                column: c,
                subject: "all checks".into(),
                gate: g.to_string(),
                measured: pass_rate.mean,
                holds: g.holds(pass_rate.mean),
            });
        }
        let ok: Vec<&&ExperimentCell> = col_cells.iter().filter(|x| x.error.is_none()).collect();
        let latencies: Vec<f64> = ok.iter().map(|x| x.latency_ms as f64).collect();
        let judge_costs: Vec<f64> = col_cells.iter().filter_map(|x| x.judge_cost()).collect();
        // A row's cost, when every one of its cells has a known cost.
        let row_costs: Option<Vec<f64>> = (0..n_rows)
            .map(|r| {
                let cs = at(r, c);
                let costs: Option<Vec<f64>> = cs.iter().map(|x| x.cost_usd).collect();
                costs.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64)
            })
            .collect();
        summaries.push(ColumnSummary {
            cost_per_row_usd: row_costs
                .filter(|v| !v.is_empty())
                .map(|v| stats::bootstrap_mean(&v, seed_for(spec.seed, &[c, 6]))),
            label: col.label.clone(),
            pass_rate,
            assertions: per_assertion,
            errors: col_cells.len() - ok.len(),
            cost_usd: ok.iter().map(|x| x.cost_usd).sum::<Option<f64>>(),
            judge_cost_usd: (!judge_costs.is_empty()).then(|| judge_costs.iter().sum()),
            latency_p50_ms: stats::bootstrap_quantile(
                &latencies,
                0.5,
                seed_for(spec.seed, &[c, 3]),
            ),
            latency_p95_ms: stats::bootstrap_quantile(
                &latencies,
                0.95,
                seed_for(spec.seed, &[c, 4]),
            ),
            prompt_tokens: ok
                .iter()
                .filter_map(|x| x.usage)
                .map(|u| u.prompt_tokens)
                .sum(),
            completion_tokens: ok
                .iter()
                .filter_map(|x| x.usage)
                .map(|u| u.completion_tokens)
                .sum(),
        });
    }
    let base = spec.baseline.min(columns.len().saturating_sub(1));
    let comparisons = (0..columns.len())
        .filter(|&c| c != base)
        .map(|c| {
            let (mut wins, mut ties, mut losses) = (0, 0, 0);
            // Rows both columns ran.
            let (mut base_rows, mut col_rows) = (Vec::new(), Vec::new());
            for (a, b) in row_scores[base].iter().zip(&row_scores[c]) {
                let (Some(a), Some(b)) = (a, b) else { continue };
                base_rows.push(*a);
                col_rows.push(*b);
                if (b - a).abs() < 1e-9 {
                    ties += 1;
                } else if b > a {
                    wins += 1;
                } else {
                    losses += 1;
                }
            }
            let difference =
                stats::paired_difference(&base_rows, &col_rows, seed_for(spec.seed, &[c, 5]));
            Comparison {
                column: c,
                baseline: base,
                wins,
                ties,
                losses,
                finding: Finding::of(&difference),
                difference,
            }
        })
        .collect();
    let flaky = if repeats > 1 {
        (0..n_rows)
            .filter_map(|r| {
                let cols: Vec<usize> = (0..columns.len())
                    .filter(|&c| {
                        let cs = at(r, c);
                        let outcomes: Vec<Vec<Option<bool>>> = cs
                            .iter()
                            .map(|x| x.verdicts.iter().map(|v| v.pass).collect())
                            .collect();
                        outcomes.windows(2).any(|w| w[0] != w[1])
                    })
                    .collect();
                (!cols.is_empty()).then_some(FlakyRow {
                    row: r,
                    columns: cols,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let passed = gate_results.iter().all(|g| g.holds);
    Summary {
        columns: summaries,
        comparisons,
        gates: gate_results,
        flaky,
        passed,
    }
}
