//! Live steps about the monitor: created from the candidate's payload, driven through its states on the
//! lab's test clock with my_metric values submitted through the API, and the e-mails it sends.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicI64, Ordering};

use cucumber::{given, then, when};
use ddlab_e2e::live::wall_clock;
use serde_json::{Value, json};

use super::live::tagged_name;
use super::{Lab, fill_live};

/// Each clock-driven scenario of a run gets its own stretch of future time, so their points never mix
/// with each other's or with the agent's real ones.
static NEXT_STRETCH: AtomicI64 = AtomicI64::new(0);

/// The monitor a scenario created.
#[derive(Debug, Clone)]
pub(crate) struct CreatedMonitor {
    pub id: i64,
    pub name: String,
    pub message: String,
}

#[given("the candidate's monitor is created through the API")]
async fn create_monitor(lab: &mut Lab) {
    let payload = lab
        .solution()
        .monitor
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no {}", ddlab_solution::layout::MONITOR));
    let mut body = fill_live(lab, payload);
    let live = lab.live().clone();
    let name = tagged_name(&live, body["name"].as_str().unwrap_or("monitor"));
    let name = format!("{name} #{}", super::sequence());
    body["name"] = json!(name);
    let answer = live
        .api
        .post("/api/v1/monitor", &body)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let id = answer["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("the monitor API answered without an id: {answer}"));
    lab.monitor = Some(CreatedMonitor {
        id,
        name,
        message: body["message"].as_str().unwrap_or_default().to_owned(),
    });
}

impl Lab {
    pub(crate) fn created_monitor(&self) -> &CreatedMonitor {
        self.monitor
            .as_ref()
            .unwrap_or_else(|| panic!("no monitor was created by an earlier step"))
    }

    /// Moves the lab's clock, remembering to put it back when the scenario ends.
    pub(crate) async fn clock_to(&mut self, now: i64) {
        self.clock_moved = true;
        self.live()
            .set_clock(now)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
    }
}

/// Submits one minute of `metric` on the host ending at `end`, a point every 15 s, through the API.
async fn submit_minute(lab: &Lab, metric: &str, value: f64, end: i64) {
    let live = lab.live();
    let points: Vec<Value> = (0..4).map(|i| json!([end - 45 + i * 15, value])).collect();
    let body = json!({
        "series": [{"metric": metric, "points": points, "host": live.host, "type": "gauge"}]
    });
    live.api
        .post("/api/v1/series", &body)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
}

#[when(expr = "{string} on the host stays at {int} for {int} minutes")]
async fn stays_at(lab: &mut Lab, metric: String, value: i64, minutes: i64) {
    let start = match lab.clock_at {
        Some(at) => at,
        None => {
            let stretch = NEXT_STRETCH.fetch_add(1, Ordering::Relaxed);
            // Two days ahead, whole minutes, six hours apart per scenario.
            (wall_clock() / 60) * 60 + 2 * 86_400 + stretch * 6 * 3600
        }
    };
    // One evaluation per minute, as the backend runs them, with that minute's points submitted first.
    for minute in 1..=minutes + 1 {
        let now = start + minute * 60;
        lab.clock_to(now).await;
        submit_minute(lab, &metric, value as f64, now).await;
        lab.live()
            .evaluate_monitors()
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        lab.clock_at = Some(now);
    }
}

#[when(expr = "{string} on the host stops reporting for {int} minutes")]
async fn stops(lab: &mut Lab, _metric: String, minutes: i64) {
    let start = lab
        .clock_at
        .unwrap_or_else(|| panic!("the metric must report before it stops"));
    for minute in 1..=minutes {
        let now = start + minute * 60;
        lab.clock_to(now).await;
        lab.live()
            .evaluate_monitors()
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        lab.clock_at = Some(now);
    }
}

#[then(expr = "the monitor is in the {string} state")]
async fn in_state(lab: &mut Lab, expected: String) {
    let monitor = lab.created_monitor();
    let answer = lab
        .live()
        .api
        .get(
            &format!("/api/v1/monitor/{}", monitor.id),
            &[("group_states", "all")],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        answer["overall_state"].as_str(),
        Some(expected.as_str()),
        "monitor {} is {}; its groups: {}",
        monitor.id,
        answer["overall_state"],
        answer["state"]["groups"]
    );
}

/// The word Datadog puts in the title of the notification for a state.
fn transition_word(state: &str) -> &'static str {
    match state {
        "Alert" => "Triggered",
        "Warn" => "Warn",
        "No Data" => "No Data",
        "OK" => "Recovered",
        other => panic!("no monitor state {other:?}; the states are Alert, Warn, No Data and OK"),
    }
}

