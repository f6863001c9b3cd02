//! Saved comparison runs: the summary fields a list needs, and the whole result as JSON (its
//! shape belongs to [`crate::compare`]).

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

/// A saved run, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub id: String,
    pub created_at: i64,
    pub slug: String,
    pub version: i64,
    pub models: Vec<String>,
    pub rows: u32,
    pub cost_usd: Option<f64>,
}

/// A run to save: what the list shows, and the whole result.
pub struct NewRun<'a> {
    pub prompt_id: &'a str,
    pub slug: &'a str,
    pub version: i64,
    pub models: &'a [String],
    pub rows: usize,
    pub cost_usd: Option<f64>,
    pub result: String,
}

impl Store {
    /// Saves a finished run; returns its id.
    pub fn save_compare_run(&self, run: NewRun<'_>) -> Result<String> {
        let id = crate::ids::new_id("run");
        self.conn().execute(
            "INSERT INTO compare_runs(id, created_at, prompt_id, slug, version, models, rows, cost_usd, result)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                chrono::Utc::now().timestamp_millis(),
                run.prompt_id,
                run.slug,
                run.version,
                serde_json::to_string(run.models)?,
                run.rows as i64,
                run.cost_usd,
                run.result,
            ],
        )?;
        Ok(id)
    }

    /// Saved runs, newest first.
    pub fn list_compare_runs(&self, limit: u32) -> Result<Vec<RunSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, created_at, slug, version, models, rows, cost_usd FROM compare_runs ORDER BY created_at DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(RunSummary {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    slug: r.get(2)?,
                    version: r.get(3)?,
                    models: serde_json::from_str(&r.get::<_, String>(4)?).unwrap_or_default(),
                    rows: r.get::<_, i64>(5)? as u32,
                    cost_usd: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The saved result of run `id`, as JSON text.
    pub fn compare_run_json(&self, id: &str) -> Result<String> {
        self.conn()
            .query_row("SELECT result FROM compare_runs WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::RunNotFound(id.to_owned()))
    }
}
