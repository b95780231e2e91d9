//! Tests of the Python check host with the machine's plain `python3` and no network.
//!
//! They drive the real host script through the real protocol. `datadog-checks-base` is replaced by
//! a small stand-in (`tests/python/fake_base/`) with the same import paths, so that loading,
//! running, timeouts, crashes and stdout handling can be tested anywhere; the same scenarios run
//! against the real package in `tests/python_checks.rs` when `DDLAB_PYTHON` names a virtualenv.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ddlab_wire::check_run::CheckStatus;
use ddlab_wire::events::{AlertType, Event, Priority};

use super::*;
use crate::check::{Abort, MetricSubmission, ServiceCheckSubmission, SubmissionKind};
use crate::config::checks::read_check_file;

const RUN_TIMEOUT: Duration = Duration::from_secs(30);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn test_checksd() -> PathBuf {
    crate_dir().join("tests/python/checks.d")
}

fn options(runtime: &Path) -> PythonHostOptions {
    let mut config = Map::new();
    config.insert("apm_config".into(), json!({"enabled": true}));
    PythonHostOptions {
        checksd: vec![test_checksd()],
        python_path: vec![crate_dir().join("tests/python/fake_base")],
        runtime_dir: Some(runtime.to_path_buf()),
        hostname: "lab-host".into(),
        host_tags: vec!["env:lab".into(), "team:se".into()],
        config,
        ..PythonHostOptions::default()
    }
}

async fn start(runtime: &Path) -> PythonHost {
    PythonHost::start(options(runtime)).await.unwrap()
}

fn config(name: &str, yaml: &str) -> CheckConfig {
    let path = PathBuf::from(format!("conf.d/{name}.yaml"));
    let mut problems = Vec::new();
    let config = read_check_file(name, &path, yaml, &mut problems).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    config
}

async fn load(host: &PythonHost, name: &str) -> CheckHandle {
    let config = config(name, "init_config:\ninstances:\n  - tags: [team:se]\n");
    host.load(&config, &config.instances[0]).await.unwrap()
}

async fn load_error(host: &PythonHost, name: &str) -> LoadError {
    let config = config(name, "instances: [{}]\n");
    host.load(&config, &config.instances[0]).await.unwrap_err()
}

fn gauges(output: &CheckOutput) -> Vec<(&str, f64)> {
    output
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.value))
        .collect()
}

fn log_lines(output: &CheckOutput) -> Vec<&str> {
    output.logs.iter().map(|l| l.message.as_str()).collect()
}

/// Waits until process `pid` has exited (a zombie counts), or fails after ten seconds.
async fn wait_until_dead(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|rest| rest.chars().next());
        if matches!(state, None | Some('Z') | Some('X')) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} is still running: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_submission_reaches_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let handle = load(&host, "submissions").await;
    assert_eq!(handle.version(), Some("2.0.0"));
    assert_eq!(handle.module(), "submissions");
    assert!(!handle.is_integration());
    assert_eq!(
        handle.file(),
        Some(test_checksd().join("submissions.py").as_path())
    );

    let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
    let tags = vec!["team:se".to_owned()];
    let metric = |kind, name: &str, value, hostname: Option<&str>| MetricSubmission {
        kind,
        name: name.into(),
        value,
        tags: tags.clone(),
        hostname: hostname.map(str::to_owned),
        flush_first_value: false,
    };
    assert_eq!(
        output.metrics,
        [
            metric(SubmissionKind::Gauge, "test.gauge", 1.5, None),
            metric(SubmissionKind::Count, "test.count", 2.0, None),
            metric(SubmissionKind::Rate, "test.rate", 3.0, None),
            metric(
                SubmissionKind::MonotonicCount,
                "test.monotonic",
                4.0,
                Some("elsewhere")
            ),
            metric(SubmissionKind::Histogram, "test.histogram", 5.0, None),
            metric(SubmissionKind::Historate, "test.historate", 6.0, None),
        ]
    );
    assert_eq!(
        output.service_checks,
        [ServiceCheckSubmission {
            name: "test.can_connect".into(),
            status: CheckStatus::Critical,
            tags: tags.clone(),
            hostname: None,
            message: Some("connection refused".into()),
        }]
    );
    assert_eq!(
        output.events,
        [Event {
            title: "Something happened".into(),
            text: "details".into(),
            date_happened: Some(1_700_000_000),
            priority: Priority::Low,
            host: None,
            tags: tags.clone(),
            alert_type: AlertType::Warning,
            aggregation_key: Some("agg".into()),
            source_type_name: Some("submissions".into()),
            related_event_id: None,
            device_name: None,
            event_type: Some("test".into()),
        }]
    );
    assert_eq!(output.metadata, [("flavor".to_owned(), "test".to_owned())]);
    assert_eq!(output.warnings, ["this is a warning"]);
    let id = handle.check_id().as_str();
    let logs: Vec<(u8, &str)> = output
        .logs
        .iter()
        .map(|l| (l.level, l.message.as_str()))
        .collect();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0].0, 20);
    assert!(
        logs[0].1.starts_with(&format!("{id} | (submissions.py:")),
        "{logs:?}"
    );
    assert!(logs[0].1.ends_with(") | submitted everything"), "{logs:?}");
    assert_eq!(logs[1].0, 30);
    assert!(logs[1].1.ends_with(") | this is a warning"), "{logs:?}");
    assert_eq!(output.error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_share_one_host_and_their_runs_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let host = std::sync::Arc::new(start(dir.path()).await);
    let counter = load(&host, "counter").await;
    let legacy = load(&host, "legacy_import").await;
    let mut tasks = tokio::task::JoinSet::new();
    for handle in [counter, legacy] {
        let host = std::sync::Arc::clone(&host);
        tasks.spawn(async move {
            let mut errors = Vec::new();
            for _ in 0..5 {
                errors.push(host.run(&handle, RUN_TIMEOUT).await.unwrap().error);
            }
            errors
        });
    }
    while let Some(errors) = tasks.join_next().await {
        assert_eq!(errors.unwrap(), vec![None; 5]);
    }
    assert_eq!(host.restarts(), 0);
}

