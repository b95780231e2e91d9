//! Events, service check runs and the notifications they cause.
//!
//! An event and the notifications its `@handles` produce are written in one transaction, so a handle is
//! never notified of an event that was not stored, nor an event stored without its notifications.

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Store, StoreError};

/// An event to store. Strings are as the intake decoded them; `alert_type` and `priority` use Datadog's names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewEvent {
    pub title: String,
    pub text: String,
    pub date_happened: i64,
    pub priority: String,
    pub host: Option<String>,
    pub tags: Vec<String>,
    pub alert_type: String,
    pub aggregation_key: Option<String>,
    pub source_type_name: Option<String>,
    pub related_event_id: Option<i64>,
    pub device_name: Option<String>,
    pub event_type: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: i64,
    pub event: NewEvent,
}

/// Which events to list (`GET /api/v1/events`), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventFilter {
    /// Inclusive range of `date_happened`, epoch seconds.
    pub start: i64,
    pub end: i64,
    pub priority: Option<String>,
    /// `source_type_name`s, compared case-insensitively; empty means any.
    pub sources: Vec<String>,
    /// Every tag must be on the event; empty means any.
    pub tags: Vec<String>,
    pub limit: usize,
}

/// One service check result to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckRun {
    pub check: String,
    pub host: String,
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub status: u8,
    pub message: Option<String>,
    pub tags: Vec<String>,
    pub timestamp: i64,
}

/// A stored service check result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckRun {
    pub id: i64,
    pub run: NewCheckRun,
}

/// A notification to record for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// `"event"` or `"monitor"`.
    pub origin: String,
    pub origin_id: Option<i64>,
    /// The handle as written after `@`: `alice@example.com`, `webhook-ops`, `slack-chan`.
    pub handle: String,
    pub subject: String,
    pub body: String,
}

/// A stored notification and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub created_at: i64,
    pub notification: NewNotification,
    /// `recorded` until a channel delivers it, then `sent` or `failed`; `retrying` between attempts.
    pub state: String,
    pub detail: Option<String>,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When the next delivery attempt is due; `None` when nothing is left to do.
    pub next_attempt: Option<i64>,
    /// Webhook `$VARIABLES` recorded with a monitor notification (a JSON object).
    pub variables: Option<serde_json::Value>,
}

