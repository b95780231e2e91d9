//! `anomalies()`: deterministic emulations of Datadog's basic, agile and robust anomaly bands.
//!
//! Datadog does not publish its models; these are the "emulator-friendly" definitions of the API
//! reference (§3.3), chosen to behave like the documented ones: a spike leaves the band, a seasonal
//! pattern does not, and seasonal algorithms draw nothing until three seasons of history exist.
//!
//! # Result convention
//!
//! For each series of the query, the evaluator emits the series itself ([`SeriesKind::Value`]) and then
//! two series with the same `tag_set` and times: [`SeriesKind::AnomalyLower`] and
//! [`SeriesKind::AnomalyUpper`], whose `display_name` is the series' own with `" lower"` / `" upper"`
//! appended. A band point is `None` where the algorithm has too little history. [`outside_band`]
//! turns a series and its band into the 0/1 series a monitor averages over its `alert_window`.
//!
//! # Algorithms (robust statistics; `bounds` multiplies the spread)
//!
//! - **basic**: the previous [`BASIC_WINDOW`] observed points (at least [`BASIC_MIN_POINTS`]);
//!   band = median ± bounds · IQR / 1.349. No seasonality.
//! - **agile**: seasonal-naive forecast = the value one season ago + the median of the last
//!   [`AGILE_LEVEL_POINTS`] season-over-season differences (so a level shift is followed quickly);
//!   band = forecast ± bounds · 1.4826 · MAD of the last [`RESIDUAL_WINDOW`] such differences.
//! - **robust**: forecast = median over the same phase of the last ≤ [`ROBUST_SEASONS`] seasons
//!   (at least 3), each projected forward by a linear trend, the median of the last
//!   [`RESIDUAL_WINDOW`] season-over-season differences; band = forecast ± bounds · 1.4826 · MAD of
//!   the last [`RESIDUAL_WINDOW`] residuals.
//!
//! Data with many repeated values (small counts) has an IQR or MAD of zero, which would shrink the
//! band to a line, so two safeguards apply. The spread is never less than 1.2533 · the mean absolute
//! deviation from the median of the closest 90% of the sample (the same standard deviation estimate
//! for normal data, which one earlier spike does not widen). And the band always holds the middle
//! 90% (5th to 95th percentile) of the values or residuals it was built from: a value that keeps
//! recurring is not an anomaly.
//!
//! The evaluator reads the history each algorithm needs before the window: basic max(20 intervals,
//! 1 h), agile three seasons and robust six, each plus [`RESIDUAL_WINDOW`] intervals. `interval=`
//! is a minimum bucket width. With `count_default_zero` (default true), buckets without data of a
//! count series are zeros for the model. `direction` and `alert_window` do not change the band:
//! they are for [`outside_band`] and the monitor.
//!
//! Seasonal algorithms use `seasonality=` (default weekly, as in Datadog) with fixed-length seasons
//! in UTC: `timezone=` is kept but only matters across daylight-saving changes, which are ignored.
//! A point gets a band only when the series has data at least three seasons before it. They run at
//! an interval of at least season / 2016 rounded up the ladder (weekly → 300 s, daily → 60 s,
//! hourly → 2 s) so six seasons stay small, and draw no band when the interval is a season or more.
//! "The value at the same phase" is the median of the observed points within max(30 s, 2 intervals)
//! of `t - k·season`, so one spike does not come back as a false alarm a season later.
//!
//! [`SeriesKind::Value`]: crate::SeriesKind::Value
//! [`SeriesKind::AnomalyLower`]: crate::SeriesKind::AnomalyLower
//! [`SeriesKind::AnomalyUpper`]: crate::SeriesKind::AnomalyUpper

use std::collections::VecDeque;
use std::fmt;

use crate::interval::ladder_at_least;
use crate::series::{Point, median, quantile};

