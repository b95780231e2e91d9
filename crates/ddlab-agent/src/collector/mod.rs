//! The collector: runs every loaded check instance at its `min_collection_interval` and commits what
//! each run produced to the aggregator, keeping the per-instance status the Agent's `status` shows.
//!
//! ```text
//!  conf.d ──load_checks──▶ LoadedCheck (Python host | native MySQL | core /proc) ──▶ Collector
//!                                                                                      │ Schedule (pure): due at start, then every interval
//!                                                                                      ▼ at most `check_runners` runs at once
//!                             status (CheckStats) ◀── record ── run(timeout) ──▶ + service:<svc> (+ instance tags for core checks)
//!                                                                                  + datadog.agent.check_status (check:<name>)
//!                                                                                  ──▶ Aggregator::commit_check_run(now)
//! ```
//!
//! The Agent's rules: a check runs as soon as it is scheduled, then every interval; a slot that comes
//! while the previous run of the same instance is still going is skipped (and counted), never queued.
//! Each run is bounded by `ddlab_check_timeout` (Python checks: by the Python host, which restarts its
//! interpreter after an overrun; native checks: by the collector). A run that fails is an `ERROR` in
//! `status` with its message and traceback, sends `datadog.agent.check_status` CRITICAL, and the other
//! checks are not affected. Runs that overran their timeout and runs whose process died under them are
//! also counted apart (`total_timeouts`, `total_crashes`).
//!
//! The loop reads the monotonic clock once per tick (Tokio's, so tests pause and advance it) and the wall
//! clock ([`Clock`]) once per finished run, for the commit time.

pub mod checks;
pub mod schedule;
pub mod stats;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::{Id as TaskId, JoinSet};
use tokio::time::Instant;

use crate::aggregator::AggregatorHandle;
use crate::check::CheckOutput;
use crate::config::Problem;
use crate::config::checks::CheckId;
use crate::dogstatsd::Clock;
use crate::python::{HostInfo, IsolatedCheck, PythonHost};

pub use checks::{
    Check, CheckInfo, LoadOptions, LoadedCheck, LoadedChecks, LoadingError, RunFuture, load_checks,
};
pub use schedule::Schedule;
pub use stats::{CHECK_STATUS, CheckStats, ErrorReport, Loader, RunCounts, RunState};

/// How much longer than its timeout a run may take before the collector stops it: more than the Python
/// host's own grace (5 s), so the host always gets to report and recover first.
pub const RUN_GRACE: Duration = Duration::from_secs(10);

/// How the collector runs checks. Every field says its default.
#[derive(Clone)]
pub struct CollectorOptions {
    /// `check_runners`: how many runs may go at once; default 4.
    pub runners: usize,
    /// `ddlab_check_timeout`: the longest one run may take; default 30 s.
    pub timeout: Duration,
    /// The wall clock, Unix seconds: the time runs are committed at. Default the system clock.
    pub clock: Clock,
}

/// The *Collector* section of `status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectorStatus {
    /// Every scheduled instance, in load order.
    pub running_checks: Vec<CheckStats>,
    /// Configured instances that could not be loaded.
    pub loading_errors: Vec<LoadingError>,
    /// `conf.d` files (or instances) that could not be read.
    pub config_errors: Vec<ConfigProblem>,
    /// `conf.d` settings that load but probably do not do what was meant.
    pub config_warnings: Vec<ConfigProblem>,
    /// The Python check host, when one was started.
    pub python: Option<PythonStatus>,
    /// `check_runners`.
    pub runners: usize,
}

/// A problem in a configuration file, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigProblem {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

/// The Python check host as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonStatus {
    pub executable: PathBuf,
    pub version: String,
    /// The installed `datadog-checks-base`, `None` when it cannot be imported.
    pub base_version: Option<String>,
    pub base_error: Option<String>,
    /// The shared interpreter's process, as of its last start.
    pub pid: u32,
    /// Times an interpreter was replaced after a timeout or a crash.
    pub restarts: u64,
    /// Checks that hung or crashed the shared interpreter, now running in one of their own.
    #[serde(default)]
    pub isolated: Vec<IsolatedCheck>,
}

