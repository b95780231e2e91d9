//! APM end to end with the real tracer: the exercise's Flask app (`fixtures/solution/app/app.py`) run
//! under `ddtrace-run` (ddtrace 4.16.0, flask 3.1.3, as `fixtures/solution/app/requirements.txt` pins
//! them) sends its traces to our receiver on a loopback port; the receiver's payloads go to a real
//! backend in process; the backend's trace metrics must count every request exactly, by resource.
//!
//! Three runs: ddtrace's default (`/v0.5/traces`), `DD_TRACE_API_VERSION=v0.4`, and client-computed
//! stats (`DD_TRACE_STATS_COMPUTATION_ENABLED=true`: the tracer sends `/v0.6/stats` and the agent computes
//! none). A fourth sends the same traffic to Datadog's own test agent (`ddapm-test-agent` 1.69.1) and
//! checks that both received the same traces, span for span. A fifth runs the whole agent
//! (`runtime::Agent`, the reference solution's `datadog.yaml`) against a backend serving on a loopback
//! port: the receiver's payloads go through the agent's forwarder, as in the stack.
//!
//! The app's interpreter comes from `DDLAB_APP_PYTHON` (a virtualenv's `bin/python`, with `ddtrace-run`
//! beside it), the test agent from `DDLAB_TEST_AGENT` (its `ddapm-test-agent` script, best in a
//! virtualenv of its own); `cargo test` itself never reaches the network. Without the variables each
//! test says on stderr that it did not run; with them, a broken interpreter or test agent fails them:
//!
//! ```text
//! python3 -m venv .venv-test
//! .venv-test/bin/pip install flask==3.1.3 ddtrace==4.16.0
//! python3 -m venv .venv-test-agent
//! .venv-test-agent/bin/pip install --require-hashes -r crates/ddlab-agent/benches/apm/requirements.txt
//! DDLAB_APP_PYTHON=$PWD/.venv-test/bin/python DDLAB_TEST_AGENT=$PWD/.venv-test-agent/bin/ddapm-test-agent \
//!     cargo test -p ddlab-agent --test apm_ddtrace
//! ```

// The helpers below are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use ddlab_agent::trace::{
    ApmPayload, ApmPayloadKind, ReceiverStats, TraceReceiver, TraceReceiverConfig, TraceSink,
};
use ddlab_backend::{AppState, Config, Keys, Secret};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tower::ServiceExt as _;

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// ddtrace takes seconds to import and patch; a loaded machine may take many more.
const START_TIMEOUT: Duration = Duration::from_secs(120);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times each route is requested: different counts, so a mix-up of resources shows.
const REQUESTS: [(&str, &str, usize, StatusCode); 4] = [
    ("/", "get_/", 5, StatusCode::OK),
    ("/api/apm", "get_/api/apm", 3, StatusCode::OK),
    ("/api/trace", "get_/api/trace", 2, StatusCode::OK),
    (
        "/ddlab/raise",
        "get_/ddlab/raise",
        1,
        StatusCode::INTERNAL_SERVER_ERROR,
    ),
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter named by `DDLAB_APP_PYTHON`, or `None` after saying on stderr that `test` did not run.
fn app_python(test: &str) -> Option<PathBuf> {
    match std::env::var_os("DDLAB_APP_PYTHON") {
        Some(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            // Written to the real stderr, not through the test harness's capture, so it is always seen.
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: apm_ddtrace::{test} needs DDLAB_APP_PYTHON=<virtualenv>/bin/python with \
                 flask==3.1.3 and ddtrace==4.16.0 installed"
            );
            None
        }
    }
}

/// The `ddapm-test-agent` script named by `DDLAB_TEST_AGENT`, or `None` after saying that `test` did not
/// run.
fn test_agent(test: &str) -> Option<PathBuf> {
    match std::env::var_os("DDLAB_TEST_AGENT") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "NOT RUN: apm_ddtrace::{test} needs DDLAB_TEST_AGENT=<virtualenv>/bin/ddapm-test-agent \
                 with ddapm-test-agent==1.69.1 installed"
            );
            None
        }
    }
}

/// Collects what the receiver sends, for delivery to the backend once it has stopped.
#[derive(Default)]
struct Collect(Mutex<Vec<ApmPayload>>);

impl TraceSink for Collect {
    fn submit(&self, payload: ApmPayload) {
        self.0.lock().unwrap().push(payload);
    }
}

/// The Flask app under ddtrace-run, and everything it printed.
struct App {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
}

