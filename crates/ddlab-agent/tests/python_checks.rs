//! The Python check host with the real `datadog-checks-base` 38.7.0, the reference solution's custom
//! check and the test checks of `tests/python/checks.d`.
//!
//! These tests need a virtualenv with `crates/ddlab-agent/python/requirements.txt` installed, named by
//! `DDLAB_PYTHON` (its `bin/python`); `cargo test` itself never reaches the network. Without the
//! variable each test says on stderr that it did not run; with it, a broken interpreter fails them:
//!
//! ```text
//! python3 -m venv .venv-test
//! .venv-test/bin/python -m pip install --no-deps --require-hashes -r crates/ddlab-agent/python/requirements.txt
//! DDLAB_PYTHON=$PWD/.venv-test/bin/python cargo test -p ddlab-agent --test python_checks
//! ```

// The helpers below are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ddlab_agent::check::{CheckOutput, SubmissionKind};
use ddlab_agent::config::checks::read_check_file;
use ddlab_agent::config::{CheckConfig, load_confd};
use ddlab_agent::python::{CheckHandle, LoadError, PythonHost, PythonHostOptions};
use ddlab_wire::check_run::CheckStatus;

const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const BASE_VERSION: &str = "38.7.0";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn solution() -> PathBuf {
    crate_dir().join("../../fixtures/solution")
}

fn test_checksd() -> PathBuf {
    crate_dir().join("tests/python/checks.d")
}

/// The interpreter named by `DDLAB_PYTHON`, or `None` after saying on stderr that `test` did not run.
fn real_python(test: &str) -> Option<PathBuf> {
    match std::env::var_os("DDLAB_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            // Written to the real stderr, not through the test harness's capture, so it is always seen.
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: python_checks::{test} needs DDLAB_PYTHON=<virtualenv>/bin/python with \
                 crates/ddlab-agent/python/requirements.txt installed"
            );
            None
        }
    }
}

/// Starts the host with the real package; any problem with the interpreter fails the test.
async fn start(python: PathBuf, runtime: &Path) -> PythonHost {
    let host = PythonHost::start(PythonHostOptions {
        python: python.clone(),
        checksd: vec![solution().join("checks.d"), test_checksd()],
        runtime_dir: Some(runtime.to_path_buf()),
        hostname: "lab-host".into(),
        host_tags: vec!["env:lab".into()],
        ..PythonHostOptions::default()
    })
    .await
    .unwrap_or_else(|err| panic!("DDLAB_PYTHON={} is set but unusable: {err}", python.display()));
    let info = host.info().await;
    assert_eq!(
        info.base_version.as_deref(),
        Some(BASE_VERSION),
        "DDLAB_PYTHON={} must have datadog-checks-base {BASE_VERSION}: {:?}",
        python.display(),
        info.base_error
    );
    host
}

fn config(name: &str) -> CheckConfig {
    let path = PathBuf::from(format!("conf.d/{name}.yaml"));
    let mut problems = Vec::new();
    let config = read_check_file(
        name,
        &path,
        "init_config:\ninstances:\n  - tags: [team:se]\n",
        &mut problems,
    )
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    config
}

async fn load(host: &PythonHost, name: &str) -> CheckHandle {
    let config = config(name);
    host.load(&config, &config.instances[0]).await.unwrap()
}

/// Loads the reference solution's my_metric through its own conf.d file.
async fn load_my_metric(host: &PythonHost) -> CheckHandle {
    let confd = load_confd(&solution().join("conf.d"));
    let config = confd.checks.iter().find(|c| c.name == "my_metric").unwrap();
    assert_eq!(config.instances[0].interval, Duration::from_secs(45));
    host.load(config, &config.instances[0]).await.unwrap()
}

fn assert_my_metric(output: &CheckOutput) {
    assert_eq!(output.error, None);
    assert_eq!(output.metrics.len(), 1, "{output:?}");
    let metric = &output.metrics[0];
    assert_eq!(
        (metric.kind, metric.name.as_str()),
        (SubmissionKind::Gauge, "my_metric")
    );
    assert!(
        (0.0..=1000.0).contains(&metric.value) && metric.value.fract() == 0.0,
        "{}",
        metric.value
    );
    assert!(metric.tags.is_empty(), "{:?}", metric.tags);
    assert_eq!(metric.hostname, None);
}

