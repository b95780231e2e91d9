//! Axis ticks: round value steps (1, 2, 2.5, 5 × 10ⁿ) and time steps aligned to the viewer's clock, with
//! labels chosen for the span (`HH:MM:SS`, `HH:MM`, dates at midnight).

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Value ticks: evenly spaced round numbers covering the data; the first and last are the axis ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ticks {
    pub(crate) values: Vec<f64>,
    pub(crate) step: f64,
}

/// One tick of a time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeTick {
    /// Epoch seconds.
    pub(crate) at: i64,
    pub(crate) label: String,
    /// A day boundary: drawn stronger, labelled with the date.
    pub(crate) major: bool,
}

/// Steps of a time axis, in seconds.
const TIME_STEPS: &[i64] = &[
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
    604_800, 1_209_600, 2_592_000,
];
const DAY: i64 = 86_400;

/// About `target` round ticks from at most `lo` to at least `hi`.
pub(crate) fn value_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        // One value: a band around it.
        let pad = lo.abs() * 0.1;
        (lo - pad, lo + pad)
    };
    let step = nice_step((hi - lo) / target.max(1) as f64);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let count = ((last - first) as usize).min(100);
    let values = (0..=count).map(|i| clean((first + i as f64) * step)).collect();
    Ticks { values, step }
}

/// The smallest round number (1, 2, 2.5 or 5 × 10ⁿ) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .find(|n| fraction <= *n + 1e-9)
        .unwrap_or(10.0);
    nice * magnitude
}

/// Rounds away float noise (`0.30000000000000004`).
fn clean(value: f64) -> f64 {
    let rounded = (value * 1e9).round() / 1e9;
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// Ticks for `[from, to]` (epoch seconds), at most `max_ticks`, aligned to `tz`'s clock.
pub(crate) fn time_ticks(from: i64, to: i64, max_ticks: usize, tz: &TimeZone) -> Vec<TimeTick> {
    let span = (to - from).max(1);
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|step| span / step <= max_ticks.max(1) as i64)
        .unwrap_or(*TIME_STEPS.last().unwrap_or(&DAY));
    let ticks: Vec<i64> = if step < DAY {
        let offset = offset_at(tz, from);
        let local = from + offset;
        let first = local.div_euclid(step) * step + if local.rem_euclid(step) == 0 { 0 } else { step };
        (0..)
            .map(|i| first + i * step - offset)
            .take_while(|t| *t <= to)
            .collect()
    } else {
        local_midnights(from, to, step / DAY, tz)
    };
    ticks
        .into_iter()
        .map(|at| {
            let midnight = (at + offset_at(tz, at)).rem_euclid(DAY) == 0;
            let format = if midnight && step >= 3600 || step >= DAY {
                "%b %-d"
            } else if step < 60 {
                "%H:%M:%S"
            } else {
                "%H:%M"
            };
            TimeTick {
                at,
                label: format_time(at, tz, format),
                major: midnight,
            }
        })
        .collect()
}

/// `at` (epoch seconds) in `tz` with a strftime `format`.
pub(crate) fn format_time(at: i64, tz: &TimeZone, format: &str) -> String {
    Timestamp::from_second(at).map_or_else(
        |_| at.to_string(),
        |ts| ts.to_zoned_datetime(tz.clone()).strftime(format).to_string(),
    )
}

fn offset_at(tz: &TimeZone, at: i64) -> i64 {
    Timestamp::from_second(at).map_or(0, |ts| i64::from(tz.to_offset(ts).seconds()))
}

/// Local midnights in `[from, to]`, every `days` days.
fn local_midnights(from: i64, to: i64, days: i64, tz: &TimeZone) -> Vec<i64> {
    let Ok(start) = Timestamp::from_second(from) else {
        return Vec::new();
    };
    let mut date = start.to_zoned_datetime(tz.clone()).date();
    let mut ticks = Vec::new();
    for _ in 0..400 {
        let Ok(zoned) = date.to_zoned_datetime(tz.clone()) else {
            break;
        };
        let at = zoned.timestamp().as_second();
        if at > to {
            break;
        }
        if at >= from {
            ticks.push(at);
        }
        match date.checked_add(jiff::Span::new().days(days)) {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(from: i64, to: i64, max_ticks: usize) -> Vec<String> {
        time_ticks(from, to, max_ticks, &TimeZone::UTC)
            .into_iter()
            .map(|t| t.label)
            .collect()
    }

    #[test]
    fn time_labels_follow_the_span() {
        // 2023-11-14 22:13:20 UTC.
        let t = 1_700_000_000;
        assert_eq!(
            labels(t, t + 3600, 6),
            ["22:20", "22:30", "22:40", "22:50", "23:00", "23:10"]
        );
        assert_eq!(
            labels(t, t + 300, 6),
            ["22:14", "22:15", "22:16", "22:17", "22:18"]
        );
        assert_eq!(
            labels(t, t + 60, 6),
            [
                "22:13:20", "22:13:30", "22:13:40", "22:13:50", "22:14:00", "22:14:10", "22:14:20"
            ]
        );
        // A day: six-hourly ticks, the midnight one as a date.
        assert_eq!(labels(t, t + 86_400, 6), ["Nov 15", "06:00", "12:00", "18:00"]);
        // A week: dates.
        assert_eq!(
            labels(t, t + 7 * 86_400, 8),
            [
                "Nov 15", "Nov 16", "Nov 17", "Nov 18", "Nov 19", "Nov 20", "Nov 21"
            ]
        );
    }

    #[test]
    fn time_ticks_follow_the_viewers_clock() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let t = 1_700_000_000; // 23:13:20 in Paris.
        let ticks = time_ticks(t, t + 86_400, 6, &paris);
        assert_eq!(ticks[0].label, "Nov 15");
        assert!(ticks[0].major);
        assert_eq!(ticks[0].at, 1_700_002_800); // 23:00 UTC.
    }

    #[test]
    fn value_ticks_are_round() {
        let check = |lo, hi, target, expected: &[f64]| {
            assert_eq!(value_ticks(lo, hi, target).values, expected, "{lo}..{hi}");
        };
        check(0.0, 1000.0, 4, &[0.0, 250.0, 500.0, 750.0, 1000.0]);
        check(0.0, 0.93, 4, &[0.0, 0.25, 0.5, 0.75, 1.0]);
        check(12.0, 87.0, 4, &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        check(-3.0, 3.0, 3, &[-4.0, -2.0, 0.0, 2.0, 4.0]);
        check(5.0, 5.0, 4, &[4.5, 4.75, 5.0, 5.25, 5.5]);
        check(0.0, 0.0, 4, &[0.0, 0.25, 0.5, 0.75, 1.0]);
    }
}
