//! Step definitions, one file per domain, and the world every scenario starts from.

mod agent;
mod apm;
mod apm_live;
mod checks;
mod dashboards;
mod dashboards_live;
mod downtimes;
mod downtimes_live;
mod host;
mod live;
mod mail;
mod monitors;
mod monitors_live;
mod mysql_live;
mod script_live;
mod submission;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cucumber::given;
use ddlab_e2e::calendar::{date, next_weekday};
use ddlab_e2e::live::Live;
use ddlab_e2e::mailbox::Mail;
use ddlab_solution::{Payload, Solution, Variables};
use serde_json::Value;

/// One scenario's view of the lab: the solution under test, the payloads it is looking at, and what it
/// created in the running lab.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct Lab {
    solution: Result<Arc<Solution>, String>,
    /// The payload the scenario's `Given` picked, placeholders filled in.
    payload: Option<Value>,
    downtimes: Vec<Value>,
    /// The running lab, once `Given the lab runs the candidate's solution` found it.
    live: Option<Arc<Live>>,
    dashboard: Option<dashboards_live::Created>,
    snapshot_url: Option<String>,
    event_title: Option<String>,
    monitor: Option<monitors_live::CreatedMonitor>,
    scheduled: Vec<downtimes_live::Scheduled>,
    requests: Option<apm_live::Requests>,
    script: Option<script_live::ScriptRun>,
    /// The last e-mail a step waited for.
    mail: Option<Mail>,
    /// The test clock's time this scenario last set.
    clock_at: Option<i64>,
    /// Whether this scenario moved the lab's clock (put back when it ends).
    pub(crate) clock_moved: bool,
    /// When the scenario began.
    pub(crate) born: std::time::Instant,
}

impl Lab {
    fn new() -> Self {
        Self {
            solution: crate::solution(),
            payload: None,
            downtimes: Vec::new(),
            live: None,
            dashboard: None,
            snapshot_url: None,
            event_title: None,
            monitor: None,
            scheduled: Vec::new(),
            requests: None,
            script: None,
            mail: None,
            clock_at: None,
            clock_moved: false,
            born: std::time::Instant::now(),
        }
    }

    /// The running lab, when this scenario reached it.
    pub(crate) fn reached(&self) -> Option<&Arc<Live>> {
        self.live.as_ref()
    }

    /// The solution, or a step failure that says why it could not be read.
    fn solution(&self) -> &Solution {
        match &self.solution {
            Ok(solution) => solution,
            Err(err) => panic!("{err}"),
        }
    }

    fn payload(&self) -> &Value {
        self.payload
            .as_ref()
            .unwrap_or_else(|| panic!("no payload was picked by a Given step"))
    }

    /// Makes the payload `select` finds in the solution the one the scenario looks at.
    fn pick(&mut self, select: fn(&Solution) -> Option<&Payload>, what: &str, file: &str) {
        let payload = select(self.solution()).map(fill);
        self.payload = Some(payload.unwrap_or_else(|| panic!("the solution has no {what}: expected {file}")));
    }
}

/// Fills in a payload's placeholders with this lab's values.
fn fill(payload: &Payload) -> Value {
    payload
        .substituted(&variables())
        .unwrap_or_else(|err| panic!("{err}"))
}

/// A payload with its placeholders filled in with the running lab's values.
fn fill_live(lab: &Lab, payload: &Payload) -> Value {
    payload
        .substituted(&live_variables(lab.live()))
        .unwrap_or_else(|err| panic!("{err}"))
}

/// Placeholder values for the running lab: its host and the candidate's address.
pub(crate) fn live_variables(live: &Live) -> Variables {
    let mut vars = variables();
    vars.insert("HOST".to_owned(), live.host.clone());
    vars.insert("EMAIL".to_owned(), live.email.clone());
    vars
}

/// A number unique within the run, for names and markers.
pub(crate) fn sequence() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Placeholder values for checking payloads without a stack: the lab's host and e-mail, a stand-in
/// monitor id, and the real next Monday and Saturday.
pub(crate) fn variables() -> Variables {
    let today = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let today = i64::try_from(today).unwrap_or_default();
    [
        ("HOST", LAB_HOST.to_owned()),
        ("EMAIL", LAB_EMAIL.to_owned()),
        ("MONITOR_ID", "1".to_owned()),
        ("DASHBOARD_ID", "abc-def-ghi".to_owned()),
        ("NEXT_MONDAY", date(next_weekday(today, 0))),
        ("NEXT_SATURDAY", date(next_weekday(today, 5))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The hostname payloads are checked with when no stack is running.
pub(crate) const LAB_HOST: &str = "ddlab-host";
/// The address notifications go to in the lab.
pub(crate) const LAB_EMAIL: &str = "candidate@ddlab.test";

#[given("the candidate's solution")]
fn the_solution(lab: &mut Lab) {
    lab.solution();
}

#[given("the candidate's Timeboard payload")]
fn the_timeboard(lab: &mut Lab) {
    lab.pick(
        |s| s.timeboard.as_ref(),
        "Timeboard payload",
        ddlab_solution::layout::TIMEBOARD,
    );
}

#[given("the candidate's monitor payload")]
fn the_monitor(lab: &mut Lab) {
    lab.pick(
        |s| s.monitor.as_ref(),
        "monitor payload",
        ddlab_solution::layout::MONITOR,
    );
}

#[given("the candidate's APM and infrastructure dashboard payload")]
fn the_apm_dashboard(lab: &mut Lab) {
    lab.pick(
        |s| s.apm_dashboard.as_ref(),
        "APM + infrastructure dashboard",
        ddlab_solution::layout::APM_DASHBOARD,
    );
}

#[given("the candidate's downtime payloads")]
fn the_downtimes(lab: &mut Lab) {
    let downtimes: Vec<Value> = lab.solution().downtimes.iter().map(fill).collect();
    assert!(
        !downtimes.is_empty(),
        "the solution has no downtime payloads: expected api/downtime*.json"
    );
    lab.downtimes = downtimes;
}