/// The arguments of `anomalies(q, 'algorithm', bounds, named...)`. Named arguments that were not
/// written are `None`; the accessors give their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyParams {
    pub algorithm: Algorithm,
    /// Width of the band, roughly in standard deviations; positive.
    pub bounds: f64,
    pub direction: Option<Direction>,
    pub alert_window: Option<AlertWindow>,
    /// Minimum interval of the evaluation, in seconds.
    pub interval: Option<u32>,
    pub count_default_zero: Option<bool>,
    pub seasonality: Option<Seasonality>,
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Basic,
    Agile,
    Robust,
}

/// Which side of the band counts as anomalous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Above,
    Below,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seasonality {
    Hourly,
    Daily,
    Weekly,
}

/// `alert_window='last_15m'`: the span a monitor evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertWindow {
    pub amount: u32,
    pub unit: WindowUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

/// For each value, 1 when it lies outside its band in `direction`, 0 when inside, and `None` when the
/// value or the band is missing at that time. All three inputs are sorted by time; `lower` and
/// `upper` are matched to `values` by timestamp.
pub fn outside_band(values: &[Point], lower: &[Point], upper: &[Point], direction: Direction) -> Vec<Point> {
    let at = |points: &[Point], t: i64| {
        points
            .binary_search_by_key(&t, |&(at, _)| at)
            .ok()
            .and_then(|index| points[index].1)
    };
    values
        .iter()
        .map(|&(t, value)| {
            let flag = match (value, at(lower, t), at(upper, t)) {
                (Some(v), Some(lo), Some(hi)) => Some(match direction {
                    Direction::Above => v > hi,
                    Direction::Below => v < lo,
                    Direction::Both => v > hi || v < lo,
                }),
                _ => None,
            };
            (t, flag.map(|outside| if outside { 1.0 } else { 0.0 }))
        })
        .collect()
}

/// basic: how many previous points form the window.
pub const BASIC_WINDOW: usize = 20;
/// basic: fewer previous points than this give no band.
pub const BASIC_MIN_POINTS: usize = 5;
/// agile: how many recent season-over-season differences set the level.
pub const AGILE_LEVEL_POINTS: usize = 5;
/// robust: how many past seasons are compared at most.
pub const ROBUST_SEASONS: i64 = 6;
/// agile and robust: how many recent residuals measure the spread.
pub const RESIDUAL_WINDOW: usize = 60;
/// Seasonal algorithms need this many seasons of history before drawing a band.
pub const SEASONS_REQUIRED: i64 = 3;

/// basic: the least history fetched before the window, in seconds.
const BASIC_MIN_HISTORY: i64 = 3600;
/// agile and robust: fewer residuals than this give no band.
const RESIDUAL_MIN: usize = 5;
/// Seasonal algorithms keep at most this many buckets per season.
const BUCKETS_PER_SEASON: i64 = 2016;
/// Points this close (in seconds, at least) to `t - k·season` count as "the same phase".
const PHASE_TOLERANCE: i64 = 30;
/// Turns a MAD into a standard deviation for normal data.
const MAD_SCALE: f64 = 1.4826;
/// Turns an inter-quartile range into a standard deviation for normal data.
const IQR_SCALE: f64 = 1.349;
/// Turns a mean absolute deviation into a standard deviation for normal data.
const MEAN_DEVIATION_SCALE: f64 = 1.2533;

impl AnomalyParams {
    pub(crate) fn new(algorithm: Algorithm, bounds: f64) -> AnomalyParams {
        AnomalyParams {
            algorithm,
            bounds,
            direction: None,
            alert_window: None,
            interval: None,
            count_default_zero: None,
            seasonality: None,
            timezone: None,
        }
    }

    /// `direction`, by default both.
    pub fn direction(&self) -> Direction {
        self.direction.unwrap_or(Direction::Both)
    }

    /// `seasonality`, by default weekly; basic ignores it.
    pub fn seasonality(&self) -> Seasonality {
        self.seasonality.unwrap_or(Seasonality::Weekly)
    }

    /// `count_default_zero`, by default true: missing buckets of count series are zeros for the model.
    pub fn count_default_zero(&self) -> bool {
        self.count_default_zero.unwrap_or(true)
    }

