//! The shared store's schema, as numbered migrations applied in order. Replicas that start
//! together all call [`PgStore::migrate`]; a transaction-scoped advisory lock lets exactly one
//! apply what is missing while the others wait, then find nothing left to do.

use super::PgStore;
use crate::error::{Error, Result};

/// The advisory lock key of Portolan's migrations (any constant other applications do not use).
const MIGRATION_LOCK: i64 = 0x706f_7274_6f6c_616e; // "portolan"

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `n` is `MIGRATIONS[n - 1]`: a name and its SQL. Never edit one that has shipped;
/// add the next.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "governance",
        // Amounts are integers: nano-dollars (1e-9 USD) for USD budgets, tokens for token budgets;
        // times are unix milliseconds of the database server's clock.
        "CREATE TABLE budgets (
         subject_kind    text NOT NULL,
         subject_id      text NOT NULL,
         subject_name    text NOT NULL,
         unit            text NOT NULL CHECK (unit IN ('usd', 'tokens')),
         limit_amount    bigint NOT NULL CHECK (limit_amount >= 0),
         period          text NOT NULL CHECK (period IN ('none', 'daily', 'weekly', 'monthly')),
         alert_threshold double precision,
         period_start    bigint NOT NULL,
         spent           bigint NOT NULL DEFAULT 0,
         reserved        bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
         alerted         boolean NOT NULL DEFAULT false,
         PRIMARY KEY (subject_kind, subject_id)
     );
     CREATE TABLE reservations (
         id           text PRIMARY KEY,
         subject_kind text NOT NULL,
         subject_id   text NOT NULL,
         amount       bigint NOT NULL,
         created_at   bigint NOT NULL,
         expires_at   bigint NOT NULL
     );
     CREATE INDEX reservations_by_expiry ON reservations (expires_at);
     CREATE TABLE rate_limits (
         subject_kind text NOT NULL,
         subject_id   text NOT NULL,
         unit         text NOT NULL CHECK (unit IN ('requests', 'tokens')),
         window_name  text NOT NULL CHECK (window_name IN ('minute', 'hour', 'day')),
         max_value    bigint NOT NULL CHECK (max_value > 0),
         window_start bigint NOT NULL DEFAULT 0,
         used         bigint NOT NULL DEFAULT 0,
         PRIMARY KEY (subject_kind, subject_id, unit, window_name)
     );
     CREATE TABLE audit_log (
         id          bigserial PRIMARY KEY,
         at          timestamptz NOT NULL DEFAULT clock_timestamp(),
         actor       text NOT NULL,
         action      text NOT NULL,
         object_kind text NOT NULL,
         object_id   text,
         object_name text,
         details     jsonb NOT NULL
     );",
    ),
    (
        "call_log",
        // One row per call, partitioned by day (partitions are created as records arrive and
        // dropped whole by retention); the record is kept as written, with the columns searches
        // filter on beside it. (id, created_at) makes a record sent twice (a spool replayed) a
        // no-op.
        "CREATE TABLE calls (
             id          text NOT NULL,
             trace_id    text NOT NULL,
             created_at  bigint NOT NULL,
             source      text NOT NULL,
             model       text,
             provider    text,
             prompt_id   text,
             status      integer NOT NULL,
             success     boolean NOT NULL,
             cost_nanos  bigint,
             record      jsonb NOT NULL,
             PRIMARY KEY (id, created_at)
         ) PARTITION BY RANGE (created_at);
         CREATE INDEX calls_by_trace ON calls (trace_id);
         CREATE INDEX calls_by_time ON calls (created_at DESC);
         CREATE TABLE feedback (
             id         text PRIMARY KEY,
             trace_id   text NOT NULL,
             value      integer NOT NULL,
             weight     double precision NOT NULL,
             metadata   jsonb NOT NULL,
             created_at bigint NOT NULL
         );
         CREATE INDEX feedback_by_trace ON feedback (trace_id);",
    ),
    (
        "cache_and_conversations",
        // `seq` grows with every write, so a replica catches up on the semantic entries others
        // wrote since it last looked (see cache.rs).
        "CREATE TABLE cache_entries (
             key        text PRIMARY KEY,
             partition  text NOT NULL,
             created_at bigint NOT NULL,
             expires_at bigint NOT NULL,
             model      text,
             response   text NOT NULL,
             embedder   text,
             embedding  bytea,
             query      text,
             hits       bigint NOT NULL DEFAULT 0,
             seq        bigserial NOT NULL
         );
         CREATE INDEX cache_entries_by_expiry ON cache_entries (expires_at);
         CREATE INDEX cache_entries_semantic ON cache_entries (partition, embedder, seq)
             WHERE embedding IS NOT NULL;
         CREATE TABLE responses (
             id          text PRIMARY KEY,
             created_at  bigint NOT NULL,
             owner       text NOT NULL,
             previous_id text,
             items       jsonb NOT NULL,
             response    jsonb NOT NULL
         );
         CREATE INDEX responses_by_time ON responses (created_at);",
    ),
    (
        "catalog",
        // Times are unix milliseconds. A version's content is the PromptContent as JSON; keys'
        // secrets are sealed with the team's master key (PORTOLAN_MASTER_KEY, the same on every
        // replica), the key's id bound in as associated data; tokens are kept as SHA-256 hashes.
        "CREATE TABLE prompts (
             id         text PRIMARY KEY,
             slug       text NOT NULL UNIQUE,
             created_at bigint NOT NULL,
             updated_at bigint NOT NULL
         );
         CREATE TABLE prompt_versions (
             prompt_id    text NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
             version      bigint NOT NULL,
             content      jsonb NOT NULL,
             content_hash text NOT NULL,
             message      text,
             created_at   bigint NOT NULL,
             PRIMARY KEY (prompt_id, version)
         );
         CREATE TABLE prompt_labels (
             prompt_id  text NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
             name       text NOT NULL,
             version    bigint NOT NULL,
             updated_at bigint NOT NULL,
             PRIMARY KEY (prompt_id, name)
         );
         CREATE TABLE virtual_keys (
             id           text PRIMARY KEY,
             name         text NOT NULL UNIQUE,
             provider     text NOT NULL,
             base_url     text,
             notes        text,
             secret       bytea NOT NULL,
             mask         text NOT NULL,
             created_at   bigint NOT NULL,
             updated_at   bigint NOT NULL,
             last_used_at bigint
         );
         CREATE TABLE gateway_tokens (
             id           text PRIMARY KEY,
             name         text NOT NULL UNIQUE,
             prefix       text NOT NULL,
             hash         text NOT NULL UNIQUE,
             scopes       jsonb NOT NULL,
             created_at   bigint NOT NULL,
             last_used_at bigint,
             expires_at   bigint,
             revoked_at   bigint
         );
         CREATE TABLE settings (
             key        text PRIMARY KEY,
             value      jsonb NOT NULL,
             updated_at bigint NOT NULL
         );",
    ),
    (
        "pgvector",
        // pgvector where the server has it (the semantic cache then searches in the database;
        // see cache.rs); a role that may not create it leaves the cache searching in memory.
        "DO $$ BEGIN
             IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
                 BEGIN
                     CREATE EXTENSION IF NOT EXISTS vector;
                 EXCEPTION WHEN insufficient_privilege THEN
                     RAISE NOTICE 'pgvector is installed but this role may not create it';
                 END;
             END IF;
         END $$;",
    ),
];

