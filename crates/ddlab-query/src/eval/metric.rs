//! The first stage of evaluation: one metric query's stored series, aggregated in time then in space.
//!
//! Time aggregation, per stored series and bucket:
//!
//! | kind            | no modifier | `.as_count()` | `.as_rate()`                               |
//! |-----------------|-------------|---------------|--------------------------------------------|
//! | gauge, unknown  | avg         | avg           | avg                                        |
//! | count           | sum         | sum           | sum / max(bucket, submission interval)     |
//! | rate            | avg         | sum × submission interval | sum                            |
//!
//! `.rollup(method)` replaces the method (a count read `.as_rate()` is still divided, a rate read
//! `.as_count()` still multiplied: a rate is per second, so the count a point stands for is its value
//! times its submission interval, as Datadog's type-modifier guide describes). Dividing by the
//! submission interval when it is longer than the bucket keeps a fine bucket from inflating a
//! rate: Datadog does not normalise when no time aggregation happens.
//!
//! Space aggregation, per `by {...}` group: the series are aligned on the union of their buckets
//! (the whole window with `.fill()`), then combined with the space aggregator (avg when none).
//! Alignment fills a series' missing bucket with:
//! - 0 for count-like series (counts, and rates read with `.as_count()`/`.as_rate()`);
//! - with `.fill(method, limit)`, zero, the last value or a linear interpolation when the gap between
//!   the surrounding points is at most `limit` seconds (`null` disables filling);
//! - otherwise, when the group has several series, a linear interpolation across gaps of at most
//!   300 s, as Datadog does to align sources that report at different times.
//!
//! Percentile aggregators (`p95:`) take the percentile of every stored point of the group in the
//! bucket: the stored points stand in for a distribution's samples.
//!
//! `.weighted()` is accepted and has no further effect: a bucket's average already counts only the
//! series present in it.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{FillMethod, MetricQuery, RollupMethod, SpaceAgg, TypeModifier};
use crate::eval::{EvalError, MetricKind, RawSeries, Source};
use crate::interval::Grid;
use crate::series::{Point, Series, SeriesSet, quantile};

/// The series of a query over `grid`, reading data stored at `offset` seconds from it.
pub(crate) fn evaluate(
    query: &MetricQuery,
    source: &dyn Source,
    grid: &Grid,
    offset: i64,
) -> Result<SeriesSet, EvalError> {
    let from = grid
        .first()
        .checked_add(offset)
        .ok_or(EvalError::TimeOutOfRange)?;
    let to = grid.end().checked_add(offset).ok_or(EvalError::TimeOutOfRange)?;
    let stored = source.fetch(&query.metric, &query.scope, from, to)?;
    let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (index, raw) in stored.iter().enumerate() {
        for tag_set in group_tag_sets(&raw.tags_with_host(), &query.group_by) {
            groups.entry(tag_set).or_default().push(index);
        }
    }
    let dense = query.modifiers.rollup.is_some();
    let series: Vec<Series> = match query.space_agg {
        Some(SpaceAgg::Percentile(p)) => groups
            .into_iter()
            .map(|(tag_set, members)| {
                let points = percentiles(
                    members.iter().map(|&i| &stored[i]),
                    f64::from(p) / 100.0,
                    grid,
                    offset,
                );
                Series {
                    tag_set,
                    points: densify(points, grid, dense),
                    count_like: false,
                }
            })
            .collect(),
        agg => {
            let bucketed: Vec<Bucketed> = stored
                .iter()
                .map(|raw| time_aggregate(raw, query, grid, offset))
                .collect();
            groups
                .into_iter()
                .map(|(tag_set, members)| {
                    let members: Vec<&Bucketed> = members.iter().map(|&i| &bucketed[i]).collect();
                    let points = space_aggregate(&members, agg.unwrap_or(SpaceAgg::Avg), query, grid);
                    let count_like = members.iter().all(|m| m.count_like);
                    Series {
                        tag_set,
                        points: densify(points, grid, dense),
                        count_like,
                    }
                })
                .collect()
        }
    };
    let series = series
        .into_iter()
        .filter(|s: &Series| s.points.iter().any(|(_, v)| v.is_some()))
        .collect();
    Ok(SeriesSet {
        series,
        aggr: query.space_agg,
    })
}

/// One stored series aggregated into buckets: `(bucket, value)` for buckets with data.
struct Bucketed {
    points: Vec<(i64, f64)>,
    count_like: bool,
}

/// The most groups one stored series joins; more combinations of multi-valued tags are dropped.
const MAX_GROUPS_PER_SERIES: usize = 256;

/// The groups a series with these tags belongs to: one per combination of its values for the keys
/// (a series with two `host` tags is in both host groups), none when it lacks a key.
fn group_tag_sets(tags: &[String], keys: &[String]) -> Vec<Vec<String>> {
    let mut sets = vec![Vec::new()];
    for key in keys {
        let values: BTreeSet<&String> = tags
            .iter()
            .filter(|tag| tag.split_once(':').is_some_and(|(k, _)| k == key))
            .collect();
        sets = sets
            .iter()
            .flat_map(|set| {
                values.iter().map(move |value| {
                    let mut set = set.clone();
                    set.push((*value).clone());
                    set
                })
            })
            .take(MAX_GROUPS_PER_SERIES)
            .collect();
    }
    sets
}

#[derive(Clone, Copy)]
struct Accumulator {
    sum: f64,
    count: usize,
    min: f64,
    max: f64,
}

