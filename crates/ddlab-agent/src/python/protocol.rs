//! The JSON-lines protocol between the agent and `ddlab_check_host.py`, and the conversion of a run's
//! answer into [`CheckOutput`].
//!
//! Requests and answers are documented in the host script's docstring; this file mirrors them field
//! for field. Values the check submitted are checked here once more (metric type codes, service check
//! statuses, event priorities): whatever does not fit the [`CheckOutput`] types is dropped with a
//! WARNING log line in the run's output instead of failing the run.

use std::path::PathBuf;

use ddlab_wire::check_run::CheckStatus;
use ddlab_wire::events::{AlertType, Event, Priority};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::check::{
    CheckError, CheckLog, CheckOutput, MetricSubmission, ServiceCheckSubmission, SubmissionKind,
};

/// Python's WARNING level, for the log lines this side adds.
const WARNING: u8 = 30;

/// One answer line.
#[derive(Debug, Deserialize)]
pub(crate) struct Answer {
    pub id: Option<u64>,
    pub ok: Option<Value>,
    pub error: Option<HostFailure>,
    pub timeout: Option<TimedOut>,
}

/// What a request that failed answers.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HostFailure {
    pub message: String,
    #[serde(default)]
    pub traceback: String,
    pub file: Option<PathBuf>,
    pub line: Option<u32>,
}

/// The answer to a run that did not finish in time; the host exits right after sending it.
#[derive(Debug, Deserialize)]
pub(crate) struct TimedOut {
    pub message: String,
    #[serde(default)]
    pub traceback: String,
    pub output: Option<RunOutput>,
}

/// The answer to `init`.
#[derive(Debug, Deserialize)]
pub(crate) struct Started {
    pub protocol: u32,
    pub python: String,
    pub executable: PathBuf,
    pub base_version: Option<String>,
    pub base_error: Option<String>,
    pub pid: u32,
}

/// The answer to `load`.
#[derive(Debug, Deserialize)]
pub(crate) struct Loaded {
    pub module: String,
    pub file: Option<PathBuf>,
    pub class: String,
    pub version: Option<String>,
    pub wheel: bool,
    pub deprecated_constructor: bool,
}

/// The answer to `run`: what the check submitted, as the `aggregator` and `datadog_agent` modules
/// recorded it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RunOutput {
    metrics: Vec<Metric>,
    service_checks: Vec<ServiceCheck>,
    events: Vec<RawEvent>,
    warnings: Vec<String>,
    metadata: Vec<(String, String)>,
    logs: Vec<Log>,
    error: Option<RunError>,
}

#[derive(Debug, Deserialize)]
struct Metric {
    #[serde(rename = "type")]
    kind: i64,
    name: String,
    value: f64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    flush_first_value: bool,
}

#[derive(Debug, Deserialize)]
struct ServiceCheck {
    name: String,
    status: i64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    message: String,
}

/// An event dict as `AgentCheck.event` builds it (`msg_title`, `msg_text`, `timestamp`…).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawEvent {
    msg_title: Option<String>,
    msg_text: Option<String>,
    timestamp: Option<i64>,
    priority: Option<String>,
    alert_type: Option<String>,
    host: Option<String>,
    tags: Vec<String>,
    aggregation_key: Option<String>,
    source_type_name: Option<String>,
    event_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Log {
    level: i64,
    message: String,
}

#[derive(Debug, Deserialize)]
struct RunError {
    message: String,
    #[serde(default)]
    traceback: String,
}

/// What the host needs to know about the agent, sent once per process in `init`.
#[derive(Debug, Clone)]
pub(crate) struct Init<'a> {
    pub version: &'a str,
    pub hostname: &'a str,
    pub host_tags: &'a [String],
    pub config: &'a serde_json::Map<String, Value>,
    pub cache_dir: &'a std::path::Path,
    pub checksd: &'a [PathBuf],
    pub process_start_time: f64,
}

pub(crate) fn init_request(init: &Init<'_>) -> Value {
    json!({
        "op": "init",
        "agent": {
            "version": init.version,
            "hostname": init.hostname,
            "host_tags": init.host_tags,
            "config": init.config,
            "cache_dir": init.cache_dir,
            "checksd": init.checksd,
            "process_start_time": init.process_start_time,
        }
    })
}

pub(crate) fn run_request(handle: u64, timeout_secs: f64) -> Value {
    json!({"op": "run", "handle": handle, "timeout": timeout_secs})
}

pub(crate) fn unload_request(handle: u64) -> Value {
    json!({"op": "unload", "handle": handle})
}

pub(crate) fn shutdown_request() -> Value {
    json!({"op": "shutdown"})
}

