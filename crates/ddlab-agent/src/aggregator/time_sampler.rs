//! DogStatsD's time sampler: samples in 10 s buckets by arrival time, flushed once a bucket has closed
//! (`pkg/aggregator/time_sampler.go`), and the no-aggregation path for timestamped samples.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ddlab_wire::dogstatsd::Sample;
use ddlab_wire::series::{MetricKind, Point, Series};

use super::histogram::Histogram;
use super::{AggregatorConfig, BUCKET_SECONDS, Context, SeriesSet, Shape};

/// Buckets by start time, counters that still owe zeros, and timestamped samples waiting for a flush.
#[derive(Debug, Default)]
pub(super) struct TimeSampler {
    buckets: BTreeMap<i64, HashMap<Key, Value>>,
    /// Every counter context with the time of its last real sample.
    counters: HashMap<Context, f64>,
    last_cutoff: i64,
    timestamped: SeriesSet,
}

/// A context and what it aggregates as: the same name sent as a gauge and as a counter is two series.
type Key = (Context, Kind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Gauge,
    Counter,
    Set,
    /// `h` and `ms` (the Agent treats both as histograms).
    Histogram,
    Distribution,
}

#[derive(Debug)]
enum Value {
    Gauge(f64),
    Counter(f64),
    Set(BTreeSet<String>),
    Histogram {
        histogram: Histogram,
        /// `millisecond` once an `ms` sample arrived.
        unit: Option<&'static str>,
    },
}

impl TimeSampler {
    /// Adds the values of one line, received at `now`, to the bucket `now` falls in. Non-finite values
    /// are dropped and a sample rate outside (0, 1] counts as 1, as the Agent does; the parser lets
    /// neither through, but a message built in code might.
    pub(super) fn add(&mut self, context: Context, sample: &Sample, sample_rate: f64, now: f64) {
        let start = bucket_start(now);
        let sample_rate = if sample_rate > 0.0 && sample_rate <= 1.0 {
            sample_rate
        } else {
            1.0
        };
        let values: Vec<f64> = sample
            .values()
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let kind = match sample {
            Sample::Gauge(_) => Kind::Gauge,
            Sample::Count(_) => Kind::Counter,
            Sample::Set(_) => Kind::Set,
            Sample::Histogram(_) | Sample::Timer(_) => Kind::Histogram,
            Sample::Distribution(_) => Kind::Distribution,
        };
        if kind != Kind::Set && values.is_empty() {
            return;
        }
        if kind == Kind::Counter {
            self.counters.insert(context.clone(), now);
        }
        let value = self
            .buckets
            .entry(start)
            .or_default()
            .entry((context, kind))
            .or_insert_with(|| match kind {
                Kind::Gauge => Value::Gauge(0.0),
                Kind::Counter => Value::Counter(0.0),
                Kind::Set => Value::Set(BTreeSet::new()),
                Kind::Histogram | Kind::Distribution => Value::Histogram {
                    histogram: Histogram::default(),
                    unit: None,
                },
            });
        match value {
            Value::Gauge(last) => {
                if let Some(value) = values.last() {
                    *last = *value;
                }
            }
            Value::Counter(sum) => *sum += values.iter().map(|v| v / sample_rate).sum::<f64>(),
            Value::Set(members) => {
                if let Sample::Set(member) = sample {
                    members.insert(member.clone());
                }
            }
            Value::Histogram { histogram, unit } => {
                if matches!(sample, Sample::Timer(_)) {
                    *unit = Some("millisecond");
                }
                for value in values {
                    histogram.add(value, sample_rate);
                }
            }
        }
    }

    /// A sample that carries its own timestamp bypasses the buckets: gauges go out as they are, counts as
    /// rates over the bucket length. Returns false for the types that path cannot send.
    pub(super) fn add_timestamped(&mut self, context: Context, sample: &Sample, timestamp: i64) -> bool {
        let (kind, divisor) = match sample {
            Sample::Gauge(_) => (MetricKind::Gauge, 1.0),
            Sample::Count(_) => (MetricKind::Rate, BUCKET_SECONDS as f64),
            _ => return false,
        };
        let shape = dogstatsd_shape(kind, None);
        for value in sample.values().iter().filter(|v| v.is_finite()) {
            let point = Point {
                timestamp,
                value: value / divisor,
            };
            self.timestamped.push(&context, "", shape, point);
        }
        true
    }