#[tokio::test]
async fn a_check_object_lives_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let handle = load(&host, "counter").await;
    for run in 1..=3 {
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
    assert_eq!(host.restarts(), 0);
}

#[tokio::test]
async fn checks_are_found_like_the_agent_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;

    // An installed datadog_checks.<name> wins over checks.d/<name>.py.
    let shadowed = load(&host, "shadowed").await;
    assert!(shadowed.is_integration());
    assert_eq!(shadowed.module(), "datadog_checks.shadowed");
    assert_eq!(shadowed.version(), Some("9.9.9"));
    let output = host.run(&shadowed, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.metrics[0].tags, ["from:integration"]);

    for (name, metric) in [
        ("legacy_import", "legacy.import"),
        ("compat_import", "compat.import"),
    ] {
        let handle = load(&host, name).await;
        assert_eq!(handle.version(), None);
        let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
        assert_eq!(gauges(&output), [(metric, 1.0)], "{name}");
        assert_eq!(output.error, None, "{name}");
    }

    let old = load(&host, "old_constructor").await;
    let output = host.run(&old, RUN_TIMEOUT).await.unwrap();
    assert_eq!(gauges(&output), [("old_constructor.agent_config", 1.0)]);
}

#[tokio::test]
async fn load_errors_name_the_config_file_and_the_python_line() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let checksd = test_checksd();

    let error = load_error(&host, "broken_syntax").await;
    let LoadError::Check { file, line, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(file.as_deref(), Some(checksd.join("broken_syntax.py").as_path()));
    assert_eq!(*line, Some(6));
    let prefix = format!(
        "conf.d/broken_syntax.yaml: cannot load check 'broken_syntax': {}:6: unable to import module \
         'broken_syntax': SyntaxError: ",
        checksd.join("broken_syntax.py").display()
    );
    assert!(error.to_string().starts_with(&prefix), "{error}");

    let error = load_error(&host, "import_error").await;
    let LoadError::Check {
        line,
        message,
        traceback,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(*line, Some(4));
    assert_eq!(
        message,
        "unable to import module 'import_error': ModuleNotFoundError: No module named \
         'ddlab_module_that_does_not_exist'"
    );
    assert!(traceback.contains("import_error.py"), "{traceback}");

    let error = load_error(&host, "missing").await;
    assert_eq!(
        error.to_string(),
        format!(
            "conf.d/missing.yaml: cannot load check 'missing': no check named 'missing': there is no \
             installed integration datadog_checks.missing and no missing.py in checks.d ({})",
            checksd.display()
        )
    );

    let error = load_error(&host, "no_class").await;
    assert_eq!(
        error.to_string(),
        "conf.d/no_class.yaml: cannot load check 'no_class': unable to find a subclass of the base check \
         in module 'no_class': it must define a class that inherits from AgentCheck (and is not itself \
         subclassed)"
    );

    let error = load_error(&host, "bad_constructor").await;
    let text = error.to_string();
    assert!(
        text.starts_with(
            "conf.d/bad_constructor.yaml: cannot load check 'bad_constructor': could not invoke \
             'bad_constructor' python check constructor. New constructor API returned:\n"
        ),
        "{text}"
    );
    assert!(text.contains("ValueError: host is required"), "{text}");

    // Failed loads leave nothing behind: the host still runs checks.
    let handle = load(&host, "counter").await;
    assert_eq!(host.run(&handle, RUN_TIMEOUT).await.unwrap().error, None);
    assert_eq!(host.restarts(), 0);
}

#[tokio::test]
async fn a_raising_check_reports_its_error_and_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let handle = load(&host, "raises").await;
    let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
    let error = output.error.clone().unwrap();
    assert_eq!(error.message, "the database said no");
    assert!(
        error.traceback.starts_with("Traceback (most recent call last):"),
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
    // What was submitted before the failure is kept, as the Agent keeps it.
    assert_eq!(gauges(&output), [("raises.before", 1.0)]);
}

#[tokio::test]
async fn a_hung_check_times_out_and_the_other_checks_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let counter = load(&host, "counter").await;
    let hangs = load(&host, "hangs").await;
    host.run(&counter, RUN_TIMEOUT).await.unwrap();
    let pid = host.info().await.pid;

    let output = host.run(&hangs, Duration::from_secs(1)).await.unwrap();
    assert_eq!(output.aborted, Some(Abort::Timeout));
    let error = output.error.clone().unwrap();
    assert_eq!(
        error.message,
        format!(
            "check {} did not finish within 1 s; the Python check host was restarted and the checks \
             loaded again; the check now runs in a Python process of its own",
            hangs.check_id()
        )
    );
    assert!(
        error
            .traceback
            .starts_with("Stack of the check when it timed out (most recent call last):"),
        "{}",
        error.traceback
    );
    assert!(error.traceback.contains("in wait_forever"), "{}", error.traceback);
    assert!(error.traceback.contains("hangs.py"), "{}", error.traceback);
    assert_eq!(gauges(&output), [("hangs.before", 1.0)]);

    assert_eq!(host.restarts(), 1);
    assert_ne!(host.info().await.pid, pid);
    // The other check was loaded again into the new process: a fresh object, so its count restarts.
    let output = host.run(&counter, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.error, None);
    assert_eq!(gauges(&output)[2], ("counter.runs", 1.0));
}

