//! The `ddlab-agent` binary as the stack runs it: `run` as a process against the real backend, the CLI's
//! `status`, `health`, `configcheck` and `check` reading it, a trace sent to its receiver's Unix socket,
//! SIGTERM for a clean stop, and the error a broken `datadog.yaml` gives.

// The helpers below are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ddlab_agent::status::AgentStatus;
use support::backend::{API_KEY, Backend};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ddlab-agent");
const DEADLINE: Duration = Duration::from_secs(60);

fn agent(root: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("-c")
        .arg(root)
        // Only what the test sets: no DD_* or DDLAB_* from the environment running the tests.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .kill_on_drop(true);
    command
}

async fn output(root: &Path, args: &[&str]) -> (bool, String, String) {
    let out = agent(root).args(args).output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn poll<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    support::poll::until(DEADLINE, || what.to_owned(), probe).await
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_status_check_configcheck_health_and_sigterm() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    let log_file = dir.path().join("logs/agent.log");
    let apm_socket = dir.path().join("apm.socket");
    write(
        &root,
        "datadog.yaml",
        &format!(
            "api_key: {API_KEY}\ndd_url: {url}\nhostname: cli-host\ntags: [env:lab, role:cli]\ncmd_port: 0\n\
             use_dogstatsd: false\napm_config:\n  enabled: true\n  receiver_port: 0\n  receiver_socket: {}\n\
             \x20 apm_dd_url: {url}\nlog_file: {}\n",
            apm_socket.display(),
            log_file.display(),
            url = backend.url(),
        ),
    );
    write(
        &root,
        "conf.d/uptime.d/conf.yaml",
        "instances:\n  - tags: [team:se]\n",
    );
    write(
        &root,
        "conf.d/mysql.d/conf.yaml",
        "instances:\n  - host: 127.0.0.1\n    port: 1\n    username: datadog\n    password: s3cret\n",
    );

    let mut run = agent(&root)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = run.id().unwrap();
    let run_path = root.join("run");
    poll("the IPC port file", async || {
        run_path.join("cmd_port").exists().then_some(())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(run_path.join("ddlab-agent.pid"))
            .unwrap()
            .trim(),
        pid.to_string()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(run_path.join("auth_token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let status: AgentStatus = poll("uptime's first run, through `status --json`", async || {
        let (ok, stdout, _) = output(&root, &["status", "--json"]).await;
        let status: AgentStatus = serde_json::from_str(&stdout).ok().filter(|_| ok)?;
        let uptime = status
            .collector
            .running_checks
            .iter()
            .find(|c| c.name == "uptime")?;
        let mysql = status
            .collector
            .running_checks
            .iter()
            .find(|c| c.name == "mysql")?;
        (uptime.total_runs >= 1 && mysql.total_runs >= 1).then_some(status)
    })
    .await;
    assert_eq!(status.hostname, "cli-host");
    assert_eq!(status.pid, pid);
    let mysql = status
        .collector
        .running_checks
        .iter()
        .find(|c| c.name == "mysql")
        .unwrap();
    // Nothing listens on port 1: the run fails, visibly, and the other checks are unaffected.
    assert!(
        mysql
            .last_error
            .as_ref()
            .is_some_and(|e| e.message.starts_with("(2003,")),
        "{mysql:?}"
    );

    // One trace over the receiver's Unix socket, as a tracer configured with a unix:// URL sends it.
    let span = ddlab_wire::trace::pb::Span {
        service: "cli-app".into(),
        name: "web.request".into(),
        resource: "GET /".into(),
        trace_id: 42,
        span_id: 7,
        start: i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        )
        .unwrap(),
        duration: 1_000_000,
        ..Default::default()
    };
    let answer = unix_post(
        &apm_socket,
        "/v0.4/traces",
        &ddlab_wire::trace::encode_v04(&[vec![span]]),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    let (ok, text, _) = output(&root, &["status"]).await;
    assert!(ok);
    assert!(
        text.contains(&format!("  UDS receiver: {}\n", apm_socket.display()))
            && text.contains("      Service 'cli-app': 1 traces, 1 spans\n"),
        "{text}"
    );
    for section in [
        "Agent (v7.71.0)",
        "Collector",
        "Forwarder",
        "DogStatsD",
        "APM Agent",
        "uptime",
    ] {
        assert!(text.contains(section), "no {section} in:\n{text}");
    }
    assert!(
        text.contains("[ERROR]") && text.contains("Error: (2003,"),
        "{text}"
    );

    let (ok, text, _) = output(&root, &["health"]).await;
    assert!(ok, "{text}");
    assert!(text.starts_with("Agent health: PASS\n"), "{text}");

    let (ok, text, _) = output(&root, &["configcheck"]).await;
    assert!(ok);
    assert!(
        text.contains("=== mysql check ===") && text.contains("=== uptime check ==="),
        "{text}"
    );
    assert!(
        text.contains("password: \"********\"") && !text.contains("s3cret"),
        "{text}"
    );

    let (ok, json, stderr) = output(&root, &["check", "uptime", "--json"]).await;
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let series = report[0]["aggregator"]["series"].as_array().unwrap();
    let uptime = series
        .iter()
        .find(|s| s["metric"] == "system.uptime")
        .expect("system.uptime in the check's series");
    assert_eq!(uptime["host"], "cli-host");
    assert_eq!(uptime["tags"], serde_json::json!(["team:se"]));
    let (ok, text, _) = output(&root, &["check", "uptime"]).await;
    assert!(ok);
    assert!(text.starts_with("=== Series ===\n"), "{text}");
    assert!(text.contains("--check-rate"), "{text}");
    let (ok, _, stderr) = output(&root, &["check", "nope"]).await;
    assert!(!ok);
    assert!(
        stderr.contains("no check named 'nope' is configured in"),
        "{stderr}"
    );

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = tokio::time::timeout(DEADLINE, run.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "{exit}");
    assert!(!run_path.join("ddlab-agent.pid").exists());
    assert!(!run_path.join("cmd_port").exists());
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("ddlab-agent stopped"), "{log}");

    let (ok, _, stderr) = output(&root, &["status"]).await;
    assert!(!ok);
    assert!(stderr.contains("is `ddlab-agent run` running"), "{stderr}");
    let (ok, stdout, _) = output(&root, &["health"]).await;
    assert!(!ok);
    assert!(stdout.starts_with("Agent health: FAIL"), "{stdout}");

    backend
        .wait_for_series("avg:system.uptime{host:cli-host}", DEADLINE)
        .await;
    // The trace was sent on the way out.
    assert!(!apm_socket.exists(), "the receiver removes its socket file");
    let spans = backend
        .get("/api/v2/spans/events?filter%5Bquery%5D=service%3Acli-app&filter%5Bfrom%5D=now-15m")
        .await;
    assert_eq!(spans["data"].as_array().map(Vec::len), Some(1), "{spans}");
    assert_eq!(spans["data"][0]["attributes"]["host"], "cli-host", "{spans}");
    let tags = backend.get("/api/v1/tags/hosts/cli-host").await;
    assert_eq!(tags["tags"], serde_json::json!(["env:lab", "role:cli"]), "{tags}");
    backend.stop().await;
}

/// One HTTP/1.1 request over a Unix stream socket; the whole answer as text.
async fn unix_post(socket: &Path, route: &str, body: &[u8]) -> String {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let head = format!(
        "PUT {route} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/msgpack\r\n\
         X-Datadog-Trace-Count: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_broken_datadog_yaml_stops_the_start_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().to_path_buf();
    write(&root, "datadog.yaml", "tags:\n  - env:dev\n - role:db\n");
    let (ok, _, stderr) = output(&root, &["run"]).await;
    assert!(!ok);
    let expected = format!(
        "{}:3:2: while parsing a block mapping, did not find expected key",
        root.join("datadog.yaml").display()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    write(
        &root,
        "datadog.yaml",
        "dd_url: https://app.datadoghq.com\napi_key: x\ncmd_port: 0\n",
    );
    let (ok, _, stderr) = output(&root, &["run"]).await;
    assert!(!ok);
    assert!(stderr.contains("ddlab-agent speaks plain HTTP only"), "{stderr}");
}
