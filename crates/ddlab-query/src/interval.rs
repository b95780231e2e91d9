//! The bucket width of a query (Datadog's automatic interval) and the epoch-aligned bucket grid.

/// The bucket widths Datadog picks from, in seconds.
pub const INTERVAL_LADDER: [u32; 18] = [
    1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400, 28_800, 43_200, 86_400,
];

/// The most buckets an automatic interval gives.
pub const MAX_POINTS: i64 = 300;

/// The automatic interval for a window: the smallest ladder step that gives at most [`MAX_POINTS`]
/// buckets over `to - from` seconds. Past 300 days the ladder ends and whole numbers of days are used.
pub fn auto_interval(from: i64, to: i64) -> u32 {
    let range = to.saturating_sub(from).max(0);
    INTERVAL_LADDER
        .into_iter()
        .find(|&step| ceil_div(range, i64::from(step)) <= MAX_POINTS)
        .unwrap_or_else(|| {
            let days = ceil_div(range, MAX_POINTS * 86_400);
            u32::try_from(days * 86_400).unwrap_or(u32::MAX)
        })
}

/// The smallest ladder step of at least `seconds` (the largest step when none is).
pub(crate) fn ladder_at_least(seconds: i64) -> u32 {
    INTERVAL_LADDER
        .into_iter()
        .find(|&step| i64::from(step) >= seconds)
        .unwrap_or(86_400)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Epoch-aligned buckets `first, first + interval, ..., last`; a bucket is named by its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    first: i64,
    last: i64,
    interval: i64,
}

impl Grid {
    /// The buckets holding `from` through `to`. `interval` must not be zero.
    pub(crate) fn new(from: i64, to: i64, interval: u32) -> Grid {
        let interval = i64::from(interval.max(1));
        let first = from.div_euclid(interval) * interval;
        let last = (to.div_euclid(interval) * interval).max(first);
        Grid {
            first,
            last,
            interval,
        }
    }

    /// The same grid starting `seconds` earlier.
    pub(crate) fn extended_back(&self, seconds: i64) -> Grid {
        Grid {
            first: self.bucket_of(self.first - seconds.max(0)),
            ..*self
        }
    }

    pub(crate) fn bucket_of(&self, t: i64) -> i64 {
        t.div_euclid(self.interval) * self.interval
    }

    pub(crate) fn interval(&self) -> i64 {
        self.interval
    }

    pub(crate) fn first(&self) -> i64 {
        self.first
    }

    /// The last second the grid covers: the end of its last bucket.
    pub(crate) fn end(&self) -> i64 {
        self.last + self.interval - 1
    }

    pub(crate) fn contains(&self, bucket: i64) -> bool {
        (self.first..=self.last).contains(&bucket)
    }

    pub(crate) fn buckets(&self) -> impl Iterator<Item = i64> + use<> {
        let Grid {
            first,
            last,
            interval,
        } = *self;
        (0..)
            .map(move |i| first + i * interval)
            .take_while(move |&t| t <= last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_interval_matches_every_observed_pair() {
        let cases = [
            (0, 1),
            (300, 1),
            (301, 2),
            (1200, 5),
            (3600, 20),
            (4 * 3600, 60),
            (86_400, 300),
            (7 * 86_400, 3600),
            (30 * 86_400, 14_400),
            (150 * 86_400, 43_200),
            (300 * 86_400, 86_400),
            (301 * 86_400, 172_800),
        ];
        for (range, expected) in cases {
            assert_eq!(
                auto_interval(1_000_000, 1_000_000 + range),
                expected,
                "range {range}"
            );
        }
        assert_eq!(auto_interval(10, 0), 1);
        assert_eq!(auto_interval(i64::MIN, i64::MAX), u32::MAX);
    }

    #[test]
    fn buckets_are_aligned_to_the_epoch() {
        let grid = Grid::new(1_000_030, 1_000_300, 3600);
        assert_eq!(grid.buckets().collect::<Vec<_>>(), [997_200]);
        assert_eq!((grid.first(), grid.end()), (997_200, 1_000_799));
        let grid = Grid::new(95, 130, 20);
        assert_eq!(grid.buckets().collect::<Vec<_>>(), [80, 100, 120]);
        assert!(grid.contains(120) && !grid.contains(140));
        assert_eq!(grid.extended_back(30).buckets().next(), Some(40));
        assert_eq!(
            Grid::new(-25, -5, 10).buckets().collect::<Vec<_>>(),
            [-30, -20, -10]
        );
        assert_eq!(ladder_at_least(43), 60);
        assert_eq!(ladder_at_least(100_000), 86_400);
    }
}
