//! Metric series and their points: appending batches and reading them back for queries.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Store, StoreError};

/// How a series' values are to be read, as the intake declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    Gauge,
    Count,
    Rate,
    /// No type given (v2 type 0); read as a gauge.
    Unspecified,
}

/// One series to append: its identity and its points (epoch seconds, value).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSeries {
    pub metric: String,
    pub host: Option<String>,
    pub tags: Vec<String>,
    pub kind: MetricKind,
    pub interval: Option<u32>,
    pub unit: Option<String>,
    pub source_type: Option<String>,
    pub points: Vec<(i64, f64)>,
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendReport {
    pub series: usize,
    pub points: usize,
    /// Series seen for the first time.
    pub new_series: usize,
}

/// A stored series with its points in a time range, sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSeries {
    pub id: i64,
    pub metric: String,
    pub host: Option<String>,
    /// The series' own tags (host tags are joined by the caller).
    pub tags: Vec<String>,
    pub kind: MetricKind,
    pub interval: Option<u32>,
    pub points: Vec<(i64, f64)>,
}

/// A series' host (`None` when it names none) and its own tags.
pub type HostTags = (Option<String>, Vec<String>);

/// Series ids by identity, so an append does not look each series up again.
#[derive(Debug, Default)]
pub(crate) struct IdCache(HashMap<(String, String, String), i64>);

impl IdCache {
    /// Caches the ids of series created by a transaction that has committed.
    pub(crate) fn extend(&mut self, created: Vec<((String, String, String), i64)>) {
        self.0.extend(created);
    }
}

impl MetricKind {
    fn code(self) -> i64 {
        match self {
            MetricKind::Unspecified => 0,
            MetricKind::Count => 1,
            MetricKind::Rate => 2,
            MetricKind::Gauge => 3,
        }
    }

    pub(crate) fn from_code(code: i64) -> Self {
        match code {
            1 => MetricKind::Count,
            2 => MetricKind::Rate,
            3 => MetricKind::Gauge,
            _ => MetricKind::Unspecified,
        }
    }
}

impl Store {
    /// Appends a batch in one transaction: all of it is stored, or none of it. `now` stamps when the
    /// series, and the hosts they name, were last seen. A point at a timestamp the series already has replaces it (last write wins).
    pub fn append_series(&self, batch: &[NewSeries], now: i64) -> Result<AppendReport, StoreError> {
        let mut writer = self.writer()?;
        let writer = &mut *writer;
        let tx = writer.conn.unchecked_transaction()?;
        // Ids created inside this transaction only become cache entries once it commits.
        let mut created = Vec::new();
        let report = append_in(&tx, &writer.series_ids, batch, now, &mut created)?;
        tx.commit()?;
        writer.series_ids.0.extend(created);
        Ok(report)
    }

    /// Every series of `metric` with its points in `[from, to]` (epoch seconds, inclusive). Series without
    /// points in the range are left out.
    pub fn series_for(&self, metric: &str, from: i64, to: i64) -> Result<Vec<StoredSeries>, StoreError> {
        self.read(|conn| read_series(conn, metric, from, to))
    }

    /// Names of the metrics that received points since `since`, sorted.
    pub fn metric_names(&self, since: i64) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT DISTINCT metric FROM series WHERE last_seen >= ?1 ORDER BY metric")?;
            let names = stmt
                .query_map([since], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(names)
        })
    }

    /// Names of the metrics `host` reported since `since`, sorted.
    pub fn metric_names_for_host(&self, host: &str, since: i64) -> Result<Vec<String>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT DISTINCT metric FROM series WHERE host = ?1 AND last_seen >= ?2 ORDER BY metric",
            )?;
            let names = stmt
                .query_map(params![host, since], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(names)
        })
    }

    /// The distinct host and tag combinations of the series that received points since `since` (the values
    /// a dashboard's template variables offer).
    pub fn series_tags(&self, since: i64) -> Result<Vec<HostTags>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT DISTINCT host, tags FROM series WHERE last_seen >= ?1")?;
            let rows = stmt
                .query_map([since], |row| {
                    let host: String = row.get(0)?;
                    let tags: String = row.get(1)?;
                    Ok((host, tags))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows
                .into_iter()
                .map(|(host, tags)| {
                    let tags: Vec<String> = serde_json::from_str(&tags).unwrap_or_default();
                    ((!host.is_empty()).then_some(host), tags)
                })
                .collect())
        })
    }

    /// Deletes points older than `before` and series left without any. Returns the points deleted.
    pub fn prune_points(&self, before: i64) -> Result<usize, StoreError> {
        let mut writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        let deleted = tx.execute("DELETE FROM points WHERE ts < ?1", [before])?;
        tx.execute(
            "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM points WHERE series_id = series.id)",
            [],
        )?;
        tx.commit()?;
        // Deleted series may come back with new ids.
        writer.series_ids.0.clear();
        Ok(deleted)
    }
}

