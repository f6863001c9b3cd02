//! Storage. [`backend`] defines what the engine needs from it, as four traits; the rest of this
//! module is their embedded implementation: one SQLite database file per data directory, opened
//! in WAL mode with foreign keys on, migrated at open, with one submodule of queries per table
//! family. Nothing outside this module runs SQL.

mod audit;
pub mod backend;
mod call_log;
mod compare_runs;
mod connection;
mod datasets;
mod experiments;
mod keys;
mod limits;
mod migrations;
#[cfg(feature = "team")]
pub mod postgres;
mod prompts;
mod response_cache;
mod responses;
mod samples;
mod settings;
pub mod sqlite;
mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::secrets::MasterKey;
use crate::template::CompiledPrompt;

pub use audit::{Actor, AuditEntry};
pub use backend::{Backends, CacheStore, CallLog, Catalog, Conversations, Governance};
pub use call_log::LogWriter;
pub use compare_runs::{NewRun, RunSummary};
pub use datasets::{DatasetSave, DatasetSummary, DatasetVersion};
pub use experiments::{ColumnVersion, ExperimentSummary};
pub use limits::{
    Budget, BudgetAlert, BudgetUnit, Period, RateLimit, RateUnit, Refusal, Reservation, Subject,
    SubjectKind, UnknownPeriod, Window,
};
pub use migrations::SCHEMA_VERSION;
pub use prompts::{CompiledVersion, RenderedPrompt, is_prompt_id};
pub use response_cache::SqliteCache;
pub use responses::StoredResponse;
pub use tokens::{GatewayToken, NewToken, TokenScopes, hash_token};

/// How a store is opened. [`StoreOptions::from_env`] reads the environment; tests set fields
/// directly so they never touch a real keyring.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Import the bundled sample prompts into a brand-new database.
    pub seed_samples: bool,
    /// Look for (and keep) the master key in the OS keyring before falling back to a file.
    pub use_keyring: bool,
    /// A master key given directly (from `PORTOLAN_MASTER_KEY`), hex or base64.
    pub master_key: Option<String>,
}

impl StoreOptions {
    /// `PORTOLAN_SEED=0` skips the samples, `PORTOLAN_KEYRING=0` skips the OS keyring, and
    /// `PORTOLAN_MASTER_KEY` supplies the master key (headless servers).
    pub fn from_env() -> Self {
        let off = |name: &str| {
            std::env::var(name)
                .map(|v| {
                    matches!(
                        v.to_ascii_lowercase().as_str(),
                        "0" | "off" | "false" | "no"
                    )
                })
                .unwrap_or(false)
        };
        StoreOptions {
            seed_samples: !off("PORTOLAN_SEED"),
            use_keyring: !off("PORTOLAN_KEYRING"),
            master_key: std::env::var("PORTOLAN_MASTER_KEY")
                .ok()
                .filter(|s| !s.trim().is_empty()),
        }
    }
}

struct CachedRender {
    compiled: Arc<CompiledPrompt>,
    content: Arc<crate::prompts::PromptContent>,
    /// Set when the prompt includes partials: the compiled form is only valid while no prompt
    /// changed since, as seen by this process (`generation`) and by others (`data_version`).
    valid_at: Option<(u64, i64)>,
}

/// The database and what is derived from it in memory.
pub struct Store {
    conn: Mutex<Connection>,
    db_path: PathBuf,
    data_dir: PathBuf,
    options: StoreOptions,
    master_key: OnceLock<MasterKey>,
    renders: RwLock<HashMap<(String, i64), CachedRender>>,
    /// Bumped by every write made through this store, to invalidate renders that use partials.
    generation: AtomicU64,
    /// Subjects last seen without any budget or rate limit, and when (see `Store::has_limits`).
    unlimited: limits::UnlimitedSubjects,
}

pub(crate) const DB_FILE: &str = "portolan.db";

impl Store {
    /// Opens (creating if needed) the store in `data_dir` with options from the environment.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Store::open_with(data_dir, StoreOptions::from_env())
    }

    pub fn open_with(data_dir: &Path, options: StoreOptions) -> Result<Store> {
        crate::paths::ensure_private_dir(data_dir)?;
        let db_path = data_dir.join(DB_FILE);
        let mut conn = connection::open(&db_path, connection::PageCache::Default)?;
        let fresh = migrations::apply(&mut conn, &db_path)?;
        let store = Store {
            conn: Mutex::new(conn),
            db_path,
            data_dir: data_dir.to_path_buf(),
            options,
            master_key: OnceLock::new(),
            renders: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            unlimited: Default::default(),
        };
        if fresh && store.options.seed_samples {
            store.import_samples()?;
        }
        // Reservations of a process that died (or was killed) are charged and released once
        // their lease ends.
        store.sweep_expired_leases(now(), &Actor::System)?;
        connection::restrict_permissions(&store.db_path);
        Ok(store)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection itself intact (SQLite rolls back
        // the open transaction when the statement is dropped), so poisoning is not fatal.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that something changed, so cached renders that depend on other prompts recompile.
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn change_marker(&self, conn: &Connection) -> Result<(u64, i64)> {
        let data_version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok((self.generation.load(Ordering::SeqCst), data_version))
    }

    pub(crate) fn meta_get(&self, conn: &Connection, key: &str) -> Result<Option<String>> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn meta_set(&self, conn: &Connection, key: &str, value: &str) -> Result<()> {
        conn.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// The master key, loaded (or created) on first use and checked against this database.
    pub(crate) fn master_key(&self) -> Result<&MasterKey> {
        if let Some(k) = self.master_key.get() {
            return Ok(k);
        }
        let expected = self.meta_get(&self.conn(), "master_key_location")?;
        let key = crate::secrets::load_or_create_master_key(
            &self.data_dir,
            self.options.use_keyring,
            self.options.master_key.as_deref(),
            expected.as_deref(),
        )?;
        let conn = self.conn();
        let check = key.check_value();
        if expected.is_none() && key.source().location() != "env" {
            self.meta_set(&conn, "master_key_location", key.source().location())?;
        }
        match self.meta_get(&conn, "master_key_check")? {
            Some(stored) if stored == check => {}
            Some(_) => {
                return Err(Error::WrongMasterKey {
                    source_desc: key.source().to_string(),
                });
            }
            None => self.meta_set(&conn, "master_key_check", &check)?,
        }
        drop(conn);
        Ok(self.master_key.get_or_init(|| key))
    }
}

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

pub(crate) fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}
