//! The store seen through `ddlab_query::Source`: series of a metric with their host's tags, filtered by a scope.
//!
//! Host tags (from the agent's host metadata and the tags API) are not stored on series: the Agent sends
//! them once per host, and Datadog applies them to everything the host reports. They are joined here, by
//! hostname, when a query reads the series.

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
        let host_tags = self.store.all_host_tags().map_err(SourceError::new)?;
        Ok(stored
            .into_iter()
            .map(|s| RawSeries {
                tags: with_host_tags(s.tags, s.host.as_deref().and_then(|h| host_tags.get(h))),
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

fn with_host_tags(mut tags: Vec<String>, host_tags: Option<&Vec<String>>) -> Vec<String> {
    tags.extend(host_tags.into_iter().flatten().cloned());
    tags.sort();
    tags.dedup();
    tags
}