/// Appends `batch` inside the open transaction `tx`; ids of new series are pushed to `created`, for the
/// caller to cache once the transaction commits.
pub(crate) fn append_in(
    tx: &rusqlite::Transaction<'_>,
    cache: &IdCache,
    batch: &[NewSeries],
    now: i64,
    created: &mut Vec<((String, String, String), i64)>,
) -> Result<AppendReport, StoreError> {
    let mut report = AppendReport::default();
    let mut find =
        tx.prepare_cached("SELECT id FROM series WHERE metric = ?1 AND host = ?2 AND tags = ?3")?;
    let mut insert_series = tx.prepare_cached(
        "INSERT INTO series (metric, host, tags, kind, interval, unit, source_type, first_seen, last_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    let mut touch = tx.prepare_cached(
        "UPDATE series SET last_seen = max(last_seen, ?2), kind = ?3, interval = coalesce(?4, interval)
             WHERE id = ?1",
    )?;
    // A host comes into existence when any series names it, and stays fresh while it reports.
    let mut touch_host = tx.prepare_cached(
        "INSERT INTO hosts (name, meta, first_seen, last_seen) VALUES (?1, '{}', ?2, ?2)
             ON CONFLICT (name) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
    )?;
    let mut insert_point =
        tx.prepare_cached("INSERT OR REPLACE INTO points (series_id, ts, value) VALUES (?1, ?2, ?3)")?;
    for series in batch {
        let key = identity(series);
        let cached = cache.0.get(&key).copied();
        let id = match cached {
            Some(id) => Some(id),
            None => find
                .query_row(params![key.0, key.1, key.2], |row| row.get(0))
                .optional()?,
        };
        let id = match id {
            Some(id) => {
                touch.execute(params![id, now, series.kind.code(), series.interval])?;
                id
            }
            None => {
                insert_series.execute(params![
                    key.0,
                    key.1,
                    key.2,
                    series.kind.code(),
                    series.interval,
                    series.unit,
                    series.source_type,
                    now
                ])?;
                report.new_series += 1;
                tx.last_insert_rowid()
            }
        };
        if cached.is_none() {
            created.push((key, id));
        }
        for (ts, value) in &series.points {
            insert_point.execute(params![id, ts, value])?;
        }
        if let Some(host) = series.host.as_deref().filter(|h| !h.is_empty()) {
            touch_host.execute(params![host, now])?;
        }
        report.series += 1;
        report.points += series.points.len();
    }
    Ok(report)
}