    /// The smallest interval the algorithm runs at, in seconds.
    pub(crate) fn min_interval(&self) -> u32 {
        let requested = self.interval.unwrap_or(1);
        match self.algorithm {
            Algorithm::Basic => requested,
            Algorithm::Agile | Algorithm::Robust => {
                let season = self.seasonality().seconds();
                let per_bucket = (season + BUCKETS_PER_SEASON - 1) / BUCKETS_PER_SEASON;
                requested.max(ladder_at_least(per_bucket))
            }
        }
    }

    /// How much data before the window the algorithm reads, in seconds.
    pub(crate) fn history(&self, interval: i64) -> i64 {
        let season = self.seasonality().seconds();
        let residuals = RESIDUAL_WINDOW as i64 * interval;
        match self.algorithm {
            Algorithm::Basic => (BASIC_WINDOW as i64 * interval).max(BASIC_MIN_HISTORY),
            Algorithm::Agile => SEASONS_REQUIRED * season + residuals,
            Algorithm::Robust => ROBUST_SEASONS * season + residuals,
        }
    }

    /// The lower and upper band at each point (same length as `points`).
    pub(crate) fn bands(&self, points: &[Point], interval: i64) -> Vec<(Option<f64>, Option<f64>)> {
        let bases: Vec<Option<Basis>> = match self.algorithm {
            Algorithm::Basic => basic(points),
            Algorithm::Agile | Algorithm::Robust => {
                let season = self.seasonality().seconds();
                if interval >= season {
                    vec![None; points.len()]
                } else {
                    Seasonal::new(points, season, interval).bands(points, self.algorithm)
                }
            }
        };
        bases
            .into_iter()
            .map(|basis| match basis {
                Some(basis) => {
                    let (lower, upper) = basis.band(self.bounds);
                    (Some(lower), Some(upper))
                }
                None => (None, None),
            })
            .collect()
    }
}

/// What one band point is built from: the expected value, and the sample (recent values or
/// residuals, sorted) whose scatter sets the width, with its median placed on the expected value.
#[derive(Debug, Clone)]
struct Basis {
    centre: f64,
    sample: Vec<f64>,
    /// The algorithm's robust standard deviation estimate of the sample.
    robust_spread: f64,
}

impl Basis {
    fn band(&self, bounds: f64) -> (f64, f64) {
        let at = |q| quantile(&self.sample, q).unwrap_or_default();
        let middle = at(0.5);
        let mut deviations: Vec<f64> = self.sample.iter().map(|v| (v - middle).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        deviations.truncate((deviations.len() * 9).div_ceil(10));
        let mean_deviation = deviations.iter().sum::<f64>() / deviations.len().max(1) as f64;
        let spread = self.robust_spread.max(MEAN_DEVIATION_SCALE * mean_deviation);
        let lower = (self.centre - bounds * spread).min(self.centre + at(0.05) - middle);
        let upper = (self.centre + bounds * spread).max(self.centre + at(0.95) - middle);
        (lower, upper)
    }
}

/// Median and IQR-based spread of the previous [`BASIC_WINDOW`] values.
fn basic(points: &[Point]) -> Vec<Option<Basis>> {
    let mut window: VecDeque<f64> = VecDeque::with_capacity(BASIC_WINDOW + 1);
    points
        .iter()
        .map(|&(_, value)| {
            let band = (window.len() >= BASIC_MIN_POINTS).then(|| {
                let mut sorted: Vec<f64> = window.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                let at = |q| quantile(&sorted, q).unwrap_or_default();
                Basis {
                    centre: at(0.5),
                    robust_spread: (at(0.75) - at(0.25)) / IQR_SCALE,
                    sample: sorted,
                }
            });
            if let Some(value) = value {
                window.push_back(value);
                if window.len() > BASIC_WINDOW {
                    window.pop_front();
                }
            }
            band
        })
        .collect()
}

/// The observed points of one series and the season they are compared over.
struct Seasonal {
    observed: Vec<(i64, f64)>,
    season: i64,
    tolerance: i64,
}

impl Seasonal {
    fn new(points: &[Point], season: i64, interval: i64) -> Seasonal {
        let observed = points.iter().filter_map(|&(t, v)| Some((t, v?))).collect();
        Seasonal {
            observed,
            season,
            tolerance: PHASE_TOLERANCE.max(2 * interval),
        }
    }