impl Store {
    /// Stores an event and the notifications it causes; returns the event's id. The host it names is created
    /// or freshened.
    pub fn insert_event(
        &self,
        event: &NewEvent,
        notifications: &[NewNotification],
        now: i64,
    ) -> Result<i64, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let id = insert_event_row(&tx, event, now)?;
        for notification in notifications {
            let origin_id = notification.origin_id.or(Some(id));
            insert_notification(&tx, notification, origin_id, now)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Stores several events (from one agent payload) in one transaction; returns their ids in order.
    pub fn insert_events(&self, events: &[NewEvent], now: i64) -> Result<Vec<i64>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let mut ids = Vec::with_capacity(events.len());
        for event in events {
            ids.push(insert_event_row(&tx, event, now)?);
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn event(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"),
                    [id],
                    event_row,
                )
                .optional()?)
        })
    }

    /// Events matching `filter`, newest first.
    pub fn events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE date_happened BETWEEN ?1 AND ?2
                 AND (?3 IS NULL OR priority = ?3) ORDER BY date_happened DESC, id DESC"
            ))?;
            let mut found = Vec::new();
            let rows = stmt.query_map(params![filter.start, filter.end, filter.priority], event_row)?;
            for row in rows {
                let stored = row?;
                let source_ok =
                    filter.sources.is_empty()
                        || stored.event.source_type_name.as_deref().is_some_and(|s| {
                            filter.sources.iter().any(|wanted| wanted.eq_ignore_ascii_case(s))
                        });
                let tags_ok = filter.tags.iter().all(|t| stored.event.tags.contains(t));
                if source_ok && tags_ok {
                    found.push(stored);
                    if found.len() >= filter.limit {
                        break;
                    }
                }
            }
            Ok(found)
        })
    }

    /// Stores service check results in one transaction; the hosts they name are created or freshened.
    pub fn insert_check_runs(&self, runs: &[NewCheckRun], now: i64) -> Result<(), StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO check_runs (check_name, host, status, message, tags, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for run in runs {
                insert.execute(params![
                    run.check,
                    run.host,
                    run.status,
                    run.message,
                    tags_json(&run.tags),
                    run.timestamp
                ])?;
                if !run.host.is_empty() {
                    touch_host(&tx, &run.host, now)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Service check results since `since` (by their timestamp), oldest first; only `check` when given.
    pub fn check_runs(&self, check: Option<&str>, since: i64) -> Result<Vec<StoredCheckRun>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, check_name, host, status, message, tags, ts FROM check_runs
                 WHERE ts >= ?1 AND (?2 IS NULL OR check_name = ?2) ORDER BY ts, id",
            )?;
            let runs = stmt
                .query_map(params![since, check], |row| {
                    let tags: String = row.get(5)?;
                    Ok(StoredCheckRun {
                        id: row.get(0)?,
                        run: NewCheckRun {
                            check: row.get(1)?,
                            host: row.get(2)?,
                            status: row.get(3)?,
                            message: row.get(4)?,
                            tags: serde_json::from_str(&tags).unwrap_or_default(),
                            timestamp: row.get(6)?,
                        },
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(runs)
        })
    }

    /// Records notifications on their own (monitor transitions record theirs with the transition).
    pub fn insert_notifications(
        &self,
        notifications: &[NewNotification],
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let mut ids = Vec::with_capacity(notifications.len());
        for notification in notifications {
            ids.push(insert_notification(
                &tx,
                notification,
                notification.origin_id,
                now,
            )?);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Marks what a channel did with a notification; any state but `recorded` leaves nothing to do.
    pub fn set_notification_state(
        &self,
        id: i64,
        state: &str,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "UPDATE notifications SET state = ?2, detail = ?3,
                next_attempt = CASE WHEN ?2 = 'recorded' THEN next_attempt ELSE NULL END
             WHERE id = ?1",
            params![id, state, detail],
        )?;
        Ok(())
    }

    /// Records a delivery attempt: its outcome, the attempt count, and when to try again (`None`: never).
    pub fn record_delivery_attempt(
        &self,
        id: i64,
        state: &str,
        detail: Option<&str>,
        attempts: i64,
        next_attempt: Option<i64>,
    ) -> Result<(), StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "UPDATE notifications SET state = ?2, detail = ?3, attempts = ?4, next_attempt = ?5 WHERE id = ?1",
            params![id, state, detail, attempts, next_attempt],
        )?;
        Ok(())
    }

    /// Notifications whose next delivery attempt is due at `now`, oldest first, at most `limit`.
    pub fn due_notifications(&self, now: i64, limit: usize) -> Result<Vec<Notification>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                 LEFT JOIN notification_variables v ON v.notification_id = n.id
                 WHERE n.next_attempt IS NOT NULL AND n.next_attempt <= ?1 ORDER BY n.id LIMIT ?2"
            ))?;
            let found = stmt
                .query_map(
                    params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
                    notification_row,
                )?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// The newest notifications first, at most `limit`.
    pub fn notifications(&self, limit: usize) -> Result<Vec<Notification>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {NOTIFICATION_COLUMNS} FROM notifications n
                 LEFT JOIN notification_variables v ON v.notification_id = n.id
                 ORDER BY n.id DESC LIMIT ?1"
            ))?;
            let found = stmt
                .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], notification_row)?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.created_at, n.origin, n.origin_id, n.handle, n.subject, n.body, \
                                    n.state, n.detail, n.attempts, n.next_attempt, v.variables";

fn notification_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Notification> {
    let variables: Option<String> = row.get(11)?;
    Ok(Notification {
        id: row.get(0)?,
        created_at: row.get(1)?,
        notification: NewNotification {
            origin: row.get(2)?,
            origin_id: row.get(3)?,
            handle: row.get(4)?,
            subject: row.get(5)?,
            body: row.get(6)?,
        },
        state: row.get(7)?,
        detail: row.get(8)?,
        attempts: row.get(9)?,
        next_attempt: row.get(10)?,
        variables: variables.and_then(|v| serde_json::from_str(&v).ok()),
    })
}

/// Inserts one event row; the host it names is created or freshened.
pub(crate) fn insert_event_row(conn: &Connection, event: &NewEvent, now: i64) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO events (title, text, date_happened, priority, host, tags, alert_type, aggregation_key,
                             source_type_name, related_event_id, device_name, event_type)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        event.title,
        event.text,
        event.date_happened,
        event.priority,
        event.host,
        tags_json(&event.tags),
        event.alert_type,
        event.aggregation_key,
        event.source_type_name,
        event.related_event_id,
        event.device_name,
        event.event_type,
    ])?;
    let id = conn.last_insert_rowid();
    if let Some(host) = event.host.as_deref().filter(|h| !h.is_empty()) {
        touch_host(conn, host, now)?;
    }
    Ok(id)
}

