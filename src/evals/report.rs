//! How an experiment reads: a summary for a terminal, JUnit XML for CI (one test suite per column,
//! one test case per row and repeat, failures naming the checks that failed and why), and the
//! row-by-row difference between two experiments, regressions first.

use std::fmt::Write as _;

use serde::Serialize;

use super::experiment::{Experiment, ExperimentCell};
use super::stats::Estimate;

fn pct(e: &Estimate) -> String {
    format!(
        "{:.0}% [{:.0}–{:.0}]",
        e.mean * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

fn usd(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("${v:.4}"),
        None => "unknown".into(),
    }
}

/// The summary a terminal shows.
pub fn summary(e: &Experiment) -> String {
    let mut out = String::new();
    let s = &e.summary;
    let _ = writeln!(
        out,
        "{} — {} row{} × {} column{}{}{}",
        e.name,
        e.rows.len(),
        if e.rows.len() == 1 { "" } else { "s" },
        e.columns.len(),
        if e.columns.len() == 1 { "" } else { "s" },
        if e.repeats > 1 {
            format!(" × {} repeats", e.repeats)
        } else {
            String::new()
        },
        e.dataset
            .as_ref()
            .map(|d| format!(" (dataset {}@{})", d.name, d.version))
            .unwrap_or_default()
    );
    for (c, col) in s.columns.iter().enumerate() {
        let base = if c == e.baseline && e.columns.len() > 1 {
            " (baseline)"
        } else {
            ""
        };
        let _ = writeln!(out, "\n[{}] {}{base}", c + 1, col.label);
        let _ = writeln!(out, "  all checks pass   {}", pct(&col.pass_rate));
        for a in &col.assertions {
            let score = a
                .mean_score
                .map(|m| format!("  mean {:.2} [{:.2}–{:.2}]", m.mean, m.low, m.high))
                .unwrap_or_default();
            let errors = if a.errors > 0 {
                format!("  ({} could not be checked)", a.errors)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:<17} {}{score}{errors}",
                short(&a.label, 17),
                pct(&a.pass_rate)
            );
        }
        let per_row = col
            .cost_per_row_usd
            .map(|e| format!(" (a row ${:.5} [{:.5}–{:.5}])", e.mean, e.low, e.high))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  cost {}{per_row} outputs + {} judging · latency p50 {:.0} ms, p95 {:.0} ms · {} + {} tokens{}",
            usd(col.cost_usd),
            usd(col.judge_cost_usd.or(Some(0.0))),
            col.latency_p50_ms.mean,
            col.latency_p95_ms.mean,
            col.prompt_tokens,
            col.completion_tokens,
            if col.errors > 0 {
                format!(
                    " · {} failed call{}",
                    col.errors,
                    if col.errors == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
    for cmp in &s.comparisons {
        let d = &cmp.difference;
        let _ = writeln!(
            out,
            "\n[{}] vs [{}]: {} better, {} same, {} worse row{}; difference {:+.0} points [{:+.0}, {:+.0}] → {}",
            cmp.column + 1,
            cmp.baseline + 1,
            cmp.wins,
            cmp.ties,
            cmp.losses,
            if cmp.wins + cmp.ties + cmp.losses == 1 {
                ""
            } else {
                "s"
            },
            d.mean * 100.0,
            d.low * 100.0,
            d.high * 100.0,
            cmp.finding.as_str()
        );
    }
    if !s.flaky.is_empty() {
        let rows: Vec<String> = s.flaky.iter().map(|f| (f.row + 1).to_string()).collect();
        let _ = writeln!(
            out,
            "\nflaky: row{} {} gave different verdicts across repeats",
            if rows.len() == 1 { "" } else { "s" },
            rows.join(", ")
        );
    }
    if !s.gates.is_empty() {
        let _ = writeln!(out);
        for g in &s.gates {
            let _ = writeln!(
                out,
                "{} gate [{}] {}: {} (measured {:.3})",
                if g.holds { "✓" } else { "✗" },
                g.column + 1,
                g.subject,
                g.gate,
                g.measured
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if s.passed {
                "every gate holds"
            } else {
                "a gate failed"
            }
        );
    }
    out
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// What failed in a cell, one line per check.
pub fn failures(e: &Experiment, cell: &ExperimentCell) -> Vec<String> {
    if let Some(err) = &cell.error {
        return vec![format!("the call failed: {err}")];
    }
    let labels: Vec<String> = e
        .assertions
        .iter()
        .map(|a| a.label())
        .chain(e.rows[cell.row].assert.iter().map(|a| {
            serde_json::from_value::<super::assertions::AssertionSpec>(a.clone())
                .map(|s| s.label())
                .unwrap_or_else(|_| a.to_string())
        }))
        .collect();
    cell.verdicts
        .iter()
        .enumerate()
        .filter(|(_, v)| v.pass == Some(false) || v.error.is_some())
        .map(|(i, v)| {
            let label = labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("check {}", i + 1));
            match &v.error {
                Some(err) => format!("{label}: could not be checked: {err}"),
                None => format!("{label}: {}", v.reason),
            }
        })
        .collect()
}

fn row_name(e: &Experiment, row: usize, repeat: u32) -> String {
    let r = &e.rows[row];
    let what = r.description.clone().unwrap_or_else(|| {
        let vars = serde_json::Value::Object(r.vars.clone()).to_string();
        short(&vars, 60)
    });
    if e.repeats > 1 {
        format!("row {} (repeat {}): {what}", row + 1, repeat + 1)
    } else {
        format!("row {}: {what}", row + 1)
    }
}

/// JUnit XML: a test suite per column, a test case per row (and repeat).
pub fn junit(e: &Experiment) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let total = e.cells.len();
    let failed = e.cells.iter().filter(|c| !c.passed()).count();
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{total}\" failures=\"{failed}\" time=\"{:.3}\">",
        xml(&e.name),
        e.wall_ms as f64 / 1000.0
    );
    for (c, col) in e.columns.iter().enumerate() {
        let cells: Vec<&ExperimentCell> = e.cells.iter().filter(|x| x.column == c).collect();
        let failures_n = cells
            .iter()
            .filter(|x| !x.passed() && x.error.is_none())
            .count();
        let errors_n = cells.iter().filter(|x| x.error.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures_n}\" errors=\"{errors_n}\">",
            xml(&col.label),
            cells.len()
        );
        for cell in cells {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml(&col.label),
                xml(&row_name(e, cell.row, cell.repeat)),
                cell.latency_ms as f64 / 1000.0
            );
            if cell.passed() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let lines = failures(e, cell);
            let kind = if cell.error.is_some() {
                "error"
            } else {
                "failure"
            };
            let _ = writeln!(
                out,
                "      <{kind} message=\"{}\">{}</{kind}>",
                xml(lines.first().map(String::as_str).unwrap_or("failed")),
                xml(&format!(
                    "{}\n\noutput:\n{}",
                    lines.join("\n"),
                    short(&cell.output, 2000)
                ))
            );
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One row of the difference between two experiments.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RowChange {
    pub row: usize,
    /// The column label both experiments share.
    pub column: String,
    /// Share of repeats passing every check, before and after.
    pub before: f64,
    pub after: f64,
    /// What failed in the newer experiment.
    pub failures: Vec<String>,
}

fn row_key(r: &crate::datasets::Row) -> String {
    serde_json::json!({"vars": r.vars, "expected": r.expected}).to_string()
}

/// Rows whose outcome changed between experiment `a` and `b` in a column both have (matched by
/// label, else by position), regressions first. Rows are matched by their variables and
/// expected output, so a reordered dataset still lines up.
pub fn diff(a: &Experiment, b: &Experiment) -> Vec<RowChange> {
    let score = |e: &Experiment, row: usize, column: usize| -> f64 {
        let cs: Vec<&ExperimentCell> = e
            .cells
            .iter()
            .filter(|c| c.row == row && c.column == column)
            .collect();
        cs.iter().filter(|c| c.passed()).count() as f64 / cs.len().max(1) as f64
    };
    let mut out = Vec::new();
    for (cb, col) in b.columns.iter().enumerate() {
        let ca = a
            .columns
            .iter()
            .position(|x| x.label == col.label)
            .or_else(|| (cb < a.columns.len()).then_some(cb));
        let Some(ca) = ca else { continue };
        for (rb, row) in b.rows.iter().enumerate() {
            let key = row_key(row);
            let Some(ra) = a.rows.iter().position(|r| row_key(r) == key) else {
                continue;
            };
            let (before, after) = (score(a, ra, ca), score(b, rb, cb));
            if (before - after).abs() > 1e-9 {
                let failures = b
                    .cells
                    .iter()
                    .filter(|c| c.row == rb && c.column == cb && !c.passed())
                    .flat_map(|c| failures(b, c))
                    .collect();
                out.push(RowChange {
                    row: rb,
                    column: col.label.clone(),
                    before,
                    after,
                    failures,
                });
            }
        }
    }
    out.sort_by(|x, y| {
        (x.after - x.before)
            .total_cmp(&(y.after - y.before))
            .then(x.row.cmp(&y.row))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_control_characters_dropped() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
