//! Schedule tests with fixed instants: the exercise's two downtimes at their edges, and DST changes.

use jiff::civil::date;

use super::*;

const NY: &str = "America/New_York";

/// Epoch seconds of a New York wall-clock time.
fn ny(year: i16, month: i8, day: i8, hour: i8, minute: i8) -> i64 {
    Zone::get(NY)
        .unwrap()
        .epoch(date(year, month, day).at(hour, minute, 0, 0))
        .unwrap()
}

/// Epoch seconds of a UTC instant written `2030-03-11T13:00:00Z`.
fn utc(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_second()
}

fn spec(rrule: &str, start: &str, duration: &str) -> RecurrenceSpec {
    RecurrenceSpec {
        rrule: rrule.to_owned(),
        start: start.to_owned(),
        duration: duration.to_owned(),
    }
}

/// The reference solution's weekday downtime (fixtures/solution/api/downtime-weekdays.json).
fn weekdays() -> Schedule {
    Schedule::recurring(
        NY,
        &[spec(
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "2030-01-07T19:00",
            "14h",
        )],
    )
    .unwrap()
}

/// The reference solution's weekend downtime (fixtures/solution/api/downtime-weekend.json).
fn weekend() -> Schedule {
    Schedule::recurring(NY, &[spec("FREQ=WEEKLY;BYDAY=SA", "2030-01-05T00:00", "57h")]).unwrap()
}

fn active(schedule: &Schedule, at: i64) -> bool {
    schedule.active_at(at).is_some()
}

#[test]
fn weekday_downtime_friday_night_and_monday_morning_edges() {
    let s = weekdays();
    // Friday 2030-01-11 19:00 New York starts an occurrence that ends Saturday 09:00.
    let friday = ny(2030, 1, 11, 19, 0);
    assert_eq!(friday, utc("2030-01-12T00:00:00Z"));
    assert!(!active(&s, friday - 1));
    assert_eq!(
        s.active_at(friday),
        Some(Occurrence {
            start: friday,
            end: Some(ny(2030, 1, 12, 9, 0))
        })
    );
    assert!(active(&s, ny(2030, 1, 12, 8, 59)));
    assert!(!active(&s, ny(2030, 1, 12, 9, 0)));
    // Nothing on Saturday night, Sunday, or Monday morning: the weekday rule starts on weekdays only.
    assert!(!active(&s, ny(2030, 1, 12, 22, 0)));
    assert!(!active(&s, ny(2030, 1, 14, 8, 59)));
    assert!(active(&s, ny(2030, 1, 14, 19, 0)));
    assert!(active(&s, ny(2030, 1, 15, 8, 59)));
    assert!(!active(&s, ny(2030, 1, 15, 9, 0)));
    assert!(!active(&s, ny(2030, 1, 15, 12, 0)));
    // Before the first occurrence: scheduled, and the next one is the first.
    assert_eq!(s.phase(ny(2030, 1, 7, 12, 0)), Phase::Scheduled);
    assert_eq!(
        s.occurrences(ny(2030, 1, 7, 12, 0), 2),
        [
            Occurrence {
                start: ny(2030, 1, 7, 19, 0),
                end: Some(ny(2030, 1, 8, 9, 0))
            },
            Occurrence {
                start: ny(2030, 1, 8, 19, 0),
                end: Some(ny(2030, 1, 9, 9, 0))
            },
        ]
    );
}

#[test]
fn weekend_downtime_covers_saturday_to_monday_nine() {
    let s = weekend();
    assert!(!active(&s, ny(2030, 1, 11, 23, 59)));
    assert!(active(&s, ny(2030, 1, 12, 0, 0)));
    assert!(active(&s, ny(2030, 1, 13, 12, 0)));
    assert!(active(&s, ny(2030, 1, 14, 8, 59)));
    assert!(!active(&s, ny(2030, 1, 14, 9, 0)));
}