fn read_series(conn: &Connection, metric: &str, from: i64, to: i64) -> Result<Vec<StoredSeries>, StoreError> {
    let mut series_stmt = conn
        .prepare_cached("SELECT id, host, tags, kind, interval FROM series WHERE metric = ?1 ORDER BY id")?;
    let mut points_stmt = conn.prepare_cached(
        "SELECT ts, value FROM points WHERE series_id = ?1 AND ts BETWEEN ?2 AND ?3 ORDER BY ts",
    )?;
    let rows: Vec<(i64, String, String, i64, Option<u32>)> = series_stmt
        .query_map([metric], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut found = Vec::with_capacity(rows.len());
    for (id, host, tags, kind, interval) in rows {
        let points: Vec<(i64, f64)> = points_stmt
            .query_map(params![id, from, to], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if points.is_empty() {
            continue;
        }
        found.push(StoredSeries {
            id,
            metric: metric.to_owned(),
            host: (!host.is_empty()).then_some(host),
            tags: serde_json::from_str(&tags).unwrap_or_default(),
            kind: MetricKind::from_code(kind),
            interval,
            points,
        });
    }
    Ok(found)
}

/// The identity of a series: metric, host ('' for none) and its sorted, deduplicated tags as JSON.
fn identity(series: &NewSeries) -> (String, String, String) {
    let mut tags = series.tags.clone();
    tags.sort();
    tags.dedup();
    let tags = serde_json::Value::from(tags).to_string();
    (
        series.metric.clone(),
        series.host.clone().unwrap_or_default(),
        tags,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    fn gauge(metric: &str, host: &str, tags: &[&str], points: &[(i64, f64)]) -> NewSeries {
        NewSeries {
            metric: metric.to_owned(),
            host: Some(host.to_owned()),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            kind: MetricKind::Gauge,
            interval: None,
            unit: None,
            source_type: None,
            points: points.to_vec(),
        }
    }

    #[test]
    fn series_tags_are_the_recent_host_and_tag_combinations() {
        let (_dir, store) = store();
        store
            .append_series(
                &[
                    gauge("my_metric", "a", &["env:lab"], &[(100, 1.0)]),
                    gauge("other", "a", &["env:lab"], &[(100, 1.0)]),
                    gauge("my_metric", "b", &["env:prod", "role:db"], &[(100, 1.0)]),
                ],
                1000,
            )
            .unwrap();
        store
            .append_series(&[gauge("old", "c", &["env:old"], &[(100, 1.0)])], 500)
            .unwrap();
        let mut seen = store.series_tags(900).unwrap();
        seen.sort();
        assert_eq!(
            seen,
            [
                (Some("a".to_owned()), vec!["env:lab".to_owned()]),
                (
                    Some("b".to_owned()),
                    vec!["env:prod".to_owned(), "role:db".to_owned()]
                ),
            ]
        );
    }

    #[test]
    fn append_and_read_back() {
        let (_dir, store) = store();
        let report = store
            .append_series(
                &[
                    gauge(
                        "my_metric",
                        "a",
                        &["env:lab", "role:db"],
                        &[(100, 1.0), (145, 2.0)],
                    ),
                    gauge("my_metric", "b", &[], &[(100, 5.0)]),
                    gauge("other", "a", &[], &[(100, 9.0)]),
                ],
                1000,
            )
            .unwrap();
        assert_eq!(
            report,
            AppendReport {
                series: 3,
                points: 4,
                new_series: 3
            }
        );
        // Tag order does not make a new series; a repeated timestamp replaces the point.
        let again = store
            .append_series(
                &[gauge("my_metric", "a", &["role:db", "env:lab"], &[(145, 3.0)])],
                1001,
            )
            .unwrap();
        assert_eq!(again.new_series, 0);
        let series = store.series_for("my_metric", 0, 200).unwrap();
        let summary: Vec<String> = series
            .into_iter()
            .map(|s| format!("{:?} {:?} {:?}", s.host, s.tags, s.points))
            .collect();
        assert_eq!(
            summary,
            [
                r#"Some("a") ["env:lab", "role:db"] [(100, 1.0), (145, 3.0)]"#,
                r#"Some("b") [] [(100, 5.0)]"#
            ]
        );
        assert_eq!(store.series_for("my_metric", 120, 200).unwrap().len(), 1);
        assert_eq!(store.metric_names(0).unwrap(), ["my_metric", "other"]);
    }

    #[test]
    fn committed_points_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ddlab.db");
        {
            let store = Store::open(&path).unwrap();
            store
                .append_series(&[gauge("m", "h", &[], &[(1, 1.0)])], 1)
                .unwrap();
            // Dropped without any shutdown step, as a killed process would be.
            std::mem::forget(store);
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.series_for("m", 0, 10).unwrap()[0].points, [(1, 1.0)]);
        #[cfg(unix)]
        for file in ["ddlab.db", "ddlab.db-wal"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file} must be readable by its owner only");
        }
    }

    #[test]
    fn pruning_drops_old_points_and_empty_series() {
        let (_dir, store) = store();
        store
            .append_series(
                &[
                    gauge("m", "old", &[], &[(10, 1.0)]),
                    gauge("m", "new", &[], &[(10, 1.0), (50, 2.0)]),
                ],
                60,
            )
            .unwrap();
        assert_eq!(store.prune_points(20).unwrap(), 2);
        let hosts: Vec<Option<String>> = store
            .series_for("m", 0, 100)
            .unwrap()
            .into_iter()
            .map(|s| s.host)
            .collect();
        assert_eq!(hosts, [Some("new".to_owned())]);
        // A pruned series can come back.
        store
            .append_series(&[gauge("m", "old", &[], &[(70, 1.0)])], 70)
            .unwrap();
        assert_eq!(store.series_for("m", 0, 100).unwrap().len(), 2);
    }
}