/// The running collector. [`Collector::shutdown`] stops it.
pub struct Collector {
    view: CollectorView,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A cheap, shareable way to read the collector's status (for the IPC endpoint).
#[derive(Clone)]
pub struct CollectorView {
    status: Arc<Mutex<CollectorStatus>>,
    python: Option<Arc<PythonHost>>,
}

impl std::fmt::Debug for CollectorView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorView").finish_non_exhaustive()
    }
}

impl CollectorView {
    /// The *Collector* section as of now.
    pub fn status(&self) -> CollectorStatus {
        let mut status = lock(&self.status).clone();
        if let (Some(python), Some(host)) = (&mut status.python, &self.python) {
            python.restarts = host.restarts();
            python.pid = host.pid();
            python.isolated = host.isolated();
        }
        status
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CollectorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorOptions")
            .field("runners", &self.runners)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            runners: 4,
            timeout: crate::config::DEFAULT_CHECK_TIMEOUT,
            clock: crate::dogstatsd::system_clock(),
        }
    }
}

impl From<&Problem> for ConfigProblem {
    fn from(problem: &Problem) -> Self {
        ConfigProblem {
            path: problem.path.clone(),
            line: problem.line,
            column: problem.column,
            message: problem.message.clone(),
        }
    }
}

impl PythonStatus {
    fn from_info(info: &HostInfo, restarts: u64) -> Self {
        PythonStatus {
            executable: info.executable.clone(),
            version: info.python_version.clone(),
            base_version: info.base_version.clone(),
            base_error: info.base_error.clone(),
            pid: info.pid,
            restarts,
            isolated: Vec::new(),
        }
    }
}

impl Collector {
    /// Starts running `loaded`, committing to `aggregator`. `problems` are the `conf.d` problems, shown
    /// in `status`. Must run inside a Tokio runtime.
    pub fn start(
        loaded: LoadedChecks,
        problems: &[Problem],
        aggregator: AggregatorHandle,
        options: CollectorOptions,
    ) -> Collector {
        let mut status = CollectorStatus {
            runners: options.runners.max(1),
            loading_errors: loaded.errors,
            python: loaded
                .python_info
                .as_ref()
                .map(|info| PythonStatus::from_info(info, 0)),
            ..CollectorStatus::default()
        };
        for problem in problems {
            match problem.severity {
                crate::config::Severity::Error => status.config_errors.push(problem.into()),
                crate::config::Severity::Warning => status.config_warnings.push(problem.into()),
            }
        }
        let mut slots = Vec::new();
        for check in loaded.checks {
            status.running_checks.push(stats_for(&check.info));
            slots.push(Slot {
                info: check.info,
                check: Some(check.check),
            });
        }
        let status = Arc::new(Mutex::new(status));
        let (shutdown, receiver) = watch::channel(false);
        let task = tokio::spawn(run_loop(
            slots,
            Arc::clone(&status),
            aggregator,
            options,
            receiver,
        ));
        Collector {
            view: CollectorView {
                status,
                python: loaded.python,
            },
            shutdown,
            task,
        }
    }

    /// The *Collector* section as of now.
    pub fn status(&self) -> CollectorStatus {
        self.view.status()
    }

    /// A handle that reads the status, for as long as anyone wants it.
    pub fn view(&self) -> CollectorView {
        self.view.clone()
    }

    /// Stops scheduling, waits for the runs in progress (each bounded by its timeout) and commits
    /// them, then stops the Python check host.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "the collector task failed");
        }
        if let Some(host) = &self.view.python {
            host.shutdown().await;
        }
        tracing::info!("collector stopped");
    }
}