#[tokio::test]
async fn a_check_whose_import_hangs_is_a_load_error_and_the_host_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let host = PythonHost::start(PythonHostOptions {
        load_timeout: Duration::from_secs(1),
        ..options(dir.path())
    })
    .await
    .unwrap();
    let counter = load(&host, "counter").await;
    let error = load_error(&host, "hangs_at_import").await;
    assert_eq!(
        error.to_string(),
        "conf.d/hangs_at_import.yaml: cannot load check 'hangs_at_import': the Python check host did not \
         answer in time and was killed while loading the check; the Python check host was restarted and the \
         checks loaded again"
    );
    assert_eq!(host.restarts(), 1);
    assert_eq!(host.run(&counter, RUN_TIMEOUT).await.unwrap().error, None);
}

#[tokio::test]
async fn a_check_that_ends_the_process_is_reported_and_the_host_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let exits = load(&host, "exits").await;
    let counter = load(&host, "counter").await;

    let output = host.run(&exits, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.aborted, Some(Abort::Crash));
    assert_eq!(
        output.error.unwrap().message,
        format!(
            "the Python check host exited (exit status: 7) while running check {}; the Python check host \
             was restarted and the checks loaded again; the check now runs in a Python process of its own",
            exits.check_id()
        )
    );
    assert_eq!(host.restarts(), 1);
    assert_eq!(
        host.isolated(),
        [IsolatedCheck {
            check_id: exits.check_id().as_str().to_owned(),
            reason: "the Python check host exited (exit status: 7)".to_owned(),
        }]
    );

    let output = host.run(&counter, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.error, None);
    assert_eq!(gauges(&output)[2], ("counter.runs", 1.0));
    assert_eq!(host.restarts(), 1);

    // From now on the check takes down only its own process: the shared one and its checks go on.
    let pid = host.pid();
    let output = host.run(&exits, RUN_TIMEOUT).await.unwrap();
    assert_eq!(
        output.error.unwrap().message,
        format!(
            "the Python check host exited (exit status: 7) while running check {}; the Python check host \
             was restarted and the checks loaded again",
            exits.check_id()
        )
    );
    assert_eq!((host.restarts(), host.pid()), (2, pid));
    let output = host.run(&counter, RUN_TIMEOUT).await.unwrap();
    assert_eq!(gauges(&output)[2], ("counter.runs", 2.0));
}

