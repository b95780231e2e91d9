//! Hosts: what host metadata said about them, their tags by source, and when they were last seen.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Store, StoreError};

/// The tag source host metadata from the agent writes (`host-tags` / datadog.yaml `tags`).
pub const AGENT_TAGS: &str = "Datadog";
/// The tag source of `/api/v1/tags/hosts` when no `source` is given.
pub const USER_TAGS: &str = "Users";

/// What one host metadata payload says about its host.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostUpdate {
    pub name: String,
    pub ip: Option<String>,
    pub agent_version: Option<String>,
    pub platform: Option<String>,
    /// The payload's metadata, kept as sent for the host map.
    pub meta: serde_json::Value,
    /// Tags by source; each source given replaces what that source said before.
    pub tags: BTreeMap<String, Vec<String>>,
}

/// A host as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    pub ip: Option<String>,
    pub agent_version: Option<String>,
    pub platform: Option<String>,
    pub meta: serde_json::Value,
    pub tags_by_source: BTreeMap<String, Vec<String>>,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl Host {
    /// Every tag of the host, whatever its source, sorted and without repeats.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self.tags_by_source.values().flatten().cloned().collect();
        tags.sort();
        tags.dedup();
        tags
    }
}

impl Store {
    /// Records host metadata: creates the host or updates it, and replaces the tags of each given source.
    pub fn update_host(&self, update: &HostUpdate, now: i64) -> Result<(), StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO hosts (name, ip, agent_version, platform, meta, first_seen, last_seen, last_metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
             ON CONFLICT (name) DO UPDATE SET
                ip = coalesce(excluded.ip, ip),
                agent_version = coalesce(excluded.agent_version, agent_version),
                platform = coalesce(excluded.platform, platform),
                meta = excluded.meta,
                last_seen = max(last_seen, excluded.last_seen),
                last_metadata = excluded.last_metadata",
            params![update.name, update.ip, update.agent_version, update.platform, update.meta.to_string(), now],
        )?;
        for (source, tags) in &update.tags {
            replace_tags(&tx, &update.name, source, tags)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces (or, with `append`, adds to) the tags one source gives a host.
    pub fn set_host_tags(
        &self,
        host: &str,
        source: &str,
        tags: &[String],
        append: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        tx.execute(
            "INSERT INTO hosts (name, meta, first_seen, last_seen) VALUES (?1, '{}', ?2, ?2) ON CONFLICT (name) DO NOTHING",
            params![host, now],
        )?;
        if append {
            let mut stmt =
                tx.prepare_cached("INSERT OR IGNORE INTO host_tags (host, source, tag) VALUES (?1, ?2, ?3)")?;
            for tag in tags {
                stmt.execute(params![host, source, tag])?;
            }
        } else {
            replace_tags(&tx, host, source, tags)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes the tags one source gives a host.
    pub fn delete_host_tags(&self, host: &str, source: &str) -> Result<usize, StoreError> {
        let writer = self.writer()?;
        Ok(writer.conn.execute(
            "DELETE FROM host_tags WHERE host = ?1 AND source = ?2",
            params![host, source],
        )?)
    }

    /// One host, if it was ever seen.
    pub fn host(&self, name: &str) -> Result<Option<Host>, StoreError> {
        self.read(|conn| {
            let row = conn
                .query_row(
                    "SELECT name, ip, agent_version, platform, meta, first_seen, last_seen FROM hosts WHERE name = ?1",
                    [name],
                    host_row,
                )
                .optional()?;
            match row {
                Some(mut host) => {
                    host.tags_by_source = tags_of(conn, &host.name)?;
                    Ok(Some(host))
                }
                None => Ok(None),
            }
        })
    }

    /// Hosts seen since `since`, sorted by name.
    pub fn hosts(&self, since: i64) -> Result<Vec<Host>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, ip, agent_version, platform, meta, first_seen, last_seen FROM hosts
                 WHERE last_seen >= ?1 ORDER BY name",
            )?;
            let mut hosts: Vec<Host> = stmt.query_map([since], host_row)?.collect::<Result<_, _>>()?;
            for host in &mut hosts {
                host.tags_by_source = tags_of(conn, &host.name)?;
            }
            Ok(hosts)
        })
    }

    /// Every host's tags from every source: the join that gives series their host tags.
    pub fn all_host_tags(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT DISTINCT host, tag FROM host_tags ORDER BY host, tag")?;
            let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for row in stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))? {
                let (host, tag) = row?;
                tags.entry(host).or_default().push(tag);
            }
            Ok(tags)
        })
    }
}

