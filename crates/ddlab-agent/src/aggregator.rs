//! The Agent's aggregator: DogStatsD samples in 10 s time buckets, check submissions per check run, and
//! the flush that turns both into the series, events and service checks the forwarder sends.
//!
//! Everything here is pure: the caller passes `now` (Unix seconds, fractional) and gets values back. The
//! semantics are the Agent 7 ones, read in `pkg/aggregator` and `pkg/metrics` of datadog-agent:
//!
//! **DogStatsD** ([`Aggregator::add_dogstatsd`]), per context and 10 s bucket, flushed once the bucket
//! has closed, every series with `interval: 10` and the bucket start as its timestamp:
//!
//! | type | aggregation | sent as |
//! | --- | --- | --- |
//! | `g` | last value | gauge |
//! | `c` | sum of `value / sample_rate` | **rate**, value = sum / 10 (`pkg/metrics/counter.go`) |
//! | `s` | number of distinct members | gauge |
//! | `h`, `ms` | histogram: `histogram_aggregates` + `histogram_percentiles`, weighted by 1 / sample rate | gauges, `.count` a rate (count / 10); `ms` series carry unit `millisecond` |
//! | `d` | **our choice**: as `h` (see below) | as `h` |
//!
//! A counter keeps reporting 0 for every flushed bucket until `dogstatsd_expiry_seconds` (300 s) after
//! its last sample, as the Agent does, so a graph of a quiet counter drops to zero instead of stopping.
//! As in the Agent, a flush that finds no bucket at all sends that zero for one bucket only (the one
//! before `now`), however many have passed since the previous flush.
//! Lines with a `|T` timestamp skip aggregation (the Agent's no-aggregation pipeline): a gauge is sent
//! as is, a count as a rate (value / 10, sample rate not applied), other types are discarded.
//!
//! Distributions: the Agent turns `d` samples into DDSketches for `/api/beta/sketches`, which the lab's
//! backend accepts but does not store. So that `d` metrics are still visible, this aggregator flushes
//! them like histograms (`<name>.avg`, `.max`, `.count`…), under the configured aggregates and
//! percentiles. This is a known divergence: in Datadog a distribution is queried by its bare name
//! (`avg:<name>`, `p95:<name>`) and the suffixed names do not exist.
//!
//! Tags: the `host:<name>` tag sets the series' host and is removed (an empty one means no host);
//! `dd.internal.entity_id:`, `dd.internal.card:` (origin detection) and `dd.internal.jmx_check_name:` are
//! removed; `dogstatsd_tags` are appended. Events and service checks get the same treatment, their own
//! `h:` field winning over a `host:` tag. Host tags (`tags`, `env`/`DD_ENV`) are *not* added: the Agent sends them once, in host
//! metadata, and the backend joins them by hostname. (`env:` on DogStatsD series comes from the client,
//! which adds `DD_ENV` itself.)
//!
//! **Checks** ([`Aggregator::commit_check_run`]): one sampler per check instance; each run's submissions
//! are committed at `now`, and the series wait for the next flush. Series carry no interval and
//! `source_type_name: System`, like the Agent's.
//!
//! | submission | series at each commit | type |
//! | --- | --- | --- |
//! | `gauge` | last value | gauge |
//! | `count` | sum | count |
//! | `monotonic_count` | sum of increases since the previous run; a decrease is a reset and counts nothing (with `flush_first_value`, the first value and the value after a reset are sent as is) | count |
//! | `increment`/`decrement` (counter) | sum (the Agent's check interval is 1 s) | rate |
//! | `rate` | (v − v₀) / (t − t₀) against the previous run; the first run sends nothing, a negative rate is dropped | gauge |
//! | `histogram` | aggregates and percentiles; `.count` is the number of samples | gauges, `.count` a rate |
//! | `historate` | a histogram of the per-run rates | as `histogram` |
//!
//! Where a run submits the same `rate` or `historate` context twice, the last value wins: runs are
//! timestamped once, so two samples of one run have no time between them. (The Agent timestamps each
//! call and would divide by microseconds.) Unlike the Agent, a historate keeps its previous value across
//! flushes, so it sends a rate every run rather than every other run.
//!
//! Contexts (name, sorted and de-duplicated tags, host) of a check expire after
//! `check_sampler_bucket_commits_count_expiry` (2) runs without a sample; the state of rates, monotonic
//! counts and historates is kept for `check_sampler_stateful_metric_expiration_time` (25 h) more, so an
//! intermittent metric does not restart from nothing. Non-finite values are dropped, as the Agent drops
//! them.
//!
//! **Boundary:** `datadog.agent.running`, `datadog.agent.up` and `datadog.agent.check_status` are the
//! runtime's to add; this module only aggregates what it is given.

