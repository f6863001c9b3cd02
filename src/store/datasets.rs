//! Datasets in the library: a name, and immutable versions of rows (JSONL). Saving the same rows
//! again is not a new version; every change is audited.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::audit::{Actor, Change};
use super::{Store, fmt_time, now};
use crate::datasets::{DatasetError, Row, jsonl_hash, to_jsonl};
use crate::error::{Error, Result};
use crate::ids::{new_id, validate_slug};

/// A dataset as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DatasetSummary {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub latest_version: i64,
    pub rows: usize,
    pub updated_at: String,
}

/// One version of a dataset, with its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DatasetVersion {
    pub dataset_id: String,
    pub name: String,
    pub version: i64,
    pub message: Option<String>,
    pub created_at: String,
    pub rows: Vec<Row>,
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DatasetSave {
    pub name: String,
    pub version: i64,
    pub rows: usize,
    /// False when the rows were those of the latest version already.
    pub created: bool,
}

fn parse_rows(name: &str, version: i64, text: &str) -> Result<Vec<Row>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                Error::Internal(format!(
                    "dataset '{name}' version {version} is unreadable: {e}"
                ))
            })
        })
        .collect()
}

impl Store {
    /// Creates a dataset with `rows` as version 1.
    pub fn create_dataset(
        &self,
        name: &str,
        rows: &[Row],
        description: Option<&str>,
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<DatasetSave> {
        validate_slug("dataset name", name)?;
        if rows.is_empty() {
            return Err(DatasetError::Empty {
                file: format!("dataset '{name}'"),
            }
            .into());
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM datasets WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(DatasetError::Duplicate(name.to_owned()).into());
        }
        let id = new_id("ds");
        let at = fmt_time(&now());
        let jsonl = to_jsonl(rows);
        tx.execute(
            "INSERT INTO datasets(id, name, description, created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?4)",
            params![id, name, description, at],
        )?;
        tx.execute(
            "INSERT INTO dataset_versions(dataset_id, version, rows, row_count, content_hash, message, created_at)
             VALUES(?1, 1, ?2, ?3, ?4, ?5, ?6)",
            params![id, jsonl, rows.len() as i64, jsonl_hash(&jsonl), message, at],
        )?;
        self.audit(
            &tx,
            actor,
            Change {
                action: "dataset.create",
                object_kind: "dataset",
                object_id: Some(&id),
                object_name: Some(name),
                details: serde_json::json!({"version": 1, "rows": rows.len()}),
            },
        )?;
        tx.commit()?;
        Ok(DatasetSave {
            name: name.to_owned(),
            version: 1,
            rows: rows.len(),
            created: true,
        })
    }

    /// Saves `rows` as the next version of a dataset (unless they are the latest version's).
    pub fn save_dataset_version(
        &self,
        name: &str,
        rows: &[Row],
        message: Option<&str>,
        actor: &Actor,
    ) -> Result<DatasetSave> {
        if rows.is_empty() {
            return Err(DatasetError::Empty {
                file: format!("dataset '{name}'"),
            }
            .into());
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let (id, latest, hash): (String, i64, String) = tx
            .query_row(
                "SELECT d.id, v.version, v.content_hash FROM datasets d
                 JOIN dataset_versions v ON v.dataset_id = d.id
                 WHERE d.name = ?1 ORDER BY v.version DESC LIMIT 1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| DatasetError::NotFound(name.to_owned()))?;
        let jsonl = to_jsonl(rows);
        let new_hash = jsonl_hash(&jsonl);
        if hash == new_hash {
            return Ok(DatasetSave {
                name: name.to_owned(),
                version: latest,
                rows: rows.len(),
                created: false,
            });
        }
        let version = latest + 1;
        let at = fmt_time(&now());
        tx.execute(
            "INSERT INTO dataset_versions(dataset_id, version, rows, row_count, content_hash, message, created_at)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, version, jsonl, rows.len() as i64, new_hash, message, at],
        )?;
        tx.execute(
            "UPDATE datasets SET updated_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        self.audit(
            &tx,
            actor,
            Change {
                action: "dataset.save",
                object_kind: "dataset",
                object_id: Some(&id),
                object_name: Some(name),
                details: serde_json::json!({"version": version, "rows": rows.len()}),
            },
        )?;
        tx.commit()?;
        Ok(DatasetSave {
            name: name.to_owned(),
            version,
            rows: rows.len(),
            created: true,
        })
    }

    pub fn list_datasets(&self) -> Result<Vec<DatasetSummary>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT d.id, d.name, d.description, v.version, v.row_count, d.updated_at
             FROM datasets d JOIN dataset_versions v ON v.dataset_id = d.id
              AND v.version = (SELECT MAX(version) FROM dataset_versions WHERE dataset_id = d.id)
             ORDER BY d.name",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(DatasetSummary {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    description: r.get(2)?,
                    latest_version: r.get(3)?,
                    rows: r.get::<_, i64>(4)? as usize,
                    updated_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// A dataset version (the latest when `version` is None), by name or id.
    pub fn get_dataset(&self, reference: &str, version: Option<i64>) -> Result<DatasetVersion> {
        let conn = self.conn();
        let found: Option<(String, String, i64)> = conn
            .query_row(
                "SELECT d.id, d.name, MAX(v.version) FROM datasets d
                 JOIN dataset_versions v ON v.dataset_id = d.id
                 WHERE d.name = ?1 OR d.id = ?1 GROUP BY d.id",
                [reference],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (id, name, latest) =
            found.ok_or_else(|| DatasetError::NotFound(reference.to_owned()))?;
        let version = version.unwrap_or(latest);
        let (text, message, created_at): (String, Option<String>, String) = conn
            .query_row(
                "SELECT rows, message, created_at FROM dataset_versions WHERE dataset_id = ?1 AND version = ?2",
                params![id, version],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| DatasetError::VersionNotFound {
                name: name.clone(),
                version,
                latest,
            })?;
        Ok(DatasetVersion {
            rows: parse_rows(&name, version, &text)?,
            dataset_id: id,
            name,
            version,
            message,
            created_at,
        })
    }

    /// Every version of a dataset, oldest first (for bundle export with history).
    pub fn dataset_versions(&self, name: &str) -> Result<Vec<DatasetVersion>> {
        let latest = self.get_dataset(name, None)?;
        (1..=latest.version)
            .filter_map(|v| match self.get_dataset(name, Some(v)) {
                Err(Error::Dataset(DatasetError::VersionNotFound { .. })) => None,
                other => Some(other),
            })
            .collect()
    }

    /// Saves an eval definition (the eval file's text) under `name`.
    pub fn save_eval_definition(&self, name: &str, body: &str, actor: &Actor) -> Result<bool> {
        validate_slug("eval name", name)?;
        let conn = self.conn();
        let old: Option<String> = conn
            .query_row(
                "SELECT body FROM eval_definitions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        if old.as_deref() == Some(body) {
            return Ok(false);
        }
        conn.execute(
            "INSERT INTO eval_definitions(name, body, updated_at) VALUES(?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            params![name, body, fmt_time(&now())],
        )?;
        self.audit(
            &conn,
            actor,
            Change {
                action: "eval.save",
                object_kind: "eval",
                object_id: None,
                object_name: Some(name),
                details: serde_json::json!({}),
            },
        )?;
        Ok(true)
    }

    pub fn eval_definition(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT body FROM eval_definitions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Eval definitions as (name, body), by name.
    pub fn eval_definitions(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, body FROM eval_definitions ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(q: &str) -> Row {
        Row {
            vars: json!({"q": q}).as_object().unwrap().clone(),
            ..Default::default()
        }
    }

    #[test]
    fn dataset_versions_are_immutable_and_identical_saves_are_no_ops() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let v1 = store
            .create_dataset("qa", &[row("a")], Some("questions"), None, &Actor::Cli)
            .unwrap();
        assert_eq!(v1.version, 1);
        assert!(matches!(
            store.create_dataset("qa", &[row("a")], None, None, &Actor::Cli),
            Err(Error::Dataset(DatasetError::Duplicate(_)))
        ));
        let same = store
            .save_dataset_version("qa", &[row("a")], None, &Actor::Cli)
            .unwrap();
        assert_eq!((same.version, same.created), (1, false));
        let v2 = store
            .save_dataset_version("qa", &[row("a"), row("b")], Some("more"), &Actor::Cli)
            .unwrap();
        assert_eq!((v2.version, v2.rows), (2, 2));
        assert_eq!(store.get_dataset("qa", Some(1)).unwrap().rows, [row("a")]);
        assert_eq!(store.get_dataset("qa", None).unwrap().rows.len(), 2);
        assert_eq!(store.list_datasets().unwrap()[0].latest_version, 2);
        assert!(
            store
                .conn()
                .execute("UPDATE dataset_versions SET rows = ''", [])
                .is_err()
        );
        let e = store.get_dataset("qa", Some(9)).unwrap_err();
        assert_eq!(e.to_string(), "dataset 'qa' has no version 9 (latest is 2)");
        assert_eq!(store.dataset_versions("qa").unwrap().len(), 2);
    }
}