/// Turns a run's answer into the agent's types.
pub(crate) fn into_output(raw: RunOutput) -> CheckOutput {
    let mut logs: Vec<CheckLog> = raw
        .logs
        .into_iter()
        .map(|log| CheckLog {
            level: u8::try_from(log.level.clamp(0, 255)).unwrap_or(u8::MAX),
            message: log.message,
        })
        .collect();
    let mut dropped = |message: String| {
        logs.push(CheckLog {
            level: WARNING,
            message,
        })
    };

    let mut metrics = Vec::with_capacity(raw.metrics.len());
    for metric in raw.metrics {
        match SubmissionKind::from_code(metric.kind) {
            Some(kind) if metric.value.is_finite() => metrics.push(MetricSubmission {
                kind,
                name: metric.name,
                value: metric.value,
                tags: metric.tags,
                hostname: non_empty(metric.hostname),
                flush_first_value: metric.flush_first_value,
            }),
            Some(_) => dropped(format!(
                "metric {} has the value {}; sample dropped",
                metric.name, metric.value
            )),
            None => dropped(format!(
                "metric {} has the unknown type code {}; sample dropped",
                metric.name, metric.kind
            )),
        }
    }

    let mut service_checks = Vec::with_capacity(raw.service_checks.len());
    for check in raw.service_checks {
        let status = CheckStatus::from_code(check.status).unwrap_or_else(|| {
            dropped(format!(
                "service check {} has the status {}, which is not 0-3; sent as UNKNOWN",
                check.name, check.status
            ));
            CheckStatus::Unknown
        });
        service_checks.push(ServiceCheckSubmission {
            name: check.name,
            status,
            tags: check.tags,
            hostname: non_empty(check.hostname),
            message: non_empty(check.message),
        });
    }

    let events = raw
        .events
        .into_iter()
        .map(|event| into_event(event, &mut dropped))
        .collect();

    CheckOutput {
        metrics,
        service_checks,
        events,
        warnings: raw.warnings,
        metadata: raw.metadata,
        logs,
        error: raw.error.map(|error| CheckError {
            message: error.message,
            traceback: error.traceback,
        }),
        aborted: None,
    }
}

fn into_event(raw: RawEvent, dropped: &mut impl FnMut(String)) -> Event {
    let title = raw.msg_title.unwrap_or_default();
    let priority = match raw.priority.as_deref() {
        None | Some("") => Priority::Normal,
        Some(name) => Priority::from_name(name).unwrap_or_else(|| {
            dropped(format!(
                "event '{title}' has the priority '{name}', not normal or low; sent as normal"
            ));
            Priority::Normal
        }),
    };
    let alert_type = match raw.alert_type.as_deref() {
        None | Some("") => AlertType::Info,
        Some(name) => AlertType::from_name(name).unwrap_or_else(|| {
            dropped(format!(
                "event '{title}' has the alert_type '{name}', which Datadog does not know; sent as info"
            ));
            AlertType::Info
        }),
    };
    Event {
        text: raw.msg_text.unwrap_or_default(),
        date_happened: raw.timestamp.filter(|t| *t != 0),
        priority,
        host: raw.host.and_then(non_empty),
        tags: raw.tags,
        alert_type,
        aggregation_key: raw.aggregation_key.and_then(non_empty),
        source_type_name: raw.source_type_name.and_then(non_empty),
        related_event_id: None,
        device_name: None,
        event_type: raw.event_type.and_then(non_empty),
        title,
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(json: &str) -> CheckOutput {
        into_output(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn every_submission_kind_maps_to_its_type() {
        let output = convert(
            r#"{"metrics": [
                {"type": 0, "name": "g", "value": 1.5, "tags": ["a:b"], "hostname": "", "flush_first_value": false},
                {"type": 1, "name": "r", "value": 2, "tags": [], "hostname": "other", "flush_first_value": false},
                {"type": 3, "name": "m", "value": 3, "tags": [], "hostname": "", "flush_first_value": true},
                {"type": 6, "name": "hr", "value": 4, "tags": [], "hostname": "", "flush_first_value": false}
              ]}"#,
        );
        let kinds: Vec<(SubmissionKind, &str, Option<&str>, bool)> = output
            .metrics
            .iter()
            .map(|m| {
                (
                    m.kind,
                    m.name.as_str(),
                    m.hostname.as_deref(),
                    m.flush_first_value,
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                (SubmissionKind::Gauge, "g", None, false),
                (SubmissionKind::Rate, "r", Some("other"), false),
                (SubmissionKind::MonotonicCount, "m", None, true),
                (SubmissionKind::Historate, "hr", None, false),
            ]
        );
        assert!(output.logs.is_empty(), "{:?}", output.logs);
    }

    #[test]
    fn values_that_do_not_fit_are_dropped_with_a_warning_line() {
        let output = convert(
            r#"{"metrics": [{"type": 9, "name": "weird", "value": 1}],
                "service_checks": [{"name": "sc", "status": 7, "message": "?"}],
                "events": [{"msg_title": "t", "priority": "urgent", "alert_type": "panic", "timestamp": 0}]}"#,
        );
        assert!(output.metrics.is_empty());
        assert_eq!(output.service_checks[0].status, CheckStatus::Unknown);
        assert_eq!(output.events[0].priority, Priority::Normal);
        assert_eq!(output.events[0].alert_type, AlertType::Info);
        assert_eq!(output.events[0].date_happened, None);
        let lines: Vec<&str> = output.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(
            lines,
            [
                "metric weird has the unknown type code 9; sample dropped",
                "service check sc has the status 7, which is not 0-3; sent as UNKNOWN",
                "event 't' has the priority 'urgent', not normal or low; sent as normal",
                "event 't' has the alert_type 'panic', which Datadog does not know; sent as info",
            ]
        );
        assert!(output.logs.iter().all(|l| l.level == WARNING));
    }

    #[test]
    fn an_agent_event_dict_becomes_an_event() {
        let output = convert(
            r#"{"events": [{"msg_title": "Deploy", "msg_text": "v2", "timestamp": 1700000000,
                "priority": "low", "alert_type": "success", "host": "", "tags": ["x:y"],
                "aggregation_key": "deploys", "source_type_name": "my_metric", "event_type": "deploy"}]}"#,
        );
        assert_eq!(
            output.events,
            [Event {
                title: "Deploy".into(),
                text: "v2".into(),
                date_happened: Some(1_700_000_000),
                priority: Priority::Low,
                host: None,
                tags: vec!["x:y".into()],
                alert_type: AlertType::Success,
                aggregation_key: Some("deploys".into()),
                source_type_name: Some("my_metric".into()),
                related_event_id: None,
                device_name: None,
                event_type: Some("deploy".into()),
            }]
        );
    }
}