mod check_sampler;
mod histogram;
mod time_sampler;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ddlab_wire::check_run::CheckRun;
use ddlab_wire::dogstatsd::Message;
use ddlab_wire::events::Event;
use ddlab_wire::series::{MetricBatch, MetricKind, Point, Series};

use crate::check::CheckOutput;
use crate::config::AgentConfig;

use check_sampler::CheckSampler;
use time_sampler::TimeSampler;

/// The DogStatsD bucket length, in seconds.
pub const BUCKET_SECONDS: i64 = 10;

/// How the aggregator behaves; [`AggregatorConfig::new`] gives the Agent's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorConfig {
    /// The agent's hostname: the host of every series, event and service check that names none.
    pub hostname: String,
    /// `histogram_aggregates` and `histogram_percentiles`.
    pub histogram: HistogramConfig,
    /// `dogstatsd_tags`: appended to every DogStatsD metric, event and service check; default none.
    pub dogstatsd_tags: Vec<String>,
    /// `dogstatsd_expiry_seconds`: how long an idle DogStatsD counter keeps sending 0; default 300.
    pub dogstatsd_expiry_seconds: f64,
    /// `check_sampler_bucket_commits_count_expiry`: runs without a sample before a check context
    /// expires; default 2.
    pub check_expiry_commits: u64,
    /// `check_sampler_stateful_metric_expiration_time`: how long an expired rate or monotonic count keeps
    /// its previous value, in seconds; default 25 h.
    pub check_stateful_expiry_seconds: f64,
}

/// What a histogram flushes: `histogram_aggregates` in order, then `histogram_percentiles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramConfig {
    /// Default `max median avg count`.
    pub aggregates: Vec<Aggregate>,
    /// Whole percents in 1..=100, ascending; default `[95]` (from `0.95`).
    pub percentiles: Vec<u8>,
}

/// A histogram aggregate, named as in `histogram_aggregates` and in the series suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregate {
    Max,
    Min,
    Median,
    Avg,
    Sum,
    Count,
}

/// A metric context: the Agent's key for aggregation.
///
/// **Invariant:** `tags` are sorted and de-duplicated, so two submissions that differ only in tag order
/// are one context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Context {
    pub name: String,
    pub tags: Vec<String>,
    pub host: Option<String>,
}

/// What one flush hands to the forwarder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flush {
    /// DogStatsD series first, then timestamped DogStatsD metrics, then the checks' series.
    pub series: MetricBatch,
    /// Events in arrival order, each with a host and a `date_happened`.
    pub events: Vec<Event>,
    /// Service checks in arrival order, each with a host and a timestamp.
    pub service_checks: Vec<CheckRun>,
}

/// Counters for `status`: totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AggregatorStats {
    /// DogStatsD metric samples added (one per value of a packed line).
    pub dogstatsd_samples: u64,
    /// Timestamped DogStatsD samples of a type the no-aggregation path cannot send (`h ms s d`).
    pub dogstatsd_discarded: u64,
    /// Check metric submissions added (non-finite values excluded).
    pub check_samples: u64,
    /// Check submissions dropped for a value that is NaN or infinite.
    pub check_non_finite: u64,
    pub series_flushed: u64,
    pub events_flushed: u64,
    pub service_checks_flushed: u64,
}

/// The aggregator: DogStatsD's time sampler, one sampler per check, and the events and service checks
/// waiting for the next flush.
#[derive(Debug)]
pub struct Aggregator {
    config: AggregatorConfig,
    dogstatsd: TimeSampler,
    checks: BTreeMap<String, CheckSampler>,
    /// Committed series of checks forgotten since the last flush.
    forgotten: Vec<Series>,
    events: Vec<Event>,
    service_checks: Vec<CheckRun>,
    stats: AggregatorStats,
}