    /// Series for every bucket closed at `now` (or every bucket, with `all`), and the timestamped samples.
    pub(super) fn flush(&mut self, now: f64, all: bool, config: &AggregatorConfig) -> Vec<Series> {
        let cutoff = bucket_start(now);
        let mut out = SeriesSet::default();
        let mut expired = Vec::new();
        let closed: Vec<i64> = self
            .buckets
            .keys()
            .copied()
            .filter(|start| all || start + BUCKET_SECONDS <= cutoff)
            .collect();
        if !self.buckets.is_empty() {
            for start in closed {
                let mut bucket = self.buckets.remove(&start).unwrap_or_default();
                self.counters_owe_zero(start, &mut bucket, &mut expired, config);
                flush_bucket(start, bucket, &mut out, config);
            }
        } else if self.last_cutoff + BUCKET_SECONDS <= cutoff {
            // Nothing arrived, but a bucket has passed: idle counters still report their zero.
            let start = cutoff - BUCKET_SECONDS;
            let mut bucket = HashMap::new();
            self.counters_owe_zero(start, &mut bucket, &mut expired, config);
            flush_bucket(start, bucket, &mut out, config);
        }
        for context in expired {
            self.counters.remove(&context);
        }
        self.last_cutoff = cutoff;
        let timestamped = std::mem::take(&mut self.timestamped);
        out.into_series().chain(timestamped.into_series()).collect()
    }

    pub(super) fn contexts(&self) -> usize {
        let mut keys: BTreeSet<&Context> = self.counters.keys().collect();
        for bucket in self.buckets.values() {
            keys.extend(bucket.keys().map(|(context, _)| context));
        }
        keys.len()
    }

    /// Adds a zero to every counter not yet expired at `start`, so it is flushed even without samples;
    /// collects the expired ones.
    fn counters_owe_zero(
        &self,
        start: i64,
        bucket: &mut HashMap<Key, Value>,
        expired: &mut Vec<Context>,
        config: &AggregatorConfig,
    ) {
        for (context, last_sampled) in &self.counters {
            if last_sampled + config.dogstatsd_expiry_seconds > start as f64 {
                bucket
                    .entry((context.clone(), Kind::Counter))
                    .or_insert(Value::Counter(0.0));
            } else {
                expired.push(context.clone());
            }
        }
    }
}

fn flush_bucket(start: i64, bucket: HashMap<Key, Value>, out: &mut SeriesSet, config: &AggregatorConfig) {
    for ((context, _), value) in bucket {
        let mut push = |suffix: &str, kind: MetricKind, unit: Option<&'static str>, value: f64| {
            let point = Point {
                timestamp: start,
                value,
            };
            out.push(&context, suffix, dogstatsd_shape(kind, unit), point);
        };
        match value {
            Value::Gauge(last) => push("", MetricKind::Gauge, None, last),
            Value::Counter(sum) => push("", MetricKind::Rate, None, sum / BUCKET_SECONDS as f64),
            Value::Set(members) => push("", MetricKind::Gauge, None, members.len() as f64),
            Value::Histogram { mut histogram, unit } => {
                for reduced in histogram.flush(&config.histogram, BUCKET_SECONDS as f64) {
                    // Counts are dimensionless.
                    let unit = unit.filter(|_| reduced.kind != MetricKind::Rate);
                    push(&reduced.suffix, reduced.kind, unit, reduced.value);
                }
            }
        }
    }
}

fn dogstatsd_shape(kind: MetricKind, unit: Option<&'static str>) -> Shape {
    Shape {
        kind,
        interval: Some(BUCKET_SECONDS as u32),
        unit,
        source_type_name: None,
    }
}

/// The start of the 10 s bucket holding `now`.
fn bucket_start(now: f64) -> i64 {
    let seconds = now.floor() as i64;
    seconds - seconds.rem_euclid(BUCKET_SECONDS)
}