#[tokio::test]
async fn an_isolated_hung_check_holds_only_its_own_process() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let counter = load(&host, "counter").await;
    let hangs = load(&host, "hangs").await;
    host.run(&hangs, Duration::from_secs(1)).await.unwrap();
    assert_eq!(host.restarts(), 1);
    assert_eq!(host.isolated().len(), 1);
    let pid = host.pid();
    assert_eq!(pid, host.info().await.pid);

    // The hung check's second run holds its own process; the counter runs meanwhile, in the shared one.
    let hung = host.run(&hangs, Duration::from_secs(5));
    let counted = host.run(&counter, RUN_TIMEOUT);
    tokio::pin!(hung);
    let counted = tokio::select! {
        biased;
        hung = &mut hung => panic!("the hung run ended before the counter's: {hung:?}"),
        counted = counted => counted.unwrap(),
    };
    assert_eq!(counted.error, None);
    assert_eq!(gauges(&counted)[2], ("counter.runs", 1.0));
    let hung = hung.await.unwrap();
    assert_eq!(
        hung.error.unwrap().message,
        format!(
            "check {} did not finish within 5 s; the Python check host was restarted and the checks loaded again",
            hangs.check_id()
        )
    );
    assert_eq!((host.restarts(), host.pid()), (2, pid));
    let counted = host.run(&counter, RUN_TIMEOUT).await.unwrap();
    assert_eq!(gauges(&counted)[2], ("counter.runs", 2.0));

    // Unloaded, the isolated check's process goes, and with it the isolation.
    host.unload(hangs.clone()).await.unwrap();
    assert_eq!(host.isolated(), []);
    host.shutdown().await;
}

#[tokio::test]
async fn a_host_killed_between_runs_is_replaced_before_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let api = load(&host, "agent_api").await;
    let first = host.run(&api, RUN_TIMEOUT).await.unwrap();
    assert_eq!(gauges(&first), [("agent_api.runs", 1.0)]);

    let pid = host.info().await.pid;
    let status = tokio::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    wait_until_dead(pid).await;

    // The run itself succeeds: the dead process is noticed before the request is sent.
    let second = host.run(&api, RUN_TIMEOUT).await.unwrap();
    assert_eq!(second.error, None);
    assert_eq!(host.restarts(), 1);
    // The persistent cache is on disk, so it survived the process.
    assert_eq!(gauges(&second), [("agent_api.runs", 2.0)]);
    assert_eq!(
        second.metrics[0].tags,
        [
            "hostname:lab-host",
            "version:7.71.0",
            "host_tags:env:lab,team:se",
            "apm_enabled:True",
            "log_level:info",
            "unset:None",
        ]
    );
}

#[tokio::test]
async fn a_check_that_cannot_be_loaded_again_says_so_at_each_run_until_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let flaky = load(&host, "fails_to_reload").await;
    let exits = load(&host, "exits").await;
    let marker = dir.path().join("cache/fail-import");
    std::fs::write(&marker, "").unwrap();

    // The restart after the crash loads fails_to_reload again, which now fails.
    host.run(&exits, RUN_TIMEOUT).await.unwrap();
    for _ in 0..2 {
        let output = host.run(&flaky, RUN_TIMEOUT).await.unwrap();
        let error = output.error.unwrap();
        let file = test_checksd().join("fails_to_reload.py");
        assert_eq!(
            error.message,
            format!(
                "check {} could not be loaded again after the Python check host restarted: {}:8: unable to \
                 import module 'fails_to_reload': RuntimeError: told to fail by fail-import",
                flaky.check_id(),
                file.display()
            )
        );
        assert!(
            error.traceback.contains("RuntimeError: told to fail"),
            "{}",
            error.traceback
        );
    }

    std::fs::remove_file(&marker).unwrap();
    let output = host.run(&flaky, RUN_TIMEOUT).await.unwrap();
    assert_eq!(output.error, None);
    assert_eq!(gauges(&output), [("fails_to_reload.ok", 1.0)]);
    assert_eq!(host.restarts(), 1);
}

#[tokio::test]
async fn what_a_check_prints_becomes_log_lines_and_never_reaches_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let handle = load(&host, "prints").await;
    for _ in 0..2 {
        let output = host.run(&handle, RUN_TIMEOUT).await.unwrap();
        assert_eq!(output.error, None);
        assert_eq!(gauges(&output), [("prints.done", 1.0)]);
        let id = handle.check_id().as_str();
        assert_eq!(
            log_lines(&output),
            [
                format!("{id} | (stdout) | hello from print"),
                format!(r#"{id} | (stdout) | {{"id": 1, "ok": {{}}}}"#),
                format!("{id} | (stdout) | no newline at the end"),
            ]
        );
    }
    assert_eq!(host.restarts(), 0);
}

