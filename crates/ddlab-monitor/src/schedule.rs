//! Downtime schedules: one-time windows and recurrences in an IANA time zone, DST-correct.
//!
//! A recurring schedule is one or more *recurrences*: an RFC 5545 `RRULE`, a local start (a civil date and
//! time without offset, read in the schedule's time zone) and a duration. v1 downtimes (`recurrence.type`
//! `days|weeks|months|years|rrule` with `week_days`, `until_date`, `until_occurrences`) are turned into the
//! same form by [`Schedule::v1`]; v2 downtimes use [`Schedule::recurring`] directly.
//!
//! Rules are expanded by the `rrule` crate behind this adapter, in *floating* local time: the rule runs over
//! civil date-times (as if the zone were UTC) and each occurrence is then placed in the real zone with jiff.
//! So an occurrence keeps its wall-clock time across daylight-saving changes, as RFC 5545 asks for a
//! `DTSTART` with a `TZID`. Decisions where Datadog documents nothing:
//!
//! - **Durations are wall-clock**: an occurrence ends at local start + duration in civil time, so the
//!   exercise's `57h` from Saturday 00:00 ends on Monday 09:00 local even on a weekend with a DST change
//!   (56 or 58 real hours). A local time that does not exist (spring-forward gap) moves forward by the gap; an
//!   ambiguous one (fall-back fold) takes the earlier instant: jiff's "compatible" rule, as RFC 5545 says.
//! - Overlapping or touching occurrences (of one rule or of several) form one muted period: a downtime with
//!   a Friday 19:00–Saturday 09:00 and a Saturday 00:00–Monday 09:00 occurrence starts once and ends once.
//! - v1 schedules always include their first window (`start`..`end`), even when `start` is not one of
//!   `week_days`; later windows come from the rule. v2 occurrences come from the rule alone.
//! - `SECONDLY` and `MINUTELY` rules are refused: a downtime recurring more often than hourly is not a
//!   schedule but a mistake, and expanding it would cost a pass of the evaluation loop.

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// How far ahead occurrences are looked for.
const HORIZON_SECONDS: i64 = 5 * 366 * 86_400;
/// The most occurrences of one rule that one query walks through (about 27 years of daily occurrences).
const MAX_STEPS: usize = 10_000;

/// When a downtime mutes.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Once {
        start: i64,
        end: Option<i64>,
    },
    Recurring {
        zone: Zone,
        recurrences: Vec<Recurrence>,
        /// v1: the first window, always an occurrence.
        first: Option<Occurrence>,
    },
}

/// A time zone with the name it was given.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

/// One recurrence of a recurring schedule.
#[derive(Debug, Clone)]
pub struct Recurrence {
    /// The rule as written (without `RRULE:`), for display.
    pub rrule: String,
    /// The local start of the first occurrence.
    pub start: DateTime,
    /// The wall-clock length of each occurrence.
    pub duration: SignedDuration,
    set: rrule::RRuleSet,
}

/// A v2 recurrence as the API gives it, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurrenceSpec {
    pub rrule: String,
    /// Local `YYYY-MM-DDTHH:MM[:SS]`, no offset.
    pub start: String,
    /// `^\d+[mhdw]$`, e.g. `14h`.
    pub duration: String,
}

/// v1 `recurrence`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct V1Recurrence {
    /// `days`, `weeks`, `months`, `years` or `rrule`.
    pub kind: String,
    pub period: Option<i64>,
    /// `Mon`..`Sun`, for `weeks` only.
    pub week_days: Option<Vec<String>>,
    pub until_date: Option<i64>,
    pub until_occurrences: Option<i64>,
    pub rrule: Option<String>,
}

/// One muted period: `[start, end)` in epoch seconds; `end` is `None` for a downtime without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub start: i64,
    pub end: Option<i64>,
}

/// Where a schedule is in its life at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The next occurrence lies ahead.
    Scheduled,
    Active,
    /// No occurrence is left.
    Ended,
}

