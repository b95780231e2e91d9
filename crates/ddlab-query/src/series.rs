//! The evaluator's intermediate series: points on the bucket grid with the group tags they belong to.

use crate::ast::SpaceAgg;

/// A bucket start in epoch seconds and its value; `None` is a `null` in the response.
pub(crate) type Point = (i64, Option<f64>);

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// The `key:value` tags of the group, in `by {...}` order; empty when ungrouped.
    pub(crate) tag_set: Vec<String>,
    /// Sorted by time, one point per bucket at most.
    pub(crate) points: Vec<Point>,
    /// Built from counts (or rates read with `.as_count()`/`.as_rate()`), which align as 0 rather than
    /// by interpolation: a missing bucket means nothing happened.
    pub(crate) count_like: bool,
}

/// The series of one (sub)expression and the space aggregator they were built with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesSet {
    pub(crate) series: Vec<Series>,
    pub(crate) aggr: Option<SpaceAgg>,
}

impl Series {
    pub(crate) fn value_at(&self, t: i64) -> Option<f64> {
        let index = self.points.binary_search_by_key(&t, |&(at, _)| at).ok()?;
        self.points[index].1
    }
}

/// The median of some values, `None` when there are none.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

/// The `q` quantile (0..=1) of sorted values, interpolating linearly between neighbours.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = q.clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (*sorted.get(below)?, *sorted.get(above)?);
    Some(low + (high - low) * (rank - below as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let cases: [(&[f64], f64, Option<f64>); 6] = [
            (&[], 0.5, None),
            (&[3.0], 0.9, Some(3.0)),
            (&[1.0, 2.0, 3.0, 4.0], 0.5, Some(2.5)),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 0.25, Some(2.0)),
            (&[1.0, 2.0, 3.0, 4.0, 5.0], 0.75, Some(4.0)),
            (&[0.0, 10.0], 0.95, Some(9.5)),
        ];
        for (values, q, expected) in cases {
            assert_eq!(quantile(values, q), expected, "{q} of {values:?}");
        }
        assert_eq!(median(vec![5.0, 1.0, 3.0]), Some(3.0));
    }
}