#[tokio::test]
async fn unloaded_and_duplicate_checks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path()).await;
    let handle = load(&host, "counter").await;

    let config = config("counter", "init_config:\ninstances:\n  - tags: [team:se]\n");
    let error = host.load(&config, &config.instances[0]).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "conf.d/counter.yaml: cannot load check 'counter': the instance {} is already loaded",
            handle.check_id()
        )
    );

    host.unload(handle.clone()).await.unwrap();
    let error = host.run(&handle, RUN_TIMEOUT).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "check {} is not loaded in the Python check host",
            handle.check_id()
        )
    );
    // Unloading frees the instance: it can be loaded again.
    let again = host.load(&config, &config.instances[0]).await.unwrap();
    assert_eq!(host.run(&again, RUN_TIMEOUT).await.unwrap().error, None);
    host.shutdown().await;
}

#[tokio::test]
async fn without_datadog_checks_base_every_load_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    // Whatever the machine's python3 has installed, this package shadows it and cannot be imported.
    let missing = dir.path().join("missing-base");
    std::fs::create_dir_all(missing.join("datadog_checks")).unwrap();
    std::fs::write(
        missing.join("datadog_checks/__init__.py"),
        "raise ImportError('No module named datadog_checks.base')\n",
    )
    .unwrap();
    let host = PythonHost::start(PythonHostOptions {
        python_path: vec![missing],
        ..options(dir.path())
    })
    .await
    .unwrap();
    let info = host.info().await;
    assert_eq!(info.base_version, None);
    let base_error = info.base_error.unwrap();
    assert!(
        base_error.starts_with("datadog-checks-base cannot be imported by "),
        "{base_error}"
    );
    assert!(
        base_error.contains("-m pip install --no-deps --require-hashes -r requirements.txt"),
        "{base_error}"
    );

    let error = load_error(&host, "counter").await;
    assert_eq!(
        error.to_string(),
        format!("conf.d/counter.yaml: cannot load check 'counter': {base_error}")
    );
}

#[tokio::test]
async fn an_interpreter_that_does_not_exist_is_a_clear_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = PythonHost::start(PythonHostOptions {
        python: PathBuf::from("/nonexistent/bin/python"),
        ..options(dir.path())
    })
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "cannot start the Python check host with /nonexistent/bin/python: No such file or directory (os \
         error 2); point the agent at an interpreter with datadog-checks-base installed \
         (crates/ddlab-agent/python/requirements.txt)"
    );
}

#[tokio::test]
async fn an_interpreter_that_fails_at_start_shows_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-python");
    std::fs::write(&script, "#!/bin/sh\necho 'this is not python' >&2\nexit 3\n").unwrap();
    let status = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
    let error = PythonHost::start(PythonHostOptions {
        python: script.clone(),
        ..options(dir.path())
    })
    .await
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "the Python check host ({}) did not start: the Python check host",
            script.display()
        )),
        "{text}"
    );
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(
        text.ends_with("its stderr ended with:\nthis is not python"),
        "{text}"
    );
}

#[tokio::test]
async fn agent_settings_use_the_datadog_yaml_keys() {
    let root = Path::new("/etc/datadog-agent");
    let loaded = AgentConfig::from_yaml(
        root,
        &root.join("datadog.yaml"),
        "api_key: abc\ntags: [env:dev]\napm_config:\n  enabled: false\n",
        &|_| None,
    )
    .unwrap();
    let settings = agent_settings(&loaded.config);
    assert_eq!(settings["tags"], json!(["env:dev"]));
    assert_eq!(settings["apm_config"]["enabled"], json!(false));
    assert_eq!(settings["use_v2_api"]["series"], json!(true));
    assert_eq!(
        settings["additional_checksd"],
        json!("/etc/datadog-agent/checks.d")
    );
    assert!(!settings.contains_key("api_key"));

    let options = PythonHostOptions::for_agent(&loaded.config, "lab-host");
    assert_eq!(options.checksd, [PathBuf::from("/etc/datadog-agent/checks.d")]);
    assert_eq!(options.host_tags, ["env:dev"]);
    assert_eq!(options.hostname, "lab-host");
}

#[test]
fn the_python_modules_pass_their_own_tests() {
    let python_dir = crate_dir().join("python");
    let output = std::process::Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
        .current_dir(&python_dir)
        .env("PYTHONPATH", &python_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python -m unittest failed:\n{stderr}");
    assert!(stderr.contains("\nOK"), "{stderr}");
}