#[then(expr = "the candidate receives the monitor's {string} e-mail")]
async fn receives(lab: &mut Lab, state: String) {
    let monitor = lab.created_monitor().clone();
    let word = transition_word(&state);
    let mail = super::mail::wait_for_mail(lab.live(), |m| {
        m.subject.contains(&monitor.name) && m.subject.contains(&format!("[{word}"))
    })
    .await;
    lab.mail = Some(mail);
}

#[then(expr = "that e-mail says {string} and the host's IP address")]
async fn says_value_and_ip(lab: &mut Lab, value: String) {
    let mail = lab
        .mail
        .clone()
        .unwrap_or_else(|| panic!("no e-mail was received by an earlier step"));
    let text = mail.text();
    assert!(
        text.contains(&value),
        "the e-mail {:?} does not show the value {value}; put {{{{value}}}} in the is_alert block:\n{}",
        mail.subject,
        mail.body
    );
    let ip = text
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|word| word.parse::<Ipv4Addr>().is_ok());
    assert!(
        ip.is_some(),
        "the e-mail {:?} has no IP address; put {{{{host.ip}}}} in the is_alert block:\n{}",
        mail.subject,
        mail.body
    );
}

#[then("that e-mail differs from the alert message")]
async fn differs_from_alert(lab: &mut Lab) {
    let mail = lab
        .mail
        .clone()
        .unwrap_or_else(|| panic!("no e-mail was received by an earlier step"));
    let message = lab.created_monitor().message.clone();
    let alert_text = block_literal(&message, "is_alert");
    if let Some(alert_text) = alert_text {
        assert!(
            !mail.body.contains(&alert_text),
            "the warning e-mail repeats the alert message {alert_text:?}: each state needs its own block"
        );
    }
    assert!(
        !mail.body.contains("{{"),
        "the e-mail has template variables left in it:\n{}",
        mail.body
    );
}

/// The first literal text of a `{{#name}}` block (up to the first tag), if it has any worth comparing.
fn block_literal(message: &str, name: &str) -> Option<String> {
    let open = format!("{{{{#{name}}}}}");
    let start = message.find(&open)? + open.len();
    let rest = &message[start..];
    let end = rest.find("{{").unwrap_or(rest.len());
    let text = rest[..end].trim();
    (text.len() >= 5).then(|| text.to_owned())
}

#[then("the monitor is muted")]
async fn muted(lab: &mut Lab) {
    let active = active_downtimes(lab).await;
    assert!(
        !active.is_empty(),
        "no downtime is active for monitor {} at the lab's clock",
        lab.created_monitor().id
    );
}

#[then("the monitor is not muted")]
async fn not_muted(lab: &mut Lab) {
    let active = active_downtimes(lab).await;
    assert!(
        active.is_empty(),
        "downtimes {active:?} are active for monitor {} at the lab's clock",
        lab.created_monitor().id
    );
}

async fn active_downtimes(lab: &Lab) -> Vec<Value> {
    let id = lab.created_monitor().id;
    let answer = lab
        .live()
        .api
        .get(&format!("/api/v1/monitor/{id}"), &[("with_downtimes", "true")])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    answer["matching_downtimes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["active"].as_bool() == Some(true))
        .map(|d| d["id"].clone())
        .collect()
}
