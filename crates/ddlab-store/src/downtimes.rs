//! Downtimes, shared by the v1 and v2 APIs: one row with both ids, and the muted period the evaluation loop
//! last saw in progress (so it notices when one starts and ends).

use rusqlite::{OptionalExtension, params};
use serde_json::Value;

use crate::{Store, StoreError};

/// A stored downtime.
#[derive(Debug, Clone, PartialEq)]
pub struct DowntimeRecord {
    /// The v1 id.
    pub id: i64,
    /// The v2 id.
    pub uuid: String,
    /// The definition as the backend keeps it (JSON object).
    pub definition: Value,
    /// Epoch seconds.
    pub created: i64,
    pub modified: i64,
    pub canceled: Option<i64>,
    /// The muted period in progress when the loop last looked.
    pub active: Option<ActivePeriod>,
}

/// A muted period: `[start, end)`, epoch seconds; no `end` for a downtime without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivePeriod {
    pub start: i64,
    pub end: Option<i64>,
}

impl Store {
    /// Stores a new downtime; returns its v1 id.
    pub fn insert_downtime(&self, uuid: &str, definition: &Value, now: i64) -> Result<i64, StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "INSERT INTO downtimes (uuid, definition, created, modified) VALUES (?1, ?2, ?3, ?3)",
            params![uuid, definition.to_string(), now],
        )?;
        Ok(writer.conn.last_insert_rowid())
    }

    /// Replaces a downtime's definition; false when there is no such downtime.
    pub fn update_downtime(&self, id: i64, definition: &Value, now: i64) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "UPDATE downtimes SET definition = ?2, modified = ?3 WHERE id = ?1",
            params![id, definition.to_string(), now],
        )? > 0)
    }

    /// Cancels a downtime: `None` when there is no such downtime, `Some(false)` when it already was.
    pub fn cancel_downtime(&self, id: i64, now: i64) -> Result<Option<bool>, StoreError> {
        let writer = self.writer()?;
        let canceled: Option<Option<i64>> = writer
            .conn
            .query_row("SELECT canceled FROM downtimes WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        match canceled {
            None => Ok(None),
            Some(Some(_)) => Ok(Some(false)),
            Some(None) => {
                writer.conn.execute(
                    "UPDATE downtimes SET canceled = ?2, modified = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
                Ok(Some(true))
            }
        }
    }

    /// Records the muted period in progress (or none).
    pub fn set_downtime_active(&self, id: i64, active: Option<ActivePeriod>) -> Result<(), StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "UPDATE downtimes SET active_start = ?2, active_end = ?3 WHERE id = ?1",
            params![id, active.map(|a| a.start), active.and_then(|a| a.end)],
        )?;
        Ok(())
    }

    pub fn downtime(&self, id: i64) -> Result<Option<DowntimeRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM downtimes WHERE id = ?1"),
                    [id],
                    downtime_row,
                )
                .optional()?)
        })
    }

    pub fn downtime_by_uuid(&self, uuid: &str) -> Result<Option<DowntimeRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM downtimes WHERE uuid = ?1"),
                    [uuid],
                    downtime_row,
                )
                .optional()?)
        })
    }

    /// Every downtime, by id.
    pub fn downtimes(&self) -> Result<Vec<DowntimeRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM downtimes ORDER BY id"))?;
            let found = stmt.query_map([], downtime_row)?.collect::<Result<_, _>>()?;
            Ok(found)
        })
    }
}

const COLUMNS: &str = "id, uuid, definition, created, modified, canceled, active_start, active_end";

fn downtime_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DowntimeRecord> {
    let definition: String = row.get(2)?;
    let start: Option<i64> = row.get(6)?;
    let end: Option<i64> = row.get(7)?;
    Ok(DowntimeRecord {
        id: row.get(0)?,
        uuid: row.get(1)?,
        definition: serde_json::from_str(&definition).unwrap_or(Value::Null),
        created: row.get(3)?,
        modified: row.get(4)?,
        canceled: row.get(5)?,
        active: start.map(|start| ActivePeriod { start, end }),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::store;

    #[test]
    fn downtimes_round_trip_cancel_and_remember_their_active_period() {
        let (_dir, store) = store();
        let uuid = "00000000-0000-4000-8000-000000000001";
        let id = store.insert_downtime(uuid, &json!({"scope": "*"}), 100).unwrap();
        assert_eq!(store.downtime_by_uuid(uuid).unwrap().unwrap().id, id);
        assert!(
            store
                .update_downtime(id, &json!({"scope": "env:prod"}), 150)
                .unwrap()
        );
        assert!(!store.update_downtime(id + 1, &json!({}), 150).unwrap());
        let period = ActivePeriod {
            start: 100,
            end: None,
        };
        store.set_downtime_active(id, Some(period)).unwrap();
        let stored = store.downtime(id).unwrap().unwrap();
        assert_eq!(
            (
                stored.definition["scope"].as_str(),
                stored.modified,
                stored.active
            ),
            (Some("env:prod"), 150, Some(period))
        );
        assert_eq!(store.cancel_downtime(id, 200).unwrap(), Some(true));
        assert_eq!(store.cancel_downtime(id, 300).unwrap(), Some(false));
        assert_eq!(store.cancel_downtime(id + 1, 300).unwrap(), None);
        assert_eq!(store.downtimes().unwrap()[0].canceled, Some(200));
    }
}