fn gauges(output: &CheckOutput) -> Vec<(&str, f64)> {
    output
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.value))
        .collect()
}

#[tokio::test]
async fn the_reference_my_metric_check_runs_from_its_conf_d_file() {
    let Some(python) = real_python("the_reference_my_metric_check_runs_from_its_conf_d_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let handle = load_my_metric(&host).await;
    assert_eq!(handle.version(), Some("1.0.0"));
    assert_eq!(handle.module(), "my_metric");
    assert!(handle.check_id().as_str().starts_with("my_metric:"));
    for _ in 0..3 {
        assert_my_metric(&host.run(&handle, RUN_TIMEOUT).await.unwrap());
    }
    host.shutdown().await;
}

#[tokio::test]
async fn legacy_and_compat_imports_of_agent_check_run() {
    let Some(python) = real_python("legacy_and_compat_imports_of_agent_check_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    for (name, metric) in [
        ("legacy_import", "legacy.import"),
        ("compat_import", "compat.import"),
    ] {
        let handle = load(&host, name).await;
        let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
        assert_eq!(output.error, None, "{name}");
        assert_eq!(gauges(&output), [(metric, 1.0)], "{name}");
    }
    // An Agent 5 constructor (name, init_config, agentConfig, instances) is retried with agentConfig.
    let old = load(&host, "old_constructor").await;
    let output = host.run(&old, RUN_TIMEOUT).await.unwrap();
    assert_eq!(gauges(&output), [("old_constructor.agent_config", 1.0)]);
}

#[tokio::test]
async fn every_submission_of_the_real_base_class_arrives_with_its_kind() {
    let Some(python) = real_python("every_submission_of_the_real_base_class_arrives_with_its_kind") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let handle = load(&host, "submissions").await;
    let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.error, None);
    let kinds: Vec<(SubmissionKind, &str, Option<&str>)> = output
        .metrics
        .iter()
        .map(|m| (m.kind, m.name.as_str(), m.hostname.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (SubmissionKind::Gauge, "test.gauge", None),
            (SubmissionKind::Count, "test.count", None),
            (SubmissionKind::Rate, "test.rate", None),
            (
                SubmissionKind::MonotonicCount,
                "test.monotonic",
                Some("elsewhere")
            ),
            (SubmissionKind::Histogram, "test.histogram", None),
            (SubmissionKind::Historate, "test.historate", None),
        ]
    );
    assert!(
        output.metrics.iter().all(|m| m.tags == ["team:se"]),
        "{:?}",
        output.metrics
    );
    assert_eq!(output.service_checks.len(), 1);
    assert_eq!(output.service_checks[0].status, CheckStatus::Critical);
    assert_eq!(
        output.service_checks[0].message.as_deref(),
        Some("connection refused")
    );
    assert_eq!(output.events.len(), 1);
    assert_eq!(output.events[0].title, "Something happened");
    assert_eq!(output.events[0].date_happened, Some(1_700_000_000));
    assert_eq!(output.metadata, [("flavor".to_owned(), "test".to_owned())]);
    assert_eq!(output.warnings, ["this is a warning"]);
    let id = handle.check_id().as_str();
    let logs: Vec<&str> = output.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        logs.iter()
            .any(|l| l.starts_with(&format!("{id} | (submissions.py:"))
                && l.ends_with("| submitted everything")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn rate_and_monotonic_count_keep_their_kinds_across_runs() {
    let Some(python) = real_python("rate_and_monotonic_count_keep_their_kinds_across_runs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let handle = load(&host, "counter").await;
    for run in 1..=2 {
        let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
        let kinds: Vec<SubmissionKind> = output.metrics.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                SubmissionKind::Rate,
                SubmissionKind::MonotonicCount,
                SubmissionKind::Gauge
            ]
        );
        let run = f64::from(run);
        assert_eq!(
            gauges(&output),
            [
                ("counter.rate", run * 10.0),
                ("counter.total", run),
                ("counter.runs", run)
            ]
        );
    }
}

#[tokio::test]
async fn a_raising_check_reports_its_error_and_traceback() {
    let Some(python) = real_python("a_raising_check_reports_its_error_and_traceback") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let handle = load(&host, "raises").await;
    let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
    let error = output.error.clone().unwrap();
    assert_eq!(error.message, "the database said no");
    assert!(
        error.traceback.contains("datadog_checks/base/checks/base.py"),
        "{}",
        error.traceback
    );
    assert!(
        error.traceback.contains("raises.py\", line 8, in check"),
        "{}",
        error.traceback
    );
    assert!(
        error.traceback.ends_with("ValueError: the database said no\n"),
        "{}",
        error.traceback
    );
    assert_eq!(gauges(&output), [("raises.before", 1.0)]);
}

#[tokio::test]
async fn a_broken_check_file_is_a_located_load_error() {
    let Some(python) = real_python("a_broken_check_file_is_a_located_load_error") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let config = config("broken_syntax");
    let error = host.load(&config, &config.instances[0]).await.unwrap_err();
    let LoadError::Check {
        file, line, message, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        file.as_deref(),
        Some(test_checksd().join("broken_syntax.py").as_path())
    );
    assert_eq!(*line, Some(6));
    assert!(
        message.starts_with("unable to import module 'broken_syntax': SyntaxError: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_hung_check_times_out_and_the_host_recovers() {
    let Some(python) = real_python("a_hung_check_times_out_and_the_host_recovers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let my_metric = load_my_metric(&host).await;
    let hangs = load(&host, "hangs").await;

    let output = host.run(&hangs, Duration::from_secs(2)).await.unwrap();
    let error = output.error.clone().unwrap();
    assert_eq!(
        error.message,
        format!(
            "check {} did not finish within 2 s; the Python check host was restarted and the checks loaded again; \
             the check now runs in a Python process of its own",
            hangs.check_id()
        )
    );
    assert!(error.traceback.contains("in wait_forever"), "{}", error.traceback);
    assert_eq!(gauges(&output), [("hangs.before", 1.0)]);
    assert_eq!(host.restarts(), 1);

    assert_my_metric(&host.run(&my_metric, RUN_TIMEOUT).await.unwrap());
    assert_eq!(host.info().await.base_version.as_deref(), Some(BASE_VERSION));
}

#[tokio::test]
async fn a_check_calling_os_exit_is_reported_and_the_host_restarts() {
    let Some(python) = real_python("a_check_calling_os_exit_is_reported_and_the_host_restarts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let my_metric = load_my_metric(&host).await;
    let exits = load(&host, "exits").await;
    let pid = host.info().await.pid;

    let output = host.run(&exits, RUN_TIMEOUT).await.unwrap();
    let message = output.error.unwrap().message;
    assert!(
        message.starts_with(&format!(
            "the Python check host exited (exit status: 7) while running check {}",
            exits.check_id()
        )),
        "{message}"
    );
    assert_eq!(host.restarts(), 1);
    assert_ne!(host.info().await.pid, pid);
    assert_my_metric(&host.run(&my_metric, RUN_TIMEOUT).await.unwrap());
}

#[tokio::test]
async fn the_datadog_agent_module_answers_checks_of_the_real_base_class() {
    let Some(python) = real_python("the_datadog_agent_module_answers_checks_of_the_real_base_class") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let host = start(python, dir.path()).await;
    let handle = load(&host, "agent_api").await;
    for run in 1..=2 {
        let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
        assert_eq!(output.error, None);
        assert_eq!(gauges(&output), [("agent_api.runs", f64::from(run))]);
        assert_eq!(
            output.metrics[0].tags,
            [
                "hostname:lab-host",
                "version:7.71.0",
                "host_tags:env:lab",
                "apm_enabled:None",
                "log_level:info",
                "unset:None",
            ]
        );
    }
    // What a check prints is a log line of its run, with the real base class too.
    let prints = load(&host, "prints").await;
    let output = host.run(&prints, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.error, None);
    let id = prints.check_id().as_str();
    let logs: Vec<&str> = output.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        logs.contains(&format!("{id} | (stdout) | hello from print").as_str()),
        "{logs:?}"
    );
    assert_eq!(host.restarts(), 0);
}
