//! The database schema and its migrations, applied in order and recorded in `PRAGMA user_version`.

use std::path::Path;

use rusqlite::Connection;

use crate::StoreError;

/// Each entry moves the schema from version `index` to `index + 1`. Never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: metrics.
    "CREATE TABLE series (
        id          INTEGER PRIMARY KEY,
        metric      TEXT NOT NULL,
        host        TEXT NOT NULL,          -- '' when the series names no host
        tags        TEXT NOT NULL,          -- JSON array, sorted and without duplicates
        kind        INTEGER NOT NULL,       -- MetricKind
        interval    INTEGER,
        unit        TEXT,
        source_type TEXT,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        UNIQUE (metric, host, tags)
    );
    CREATE TABLE points (
        series_id INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
        ts        INTEGER NOT NULL,
        value     REAL NOT NULL,
        PRIMARY KEY (series_id, ts)
    ) WITHOUT ROWID;",
];

pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (index, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", i64::try_from(index + 1).unwrap_or(i64::MAX))?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_refuse_newer_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = Connection::open(&path).unwrap();
        migrate(&conn, &path).unwrap();
        migrate(&conn, &path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).unwrap();
        let err = migrate(&conn, &path).unwrap_err();
        assert!(err.to_string().contains("schema 99"), "{err}");
    }
}
