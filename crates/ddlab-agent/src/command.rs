//! `ddlab-agent check <name>`: run one check's instances locally, without the daemon, and show what
//! they would send, like `datadog-agent check`.
//!
//! Each instance runs once (twice, one second apart, with `--check-rate`, so rates and monotonic counts
//! have two samples), then the aggregator is flushed completely and the series (v1 JSON shape), service
//! checks and events are printed, followed by the instances' *Collector* blocks. `--json` prints
//! `[{"aggregator": {"series", "service_checks", "events"}, "runner": [CheckStats], "loading_errors": [..]}]`.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use crate::aggregator::{Aggregator, AggregatorConfig, AggregatorHandle, Flush};
use crate::collector::{
    CheckStats, CollectorOptions, LoadOptions, LoadingError, load_checks, run_once, stats_for,
};
use crate::config::{AgentConfig, load_confd};
use crate::metadata;
use crate::python::DEFAULT_AGENT_VERSION;
use crate::runtime::{AgentError, python_options};
use crate::status::render_check;

/// What `check` asks for.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub name: String,
    /// `-t`: runs per instance; default 1.
    pub times: u32,
    /// `--check-rate`: two runs, one second apart.
    pub check_rate: bool,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub flush: Flush,
    pub runs: Vec<CheckStats>,
    pub loading_errors: Vec<LoadingError>,
    /// Whether a single run may have left rate metrics out.
    pub single_run: bool,
}

/// Loads `request.name` from `config`'s `conf.d` (or its default instance, for a core check), runs it
/// and flushes everything it submitted.
pub async fn run_check(config: &AgentConfig, request: &CheckRequest) -> Result<CheckReport, AgentError> {
    let hostname = metadata::resolve_hostname(config);
    let confd = load_confd(&config.confd_path);
    for problem in confd
        .problems
        .iter()
        .filter(|p| is_for_check(&p.path, &request.name))
    {
        tracing::warn!("{problem}");
    }
    let mut python = python_options(config, &hostname, DEFAULT_AGENT_VERSION);
    // A private folder: a running agent may own <run_path>/python.
    python.runtime_dir = None;
    let loaded = load_checks(
        &confd,
        LoadOptions {
            python,
            core_checks: true,
            only: Some(request.name.clone()),
        },
    )
    .await;
    if loaded.checks.is_empty() && loaded.errors.is_empty() {
        return Err(AgentError::NoSuchCheck {
            name: request.name.clone(),
            confd: config.confd_path.clone(),
        });
    }
    let (aggregator_config, _) = AggregatorConfig::from_agent_config(config, hostname.clone());
    let aggregator = AggregatorHandle::new(Aggregator::new(aggregator_config));
    let options = CollectorOptions {
        runners: 1,
        timeout: config.check_timeout,
        ..CollectorOptions::default()
    };
    let times = if request.check_rate {
        2
    } else {
        request.times.max(1)
    };
    let mut checks = loaded.checks;
    let mut runs: Vec<CheckStats> = checks.iter().map(|c| stats_for(&c.info)).collect();
    for round in 0..times {
        if round > 0 {
            // The Agent's --check-rate waits a second so the second sample gives a rate.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for (check, stats) in checks.iter_mut().zip(runs.iter_mut()) {
            run_once(check, stats, &aggregator, &options).await;
        }
    }
    drop(checks);
    if let Some(host) = &loaded.python {
        host.shutdown().await;
    }
    let flush = aggregator.lock().flush_all((options.clock)());
    Ok(CheckReport {
        flush,
        runs,
        loading_errors: loaded.errors,
        single_run: times == 1,
    })
}

impl CheckReport {
    /// Whether every instance loaded and its last run had no error.
    pub fn succeeded(&self) -> bool {
        self.loading_errors.is_empty() && self.runs.iter().all(|r| r.last_error.is_none())
    }

    /// The `--json` output.
    pub fn to_json(&self, api_key: &str, hostname: &str) -> Value {
        json!([{
            "aggregator": {
                "series": series_json(&self.flush),
                "service_checks": service_checks_json(&self.flush),
                "events": events_json(&self.flush, api_key, hostname),
            },
            "runner": self.runs,
            "loading_errors": self.loading_errors,
        }])
    }

    /// The text output, as `datadog-agent check` prints it.
    pub fn render(&self, hostname: &str) -> String {
        let mut out = String::new();
        let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
        let _ = writeln!(out, "=== Series ===");
        let _ = writeln!(out, "{}", pretty(&series_json(&self.flush)));
        let _ = writeln!(out, "=========");
        let _ = writeln!(out, "=== Service Checks ===");
        let _ = writeln!(out, "{}", pretty(&service_checks_json(&self.flush)));
        let _ = writeln!(out, "=========");
        let _ = writeln!(out, "=== Events ===");
        let _ = writeln!(out, "{}", pretty(&events_json(&self.flush, "", hostname)));
        let _ = writeln!(out, "=========");
        let _ = writeln!(out, "=== Sketches ===\n[]\n=========\n");
        let _ = writeln!(out, "=========\nCollector\n=========\n");
        let _ = writeln!(out, "  Running Checks\n  ==============\n");
        for run in &self.runs {
            render_check(&mut out, run);
        }
        if !self.loading_errors.is_empty() {
            let _ = writeln!(out, "  Loading Errors\n  ==============");
            for error in &self.loading_errors {
                let _ = writeln!(out, "    {} ({})", error.check, error.source);
                let _ = writeln!(out, "      Error: {}", error.error);
                for line in error.traceback.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
            out.push('\n');
        }
        if self.single_run {
            let _ = writeln!(
                out,
                "Check has run only once, if some metrics are missing you can try again with --check-rate \
                 to see any other metric if available."
            );
        }
        out
    }
}

/// Whether a `conf.d` file belongs to check `name`: `<name>.yaml…` or anything in `<name>.d/`.
fn is_for_check(path: &std::path::Path, name: &str) -> bool {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned());
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|f| f.to_string_lossy().into_owned());
    file.is_some_and(|f| f.split('.').next() == Some(name))
        || folder.is_some_and(|f| f == format!("{name}.d"))
}

fn series_json(flush: &Flush) -> Value {
    let body = ddlab_wire::series::encode_v1_json(&flush.series);
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|mut v| v.get_mut("series").map(Value::take))
        .unwrap_or(Value::Array(Vec::new()))
}

fn service_checks_json(flush: &Flush) -> Value {
    serde_json::from_slice(&ddlab_wire::check_run::encode(&flush.service_checks))
        .unwrap_or(Value::Array(Vec::new()))
}

fn events_json(flush: &Flush, api_key: &str, hostname: &str) -> Value {
    let body = ddlab_wire::intake::encode_events(api_key, hostname, &flush.events);
    let events = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("events").cloned())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    Value::Array(
        events
            .into_iter()
            .flat_map(|(_, list)| match list {
                Value::Array(items) => items,
                _ => Vec::new(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn problems_are_matched_to_their_check() {
        assert!(is_for_check(
            Path::new("/etc/dd/conf.d/mysql.d/conf.yaml"),
            "mysql"
        ));
        assert!(is_for_check(
            Path::new("/etc/dd/conf.d/my_metric.yaml"),
            "my_metric"
        ));
        assert!(is_for_check(
            Path::new("/etc/dd/conf.d/my_metric.yaml.default"),
            "my_metric"
        ));
        assert!(!is_for_check(Path::new("/etc/dd/conf.d/my_metric.yaml"), "my"));
        assert!(!is_for_check(
            Path::new("/etc/dd/conf.d/mysql_extra.d/conf.yaml"),
            "mysql"
        ));
    }
}
