//! What one check run produces, whoever ran it: the Python host or a native check (MySQL).
//!
//! A check hands its submissions to the aggregator, which applies the Agent's per-type semantics
//! (rates between runs, monotonic deltas, histogram aggregates) and flushes series every 15 s. These types
//! are the contract between the two sides; they carry no behaviour beyond naming.

use ddlab_wire::check_run::CheckStatus;
use ddlab_wire::events::Event;

/// The submission types of the Agent's `aggregator` module, with its numeric codes (0–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubmissionKind {
    /// `gauge`: the last value of the run.
    Gauge,
    /// `rate`: (v2 − v1) / (t2 − t1) between consecutive runs; the first run emits nothing.
    Rate,
    /// `count`: summed within a run.
    Count,
    /// `monotonic_count`: the delta between runs, ignoring decreases.
    MonotonicCount,
    /// `increment`/`decrement`: summed, sent as a per-second rate over the interval.
    Counter,
    /// `histogram`: `.avg .median .max .95percentile .count`.
    Histogram,
    /// `historate`: a histogram of per-run rates.
    Historate,
}

impl SubmissionKind {
    /// The `aggregator` module's constant for this kind.
    pub fn code(self) -> u8 {
        match self {
            SubmissionKind::Gauge => 0,
            SubmissionKind::Rate => 1,
            SubmissionKind::Count => 2,
            SubmissionKind::MonotonicCount => 3,
            SubmissionKind::Counter => 4,
            SubmissionKind::Histogram => 5,
            SubmissionKind::Historate => 6,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => SubmissionKind::Gauge,
            1 => SubmissionKind::Rate,
            2 => SubmissionKind::Count,
            3 => SubmissionKind::MonotonicCount,
            4 => SubmissionKind::Counter,
            5 => SubmissionKind::Histogram,
            6 => SubmissionKind::Historate,
            _ => return None,
        })
    }
}

/// One `submit_metric` call.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSubmission {
    pub kind: SubmissionKind,
    pub name: String,
    pub value: f64,
    pub tags: Vec<String>,
    /// `None` (the check passed `""` or nothing) means the agent's own hostname.
    pub hostname: Option<String>,
    /// For `monotonic_count`: emit the first value instead of waiting for a second run.
    pub flush_first_value: bool,
}

/// One `service_check` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheckSubmission {
    pub name: String,
    pub status: CheckStatus,
    pub tags: Vec<String>,
    pub hostname: Option<String>,
    pub message: Option<String>,
}

/// An error a check run raised, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub message: String,
    /// The Python traceback, or the native check's cause chain.
    pub traceback: String,
}

/// A log line a check wrote, with Python's level numbers (10 debug … 50 critical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLog {
    pub level: u8,
    pub message: String,
}

/// Everything one run of one check instance produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckOutput {
    pub metrics: Vec<MetricSubmission>,
    pub service_checks: Vec<ServiceCheckSubmission>,
    pub events: Vec<Event>,
    /// `self.warning(...)` messages, shown as `[WARNING]` in `status`.
    pub warnings: Vec<String>,
    /// `set_metadata(name, value)` pairs (version, flavor…).
    pub metadata: Vec<(String, String)>,
    pub logs: Vec<CheckLog>,
    /// `Some` when the run failed; submissions made before the failure are kept, as the Agent keeps them.
    pub error: Option<CheckError>,
    /// `Some` when the run did not end by itself (`error` then says how), counted apart in `status`.
    pub aborted: Option<Abort>,
}

/// How a run that did not end by itself ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    /// It overran its timeout and was stopped.
    Timeout,
    /// The process running it died under it (a crash, an exit, a kill): the Python check host's
    /// interpreter was restarted.
    Crash,
}
