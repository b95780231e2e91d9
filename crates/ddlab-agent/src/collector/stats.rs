//! What `status` shows about each check instance, updated after every run (pure).

use std::collections::BTreeMap;
use std::time::Duration;

use ddlab_wire::check_run::CheckStatus;
use serde::{Deserialize, Serialize};

use crate::check::{Abort, CheckOutput, ServiceCheckSubmission};

/// The service check the collector sends after every run.
pub const CHECK_STATUS: &str = "datadog.agent.check_status";

/// One check instance as the Agent's `status` shows it under *Running Checks*.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckStats {
    /// The check name (`my_metric`).
    pub name: String,
    /// The instance's check ID (`my_metric:5ba864f3937b5bad`).
    pub check_id: String,
    /// The check's version (`__version__` of a Python check), shown next to its name.
    pub version: Option<String>,
    /// Who runs it.
    pub loader: Loader,
    /// `file:<path>` of its configuration, or `default` for a core check without one.
    pub source: String,
    /// `min_collection_interval`, in seconds.
    pub interval_seconds: f64,
    /// The outcome of the last run.
    pub state: RunState,
    pub total_runs: u64,
    /// Runs that ended in an error (timeouts and crashes included).
    pub total_errors: u64,
    /// Runs stopped after overrunning their timeout.
    #[serde(default)]
    pub total_timeouts: u64,
    /// Runs whose process died under them (the Python check host's interpreter, restarted).
    #[serde(default)]
    pub total_crashes: u64,
    /// Warnings over all runs.
    pub total_warnings: u64,
    /// Slots skipped because the previous run was still going (or the collector was late).
    pub skipped_runs: u64,
    pub metric_samples: RunCounts,
    pub events: RunCounts,
    pub service_checks: RunCounts,
    pub last_execution_ms: u64,
    pub average_execution_ms: u64,
    pub total_execution_ms: u64,
    /// When the last run finished, Unix milliseconds.
    pub last_run_at_ms: Option<i64>,
    /// When the last run without an error finished, Unix milliseconds.
    pub last_successful_run_at_ms: Option<i64>,
    /// The last run's error, with its traceback.
    pub last_error: Option<ErrorReport>,
    /// The last run's warnings.
    pub warnings: Vec<String>,
    /// `set_metadata` values (mysql `flavor`, `version.raw`…), the latest of each.
    pub metadata: BTreeMap<String, String>,
}

/// Which side of the agent runs a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loader {
    /// The Python check host (checks.d and installed integrations).
    Python,
    /// A native reimplementation of an integration (mysql).
    Native,
    /// A core system check read from `/proc`.
    Core,
}

/// The status flag of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunState {
    /// Scheduled, not run yet.
    Pending,
    Ok,
    Warning,
    Error,
}

/// A count for the last run and since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub last_run: u64,
    pub total: u64,
}

/// An error as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    pub message: String,
    pub traceback: String,
}

impl CheckStats {
    /// An instance that has not run yet.
    pub fn new(
        name: &str,
        check_id: &str,
        version: Option<String>,
        loader: Loader,
        source: String,
        interval: Duration,
    ) -> Self {
        CheckStats {
            name: name.to_owned(),
            check_id: check_id.to_owned(),
            version,
            loader,
            source,
            interval_seconds: interval.as_secs_f64(),
            state: RunState::Pending,
            total_runs: 0,
            total_errors: 0,
            total_timeouts: 0,
            total_crashes: 0,
            total_warnings: 0,
            skipped_runs: 0,
            metric_samples: RunCounts::default(),
            events: RunCounts::default(),
            service_checks: RunCounts::default(),
            last_execution_ms: 0,
            average_execution_ms: 0,
            total_execution_ms: 0,
            last_run_at_ms: None,
            last_successful_run_at_ms: None,
            last_error: None,
            warnings: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Takes one run's output (before the collector's own service check is added), which took
    /// `elapsed` and finished at `finished_at_ms`.
    pub fn record(&mut self, output: &CheckOutput, elapsed: Duration, finished_at_ms: i64) {
        self.total_runs += 1;
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        self.last_execution_ms = ms;
        self.total_execution_ms = self.total_execution_ms.saturating_add(ms);
        self.average_execution_ms = self.total_execution_ms / self.total_runs;
        self.metric_samples.add(output.metrics.len());
        self.events.add(output.events.len());
        self.service_checks.add(output.service_checks.len());
        self.total_warnings += output.warnings.len() as u64;
        self.warnings.clone_from(&output.warnings);
        for (key, value) in &output.metadata {
            self.metadata.insert(key.clone(), value.clone());
        }
        self.last_run_at_ms = Some(finished_at_ms);
        match output.aborted {
            Some(Abort::Timeout) => self.total_timeouts += 1,
            Some(Abort::Crash) => self.total_crashes += 1,
            None => {}
        }
        self.last_error = output.error.as_ref().map(|e| ErrorReport {
            message: e.message.clone(),
            traceback: e.traceback.clone(),
        });
        self.state = if output.error.is_some() {
            self.total_errors += 1;
            RunState::Error
        } else {
            self.last_successful_run_at_ms = Some(finished_at_ms);
            if output.warnings.is_empty() {
                RunState::Ok
            } else {
                RunState::Warning
            }
        };
    }
}

impl RunCounts {
    fn add(&mut self, count: usize) {
        self.last_run = count as u64;
        self.total += count as u64;
    }
}

impl RunState {
    /// The name `status` prints in brackets.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Ok => "OK",
            RunState::Warning => "WARNING",
            RunState::Error => "ERROR",
        }
    }
}

