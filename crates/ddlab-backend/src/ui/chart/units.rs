//! Units of metric values and how axis labels and big numbers print them (`250ms`, `1.5GiB`, `42%`).
//!
//! Time and byte units are rescaled to the largest unit that keeps the numbers readable; other units are
//! written after the number with their short name. Numbers without a unit take SI suffixes (`1.2K`).

/// A metric's unit, as Datadog's metric metadata names it (`second`, `byte`, `percent`, ...), optionally
/// per another unit (`request` per `second`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unit {
    pub(crate) name: String,
    pub(crate) per: Option<String>,
}

/// How one axis (or one big number) prints its values: divide by `factor`, then append `suffix`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scale {
    factor: f64,
    suffix: String,
    /// Plain numbers get K/M/G suffixes; rescaled units already chose their magnitude.
    si: bool,
}

const TIME: &[(&str, f64, &str)] = &[
    ("nanosecond", 1e-9, "ns"),
    ("microsecond", 1e-6, "µs"),
    ("millisecond", 1e-3, "ms"),
    ("second", 1.0, "s"),
    ("minute", 60.0, "min"),
    ("hour", 3600.0, "h"),
    ("day", 86_400.0, "d"),
    ("week", 604_800.0, "wk"),
];

const BYTES: &[(&str, f64, &str)] = &[
    ("byte", 1.0, "B"),
    ("kibibyte", 1024.0, "KiB"),
    ("mebibyte", 1_048_576.0, "MiB"),
    ("gibibyte", 1_073_741_824.0, "GiB"),
    ("tebibyte", 1_099_511_627_776.0, "TiB"),
];

/// Short names of common countable units.
const SHORT: &[(&str, &str)] = &[
    ("percent", "%"),
    ("percent_nano", "%"),
    ("request", "req"),
    ("connection", "conn"),
    ("query", "queries"),
    ("operation", "ops"),
    ("error", "errors"),
    ("hit", "hits"),
    ("process", "proc"),
    ("thread", "threads"),
    ("packet", "pkts"),
    ("event", "events"),
    ("core", "cores"),
];

impl Unit {
    pub(crate) fn new(name: &str, per: Option<&str>) -> Option<Unit> {
        let name = name.trim();
        (!name.is_empty()).then(|| Unit {
            name: name.to_ascii_lowercase(),
            per: per
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_ascii_lowercase),
        })
    }

    /// The unit of well-known metrics whose metadata the lab may not have: the Agent's system checks and
    /// the APM trace metrics, as Datadog's integration metadata declares them.
    pub(crate) fn builtin(metric: &str) -> Option<Unit> {
        let name = if metric.starts_with("system.cpu.") && !metric.ends_with(".num_cores") {
            "percent"
        } else if metric.starts_with("system.mem.") && !metric.ends_with("pct_usable") {
            "mebibyte"
        } else if metric.starts_with("system.disk.") && !metric.ends_with("in_use") {
            "byte"
        } else if let Some(rest) = metric.strip_prefix("trace.") {
            // `trace.<span>` (the latency distribution) and `trace.<span>.duration*` are in seconds; hits,
            // errors and Apdex are counts and ratios.
            let counted = [".hits", ".errors", ".apdex", ".span_count"]
                .iter()
                .any(|suffix| rest.contains(suffix));
            if counted && !rest.contains(".duration") {
                return None;
            }
            "second"
        } else {
            return None;
        };
        Unit::new(name, None)
    }

    /// The scale for values whose largest magnitude is `max_abs`.
    pub(crate) fn scale(unit: Option<&Unit>, max_abs: f64) -> Scale {
        let per = unit
            .and_then(|u| u.per.as_deref())
            .map(|p| format!("/{}", per_short(p)))
            .unwrap_or_default();
        let Some(unit) = unit else {
            return Scale {
                factor: 1.0,
                suffix: String::new(),
                si: true,
            };
        };
        for family in [TIME, BYTES] {
            if let Some(&(_, base, _)) = family.iter().find(|(name, _, _)| *name == unit.name) {
                let in_base = max_abs * base;
                // The largest unit the value reaches at least once; the smallest when it is zero.
                let &(_, size, short) = family
                    .iter()
                    .rev()
                    .find(|(_, size, _)| in_base >= *size)
                    .unwrap_or(&family[0]);
                return Scale {
                    factor: size / base,
                    suffix: format!("{short}{per}"),
                    si: false,
                };
            }
        }
        let short = SHORT
            .iter()
            .find(|(name, _)| *name == unit.name)
            .map_or(unit.name.as_str(), |(_, short)| short);
        let suffix = if short == "%" {
            format!("%{per}")
        } else {
            format!(" {short}{per}")
        };
        Scale {
            factor: 1.0,
            suffix,
            si: true,
        }
    }
}

fn per_short(per: &str) -> &str {
    match per {
        "second" => "s",
        "minute" => "min",
        "hour" => "h",
        "day" => "d",
        other => other,
    }
}