fn replace_tags(conn: &Connection, host: &str, source: &str, tags: &[String]) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM host_tags WHERE host = ?1 AND source = ?2",
        params![host, source],
    )?;
    let mut stmt =
        conn.prepare_cached("INSERT OR IGNORE INTO host_tags (host, source, tag) VALUES (?1, ?2, ?3)")?;
    for tag in tags {
        stmt.execute(params![host, source, tag])?;
    }
    Ok(())
}

fn host_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Host> {
    let meta: String = row.get(4)?;
    Ok(Host {
        name: row.get(0)?,
        ip: row.get(1)?,
        agent_version: row.get(2)?,
        platform: row.get(3)?,
        meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
        tags_by_source: BTreeMap::new(),
        first_seen: row.get(5)?,
        last_seen: row.get(6)?,
    })
}

fn tags_of(conn: &Connection, host: &str) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT source, tag FROM host_tags WHERE host = ?1 ORDER BY source, tag")?;
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in stmt.query_map([host], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })? {
        let (source, tag) = row?;
        tags.entry(source).or_default().push(tag);
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    fn update(name: &str, tags: &[&str], ip: Option<&str>) -> HostUpdate {
        HostUpdate {
            name: name.to_owned(),
            ip: ip.map(str::to_owned),
            agent_version: Some("7.0.0".to_owned()),
            meta: serde_json::json!({"socket-hostname": name}),
            tags: [(
                AGENT_TAGS.to_owned(),
                tags.iter().map(|t| (*t).to_owned()).collect(),
            )]
            .into_iter()
            .collect(),
            ..HostUpdate::default()
        }
    }

    #[test]
    fn metadata_replaces_its_source_and_keeps_others() {
        let (_dir, store) = store();
        store
            .update_host(&update("lab", &["env:lab", "role:db"], Some("10.0.0.5")), 100)
            .unwrap();
        store
            .set_host_tags("lab", USER_TAGS, &["team:se".to_owned()], true, 110)
            .unwrap();
        store
            .update_host(&update("lab", &["env:lab"], None), 200)
            .unwrap();
        let host = store.host("lab").unwrap().unwrap();
        assert_eq!(
            host.ip.as_deref(),
            Some("10.0.0.5"),
            "an update without an IP keeps the known one"
        );
        assert_eq!(host.first_seen, 100);
        assert_eq!(host.last_seen, 200);
        assert_eq!(host.tags(), ["env:lab", "team:se"]);
        assert_eq!(store.all_host_tags().unwrap()["lab"], ["env:lab", "team:se"]);
        assert_eq!(store.delete_host_tags("lab", USER_TAGS).unwrap(), 1);
        assert_eq!(store.host("lab").unwrap().unwrap().tags(), ["env:lab"]);
    }

    #[test]
    fn series_create_and_freshen_hosts() {
        let (_dir, store) = store();
        let series = |host: Option<&str>, ts: i64| crate::NewSeries {
            metric: "m".to_owned(),
            host: host.map(str::to_owned),
            tags: Vec::new(),
            kind: crate::MetricKind::Gauge,
            interval: None,
            unit: None,
            source_type: None,
            points: vec![(ts, 1.0)],
        };
        store
            .append_series(
                &[series(Some("a"), 50), series(Some("b"), 50), series(None, 50)],
                50,
            )
            .unwrap();
        store.append_series(&[series(Some("a"), 80)], 80).unwrap();
        let seen: Vec<(String, i64)> = store
            .hosts(0)
            .unwrap()
            .into_iter()
            .map(|h| (h.name, h.last_seen))
            .collect();
        assert_eq!(seen, [("a".to_owned(), 80), ("b".to_owned(), 50)]);
        assert_eq!(store.hosts(60).unwrap().len(), 1);
        assert_eq!(store.host("missing").unwrap(), None);
    }
}
