//! The Agent's histogram: weighted samples over one flush period, reduced to the configured aggregates
//! and percentiles (`pkg/metrics/histogram.go`).

use ddlab_wire::series::MetricKind;

use super::{Aggregate, HistogramConfig};

/// Samples with their weights (1 / sample rate); empty after every flush.
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    samples: Vec<Weighted>,
    count: f64,
}

#[derive(Debug, Clone, Copy)]
struct Weighted {
    value: f64,
    weight: f64,
}

/// One series a histogram flush yields: a name suffix (`.max`, `.95percentile`), its type and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reduced {
    pub(crate) suffix: String,
    pub(crate) kind: MetricKind,
    pub(crate) value: f64,
}

impl Histogram {
    /// Adds a value seen once in every `1 / sample_rate` events; `sample_rate` is in (0, 1].
    pub(crate) fn add(&mut self, value: f64, sample_rate: f64) {
        let weight = 1.0 / sample_rate;
        self.samples.push(Weighted { value, weight });
        self.count += weight;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The aggregates in configured order, then the percentiles in ascending order; `interval` is what
    /// `.count` is divided by (the 10 s bucket for DogStatsD, 1 for checks). Empties the histogram.
    pub(crate) fn flush(&mut self, config: &HistogramConfig, interval: f64) -> Vec<Reduced> {
        let mut samples = std::mem::take(&mut self.samples);
        let count = std::mem::take(&mut self.count);
        if samples.is_empty() {
            return Vec::new();
        }
        samples.sort_by(|a, b| a.value.total_cmp(&b.value));
        let mut out = Vec::with_capacity(config.aggregates.len() + config.percentiles.len());
        for aggregate in &config.aggregates {
            let (kind, value) = match aggregate {
                Aggregate::Max => (MetricKind::Gauge, samples[samples.len() - 1].value),
                Aggregate::Min => (MetricKind::Gauge, samples[0].value),
                Aggregate::Median => (MetricKind::Gauge, rank(&samples, (count - 1.0) / 2.0)),
                Aggregate::Avg => (MetricKind::Gauge, sum(&samples) / count),
                Aggregate::Sum => (MetricKind::Gauge, sum(&samples)),
                Aggregate::Count => (MetricKind::Rate, count / interval),
            };
            out.push(Reduced {
                suffix: format!(".{}", aggregate.name()),
                kind,
                value,
            });
        }
        for percentile in &config.percentiles {
            let target = (f64::from(*percentile) * count - 1.0) / 100.0;
            out.push(Reduced {
                suffix: format!(".{percentile}percentile"),
                kind: MetricKind::Gauge,
                value: rank(&samples, target),
            });
        }
        out
    }
}

/// The first sorted sample whose cumulative weight passes `target`, as the Agent picks ranks.
fn rank(sorted: &[Weighted], target: f64) -> f64 {
    let mut weight = 0.0;
    for sample in sorted {
        weight += sample.weight;
        if weight > target {
            return sample.value;
        }
    }
    sorted.last().map_or(0.0, |s| s.value)
}

fn sum(samples: &[Weighted]) -> f64 {
    samples.iter().map(|s| s.value * s.weight).sum()
}
