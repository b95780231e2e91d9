//! Trace metrics, derived from APM stats the way Datadog documents them (`tracing/metrics/
//! metrics_namespace`), as ordinary series a query or a dashboard reads next to infrastructure metrics.
//!
//! One stats group is a bucket of one (host, env, version, service, span name); its rows are the
//! resources and status codes. For span name `<name>` (`flask.request`), at the bucket's start:
//!
//! | metric | type | value | tags beyond `env`, `service`, `version` |
//! | --- | --- | --- | --- |
//! | `trace.<name>.hits` | count | spans | `resource_name`, `http.status_code` |
//! | `trace.<name>.errors` | count | error spans | `resource_name`, `http.status_code` |
//! | `trace.<name>.duration` | gauge | total duration, seconds | `resource_name`, `http.status_code` |
//! | `trace.<name>.hits.by_http_status` | count | spans with a status code | + `http.status_class` |
//! | `trace.<name>.errors.by_http_status` | count | | + `http.status_class` |
//! | `trace.<name>.duration.by_http_status` | gauge | seconds | + `http.status_class` |
//! | `trace.<name>.duration.by.resource_service.<p>` | gauge | latency percentile, seconds | `resource_name` |
//! | `trace.<name>.duration.by.service.<p>` | gauge | latency percentile over the service, seconds | |
//! | `trace.<name>.apdex` | gauge | Apdex (T = 0.5 s), spans of type `web` only | `resource_name` |
//!
//! `<p>` is `50p`, `75p`, `90p`, `95p`, `99p` and `100p` (the maximum), read from the merged
//! DDSketches of ok and error spans (1 % relative accuracy). `http.status_code` is left out when the spans
//! had none. Tags follow Datadog's tag rules (`resource_name:GET /` is `resource_name:get_/`), so
//! `sum:trace.flask.request.hits{service:flask} by {resource_name}.as_count()` reads as on Datadog.
//!
//! Datadog's latency distribution `trace.<name>` (queried `p95:trace.flask.request`) is not emitted: the
//! lab stores no distributions; the percentile gauges stand in for it.

use std::collections::BTreeMap;

use ddlab_store::{MetricKind, NewSeries, TraceStatsRow};
use ddlab_wire::normalize::metric_name;
use ddlab_wire::trace::normalize::tag;
use ddlab_wire::trace::sketch::LatencySketch;

/// The latency percentiles emitted, with their metric suffixes.
pub(crate) const PERCENTILES: [(f64, &str); 6] = [
    (0.5, "50p"),
    (0.75, "75p"),
    (0.9, "90p"),
    (0.95, "95p"),
    (0.99, "99p"),
    (1.0, "100p"),
];

/// The Apdex threshold T: a request is satisfied within T, tolerated within 4T.
pub(crate) const APDEX_THRESHOLD_NS: f64 = 500_000_000.0;

const NS_PER_SECOND: f64 = 1e9;