/// An [`Aggregator`] shared by the DogStatsD server, the check runners and the flush loop.
#[derive(Debug, Clone)]
pub struct AggregatorHandle {
    inner: Arc<Mutex<Aggregator>>,
}

impl AggregatorConfig {
    /// The Agent's defaults, for a host named `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        AggregatorConfig {
            hostname: hostname.into(),
            histogram: HistogramConfig::default(),
            dogstatsd_tags: Vec::new(),
            dogstatsd_expiry_seconds: 300.0,
            check_expiry_commits: 2,
            check_stateful_expiry_seconds: 25.0 * 3600.0,
        }
    }

    /// Reads `histogram_aggregates`, `histogram_percentiles`, `dogstatsd_tags` and
    /// `dogstatsd_expiry_seconds` from the agent's configuration. Histogram values
    /// the Agent would skip are skipped too, each with a warning naming the key.
    pub fn from_agent_config(config: &AgentConfig, hostname: impl Into<String>) -> (Self, Vec<String>) {
        let (histogram, warnings) =
            HistogramConfig::parse(&config.histogram_aggregates, &config.histogram_percentiles);
        let aggregator = AggregatorConfig {
            histogram,
            dogstatsd_tags: config.dogstatsd.tags.clone(),
            dogstatsd_expiry_seconds: config.dogstatsd.expiry_seconds,
            ..AggregatorConfig::new(hostname)
        };
        (aggregator, warnings)
    }
}

impl Default for HistogramConfig {
    fn default() -> Self {
        HistogramConfig {
            aggregates: vec![
                Aggregate::Max,
                Aggregate::Median,
                Aggregate::Avg,
                Aggregate::Count,
            ],
            percentiles: vec![95],
        }
    }
}

impl HistogramConfig {
    /// Reads the two config keys: aggregate names, and percentiles as fractions in [0, 1] rounded to whole
    /// percents (`0.95` → 95), as the Agent does. Unknown names, out-of-range fractions and 0 are skipped
    /// with a warning.
    pub fn parse(aggregates: &[String], percentiles: &[f64]) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut names = Vec::new();
        for name in aggregates {
            match Aggregate::from_name(name) {
                Some(aggregate) if !names.contains(&aggregate) => names.push(aggregate),
                Some(_) => {}
                None => warnings.push(format!(
                    "histogram_aggregates: '{name}' is not one of max, min, median, avg, sum, count; skipped"
                )),
            }
        }
        let mut percents = BTreeSet::new();
        for fraction in percentiles {
            let percent = (fraction * 100.0 + 0.5).floor();
            if (0.0..=1.0).contains(fraction) && percent >= 1.0 {
                // In 1..=100 by the check above, so the cast is exact.
                percents.insert(percent as u8);
            } else {
                warnings.push(format!(
                    "histogram_percentiles: {fraction} is not a fraction between 0.01 and 1 (0.95 is the 95th percentile); skipped"
                ));
            }
        }
        let config = HistogramConfig {
            aggregates: names,
            percentiles: percents.into_iter().collect(),
        };
        (config, warnings)
    }
}