/// Why a schedule is refused; the messages are Datadog's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

impl Schedule {
    /// A one-time window; `end` `None` mutes forever.
    pub fn once(start: i64, end: Option<i64>) -> Result<Schedule, ScheduleError> {
        if let Some(end) = end
            && end <= start
        {
            return Err(ScheduleError("Downtime end must be after its start".to_owned()));
        }
        Ok(Schedule {
            kind: Kind::Once { start, end },
        })
    }

    /// A v2 recurring schedule: 1 to 5 recurrences in `timezone`. A recurrence without `start` starts at
    /// `now` (the creation time), in local time.
    pub fn recurring(timezone: &str, specs: &[RecurrenceSpec]) -> Result<Schedule, ScheduleError> {
        let zone = Zone::get(timezone)?;
        if specs.is_empty() || specs.len() > 5 {
            return Err(ScheduleError(
                "A recurring schedule needs between 1 and 5 recurrences".to_owned(),
            ));
        }
        let recurrences = specs
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let start = parse_local(&spec.start).ok_or_else(|| {
                    ScheduleError(format!(
                        "recurrences[{index}].start {:?} must be a local date and time without offset, e.g. 2030-01-07T19:00",
                        spec.start
                    ))
                })?;
                let duration = parse_duration(&spec.duration).ok_or_else(|| {
                    ScheduleError(format!(
                        "recurrences[{index}].duration {:?} must be a number of minutes, hours, days or weeks, e.g. 14h",
                        spec.duration
                    ))
                })?;
                Recurrence::new(&spec.rrule, start, duration, &zone, None)
                    .map_err(|ScheduleError(m)| ScheduleError(format!("recurrences[{index}]: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule {
            kind: Kind::Recurring {
                zone,
                recurrences,
                first: None,
            },
        })
    }

    /// A v1 schedule: `start`..`end` (epoch seconds) and an optional recurrence, in `timezone`.
    pub fn v1(
        start: i64,
        end: Option<i64>,
        timezone: &str,
        recurrence: Option<&V1Recurrence>,
    ) -> Result<Schedule, ScheduleError> {
        let Some(recurrence) = recurrence else {
            return Schedule::once(start, end);
        };
        let zone = Zone::get(timezone)?;
        let Some(end) = end else {
            return Err(ScheduleError(
                "A recurring downtime needs an end: each occurrence lasts end - start".to_owned(),
            ));
        };
        if end <= start {
            return Err(ScheduleError("Downtime end must be after its start".to_owned()));
        }
        if recurrence.until_date.is_some() && recurrence.until_occurrences.is_some() {
            return Err(ScheduleError(
                "You must provide only provide one of (until_occurrences, until_date)".to_owned(),
            ));
        }
        let period = recurrence.period.unwrap_or(1);
        if !(1..=10_000).contains(&period) {
            return Err(ScheduleError(
                "Invalid recurrence period: it must be a positive number".to_owned(),
            ));
        }
        let mut rule = match recurrence.kind.as_str() {
            "days" => format!("FREQ=DAILY;INTERVAL={period}"),
            "weeks" => {
                let mut rule = format!("FREQ=WEEKLY;INTERVAL={period}");
                if let Some(days) = recurrence.week_days.as_deref().filter(|d| !d.is_empty()) {
                    let days = days
                        .iter()
                        .map(|d| v1_week_day(d))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ScheduleError(
                                "Invalid set of days in week_days. Be sure that the first letter is capitalized."
                                    .to_owned(),
                            )
                        })?;
                    rule.push_str(";BYDAY=");
                    rule.push_str(&days.join(","));
                }
                rule
            }
            "months" => format!("FREQ=MONTHLY;INTERVAL={period}"),
            "years" => format!("FREQ=YEARLY;INTERVAL={period}"),
            "rrule" => recurrence
                .rrule
                .clone()
                .filter(|r| !r.trim().is_empty())
                .ok_or_else(|| ScheduleError("A recurrence of type rrule needs an rrule".to_owned()))?,
            _ => return Err(ScheduleError("Invalid recurrence type".to_owned())),
        };
        if recurrence.kind != "weeks" && recurrence.week_days.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(ScheduleError(
                "week_days can only be used with a recurrence of type weeks".to_owned(),
            ));
        }
        if recurrence.kind != "rrule" && recurrence.rrule.is_some() {
            return Err(ScheduleError("Invalid recurrence type".to_owned()));
        }
        if let Some(count) = recurrence.until_occurrences {
            if count < 1 {
                return Err(ScheduleError("until_occurrences must be at least 1".to_owned()));
            }
            rule.push_str(&format!(";COUNT={count}"));
        }
        let local_start = zone.local(start)?;
        let until = recurrence.until_date.map(|u| zone.local(u)).transpose()?;
        let duration = zone.local(end)?.duration_since(local_start);
        let first = Occurrence {
            start,
            end: Some(end),
        };
        let rule = Recurrence::new(&rule, local_start, duration, &zone, until)?;
        Ok(Schedule {
            kind: Kind::Recurring {
                zone,
                recurrences: vec![rule],
                first: Some(first),
            },
        })
    }

    /// The time zone of a recurring schedule.
    pub fn zone(&self) -> Option<&Zone> {
        match &self.kind {
            Kind::Once { .. } => None,
            Kind::Recurring { zone, .. } => Some(zone),
        }
    }

    /// The recurrences of a recurring schedule (empty for a one-time window).
    pub fn recurrences(&self) -> &[Recurrence] {
        match &self.kind {
            Kind::Once { .. } => &[],
            Kind::Recurring { recurrences, .. } => recurrences,
        }
    }

    /// The muted period containing `now`, if any.
    pub fn active_at(&self, now: i64) -> Option<Occurrence> {
        self.occurrences(now, 1)
            .into_iter()
            .next()
            .filter(|o| o.start <= now)
    }

    /// The muted periods that end after `after` (the one in progress first), at most `limit`, within five
    /// years. Overlapping and touching occurrences are merged.
    pub fn occurrences(&self, after: i64, limit: usize) -> Vec<Occurrence> {
        if limit == 0 {
            return Vec::new();
        }
        let mut found: Vec<Occurrence> = match &self.kind {
            Kind::Once { start, end } => vec![Occurrence {
                start: *start,
                end: *end,
            }],
            Kind::Recurring {
                zone,
                recurrences,
                first,
            } => {
                let mut found: Vec<Occurrence> = first.iter().copied().collect();
                for recurrence in recurrences {
                    found.extend(recurrence.occurrences(zone, after, limit + 1));
                }
                found
            }
        };
        found.sort_by_key(|o| (o.start, o.end.unwrap_or(i64::MAX)));
        let mut merged: Vec<Occurrence> = Vec::new();
        for occurrence in found {
            match merged.last_mut() {
                Some(last) if last.end.is_none_or(|end| occurrence.start <= end) => {
                    last.end = match (last.end, occurrence.end) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                _ => merged.push(occurrence),
            }
        }
        merged
            .into_iter()
            .filter(|o| o.end.is_none_or(|end| end > after))
            .take(limit)
            .collect()
    }

    /// Scheduled, active or ended at `now`.
    pub fn phase(&self, now: i64) -> Phase {
        match self.occurrences(now, 1).first() {
            Some(o) if o.start <= now => Phase::Active,
            Some(_) => Phase::Scheduled,
            None => Phase::Ended,
        }
    }
}

