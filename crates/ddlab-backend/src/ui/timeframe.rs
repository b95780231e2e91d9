//! Time frames of pages: Datadog's live spans (`live_span=5m`, the "Past 5 Minutes" preset) or a fixed
//! range (`from_ts`/`to_ts` in epoch milliseconds, as Datadog's own URLs carry them).

use std::collections::HashMap;

/// A preset of the time picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Preset {
    /// The `live_span` value.
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) seconds: i64,
}

/// The time picker's presets, shortest first.
pub(crate) const PRESETS: &[Preset] = &[
    Preset {
        key: "5m",
        label: "Past 5 Minutes",
        seconds: 300,
    },
    Preset {
        key: "15m",
        label: "Past 15 Minutes",
        seconds: 900,
    },
    Preset {
        key: "1h",
        label: "Past 1 Hour",
        seconds: 3600,
    },
    Preset {
        key: "4h",
        label: "Past 4 Hours",
        seconds: 4 * 3600,
    },
    Preset {
        key: "1d",
        label: "Past 1 Day",
        seconds: 86_400,
    },
    Preset {
        key: "2d",
        label: "Past 2 Days",
        seconds: 2 * 86_400,
    },
    Preset {
        key: "1w",
        label: "Past 1 Week",
        seconds: 7 * 86_400,
    },
];

/// A page's time frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timeframe {
    /// Epoch seconds, inclusive.
    pub(crate) from: i64,
    pub(crate) to: i64,
    /// The live span key when the frame follows now.
    pub(crate) live: Option<String>,
}

/// The longest frame a page draws.
const MAX_SPAN: i64 = 90 * 86_400;

impl Timeframe {
    /// The frame the query parameters ask for, or `default` (a live span key) ending at `now`.
    pub(crate) fn from_params(
        params: &HashMap<String, String>,
        now: i64,
        default: &str,
    ) -> Result<Timeframe, String> {
        if let (Some(from), Some(to)) = (params.get("from_ts"), params.get("to_ts")) {
            let ms = |name: &str, text: &str| {
                text.trim()
                    .parse::<i64>()
                    .map(|ms| ms.div_euclid(1000))
                    .map_err(|_| format!("{name} must be epoch milliseconds, got {text:?}"))
            };
            let (from, to) = (ms("from_ts", from)?, ms("to_ts", to)?);
            if from >= to {
                return Err(format!("from_ts ({from}) must be before to_ts ({to})"));
            }
            if to - from > MAX_SPAN {
                return Err("the time frame is longer than 90 days: pick a shorter one".to_owned());
            }
            return Ok(Timeframe { from, to, live: None });
        }
        let key = params
            .get("live_span")
            .map(String::as_str)
            .filter(|k| !k.is_empty())
            .unwrap_or(default);
        let seconds = span_seconds(key)
            .filter(|s| *s <= MAX_SPAN)
            .ok_or_else(|| format!("live_span {key:?} is not a time span like 5m, 1h, 1d or 1w"))?;
        Ok(Timeframe {
            from: now - seconds,
            to: now,
            live: Some(key.to_owned()),
        })
    }

    /// What the picker shows for this frame.
    pub(crate) fn label(&self, tz: &jiff::tz::TimeZone) -> String {
        if let Some(preset) = self.live.as_deref().and_then(preset) {
            return preset.label.to_owned();
        }
        if let Some(key) = &self.live {
            return format!("Past {key}");
        }
        let format = "%b %-d, %H:%M";
        format!(
            "{} – {}",
            super::chart::format_time(self.from, tz, format),
            super::chart::format_time(self.to, tz, format)
        )
    }

    /// The query parameters that give this frame back.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        match &self.live {
            Some(key) => vec![("live_span".to_owned(), key.clone())],
            None => vec![
                ("from_ts".to_owned(), (self.from * 1000).to_string()),
                ("to_ts".to_owned(), (self.to * 1000).to_string()),
            ],
        }
    }
}

fn preset(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.key == key)
}

/// Seconds of a live span: `5m`, `1h`, `4h`, `1d`, `1w`, `1mo`, `1y` (Datadog's `live_span` values).
pub(crate) fn span_seconds(key: &str) -> Option<i64> {
    let key = key.trim();
    let digits = key.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = key.split_at(digits);
    let number: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "mo" => 30 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    number.checked_mul(unit_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn live_spans_and_fixed_ranges() {
        let now = 10_000;
        let frame = Timeframe::from_params(&params(&[("live_span", "5m")]), now, "1h").unwrap();
        assert_eq!((frame.from, frame.to), (now - 300, now));
        assert_eq!(frame.label(&jiff::tz::TimeZone::UTC), "Past 5 Minutes");
        let frame = Timeframe::from_params(&params(&[]), now, "1h").unwrap();
        assert_eq!((frame.from, frame.live.as_deref()), (now - 3600, Some("1h")));
        let frame = Timeframe::from_params(
            &params(&[("from_ts", "1000000"), ("to_ts", "2000000")]),
            now,
            "1h",
        )
        .unwrap();
        assert_eq!((frame.from, frame.to, frame.live.clone()), (1000, 2000, None));
        assert_eq!(
            frame.params(),
            [
                ("from_ts".to_owned(), "1000000".to_owned()),
                ("to_ts".to_owned(), "2000000".to_owned())
            ]
        );
        assert_eq!(
            Timeframe::from_params(&params(&[("live_span", "5 minutes")]), now, "1h").unwrap_err(),
            "live_span \"5 minutes\" is not a time span like 5m, 1h, 1d or 1w"
        );
        assert_eq!(
            Timeframe::from_params(&params(&[("from_ts", "x"), ("to_ts", "1")]), now, "1h").unwrap_err(),
            "from_ts must be epoch milliseconds, got \"x\""
        );
        assert_eq!(span_seconds("1mo"), Some(30 * 86_400));
        assert_eq!(span_seconds("0m"), None);
    }
}