    fn bands(&self, points: &[Point], algorithm: Algorithm) -> Vec<Option<Basis>> {
        let Some(&(earliest, _)) = self.observed.first() else {
            return vec![None; points.len()];
        };
        // Season-over-season changes of every observed point, oldest first: agile's residuals, and
        // robust's trend.
        let changes: Vec<(i64, f64)> = self
            .observed
            .iter()
            .filter_map(|&(t, v)| Some((t, v - self.near(t - self.season)?)))
            .collect();
        let robust_residuals: Vec<(i64, f64)> = match algorithm {
            Algorithm::Robust => self
                .observed
                .iter()
                .filter_map(|&(t, v)| Some((t, v - self.robust_forecast(t, &changes)?)))
                .collect(),
            _ => Vec::new(),
        };
        let residuals = if algorithm == Algorithm::Robust {
            &robust_residuals
        } else {
            &changes
        };
        points
            .iter()
            .map(|&(t, _)| {
                if earliest > t - SEASONS_REQUIRED * self.season {
                    return None;
                }
                let mut sample = recent(residuals, t, RESIDUAL_WINDOW);
                if sample.len() < RESIDUAL_MIN {
                    return None;
                }
                let centre = match algorithm {
                    Algorithm::Robust => self.robust_forecast(t, &changes)?,
                    _ => self.near(t - self.season)? + median(recent(&changes, t, AGILE_LEVEL_POINTS))?,
                };
                sample.sort_by(f64::total_cmp);
                let middle = quantile(&sample, 0.5)?;
                let mad = median(sample.iter().map(|r| (r - middle).abs()).collect())?;
                Some(Basis {
                    centre,
                    robust_spread: MAD_SCALE * mad,
                    sample,
                })
            })
            .collect()
    }

    /// Median of the same phase over the last seasons, each moved forward by the trend: the median
    /// of the recent season-over-season changes.
    fn robust_forecast(&self, t: i64, changes: &[(i64, f64)]) -> Option<f64> {
        let past: Vec<(i64, f64)> = (1..=ROBUST_SEASONS)
            .filter_map(|k| Some((k, self.near(t - k * self.season)?)))
            .collect();
        if (past.len() as i64) < SEASONS_REQUIRED {
            return None;
        }
        let trend = median(recent(changes, t, RESIDUAL_WINDOW)).unwrap_or(0.0);
        median(past.iter().map(|&(k, v)| v + k as f64 * trend).collect())
    }

    /// The median of the observed values within the tolerance of `t`.
    fn near(&self, t: i64) -> Option<f64> {
        let start = self.observed.partition_point(|&(at, _)| at < t - self.tolerance);
        let end = self.observed.partition_point(|&(at, _)| at <= t + self.tolerance);
        median(self.observed.get(start..end)?.iter().map(|&(_, v)| v).collect())
    }
}

/// The values of the last `count` entries before `t`.
fn recent(entries: &[(i64, f64)], t: i64, count: usize) -> Vec<f64> {
    let before = entries.partition_point(|&(at, _)| at < t);
    entries[before.saturating_sub(count)..before]
        .iter()
        .map(|&(_, v)| v)
        .collect()
}

impl Algorithm {
    pub(crate) fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "basic" => Algorithm::Basic,
            "agile" => Algorithm::Agile,
            "robust" => Algorithm::Robust,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Basic => "basic",
            Algorithm::Agile => "agile",
            Algorithm::Robust => "robust",
        }
    }
}