/// Runs one loaded check once, outside the scheduler (`ddlab-agent check`), with the collector's
/// post-processing: tags added, `datadog.agent.check_status`, stats, commit to `aggregator` at `now()`.
pub async fn run_once(
    check: &mut LoadedCheck,
    stats: &mut CheckStats,
    aggregator: &AggregatorHandle,
    options: &CollectorOptions,
) -> CheckOutput {
    let started = Instant::now();
    let output = bounded_run(check.check.as_mut(), options.timeout).await;
    let elapsed = started.elapsed();
    finish_run(&check.info, output, elapsed, (options.clock)(), stats, aggregator)
}

/// The stats of an instance that has not run yet.
pub fn stats_for(info: &CheckInfo) -> CheckStats {
    CheckStats::new(
        &info.name,
        info.id.as_str(),
        info.version.clone(),
        info.loader,
        info.source.clone(),
        info.interval,
    )
}

/// One instance in the loop: its check, absent while a run holds it.
struct Slot {
    info: CheckInfo,
    check: Option<Box<dyn Check>>,
}

/// A finished run, handed back by its task.
struct Finished {
    index: usize,
    check: Box<dyn Check>,
    output: CheckOutput,
    elapsed: Duration,
    finished_at: f64,
}

async fn run_loop(
    mut slots: Vec<Slot>,
    status: Arc<Mutex<CollectorStatus>>,
    aggregator: AggregatorHandle,
    options: CollectorOptions,
    mut shutdown: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut schedule = Schedule::default();
    for slot in &slots {
        schedule.add(slot.info.interval, Duration::ZERO);
    }
    let runners = Arc::new(Semaphore::new(options.runners.max(1)));
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut tasks: HashMap<TaskId, usize> = HashMap::new();
    tracing::info!(
        checks = slots.len(),
        runners = options.runners,
        "collector started"
    );
    loop {
        let now = Instant::now();
        for due in schedule.due(now - start) {
            let Some(slot) = slots.get_mut(due.index) else {
                continue;
            };
            let skipped = due.missed + u64::from(slot.check.is_none());
            if skipped > 0 {
                tracing::debug!(check = %slot.info.id, skipped, "a run of a check was skipped: the previous one is still going");
                if let Some(stats) = lock(&status).running_checks.get_mut(due.index) {
                    stats.skipped_runs += skipped;
                }
            }
            if let Some(check) = slot.check.take() {
                let handle = running.spawn(run_task(
                    due.index,
                    check,
                    Arc::clone(&runners),
                    options.timeout,
                    options.clock.clone(),
                ));
                tasks.insert(handle.id(), due.index);
            }
        }
        let next = schedule.next_due().map(|d| start + d);
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(joined) = running.join_next_with_id() => {
                finished(joined, &mut slots, &mut tasks, &status, &aggregator, &options);
            }
            () = sleep_until(next) => {}
        }
    }
    // Runs in progress finish within their timeout (Python: plus the host's grace); wait for them so
    // their data is committed before the final flush.
    let deadline = Instant::now() + options.timeout + RUN_GRACE + Duration::from_secs(1);
    loop {
        match tokio::time::timeout_at(deadline, running.join_next_with_id()).await {
            Ok(Some(joined)) => finished(joined, &mut slots, &mut tasks, &status, &aggregator, &options),
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    runs = running.len(),
                    "check runs still going at shutdown were abandoned"
                );
                running.shutdown().await;
                break;
            }
        }
    }
}

async fn run_task(
    index: usize,
    mut check: Box<dyn Check>,
    runners: Arc<Semaphore>,
    timeout: Duration,
    clock: Clock,
) -> Finished {
    // The semaphore is never closed, so a permit always comes.
    let _permit = runners.acquire_owned().await;
    let started = Instant::now();
    let output = bounded_run(check.as_mut(), timeout).await;
    Finished {
        index,
        check,
        output,
        elapsed: started.elapsed(),
        finished_at: clock(),
    }
}