/// `datadog.agent.check_status` for one run of check `name`: CRITICAL with the error's message,
/// WARNING with the warnings, else OK; tagged `check:<name>`.
pub fn check_status(name: &str, output: &CheckOutput) -> ServiceCheckSubmission {
    let (status, message) = match (&output.error, output.warnings.is_empty()) {
        (Some(error), _) => (CheckStatus::Critical, Some(error.message.clone())),
        (None, false) => (CheckStatus::Warning, Some(output.warnings.join("\n"))),
        (None, true) => (CheckStatus::Ok, None),
    };
    ServiceCheckSubmission {
        name: CHECK_STATUS.to_owned(),
        status,
        tags: vec![format!("check:{name}")],
        hostname: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckError, MetricSubmission, SubmissionKind};

    fn metric() -> MetricSubmission {
        MetricSubmission {
            kind: SubmissionKind::Gauge,
            name: "my_metric".into(),
            value: 1.0,
            tags: vec![],
            hostname: None,
            flush_first_value: false,
        }
    }

    fn stats() -> CheckStats {
        CheckStats::new(
            "my_metric",
            "my_metric:0011223344556677",
            Some("1.0.0".into()),
            Loader::Python,
            "file:conf.d/my_metric.yaml".into(),
            Duration::from_secs(45),
        )
    }

    #[test]
    fn runs_are_counted_like_the_agent() {
        let mut stats = stats();
        assert_eq!(stats.state, RunState::Pending);
        let ok = CheckOutput {
            metrics: vec![metric(), metric()],
            metadata: vec![("version.raw".into(), "1".into())],
            ..CheckOutput::default()
        };
        stats.record(&ok, Duration::from_millis(4), 1_000);
        let warned = CheckOutput {
            metrics: vec![metric()],
            warnings: vec!["careful".into()],
            metadata: vec![("version.raw".into(), "2".into())],
            ..CheckOutput::default()
        };
        stats.record(&warned, Duration::from_millis(2), 2_000);
        assert_eq!(stats.state, RunState::Warning);
        assert_eq!(
            stats.metric_samples,
            RunCounts {
                last_run: 1,
                total: 3
            }
        );
        assert_eq!(stats.average_execution_ms, 3);
        assert_eq!(stats.total_warnings, 1);
        assert_eq!(stats.metadata["version.raw"], "2");

        let failed = CheckOutput {
            error: Some(CheckError {
                message: "boom".into(),
                traceback: "Traceback: boom".into(),
            }),
            ..CheckOutput::default()
        };
        stats.record(&failed, Duration::from_millis(6), 3_000);
        assert_eq!(stats.state, RunState::Error);
        assert_eq!(stats.total_runs, 3);
        assert_eq!(stats.total_errors, 1);
        assert_eq!(stats.last_run_at_ms, Some(3_000));
        assert_eq!(stats.last_successful_run_at_ms, Some(2_000));
        assert_eq!(
            stats.last_error.as_ref().map(|e| e.message.as_str()),
            Some("boom")
        );
        assert!(stats.warnings.is_empty());

        stats.record(&ok, Duration::from_millis(1), 4_000);
        assert_eq!((stats.state, stats.last_error.clone()), (RunState::Ok, None));
    }

    #[test]
    fn timeouts_and_crashes_are_errors_counted_apart() {
        let mut stats = stats();
        let aborted = |abort| CheckOutput {
            error: Some(CheckError {
                message: "cut short".into(),
                traceback: String::new(),
            }),
            aborted: Some(abort),
            ..CheckOutput::default()
        };
        stats.record(&aborted(Abort::Timeout), Duration::from_secs(30), 1_000);
        stats.record(&aborted(Abort::Crash), Duration::from_millis(5), 2_000);
        stats.record(&aborted(Abort::Crash), Duration::from_millis(5), 3_000);
        stats.record(&CheckOutput::default(), Duration::from_millis(5), 4_000);
        assert_eq!(
            (
                stats.total_runs,
                stats.total_errors,
                stats.total_timeouts,
                stats.total_crashes
            ),
            (4, 3, 1, 2)
        );
        assert_eq!(stats.state, RunState::Ok);
    }

    #[test]
    fn check_status_follows_the_run() {
        let ok = check_status("mysql", &CheckOutput::default());
        assert_eq!(
            (ok.name.as_str(), ok.status, ok.tags.clone(), ok.message),
            (
                CHECK_STATUS,
                CheckStatus::Ok,
                vec!["check:mysql".to_owned()],
                None
            )
        );
        let warned = CheckOutput {
            warnings: vec!["a".into(), "b".into()],
            ..CheckOutput::default()
        };
        let sc = check_status("mysql", &warned);
        assert_eq!(
            (sc.status, sc.message.as_deref()),
            (CheckStatus::Warning, Some("a\nb"))
        );
        let failed = CheckOutput {
            warnings: vec!["a".into()],
            error: Some(CheckError {
                message: "boom".into(),
                traceback: String::new(),
            }),
            ..CheckOutput::default()
        };
        let sc = check_status("mysql", &failed);
        assert_eq!(
            (sc.status, sc.message.as_deref()),
            (CheckStatus::Critical, Some("boom"))
        );
    }
}