#[test]
fn both_recurrences_in_one_downtime_form_one_period() {
    let s = Schedule::recurring(
        NY,
        &[
            spec("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "2030-01-07T19:00", "14h"),
            spec("FREQ=WEEKLY;BYDAY=SA", "2030-01-05T00:00", "57h"),
        ],
    )
    .unwrap();
    let next = s.occurrences(ny(2030, 1, 11, 12, 0), 2);
    assert_eq!(
        next[0],
        Occurrence {
            start: ny(2030, 1, 11, 19, 0),
            end: Some(ny(2030, 1, 14, 9, 0))
        }
    );
    assert_eq!(next[1].start, ny(2030, 1, 14, 19, 0));
}

#[test]
fn occurrences_keep_their_wall_clock_time_across_dst_changes() {
    // 2030-03-10 02:00 New York springs forward to 03:00.
    let s = weekdays();
    let friday = s.active_at(ny(2030, 3, 8, 20, 0)).unwrap();
    assert_eq!(friday.start, utc("2030-03-09T00:00:00Z"), "19:00 EST");
    let monday = s.active_at(ny(2030, 3, 11, 20, 0)).unwrap();
    assert_eq!(monday.start, utc("2030-03-11T23:00:00Z"), "19:00 EDT");
    assert_eq!(monday.end, Some(utc("2030-03-12T13:00:00Z")), "09:00 EDT");

    // The weekend window is 57 wall-clock hours: it ends Monday 09:00 local on both DST weekends.
    let s = weekend();
    let spring = s.active_at(ny(2030, 3, 9, 12, 0)).unwrap();
    assert_eq!(spring.start, utc("2030-03-09T05:00:00Z"));
    assert_eq!(spring.end, Some(utc("2030-03-11T13:00:00Z")));
    assert_eq!(spring.end.unwrap() - spring.start, 56 * 3600);
    // 2030-11-03 02:00 New York falls back to 01:00.
    let autumn = s.active_at(ny(2030, 11, 2, 12, 0)).unwrap();
    assert_eq!(autumn.start, utc("2030-11-02T04:00:00Z"));
    assert_eq!(autumn.end, Some(utc("2030-11-04T14:00:00Z")));
    assert_eq!(autumn.end.unwrap() - autumn.start, 58 * 3600);
}

#[test]
fn a_local_time_in_the_spring_gap_moves_forward() {
    let s = Schedule::recurring(NY, &[spec("FREQ=DAILY", "2030-03-09T02:30", "30m")]).unwrap();
    let next = s.occurrences(ny(2030, 3, 9, 12, 0), 2);
    // 02:30 does not exist on 2030-03-10: it is 03:30 EDT (07:30Z).
    assert_eq!(next[0].start, utc("2030-03-10T07:30:00Z"));
    assert_eq!(next[1].start, utc("2030-03-11T06:30:00Z"));
}

#[test]
fn v1_weekly_schedule_of_the_api_reference() {
    // 2030-01-07 19:00 New York = 1894060800, 14 hours, Monday to Friday.
    let recurrence = V1Recurrence {
        kind: "weeks".to_owned(),
        period: Some(1),
        week_days: Some(["Mon", "Tue", "Wed", "Thu", "Fri"].map(str::to_owned).to_vec()),
        ..V1Recurrence::default()
    };
    let s = Schedule::v1(1_894_060_800, Some(1_894_111_200), NY, Some(&recurrence)).unwrap();
    assert!(active(&s, ny(2030, 1, 11, 19, 0)));
    assert!(!active(&s, ny(2030, 1, 12, 9, 0)));
    assert!(!active(&s, ny(2030, 1, 13, 12, 0)));
    assert!(active(&s, ny(2030, 1, 14, 19, 0)));
    // The first window is the one given, even on a day the rule skips.
    let sunday = ny(2030, 1, 6, 19, 0);
    let s = Schedule::v1(sunday, Some(sunday + 3600), NY, Some(&recurrence)).unwrap();
    assert!(active(&s, sunday));
    assert!(active(&s, ny(2030, 1, 7, 19, 30)));
}

#[test]
fn v1_recurrence_ends_by_count_or_date() {
    let start = ny(2030, 1, 7, 19, 0);
    let days = |until_occurrences, until_date| V1Recurrence {
        kind: "days".to_owned(),
        period: Some(2),
        until_occurrences,
        until_date,
        ..V1Recurrence::default()
    };
    let s = Schedule::v1(start, Some(start + 3600), NY, Some(&days(Some(2), None))).unwrap();
    assert_eq!(
        s.occurrences(start - 1, 10)
            .iter()
            .map(|o| o.start)
            .collect::<Vec<_>>(),
        [start, ny(2030, 1, 9, 19, 0)]
    );
    assert_eq!(s.phase(ny(2030, 1, 10, 0, 0)), Phase::Ended);
    let s = Schedule::v1(
        start,
        Some(start + 3600),
        NY,
        Some(&days(None, Some(ny(2030, 1, 12, 0, 0)))),
    )
    .unwrap();
    assert_eq!(s.occurrences(start - 1, 10).len(), 3);
}

#[test]
fn v1_and_v2_errors_use_datadogs_messages() {
    let err = |recurrence: V1Recurrence| {
        Schedule::v1(0, Some(3600), "UTC", Some(&recurrence))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err(V1Recurrence {
            kind: "hours".to_owned(),
            ..V1Recurrence::default()
        }),
        "Invalid recurrence type"
    );
    assert_eq!(
        err(V1Recurrence {
            kind: "days".to_owned(),
            rrule: Some("FREQ=DAILY".to_owned()),
            ..V1Recurrence::default()
        }),
        "Invalid recurrence type"
    );
    assert_eq!(
        err(V1Recurrence {
            kind: "weeks".to_owned(),
            week_days: Some(vec!["mon".to_owned()]),
            ..V1Recurrence::default()
        }),
        "Invalid set of days in week_days. Be sure that the first letter is capitalized."
    );
    assert_eq!(
        err(V1Recurrence {
            kind: "weeks".to_owned(),
            until_date: Some(7200),
            until_occurrences: Some(3),
            ..V1Recurrence::default()
        }),
        "You must provide only provide one of (until_occurrences, until_date)"
    );
    let v2 = |rrule: &str, start: &str, duration: &str| {
        Schedule::recurring(NY, &[spec(rrule, start, duration)])
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        v2("FREQ=MINUTELY", "2030-01-07T19:00", "1h"),
        "recurrences[0]: FREQ=MINUTELY is not supported: a downtime recurs at most hourly"
    );
    assert_eq!(
        v2("DTSTART=20300101T000000;FREQ=DAILY", "2030-01-07T19:00", "1h"),
        "recurrences[0]: DTSTART is not supported in a downtime rrule: the start and duration are given separately"
    );
    assert_eq!(
        v2("FREQ=DAILY", "2030-01-07T19:00+01:00", "1h"),
        "recurrences[0].start \"2030-01-07T19:00+01:00\" must be a local date and time without offset, e.g. 2030-01-07T19:00"
    );
    assert_eq!(
        v2("FREQ=DAILY", "2030-01-07T19:00", "14x"),
        "recurrences[0].duration \"14x\" must be a number of minutes, hours, days or weeks, e.g. 14h"
    );
    assert!(v2("FREQ=SOMETIMES", "2030-01-07T19:00", "1h").starts_with("recurrences[0]: invalid rrule"));
    assert_eq!(
        Schedule::recurring("Mars/Olympus", &[spec("FREQ=DAILY", "2030-01-07T19:00", "1h")])
            .unwrap_err()
            .to_string(),
        "Invalid timezone \"Mars/Olympus\": use an IANA time zone name such as America/New_York or UTC"
    );
}

#[test]
fn until_in_utc_is_read_as_an_instant() {
    // UNTIL 2030-01-09T00:30Z is 2030-01-08 19:30 New York: the Tuesday 19:00 occurrence still starts.
    let s = Schedule::recurring(
        NY,
        &[spec(
            "FREQ=DAILY;UNTIL=20300109T003000Z",
            "2030-01-07T19:00",
            "1h",
        )],
    )
    .unwrap();
    assert_eq!(s.occurrences(ny(2030, 1, 1, 0, 0), 10).len(), 2);
}

#[test]
fn one_time_windows_and_phases() {
    let s = Schedule::once(100, Some(200)).unwrap();
    assert_eq!(s.phase(99), Phase::Scheduled);
    assert_eq!(s.phase(100), Phase::Active);
    assert_eq!(s.phase(200), Phase::Ended);
    let forever = Schedule::once(100, None).unwrap();
    assert_eq!(forever.phase(i64::from(u32::MAX)), Phase::Active);
    assert_eq!(
        Schedule::once(100, Some(100)).unwrap_err().to_string(),
        "Downtime end must be after its start"
    );
}

#[test]
fn texts_for_the_api() {
    let s = weekend();
    let r = &s.recurrences()[0];
    assert_eq!(r.duration_text(), "57h");
    assert_eq!(r.start_text(), "2030-01-05T00:00");
    assert_eq!(
        s.zone().unwrap().format(ny(2030, 7, 1, 9, 0)),
        "2030-07-01T09:00:00-04:00"
    );
    assert_eq!(parse_duration("2w"), Some(SignedDuration::from_secs(14 * 86_400)));
    assert_eq!(parse_duration("0h"), None);
    assert_eq!(parse_duration("h"), None);
}
