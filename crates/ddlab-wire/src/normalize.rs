//! Datadog's intake normalisation of metric names and tags, as a pure step after decoding.
//!
//! The rules are those of `reference/datadog-api.md` §0.5, applied literally:
//! - **metric names** keep ASCII letters, digits, `_` and `.`; every other character becomes `_` (one per
//!   character, not per byte); characters before the first ASCII letter are dropped so the name starts
//!   with a letter; the result is cut to [`MAX_METRIC_NAME`] characters. Case is kept. A name with no
//!   ASCII letter at all cannot be repaired, and its series is dropped.
//! - **tags** are lowercased (Unicode-aware) and cut to [`MAX_TAG`] characters.
//!
//! Choices of ours, where the reference is silent: empty tags and exact duplicates (after normalising)
//! are dropped, keeping the first occurrence; the series' `device` is lowercased with its `device:` tag;
//! `host` is left as sent. Datadog's documentation lists further tag rules (characters outside
//! `[a-z0-9_:./-]` become `_`, a leading non-letter is dropped, runs of `_` are merged, a trailing `:` or
//! `_` is removed) that the reference does not state; they are not applied.
//!
//! Every change is reported in [`Normalized`], so the backend can log it and a test can assert it.

use std::collections::HashSet;
use std::fmt;

use crate::series::{MetricBatch, Series};

/// The longest metric name Datadog keeps, in characters.
pub const MAX_METRIC_NAME: usize = 200;
/// The longest tag Datadog keeps, in characters.
pub const MAX_TAG: usize = 200;

/// What normalising a batch changed, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Normalized {
    pub changes: Vec<Change>,
}

/// One change; `series` is the index in the batch as decoded (before any series was dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    MetricRenamed {
        series: usize,
        from: String,
        to: String,
    },
    Tag {
        series: usize,
        change: TagChange,
    },
    /// The metric name has no ASCII letter to start with.
    SeriesDropped {
        series: usize,
        metric: String,
    },
}

/// What happened to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagChange {
    Rewritten { from: String, to: String },
    Dropped { tag: String, reason: TagDrop },
}

/// Why a tag was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagDrop {
    Empty,
    Duplicate,
}

/// Applies the name and tag rules to every series of `batch`.
pub fn series(batch: MetricBatch) -> (MetricBatch, Normalized) {
    let mut report = Normalized::default();
    let mut kept = Vec::with_capacity(batch.series.len());
    for (index, series) in batch.series.into_iter().enumerate() {
        if let Some(series) = one_series(index, series, &mut report) {
            kept.push(series);
        }
    }
    (MetricBatch { series: kept }, report)
}

/// A metric name normalised, or `None` when it has no ASCII letter to start with.
pub fn metric_name(name: &str) -> Option<String> {
    let start = name.find(|c: char| c.is_ascii_alphabetic())?;
    let normalised = name[start..]
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_METRIC_NAME)
        .collect();
    Some(normalised)
}

/// A tag normalised, or `None` when nothing is left of it.
pub fn tag(tag: &str) -> Option<String> {
    let normalised: String = tag.to_lowercase().chars().take(MAX_TAG).collect();
    (!normalised.is_empty()).then_some(normalised)
}

/// Normalises a list of tags (series, check runs, events), saying what changed.
pub fn tags(tags: Vec<String>) -> (Vec<String>, Vec<TagChange>) {
    let mut changes = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(tags.len());
    for original in tags {
        let Some(new) = tag(&original) else {
            changes.push(TagChange::Dropped {
                tag: original,
                reason: TagDrop::Empty,
            });
            continue;
        };
        if seen.contains(&new) {
            changes.push(TagChange::Dropped {
                tag: original,
                reason: TagDrop::Duplicate,
            });
            continue;
        }
        if new != original {
            changes.push(TagChange::Rewritten {
                from: original,
                to: new.clone(),
            });
        }
        seen.insert(new.clone());
        out.push(new);
    }
    (out, changes)
}

impl Normalized {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::MetricRenamed { series, from, to } => {
                write!(f, "series[{series}]: metric {from:?} renamed to {to:?}")
            }
            Change::Tag { series, change } => write!(f, "series[{series}]: {change}"),
            Change::SeriesDropped { series, metric } => write!(
                f,
                "series[{series}]: dropped: metric name {metric:?} has no letter to start with"
            ),
        }
    }
}

impl fmt::Display for TagChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagChange::Rewritten { from, to } => write!(f, "tag {from:?} rewritten to {to:?}"),
            TagChange::Dropped { tag, reason } => {
                let reason = match reason {
                    TagDrop::Empty => "it is empty",
                    TagDrop::Duplicate => "it repeats another tag",
                };
                write!(f, "tag {tag:?} dropped: {reason}")
            }
        }
    }
}

fn one_series(index: usize, mut series: Series, report: &mut Normalized) -> Option<Series> {
    let Some(name) = metric_name(&series.metric) else {
        report.changes.push(Change::SeriesDropped {
            series: index,
            metric: series.metric,
        });
        return None;
    };
    if name != series.metric {
        report.changes.push(Change::MetricRenamed {
            series: index,
            from: std::mem::replace(&mut series.metric, name.clone()),
            to: name,
        });
    }
    let (tags, changes) = tags(std::mem::take(&mut series.tags));
    series.tags = tags;
    report
        .changes
        .extend(changes.into_iter().map(|change| Change::Tag {
            series: index,
            change,
        }));
    // The device is also a `device:` tag (the `Series` invariant): derive it from the normalised tag so
    // both spellings stay equal, truncation included.
    if let Some(device) = series.device.take() {
        series.device = tag(&format!("device:{device}"))
            .and_then(|t| t.strip_prefix("device:").map(str::to_owned))
            .filter(|d| !d.is_empty());
    }
    Some(series)
}

#[cfg(test)]
mod tests;