impl App {
    async fn start(python: &Path, agent_port: u16, extra_env: &[(&str, &str)]) -> App {
        let bin = python.parent().unwrap_or(Path::new("."));
        let ddtrace_run = bin.join("ddtrace-run");
        let app_py = crate_dir().join("../../fixtures/solution/app/app.py");
        let mut command = Command::new(&ddtrace_run);
        command
            .arg(python)
            .arg(crate_dir().join("tests/apm/serve_app.py"))
            .arg(&app_py)
            // Only what the run needs: no DD_* from the caller's environment.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::var_os("HOME").unwrap_or_default())
            .env("PYTHONUNBUFFERED", "1")
            // No `__pycache__` beside the fixture's app.py: the fixtures stay as committed.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("DD_SERVICE", "flask")
            .env("DD_ENV", "lab")
            .env("DD_VERSION", "1.0")
            .env("DD_TRACE_AGENT_URL", format!("http://127.0.0.1:{agent_port}"))
            // The receiver serves neither remote configuration nor telemetry.
            .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
            .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "DDLAB_APP_PYTHON={} is set but {} cannot run: {err}",
                python.display(),
                ddtrace_run.display()
            )
        });
        let output = Arc::new(Mutex::new(String::new()));
        let (port_tx, mut port_rx) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, port_tx) in [
            (
                Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                Some(port_tx),
            ),
            (Box::new(stderr), None),
        ] {
            // Both pipes are read to the end, or the app would block on a full pipe.
            let output = Arc::clone(&output);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let (Some(tx), Some(port)) = (&port_tx, line.strip_prefix("DDLAB_APP_PORT=")) {
                        let _ = tx.send(port.trim().parse::<u16>().unwrap());
                    }
                    let mut output = output.lock().unwrap();
                    if output.len() < 2_000_000 {
                        output.push_str(&line);
                        output.push('\n');
                    }
                }
            });
        }
        let port = match tokio::time::timeout(START_TIMEOUT, port_rx.recv()).await {
            Ok(Some(port)) => port,
            _ => panic!(
                "DDLAB_APP_PYTHON={} is set but the app did not start:\n{}",
                python.display(),
                output.lock().unwrap()
            ),
        };
        App { child, port, output }
    }

    /// Requests each route as often as [`REQUESTS`] says, with a real HTTP client.
    async fn traffic(&self) {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        for (path, _, count, status) in REQUESTS {
            for _ in 0..count {
                let uri = format!("http://127.0.0.1:{}{path}", self.port);
                let response = client.get(uri.parse().unwrap()).await.unwrap();
                assert_eq!(response.status(), status, "GET {path}");
                let body = response.into_body().collect().await.unwrap().to_bytes();
                if path == "/api/apm" {
                    assert_eq!(&body[..], b"Getting APM Started");
                }
            }
        }
    }

    /// Closes stdin, so the app stops serving and exits, and ddtrace flushes on the way out.
    async fn stop(mut self) -> String {
        drop(self.child.stdin.take());
        let exit = tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await;
        let output = self.output.lock().unwrap().clone();
        match exit {
            Ok(Ok(status)) if status.success() => output,
            other => panic!("the app did not exit cleanly ({other:?}):\n{output}"),
        }
    }
}

/// A backend in a temporary folder, called in process.
struct Backend {
    _dir: tempfile::TempDir,
    state: AppState,
}

impl Backend {
    fn open() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(&Config {
            state_dir: dir.path().join("state"),
            listen: "127.0.0.1:0".parse().unwrap(),
            test_mode: false,
            keys: Some(Keys {
                api_key: Secret::new(API),
                app_key: Secret::new(APP),
            }),
            public_url: None,
            notifications: Default::default(),
        })
        .unwrap();
        Backend { _dir: dir, state }
    }

    /// Posts one payload as the forwarder would: its route, its headers, the API key.
    async fn deliver(&self, payload: &ApmPayload) {
        let mut request = Request::post(payload.path()).header("DD-API-KEY", API);
        for (name, value) in &payload.headers {
            request = request.header(*name, value);
        }
        let request = request.body(Body::from(payload.body.clone())).unwrap();
        let response = ddlab_backend::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{} refused: {}",
            payload.path(),
            String::from_utf8_lossy(&body)
        );
    }

    async fn get(&self, uri: &str) -> Value {
        let request = Request::get(uri)
            .header("DD-API-KEY", API)
            .header("DD-APPLICATION-KEY", APP)
            .body(Body::empty())
            .unwrap();
        let response = ddlab_backend::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&body).unwrap()
    }

    /// The total of a metric query over the last 15 minutes, by `resource_name`.
    async fn by_resource(&self, query: &str) -> BTreeMap<String, f64> {
        let now = self.state.clock.now();
        let uri = format!(
            "/api/v1/query?from={}&to={}&query={}",
            now - 900,
            now + 300,
            form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
        );
        let body = self.get(&uri).await;
        body["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|series| {
                let resource = series["tag_set"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("resource_name:")
                    .to_owned();
                let total = series["pointlist"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|p| p[1].as_f64())
                    .sum();
                (resource, total)
            })
            .collect()
    }
}