impl Scale {
    /// A plain number scale (no unit).
    pub(crate) fn plain() -> Scale {
        Unit::scale(None, 0.0)
    }

    /// `value` printed with as many decimals as `step` (the distance between neighbouring labels) needs.
    pub(crate) fn label(&self, value: f64, step: f64) -> String {
        if value == 0.0 {
            return format!("0{}", self.suffix.trim_start());
        }
        let value = value / self.factor;
        let step = (step / self.factor).abs();
        let (value, step, si) = if self.si {
            si_scale(value, step)
        } else {
            (value, step, "")
        };
        // The fewest decimals that write the step exactly (0.25 needs two).
        let decimals = if step > 0.0 && step.is_finite() {
            (0..6)
                .find(|d| {
                    let scaled = step * 10f64.powi(*d);
                    (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
                })
                .unwrap_or(6) as usize
        } else {
            0
        };
        let text = trim_zeros(&format!("{value:.decimals$}"));
        let text = if text == "-0" { "0".to_owned() } else { text };
        format!("{text}{si}{}", self.suffix)
    }

    /// A single value, with `precision` decimals at most (big numbers, legends, tables).
    pub(crate) fn value(&self, value: f64, precision: usize) -> String {
        let value = value / self.factor;
        let (value, _, si) = if self.si {
            si_scale(value, 0.0)
        } else {
            (value, 0.0, "")
        };
        let text = trim_zeros(&format!("{value:.precision$}"));
        format!("{text}{si}{}", self.suffix)
    }
}

/// Divides by 1e3/1e6/1e9/1e12 so the number has at most three integer digits.
fn si_scale(value: f64, step: f64) -> (f64, f64, &'static str) {
    let magnitude = value.abs().max(step.abs());
    for (size, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")] {
        if magnitude >= size {
            return (value / size, step / size, suffix);
        }
    }
    (value, step, "")
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(unit: Option<(&str, Option<&str>)>, max_abs: f64, values: &[(f64, f64)], expected: &[&str]) {
        let unit = unit.and_then(|(name, per)| Unit::new(name, per));
        let scale = Unit::scale(unit.as_ref(), max_abs);
        let labels: Vec<String> = values.iter().map(|&(v, step)| scale.label(v, step)).collect();
        assert_eq!(labels, expected);
    }

    #[test]
    fn labels() {
        check(
            None,
            1000.0,
            &[(0.0, 250.0), (250.0, 250.0), (1000.0, 250.0)],
            &["0", "250", "1K"],
        );
        check(None, 1500.0, &[(1250.0, 250.0)], &["1.25K"]);
        check(None, 1.0, &[(0.2, 0.2), (0.4, 0.2)], &["0.2", "0.4"]);
        check(None, 2e6, &[(1.5e6, 5e5)], &["1.5M"]);
        check(
            Some(("percent", None)),
            80.0,
            &[(0.0, 20.0), (20.0, 20.0)],
            &["0%", "20%"],
        );
        check(
            None,
            40_000.0,
            &[(0.0, 10_000.0), (10_000.0, 10_000.0)],
            &["0", "10K"],
        );
        check(
            Some(("second", None)),
            0.4,
            &[(0.1, 0.1), (0.25, 0.05)],
            &["100ms", "250ms"],
        );
        check(Some(("second", None)), 120.0, &[(60.0, 30.0)], &["1min"]);
        check(
            Some(("byte", None)),
            3.0 * 1_048_576.0,
            &[(1_048_576.0, 524_288.0)],
            &["1MiB"],
        );
        check(Some(("mebibyte", None)), 4096.0, &[(2048.0, 1024.0)], &["2GiB"]);
        check(
            Some(("request", Some("second"))),
            12.0,
            &[(10.0, 5.0)],
            &["10 req/s"],
        );
        check(Some(("furlong", None)), 3.0, &[(3.0, 1.0)], &["3 furlong"]);
    }

    #[test]
    fn values() {
        let scale = Unit::scale(Unit::new("percent", None).as_ref(), 0.0);
        assert_eq!(scale.value(42.123, 2), "42.12%");
        assert_eq!(Scale::plain().value(12_345.0, 1), "12.3K");
        assert_eq!(Scale::plain().value(7.0, 2), "7");
    }

    #[test]
    fn builtin_units() {
        let name = |metric: &str| Unit::builtin(metric).map(|u| u.name);
        assert_eq!(name("system.cpu.user").as_deref(), Some("percent"));
        assert_eq!(name("trace.flask.request.duration").as_deref(), Some("second"));
        assert_eq!(name("trace.flask.request").as_deref(), Some("second"));
        assert_eq!(name("trace.flask.request.hits"), None);
        assert_eq!(name("trace.flask.request.errors"), None);
        assert_eq!(name("my_metric"), None);
    }
}
