//! Schema migrations, embedded and applied at open. The schema version is SQLite's
//! `user_version` (rusqlite_migration); a database newer than this binary is refused clearly.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use crate::error::{Error, Result};

const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE prompts (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE prompt_versions (
    prompt_id    TEXT NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    model        TEXT,
    description  TEXT,
    message      TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (prompt_id, version)
) WITHOUT ROWID;

-- Versions are immutable: history you can trust is the point of versioning.
CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
BEGIN
    SELECT RAISE(ABORT, 'prompt versions are immutable');
END;

CREATE TABLE prompt_labels (
    prompt_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (prompt_id, name),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions(prompt_id, version) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE virtual_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    provider     TEXT NOT NULL,
    base_url     TEXT,
    notes        TEXT,
    secret       BLOB NOT NULL,
    mask         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    last_used_at TEXT
);
"#;

/// Request logs, attempts, feedback, the response cache and settings (routing engine).
const V2: &str = r#"
CREATE TABLE calls (
    id                TEXT PRIMARY KEY,
    trace_id          TEXT NOT NULL,
    created_at        INTEGER NOT NULL,           -- unix milliseconds
    source            TEXT NOT NULL,              -- cli, gateway, compare, app
    prompt_id         TEXT,
    prompt_version    INTEGER,
    provider          TEXT,
    model             TEXT,
    key_name          TEXT,
    status            INTEGER NOT NULL,           -- HTTP-style status of the call
    success           INTEGER NOT NULL,
    error             TEXT,
    stream            INTEGER NOT NULL,
    cache_status      TEXT NOT NULL,
    latency_ms        INTEGER NOT NULL,
    ttft_ms           INTEGER,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cached_tokens     INTEGER,
    cost_usd          REAL,                       -- NULL when the model's price is unknown
    retry_count       INTEGER NOT NULL,
    target_path       TEXT,                       -- e.g. "1.0": which target served the call
    request           TEXT,
    response          TEXT,
    metadata          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX calls_created ON calls(created_at);
CREATE INDEX calls_model ON calls(model, created_at);
CREATE INDEX calls_status ON calls(status, created_at);
CREATE INDEX calls_prompt ON calls(prompt_id, created_at);
CREATE INDEX calls_trace ON calls(trace_id);

CREATE TABLE call_tags (
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (call_id, key)
) WITHOUT ROWID;
CREATE INDEX call_tags_kv ON call_tags(key, value);

CREATE TABLE attempts (
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    target_path TEXT NOT NULL,
    provider    TEXT,
    model       TEXT,
    key_name    TEXT,
    status      INTEGER NOT NULL,
    error       TEXT,
    latency_ms  INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    PRIMARY KEY (call_id, n)
) WITHOUT ROWID;

CREATE TABLE feedback (
    id         TEXT PRIMARY KEY,
    trace_id   TEXT NOT NULL,
    value      INTEGER NOT NULL CHECK (value BETWEEN -10 AND 10),
    weight     REAL NOT NULL CHECK (weight >= 0 AND weight <= 1),
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX feedback_trace ON feedback(trace_id);

CREATE TABLE cache_entries (
    key        TEXT PRIMARY KEY,
    partition  TEXT NOT NULL,                     -- hash of everything but the semantic text
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    model      TEXT,
    response   TEXT NOT NULL,
    embedder   TEXT,
    embedding  BLOB,                               -- little-endian f32, unit length
    hits       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cache_partition ON cache_entries(partition, expires_at);
CREATE INDEX cache_expires ON cache_entries(expires_at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#;

/// Gateway tokens: only a hash of each token is stored.
const V3: &str = r#"
CREATE TABLE gateway_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
"#;

/// Governance: budgets, rate limits, token scopes and expiry, and the append-only audit log.
const V4: &str = r#"
CREATE TABLE budgets (
    subject_kind    TEXT NOT NULL CHECK (subject_kind IN ('key', 'token')),
    subject_id      TEXT NOT NULL,
    unit            TEXT NOT NULL CHECK (unit IN ('usd', 'tokens')),
    limit_value     REAL NOT NULL CHECK (limit_value >= 0),
    period          TEXT NOT NULL CHECK (period IN ('none', 'daily', 'weekly', 'monthly')),
    alert_threshold REAL,
    period_start    INTEGER NOT NULL,            -- unix ms of the current period's start
    spent           REAL NOT NULL DEFAULT 0,
    reserved        REAL NOT NULL DEFAULT 0,     -- estimates of calls in flight
    alerted         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject_kind, subject_id)
) WITHOUT ROWID;

CREATE TABLE rate_limits (
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    unit         TEXT NOT NULL CHECK (unit IN ('requests', 'tokens')),
    window       TEXT NOT NULL CHECK (window IN ('minute', 'hour', 'day')),
    max_value    INTEGER NOT NULL CHECK (max_value > 0),
    window_start INTEGER NOT NULL DEFAULT 0,
    used         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject_kind, subject_id, unit, window)
) WITHOUT ROWID;

ALTER TABLE gateway_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE gateway_tokens ADD COLUMN expires_at TEXT;

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,                   -- cli, app, gateway:<token name>
    action      TEXT NOT NULL,                   -- prompt.create, key.rotate, …
    object_kind TEXT NOT NULL,
    object_id   TEXT,
    object_name TEXT,
    details     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit_log(at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#;

/// Saved comparison runs, so a matrix can be reopened later.
const V5: &str = r#"
CREATE TABLE compare_runs (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    prompt_id  TEXT NOT NULL,
    slug       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    models     TEXT NOT NULL,      -- JSON list
    rows       INTEGER NOT NULL,
    cost_usd   REAL,               -- NULL when any cell's cost is unknown
    result     TEXT NOT NULL       -- the whole result, JSON
);
CREATE INDEX compare_runs_created ON compare_runs(created_at);
"#;

/// Budget reservations as leases: a call's estimate is a row that settling deletes; a process
/// that dies leaves its rows behind, and a sweep charges and releases them once they expire.
const V6: &str = r#"
CREATE TABLE reservations (
    id           TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    unit         TEXT NOT NULL CHECK (unit IN ('usd', 'tokens')),
    amount       REAL NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX reservations_expiry ON reservations(expires_at);
"#;

/// Responses kept for OpenAI's Responses API (`store` and `previous_response_id`).
const V7: &str = r#"
CREATE TABLE responses (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    owner       TEXT NOT NULL,     -- the gateway token that created it
    previous_id TEXT,
    items       TEXT NOT NULL,     -- JSON: the conversation up to and including its output
    response    TEXT NOT NULL      -- JSON: the Response object
) WITHOUT ROWID;
CREATE INDEX responses_created ON responses(created_at);
"#;

/// Evaluations: datasets with immutable versions, saved eval definitions, experiments, and the
/// variables that rendered a logged call (so production calls can become dataset rows).
const V8: &str = r#"
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE dataset_versions (
    dataset_id   TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    rows         TEXT NOT NULL,      -- JSONL, one row per line
    row_count    INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    message      TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version)
) WITHOUT ROWID;
CREATE TRIGGER dataset_versions_immutable BEFORE UPDATE ON dataset_versions
BEGIN
    SELECT RAISE(ABORT, 'dataset versions are immutable');
END;

CREATE TABLE eval_definitions (
    name       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,        -- the eval file (YAML), as written
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE experiments (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,     -- unix milliseconds
    name       TEXT NOT NULL,
    passed     INTEGER NOT NULL,     -- every gate held
    summary    TEXT NOT NULL,        -- JSON: what a list shows
    result     TEXT NOT NULL         -- JSON: the whole experiment
);
CREATE INDEX experiments_created ON experiments(created_at);

ALTER TABLE calls ADD COLUMN variables TEXT;  -- JSON: what rendered the call's prompt
"#;

/// The semantic cache keeps the text it embedded (the near-miss check compares it).
const V9: &str = r#"
ALTER TABLE cache_entries ADD COLUMN query TEXT;
"#;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
        M::up(V7),
        M::up(V8),
        M::up(V9),
    ])
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = 9;

/// Brings the database to the latest schema. Returns true when the database was brand new.
pub(crate) fn apply(conn: &mut Connection, path: &Path) -> Result<bool> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    migrations()
        .to_latest(conn)
        .map_err(|e| Error::Migration(e.to_string()))?;
    Ok(found == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(migrations().validate().is_ok());
    }

    #[test]
    fn schema_version_matches_migration_count() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, Path::new(":memory:")).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = apply(&mut conn, Path::new("x.db")).unwrap_err();
        assert!(
            matches!(err, Error::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
