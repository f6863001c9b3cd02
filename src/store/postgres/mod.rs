//! The team gateway's shared store on PostgreSQL: what several `portolan serve` replicas share so
//! that what one admits, charges or saves is seen by all. One person's Portolan keeps the
//! embedded SQLite store ([`super::Store`]); a team points every replica at the same PostgreSQL.
//!
//! This module holds the connection pool, the schema's migrations (run once, under an advisory
//! lock, however many replicas start together), the governance of budgets and rate limits
//! ([`governance`]; reservations are lease rows written in the same transaction as the budget
//! check, amounts are integers, every clock reading is the database server's; windows optionally
//! counted in Redis, [`RedisLimiter`]) and the call log ([`PgCallLog`]: batched, idempotent,
//! day-partitioned, spooled to disk while the database is away).

mod cache;
mod call_log;
mod catalog;
mod conversations;
mod governance;
mod migrations;
mod redis_limiter;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, PoolConfig, Runtime};
use tokio_postgres::NoTls;

use super::audit::{Actor, Change};
use super::backend::Backends;
use crate::error::{Error, Result};

pub use cache::PgCache;
pub use call_log::{Durability, PgCallLog};
pub use catalog::PgCatalog;
pub use conversations::PgConversations;
pub use migrations::SCHEMA_VERSION;
pub use redis_limiter::RedisLimiter;

