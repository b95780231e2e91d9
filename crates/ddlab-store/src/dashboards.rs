//! Dashboards, one row behind the `/dashboard`, legacy `/dash` and `/screen` APIs: the dashboard as Datadog's
//! JSON, the columns that are queried, and the legacy body as sent; their share links; dashboard lists.
//!
//! Deleting a dashboard marks it deleted (Datadog keeps deleted dashboards restorable); a deleted dashboard
//! is invisible to [`Store::dashboard_json`] and to share links.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::schema::{IdTable, next_id};
use crate::{Store, StoreError};

/// A stored dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardRecord {
    /// The numeric id of the legacy APIs.
    pub legacy_id: i64,
    /// `abc-def-ghi`.
    pub id: String,
    pub title: String,
    /// `ordered` or `free`.
    pub layout_type: String,
    /// The API that wrote it last: `dashboard`, `dash` or `screen`.
    pub origin: String,
    /// The dashboard as `GET /api/v1/dashboard/{id}` answers it.
    pub dashboard: Value,
    /// The legacy body as sent, when a legacy API wrote it last.
    pub legacy: Option<Value>,
    /// Epoch milliseconds.
    pub created: i64,
    pub modified: i64,
    pub deleted: Option<i64>,
}

/// What a write stores: everything but the ids and times, which the store keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardWrite {
    pub title: String,
    pub layout_type: String,
    pub origin: String,
    pub dashboard: Value,
    pub legacy: Option<Value>,
}

/// Which dashboards a listing returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DashboardFilter {
    /// Deleted dashboards instead of live ones.
    pub deleted: bool,
    /// Only dashboards with (true) or without (false) a share link.
    pub shared: Option<bool>,
}

/// A share link of a dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRecord {
    pub token: String,
    pub dashboard_id: String,
    /// The share's settings and invitees, as the backend keeps them (JSON object).
    pub share: Value,
    /// Epoch milliseconds.
    pub created: i64,
}

/// A manual dashboard list.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardListRecord {
    pub id: i64,
    pub name: String,
    /// Live dashboards in the list.
    pub dashboard_count: i64,
    /// Epoch milliseconds.
    pub created: i64,
    pub modified: i64,
}

impl Store {
    /// Stores a new dashboard under `id`; returns its legacy id, or `None` when `id` is taken.
    pub fn insert_dashboard(
        &self,
        id: &str,
        write: &DashboardWrite,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let writer = self.writer()?;
        let inserted = writer.conn.execute(
            "INSERT INTO dashboards (id, title, layout_type, origin, dashboard, legacy, created, modified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (id) DO NOTHING",
            params![
                id,
                write.title,
                write.layout_type,
                write.origin,
                write.dashboard.to_string(),
                write.legacy.as_ref().map(Value::to_string),
                now_ms
            ],
        )?;
        Ok((inserted > 0).then(|| writer.conn.last_insert_rowid()))
    }