impl Zone {
    /// An IANA time zone (`America/New_York`, `UTC`).
    pub fn get(name: &str) -> Result<Zone, ScheduleError> {
        let tz = TimeZone::get(name).map_err(|_| {
            ScheduleError(format!(
                "Invalid timezone {name:?}: use an IANA time zone name such as America/New_York or UTC"
            ))
        })?;
        Ok(Zone {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local civil time of an epoch second.
    pub fn local(&self, epoch: i64) -> Result<DateTime, ScheduleError> {
        let ts = Timestamp::from_second(epoch)
            .map_err(|_| ScheduleError(format!("the time {epoch} is out of range")))?;
        Ok(self.tz.to_datetime(ts))
    }

    /// The epoch second of a local civil time (gaps move forward, folds take the earlier instant).
    pub fn epoch(&self, local: DateTime) -> Result<i64, ScheduleError> {
        self.tz
            .to_timestamp(local)
            .map(Timestamp::as_second)
            .map_err(|_| ScheduleError(format!("the local time {local} is out of range")))
    }

    /// `2030-01-07T19:00:00-05:00`: an instant written in this zone.
    pub fn format(&self, epoch: i64) -> String {
        match Timestamp::from_second(epoch) {
            Ok(ts) => ts
                .to_zoned_datetime(self.tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
            Err(_) => epoch.to_string(),
        }
    }
}

impl Recurrence {
    fn new(
        rule: &str,
        start: DateTime,
        duration: SignedDuration,
        zone: &Zone,
        until: Option<DateTime>,
    ) -> Result<Recurrence, ScheduleError> {
        if duration <= SignedDuration::ZERO {
            return Err(ScheduleError("the duration must be positive".to_owned()));
        }
        let text = rule.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        let floating = floating_rule(text, zone, until)?;
        let set: rrule::RRuleSet = format!("DTSTART:{}Z\nRRULE:{floating}", floating_stamp(start))
            .parse()
            .map_err(|err: rrule::RRuleError| ScheduleError(format!("invalid rrule {text:?}: {err}")))?;
        Ok(Recurrence {
            rrule: text.to_owned(),
            start,
            duration,
            set,
        })
    }

    /// Occurrences ending after `after`, at most `limit`, by walking the rule from its start.
    fn occurrences(&self, zone: &Zone, after: i64, limit: usize) -> Vec<Occurrence> {
        let horizon = after.saturating_add(HORIZON_SECONDS);
        let mut found = Vec::new();
        for floating in self.set.clone().into_iter().take(MAX_STEPS) {
            let Ok(ts) = Timestamp::from_second(floating.timestamp()) else {
                break;
            };
            let local = TimeZone::UTC.to_datetime(ts);
            let (Ok(start), Ok(end)) = (
                zone.epoch(local),
                local
                    .checked_add(self.duration)
                    .map_err(|_| ScheduleError(String::new()))
                    .and_then(|end| zone.epoch(end)),
            ) else {
                break;
            };
            if start > horizon {
                break;
            }
            if end > after {
                found.push(Occurrence {
                    start,
                    end: Some(end),
                });
                if found.len() >= limit {
                    break;
                }
            }
        }
        found
    }

    /// The duration as the v2 API writes it (`14h`, `90m`, `2d`, `1w`).
    pub fn duration_text(&self) -> String {
        let minutes = self.duration.as_secs() / 60;
        if minutes % (7 * 24 * 60) == 0 {
            format!("{}w", minutes / (7 * 24 * 60))
        } else if minutes % (24 * 60) == 0 {
            format!("{}d", minutes / (24 * 60))
        } else if minutes % 60 == 0 {
            format!("{}h", minutes / 60)
        } else {
            format!("{minutes}m")
        }
    }

    /// The local start as the v2 API writes it (`2030-01-07T19:00`).
    pub fn start_text(&self) -> String {
        self.start.strftime("%Y-%m-%dT%H:%M").to_string()
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Scheduled => "scheduled",
            Phase::Active => "active",
            Phase::Ended => "ended",
        })
    }
}

/// `YYYY-MM-DDTHH:MM[:SS]` without offset.
pub fn parse_local(text: &str) -> Option<DateTime> {
    let text = text.trim();
    if text.ends_with('Z') || text.contains('+') || text.get(10..).is_some_and(|t| t.contains('-')) {
        return None;
    }
    text.parse().ok()
}

/// `^\d+[mhdw]$`.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    if count <= 0 || text.starts_with('+') {
        return None;
    }
    let seconds = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    Some(SignedDuration::from_secs(count.checked_mul(seconds)?))
}