const EVENT_COLUMNS: &str = "id, title, text, date_happened, priority, host, tags, alert_type, aggregation_key, \
                             source_type_name, related_event_id, device_name, event_type";

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    let tags: String = row.get(6)?;
    Ok(StoredEvent {
        id: row.get(0)?,
        event: NewEvent {
            title: row.get(1)?,
            text: row.get(2)?,
            date_happened: row.get(3)?,
            priority: row
                .get::<_, Option<String>>(4)?
                .unwrap_or_else(|| "normal".to_owned()),
            host: row.get(5)?,
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            alert_type: row.get(7)?,
            aggregation_key: row.get(8)?,
            source_type_name: row.get(9)?,
            related_event_id: row.get(10)?,
            device_name: row.get(11)?,
            event_type: row.get(12)?,
        },
    })
}

pub(crate) fn insert_notification(
    conn: &Connection,
    notification: &NewNotification,
    origin_id: Option<i64>,
    now: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO notifications (created_at, origin, origin_id, handle, subject, body, state, next_attempt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'recorded', ?1)",
    )?
    .execute(params![
            now,
            notification.origin,
            origin_id,
            notification.handle,
            notification.subject,
            notification.body
        ])?;
    Ok(conn.last_insert_rowid())
}

fn touch_host(conn: &Connection, host: &str, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO hosts (name, meta, first_seen, last_seen) VALUES (?1, '{}', ?2, ?2)
         ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
    )?
    .execute(params![host, now])?;
    Ok(())
}

fn tags_json(tags: &[String]) -> String {
    serde_json::Value::from(tags.to_vec()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    fn event(title: &str, at: i64, tags: &[&str], source: Option<&str>) -> NewEvent {
        NewEvent {
            title: title.to_owned(),
            text: format!("{title} text"),
            date_happened: at,
            priority: "normal".to_owned(),
            host: Some("lab".to_owned()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            alert_type: "info".to_owned(),
            source_type_name: source.map(str::to_owned),
            ..NewEvent::default()
        }
    }

    #[test]
    fn events_filter_newest_first_and_record_mentions_with_the_event() {
        let (_dir, store) = store();
        let mention = NewNotification {
            origin: "event".to_owned(),
            origin_id: None,
            handle: "alice@example.com".to_owned(),
            subject: "snapshot".to_owned(),
            body: "look".to_owned(),
        };
        let first = store
            .insert_event(&event("a", 100, &["env:lab"], Some("my_apps")), &[mention], 100)
            .unwrap();
        let second = store.insert_event(&event("b", 200, &[], None), &[], 200).unwrap();
        assert_ne!(first, second);
        let all = EventFilter {
            start: 0,
            end: 1000,
            limit: 10,
            ..EventFilter::default()
        };
        let titles = |filter: &EventFilter| -> Vec<String> {
            store
                .events(filter)
                .unwrap()
                .into_iter()
                .map(|e| e.event.title)
                .collect()
        };
        assert_eq!(titles(&all), ["b", "a"]);
        assert_eq!(
            titles(&EventFilter {
                tags: vec!["env:lab".to_owned()],
                ..all.clone()
            }),
            ["a"]
        );
        assert_eq!(
            titles(&EventFilter {
                sources: vec!["MY_APPS".to_owned()],
                ..all.clone()
            }),
            ["a"]
        );
        assert_eq!(
            titles(&EventFilter {
                start: 150,
                ..all.clone()
            }),
            ["b"]
        );
        assert_eq!(titles(&EventFilter { limit: 1, ..all }), ["b"]);
        assert_eq!(store.event(first).unwrap().unwrap().event.tags, ["env:lab"]);
        assert_eq!(store.event(9999).unwrap(), None);
        let notes = store.notifications(10).unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].notification.origin_id, Some(first));
        assert_eq!(notes[0].state, "recorded");
        store
            .set_notification_state(notes[0].id, "sent", Some("smtp 127.0.0.1:1025"))
            .unwrap();
        assert_eq!(store.notifications(10).unwrap()[0].state, "sent");
        assert_eq!(store.host("lab").unwrap().unwrap().last_seen, 200);
    }

    #[test]
    fn check_runs_round_trip_and_filter_by_check() {
        let (_dir, store) = store();
        let run = |check: &str, status: u8, ts: i64| NewCheckRun {
            check: check.to_owned(),
            host: "db".to_owned(),
            status,
            message: None,
            tags: vec!["port:3306".to_owned()],
            timestamp: ts,
        };
        store
            .insert_check_runs(
                &[
                    run("mysql.can_connect", 0, 10),
                    run("datadog.agent.up", 0, 10),
                    run("mysql.can_connect", 2, 20),
                ],
                20,
            )
            .unwrap();
        let statuses: Vec<u8> = store
            .check_runs(Some("mysql.can_connect"), 0)
            .unwrap()
            .into_iter()
            .map(|r| r.run.status)
            .collect();
        assert_eq!(statuses, [0, 2]);
        assert_eq!(store.check_runs(None, 15).unwrap().len(), 1);
        assert!(store.host("db").unwrap().is_some());
    }
}
