//! Collector tests on paused Tokio time: fake checks report each run on a channel, the test awaits those
//! signals while the runtime advances the clock, and the schedule, skipping, failures and the
//! aggregator commits are checked against the fake time.

use std::sync::Arc;
use std::time::Duration;

use ddlab_wire::check_run::CheckStatus;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::*;
use crate::aggregator::{Aggregator, AggregatorConfig};
use crate::check::{CheckError, MetricSubmission, SubmissionKind};
use crate::config::checks::read_check_file;

/// What a fake check does on each run.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Submits `my_metric`.
    Gauge,
    /// Takes this long, then submits.
    Slow(Duration),
    /// Raises.
    Fails,
    /// Never finishes.
    Hangs,
}

#[derive(Debug)]
struct FakeCheck {
    name: &'static str,
    behaviour: Behaviour,
    runs: mpsc::UnboundedSender<(&'static str, Instant)>,
}

impl Check for FakeCheck {
    fn run(&mut self, _timeout: Duration) -> RunFuture<'_> {
        Box::pin(async move {
            let _ = self.runs.send((self.name, Instant::now()));
            match self.behaviour {
                Behaviour::Gauge => {}
                Behaviour::Slow(duration) => tokio::time::sleep(duration).await,
                Behaviour::Fails => {
                    return CheckOutput {
                        error: Some(CheckError {
                            message: "boom".into(),
                            traceback: "Traceback (most recent call last):\nException: boom".into(),
                        }),
                        ..CheckOutput::default()
                    };
                }
                Behaviour::Hangs => std::future::pending::<()>().await,
            }
            CheckOutput {
                metrics: vec![MetricSubmission {
                    kind: SubmissionKind::Gauge,
                    name: "my_metric".into(),
                    value: 1.0,
                    tags: vec!["team:se".into()],
                    hostname: None,
                    flush_first_value: false,
                }],
                ..CheckOutput::default()
            }
        })
    }
}

