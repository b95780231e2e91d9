//! The store seen through `ddlab_query::Source`: series of a metric, filtered by a scope.

use ddlab_query::{MetricKind, RawSeries, Scope, Source, SourceError};
use ddlab_store::Store;

/// Reads series for the query engine. Runs on a blocking thread: every call goes to SQLite.
#[derive(Debug)]
pub(crate) struct StoreSource<'s> {
    pub(crate) store: &'s Store,
}

impl Source for StoreSource<'_> {
    fn fetch(&self, metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError> {
        let stored = self
            .store
            .series_for(metric, from, to)
            .map_err(SourceError::new)?;
        Ok(stored
            .into_iter()
            .map(|s| RawSeries {
                tags: s.tags,
                host: s.host,
                kind: match s.kind {
                    ddlab_store::MetricKind::Gauge => MetricKind::Gauge,
                    ddlab_store::MetricKind::Count => MetricKind::Count,
                    ddlab_store::MetricKind::Rate => MetricKind::Rate,
                    ddlab_store::MetricKind::Unspecified => MetricKind::Unknown,
                },
                interval: s.interval,
                points: s.points,
            })
            .filter(|series| series.matches(scope))
            .collect())
    }
}
