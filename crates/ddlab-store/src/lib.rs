//! ddlab-store: the backend's storage, one SQLite file. The only crate that knows SQL.
//!
//! Durability: the database runs in WAL mode and every write method commits one transaction before it
//! returns, so anything the backend acknowledged survives the process being killed. Writes go through one
//! connection; reads use a small pool of their own connections and never wait for a write to finish.
//!
//! All calls block: the async backend runs them on its blocking pool.

mod apm;
mod dashboards;
mod downtimes;
mod events;
mod hosts;
mod intake_log;
mod metadata;
mod monitors;
mod schema;
mod series;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

pub use apm::{
    DeriveSeries, MergeSummaries, NewSpan, SpanCursor, SpanField, SpanFilter, SpanMatch, SpanOrder, SpanPage,
    SpanQuery, StoredSpan, TraceStatsFilter, TraceStatsReport, TraceStatsRow,
};
pub use dashboards::{DashboardFilter, DashboardListRecord, DashboardRecord, DashboardWrite, ShareRecord};
pub use downtimes::{ActivePeriod, DowntimeRecord};
pub use events::{
    EventFilter, NewCheckRun, NewEvent, NewNotification, Notification, StoredCheckRun, StoredEvent,
};
pub use hosts::{AGENT_TAGS, Host, HostUpdate, USER_TAGS};
pub use intake_log::{INTAKE_LOG_KEEP, IntakeRecord};
pub use metadata::MetricMetadata;
pub use monitors::{EvaluationRecord, GroupRow, HistoryRow, MonitorRecord, TransitionEvent};
pub use series::{AppendReport, HostTags, MetricKind, NewSeries, StoredSeries};

/// A handle on the database file.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database {} was written by a newer ddlab (schema {found}, this build knows {known})", path.display())]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    #[error("cannot restrict {} to its owner: {source}", path.display())]
    Permissions { path: PathBuf, source: std::io::Error },
    #[error("a database connection lock was poisoned by a panic")]
    Poisoned,
}

/// The write connection with what it caches about the series index.
#[derive(Debug)]
struct Writer {
    conn: Connection,
    series_ids: series::IdCache,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        restrict_to_owner(path).map_err(|source| StoreError::Permissions {
            path: path.to_owned(),
            source,
        })?;
        configure(&conn).map_err(open_err)?;
        schema::migrate(&conn, path)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn,
                series_ids: series::IdCache::default(),
            }),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `read` on a pooled read connection.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().map_err(|_| StoreError::Poisoned)?.pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|source| StoreError::Open {
                    path: self.path.clone(),
                    source,
                })?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn
            }
        };
        let result = read(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            // A few idle connections are enough for a lab; extra ones are closed.
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        result
    }
}

/// The database holds everything the lab received: only its owner may read it. SQLite gives the `-wal` and
/// `-shm` files the database file's mode.
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // WAL lets readers run beside the writer; NORMAL sync keeps every committed transaction across a
    // process crash (only an OS crash or power loss can drop the last ones).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Store;

    /// A store in a fresh temporary folder, kept alive with the folder.
    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("ddlab.db")).unwrap();
        (dir, store)
    }
}