impl Direction {
    pub(crate) fn from_name(name: &str) -> Option<Direction> {
        Some(match name {
            "above" => Direction::Above,
            "below" => Direction::Below,
            "both" => Direction::Both,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
            Direction::Both => "both",
        }
    }
}

impl Seasonality {
    pub(crate) fn from_name(name: &str) -> Option<Seasonality> {
        Some(match name {
            "hourly" => Seasonality::Hourly,
            "daily" => Seasonality::Daily,
            "weekly" => Seasonality::Weekly,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Seasonality::Hourly => "hourly",
            Seasonality::Daily => "daily",
            Seasonality::Weekly => "weekly",
        }
    }

    /// The length of one season in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Seasonality::Hourly => 3600,
            Seasonality::Daily => 86_400,
            Seasonality::Weekly => 7 * 86_400,
        }
    }
}

impl AlertWindow {
    /// Parses `last_<n><m|h|d|w>`, e.g. `last_15m`.
    pub(crate) fn parse(text: &str) -> Option<AlertWindow> {
        let rest = text.strip_prefix("last_")?;
        let unit = match rest.chars().last()? {
            'm' => WindowUnit::Minutes,
            'h' => WindowUnit::Hours,
            'd' => WindowUnit::Days,
            'w' => WindowUnit::Weeks,
            _ => return None,
        };
        let digits = &rest[..rest.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let amount: u32 = digits.parse().ok().filter(|&n| n > 0)?;
        let window = AlertWindow { amount, unit };
        u32::try_from(window.seconds()).is_ok().then_some(window)
    }

    pub fn seconds(&self) -> u64 {
        let unit = match self.unit {
            WindowUnit::Minutes => 60,
            WindowUnit::Hours => 3600,
            WindowUnit::Days => 86_400,
            WindowUnit::Weeks => 7 * 86_400,
        };
        u64::from(self.amount) * unit
    }
}

impl fmt::Display for AlertWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            WindowUnit::Minutes => 'm',
            WindowUnit::Hours => 'h',
            WindowUnit::Days => 'd',
            WindowUnit::Weeks => 'w',
        };
        write!(f, "last_{}{unit}", self.amount)
    }
}

