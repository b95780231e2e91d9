//! Monitors: their definitions, the state of each group, and the history of transitions.
//!
//! An evaluation is written whole in one transaction: the groups' new states, the transitions, the events
//! they produce and the notifications those carry. So a notification is never recorded for a transition
//! that was not, and a crash never leaves a state change without its event.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::events::{NewEvent, NewNotification, insert_event_row, insert_notification};
use crate::schema::{IdTable, next_id};
use crate::{Store, StoreError};

/// A stored monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRecord {
    pub id: i64,
    /// The definition as the backend keeps it (JSON object).
    pub definition: Value,
    /// Epoch milliseconds.
    pub created: i64,
    /// Epoch milliseconds.
    pub modified: i64,
    pub overall_state: String,
    /// Epoch seconds of the last change of `overall_state`.
    pub overall_state_modified: Option<i64>,
    /// Epoch seconds of the last evaluation.
    pub last_evaluated: Option<i64>,
}

/// One group's state.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub name: String,
    pub status: String,
    /// The rest of the state, a JSON object as the backend writes it; the store keeps its text and never
    /// parses it, so a pass over thousands of groups pays for one (typed) parse in the backend.
    pub state: String,
}

/// One transition of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub group: String,
    pub ts: i64,
    pub from_status: Option<String>,
    pub to_status: String,
    pub value: Option<f64>,
    pub notified: bool,
    /// The event the transition produced.
    pub event_id: Option<i64>,
}

/// A transition's event and the notifications it carries, each with its webhook variables.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionEvent {
    pub history: HistoryRow,
    pub event: NewEvent,
    pub notifications: Vec<(NewNotification, Value)>,
}

/// Everything one evaluation of one monitor changes.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationRecord {
    pub monitor_id: i64,
    /// The definition's `modified` when the evaluation read it: a monitor updated since is left alone, so
    /// a pass never writes states computed from an old query over the reset of a new one.
    pub definition_modified: i64,
    pub overall_state: String,
    pub groups: Vec<GroupRow>,
    pub removed: Vec<String>,
    pub transitions: Vec<TransitionEvent>,
}

impl Store {
    /// Stores a new monitor; its state is "No Data" until it is evaluated. Returns its id.
    pub fn insert_monitor(&self, definition: &Value, now_ms: i64) -> Result<i64, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let id = next_id(&tx, IdTable::Monitors)?;
        tx.execute(
            "INSERT INTO monitors (id, definition, created, modified, overall_state) VALUES (?1, ?2, ?3, ?3, 'No Data')",
            params![id, definition.to_string(), now_ms],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Replaces a monitor's definition; false when there is no such monitor. Its groups are dropped when
    /// `reset_groups` (the query changed), so they are evaluated afresh.
    pub fn update_monitor(
        &self,
        id: i64,
        definition: &Value,
        now_ms: i64,
        reset_groups: bool,
    ) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let changed = tx.execute(
            "UPDATE monitors SET definition = ?2, modified = ?3 WHERE id = ?1",
            params![id, definition.to_string(), now_ms],
        )?;
        if changed > 0 && reset_groups {
            tx.execute("DELETE FROM monitor_groups WHERE monitor_id = ?1", [id])?;
            tx.execute(
                "UPDATE monitors SET overall_state = 'No Data', overall_state_modified = NULL WHERE id = ?1",
                [id],
            )?;
        }
        tx.commit()?;
        Ok(changed > 0)
    }

