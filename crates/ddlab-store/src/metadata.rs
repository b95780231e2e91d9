//! Metric metadata (`/api/v1/metrics/{name}`): what users set, over what the intake declared.

use rusqlite::{OptionalExtension, params};

use crate::series::MetricKind;
use crate::{Store, StoreError};

/// A metric's metadata, as the API shows it. `None` fields are answered as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricMetadata {
    /// `gauge`, `count`, `rate` or `distribution`.
    pub kind: Option<String>,
    pub description: Option<String>,
    pub short_name: Option<String>,
    pub unit: Option<String>,
    pub per_unit: Option<String>,
    pub statsd_interval: Option<i64>,
    pub integration: Option<String>,
}

impl Store {
    /// The metadata of a metric the store has seen: fields a user set win over what the intake declared
    /// (the type and unit of the most recently seen series). `None` if the metric is unknown.
    pub fn metric_metadata(&self, metric: &str) -> Result<Option<MetricMetadata>, StoreError> {
        self.read(|conn| {
            let declared: Option<(i64, Option<String>, Option<i64>)> = conn
                .query_row(
                    "SELECT kind, unit, interval FROM series WHERE metric = ?1 ORDER BY last_seen DESC LIMIT 1",
                    [metric],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            let set: Option<MetricMetadata> = conn
                .query_row(
                    "SELECT type, description, short_name, unit, per_unit, statsd_interval, integration
                     FROM metric_metadata WHERE metric = ?1",
                    [metric],
                    |row| {
                        Ok(MetricMetadata {
                            kind: row.get(0)?,
                            description: row.get(1)?,
                            short_name: row.get(2)?,
                            unit: row.get(3)?,
                            per_unit: row.get(4)?,
                            statsd_interval: row.get(5)?,
                            integration: row.get(6)?,
                        })
                    },
                )
                .optional()?;
            if declared.is_none() && set.is_none() {
                return Ok(None);
            }
            let mut meta = set.unwrap_or_default();
            if let Some((kind, unit, interval)) = declared {
                let kind = match MetricKind::from_code(kind) {
                    MetricKind::Count => "count",
                    MetricKind::Rate => "rate",
                    MetricKind::Gauge | MetricKind::Unspecified => "gauge",
                };
                meta.kind = meta.kind.or_else(|| Some(kind.to_owned()));
                meta.unit = meta.unit.or(unit);
                if kind == "rate" {
                    meta.statsd_interval = meta.statsd_interval.or(interval);
                }
            }
            Ok(Some(meta))
        })
    }

    /// Sets the given fields of a metric's metadata; `None` fields keep what was set before.
    pub fn update_metric_metadata(&self, metric: &str, update: &MetricMetadata) -> Result<(), StoreError> {
        let writer = self.writer()?;
        writer.conn.execute(
            "INSERT INTO metric_metadata (metric, type, description, short_name, unit, per_unit, statsd_interval, integration)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (metric) DO UPDATE SET
                type = coalesce(excluded.type, type),
                description = coalesce(excluded.description, description),
                short_name = coalesce(excluded.short_name, short_name),
                unit = coalesce(excluded.unit, unit),
                per_unit = coalesce(excluded.per_unit, per_unit),
                statsd_interval = coalesce(excluded.statsd_interval, statsd_interval),
                integration = coalesce(excluded.integration, integration)",
            params![
                metric,
                update.kind,
                update.description,
                update.short_name,
                update.unit,
                update.per_unit,
                update.statsd_interval,
                update.integration
            ],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::store;

    #[test]
    fn declared_type_and_unit_yield_to_what_users_set() {
        let (_dir, store) = store();
        assert_eq!(store.metric_metadata("m").unwrap(), None);
        store
            .append_series(
                &[crate::NewSeries {
                    metric: "m".to_owned(),
                    host: None,
                    tags: Vec::new(),
                    kind: MetricKind::Rate,
                    interval: Some(10),
                    unit: Some("byte".to_owned()),
                    source_type: None,
                    points: vec![(1, 1.0)],
                }],
                1,
            )
            .unwrap();
        let declared = store.metric_metadata("m").unwrap().unwrap();
        assert_eq!(declared.kind.as_deref(), Some("rate"));
        assert_eq!(declared.unit.as_deref(), Some("byte"));
        assert_eq!(declared.statsd_interval, Some(10));
        store
            .update_metric_metadata(
                "m",
                &MetricMetadata {
                    description: Some("bytes sent".to_owned()),
                    unit: Some("kibibyte".to_owned()),
                    ..MetricMetadata::default()
                },
            )
            .unwrap();
        let set = store.metric_metadata("m").unwrap().unwrap();
        assert_eq!(set.description.as_deref(), Some("bytes sent"));
        assert_eq!(set.unit.as_deref(), Some("kibibyte"));
        assert_eq!(set.kind.as_deref(), Some("rate"));
    }
}
