//! The check sampler: one per check instance, committed after every run (`pkg/aggregator/check_sampler.go`
//! and the metric types of `pkg/metrics`).

use std::collections::HashMap;

use ddlab_wire::series::{MetricKind, Point, Series};

use crate::check::{MetricSubmission, SubmissionKind};

use super::histogram::Histogram;
use super::{AggregatorConfig, Context, SeriesSet, Shape};

/// The state of every context of one check instance, and the series committed since the last flush.
#[derive(Debug, Default)]
pub(super) struct CheckSampler {
    contexts: HashMap<(Context, SubmissionKind), Entry>,
    /// Runs committed so far; contexts remember the run that last saw them.
    commits: u64,
    committed: SeriesSet,
}

#[derive(Debug)]
struct Entry {
    metric: Metric,
    last_seen: u64,
    /// Set when the context expired but its state is worth keeping: removed after this time.
    keep_until: Option<f64>,
}

#[derive(Debug)]
enum Metric {
    Gauge(Option<f64>),
    Count(Option<f64>),
    /// `increment`/`decrement`: summed, sent as a rate over the Agent's check interval of 1 s.
    Counter(Option<f64>),
    Rate(Rate),
    MonotonicCount(MonotonicCount),
    Histogram(Histogram),
    Historate {
        histogram: Histogram,
        previous: Option<Sampled>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Sampled {
    value: f64,
    at: f64,
}

#[derive(Debug, Default)]
struct Rate {
    previous: Option<Sampled>,
    current: Option<Sampled>,
}

/// `pkg/metrics/monotonic_count.go`, field for field.
#[derive(Debug, Default)]
struct MonotonicCount {
    previous: f64,
    current: f64,
    sampled_since_flush: bool,
    has_previous: bool,
    value: f64,
    flush_first_value: bool,
}

impl CheckSampler {
    /// Adds one run's submissions and commits them at `now`: series for the next flush, then context
    /// expiry. Returns how many submissions were taken (the others had a non-finite value).
    pub(super) fn commit(
        &mut self,
        submissions: &[MetricSubmission],
        config: &AggregatorConfig,
        now: f64,
    ) -> usize {
        let keyed: Vec<((Context, SubmissionKind), &MetricSubmission)> = submissions
            .iter()
            .filter(|submission| submission.value.is_finite())
            .map(|submission| (key(submission, &config.hostname), submission))
            .collect();
        // A run is timestamped once: of several rate or historate samples of one context, the last counts.
        let last_index: HashMap<&(Context, SubmissionKind), usize> = keyed
            .iter()
            .enumerate()
            .map(|(index, (key, _))| (key, index))
            .collect();
        let last_of_run: Vec<bool> = keyed
            .iter()
            .enumerate()
            .map(|(index, (key, _))| last_index.get(key) == Some(&index))
            .collect();
        let added = keyed.len();
        for ((key, submission), last_of_run) in keyed.into_iter().zip(last_of_run) {
            let entry = self.contexts.entry(key).or_insert_with(|| Entry {
                metric: Metric::new(submission.kind),
                last_seen: 0,
                keep_until: None,
            });
            entry.last_seen = self.commits;
            entry.keep_until = None;
            entry
                .metric
                .add(submission.value, now, submission.flush_first_value, last_of_run);
        }
        for ((context, _), entry) in &mut self.contexts {
            for (suffix, kind, value, at) in entry.metric.flush(config, now) {
                let point = Point {
                    timestamp: at as i64,
                    value,
                };
                self.committed.push(context, &suffix, check_shape(kind), point);
            }
        }
        self.expire(config, now);
        self.commits += 1;
        added
    }

    /// Contexts held, expired stateful ones included.
    pub(super) fn contexts(&self) -> usize {
        self.contexts.len()
    }

    /// The series committed since the last call.
    pub(super) fn take_series(&mut self) -> Vec<Series> {
        std::mem::take(&mut self.committed).into_series().collect()
    }

    /// Contexts unseen for `check_expiry_commits` runs go; the stateful ones wait out
    /// `check_stateful_expiry_seconds` first, in case the metric comes back.
    fn expire(&mut self, config: &AggregatorConfig, now: f64) {
        let commits = self.commits;
        self.contexts.retain(|_, entry| {
            if let Some(until) = entry.keep_until {
                return until >= now;
            }
            if entry.last_seen + config.check_expiry_commits > commits {
                return true;
            }
            if entry.metric.is_stateful() {
                entry.keep_until = Some(now + config.check_stateful_expiry_seconds);
                true
            } else {
                false
            }
        });
    }
}

impl Metric {
    fn new(kind: SubmissionKind) -> Self {
        match kind {
            SubmissionKind::Gauge => Metric::Gauge(None),
            SubmissionKind::Count => Metric::Count(None),
            SubmissionKind::Counter => Metric::Counter(None),
            SubmissionKind::Rate => Metric::Rate(Rate::default()),
            SubmissionKind::MonotonicCount => Metric::MonotonicCount(MonotonicCount::default()),
            SubmissionKind::Histogram => Metric::Histogram(Histogram::default()),
            SubmissionKind::Historate => Metric::Historate {
                histogram: Histogram::default(),
                previous: None,
            },
        }
    }

    /// Metrics whose next value depends on the previous run.
    fn is_stateful(&self) -> bool {
        matches!(
            self,
            Metric::Rate(_) | Metric::MonotonicCount(_) | Metric::Historate { .. }
        )
    }

    /// `last_of_run` is false for a rate or historate sample that a later one of the same run replaces.
    fn add(&mut self, value: f64, now: f64, flush_first_value: bool, last_of_run: bool) {
        match self {
            Metric::Gauge(last) => *last = Some(value),
            Metric::Count(sum) | Metric::Counter(sum) => *sum = Some(sum.unwrap_or(0.0) + value),
            Metric::Rate(rate) => {
                if last_of_run {
                    rate.add(Sampled { value, at: now });
                }
            }
            Metric::MonotonicCount(count) => count.add(value, flush_first_value),
            Metric::Histogram(histogram) => histogram.add(value, 1.0),
            Metric::Historate { histogram, previous } => {
                if !last_of_run {
                    return;
                }
                if let Some(before) = previous
                    && now > before.at
                {
                    histogram.add((value - before.value) / (now - before.at), 1.0);
                }
                *previous = Some(Sampled { value, at: now });
            }
        }
    }

    /// The series of this commit as (suffix, type, value, timestamp).
    fn flush(&mut self, config: &AggregatorConfig, now: f64) -> Vec<(String, MetricKind, f64, f64)> {
        let single = |kind, value| vec![(String::new(), kind, value, now)];
        match self {
            Metric::Gauge(last) => last
                .take()
                .map_or_else(Vec::new, |v| single(MetricKind::Gauge, v)),
            Metric::Count(sum) => sum.take().map_or_else(Vec::new, |v| single(MetricKind::Count, v)),
            Metric::Counter(sum) => sum.take().map_or_else(Vec::new, |v| single(MetricKind::Rate, v)),
            Metric::Rate(rate) => rate.flush().map_or_else(Vec::new, |(value, at)| {
                vec![(String::new(), MetricKind::Gauge, value, at)]
            }),
            Metric::MonotonicCount(count) => count
                .flush()
                .map_or_else(Vec::new, |v| single(MetricKind::Count, v)),
            Metric::Histogram(histogram) | Metric::Historate { histogram, .. } => {
                if histogram.is_empty() {
                    return Vec::new();
                }
                histogram
                    .flush(&config.histogram, 1.0)
                    .into_iter()
                    .map(|r| (r.suffix, r.kind, r.value, now))
                    .collect()
            }
        }
    }
}

impl Rate {
    fn add(&mut self, sample: Sampled) {
        if self.current.is_some() {
            self.previous = self.current;
        }
        self.current = Some(sample);
    }

    /// (v − v₀) / (t − t₀) at the current sample's time; nothing on the first run, for two samples at the
    /// same time, or for a negative rate (a reset counter).
    fn flush(&mut self) -> Option<(f64, f64)> {
        let (Some(previous), Some(current)) = (self.previous, self.current) else {
            return None;
        };
        if current.at == previous.at {
            return None;
        }
        let rate = (current.value - previous.value) / (current.at - previous.at);
        self.previous = Some(current);
        self.current = None;
        (rate >= 0.0).then_some((rate, current.at))
    }
}

impl MonotonicCount {
    fn add(&mut self, value: f64, flush_first_value: bool) {
        if self.sampled_since_flush {
            self.previous = self.current;
            self.current = value;
            self.has_previous = true;
        } else {
            self.current = value;
            self.sampled_since_flush = true;
        }
        self.flush_first_value = flush_first_value;
        let diff = self.current - self.previous;
        if (self.has_previous || self.flush_first_value) && diff >= 0.0 {
            self.value += diff;
        } else if self.flush_first_value {
            self.value = self.current;
        }
    }

    fn flush(&mut self) -> Option<f64> {
        if !self.sampled_since_flush || !(self.has_previous || self.flush_first_value) {
            return None;
        }
        let value = self.value;
        self.previous = self.current;
        self.current = 0.0;
        self.value = 0.0;
        self.has_previous = true;
        self.sampled_since_flush = false;
        self.flush_first_value = false;
        Some(value)
    }
}

/// The context of a submission: an empty or missing hostname is the agent's.
fn key(submission: &MetricSubmission, default_host: &str) -> (Context, SubmissionKind) {
    let host = submission
        .hostname
        .as_deref()
        .filter(|h| !h.is_empty())
        .unwrap_or(default_host);
    let context = Context::new(
        submission.name.clone(),
        submission.tags.iter().cloned(),
        Some(host.to_owned()),
    );
    (context, submission.kind)
}

fn check_shape(kind: MetricKind) -> Shape {
    Shape {
        kind,
        interval: None,
        unit: None,
        source_type_name: Some("System"),
    }
}