struct Harness {
    collector: Collector,
    aggregator: AggregatorHandle,
    runs: mpsc::UnboundedReceiver<(&'static str, Instant)>,
    start: Instant,
}

fn info(name: &str, interval: u64, loader: Loader, config: &str) -> CheckInfo {
    let mut problems = Vec::new();
    let check = read_check_file(name, std::path::Path::new("conf.d/x.yaml"), config, &mut problems)
        .expect("a valid test configuration");
    let instance = &check.instances[0];
    let mut added_tags = Vec::new();
    if loader == Loader::Core {
        added_tags.extend(instance.tags.iter().cloned());
    }
    if let Some(service) = &instance.service {
        added_tags.push(format!("service:{service}"));
    }
    CheckInfo {
        name: name.to_owned(),
        id: instance.id.clone(),
        version: None,
        loader,
        source: "file:conf.d/x.yaml".into(),
        interval: Duration::from_secs(interval),
        added_tags,
    }
}

/// Starts a collector with fake checks `(name, interval, behaviour)`, with a wall clock that follows the
/// paused Tokio clock from 1 700 000 000 s.
fn start(checks: &[(&'static str, u64, Behaviour)], runners: usize) -> Harness {
    let (tx, runs) = mpsc::unbounded_channel();
    let start = Instant::now();
    let loaded = LoadedChecks {
        checks: checks
            .iter()
            .map(|&(name, interval, behaviour)| LoadedCheck {
                info: info(
                    name,
                    interval,
                    Loader::Python,
                    &format!("instances:\n  - min_collection_interval: {interval}\n    service: web\n"),
                ),
                check: Box::new(FakeCheck {
                    name,
                    behaviour,
                    runs: tx.clone(),
                }),
            })
            .collect(),
        ..LoadedChecks::default()
    };
    let aggregator = AggregatorHandle::new(Aggregator::new(AggregatorConfig::new("lab-host")));
    let clock: Clock = Arc::new(move || 1_700_000_000.0 + (Instant::now() - start).as_secs_f64());
    let collector = Collector::start(
        loaded,
        &[],
        aggregator.clone(),
        CollectorOptions {
            runners,
            timeout: Duration::from_secs(30),
            clock,
        },
    );
    Harness {
        collector,
        aggregator,
        runs,
        start,
    }
}

impl Harness {
    /// Awaits runs until `name` has run `count` times; returns every run seen, as (name, seconds).
    async fn until(&mut self, name: &str, count: usize) -> Vec<(&'static str, u64)> {
        let mut seen = Vec::new();
        while seen.iter().filter(|(n, _)| *n == name).count() < count {
            let (n, at) = self.runs.recv().await.expect("the collector is running");
            seen.push((n, (at - self.start).as_secs()));
        }
        seen
    }

    fn stats(&self, name: &str) -> CheckStats {
        self.collector
            .status()
            .running_checks
            .into_iter()
            .find(|s| s.name == name)
            .expect("the check is scheduled")
    }

    /// Waits (in fake time) until `name` has recorded `runs` runs.
    async fn recorded(&self, name: &str, runs: u64) -> CheckStats {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let stats = self.stats(name);
            if stats.total_runs >= runs {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never recorded {runs} runs: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn times(seen: &[(&str, u64)], name: &str) -> Vec<u64> {
    seen.iter().filter(|(n, _)| *n == name).map(|(_, t)| *t).collect()
}

#[tokio::test(start_paused = true)]
async fn checks_run_at_start_then_every_interval() {
    let mut harness = start(
        &[
            ("my_metric", 45, Behaviour::Gauge),
            ("fast", 15, Behaviour::Gauge),
        ],
        4,
    );
    let seen = harness.until("my_metric", 4).await;
    assert_eq!(times(&seen, "my_metric"), [0, 45, 90, 135]);
    // The run of `fast` due at 135 s may come after the last `my_metric` run the test waited for.
    let fast: Vec<u64> = times(&seen, "fast").into_iter().filter(|t| *t < 135).collect();
    assert_eq!(fast, [0, 15, 30, 45, 60, 75, 90, 105, 120]);
    let stats = harness.recorded("my_metric", 4).await;
    assert_eq!(stats.state, RunState::Ok);
    assert_eq!(
        stats.metric_samples,
        RunCounts {
            last_run: 1,
            total: 4
        }
    );
    assert_eq!(stats.skipped_runs, 0);
    harness.collector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_that_overlaps_its_next_slot_skips_it() {
    let mut harness = start(&[("slow", 15, Behaviour::Slow(Duration::from_secs(40)))], 4);
    let seen = harness.until("slow", 3).await;
    // Busy from 0 to 40 s: the slots at 15 and 30 s are skipped, the next run is on the grid at 45 s.
    assert_eq!(times(&seen, "slow"), [0, 45, 90]);
    let stats = harness.recorded("slow", 2).await;
    assert_eq!(stats.skipped_runs, 4);
    assert_eq!(stats.last_execution_ms, 40_000);
    harness.collector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn runners_bound_concurrency() {
    // One runner, two checks taking 10 s each: the second starts when the first ends.
    let mut harness = start(
        &[
            ("a", 60, Behaviour::Slow(Duration::from_secs(10))),
            ("b", 60, Behaviour::Slow(Duration::from_secs(10))),
        ],
        1,
    );
    let seen = harness.until("b", 1).await;
    assert_eq!(seen, [("a", 0), ("b", 10)]);
    harness.collector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_is_an_error_and_the_others_run() {
    let mut harness = start(
        &[
            ("broken", 15, Behaviour::Fails),
            ("my_metric", 15, Behaviour::Gauge),
        ],
        4,
    );
    harness.until("my_metric", 2).await;
    let broken = harness.recorded("broken", 2).await;
    assert_eq!(broken.state, RunState::Error);
    assert_eq!(broken.total_errors, broken.total_runs);
    assert_eq!(
        broken.last_error,
        Some(ErrorReport {
            message: "boom".into(),
            traceback: "Traceback (most recent call last):\nException: boom".into(),
        })
    );
    let good = harness.recorded("my_metric", 2).await;
    assert_eq!(good.state, RunState::Ok);

    let flush = harness.aggregator.flush(1_700_000_100.0);
    let statuses: Vec<(String, CheckStatus, Vec<String>, Option<String>)> = flush
        .service_checks
        .iter()
        .filter(|c| c.check == CHECK_STATUS)
        .map(|c| (c.tags[0].clone(), c.status, c.tags.clone(), c.message.clone()))
        .take(2)
        .collect();
    assert_eq!(
        statuses,
        [
            (
                "check:broken".to_owned(),
                CheckStatus::Critical,
                vec!["check:broken".to_owned()],
                Some("boom".to_owned())
            ),
            (
                "check:my_metric".to_owned(),
                CheckStatus::Ok,
                vec!["check:my_metric".to_owned()],
                None
            ),
        ]
    );
    // The instance's `service` is added to its metrics (not to the collector's own service check); its
    // instance tags are the check's business.
    let series = flush
        .series
        .series
        .iter()
        .find(|s| s.metric == "my_metric")
        .expect("my_metric was committed");
    assert_eq!(series.tags, ["service:web", "team:se"]);
    assert_eq!(series.host.as_deref(), Some("lab-host"));
    harness.collector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_check_is_stopped_and_runs_again() {
    let mut harness = start(&[("hangs", 15, Behaviour::Hangs)], 4);
    let seen = harness.until("hangs", 2).await;
    // Stopped at 30 s (timeout) + 10 s (grace); the next slot on the grid is 45 s.
    assert_eq!(times(&seen, "hangs"), [0, 45]);
    let stats = harness.recorded("hangs", 1).await;
    assert_eq!(stats.state, RunState::Error);
    assert_eq!(
        stats.last_error.map(|e| e.message),
        Some("the check did not finish within 40s and was stopped".to_owned())
    );
    harness.collector.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_runs_in_progress() {
    let mut harness = start(&[("slow", 15, Behaviour::Slow(Duration::from_secs(5)))], 4);
    harness.until("slow", 1).await;
    let aggregator = harness.aggregator.clone();
    harness.collector.shutdown().await;
    let flush = aggregator.flush(1_700_000_100.0);
    assert!(
        flush.series.series.iter().any(|s| s.metric == "my_metric"),
        "the run in progress was committed: {:?}",
        flush.series
    );
}

#[tokio::test]
async fn core_checks_get_their_instance_tags() {
    let config = "instances:\n  - tags: [role:db]\n    service: host\n";
    let loaded = {
        let mut problems = Vec::new();
        let confd = ConfDFor::one("uptime", config, &mut problems);
        load_checks(
            &confd,
            LoadOptions {
                only: Some("uptime".into()),
                ..LoadOptions::default()
            },
        )
        .await
    };
    assert_eq!(loaded.errors, []);
    let mut loaded_check = loaded.checks.into_iter().next().expect("uptime loads");
    assert_eq!(loaded_check.info.loader, Loader::Core);
    let aggregator = AggregatorHandle::new(Aggregator::new(AggregatorConfig::new("lab-host")));
    let mut stats = stats_for(&loaded_check.info);
    let output = run_once(
        &mut loaded_check,
        &mut stats,
        &aggregator,
        &CollectorOptions::default(),
    )
    .await;
    assert_eq!(output.error, None);
    let uptime = output
        .metrics
        .iter()
        .find(|m| m.name == "system.uptime")
        .expect("system.uptime");
    assert_eq!(uptime.tags, ["role:db", "service:host"]);
    assert_eq!(stats.total_runs, 1);
}

/// A `conf.d` with one check file.
struct ConfDFor;

impl ConfDFor {
    fn one(name: &str, text: &str, problems: &mut Vec<crate::config::Problem>) -> crate::config::ConfD {
        let path = format!("conf.d/{name}.yaml");
        let check = read_check_file(name, std::path::Path::new(&path), text, problems).expect("valid");
        crate::config::ConfD {
            checks: vec![check],
            problems: Vec::new(),
        }
    }
}

#[tokio::test]
async fn unknown_mysql_instances_and_python_failures_are_loading_errors() {
    let mut problems = Vec::new();
    let mut confd = ConfDFor::one("mysql", "instances:\n  - port: 3306\n", &mut problems);
    confd
        .checks
        .extend(ConfDFor::one("my_metric", "instances:\n  - {}\n", &mut problems).checks);
    let loaded = load_checks(
        &confd,
        LoadOptions {
            python: crate::python::PythonHostOptions {
                python: "/nonexistent/python".into(),
                ..crate::python::PythonHostOptions::default()
            },
            core_checks: false,
            only: None,
        },
    )
    .await;
    assert!(loaded.checks.is_empty());
    let errors: Vec<(String, String)> = loaded
        .errors
        .iter()
        .map(|e| (e.check.clone(), e.error.clone()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "mysql");
    assert_eq!(errors[1].0, "my_metric");
    assert!(
        errors[1]
            .1
            .starts_with("cannot start the Python check host with /nonexistent/python"),
        "{}",
        errors[1].1
    );
}
