//! The whole agent, in-process, with the reference solution's configuration (`fixtures/solution`:
//! `datadog.yaml`, `conf.d`, `checks.d`) forwarding to the real backend on a loopback port, and to a
//! private MariaDB with the solution's grants.
//!
//! The Python part (the custom check `my_metric` through the Python check host) needs `DDLAB_PYTHON`
//! (a virtualenv's `bin/python` with `crates/ddlab-agent/python/requirements.txt`); without it the
//! test says NOT RUN for that part and checks instead that the check is a loading error while the rest
//! runs. MariaDB needs the `mariadb-server` package (or `DDLAB_SKIP_MYSQL=1` to skip that part).

// The helpers below are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ddlab_agent::collector::{Loader, RunState};
use ddlab_agent::config::AgentConfig;
use ddlab_agent::dogstatsd::Listen;
use ddlab_agent::forwarder::ApiKeyState;
use ddlab_agent::ipc::IpcClient;
use ddlab_agent::runtime::{Agent, AgentOptions, PID_FILE};
use ddlab_agent::status::AgentStatus;
use serde_json::Value;
use support::backend::{API_KEY, Backend};
use support::mariadb::Server;

const HOST: &str = "ddlab-it-host";
const GRANTS_SQL: &str = include_str!("../../../fixtures/solution/mysql/grants.sql");
/// Generous: the Python host imports datadog-checks-base, MariaDB starts, on a busy two-core machine.
const DEADLINE: Duration = Duration::from_secs(120);

fn solution() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/solution")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The solution's agent files in a temporary config root, with the lab's additions: a folder with a
/// YAML error, a check whose Python module does not exist, an unknown key, and the MariaDB port.
fn config_root(dir: &Path, mysql_port: Option<u16>) -> PathBuf {
    let root = dir.join("etc");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(solution().join("datadog.yaml"), root.join("datadog.yaml")).unwrap();
    copy_tree(&solution().join("conf.d"), &root.join("conf.d"));
    copy_tree(&solution().join("checks.d"), &root.join("checks.d"));
    let mut datadog = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("datadog.yaml"))
        .unwrap();
    writeln!(datadog, "\nfrobnicate: 1").unwrap();
    let mysql_conf = root.join("conf.d/mysql.d/conf.yaml");
    match mysql_port {
        Some(port) => {
            let text = std::fs::read_to_string(&mysql_conf).unwrap();
            assert!(text.contains("port: 3306"), "the solution's conf.yaml changed");
            std::fs::write(&mysql_conf, text.replace("port: 3306", &format!("port: {port}"))).unwrap();
        }
        None => std::fs::remove_dir_all(root.join("conf.d/mysql.d")).unwrap(),
    }
    std::fs::create_dir_all(root.join("conf.d/broken.d")).unwrap();
    std::fs::write(root.join("conf.d/broken.d/conf.yaml"), "instances:\n  - a: [\n").unwrap();
    std::fs::write(root.join("conf.d/no_such_module.yaml"), "instances:\n  - {}\n").unwrap();
    root
}

/// The environment the agent runs with: the solution leaves api_key out on purpose (DD_API_KEY).
fn env(backend: &Backend) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("DD_API_KEY".to_owned(), API_KEY.to_owned()),
        ("DD_DD_URL".to_owned(), backend.url()),
        ("DD_APM_DD_URL".to_owned(), backend.url()),
        ("DD_HOSTNAME".to_owned(), HOST.to_owned()),
        ("DD_CMD_PORT".to_owned(), "0".to_owned()),
    ])
}

