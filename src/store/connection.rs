//! The one way a SQLite connection to a data directory's database is opened: owner-only file,
//! WAL (readers never wait for the writer), `synchronous=NORMAL` (durable at each checkpoint,
//! fast commits), foreign keys on, and a busy timeout long enough to ride out another process's
//! write (the CLI while `portolan serve` runs, the log writer beside the main connection).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::Result;

/// How long a statement waits for another connection's write lock before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page cache of a connection, in KiB.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PageCache {
    /// SQLite's default (2 MiB): the main connection, mostly small reads.
    Default,
    /// 16 MiB: the log writer, so the log tables' index pages stay in memory instead of being
    /// read back from the file for every batch.
    Large,
}

pub(crate) fn open(path: &Path, cache: PageCache) -> Result<Connection> {
    let conn = Connection::open(path)?;
    restrict_permissions(path);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if let PageCache::Large = cache {
        conn.pragma_update(None, "cache_size", -16384)?;
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The database holds sealed secrets and prompt text: owner-only, like the directory. Its WAL
/// and shared-memory files are tightened too, when they exist.
pub(crate) fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files {
            if !file.exists() {
                continue;
            }
            if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(path = %file.display(), error = %e, "could not make a database file owner-only");
            }
        }
    }
}
