//! The audit log: an append-only record of every change to prompts, keys, tokens, budgets and
//! settings — when, what, which object, and from where (the CLI, the app, a gateway token).
//! Triggers refuse updates and deletes; secrets never appear in it.

use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::Value;

use super::{Store, fmt_time, now};
use crate::error::Result;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub object_name: Option<String>,
    pub details: Value,
}

impl Store {
    /// Who the following changes are made by: `cli` (the default), `app`, `gateway:<token>`.
    pub fn set_actor(&self, actor: &str) {
        if let Ok(mut a) = self.actor.write() {
            *a = actor.to_owned();
        }
    }

    pub fn actor(&self) -> String {
        self.actor
            .read()
            .map(|a| a.clone())
            .unwrap_or_else(|_| "cli".into())
    }

    /// Appends one entry, on the connection (and so in the transaction) of the change itself.
    pub(crate) fn audit(
        &self,
        conn: &Connection,
        action: &str,
        object_kind: &str,
        object_id: Option<&str>,
        object_name: Option<&str>,
        details: Value,
    ) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO audit_log(at, actor, action, object_kind, object_id, object_name, details)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            fmt_time(&now()),
            self.actor(),
            action,
            object_kind,
            object_id,
            object_name,
            details.to_string()
        ])?;
        Ok(())
    }

    /// The newest `limit` entries, newest first.
    pub fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT seq, at, actor, action, object_kind, object_id, object_name, details
             FROM audit_log ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    object_kind: r.get(4)?,
                    object_id: r.get(5)?,
                    object_name: r.get(6)?,
                    details: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or(Value::Null),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}
