//! The times of the spans API: `filter.from`/`filter.to` as Datadog accepts them, and the ISO-8601
//! timestamps its answers carry.
//!
//! Accepted: `now`; date math `now-15m`, `now+1h` (units `s`, `m`, `h`, `d`, `w`); epoch milliseconds;
//! ISO-8601 dates and date-times (`2023-06-29`, `2023-06-29T09:50:52.471Z`, with an offset `+02:00` or
//! none, meaning UTC).

/// Parses a time into epoch milliseconds; `now_ms` is the backend's clock.
pub(crate) fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(math) = text.strip_prefix("now") {
        if math.is_empty() {
            return Ok(now_ms);
        }
        let (sign, amount) = match math.as_bytes()[0] {
            b'-' => (-1, &math[1..]),
            b'+' => (1, &math[1..]),
            _ => return Err(format!("invalid date math {text:?}: expected now-<n><unit>")),
        };
        let split = amount
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("invalid date math {text:?}: the unit (s, m, h, d, w) is missing"))?;
        let (digits, unit) = amount.split_at(split);
        let count: i64 = digits
            .parse()
            .map_err(|_| format!("invalid date math {text:?}: expected a number before the unit"))?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            other => return Err(format!("invalid date math {text:?}: unknown unit {other:?}")),
        };
        return count
            .checked_mul(unit_ms)
            .and_then(|offset| now_ms.checked_add(sign * offset))
            .ok_or_else(|| format!("date math {text:?} is out of range"));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("timestamp {text:?} is out of range"));
    }
    parse_iso(text).ok_or_else(|| {
        format!("invalid time {text:?}: expected now, now-15m, epoch milliseconds or an ISO-8601 date")
    })
}

/// `YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]` in epoch milliseconds.
fn parse_iso(text: &str) -> Option<i64> {
    let (date, rest) = text.split_at(text.find(['T', ' ']).unwrap_or(text.len()));
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day).checked_mul(86_400_000)?;
    let rest = rest.get(1..).unwrap_or("");
    if rest.is_empty() {
        return Some(ms);
    }
    // The offset starts at a 'Z', '+' or the '-' after the time.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let mut fields = clock.splitn(3, ':');
    let hour: i64 = fields.next()?.parse().ok()?;
    let minute: i64 = fields.next()?.parse().ok()?;
    let (second, fraction) = match fields.next() {
        None => (0, 0),
        Some(seconds) => {
            let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
            let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
            (whole.parse::<i64>().ok()?, millis.parse::<i64>().ok()?)
        }
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += ((hour * 60 + minute) * 60 + second) * 1_000 + fraction;
    let offset_minutes = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
            sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?)
        }
    };
    Some(ms - offset_minutes * 60_000)
}

/// Epoch nanoseconds as `2023-06-29T09:50:52.471Z`.
pub(crate) fn iso_ms(epoch_ns: i64) -> String {
    let ms = epoch_ns.div_euclid(1_000_000);
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1_000 % 60,
        in_day % 1_000
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_688_032_252_471;

    #[test]
    fn times_parse_as_datadog_accepts_them() {
        let cases: &[(&str, Result<i64, &str>)] = &[
            ("now", Ok(NOW)),
            ("now-15m", Ok(NOW - 900_000)),
            ("now+1h", Ok(NOW + 3_600_000)),
            ("now-2d", Ok(NOW - 172_800_000)),
            ("1688032252471", Ok(NOW)),
            ("2023-06-29T09:50:52.471Z", Ok(NOW)),
            ("2023-06-29T11:50:52.471+02:00", Ok(NOW)),
            ("2023-06-29T09:50:52.4715Z", Ok(NOW)),
            ("2023-06-29T09:50", Ok(NOW - 52_471)),
            ("2023-06-29", Ok(1_687_996_800_000)),
            ("1970-01-01T00:00:00Z", Ok(0)),
            (
                "now-15",
                Err("invalid date math \"now-15\": the unit (s, m, h, d, w) is missing"),
            ),
            (
                "now-15y",
                Err("invalid date math \"now-15y\": unknown unit \"y\""),
            ),
            (
                "yesterday",
                Err(
                    "invalid time \"yesterday\": expected now, now-15m, epoch milliseconds or an ISO-8601 date",
                ),
            ),
            (
                "2023-13-01",
                Err(
                    "invalid time \"2023-13-01\": expected now, now-15m, epoch milliseconds or an ISO-8601 date",
                ),
            ),
        ];
        for (text, expected) in cases {
            let got = parse_time(text, NOW);
            assert_eq!(
                got.as_ref().map_err(String::as_str),
                expected.as_ref().map_err(|e| *e),
                "{text}"
            );
        }
    }

    #[test]
    fn iso_timestamps_round_trip() {
        assert_eq!(iso_ms(NOW * 1_000_000 + 999), "2023-06-29T09:50:52.471Z");
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(951_782_400_000_000_000), "2000-02-29T00:00:00.000Z");
        for ms in [0, NOW, 4_102_444_799_999, 951_868_799_000] {
            assert_eq!(parse_time(&iso_ms(ms * 1_000_000), NOW), Ok(ms));
        }
    }
}
