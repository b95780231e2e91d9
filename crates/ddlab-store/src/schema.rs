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
    // 2: hosts, service checks, events and the intake log.
    "CREATE TABLE hosts (
        name          TEXT PRIMARY KEY,
        ip            TEXT,
        agent_version TEXT,
        platform      TEXT,
        meta          TEXT,                 -- JSON object from the last host metadata
        first_seen    INTEGER NOT NULL,
        last_seen     INTEGER NOT NULL,
        last_metadata INTEGER
    );
    CREATE TABLE host_tags (
        host   TEXT NOT NULL,
        source TEXT NOT NULL,               -- e.g. 'Datadog', 'Users', 'agent'
        tag    TEXT NOT NULL,
        PRIMARY KEY (host, source, tag)
    ) WITHOUT ROWID;
    CREATE TABLE check_runs (
        id      INTEGER PRIMARY KEY,
        check_name TEXT NOT NULL,
        host    TEXT NOT NULL,
        status  INTEGER NOT NULL,
        message TEXT,
        tags    TEXT NOT NULL,
        ts      INTEGER NOT NULL
    );
    CREATE INDEX check_runs_by_check ON check_runs (check_name, ts);
    CREATE TABLE events (
        id            INTEGER PRIMARY KEY,
        title         TEXT NOT NULL,
        text          TEXT NOT NULL,
        date_happened INTEGER NOT NULL,
        priority      TEXT,
        host          TEXT,
        tags          TEXT NOT NULL,
        alert_type    TEXT NOT NULL,
        aggregation_key TEXT,
        source_type_name TEXT,
        related_event_id INTEGER,
        device_name   TEXT
    );
    CREATE INDEX events_by_date ON events (date_happened);
    CREATE TABLE intake_log (
        id          INTEGER PRIMARY KEY,
        route       TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        status      INTEGER NOT NULL,
        summary     TEXT NOT NULL           -- JSON: the decoded payload, or the error
    );
    CREATE INDEX intake_log_by_route ON intake_log (route, id);",
    // 3: what events and monitors notify, metric metadata, and the agent's event type on events.
    "CREATE TABLE notifications (
        id          INTEGER PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        origin      TEXT NOT NULL,          -- 'event' or 'monitor'
        origin_id   INTEGER,                -- the event or monitor id
        handle      TEXT NOT NULL,          -- as written after '@'
        subject     TEXT NOT NULL,
        body        TEXT NOT NULL,
        state       TEXT NOT NULL,          -- 'recorded', 'sent', 'failed'
        detail      TEXT                    -- where it went, or why it failed
    );
    CREATE INDEX notifications_by_time ON notifications (created_at);
    CREATE TABLE metric_metadata (
        metric          TEXT PRIMARY KEY,
        type            TEXT,
        description     TEXT,
        short_name      TEXT,
        unit            TEXT,
        per_unit        TEXT,
        statsd_interval INTEGER,
        integration     TEXT
    );
    ALTER TABLE events ADD COLUMN event_type TEXT;",
    // 4: monitors, their groups and state history, downtimes, and delivery attempts of notifications.
    "ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE notifications ADD COLUMN next_attempt INTEGER DEFAULT 0; -- NULL once nothing is left to do
    UPDATE notifications SET next_attempt = NULL WHERE state <> 'recorded';
    CREATE INDEX notifications_due ON notifications (next_attempt) WHERE next_attempt IS NOT NULL;
    CREATE TABLE notification_variables (
        notification_id INTEGER PRIMARY KEY REFERENCES notifications (id) ON DELETE CASCADE,
        variables       TEXT NOT NULL       -- JSON object: webhook $VARIABLES
    );
    CREATE TABLE monitors (
        id                     INTEGER PRIMARY KEY,
        definition             TEXT NOT NULL,  -- JSON: name, type, query, message, tags, options, priority
        created                INTEGER NOT NULL, -- epoch ms
        modified               INTEGER NOT NULL, -- epoch ms
        overall_state          TEXT NOT NULL,
        overall_state_modified INTEGER,          -- epoch seconds
        last_evaluated         INTEGER           -- epoch seconds
    );
    CREATE TABLE monitor_groups (
        monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,              -- '*' for an ungrouped monitor
        status     TEXT NOT NULL,
        state      TEXT NOT NULL,              -- JSON: the rest of the group's state
        PRIMARY KEY (monitor_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE monitor_history (
        id          INTEGER PRIMARY KEY,
        monitor_id  INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
        group_name  TEXT NOT NULL,
        ts          INTEGER NOT NULL,
        from_status TEXT,
        to_status   TEXT NOT NULL,
        value       REAL,
        notified    INTEGER NOT NULL,
        event_id    INTEGER
    );
    CREATE INDEX monitor_history_by_monitor ON monitor_history (monitor_id, ts);
    CREATE TABLE downtimes (
        id           INTEGER PRIMARY KEY,      -- the v1 id
        uuid         TEXT NOT NULL UNIQUE,     -- the v2 id
        definition   TEXT NOT NULL,            -- JSON: scope, monitor target, schedule, message, notify options
        created      INTEGER NOT NULL,         -- epoch seconds
        modified     INTEGER NOT NULL,
        canceled     INTEGER,
        active_start INTEGER,                  -- the muted period the evaluation loop last saw in progress
        active_end   INTEGER
    );",
    // 5: APM: the spans the agent forwards, and the stats buckets trace metrics are derived from.
    "CREATE TABLE spans (
        id          INTEGER PRIMARY KEY,
        trace_id    INTEGER NOT NULL,       -- u64 ids, stored bit for bit as signed integers
        span_id     INTEGER NOT NULL,
        parent_id   INTEGER NOT NULL,
        service     TEXT NOT NULL,
        name        TEXT NOT NULL,
        resource    TEXT NOT NULL,
        type        TEXT NOT NULL,
        env         TEXT NOT NULL,
        version     TEXT NOT NULL,
        host        TEXT NOT NULL,
        start       INTEGER NOT NULL,       -- Unix nanoseconds
        duration    INTEGER NOT NULL,       -- nanoseconds
        error       INTEGER NOT NULL,
        top_level   INTEGER NOT NULL,
        meta        TEXT NOT NULL,          -- JSON object of strings
        metrics     TEXT NOT NULL,          -- JSON object of numbers
        extra       TEXT,                   -- JSON: span links and events, when any
        received_at INTEGER NOT NULL,
        UNIQUE (trace_id, span_id)
    );
    CREATE INDEX spans_by_start ON spans (start, id);
    CREATE INDEX spans_by_service ON spans (service, start);
    CREATE TABLE trace_stats (
        bucket           INTEGER NOT NULL,  -- bucket start, Unix seconds
        host             TEXT NOT NULL,
        env              TEXT NOT NULL,
        version          TEXT NOT NULL,
        service          TEXT NOT NULL,
        name             TEXT NOT NULL,
        resource         TEXT NOT NULL,
        http_status_code INTEGER NOT NULL,
        type             TEXT NOT NULL,
        bucket_duration  INTEGER NOT NULL,  -- seconds
        hits             REAL NOT NULL,
        errors           REAL NOT NULL,
        duration         REAL NOT NULL,     -- nanoseconds, summed
        top_level_hits   REAL NOT NULL,
        ok_summary       BLOB NOT NULL,     -- DDSketch protobuf
        error_summary    BLOB NOT NULL,
        PRIMARY KEY (bucket, host, env, version, service, name, resource, http_status_code, type)
    ) WITHOUT ROWID;
    CREATE INDEX trace_stats_by_service ON trace_stats (service, bucket);",
    // 6: dashboards (one table behind /dashboard, /dash and /screen), their share links and dashboard lists.
    "CREATE TABLE dashboards (
        legacy_id   INTEGER PRIMARY KEY,        -- the numeric id of /api/v1/dash and /api/v1/screen
        id          TEXT NOT NULL UNIQUE,       -- 'abc-def-ghi'
        title       TEXT NOT NULL,
        layout_type TEXT NOT NULL,              -- 'ordered' or 'free'
        origin      TEXT NOT NULL,              -- the API that wrote it last: 'dashboard', 'dash' or 'screen'
        dashboard   TEXT NOT NULL,              -- JSON: the dashboard as GET /api/v1/dashboard/{id} answers
        legacy      TEXT,                       -- JSON: the legacy body as sent, when origin is 'dash' or 'screen'
        created     INTEGER NOT NULL,           -- epoch ms
        modified    INTEGER NOT NULL,           -- epoch ms
        deleted     INTEGER                     -- epoch ms; deleted dashboards can be restored
    );
    CREATE TABLE dashboard_shares (
        token        TEXT PRIMARY KEY,
        dashboard_id TEXT NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
        share        TEXT NOT NULL,             -- JSON: the share's settings and invitees
        created      INTEGER NOT NULL           -- epoch ms
    );
    CREATE INDEX dashboard_shares_by_dashboard ON dashboard_shares (dashboard_id);
    CREATE TABLE dashboard_lists (
        id       INTEGER PRIMARY KEY,
        name     TEXT NOT NULL,
        created  INTEGER NOT NULL,              -- epoch ms
        modified INTEGER NOT NULL
    );
    CREATE TABLE dashboard_list_items (
        list_id      INTEGER NOT NULL REFERENCES dashboard_lists (id) ON DELETE CASCADE,
        dashboard_id TEXT NOT NULL REFERENCES dashboards (id) ON DELETE CASCADE,
        added        INTEGER NOT NULL,          -- epoch ms
        PRIMARY KEY (list_id, dashboard_id)
    ) WITHOUT ROWID;",
    // 7: ids that are never handed out twice. Without AUTOINCREMENT SQLite reuses the highest id after it
    // is deleted, and Datadog never reuses a monitor's or a list's id: a downtime naming a deleted monitor
    // must not mute the next one created. Each row holds the last id given out for its table.
    "CREATE TABLE id_floors (
        name TEXT PRIMARY KEY,                  -- the table: 'monitors' or 'dashboard_lists'
        last INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO id_floors (name, last) SELECT 'monitors', COALESCE(MAX(id), 0) FROM monitors;
    INSERT INTO id_floors (name, last) SELECT 'dashboard_lists', COALESCE(MAX(id), 0) FROM dashboard_lists;",
];

/// The tables whose ids are handed out from `id_floors`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum IdTable {
    Monitors,
    DashboardLists,
}

/// The next id for `table`: one past the last ever given out, so a deleted row's id is never reused.
pub(crate) fn next_id(conn: &Connection, table: IdTable) -> rusqlite::Result<i64> {
    let (name, query) = match table {
        IdTable::Monitors => (
            "monitors",
            "UPDATE id_floors SET last = MAX(last, (SELECT COALESCE(MAX(id), 0) FROM monitors)) + 1
             WHERE name = ?1 RETURNING last",
        ),
        IdTable::DashboardLists => (
            "dashboard_lists",
            "UPDATE id_floors SET last = MAX(last, (SELECT COALESCE(MAX(id), 0) FROM dashboard_lists)) + 1
             WHERE name = ?1 RETURNING last",
        ),
    };
    conn.prepare_cached(query)?.query_row([name], |row| row.get(0))
}

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