    /// Replaces a live dashboard whole; false when there is no such live dashboard.
    pub fn replace_dashboard(
        &self,
        id: &str,
        write: &DashboardWrite,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "UPDATE dashboards SET title = ?2, layout_type = ?3, origin = ?4, dashboard = ?5, legacy = ?6,
                modified = ?7
             WHERE id = ?1 AND deleted IS NULL",
            params![
                id,
                write.title,
                write.layout_type,
                write.origin,
                write.dashboard.to_string(),
                write.legacy.as_ref().map(Value::to_string),
                now_ms
            ],
        )? > 0)
    }

    /// A dashboard by its id, deleted or not.
    pub fn dashboard(&self, id: &str) -> Result<Option<DashboardRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM dashboards WHERE id = ?1"),
                    [id],
                    dashboard_row,
                )
                .optional()?)
        })
    }

    /// A dashboard by its legacy numeric id, deleted or not.
    pub fn dashboard_by_legacy_id(&self, legacy_id: i64) -> Result<Option<DashboardRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM dashboards WHERE legacy_id = ?1"),
                    [legacy_id],
                    dashboard_row,
                )
                .optional()?)
        })
    }

    /// The JSON of a live dashboard, by its id or its legacy numeric id, exactly as
    /// `GET /api/v1/dashboard/{id}` answers it: what the web UI renders.
    pub fn dashboard_json(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let record = match id.parse::<i64>() {
            Ok(legacy_id) => self.dashboard_by_legacy_id(legacy_id)?,
            Err(_) => self.dashboard(id)?,
        };
        Ok(record.filter(|r| r.deleted.is_none()).map(|r| r.dashboard))
    }

    /// Dashboards by legacy id (creation order).
    pub fn dashboards(&self, filter: DashboardFilter) -> Result<Vec<DashboardRecord>, StoreError> {
        self.read(|conn| {
            let deleted = if filter.deleted {
                "deleted IS NOT NULL"
            } else {
                "deleted IS NULL"
            };
            let shared = match filter.shared {
                None => "",
                Some(true) => "AND id IN (SELECT dashboard_id FROM dashboard_shares)",
                Some(false) => "AND id NOT IN (SELECT dashboard_id FROM dashboard_shares)",
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM dashboards WHERE {deleted} {shared} ORDER BY legacy_id"
            ))?;
            let found = stmt.query_map([], dashboard_row)?.collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// Marks live dashboards deleted, all or none: returns the ids that are not live dashboards (and then
    /// changes nothing).
    pub fn delete_dashboards(&self, ids: &[String], now_ms: i64) -> Result<Vec<String>, StoreError> {
        self.mark_dashboards(ids, "deleted IS NULL", Some(now_ms))
    }

    /// Restores deleted dashboards, all or none: returns the ids that are not deleted dashboards (and then
    /// changes nothing).
    pub fn restore_dashboards(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        self.mark_dashboards(ids, "deleted IS NOT NULL", None)
    }

    fn mark_dashboards(
        &self,
        ids: &[String],
        condition: &str,
        deleted: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let mut missing = Vec::new();
        {
            let mut update = tx.prepare(&format!(
                "UPDATE dashboards SET deleted = ?2 WHERE id = ?1 AND {condition}"
            ))?;
            for id in ids {
                if update.execute(params![id, deleted])? == 0 {
                    missing.push(id.clone());
                }
            }
        }
        if missing.is_empty() {
            tx.commit()?;
        }
        Ok(missing)
    }

    /// Stores a share link of a dashboard.
    pub fn insert_share(&self, share: &ShareRecord) -> Result<(), StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "INSERT INTO dashboard_shares (token, dashboard_id, share, created) VALUES (?1, ?2, ?3, ?4)",
            params![
                share.token,
                share.dashboard_id,
                share.share.to_string(),
                share.created
            ],
        )?;
        Ok(())
    }

    /// Replaces a share's settings; false when there is no such share.
    pub fn update_share(&self, token: &str, share: &Value) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "UPDATE dashboard_shares SET share = ?2 WHERE token = ?1",
            params![token, share.to_string()],
        )? > 0)
    }

    /// Revokes a share link; false when there is no such share.
    pub fn delete_share(&self, token: &str) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer
            .conn
            .execute("DELETE FROM dashboard_shares WHERE token = ?1", [token])?
            > 0)
    }

    /// Revokes every share link of a dashboard; returns how many there were.
    pub fn delete_shares_of(&self, dashboard_id: &str) -> Result<usize, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "DELETE FROM dashboard_shares WHERE dashboard_id = ?1",
            [dashboard_id],
        )?)
    }

    /// A share link by token, whatever its dashboard's state.
    pub fn share(&self, token: &str) -> Result<Option<ShareRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(
                    "SELECT token, dashboard_id, share, created FROM dashboard_shares WHERE token = ?1",
                    [token],
                    share_row,
                )
                .optional()?)
        })
    }

    /// The share links of a dashboard, oldest first.
    pub fn shares_of(&self, dashboard_id: &str) -> Result<Vec<ShareRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT token, dashboard_id, share, created FROM dashboard_shares
                 WHERE dashboard_id = ?1 ORDER BY created, token",
            )?;
            let found = stmt
                .query_map([dashboard_id], share_row)?
                .collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// What a public page shows for `token`: the share and its dashboard's JSON, or `None` when the token is
    /// unknown or revoked or the dashboard is deleted. The share's own `status` (active or paused) is left to
    /// the caller.
    pub fn shared_dashboard(&self, token: &str) -> Result<Option<(ShareRecord, Value)>, StoreError> {
        self.read(|conn| {
            let found = conn
                .query_row(
                    "SELECT s.token, s.dashboard_id, s.share, s.created, d.dashboard
                     FROM dashboard_shares s JOIN dashboards d ON d.id = s.dashboard_id
                     WHERE s.token = ?1 AND d.deleted IS NULL",
                    [token],
                    |row| {
                        let dashboard: String = row.get(4)?;
                        Ok((share_row(row)?, parse(&dashboard)))
                    },
                )
                .optional()?;
            Ok(found)
        })
    }

    /// Creates an empty dashboard list; returns its id.
    pub fn insert_dashboard_list(&self, name: &str, now_ms: i64) -> Result<i64, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let id = next_id(&tx, IdTable::DashboardLists)?;
        tx.execute(
            "INSERT INTO dashboard_lists (id, name, created, modified) VALUES (?1, ?2, ?3, ?3)",
            params![id, name, now_ms],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Renames a dashboard list; false when there is no such list.
    pub fn rename_dashboard_list(&self, id: i64, name: &str, now_ms: i64) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "UPDATE dashboard_lists SET name = ?2, modified = ?3 WHERE id = ?1",
            params![id, name, now_ms],
        )? > 0)
    }

    /// Deletes a dashboard list (not its dashboards); false when there is no such list.
    pub fn delete_dashboard_list(&self, id: i64) -> Result<bool, StoreError> {
        let writer = self.writer()?;
        Ok(writer
            .conn
            .execute("DELETE FROM dashboard_lists WHERE id = ?1", [id])?
            > 0)
    }

    pub fn dashboard_list(&self, id: i64) -> Result<Option<DashboardListRecord>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .query_row(&format!("{LIST_SELECT} WHERE l.id = ?1"), [id], list_row)
                .optional()?)
        })
    }

    /// Every dashboard list, by id.
    pub fn dashboard_lists(&self) -> Result<Vec<DashboardListRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!("{LIST_SELECT} ORDER BY l.id"))?;
            let found = stmt.query_map([], list_row)?.collect::<Result<_, _>>()?;
            Ok(found)
        })
    }

    /// The live dashboards of a list with the time each was added, in the order they were added; `None` when
    /// there is no such list.
    pub fn dashboard_list_items(&self, id: i64) -> Result<Option<Vec<(DashboardRecord, i64)>>, StoreError> {
        self.read(|conn| {
            if !list_exists(conn, id)? {
                return Ok(None);
            }
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {PREFIXED_COLUMNS}, i.added FROM dashboard_list_items i
                 JOIN dashboards d ON d.id = i.dashboard_id
                 WHERE i.list_id = ?1 AND d.deleted IS NULL ORDER BY i.added, d.legacy_id"
            ))?;
            let found = stmt
                .query_map([id], |row| Ok((dashboard_row(row)?, row.get(COLUMN_COUNT)?)))?
                .collect::<Result<_, _>>()?;
            Ok(Some(found))
        })
    }

    /// Changes a list's dashboards: adds `add` (ids already in the list stay as they are), after removing
    /// everything when `replace`. All or nothing: returns `Err(ids)` naming the ids that are not live
    /// dashboards, and `Ok(false)` when there is no such list.
    pub fn add_dashboard_list_items(
        &self,
        id: i64,
        add: &[String],
        replace: bool,
        now_ms: i64,
    ) -> Result<Result<bool, Vec<String>>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        if !list_exists(&tx, id)? {
            return Ok(Ok(false));
        }
        let mut missing = Vec::new();
        for dashboard in add {
            let live: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM dashboards WHERE id = ?1 AND deleted IS NULL",
                    [dashboard],
                    |row| row.get(0),
                )
                .optional()?;
            if live.is_none() {
                missing.push(dashboard.clone());
            }
        }
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        if replace {
            tx.execute("DELETE FROM dashboard_list_items WHERE list_id = ?1", [id])?;
        }
        {
            let mut insert = tx.prepare(
                "INSERT INTO dashboard_list_items (list_id, dashboard_id, added) VALUES (?1, ?2, ?3)
                 ON CONFLICT (list_id, dashboard_id) DO NOTHING",
            )?;
            for dashboard in add {
                insert.execute(params![id, dashboard, now_ms])?;
            }
        }
        tx.execute(
            "UPDATE dashboard_lists SET modified = ?2 WHERE id = ?1",
            params![id, now_ms],
        )?;
        tx.commit()?;
        Ok(Ok(true))
    }

    /// Removes dashboards from a list; returns the ids that were in it, or `None` when there is no such list.
    pub fn remove_dashboard_list_items(
        &self,
        id: i64,
        remove: &[String],
        now_ms: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        if !list_exists(&tx, id)? {
            return Ok(None);
        }
        let mut removed = Vec::new();
        {
            let mut delete =
                tx.prepare("DELETE FROM dashboard_list_items WHERE list_id = ?1 AND dashboard_id = ?2")?;
            for dashboard in remove {
                if delete.execute(params![id, dashboard])? > 0 {
                    removed.push(dashboard.clone());
                }
            }
        }
        tx.execute(
            "UPDATE dashboard_lists SET modified = ?2 WHERE id = ?1",
            params![id, now_ms],
        )?;
        tx.commit()?;
        Ok(Some(removed))
    }
}