/// The series of one stats group (rows of one bucket, host, env, version, service and span name).
pub(crate) fn derive(rows: &[TraceStatsRow]) -> Vec<NewSeries> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let Some(name) = metric_name(&first.name) else {
        return Vec::new();
    };
    let base = base_tags(first);
    let point = |tags: Vec<String>, metric: String, kind: MetricKind, value: f64| NewSeries {
        metric,
        host: Some(first.host.clone()).filter(|h| !h.is_empty()),
        tags,
        kind,
        interval: u32::try_from(first.bucket_duration).ok().filter(|s| *s > 0),
        unit: None,
        source_type: None,
        points: vec![(first.bucket, value)],
    };
    let mut series = Vec::new();

    // Rows of the same resource and status code but different span types make one tag set.
    let mut by_status: BTreeMap<(&str, u32), Totals> = BTreeMap::new();
    let mut by_resource: BTreeMap<&str, Latency> = BTreeMap::new();
    let mut service = Latency::default();
    for row in rows {
        by_status
            .entry((row.resource.as_str(), row.http_status_code))
            .or_default()
            .add(row);
        let latency = by_resource.entry(row.resource.as_str()).or_default();
        latency.add(row);
        service.add(row);
    }

    for ((resource, status), totals) in &by_status {
        let mut tags = base.clone();
        tags.push(tag(&format!("resource_name:{resource}")));
        if *status != 0 {
            tags.push(tag(&format!("http.status_code:{status}")));
        }
        series.push(point(
            tags.clone(),
            format!("trace.{name}.hits"),
            MetricKind::Count,
            totals.hits,
        ));
        series.push(point(
            tags.clone(),
            format!("trace.{name}.errors"),
            MetricKind::Count,
            totals.errors,
        ));
        series.push(point(
            tags.clone(),
            format!("trace.{name}.duration"),
            MetricKind::Gauge,
            totals.duration / NS_PER_SECOND,
        ));
        if *status != 0 {
            tags.push(tag(&format!("http.status_class:{}xx", status / 100)));
            series.push(point(
                tags.clone(),
                format!("trace.{name}.hits.by_http_status"),
                MetricKind::Count,
                totals.hits,
            ));
            series.push(point(
                tags.clone(),
                format!("trace.{name}.errors.by_http_status"),
                MetricKind::Count,
                totals.errors,
            ));
            series.push(point(
                tags,
                format!("trace.{name}.duration.by_http_status"),
                MetricKind::Gauge,
                totals.duration / NS_PER_SECOND,
            ));
        }
    }

    for (resource, latency) in &by_resource {
        let mut tags = base.clone();
        tags.push(tag(&format!("resource_name:{resource}")));
        for (q, suffix) in PERCENTILES {
            if let Some(value) = latency.all.quantile(q) {
                series.push(point(
                    tags.clone(),
                    format!("trace.{name}.duration.by.resource_service.{suffix}"),
                    MetricKind::Gauge,
                    value / NS_PER_SECOND,
                ));
            }
        }
        if latency.web
            && let Some(score) = latency.apdex()
        {
            series.push(point(
                tags,
                format!("trace.{name}.apdex"),
                MetricKind::Gauge,
                score,
            ));
        }
    }

    for (q, suffix) in PERCENTILES {
        if let Some(value) = service.all.quantile(q) {
            series.push(point(
                base.clone(),
                format!("trace.{name}.duration.by.service.{suffix}"),
                MetricKind::Gauge,
                value / NS_PER_SECOND,
            ));
        }
    }
    series
}

/// `env`, `service` and `version`, when set.
fn base_tags(row: &TraceStatsRow) -> Vec<String> {
    let mut tags = Vec::with_capacity(6);
    if !row.env.is_empty() {
        tags.push(tag(&format!("env:{}", row.env)));
    }
    tags.push(tag(&format!("service:{}", row.service)));
    if !row.version.is_empty() {
        tags.push(tag(&format!("version:{}", row.version)));
    }
    tags
}

#[derive(Debug, Default)]
struct Totals {
    hits: f64,
    errors: f64,
    duration: f64,
}

impl Totals {
    fn add(&mut self, row: &TraceStatsRow) {
        self.hits += row.hits;
        self.errors += row.errors;
        self.duration += row.duration;
    }
}

/// The latency sketches of some rows, merged.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    pub(crate) ok: LatencySketch,
    pub(crate) all: LatencySketch,
    pub(crate) web: bool,
}

impl Latency {
    pub(crate) fn add(&mut self, row: &TraceStatsRow) {
        // Stored summaries were checked when they arrived; an unreadable one counts as empty.
        let ok = LatencySketch::decode(&row.ok_summary).unwrap_or_default();
        let error = LatencySketch::decode(&row.error_summary).unwrap_or_default();
        self.all.merge(&ok);
        self.all.merge(&error);
        self.ok.merge(&ok);
        self.web |= row.span_type == "web";
    }

    /// (satisfied + tolerating / 2) / all, errors counting as frustrated; `None` without spans.
    pub(crate) fn apdex(&self) -> Option<f64> {
        let total = self.all.count();
        if total <= 0.0 {
            return None;
        }
        let satisfied = self.ok.count_at_most(APDEX_THRESHOLD_NS);
        let tolerating = self.ok.count_at_most(4.0 * APDEX_THRESHOLD_NS) - satisfied;
        Some(((satisfied + tolerating / 2.0) / total).clamp(0.0, 1.0))
    }
}

/// Merges two stored latency summaries (the store's merge function).
pub(crate) fn merge_summaries(stored: &[u8], incoming: &[u8]) -> Vec<u8> {
    if incoming.is_empty() {
        return stored.to_vec();
    }
    if stored.is_empty() {
        return incoming.to_vec();
    }
    let mut merged = LatencySketch::decode(stored).unwrap_or_default();
    merged.merge(&LatencySketch::decode(incoming).unwrap_or_default());
    merged.encode()
}