/// How often a replica drops the call log's days past retention.
const LOG_RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Connections each replica keeps open at most.
const POOL_SIZE: usize = 16;
/// How long a connection attempt may take before the store is called unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL database shared by the replicas of a team gateway.
pub struct PgStore {
    pool: Pool,
    /// Where the server is (`host:port`), for errors; never the URL, which may hold a password.
    endpoint: String,
    /// Subjects last seen without any budget or rate limit, and when (see
    /// [`PgStore::has_limits`]).
    unlimited: super::limits::UnlimitedSubjects,
    /// Where rate-limit windows are counted when the team runs Redis; None: in PostgreSQL.
    limiter: Option<RedisLimiter>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host:port/db`) and brings
    /// its schema up to date; rate-limit windows are counted in PostgreSQL.
    pub async fn connect(url: &str) -> Result<PgStore> {
        PgStore::connect_with(url, None).await
    }

    /// [`PgStore::connect`], counting rate-limit windows in the Redis at `redis_url` when given.
    pub async fn connect_with(url: &str, redis_url: Option<&str>) -> Result<PgStore> {
        let parsed: tokio_postgres::Config = url.parse().map_err(|e| {
            Error::SharedStore(format!(
                "URL is not a PostgreSQL connection string ({e}); write postgres://user@host:port/database"
            ))
        })?;
        let endpoint = endpoint_of(&parsed);
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(url.to_owned());
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        // Waiting for a connection is bounded: a stuck pool is an error, not a hang.
        let mut pool = PoolConfig::new(POOL_SIZE);
        pool.timeouts = deadpool_postgres::Timeouts {
            wait: Some(CONNECT_TIMEOUT),
            create: Some(CONNECT_TIMEOUT),
            recycle: Some(CONNECT_TIMEOUT),
        };
        config.pool = Some(pool);
        let pool = config
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .map_err(|e| Error::SharedStore(format!("at {endpoint}: {e}")))?;
        let limiter = match redis_url {
            Some(u) => Some(RedisLimiter::connect(u).await?),
            None => None,
        };
        let store = PgStore {
            pool,
            endpoint,
            unlimited: Default::default(),
            limiter,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Where the server is (`host:port`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A pooled connection, or why there is none.
    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| {
            Error::SharedStore(format!(
                "at {} cannot be reached: {}",
                self.endpoint,
                pool_error(&e)
            ))
        })
    }

    /// A database error as a sentence naming the server.
    fn fail(&self, e: tokio_postgres::Error) -> Error {
        Error::SharedStore(format!("at {}: {}", self.endpoint, db_error(&e)))
    }

    /// The database server's clock, in unix milliseconds: every replica reads the same one.
    async fn server_now_ms(
        tx: &deadpool_postgres::Transaction<'_>,
    ) -> std::result::Result<i64, tokio_postgres::Error> {
        let statement = tx
            .prepare_cached("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
            .await?;
        Ok(tx.query_one(&statement, &[]).await?.get(0))
    }

    /// Writes an audit entry in `tx`.
    async fn audit(
        tx: &tokio_postgres::Transaction<'_>,
        actor: &Actor,
        change: Change<'_>,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        tx.execute(
            "INSERT INTO audit_log(actor, action, object_kind, object_id, object_name, details)
             VALUES($1, $2, $3, $4, $5, $6::text::jsonb)",
            &[
                &actor.to_string(),
                &change.action,
                &change.object_kind,
                &change.object_id,
                &change.object_name,
                &change.details.to_string(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The newest `limit` audit actions, newest first (`action` of each).
    pub async fn audit_actions(&self, limit: i64) -> Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT action FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// This machine's clock, in unix milliseconds (for times the database does not stamp).
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Unix milliseconds as a time (the epoch for one out of range).
fn utc(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `host:port` of a connection config (the first host), for messages.
fn endpoint_of(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// A database error's own message (the server's, when it sent one).
fn db_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        deadpool_postgres::PoolError::Timeout(_) => "no connection became free in time".into(),
        other => other.to_string(),
    }
}

/// Whether a transaction failed only because it met another (a deadlock or a serialization
/// conflict), so running it again is right.
fn is_conflict(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Times a transaction that met another is run again before its error is returned.
const CONFLICT_RETRIES: u32 = 3;

/// What a replica of a team gateway runs on: every storage concern on the shared store.
pub struct TeamStore {
    pub store: Arc<PgStore>,
    pub catalog: Arc<PgCatalog>,
    pub calls: Arc<PgCallLog>,
    pub backends: Backends,
}

impl TeamStore {
    /// Connects to the shared store at `url` (and the Redis at `redis_url` for rate-limit
    /// windows), on the current tokio runtime. `master` opens the team's keys; `data_dir` holds
    /// this replica's spool of call records the database could not take yet.
    pub async fn connect(
        url: &str,
        redis_url: Option<&str>,
        master: Option<crate::secrets::MasterKey>,
        data_dir: &std::path::Path,
        durability: Durability,
    ) -> Result<TeamStore> {
        let store = Arc::new(PgStore::connect_with(url, redis_url).await?);
        let catalog = Arc::new(PgCatalog::new(store.clone(), master));
        let calls = Arc::new(PgCallLog::start(
            store.clone(),
            data_dir.join("team-spool"),
            durability,
        )?);
        // Retention: days of calls older than the shared settings keep are dropped whole, now
        // and every hour (by whichever replicas run; dropping twice is a no-op).
        let retention = Arc::downgrade(&calls);
        let settings_of = catalog.clone();
        tokio::spawn(async move {
            loop {
                let Some(calls) = retention.upgrade() else {
                    return;
                };
                let days = crate::routing::EngineSettings::load_shared(settings_of.as_ref())
                    .await
                    .map(|s| s.log_retention_days)
                    .unwrap_or(0);
                if days > 0 {
                    match calls.drop_expired_partitions(days).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(days = n, "dropped logged calls past retention"),
                        Err(e) => tracing::warn!("log retention: {e}"),
                    }
                }
                drop(calls);
                tokio::time::sleep(LOG_RETENTION_EVERY).await;
            }
        });
        let backends = Backends {
            data_dir: Some(data_dir.to_path_buf()),
            catalog: catalog.clone(),
            governance: store.clone(),
            calls: calls.clone(),
            cache: Arc::new(PgCache::new(store.clone())),
            conversations: Arc::new(PgConversations::new(store.clone())),
        };
        Ok(TeamStore {
            store,
            catalog,
            calls,
            backends,
        })
    }
}