const COLUMNS: &str =
    "legacy_id, id, title, layout_type, origin, dashboard, legacy, created, modified, deleted";
const PREFIXED_COLUMNS: &str = "d.legacy_id, d.id, d.title, d.layout_type, d.origin, d.dashboard, d.legacy, d.created, d.modified, d.deleted";
const COLUMN_COUNT: usize = 10;
const LIST_SELECT: &str = "SELECT l.id, l.name, l.created, l.modified,
    (SELECT count(*) FROM dashboard_list_items i JOIN dashboards d ON d.id = i.dashboard_id
     WHERE i.list_id = l.id AND d.deleted IS NULL)
    FROM dashboard_lists l";

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn dashboard_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DashboardRecord> {
    let dashboard: String = row.get(5)?;
    let legacy: Option<String> = row.get(6)?;
    Ok(DashboardRecord {
        legacy_id: row.get(0)?,
        id: row.get(1)?,
        title: row.get(2)?,
        layout_type: row.get(3)?,
        origin: row.get(4)?,
        dashboard: parse(&dashboard),
        legacy: legacy.as_deref().map(parse),
        created: row.get(7)?,
        modified: row.get(8)?,
        deleted: row.get(9)?,
    })
}

fn share_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ShareRecord> {
    let share: String = row.get(2)?;
    Ok(ShareRecord {
        token: row.get(0)?,
        dashboard_id: row.get(1)?,
        share: parse(&share),
        created: row.get(3)?,
    })
}