    /// Deletes a monitor with its groups and history; false when there is no such monitor.
    pub fn delete_monitor(&self, id: i64) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute("DELETE FROM monitors WHERE id = ?1", [id])? > 0)
    }

    pub fn monitor(&self, id: i64) -> Result<Option<MonitorRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {MONITOR_COLUMNS} FROM monitors WHERE id = ?1"),
                    [id],
                    monitor_row,
                )
                .optional()?)
        })
    }

    /// Every monitor, by id.
    pub fn monitors(&self) -> Result<Vec<MonitorRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {MONITOR_COLUMNS} FROM monitors ORDER BY id"))?;
            let found = stmt.query_map([], monitor_row)?.collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// Every monitor's id and `modified` (epoch ms), by id: enough to tell which definitions changed.
    pub fn monitor_versions(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id, modified FROM monitors ORDER BY id")?;
            let found = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// The groups of a monitor, by name.
    pub fn monitor_groups(&self, id: i64) -> Result<Vec<GroupRow>, StoreError> {
        self.read(|conn| groups_of(conn, id))
    }

    /// The groups of every monitor: `(monitor id, group)`, by monitor and name.
    pub fn all_monitor_groups(&self) -> Result<Vec<(i64, GroupRow)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT monitor_id, name, status, state FROM monitor_groups ORDER BY monitor_id, name",
            )?;
            let found = stmt
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        GroupRow {
                            name: row.get(1)?,
                            status: row.get(2)?,
                            state: row.get(3)?,
                        },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// A monitor's transitions, newest first, at most `limit`.
    pub fn monitor_history(&self, id: i64, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT group_name, ts, from_status, to_status, value, notified, event_id FROM monitor_history
                 WHERE monitor_id = ?1 ORDER BY ts DESC, id DESC LIMIT ?2",
            )?;
            let found = stmt
                .query_map(params![id, i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
                    Ok(HistoryRow {
                        group: row.get(0)?,
                        ts: row.get(1)?,
                        from_status: row.get(2)?,
                        to_status: row.get(3)?,
                        value: row.get(4)?,
                        notified: row.get(5)?,
                        event_id: row.get(6)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// Writes the evaluations of one pass in one transaction, so a pass over many monitors pays for one
    /// commit, not one per monitor. Answers, for each record in order, whether it was written: a monitor
    /// deleted or updated since it was read is left alone (false).
    pub fn record_evaluations(
        &self,
        records: &[EvaluationRecord],
        now: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let written = records
            .iter()
            .map(|record| write_evaluation(&tx, record, now))
            .collect::<Result<Vec<bool>, StoreError>>()?;
        tx.commit()?;
        Ok(written)
    }
}

fn write_evaluation(
    tx: &rusqlite::Transaction<'_>,
    record: &EvaluationRecord,
    now: i64,
) -> Result<bool, StoreError> {
    // The monitor row first: no row changes when the monitor was deleted or updated since it was read,
    // and then nothing else is written.
    let updated = tx
        .prepare_cached(
            "UPDATE monitors SET overall_state = ?2, last_evaluated = ?3,
                overall_state_modified = CASE WHEN overall_state != ?2 THEN ?3 ELSE overall_state_modified END
             WHERE id = ?1 AND modified = ?4",
        )?
        .execute(params![
            record.monitor_id,
            record.overall_state,
            now,
            record.definition_modified
        ])?;
    if updated == 0 {
        return Ok(false);
    }
    {
        let mut upsert = tx.prepare_cached(
            "INSERT INTO monitor_groups (monitor_id, name, status, state) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (monitor_id, name) DO UPDATE SET status = excluded.status, state = excluded.state",
        )?;
        for group in &record.groups {
            upsert.execute(params![record.monitor_id, group.name, group.status, group.state])?;
        }
        let mut remove =
            tx.prepare_cached("DELETE FROM monitor_groups WHERE monitor_id = ?1 AND name = ?2")?;
        for name in &record.removed {
            remove.execute(params![record.monitor_id, name])?;
        }
    }
    for transition in &record.transitions {
        let event_id = insert_event_row(tx, &transition.event, now)?;
        let h = &transition.history;
        tx.prepare_cached(
            "INSERT INTO monitor_history (monitor_id, group_name, ts, from_status, to_status, value, notified, event_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            record.monitor_id,
            h.group,
            h.ts,
            h.from_status,
            h.to_status,
            h.value,
            h.notified,
            event_id
        ])?;
        for (notification, variables) in &transition.notifications {
            let id = insert_notification(tx, notification, Some(record.monitor_id), now)?;
            tx.prepare_cached(
                "INSERT INTO notification_variables (notification_id, variables) VALUES (?1, ?2)",
            )?
            .execute(params![id, variables.to_string()])?;
        }
    }
    Ok(true)
}

const MONITOR_COLUMNS: &str =
    "id, definition, created, modified, overall_state, overall_state_modified, last_evaluated";

fn monitor_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MonitorRecord> {
    let definition: String = row.get(1)?;
    Ok(MonitorRecord {
        id: row.get(0)?,
        definition: serde_json::from_str(&definition).unwrap_or(Value::Null),
        created: row.get(2)?,
        modified: row.get(3)?,
        overall_state: row.get(4)?,
        overall_state_modified: row.get(5)?,
        last_evaluated: row.get(6)?,
    })
}

fn groups_of(conn: &Connection, id: i64) -> Result<Vec<GroupRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, status, state FROM monitor_groups WHERE monitor_id = ?1 ORDER BY name",
    )?;
    let found = stmt
        .query_map([id], |row| {
            Ok(GroupRow {
                name: row.get(0)?,
                status: row.get(1)?,
                state: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::store;

    fn record(monitor_id: i64, status: &str, transitions: Vec<TransitionEvent>) -> EvaluationRecord {
        EvaluationRecord {
            monitor_id,
            definition_modified: 1_000,
            overall_state: status.to_owned(),
            groups: vec![GroupRow {
                name: "*".to_owned(),
                status: status.to_owned(),
                state: json!({"value": 900.0}).to_string(),
            }],
            removed: vec![],
            transitions,
        }
    }

    #[test]
    fn monitors_round_trip_and_evaluations_are_written_whole() {
        let (_dir, store) = store();
        let id = store
            .insert_monitor(&json!({"name": "m", "query": "q"}), 1_000)
            .unwrap();
        let stored = store.monitor(id).unwrap().unwrap();
        assert_eq!(stored.overall_state, "No Data");
        assert_eq!(store.monitor_versions().unwrap(), [(id, 1_000)]);
        assert_eq!(stored.definition["name"], "m");
        let transition = TransitionEvent {
            history: HistoryRow {
                group: "*".to_owned(),
                ts: 60,
                from_status: Some("OK".to_owned()),
                to_status: "Alert".to_owned(),
                value: Some(900.0),
                notified: true,
                event_id: None,
            },
            event: NewEvent {
                title: "[Triggered] m".to_owned(),
                text: "high".to_owned(),
                date_happened: 60,
                priority: "normal".to_owned(),
                alert_type: "error".to_owned(),
                ..NewEvent::default()
            },
            notifications: vec![(
                NewNotification {
                    origin: "monitor".to_owned(),
                    origin_id: None,
                    handle: "me@example.com".to_owned(),
                    subject: "[Triggered] m".to_owned(),
                    body: "high".to_owned(),
                },
                json!({"ALERT_TRANSITION": "Triggered"}),
            )],
        };
        assert!(
            store
                .record_evaluations(&[record(id, "Alert", vec![transition])], 60)
                .unwrap()
                == [true]
        );
        let stored = store.monitor(id).unwrap().unwrap();
        assert_eq!(
            (
                stored.overall_state.as_str(),
                stored.overall_state_modified,
                stored.last_evaluated
            ),
            ("Alert", Some(60), Some(60))
        );
        assert_eq!(store.monitor_groups(id).unwrap()[0].state, r#"{"value":900.0}"#);
        let history = store.monitor_history(id, 10).unwrap();
        assert_eq!(history.len(), 1);
        let event = store.event(history[0].event_id.unwrap()).unwrap().unwrap();
        assert_eq!(event.event.title, "[Triggered] m");
        let notes = store.notifications(10).unwrap();
        assert_eq!(notes[0].notification.origin_id, Some(id));
        assert_eq!(notes[0].variables, Some(json!({"ALERT_TRANSITION": "Triggered"})));
        assert_eq!(store.due_notifications(60, 10).unwrap().len(), 1);
        store
            .record_delivery_attempt(notes[0].id, "retrying", Some("refused"), 1, Some(90))
            .unwrap();
        assert!(store.due_notifications(89, 10).unwrap().is_empty());
        assert_eq!(store.due_notifications(90, 10).unwrap()[0].attempts, 1);
        store.set_notification_state(notes[0].id, "sent", None).unwrap();
        assert!(store.due_notifications(1_000, 10).unwrap().is_empty());

        // An evaluation that does not change the overall state keeps its modification time.
        store
            .record_evaluations(&[record(id, "Alert", vec![])], 120)
            .unwrap();
        assert_eq!(
            store.monitor(id).unwrap().unwrap().overall_state_modified,
            Some(60)
        );
        assert!(
            store
                .update_monitor(id, &json!({"name": "m2", "query": "q2"}), 2_000, true)
                .unwrap()
        );
        let stored = store.monitor(id).unwrap().unwrap();
        assert_eq!(
            (stored.overall_state.as_str(), stored.modified),
            ("No Data", 2_000)
        );
        assert!(store.monitor_groups(id).unwrap().is_empty());
        assert!(store.delete_monitor(id).unwrap());
        assert!(!store.delete_monitor(id).unwrap());
        // The deleted monitor had the highest id: the next one still gets a new id.
        // A batch writes what it can: the deleted monitor is skipped, the others are written.
        let other = store
            .insert_monitor(&json!({"name": "n", "query": "q"}), 1_000)
            .unwrap();
        let updated = store
            .insert_monitor(&json!({"name": "u", "query": "q"}), 1_000)
            .unwrap();
        assert!(
            store
                .update_monitor(updated, &json!({"name": "u", "query": "q2"}), 3_000, true)
                .unwrap()
        );
        let records = [
            record(id, "OK", vec![]),
            record(other, "OK", vec![]),
            record(updated, "OK", vec![]),
        ];
        // Deleted, written, and updated after it was read (its `modified` is no longer 1,000).
        assert_eq!(
            store.record_evaluations(&records, 3_060).unwrap(),
            [false, true, false]
        );
        assert_eq!(store.monitor(updated).unwrap().unwrap().overall_state, "No Data");
        assert!(store.delete_monitor(updated).unwrap());
        assert_eq!(store.monitor(other).unwrap().unwrap().overall_state, "OK");
        assert!(store.delete_monitor(other).unwrap());
        assert_eq!(store.monitors().unwrap().len(), 0);
    }
}
