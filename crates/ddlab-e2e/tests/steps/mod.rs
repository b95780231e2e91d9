//! Step definitions, one file per domain, and the world every scenario starts from.

mod agent;
mod apm;
mod checks;
mod dashboards;
mod downtimes;
mod monitors;
mod submission;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cucumber::given;
use ddlab_e2e::calendar::{date, next_weekday};
use ddlab_solution::{Payload, Solution, Variables};
use serde_json::Value;

/// One scenario's view of the lab: the solution under test and the payloads it is looking at.
#[derive(Debug, cucumber::World)]
#[world(init = Self::new)]
pub struct Lab {
    solution: Result<Arc<Solution>, String>,
    /// The payload the scenario's `Given` picked, placeholders filled in.
    payload: Option<Value>,
    downtimes: Vec<Value>,
}

impl Lab {
    fn new() -> Self {
        Self {
            solution: crate::solution(),
            payload: None,
            downtimes: Vec::new(),
        }
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
