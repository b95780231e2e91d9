//! Calendar arithmetic on day counts since the epoch, for filling in date placeholders.

/// The first day strictly after `today` (days since 1970-01-01) whose weekday is `weekday` (0 = Monday).
pub fn next_weekday(today: i64, weekday: i64) -> i64 {
    // 1970-01-01 was a Thursday (weekday 3).
    let current = (today + 3).rem_euclid(7);
    let ahead = (weekday - current).rem_euclid(7);
    today + if ahead == 0 { 7 } else { ahead }
}

/// `YYYY-MM-DD` of a day count since the epoch, in the proleptic Gregorian calendar.
pub fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(20_786), "2026-11-29");
    }

    #[test]
    fn next_weekdays() {
        // 2026-11-29 is a Sunday: the next Monday is the 30th, the next Saturday December 5th.
        assert_eq!(date(next_weekday(20_786, 0)), "2026-11-30");
        assert_eq!(date(next_weekday(20_786, 5)), "2026-12-05");
        // On a Monday, the next Monday is a week later.
        assert_eq!(date(next_weekday(20_787, 0)), "2026-12-07");
    }
}