impl Aggregate {
    pub const ALL: [Aggregate; 6] = [
        Aggregate::Max,
        Aggregate::Min,
        Aggregate::Median,
        Aggregate::Avg,
        Aggregate::Sum,
        Aggregate::Count,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Median => "median",
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Aggregate::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl Context {
    /// A context with its tags sorted and de-duplicated.
    pub fn new(
        name: impl Into<String>,
        tags: impl IntoIterator<Item = String>,
        host: Option<String>,
    ) -> Self {
        let mut tags: Vec<String> = tags.into_iter().collect();
        tags.sort_unstable();
        tags.dedup();
        Context {
            name: name.into(),
            tags,
            host,
        }
    }
}

impl Aggregator {
    pub fn new(config: AggregatorConfig) -> Self {
        Aggregator {
            config,
            dogstatsd: TimeSampler::default(),
            checks: BTreeMap::new(),
            forgotten: Vec::new(),
            events: Vec::new(),
            service_checks: Vec::new(),
            stats: AggregatorStats::default(),
        }
    }

    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    pub fn stats(&self) -> AggregatorStats {
        self.stats
    }

    /// Takes one parsed DogStatsD message received at `now`: metrics go to their bucket, events and
    /// service checks wait for the next flush.
    pub fn add_dogstatsd(&mut self, message: Message, now: f64) {
        match message {
            Message::Metric(metric) => {
                let (tags, host) = self.dogstatsd_tags(metric.tags);
                let context = Context::new(metric.name, tags, host);
                let count = metric.sample.count() as u64;
                self.stats.dogstatsd_samples += count;
                match metric.timestamp {
                    None => self
                        .dogstatsd
                        .add(context, &metric.sample, metric.sample_rate, now),
                    Some(timestamp) => {
                        if !self.dogstatsd.add_timestamped(context, &metric.sample, timestamp) {
                            self.stats.dogstatsd_discarded += count;
                        }
                    }
                }
            }
            Message::Event(mut event) => {
                let (tags, host) = self.dogstatsd_tags(std::mem::take(&mut event.tags));
                event.tags = tags;
                event.host = event.host.or(host);
                event.date_happened = Some(event.date_happened.unwrap_or(now as i64));
                self.events.push(event);
            }
            Message::ServiceCheck(mut check) => {
                let (tags, host) = self.dogstatsd_tags(std::mem::take(&mut check.tags));
                check.tags = tags;
                // `h:` wins over a `host:` tag; an empty `host:` tag leaves the check without a host.
                check.hostname = Some(check.hostname.or(host).unwrap_or_default());
                let run = check.into_check_run(&self.config.hostname, now as i64);
                self.service_checks.push(run);
            }
        }
    }

    /// Commits one run of the check instance `check_id`, finished at `now`: its metrics are aggregated
    /// into series, its service checks and events queued, all for the next flush.
    pub fn commit_check_run(&mut self, check_id: &str, output: &CheckOutput, now: f64) {
        let sampler = self.checks.entry(check_id.to_owned()).or_default();
        let added = sampler.commit(&output.metrics, &self.config, now);
        self.stats.check_samples += added as u64;
        self.stats.check_non_finite += (output.metrics.len() - added) as u64;
        for check in &output.service_checks {
            self.service_checks.push(CheckRun {
                check: check.name.clone(),
                host_name: self.host_or_default(check.hostname.as_deref()),
                status: check.status,
                timestamp: Some(now as i64),
                message: check.message.clone(),
                tags: check.tags.clone(),
            });
        }
        for event in &output.events {
            let mut event = event.clone();
            event.host = Some(self.host_or_default(event.host.as_deref()));
            event.date_happened = Some(event.date_happened.unwrap_or(now as i64));
            self.events.push(event);
        }
    }

    /// Drops the sampler of a check instance that was unscheduled; its committed series still go out
    /// with the next flush.
    pub fn forget_check(&mut self, check_id: &str) {
        if let Some(mut sampler) = self.checks.remove(check_id) {
            self.forgotten.extend(sampler.take_series());
        }
    }

    /// Everything ready at `now`: closed DogStatsD buckets, timestamped DogStatsD metrics, committed
    /// check series, and the queued events and service checks. Call it every 15 s.
    pub fn flush(&mut self, now: f64) -> Flush {
        let series = self.dogstatsd.flush(now, false, &self.config);
        self.finish_flush(series)
    }

    /// Like [`Aggregator::flush`], but also flushes the DogStatsD buckets that are still open: for
    /// shutdown, so nothing received is lost.
    pub fn flush_all(&mut self, now: f64) -> Flush {
        let series = self.dogstatsd.flush(now, true, &self.config);
        self.finish_flush(series)
    }

    /// DogStatsD contexts held: in unflushed buckets, plus counters still reporting zeros.
    pub fn dogstatsd_contexts(&self) -> usize {
        self.dogstatsd.contexts()
    }

    /// Check contexts held, over every check instance (expired ones kept for their state included).
    pub fn check_contexts(&self) -> usize {
        self.checks.values().map(CheckSampler::contexts).sum()
    }

    fn finish_flush(&mut self, mut series: Vec<Series>) -> Flush {
        series.append(&mut self.forgotten);
        for sampler in self.checks.values_mut() {
            series.extend(sampler.take_series());
        }
        let flush = Flush {
            series: MetricBatch { series },
            events: std::mem::take(&mut self.events),
            service_checks: std::mem::take(&mut self.service_checks),
        };
        self.stats.series_flushed += flush.series.series.len() as u64;
        self.stats.events_flushed += flush.events.len() as u64;
        self.stats.service_checks_flushed += flush.service_checks.len() as u64;
        flush
    }

    /// The Agent's enrichment of DogStatsD tags: `host:` picks the host (empty: none) and origin-detection
    /// tags go; `dogstatsd_tags` are appended. Without a `host:` tag the host is the agent's.
    fn dogstatsd_tags(&self, tags: Vec<String>) -> (Vec<String>, Option<String>) {
        let mut host = Some(self.config.hostname.clone());
        let mut kept = Vec::with_capacity(tags.len() + self.config.dogstatsd_tags.len());
        for tag in tags {
            if let Some(name) = tag.strip_prefix("host:") {
                host = (!name.is_empty()).then(|| name.to_owned());
            } else if !ORIGIN_TAGS.iter().any(|prefix| tag.starts_with(prefix)) {
                kept.push(tag);
            }
        }
        kept.extend(self.config.dogstatsd_tags.iter().cloned());
        (kept, host)
    }

    fn host_or_default(&self, host: Option<&str>) -> String {
        host.filter(|h| !h.is_empty())
            .unwrap_or(&self.config.hostname)
            .to_owned()
    }
}

impl AggregatorHandle {
    pub fn new(aggregator: Aggregator) -> Self {
        AggregatorHandle {
            inner: Arc::new(Mutex::new(aggregator)),
        }
    }

    /// The aggregator, locked. Hold it briefly and never across an `.await`. A panic while it was held
    /// leaves the data as it was, so a poisoned lock is used anyway.
    pub fn lock(&self) -> MutexGuard<'_, Aggregator> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Aggregator::flush`] through the handle.
    pub fn flush(&self, now: f64) -> Flush {
        self.lock().flush(now)
    }

    /// [`Aggregator::commit_check_run`] through the handle.
    pub fn commit_check_run(&self, check_id: &str, output: &CheckOutput, now: f64) {
        self.lock().commit_check_run(check_id, output, now);
    }
}

/// Tags DogStatsD clients send for origin detection, which the Agent consumes instead of forwarding.
const ORIGIN_TAGS: [&str; 3] = [
    "dd.internal.entity_id:",
    "dd.internal.card:",
    "dd.internal.jmx_check_name:",
];

/// Merges points into one series per (name, tags, host, type), the way a flush sends each context once.
#[derive(Debug, Default)]
struct SeriesSet {
    series: BTreeMap<(String, Vec<String>, Option<String>, i32), Series>,
}

/// The fields of a series that are not its context or points.
#[derive(Debug, Clone, Copy)]
struct Shape {
    kind: MetricKind,
    interval: Option<u32>,
    unit: Option<&'static str>,
    source_type_name: Option<&'static str>,
}

impl SeriesSet {
    fn push(&mut self, context: &Context, suffix: &str, shape: Shape, point: Point) {
        let name = format!("{}{suffix}", context.name);
        let key = (
            name,
            context.tags.clone(),
            context.host.clone(),
            shape.kind.v2_code(),
        );
        let series = self.series.entry(key).or_insert_with(|| Series {
            metric: format!("{}{suffix}", context.name),
            kind: shape.kind,
            host: context.host.clone(),
            tags: context.tags.clone(),
            interval: shape.interval,
            unit: shape.unit.map(str::to_owned),
            source_type_name: shape.source_type_name.map(str::to_owned),
            // The Agent sends a `device:` tag as the series' device resource.
            device: context
                .tags
                .iter()
                .find_map(|t| t.strip_prefix("device:"))
                .map(str::to_owned),
            points: Vec::new(),
        });
        series.points.push(point);
    }

    fn into_series(self) -> impl Iterator<Item = Series> {
        self.series.into_values()
    }
}

#[cfg(test)]
mod tests;