/// What one run of the app against our receiver left: the receiver's counters, its payloads and the
/// app's output.
struct Received {
    stats: ReceiverStats,
    payloads: Vec<ApmPayload>,
    output: String,
}

/// Runs the app with `env` against a receiver of ours, sends the traffic, stops both.
async fn through_our_receiver(python: &Path, env: &[(&str, &str)]) -> Received {
    let sink = Arc::new(Collect::default());
    let receiver = TraceReceiver::start(
        TraceReceiverConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            hostname: "lab-host".into(),
            ..TraceReceiverConfig::default()
        },
        Arc::clone(&sink) as Arc<dyn TraceSink>,
    )
    .await
    .unwrap();
    let app = App::start(python, receiver.tcp_addr().unwrap().port(), env).await;
    app.traffic().await;
    let output = app.stop().await;
    let stats = receiver.stats();
    receiver.shutdown().await;
    let payloads = std::mem::take(&mut *sink.0.lock().unwrap());
    Received {
        stats,
        payloads,
        output,
    }
}

/// Runs the app against the receiver with `env`, delivers everything to a backend and checks what it
/// counted. `endpoint` is the trace route the tracer must have used.
async fn run(python: &Path, env: &[(&str, &str)], endpoint: &str, client_stats: bool) {
    let Received {
        stats,
        payloads,
        output,
    } = through_our_receiver(python, env).await;
    let requests: usize = REQUESTS.iter().map(|r| r.2).sum();
    let used = stats.endpoints.get(endpoint).cloned().unwrap_or_default();
    assert_eq!(
        (used.traces, stats.traces_received),
        (requests as u64, requests as u64),
        "every request is one trace on {endpoint}: {stats:#?}\n{output}"
    );
    if client_stats {
        assert!(
            stats.client_stats_groups > 0,
            "no /v0.6/stats: {stats:#?}\n{output}"
        );
    }

    let backend = Backend::open();
    for payload in &payloads {
        backend.deliver(payload).await;
    }

    let hits = backend
        .by_resource("sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()")
        .await;
    let expected: BTreeMap<String, f64> = REQUESTS
        .iter()
        .map(|(_, resource, count, _)| ((*resource).to_owned(), *count as f64))
        .collect();
    assert_eq!(hits, expected, "trace.flask.request.hits by resource\n{output}");
    let errors = backend
        .by_resource("sum:trace.flask.request.errors{service:flask,env:lab} by {resource_name}.as_count()")
        .await;
    assert_eq!(errors.get("get_/ddlab/raise"), Some(&1.0), "{errors:?}");
    assert_eq!(errors.values().sum::<f64>(), 1.0, "{errors:?}");

    // The spans are stored and searchable too.
    let body = backend
        .get(&format!(
            "/api/v2/spans/events?filter%5Bquery%5D={}&filter%5Bfrom%5D=now-15m&page%5Blimit%5D=100",
            form_urlencoded::byte_serialize(
                br#"service:flask operation_name:flask.request resource_name:"GET /api/apm""#
            )
            .collect::<String>()
        ))
        .await;
    let spans = body["data"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{body}");
    let first = &spans[0]["attributes"];
    assert_eq!(
        (&first["env"], &first["version"]),
        (&Value::from("lab"), &Value::from("1.0"))
    );
    assert_eq!(first["custom"]["http"]["status_code"], "200");
    let body = backend
        .get("/api/v2/spans/events?filter%5Bquery%5D=status%3Aerror&filter%5Bfrom%5D=now-15m")
        .await;
    let failed: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["attributes"]["resource_name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"GET /ddlab/raise"), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_default_v05_counts_every_request() {
    let Some(python) = app_python("ddtrace_default_v05_counts_every_request") else {
        return;
    };
    run(&python, &[], "/v0.5/traces", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_forced_v04_counts_every_request() {
    let Some(python) = app_python("ddtrace_forced_v04_counts_every_request") else {
        return;
    };
    run(
        &python,
        &[("DD_TRACE_API_VERSION", "v0.4")],
        "/v0.4/traces",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_client_computed_stats_count_every_request() {
    let Some(python) = app_python("ddtrace_client_computed_stats_count_every_request") else {
        return;
    };
    run(
        &python,
        &[("DD_TRACE_STATS_COMPUTATION_ENABLED", "true")],
        "/v0.5/traces",
        true,
    )
    .await;
}

/// One trace as both agents must have received it: the root's resource, status code and error flag,
/// and the names of all its spans.
type TraceShape = (String, String, i64, Vec<String>);

/// What the comparison reads of a span: parent id, name, resource, `http.status_code`, error.
type SpanFacts = (u64, String, String, String, i64);

fn shape(spans: &[SpanFacts]) -> TraceShape {
    let root = spans
        .iter()
        .find(|(parent, ..)| *parent == 0)
        .unwrap_or_else(|| panic!("a trace without a root: {spans:?}"));
    let mut names: Vec<String> = spans.iter().map(|(_, name, ..)| name.clone()).collect();
    names.sort();
    (root.2.clone(), root.3.clone(), root.4, names)
}

/// The traces our receiver forwarded, decoded from its `AgentPayload`s.
fn forwarded_traces(payloads: &[ApmPayload]) -> Vec<TraceShape> {
    let mut by_trace: BTreeMap<u64, Vec<SpanFacts>> = BTreeMap::new();
    for payload in payloads.iter().filter(|p| p.kind == ApmPayloadKind::Traces) {
        let body =
            ddlab_wire::compression::decompress(ddlab_wire::Encoding::Gzip, &payload.body, 1 << 28).unwrap();
        let decoded = ddlab_wire::trace::decode_agent_payload(&body).unwrap();
        for span in decoded
            .tracer_payloads
            .iter()
            .flat_map(|t| &t.chunks)
            .flat_map(|c| &c.spans)
        {
            by_trace.entry(span.trace_id).or_default().push((
                span.parent_id,
                span.name.clone(),
                span.resource.clone(),
                span.meta.get("http.status_code").cloned().unwrap_or_default(),
                i64::from(span.error),
            ));
        }
    }
    let mut shapes: Vec<TraceShape> = by_trace.values().map(|spans| shape(spans)).collect();
    shapes.sort();
    shapes
}

/// The traces the test agent received, from its `GET /test/traces`.
fn test_agent_traces(traces: &Value) -> Vec<TraceShape> {
    let mut shapes: Vec<TraceShape> = traces
        .as_array()
        .unwrap()
        .iter()
        .map(|trace| {
            let spans: Vec<SpanFacts> = trace
                .as_array()
                .unwrap()
                .iter()
                .map(|span| {
                    (
                        span["parent_id"].as_u64().unwrap_or(0),
                        span["name"].as_str().unwrap().to_owned(),
                        span["resource"].as_str().unwrap().to_owned(),
                        span["meta"]["http.status_code"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        span["error"].as_i64().unwrap_or(0),
                    )
                })
                .collect();
            shape(&spans)
        })
        .collect();
    shapes.sort();
    shapes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_traffic_reaches_us_as_it_reaches_the_test_agent() {
    let test = "ddtrace_traffic_reaches_us_as_it_reaches_the_test_agent";
    let (Some(python), Some(script)) = (app_python(test), test_agent(test)) else {
        return;
    };
    let ours = forwarded_traces(&through_our_receiver(&python, &[]).await.payloads);
    let requests: usize = REQUESTS.iter().map(|r| r.2).sum();
    assert_eq!(ours.len(), requests, "{ours:#?}");

    let port = support::test_agent::free_port();
    let mut agent = support::test_agent::command(script.as_os_str(), port, "WARNING")
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "DDLAB_TEST_AGENT={} is set but cannot run: {err}",
                script.display()
            )
        });
    // The test agent prints this line once its servers listen.
    let ready = format!("======== Running APM server on port {port} ========");
    let mut lines = BufReader::new(agent.stdout.take().unwrap()).lines();
    let started = tokio::time::timeout(START_TIMEOUT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == ready {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(started, Ok(true)),
        "DDLAB_TEST_AGENT={} did not start on port {port}",
        script.display()
    );
    // Its later lines are read to the end, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let base = format!("http://127.0.0.1:{port}");
    let app = App::start(&python, port, &[]).await;
    app.traffic().await;
    let output = app.stop().await;
    let response = client
        .get(format!("{base}/test/traces").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let theirs = test_agent_traces(&serde_json::from_slice(&body).unwrap());
    agent.start_kill().unwrap();
    let _ = agent.wait().await;

    assert_eq!(
        ours, theirs,
        "our receiver and ddapm-test-agent disagree\n{output}"
    );
    let raised = ours.iter().find(|t| t.0 == "GET /ddlab/raise").unwrap();
    assert_eq!((raised.1.as_str(), raised.2), ("500", 1));
}

/// The traffic through the whole agent, as the stack runs it: the solution's `datadog.yaml` (APM on,
/// `env: lab`), `DD_APM_DD_URL` and `DD_DD_URL` naming the backend, the agent's own forwarder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddtrace_through_the_running_agent_reaches_the_backend() {
    let test = "ddtrace_through_the_running_agent_reaches_the_backend";
    let Some(python) = app_python(test) else {
        return;
    };
    let backend = support::backend::Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::copy(
        crate_dir().join("../../fixtures/solution/datadog.yaml"),
        root.join("datadog.yaml"),
    )
    .unwrap();
    let mut options = ddlab_agent::runtime::AgentOptions::new(&root);
    options.env = BTreeMap::from([
        ("DD_API_KEY".to_owned(), support::backend::API_KEY.to_owned()),
        ("DD_DD_URL".to_owned(), backend.url()),
        ("DD_APM_DD_URL".to_owned(), backend.url()),
        ("DD_HOSTNAME".to_owned(), "lab-host".to_owned()),
        ("DD_CMD_PORT".to_owned(), "0".to_owned()),
        ("DD_USE_DOGSTATSD".to_owned(), "false".to_owned()),
    ]);
    options.core_checks = false;
    options.apm_listen = Some("127.0.0.1:0".parse().unwrap());
    let agent = ddlab_agent::runtime::Agent::start(options).await.unwrap();
    let port = agent.apm_addr().expect("the receiver listens").port();
    let app = App::start(&python, port, &[]).await;
    app.traffic().await;
    let output = app.stop().await;
    let status = agent.status();
    let requests: u64 = REQUESTS.iter().map(|r| r.2 as u64).sum();
    let from_ddtrace: Vec<(&str, &str, u64)> = status
        .apm
        .tracers
        .iter()
        .map(|t| (t.key.lang.as_str(), t.key.endpoint.as_str(), t.stats.traces))
        .collect();
    assert_eq!(
        from_ddtrace,
        [("python", "/v0.5/traces", requests)],
        "{:#?}\n{output}",
        status.apm
    );
    assert_eq!(
        status.apm.tracers[0]
            .stats
            .services
            .get("flask")
            .map(|s| s.traces),
        Some(requests)
    );
    let last = agent.shutdown().await;
    let t = &last.forwarder.transactions;
    assert_eq!(
        (t.dropped_http, t.dropped_retry_queue_full, t.dropped_on_shutdown),
        (0, 0, 0),
        "{t:?}"
    );

    let expected: BTreeMap<String, f64> = REQUESTS
        .iter()
        .map(|(_, resource, count, _)| ((*resource).to_owned(), *count as f64))
        .collect();
    let query = "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()";
    let hits = support::poll::until(
        Duration::from_secs(60),
        || format!("{query} for every route"),
        async || {
            let hits: BTreeMap<String, f64> = backend
                .query(query)
                .await
                .iter()
                .map(|series| {
                    let resource = series["tag_set"][0]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("resource_name:")
                        .to_owned();
                    let total = series["pointlist"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|p| p[1].as_f64())
                        .sum();
                    (resource, total)
                })
                .collect();
            (hits.len() == expected.len()).then_some(hits)
        },
    )
    .await;
    assert_eq!(hits, expected, "{output}");
    let body = backend
        .get(&format!(
            "/api/v2/spans/events?filter%5Bquery%5D={}&filter%5Bfrom%5D=now-15m&page%5Blimit%5D=100",
            form_urlencoded::byte_serialize(
                br#"service:flask operation_name:flask.request resource_name:"GET /api/apm""#
            )
            .collect::<String>()
        ))
        .await;
    let spans = body["data"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{body}");
    assert_eq!(spans[0]["attributes"]["host"], "lab-host", "{body}");
    backend.stop().await;
}