fn python() -> Option<PathBuf> {
    std::env::var_os("DDLAB_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Polls the agent's status until `done` holds.
async fn status_until(agent: &Agent, what: &str, done: impl Fn(&AgentStatus) -> bool) -> AgentStatus {
    support::poll::until(
        DEADLINE,
        || {
            format!(
                "{what}: {}",
                serde_json::to_string_pretty(&agent.status()).unwrap()
            )
        },
        async || Some(agent.status()).filter(|status| done(status)),
    )
    .await
}

/// Polls the backend's intake log of `route` until a payload satisfies `found`.
async fn intake_until(backend: &Backend, route: &str, what: &str, found: impl Fn(&Value) -> bool) {
    support::poll::until(
        DEADLINE,
        || what.to_owned(),
        async || {
            let log = backend
                .get(&format!("/ddlab/intake?route={route}&limit=500"))
                .await;
            log["payloads"]
                .as_array()
                .is_some_and(|p| p.iter().any(&found))
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_solution_reaches_the_backend() {
    let backend = Backend::start().await;
    let mariadb = Server::start().await;
    if let Some(server) = &mariadb {
        server.root_sql(GRANTS_SQL).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = config_root(dir.path(), mariadb.as_ref().map(|s| s.port));
    let python = python();
    if python.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "NOT RUN: agent::the_reference_solution_reaches_the_backend, Python part (my_metric): needs \
             DDLAB_PYTHON=<virtualenv>/bin/python with crates/ddlab-agent/python/requirements.txt installed"
        );
    }

    let mut options = AgentOptions::new(&root);
    options.env = env(&backend);
    options.python = Some(
        python
            .clone()
            .unwrap_or_else(|| PathBuf::from("/nonexistent/ddlab-python")),
    );
    options.flush_interval = Duration::from_secs(1);
    options.dogstatsd_listen = Some(Listen {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        socket: None,
        buffer_size: 8192,
    });
    // The solution's receiver_port (8126) may be in use by a stack on this machine.
    options.apm_listen = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(options).await.expect("the agent starts");
    assert_eq!(agent.hostname(), HOST);

    // Every loaded check runs at once; the broken file and the missing module do not stop them.
    let status = status_until(&agent, "every check's first run", |s| {
        !s.collector.running_checks.is_empty() && s.collector.running_checks.iter().all(|c| c.total_runs >= 1)
    })
    .await;
    let checks: BTreeMap<&str, &ddlab_agent::collector::CheckStats> = status
        .collector
        .running_checks
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    for core in ["cpu", "load", "memory", "disk", "network", "uptime"] {
        let check = checks.get(core).unwrap_or_else(|| panic!("{core} is scheduled"));
        assert_eq!(
            (check.loader, check.state),
            (Loader::Core, RunState::Ok),
            "{check:?}"
        );
    }
    let broken = &status.collector.config_errors;
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].path.ends_with("conf.d/broken.d/conf.yaml"));
    assert_eq!(
        (broken[0].line, broken[0].column.is_some()),
        (Some(2), true),
        "{broken:?}"
    );
    assert!(
        status
            .config_warnings
            .iter()
            .any(|w| w.contains("unknown key 'frobnicate'")),
        "{:?}",
        status.config_warnings
    );
    let missing: Vec<&str> = status
        .collector
        .loading_errors
        .iter()
        .map(|e| e.check.as_str())
        .collect();
    match &python {
        Some(_) => {
            let my_metric = checks.get("my_metric").expect("my_metric is scheduled");
            assert_eq!(
                (
                    my_metric.loader,
                    my_metric.state,
                    my_metric.version.as_deref(),
                    my_metric.interval_seconds
                ),
                (Loader::Python, RunState::Ok, Some("1.0.0"), 45.0),
                "{my_metric:?}"
            );
            assert_eq!(missing, ["no_such_module"]);
            let error = &status.collector.loading_errors[0].error;
            assert!(
                error.contains("no check named 'no_such_module'")
                    && error.contains("datadog_checks.no_such_module")
                    && error.contains("checks.d"),
                "{error}"
            );
        }
        None => assert_eq!(missing, ["my_metric", "no_such_module"]),
    }
    if mariadb.is_some() {
        let mysql = checks.get("mysql").expect("mysql is scheduled");
        // A fresh server has no statement digests yet, which the integration reports as a warning.
        assert_eq!(
            (mysql.loader, mysql.last_error.clone()),
            (Loader::Native, None),
            "{mysql:?}"
        );
        assert!(
            matches!(mysql.state, RunState::Ok | RunState::Warning),
            "{mysql:?}"
        );
        assert_eq!(mysql.metadata.get("flavor").map(String::as_str), Some("MariaDB"));
    }

    // DogStatsD, as datadogpy sends it.
    let dsd = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    dsd.send_to(
        b"lab.dogstatsd.hits:3|c|#route:home\nlab.dogstatsd.hits:2|c|#route:home",
        agent.dogstatsd_addr().expect("DogStatsD listens on UDP"),
    )
    .await
    .unwrap();

    // The backend has the host's metrics, its tags, and the service checks.
    let host = format!("{{host:{HOST}}}");
    for metric in [
        "system.uptime",
        "system.mem.total",
        "system.load.1",
        "system.disk.in_use",
        "datadog.agent.running",
    ] {
        backend
            .wait_for_series(&format!("avg:{metric}{host}"), DEADLINE)
            .await;
    }
    if python.is_some() {
        let series = backend
            .wait_for_series(&format!("avg:my_metric{host}"), DEADLINE)
            .await;
        let value = series[0]["pointlist"][0][1].as_f64().expect("a point");
        assert!((0.0..=1000.0).contains(&value), "{value}");
    }
    if mariadb.is_some() {
        backend
            .wait_for_series(&format!("avg:mysql.net.max_connections{host}"), DEADLINE)
            .await;
        intake_until(&backend, "/api/v1/check_run", "mysql.can_connect OK", |p| {
            p["payload"].as_array().is_some_and(|runs| {
                runs.iter().any(|r| {
                    r["check"] == "mysql.can_connect" && r["status"] == "OK" && r["host_name"] == HOST
                })
            })
        })
        .await;
    }
    intake_until(&backend, "/api/v1/check_run", "datadog.agent.up", |p| {
        p["payload"]
            .as_array()
            .is_some_and(|runs| runs.iter().any(|r| r["check"] == "datadog.agent.up"))
    })
    .await;
    support::poll::until(
        DEADLINE,
        || "the host tags of datadog.yaml on the host".to_owned(),
        async || {
            let tags = backend.get(&format!("/api/v1/tags/hosts/{HOST}")).await;
            let tags: Vec<String> = tags["tags"]
                .as_array()
                .map(|t| t.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            ["env:lab", "role:database", "exercise:ddlab"]
                .iter()
                .all(|t| tags.iter().any(|have| have == t))
                .then_some(())
        },
    )
    .await;

    // The CLI's view over IPC, found through the config root, its run folder and the token.
    let env = env(&backend);
    let config = AgentConfig::load(&root, &|var| env.get(var).cloned())
        .unwrap()
        .config;
    let client = IpcClient::for_config(&config).expect("the token and port files exist");
    let status = client.status().await.expect("status over IPC");
    assert_eq!(status.hostname, HOST);
    assert_eq!(status.host_tags, ["env:lab", "role:database", "exercise:ddlab"]);
    let health = client.health().await.unwrap();
    assert!(health.is_healthy(), "{health:?}");
    let configcheck = client.config_check().await.unwrap();
    let shown = serde_json::to_string(&configcheck).unwrap();
    if mariadb.is_some() {
        assert!(shown.contains("********"), "{shown}");
        assert!(
            !shown.contains("datadog-lab"),
            "the MySQL password is masked: {shown}"
        );
    }
    let key = status_until(&agent, "the API key check", |s| {
        s.forwarder.api_key.state != ApiKeyState::Unchecked
    })
    .await;
    assert_eq!(key.forwarder.api_key.state, ApiKeyState::Valid);
    assert_eq!(key.host_metadata.sent, 1);

    // A clean stop flushes everything, the open DogStatsD bucket included.
    let run_path = config.run_path.clone();
    let last = agent.shutdown().await;
    let t = &last.forwarder.transactions;
    assert_eq!(
        (t.dropped_http, t.dropped_retry_queue_full, t.dropped_on_shutdown),
        (0, 0, 0),
        "{t:?}"
    );
    assert!(t.success_by_endpoint.contains_key("series_v2"), "{t:?}");
    assert!(!run_path.join(PID_FILE).exists());
    // 3 + 2 in one 10 s bucket: a rate of 0.5 per second, as the Agent sends counters.
    intake_until(&backend, "/api/v2/series", "the DogStatsD counter", |p| {
        p["payload"]["series"].as_array().is_some_and(|series| {
            series.iter().any(|s| {
                s["metric"] == "lab.dogstatsd.hits"
                    && s["type"] == "rate"
                    && s["interval"] == 10
                    && s["tags"] == serde_json::json!(["route:home"])
                    && s["points"][0][1] == 0.5
            })
        })
    })
    .await;
    backend.stop().await;
}
