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

/// Who made a change, passed with each write so the audit trail never guesses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum Actor {
    /// The command line.
    #[default]
    Cli,
    /// The desktop app.
    App,
    /// The sample prompts imported into a new library.
    Seed,
    /// A call made through the gateway with this token (by name).
    Gateway(String),
    /// Portolan itself (start-up sweeps, expired leases).
    System,
}

impl Actor {
    /// The actor of a call from `source` (`cli`, `app`, `compare`…), or of the gateway token
    /// that made it.
    pub fn of_call(source: Option<&str>, token: Option<&str>) -> Actor {
        match (token, source) {
            (Some(t), _) => Actor::Gateway(t.to_owned()),
            (None, Some("app")) => Actor::App,
            _ => Actor::Cli,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Cli => f.write_str("cli"),
            Actor::App => f.write_str("app"),
            Actor::Seed => f.write_str("seed"),
            Actor::Gateway(token) => write!(f, "gateway:{token}"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl From<Actor> for String {
    fn from(a: Actor) -> String {
        a.to_string()
    }
}

/// One audit entry about to be written.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub object_kind: &'a str,
    pub object_id: Option<&'a str>,
    pub object_name: Option<&'a str>,
    pub details: Value,
}

impl Store {
    /// Appends one entry, on the connection (and so in the transaction) of the change itself.
    pub(crate) fn audit(&self, conn: &Connection, actor: &Actor, change: Change<'_>) -> Result<()> {
        conn.prepare_cached(
            "INSERT INTO audit_log(at, actor, action, object_kind, object_id, object_name, details)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            fmt_time(&now()),
            actor.to_string(),
            change.action,
            change.object_kind,
            change.object_id,
            change.object_name,
            change.details.to_string()
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