fn list_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<DashboardListRecord> {
    Ok(DashboardListRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        created: row.get(2)?,
        modified: row.get(3)?,
        dashboard_count: row.get(4)?,
    })
}

fn list_exists(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row("SELECT 1 FROM dashboard_lists WHERE id = ?1", [id], |row| {
            row.get::<_, i64>(0)
        })
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::store;

    fn write(title: &str) -> DashboardWrite {
        DashboardWrite {
            title: title.to_owned(),
            layout_type: "ordered".to_owned(),
            origin: "dashboard".to_owned(),
            dashboard: json!({"title": title, "widgets": []}),
            legacy: None,
        }
    }

    #[test]
    fn dashboards_are_replaced_deleted_and_restored_all_or_nothing() {
        let (_dir, store) = store();
        let legacy = store
            .insert_dashboard("aaa-bbb-ccc", &write("one"), 1_000)
            .unwrap()
            .unwrap();
        assert_eq!(
            store
                .insert_dashboard("aaa-bbb-ccc", &write("dup"), 1_000)
                .unwrap(),
            None
        );
        store
            .insert_dashboard("ddd-eee-fff", &write("two"), 2_000)
            .unwrap()
            .unwrap();
        assert_eq!(
            store.dashboard_json(&legacy.to_string()).unwrap(),
            Some(json!({"title": "one", "widgets": []}))
        );
        assert!(
            store
                .replace_dashboard("aaa-bbb-ccc", &write("uno"), 3_000)
                .unwrap()
        );
        let record = store.dashboard("aaa-bbb-ccc").unwrap().unwrap();
        assert_eq!(
            (record.title.as_str(), record.created, record.modified),
            ("uno", 1_000, 3_000)
        );

        let missing = store
            .delete_dashboards(&["aaa-bbb-ccc".to_owned(), "zzz-zzz-zzz".to_owned()], 4_000)
            .unwrap();
        assert_eq!(missing, vec!["zzz-zzz-zzz".to_owned()]);
        assert_eq!(store.dashboards(DashboardFilter::default()).unwrap().len(), 2);
        assert!(
            store
                .delete_dashboards(&["aaa-bbb-ccc".to_owned()], 4_000)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.dashboard_json("aaa-bbb-ccc").unwrap(), None);
        assert!(
            !store
                .replace_dashboard("aaa-bbb-ccc", &write("x"), 5_000)
                .unwrap()
        );
        let deleted = store
            .dashboards(DashboardFilter {
                deleted: true,
                shared: None,
            })
            .unwrap();
        assert_eq!(
            deleted.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["aaa-bbb-ccc"]
        );
        assert_eq!(
            store.restore_dashboards(&["ddd-eee-fff".to_owned()]).unwrap(),
            vec!["ddd-eee-fff".to_owned()]
        );
        assert!(
            store
                .restore_dashboards(&["aaa-bbb-ccc".to_owned()])
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.dashboard("aaa-bbb-ccc").unwrap().unwrap().deleted, None);
    }

    #[test]
    fn shares_show_their_dashboard_until_revoked_or_deleted() {
        let (_dir, store) = store();
        store
            .insert_dashboard("aaa-bbb-ccc", &write("one"), 1_000)
            .unwrap();
        store
            .insert_dashboard("ddd-eee-fff", &write("two"), 1_000)
            .unwrap();
        let share = ShareRecord {
            token: "t1".to_owned(),
            dashboard_id: "aaa-bbb-ccc".to_owned(),
            share: json!({"share_type": "open"}),
            created: 1_500,
        };
        store.insert_share(&share).unwrap();
        let shared = store
            .dashboards(DashboardFilter {
                deleted: false,
                shared: Some(true),
            })
            .unwrap();
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].id, "aaa-bbb-ccc");
        let (found, dashboard) = store.shared_dashboard("t1").unwrap().unwrap();
        assert_eq!((found, dashboard["title"].clone()), (share.clone(), json!("one")));
        assert!(
            store
                .update_share("t1", &json!({"share_type": "invite"}))
                .unwrap()
        );
        assert_eq!(store.share("t1").unwrap().unwrap().share["share_type"], "invite");

        store
            .delete_dashboards(&["aaa-bbb-ccc".to_owned()], 2_000)
            .unwrap();
        assert_eq!(store.shared_dashboard("t1").unwrap(), None);
        store.restore_dashboards(&["aaa-bbb-ccc".to_owned()]).unwrap();
        assert!(store.shared_dashboard("t1").unwrap().is_some());
        assert_eq!(store.delete_shares_of("aaa-bbb-ccc").unwrap(), 1);
        assert_eq!(store.shared_dashboard("t1").unwrap(), None);
        assert!(!store.delete_share("t1").unwrap());
    }

    #[test]
    fn lists_hold_live_dashboards_in_the_order_added() {
        let (_dir, store) = store();
        store
            .insert_dashboard("aaa-bbb-ccc", &write("one"), 1_000)
            .unwrap();
        store
            .insert_dashboard("ddd-eee-fff", &write("two"), 1_000)
            .unwrap();
        let list = store.insert_dashboard_list("mine", 1_000).unwrap();
        let add = |ids: &[&str], replace, now| {
            let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
            store.add_dashboard_list_items(list, &ids, replace, now).unwrap()
        };
        assert_eq!(add(&["ddd-eee-fff"], false, 2_000), Ok(true));
        assert_eq!(
            add(&["aaa-bbb-ccc", "nope"], false, 3_000),
            Err(vec!["nope".to_owned()])
        );
        assert_eq!(add(&["aaa-bbb-ccc"], false, 3_000), Ok(true));
        let items = store.dashboard_list_items(list).unwrap().unwrap();
        assert_eq!(
            items
                .iter()
                .map(|(d, added)| (d.id.as_str(), *added))
                .collect::<Vec<_>>(),
            [("ddd-eee-fff", 2_000), ("aaa-bbb-ccc", 3_000)]
        );
        assert_eq!(store.dashboard_list(list).unwrap().unwrap().dashboard_count, 2);
        store
            .delete_dashboards(&["aaa-bbb-ccc".to_owned()], 4_000)
            .unwrap();
        assert_eq!(store.dashboard_list(list).unwrap().unwrap().dashboard_count, 1);
        assert_eq!(add(&["ddd-eee-fff"], true, 5_000), Ok(true));
        assert_eq!(
            store
                .remove_dashboard_list_items(
                    list,
                    &["ddd-eee-fff".to_owned(), "aaa-bbb-ccc".to_owned()],
                    6_000
                )
                .unwrap(),
            Some(vec!["ddd-eee-fff".to_owned()])
        );
        assert!(store.rename_dashboard_list(list, "ours", 7_000).unwrap());
        let record = store.dashboard_list(list).unwrap().unwrap();
        assert_eq!(
            (record.name.as_str(), record.dashboard_count, record.modified),
            ("ours", 0, 7_000)
        );
        assert!(store.delete_dashboard_list(list).unwrap());
        assert_eq!(store.dashboard_list_items(list).unwrap(), None);
        assert_eq!(add(&["ddd-eee-fff"], false, 8_000), Ok(false));
        // The deleted list had the highest id; a new list never takes it over.
        let next = store.insert_dashboard_list("next", 9_000).unwrap();
        assert_eq!(next, list + 1);
    }
}