fn v1_week_day(day: &str) -> Option<&'static str> {
    Some(match day {
        "Mon" => "MO",
        "Tue" => "TU",
        "Wed" => "WE",
        "Thu" => "TH",
        "Fri" => "FR",
        "Sat" => "SA",
        "Sun" => "SU",
        _ => return None,
    })
}

fn floating_stamp(local: DateTime) -> String {
    local.strftime("%Y%m%dT%H%M%S").to_string()
}

/// The rule with its `UNTIL` moved into floating local time; refuses what a downtime rule may not hold.
fn floating_rule(rule: &str, zone: &Zone, until: Option<DateTime>) -> Result<String, ScheduleError> {
    if rule.is_empty() {
        return Err(ScheduleError("the rrule is empty".to_owned()));
    }
    let mut parts = Vec::new();
    let mut has_until = false;
    for part in rule.split(';').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| ScheduleError(format!("invalid rrule part {part:?}: expected NAME=VALUE")))?;
        let key = key.trim().to_ascii_uppercase();
        let value = value.trim();
        match key.as_str() {
            "DTSTART" | "DTEND" | "DURATION" => {
                return Err(ScheduleError(format!(
                    "{key} is not supported in a downtime rrule: the start and duration are given separately"
                )));
            }
            "FREQ" if matches!(value.to_ascii_uppercase().as_str(), "SECONDLY" | "MINUTELY") => {
                return Err(ScheduleError(format!(
                    "FREQ={value} is not supported: a downtime recurs at most hourly"
                )));
            }
            "UNTIL" => {
                has_until = true;
                let local = until_local(value, zone).ok_or_else(|| {
                    ScheduleError(format!(
                        "invalid UNTIL {value:?}: use YYYYMMDD, YYYYMMDDTHHMMSS (local) or YYYYMMDDTHHMMSSZ"
                    ))
                })?;
                parts.push(format!("UNTIL={}Z", floating_stamp(local)));
            }
            _ => parts.push(format!("{key}={value}")),
        }
    }
    if let Some(until) = until {
        if has_until {
            return Err(ScheduleError(
                "give the end of a recurrence once: UNTIL in the rrule or until_date".to_owned(),
            ));
        }
        parts.push(format!("UNTIL={}Z", floating_stamp(until)));
    }
    Ok(parts.join(";"))
}

fn until_local(value: &str, zone: &Zone) -> Option<DateTime> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let date = |s: &str| -> Option<jiff::civil::Date> {
        if s.len() != 8 || !digits(s) {
            return None;
        }
        jiff::civil::Date::new(s[..4].parse().ok()?, s[4..6].parse().ok()?, s[6..].parse().ok()?).ok()
    };
    let time = |s: &str| -> Option<jiff::civil::Time> {
        if s.len() != 6 || !digits(s) {
            return None;
        }
        jiff::civil::Time::new(
            s[..2].parse().ok()?,
            s[2..4].parse().ok()?,
            s[4..].parse().ok()?,
            0,
        )
        .ok()
    };
    match value.split_once('T') {
        None => Some(date(value)?.at(23, 59, 59, 0)),
        Some((d, t)) => match t.strip_suffix('Z') {
            Some(t) => {
                let utc = DateTime::from_parts(date(d)?, time(t)?);
                let epoch = TimeZone::UTC.to_timestamp(utc).ok()?.as_second();
                zone.local(epoch).ok()
            }
            None => Some(DateTime::from_parts(date(d)?, time(t)?)),
        },
    }
}

#[cfg(test)]
mod tests;
