//! The store seen through `ddlab_query::Source`: series of a metric with their host's tags, filtered by a scope.
//!
//! Host tags (from the agent's host metadata and the tags API) are not stored on series: the Agent sends
//! them once per host, and Datadog applies them to everything the host reports. They are joined here, by
//! hostname, when a query reads the series.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ddlab_query::{MetricKind, RawSeries, Scope, Source, SourceError};
use ddlab_store::Store;

/// Reads series for the query engine. Runs on a blocking thread: every call goes to SQLite.
///
/// One `StoreSource` serves one query evaluation: the host tags are read once, on the first fetch, however
/// many metric queries, shifts and anomaly histories the evaluation reads.
#[derive(Debug)]
pub struct StoreSource<'s> {
    store: &'s Store,
    host_tags: OnceLock<BTreeMap<String, Vec<String>>>,
}

impl<'s> StoreSource<'s> {
    /// A source over `store`; host tags are read on the first fetch.
    pub fn new(store: &'s Store) -> Self {
        Self {
            store,
            host_tags: OnceLock::new(),
        }
    }

    fn host_tags(&self) -> Result<&BTreeMap<String, Vec<String>>, SourceError> {
        if let Some(tags) = self.host_tags.get() {
            return Ok(tags);
        }
        let tags = self.store.all_host_tags().map_err(SourceError::new)?;
        Ok(self.host_tags.get_or_init(|| tags))
    }
}

impl Source for StoreSource<'_> {
    fn fetch(&self, metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError> {
        let stored = self
            .store
            .series_for(metric, from, to)
            .map_err(SourceError::new)?;
        let host_tags = self.host_tags()?;
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
