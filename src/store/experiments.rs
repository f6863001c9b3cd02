//! Saved experiments: what a list shows, and the whole experiment as JSON (its shape belongs to
//! [`crate::evals::experiment`]).

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::Result;
use crate::evals::{EvalError, Experiment};

/// An experiment as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExperimentSummary {
    pub id: String,
    pub created_at_ms: i64,
    pub name: String,
    pub passed: bool,
    pub dataset: Option<String>,
    /// Each column's label and pass rate.
    pub columns: Vec<(String, f64)>,
    /// Each column's prompt version and model, with its pass rate (for a version's eval history).
    #[serde(default)]
    pub column_versions: Vec<ColumnVersion>,
    pub rows: usize,
    pub repeats: u32,
}

/// A column of a saved experiment: which prompt version on which model, and how it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ColumnVersion {
    pub prompt_id: String,
    pub slug: String,
    pub version: i64,
    pub model: String,
    pub pass_rate: f64,
}

impl Store {
    /// Saves a finished experiment; returns its id.
    pub fn save_experiment(&self, e: &Experiment) -> Result<String> {
        let id = if e.id.is_empty() {
            crate::ids::new_sortable_id("exp")
        } else {
            e.id.clone()
        };
        let summary = ExperimentSummary {
            id: id.clone(),
            created_at_ms: e.created_at_ms,
            name: e.name.clone(),
            passed: e.summary.passed,
            dataset: e
                .dataset
                .as_ref()
                .map(|d| format!("{}@{}", d.name, d.version)),
            columns: e
                .summary
                .columns
                .iter()
                .map(|c| (c.label.clone(), c.pass_rate.mean))
                .collect(),
            column_versions: e
                .columns
                .iter()
                .zip(&e.summary.columns)
                .map(|(c, s)| ColumnVersion {
                    prompt_id: c.prompt_id.clone(),
                    slug: c.slug.clone(),
                    version: c.version,
                    model: c.model.clone(),
                    pass_rate: s.pass_rate.mean,
                })
                .collect(),
            rows: e.rows.len(),
            repeats: e.repeats,
        };
        let mut saved = e.clone();
        saved.id = id.clone();
        self.conn().execute(
            "INSERT INTO experiments(id, created_at, name, passed, summary, result) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                e.created_at_ms,
                e.name,
                e.summary.passed,
                serde_json::to_string(&summary)?,
                serde_json::to_string(&saved)?,
            ],
        )?;
        Ok(id)
    }

    /// Saved experiments, newest first.
    pub fn list_experiments(&self, limit: u32) -> Result<Vec<ExperimentSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT summary FROM experiments ORDER BY created_at DESC, id DESC LIMIT ?1",
        )?;
        let texts: Vec<String> = stmt
            .query_map([limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    /// A saved experiment by id (or a unique prefix of one), or `latest`.
    pub fn get_experiment(&self, reference: &str) -> Result<Experiment> {
        let conn = self.conn();
        let text: Option<String> = if reference == "latest" {
            conn.query_row(
                "SELECT result FROM experiments ORDER BY created_at DESC, id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?
        } else {
            let mut stmt =
                conn.prepare("SELECT result FROM experiments WHERE id = ?1 OR id LIKE ?2 LIMIT 2")?;
            let found: Vec<String> = stmt
                .query_map(params![reference, format!("{reference}%")], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if found.len() == 1 {
                found.into_iter().next()
            } else {
                None
            }
        };
        let text = text.ok_or_else(|| EvalError::ExperimentNotFound(reference.to_owned()))?;
        Ok(serde_json::from_str(&text)?)
    }
}