impl PgStore {
    /// Applies the migrations the database lacks, once, whatever number of replicas run this
    /// at the same time. A database newer than this build is refused.
    pub(super) async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| self.fail(e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| self.fail(e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS portolan_schema (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
             )",
        )
        .await
        .map_err(|e| self.fail(e))?;
        let found: i32 = tx
            .query_one("SELECT COALESCE(max(version), 0) FROM portolan_schema", &[])
            .await
            .map_err(|e| self.fail(e))?
            .get(0);
        if found > SCHEMA_VERSION {
            return Err(Error::SharedStore(format!(
                "at {} has schema version {found}, newer than this Portolan understands ({SCHEMA_VERSION}); upgrade every replica",
                self.endpoint
            )));
        }
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let version = index as i32 + 1;
            tx.batch_execute(sql).await.map_err(|e| {
                Error::Migration(format!(
                    "shared store migration {version} ({name}): {}",
                    super::db_error(&e)
                ))
            })?;
            tx.execute(
                "INSERT INTO portolan_schema(version, name) VALUES($1, $2)",
                &[&version, name],
            )
            .await
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// The versions applied, in order (for checks and `portolan` diagnostics).
    pub async fn applied_migrations(&self) -> Result<Vec<i32>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT version FROM portolan_schema ORDER BY version", &[])
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