/// The arguments after the query, as written in a call.
impl fmt::Display for AnomalyParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}', {}", self.algorithm.name(), self.bounds)?;
        if let Some(direction) = self.direction {
            write!(f, ", direction='{}'", direction.name())?;
        }
        if let Some(window) = self.alert_window {
            write!(f, ", alert_window='{window}'")?;
        }
        if let Some(interval) = self.interval {
            write!(f, ", interval={interval}")?;
        }
        if let Some(zero) = self.count_default_zero {
            write!(f, ", count_default_zero='{zero}'")?;
        }
        if let Some(seasonality) = self.seasonality {
            write!(f, ", seasonality='{}'", seasonality.name())?;
        }
        if let Some(timezone) = &self.timezone {
            let quote = if timezone.contains('\'') { '"' } else { '\'' };
            write!(f, ", timezone={quote}{timezone}{quote}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60;
    const HOUR: i64 = 3600;

    /// Deterministic noise, roughly normal with a standard deviation of 0.58 (a sum of four uniforms).
    fn noise(i: i64) -> f64 {
        (0..4u64)
            .map(|k| {
                let mut x = (i as u64)
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
                x ^= x >> 31;
                x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
                x ^= x >> 29;
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .sum::<f64>()
            - 2.0
    }

    /// One point a minute for `hours` hours around 100, with an hourly wave of amplitude `wave`,
    /// and `spike` added at `spike_at`.
    fn series(hours: i64, wave: f64, spike_at: i64, spike: f64) -> Vec<Point> {
        (0..hours * 60)
            .map(|i| {
                let t = i * MINUTE;
                let phase = (t % HOUR) as f64 / HOUR as f64 * std::f64::consts::TAU;
                let bump = if t == spike_at { spike } else { 0.0 };
                (t, Some(100.0 + wave * phase.sin() + noise(i) + bump))
            })
            .collect()
    }

    /// The 0/1 flags of `query`'s anomalies() over `points` at one-minute buckets.
    fn flags(query: &str, points: &[Point]) -> Vec<Point> {
        let list = crate::parse(query).unwrap();
        let crate::Expr::Call {
            func: crate::Function::Anomalies(params),
            ..
        } = &list.items[0].expr
        else {
            panic!("{query} is not anomalies()")
        };
        let bands = params.bands(points, MINUTE);
        let lower: Vec<Point> = points
            .iter()
            .zip(&bands)
            .map(|(&(t, _), &(lo, _))| (t, lo))
            .collect();
        let upper: Vec<Point> = points
            .iter()
            .zip(&bands)
            .map(|(&(t, _), &(_, hi))| (t, hi))
            .collect();
        outside_band(points, &lower, &upper, params.direction())
    }

    /// Checks that the band starts at `first_band`, flags `spike_at` and almost nothing else.
    fn check(query: &str, points: &[Point], first_band: i64, spike_at: i64) {
        let flags = flags(query, points);
        let banded: Vec<&Point> = flags.iter().filter(|(_, flag)| flag.is_some()).collect();
        assert_eq!(
            banded.first().map(|&&(t, _)| t),
            Some(first_band),
            "{query}: first band"
        );
        let at_spike = flags
            .iter()
            .find(|&&(t, _)| t == spike_at)
            .and_then(|&(_, flag)| flag);
        assert_eq!(at_spike, Some(1.0), "{query}: spike at {spike_at}");
        let false_alarms = banded
            .iter()
            .filter(|&&&(t, flag)| t != spike_at && flag == Some(1.0))
            .count();
        assert!(
            false_alarms * 100 <= banded.len() * 3,
            "{query}: {false_alarms} of {} normal points flagged",
            banded.len()
        );
    }

    #[test]
    fn basic_flags_a_spike_after_five_points() {
        let spike_at = 2 * HOUR;
        let points = series(3, 0.0, spike_at, 30.0);
        check("anomalies(m{*}, 'basic', 3)", &points, 5 * MINUTE, spike_at);
        let flags_at = |query: &str, points: &[Point]| {
            flags(query, points)
                .into_iter()
                .find(|&(t, _)| t == spike_at)
                .and_then(|(_, flag)| flag)
        };
        assert_eq!(
            flags_at("anomalies(m{*}, 'basic', 3, direction='below')", &points),
            Some(0.0)
        );
        let dip = series(3, 0.0, spike_at, -30.0);
        assert_eq!(
            flags_at("anomalies(m{*}, 'basic', 3, direction='below')", &dip),
            Some(1.0)
        );
        assert_eq!(
            flags_at("anomalies(m{*}, 'basic', 3, direction='above')", &dip),
            Some(0.0)
        );
    }

    #[test]
    fn seasonal_algorithms_follow_the_season_and_flag_a_spike() {
        let spike_at = 4 * HOUR + 15 * MINUTE;
        let points = series(5, 20.0, spike_at, 30.0);
        // Bands start once three seasons exist and enough residuals have been seen.
        check(
            "anomalies(m{*}, 'agile', 3, seasonality='hourly')",
            &points,
            3 * HOUR,
            spike_at,
        );
        check(
            "anomalies(m{*}, 'robust', 3, seasonality='hourly')",
            &points,
            3 * HOUR + 3 * MINUTE,
            spike_at,
        );
        let flat = series(5, 0.0, spike_at, 30.0);
        check(
            "anomalies(m{*}, 'agile', 3, seasonality='hourly')",
            &flat,
            3 * HOUR,
            spike_at,
        );
        check(
            "anomalies(m{*}, 'robust', 3, seasonality='hourly')",
            &flat,
            3 * HOUR + 3 * MINUTE,
            spike_at,
        );
        // Without seasonality, the wave (amplitude 20) itself looks anomalous where it turns.
        let basic = flags("anomalies(m{*}, 'basic', 3)", &points);
        assert!(basic.iter().filter(|(_, flag)| *flag == Some(1.0)).count() > 20);
    }

    #[test]
    fn seasonal_algorithms_need_three_seasons() {
        let points = series(3, 20.0, -1, 0.0);
        for query in [
            "anomalies(m{*}, 'agile', 3, seasonality='hourly')",
            "anomalies(m{*}, 'robust', 3, seasonality='hourly')",
        ] {
            assert!(
                flags(query, &points).iter().all(|(_, flag)| flag.is_none()),
                "{query}"
            );
        }
        // Weekly seasonality, the default, sees no week of history at all.
        let points = series(5, 20.0, -1, 0.0);
        assert!(
            flags("anomalies(m{*}, 'agile', 3)", &points)
                .iter()
                .all(|(_, flag)| flag.is_none())
        );
    }

    #[test]
    fn repeated_values_keep_a_band() {
        // A count that is 0 or 1: the IQR is zero, the band must still hold the usual values.
        let points: Vec<Point> = (0..120)
            .map(|i| (i * MINUTE, Some(f64::from(u8::from(i % 4 == 0)))))
            .collect();
        let flags = flags("anomalies(m{*}, 'basic', 3)", &points);
        assert!(
            flags.iter().skip(5).all(|(_, flag)| *flag == Some(0.0)),
            "{flags:?}"
        );
    }

    #[test]
    fn parameters_and_defaults() {
        let params = AnomalyParams::new(Algorithm::Agile, 2.0);
        assert_eq!(
            (
                params.direction(),
                params.seasonality(),
                params.count_default_zero()
            ),
            (Direction::Both, Seasonality::Weekly, true)
        );
        assert_eq!(params.min_interval(), 300);
        assert_eq!(params.history(300), 3 * 7 * 86_400 + 60 * 300);
        let daily = AnomalyParams {
            seasonality: Some(Seasonality::Daily),
            interval: Some(120),
            ..params.clone()
        };
        assert_eq!(daily.min_interval(), 120);
        let hourly = AnomalyParams {
            seasonality: Some(Seasonality::Hourly),
            ..params
        };
        assert_eq!(hourly.min_interval(), 2);
        let banded = hourly
            .bands(&series(5, 0.0, -1, 0.0), 3600)
            .iter()
            .filter(|b| b.0.is_some())
            .count();
        assert_eq!(banded, 0, "an interval of a season or more gives no band");
        let basic = AnomalyParams::new(Algorithm::Basic, 2.0);
        assert_eq!(
            (basic.min_interval(), basic.history(1), basic.history(600)),
            (1, 3600, 12_000)
        );
        let windows = [
            "last_15m",
            "last_1h",
            "last_2d",
            "last_1w",
            "last_0m",
            "last_m",
            "last_5s",
            "15m",
            "last_99999999w",
        ];
        let parsed: Vec<Option<u64>> = windows
            .iter()
            .map(|w| AlertWindow::parse(w).map(|w| w.seconds()))
            .collect();
        assert_eq!(
            parsed,
            [
                Some(900),
                Some(3600),
                Some(172_800),
                Some(604_800),
                None,
                None,
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn outside_band_joins_on_time() {
        let values = [
            (0, Some(5.0)),
            (10, Some(1.0)),
            (20, None),
            (30, Some(9.0)),
            (40, Some(4.0)),
        ];
        let lower = [(0, Some(2.0)), (10, Some(2.0)), (20, Some(2.0)), (30, Some(2.0))];
        let upper = [(0, Some(8.0)), (10, Some(8.0)), (20, Some(8.0)), (30, None)];
        let flags = |direction| outside_band(&values, &lower, &upper, direction);
        assert_eq!(
            flags(Direction::Both),
            [
                (0, Some(0.0)),
                (10, Some(1.0)),
                (20, None),
                (30, None),
                (40, None)
            ]
        );
        assert_eq!(flags(Direction::Above)[1], (10, Some(0.0)));
        assert_eq!(flags(Direction::Below)[1], (10, Some(1.0)));
    }
}
