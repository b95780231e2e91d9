//! Live steps about the downtimes: scheduled for the monitor from the candidate's payloads, the e-mails
//! that announce them, and whether they mute the monitor at given local times.

use cucumber::{given, then, when};
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use serde_json::Value;

use super::Lab;

/// A downtime a scenario scheduled: the ids the answer gave, its zone and first local start date.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    /// Every id the API answered with (v1: the number; v2: the uuid), as text.
    pub ids: Vec<String>,
    pub zone: String,
    pub first_day: Option<Date>,
}

#[given("the candidate's downtimes are scheduled for that monitor")]
async fn schedule(lab: &mut Lab) {
    let monitor_id = lab.created_monitor().id;
    let payloads = lab.solution().downtimes.clone();
    assert!(
        !payloads.is_empty(),
        "the solution has no api/downtime*.json payloads"
    );
    let mut scheduled = Vec::new();
    for payload in &payloads {
        let mut vars = super::live_variables(lab.live());
        vars.insert("MONITOR_ID".to_owned(), monitor_id.to_string());
        let body = payload.substituted(&vars).unwrap_or_else(|err| panic!("{err}"));
        let v2 = body.get("data").is_some();
        let path = if v2 {
            "/api/v2/downtime"
        } else {
            "/api/v1/downtime"
        };
        let answer = lab
            .live()
            .api
            .post(path, &body)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", payload.path.display()));
        scheduled.push(describe(&body, &answer, v2));
    }
    lab.scheduled = scheduled;
}

fn describe(body: &Value, answer: &Value, v2: bool) -> Scheduled {
    if v2 {
        let attributes = &body["data"]["attributes"];
        let schedule = &attributes["schedule"];
        let zone = schedule["timezone"]
            .as_str()
            .or_else(|| attributes["display_timezone"].as_str())
            .unwrap_or("UTC")
            .to_owned();
        let start = schedule["recurrences"][0]["start"]
            .as_str()
            .or_else(|| schedule["start"].as_str());
        let first_day = start
            .and_then(|s| s.get(..10))
            .and_then(|d| d.parse::<Date>().ok());
        let mut ids = vec![answer["data"]["id"].as_str().unwrap_or_default().to_owned()];
        if let Some(n) = answer["data"]["attributes"]["id"].as_i64() {
            ids.push(n.to_string());
        }
        Scheduled { ids, zone, first_day }
    } else {
        let zone = body["timezone"].as_str().unwrap_or("UTC").to_owned();
        let first_day = body["start"].as_i64().and_then(|start| {
            let tz = TimeZone::get(&zone).ok()?;
            Some(tz.to_datetime(jiff::Timestamp::from_second(start).ok()?).date())
        });
        Scheduled {
            ids: vec![answer["id"].to_string()],
            zone,
            first_day,
        }
    }
}

#[then("the candidate receives an e-mail for each scheduled downtime")]
async fn announced(lab: &mut Lab) {
    for downtime in lab.scheduled.clone() {
        super::mail::wait_for_mail(lab.live(), |m| {
            downtime
                .ids
                .iter()
                .any(|id| !id.is_empty() && m.body.contains(id.as_str()))
        })
        .await;
    }
}

#[when(expr = "the lab's clock is at {int}:{int} on the first {word} of the downtimes, in their timezone")]
async fn clock_at(lab: &mut Lab, hour: i8, minute: i8, day: String) {
    let weekday = match day.as_str() {
        "Monday" => Weekday::Monday,
        "Tuesday" => Weekday::Tuesday,
        "Wednesday" => Weekday::Wednesday,
        "Thursday" => Weekday::Thursday,
        "Friday" => Weekday::Friday,
        "Saturday" => Weekday::Saturday,
        "Sunday" => Weekday::Sunday,
        other => panic!("{other:?} is not a day of the week"),
    };
    let scheduled = &lab.scheduled;
    assert!(
        !scheduled.is_empty(),
        "no downtime was scheduled by an earlier step"
    );
    let zone = scheduled[0].zone.clone();
    let latest = scheduled
        .iter()
        .filter_map(|d| d.first_day)
        .max()
        .unwrap_or_else(|| panic!("the downtimes have no start date"));
    let mut date = latest;
    while date.weekday() != weekday {
        date = date.tomorrow().unwrap_or_else(|err| panic!("{err}"));
    }
    let local = DateTime::from_parts(date, jiff::civil::time(hour, minute, 0, 0));
    let tz = TimeZone::get(&zone).unwrap_or_else(|err| panic!("timezone {zone:?}: {err}"));
    let at = tz
        .to_timestamp(local)
        .unwrap_or_else(|err| panic!("{local} in {zone}: {err}"))
        .as_second();
    lab.clock_to(at).await;
}
