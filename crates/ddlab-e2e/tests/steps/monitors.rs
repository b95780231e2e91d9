//! Steps about the metric monitor: its query, thresholds, no-data handling and message.

use cucumber::then;
use ddlab_monitor::query::{Comparator, MonitorQuery, TimeAggregation};
use ddlab_monitor::template::Template;
use serde_json::Value;

use super::Lab;

#[then(expr = "the monitor's type is {string}")]
fn monitor_type(lab: &mut Lab, expected: String) {
    let kind = lab.payload()["type"].as_str().unwrap_or_default();
    // Datadog stores "metric alert" and answers "query alert": the two are the same monitor type.
    fn same(t: &str) -> &str {
        if t == "query alert" { "metric alert" } else { t }
    }
    assert_eq!(
        same(kind),
        same(&expected),
        "the monitor's type is {kind:?}, expected {expected:?}"
    );
}

#[then(expr = "the monitor's query averages {string} over the last {int} minutes")]
fn averages(lab: &mut Lab, metric: String, minutes: u64) {
    let query = monitor_query(lab);
    assert_eq!(
        query.time_aggregation,
        TimeAggregation::Avg,
        "the monitor reduces the window with {}, but the exercise asks for the average: avg(last_{minutes}m)",
        query.time_aggregation
    );
    assert_eq!(
        query.window.as_secs(),
        minutes * 60,
        "the monitor evaluates the last {}, but the exercise asks for the past {minutes} minutes",
        query.window_text
    );
    let metrics = query.metrics();
    assert!(
        metrics.iter().any(|m| *m == metric),
        "the monitor watches {metrics:?}, not {metric}"
    );
}

#[then(expr = "the monitor's query alerts above {int}")]
fn alerts_above(lab: &mut Lab, threshold: i64) {
    let query = monitor_query(lab);
    assert!(
        matches!(query.comparator, Comparator::Above | Comparator::AboveOrEqual),
        "the monitor compares with {}, but it must alert when the value goes above {threshold}",
        query.comparator
    );
    assert_eq!(
        query.threshold, threshold as f64,
        "the query's threshold is {}, expected {threshold}",
        query.threshold
    );
}

#[then(expr = "the monitor's warning threshold is {int}")]
fn warning(lab: &mut Lab, expected: i64) {
    assert_threshold(lab, "warning", expected);
}

#[then(expr = "the monitor's critical threshold is {int}")]
fn critical(lab: &mut Lab, expected: i64) {
    assert_threshold(lab, "critical", expected);
    let query = monitor_query(lab);
    assert_eq!(
        query.threshold, expected as f64,
        "the number in the query ({}) must equal options.thresholds.critical ({expected})",
        query.threshold
    );
}

#[then(expr = "the monitor notifies on no data after {int} minutes")]
fn no_data(lab: &mut Lab, minutes: i64) {
    let options = &lab.payload()["options"];
    assert_eq!(
        options["notify_no_data"],
        Value::Bool(true),
        "options.notify_no_data must be true"
    );
    assert_eq!(
        options["no_data_timeframe"].as_i64(),
        Some(minutes),
        "options.no_data_timeframe is {}, expected {minutes} (minutes)",
        options["no_data_timeframe"]
    );
}

#[then("the monitor's message notifies an e-mail address")]
fn notifies_email(lab: &mut Lab) {
    let message = lab.payload()["message"].as_str().unwrap_or_default();
    assert!(
        !email_handles(message).is_empty(),
        "the monitor's message has no @name@example.com handle, so no e-mail goes out when it triggers"
    );
}

#[then(expr = "the monitor's message has a well-formed {string} block")]
fn has_block(lab: &mut Lab, condition: String) {
    let template = template(lab);
    assert!(
        !template.sections(&condition).is_empty(),
        "the monitor's message has no {{{{#{condition}}}}}…{{{{/{condition}}}}} block"
    );
}

#[then(expr = "the monitor's {string} block uses {string} and {string}")]
fn block_uses(lab: &mut Lab, condition: String, first: String, second: String) {
    let template = template(lab);
    let used: Vec<&str> = template
        .sections(&condition)
        .iter()
        .flat_map(|s| s.variables())
        .collect();
    for variable in [&first, &second] {
        assert!(
            used.contains(&variable.as_str()),
            "{{{{{variable}}}}} must appear inside the {{{{#{condition}}}}} block (it uses {used:?})"
        );
    }
}

fn assert_threshold(lab: &Lab, name: &str, expected: i64) {
    let value = &lab.payload()["options"]["thresholds"][name];
    assert!(
        value.is_number(),
        "options.thresholds.{name} must be a number, got {value}"
    );
    assert_eq!(
        value.as_f64(),
        Some(expected as f64),
        "options.thresholds.{name} is {value}, expected {expected}"
    );
}

fn monitor_query(lab: &Lab) -> MonitorQuery {
    let text = lab.payload()["query"].as_str().unwrap_or_default();
    MonitorQuery::parse(text)
        .unwrap_or_else(|err| panic!("the monitor's query {text:?} does not parse: {err}"))
}

fn template(lab: &Lab) -> Template {
    let message = lab.payload()["message"].as_str().unwrap_or_default();
    Template::parse(message).unwrap_or_else(|err| panic!("the monitor's message is malformed at {err}"))
}

/// `@name@domain` handles: e-mail notifications (a space or the start of the text precedes the `@`).
pub(crate) fn email_handles(message: &str) -> Vec<&str> {
    message
        .split(char::is_whitespace)
        .filter_map(|word| word.strip_prefix('@'))
        .map(|handle| handle.trim_end_matches(|c: char| !c.is_alphanumeric()))
        .filter(|handle| handle.contains('@') && handle.contains('.'))
        .collect()
}