fn time_aggregate(raw: &RawSeries, query: &MetricQuery, grid: &Grid, offset: i64) -> Bucketed {
    let modifier = query.modifiers.type_modifier;
    let count_like = raw.kind == MetricKind::Count || (raw.kind == MetricKind::Rate && modifier.is_some());
    let default_method = if count_like {
        RollupMethod::Sum
    } else {
        RollupMethod::Avg
    };
    let method = query
        .modifiers
        .rollup
        .map_or(default_method, |rollup| rollup.method);
    let rate_divisor = (raw.kind == MetricKind::Count && modifier == Some(TypeModifier::AsRate))
        .then(|| grid.interval().max(i64::from(raw.interval.unwrap_or(1))) as f64);
    let count_multiplier = (raw.kind == MetricKind::Rate && modifier == Some(TypeModifier::AsCount))
        .then(|| f64::from(raw.interval.unwrap_or(1)));
    let mut buckets: BTreeMap<i64, Accumulator> = BTreeMap::new();
    for &(t, value) in &raw.points {
        let Some(t) = t.checked_sub(offset) else { continue };
        let bucket = grid.bucket_of(t);
        if !grid.contains(bucket) || !value.is_finite() {
            continue;
        }
        let acc = buckets.entry(bucket).or_insert(Accumulator {
            sum: 0.0,
            count: 0,
            min: value,
            max: value,
        });
        acc.sum += value;
        acc.count += 1;
        acc.min = acc.min.min(value);
        acc.max = acc.max.max(value);
    }
    let points = buckets
        .into_iter()
        .map(|(bucket, acc)| {
            let value = match method {
                RollupMethod::Avg => acc.sum / acc.count as f64,
                RollupMethod::Sum => acc.sum,
                RollupMethod::Min => acc.min,
                RollupMethod::Max => acc.max,
                RollupMethod::Count => acc.count as f64,
            };
            let value = rate_divisor.map_or(value, |divisor| value / divisor);
            (
                bucket,
                count_multiplier.map_or(value, |multiplier| value * multiplier),
            )
        })
        .collect();
    Bucketed { points, count_like }
}

/// The interpolation limit Datadog applies by default when aligning series, in seconds.
const DEFAULT_INTERPOLATION_LIMIT: i64 = 300;

fn space_aggregate(members: &[&Bucketed], agg: SpaceAgg, query: &MetricQuery, grid: &Grid) -> Vec<Point> {
    let fill = query.modifiers.fill;
    let times: Vec<i64> = match fill {
        Some(fill) if fill.method != FillMethod::Null => grid.buckets().collect(),
        _ => {
            let union: BTreeSet<i64> = members
                .iter()
                .flat_map(|m| m.points.iter().map(|&(t, _)| t))
                .collect();
            union.into_iter().collect()
        }
    };
    let interpolate = members.len() > 1 && fill.is_none();
    times
        .into_iter()
        .filter_map(|t| {
            let values: Vec<f64> = members
                .iter()
                .filter_map(|member| {
                    let (before, after) = match member.points.binary_search_by_key(&t, |&(at, _)| at) {
                        Ok(index) => return Some(member.points[index].1),
                        Err(index) => (
                            index.checked_sub(1).map(|i| member.points[i]),
                            member.points.get(index).copied(),
                        ),
                    };
                    match fill {
                        Some(fill) => {
                            let ((t0, v0), (t1, v1)) = (before?, after?);
                            if t1 - t0 > i64::from(fill.limit_seconds()) {
                                return None;
                            }
                            match fill.method {
                                FillMethod::Null => None,
                                FillMethod::Zero => Some(0.0),
                                FillMethod::Last => Some(v0),
                                FillMethod::Linear => Some(linear(t, (t0, v0), (t1, v1))),
                            }
                        }
                        None if member.count_like => Some(0.0),
                        None if interpolate => {
                            let ((t0, v0), (t1, v1)) = (before?, after?);
                            (t1 - t0 <= DEFAULT_INTERPOLATION_LIMIT).then(|| linear(t, (t0, v0), (t1, v1)))
                        }
                        None => None,
                    }
                })
                .collect();
            Some((t, combine(agg, &values)?))
        })
        .map(|(t, v)| (t, Some(v)))
        .collect()
}

fn linear(t: i64, (t0, v0): (i64, f64), (t1, v1): (i64, f64)) -> f64 {
    v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64
}

/// The space aggregate of the values present, `None` when there are none.
fn combine(agg: SpaceAgg, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let sum: f64 = values.iter().sum();
    Some(match agg {
        SpaceAgg::Avg => sum / values.len() as f64,
        SpaceAgg::Sum => sum,
        SpaceAgg::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        SpaceAgg::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        SpaceAgg::Count => values.len() as f64,
        SpaceAgg::Percentile(p) => {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            quantile(&sorted, f64::from(p) / 100.0)?
        }
    })
}

/// The `q` quantile of all points of the members in each bucket.
fn percentiles<'a>(
    members: impl Iterator<Item = &'a RawSeries>,
    q: f64,
    grid: &Grid,
    offset: i64,
) -> Vec<Point> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for raw in members {
        for &(t, value) in &raw.points {
            let Some(t) = t.checked_sub(offset) else { continue };
            let bucket = grid.bucket_of(t);
            if grid.contains(bucket) && value.is_finite() {
                buckets.entry(bucket).or_default().push(value);
            }
        }
    }
    buckets
        .into_iter()
        .map(|(bucket, mut values)| {
            values.sort_by(f64::total_cmp);
            (bucket, quantile(&values, q))
        })
        .collect()
}

/// With an explicit rollup every bucket of the window appears, `None` where empty.
fn densify(points: Vec<Point>, grid: &Grid, dense: bool) -> Vec<Point> {
    if !dense || points.is_empty() {
        return points;
    }
    let values: BTreeMap<i64, Option<f64>> = points.into_iter().collect();
    grid.buckets()
        .map(|t| (t, values.get(&t).copied().flatten()))
        .collect()
}