/// Runs a check with the collector's safety net: checks bound their own runs, and one that does not
/// is stopped [`RUN_GRACE`] after its timeout, so a runner is never held for ever.
async fn bounded_run(check: &mut dyn Check, timeout: Duration) -> CheckOutput {
    let limit = timeout + RUN_GRACE;
    match tokio::time::timeout(limit, check.run(timeout)).await {
        Ok(output) => output,
        Err(_) => CheckOutput {
            error: Some(crate::check::CheckError {
                message: format!("the check did not finish within {limit:?} and was stopped"),
                traceback: "stopped by the collector (ddlab_check_timeout)".to_owned(),
            }),
            aborted: Some(crate::check::Abort::Timeout),
            ..CheckOutput::default()
        },
    }
}

fn finished(
    joined: Result<(TaskId, Finished), tokio::task::JoinError>,
    slots: &mut [Slot],
    tasks: &mut HashMap<TaskId, usize>,
    status: &Mutex<CollectorStatus>,
    aggregator: &AggregatorHandle,
    options: &CollectorOptions,
) {
    match joined {
        Ok((id, run)) => {
            tasks.remove(&id);
            let Some(slot) = slots.get_mut(run.index) else {
                return;
            };
            let mut guard = lock(status);
            if let Some(stats) = guard.running_checks.get_mut(run.index) {
                finish_run(
                    &slot.info,
                    run.output,
                    run.elapsed,
                    run.finished_at,
                    stats,
                    aggregator,
                );
            }
            drop(guard);
            slot.check = Some(run.check);
        }
        Err(err) => {
            // A panic inside a check: the instance cannot run again, and says so in `status`.
            let index = tasks.remove(&err.id());
            let message = format!("the check crashed and was unscheduled: {err}");
            tracing::error!(error = %err, "a check run panicked");
            if let Some(index) = index
                && let Some(slot) = slots.get(index)
            {
                let output = CheckOutput {
                    error: Some(crate::check::CheckError {
                        message,
                        traceback: String::new(),
                    }),
                    aborted: Some(crate::check::Abort::Crash),
                    ..CheckOutput::default()
                };
                let mut guard = lock(status);
                if let Some(stats) = guard.running_checks.get_mut(index) {
                    finish_run(
                        &slot.info,
                        output,
                        Duration::ZERO,
                        (options.clock)(),
                        stats,
                        aggregator,
                    );
                }
            }
        }
    }
}

/// Records a run in `stats`, adds the collector's tags and `datadog.agent.check_status`, logs what the
/// check logged, and commits the run at `now`.
fn finish_run(
    info: &CheckInfo,
    mut output: CheckOutput,
    elapsed: Duration,
    now: f64,
    stats: &mut CheckStats,
    aggregator: &AggregatorHandle,
) -> CheckOutput {
    log_run(&info.id, &output);
    stats.record(&output, elapsed, (now * 1000.0) as i64);
    if !info.added_tags.is_empty() {
        for metric in &mut output.metrics {
            metric.tags.extend(info.added_tags.iter().cloned());
        }
        for check in &mut output.service_checks {
            check.tags.extend(info.added_tags.iter().cloned());
        }
        for event in &mut output.events {
            event.tags.extend(info.added_tags.iter().cloned());
        }
    }
    output
        .service_checks
        .push(stats::check_status(&info.name, &output));
    aggregator.commit_check_run(info.id.as_str(), &output, now);
    output
}

fn log_run(id: &CheckId, output: &CheckOutput) {
    for log in &output.logs {
        match log.level {
            0..=10 => tracing::debug!(check = %id, "{}", log.message),
            11..=20 => tracing::info!(check = %id, "{}", log.message),
            21..=30 => tracing::warn!(check = %id, "{}", log.message),
            _ => tracing::error!(check = %id, "{}", log.message),
        }
    }
    if let Some(error) = &output.error {
        tracing::error!(check = %id, error = %error.message, traceback = %error.traceback, "check run failed");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn lock(status: &Mutex<CollectorStatus>) -> MutexGuard<'_, CollectorStatus> {
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
