//! Steps about the two recurring downtimes: when they silence the monitor, what they target, who they tell.
//!
//! Both Datadog APIs are read: v2 (`data.attributes.schedule.recurrences[]` with an RRULE, a duration and a
//! local start) and v1 (`recurrence` with `week_days`, and `start`/`end` epochs).

use cucumber::then;
use serde_json::Value;

use super::Lab;
use super::monitors::email_handles;

/// A weekly window: the days it starts on, the local start minute of the day (if known) and its length.
#[derive(Debug, Clone, PartialEq)]
struct Weekly {
    days: Vec<String>,
    start_minute: Option<u32>,
    hours: f64,
}

#[then(expr = "a downtime recurs on {string} from {int}:{int} for {int} hours")]
fn recurs(lab: &mut Lab, days: String, hour: u32, minute: u32, hours: u32) {
    let wanted: Vec<String> = days.split(',').map(str::to_owned).collect();
    let windows = windows(lab);
    let found = windows.iter().any(|w| {
        same_days(&w.days, &wanted)
            && w.start_minute.is_none_or(|m| m == hour * 60 + minute)
            && (w.hours - f64::from(hours)).abs() < 0.01
    });
    assert!(
        found,
        "no downtime recurs weekly on {days} from {hour:02}:{minute:02} for {hours} h; the downtimes recur as \
         {windows:?}. 7pm to 9am is a 14-hour window starting at 19:00 local time"
    );
}

#[then("a downtime covers Saturday 00:00 to Monday 00:00 at least")]
fn weekend(lab: &mut Lab) {
    let windows = windows(lab);
    let covers = windows.iter().any(|w| {
        let at_midnight = w.start_minute.is_none_or(|m| m == 0);
        let saturday_for_two_days = same_days(&w.days, &["SA".to_owned()]) && w.hours >= 48.0 - 0.01;
        // v1 day-long windows are often written 24 h minus one second.
        let each_weekend_day =
            same_days(&w.days, &["SA".to_owned(), "SU".to_owned()]) && w.hours >= 24.0 - 0.01;
        at_midnight && (saturday_for_two_days || each_weekend_day)
    });
    assert!(
        covers,
        "no downtime silences the whole weekend (Saturday 00:00 to Monday 00:00); the downtimes recur as {windows:?}"
    );
}

#[then("every downtime targets the monitor by id or by monitor tags")]
fn targets_monitor(lab: &mut Lab) {
    for (index, downtime) in lab.downtimes.iter().enumerate() {
        let attributes = attributes(downtime);
        let identifier = &attributes["monitor_identifier"];
        let by_id = identifier["monitor_id"].is_number() || downtime["monitor_id"].is_number();
        let tags = identifier["monitor_tags"]
            .as_array()
            .or_else(|| downtime["monitor_tags"].as_array());
        let by_tags = tags.is_some_and(|tags| !tags.is_empty() && tags.iter().all(|t| t != "*"));
        assert!(
            by_id || by_tags,
            "downtime #{index} does not target the monitor: scope `*` without monitor_id or monitor_tags \
             silences every monitor of the organisation"
        );
    }
}

#[then("every downtime names its timezone")]
fn names_timezone(lab: &mut Lab) {
    for (index, downtime) in lab.downtimes.iter().enumerate() {
        let attributes = attributes(downtime);
        let timezone = attributes["schedule"]["timezone"]
            .as_str()
            .or_else(|| downtime["timezone"].as_str());
        assert!(
            timezone.is_some_and(|tz| !tz.is_empty()),
            "downtime #{index} has no timezone, so 19:00 means 19:00 UTC; set schedule.timezone (v2) or timezone (v1)"
        );
    }
}

#[then("every downtime's message notifies an e-mail address")]
fn notifies(lab: &mut Lab) {
    for (index, downtime) in lab.downtimes.iter().enumerate() {
        let message = attributes(downtime)["message"]
            .as_str()
            .or_else(|| downtime["message"].as_str());
        assert!(
            message.is_some_and(|m| !email_handles(m).is_empty()),
            "downtime #{index} has no @e-mail handle in its message, so nobody hears that it was scheduled"
        );
    }
}

/// v2 bodies keep their fields under `data.attributes`; v1 bodies at the top.
fn attributes(downtime: &Value) -> &Value {
    match downtime.pointer("/data/attributes") {
        Some(attributes) => attributes,
        None => downtime,
    }
}

fn windows(lab: &Lab) -> Vec<Weekly> {
    lab.downtimes.iter().flat_map(weekly_windows).collect()
}

fn weekly_windows(downtime: &Value) -> Vec<Weekly> {
    let attributes = attributes(downtime);
    if let Some(recurrences) = attributes["schedule"]["recurrences"].as_array() {
        return recurrences.iter().filter_map(v2_window).collect();
    }
    v1_window(downtime).into_iter().collect()
}

fn v2_window(recurrence: &Value) -> Option<Weekly> {
    let rule = recurrence["rrule"].as_str()?;
    let parts: Vec<(&str, &str)> = rule.split(';').filter_map(|p| p.split_once('=')).collect();
    let get = |key: &str| {
        parts
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    };
    if !get("FREQ")?.eq_ignore_ascii_case("WEEKLY") || get("INTERVAL").is_some_and(|i| i != "1") {
        return None;
    }
    let days = get("BYDAY")?
        .split(',')
        .map(|d| d.trim().to_ascii_uppercase())
        .collect();
    let hours = duration_hours(recurrence["duration"].as_str()?)?;
    // Without `start` the first occurrence begins when the downtime is created: no fixed time of day.
    let start_minute = recurrence["start"].as_str().and_then(local_minute);
    Some(Weekly {
        days,
        start_minute,
        hours,
    })
}

fn v1_window(downtime: &Value) -> Option<Weekly> {
    let recurrence = &downtime["recurrence"];
    let days: Vec<String> = match recurrence["type"].as_str()? {
        "weeks" if recurrence["period"].as_i64().unwrap_or(1) == 1 => recurrence["week_days"]
            .as_array()?
            .iter()
            .filter_map(|d| d.as_str())
            .map(|d| d.get(..2).unwrap_or_default().to_ascii_uppercase())
            .collect(),
        "days" if recurrence["period"].as_i64().unwrap_or(1) == 1 => {
            ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
                .map(str::to_owned)
                .to_vec()
        }
        _ => return None,
    };
    let seconds = |key: &str| {
        downtime[key]
            .as_f64()
            .or_else(|| downtime[key].as_str()?.parse().ok())
    };
    let length = seconds("end")? - seconds("start")?;
    // The local start time of a v1 epoch needs the timezone database; the running lab checks it.
    Some(Weekly {
        days,
        start_minute: None,
        hours: (length + 1.0).div_euclid(60.0) / 60.0,
    })
}

/// `14h`, `57h`, `90m`, `1d`, `1w` in hours.
fn duration_hours(text: &str) -> Option<f64> {
    let (count, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let count: f64 = count.parse().ok()?;
    Some(match unit {
        "m" => count / 60.0,
        "h" => count,
        "d" => count * 24.0,
        "w" => count * 168.0,
        _ => return None,
    })
}

/// Minute of the day of a local `YYYY-MM-DDTHH:MM[:SS]` start.
fn local_minute(start: &str) -> Option<u32> {
    let time = start.split_once('T')?.1;
    let mut parts = time.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.get(..2)?.parse().ok()?;
    Some(hour * 60 + minute)
}

fn same_days(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}
