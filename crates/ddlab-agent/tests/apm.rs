//! The running agent's APM path without a tracer: trace payloads as ddtrace encodes them (v0.4 and v0.5
//! msgpack, ddtrace's headers) posted to the agent's trace receiver, through its forwarder to the real
//! backend on a loopback port, where the spans must be searchable and `trace.flask.request.hits` must
//! count every trace exactly. Also what `status` and `health` say over IPC, and a malformed payload.
//!
//! `tests/apm_ddtrace.rs` does the same with the real ddtrace when `DDLAB_APP_PYTHON` is set; this one
//! always runs.

// The helpers below are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ddlab_agent::forwarder::ApiKeyState;
use ddlab_agent::ipc::IpcClient;
use ddlab_agent::runtime::{Agent, AgentOptions};
use ddlab_agent::status::AgentStatus;
use ddlab_wire::trace::pb;
use support::backend::{API_KEY, Backend};

const HOST: &str = "ddlab-apm-host";
const DEADLINE: Duration = Duration::from_secs(60);
/// Traces per format: different counts, so a mix-up shows.
const V04_TRACES: u64 = 7;
const V05_TRACES: u64 = 4;

/// A config root with APM on and nothing else running: no DogStatsD, no checks.
fn config_root(dir: &Path, backend: &Backend) -> std::path::PathBuf {
    let root = dir.join("etc");
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    std::fs::write(
        root.join("datadog.yaml"),
        format!(
            "api_key: {API_KEY}\ndd_url: {url}\nhostname: {HOST}\nenv: lab\ncmd_port: 0\nuse_dogstatsd: false\n\
             apm_config:\n  enabled: true\n  apm_dd_url: {url}\n",
            url = backend.url()
        ),
    )
    .unwrap();
    root
}

fn now_ns() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap()
}

/// `count` Flask-like traces (a `flask.request` root and a child), the first one an error, with trace
/// ids from `first_id`.
fn traces(first_id: u64, count: u64, resource: &str) -> Vec<Vec<pb::Span>> {
    let start = now_ns() - 2_000_000_000;
    (0..count)
        .map(|i| {
            let trace_id = first_id + i;
            let error = i == 0;
            let root = pb::Span {
                service: "flask".into(),
                name: "flask.request".into(),
                resource: resource.into(),
                trace_id,
                span_id: trace_id * 10,
                parent_id: 0,
                start,
                duration: 3_000_000,
                error: i32::from(error),
                meta: HashMap::from([
                    ("env".to_owned(), "lab".to_owned()),
                    (
                        "http.status_code".to_owned(),
                        if error { "500" } else { "200" }.to_owned(),
                    ),
                ]),
                metrics: HashMap::from([("_sampling_priority_v1".to_owned(), 1.0)]),
                r#type: "web".into(),
                ..pb::Span::default()
            };
            let child = pb::Span {
                name: "flask.dispatch_request".into(),
                resource: "flask.dispatch_request".into(),
                span_id: trace_id * 10 + 1,
                parent_id: trace_id * 10,
                start: start + 100_000,
                duration: 2_000_000,
                error: 0,
                meta: HashMap::new(),
                metrics: HashMap::new(),
                ..root.clone()
            };
            vec![root, child]
        })
        .collect()
}

/// Posts `body` to the receiver as ddtrace does; the status and the body of the answer.
async fn post(addr: std::net::SocketAddr, route: &str, body: Vec<u8>, count: u64) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(format!("http://{addr}{route}"))
        .header("Content-Type", "application/msgpack")
        .header("X-Datadog-Trace-Count", count.to_string())
        .header("Datadog-Meta-Lang", "python")
        .header("Datadog-Meta-Lang-Version", "3.11.7")
        .header("Datadog-Meta-Lang-Interpreter", "CPython")
        .header("Datadog-Meta-Tracer-Version", "4.16.0")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The total of a count query, by `resource_name`.
async fn by_resource(backend: &Backend, query: &str) -> BTreeMap<String, f64> {
    backend
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
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_the_backend_through_the_agents_forwarder() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = config_root(dir.path(), &backend);
    let mut options = AgentOptions::new(&root);
    options.env = BTreeMap::new();
    options.core_checks = false;
    options.apm_listen = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(options).await.expect("the agent starts");
    let addr = agent.apm_addr().expect("the trace receiver listens on TCP");

    let (status, body) = post(
        addr,
        "/v0.4/traces",
        ddlab_wire::trace::encode_v04(&traces(1, V04_TRACES, "GET /api/apm")),
        V04_TRACES,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"rate_by_service\":{\"service:,env:\":1}}\n")
    );
    let (status, _) = post(
        addr,
        "/v0.5/traces",
        ddlab_wire::trace::encode_v05(&traces(1000, V05_TRACES, "GET /")),
        V05_TRACES,
    )
    .await;
    assert_eq!(status, 200);
    // Cut short: answered 400 and counted, nothing else lost.
    let mut truncated = ddlab_wire::trace::encode_v04(&traces(5000, 2, "GET /broken"));
    truncated.truncate(truncated.len() / 2);
    let (status, body) = post(addr, "/v0.4/traces", truncated, 2).await;
    assert_eq!((status, body.as_str()), (400, "unexpected-eof\n"));

    // What the CLI reads over IPC.
    let config = ddlab_agent::config::AgentConfig::load(&root, &|_| None)
        .unwrap()
        .config;
    let client = IpcClient::for_config(&config).expect("the token and port files exist");
    let status: AgentStatus = client.status().await.expect("status over IPC");
    let apm = &status.apm;
    assert!(apm.running, "{apm:?}");
    assert_eq!(apm.receiver, Some(addr.to_string()));
    assert_eq!(apm.endpoint, backend.url());
    assert_eq!(apm.default_env, "lab");
    assert_eq!(
        apm.rate_by_service,
        BTreeMap::from([("service:,env:".to_owned(), 1.0)])
    );
    let tracers: Vec<String> = apm
        .tracers
        .iter()
        .map(|t| {
            format!(
                "{} {} ({}), client {} on {}: {} payloads, {} traces, {} spans",
                t.key.lang,
                t.key.lang_version,
                t.key.interpreter,
                t.key.tracer_version,
                t.key.endpoint,
                t.stats.payloads,
                t.stats.traces,
                t.stats.spans
            )
        })
        .collect();
    assert_eq!(
        tracers,
        [
            format!(
                "python 3.11.7 (CPython), client 4.16.0 on /v0.4/traces: 1 payloads, {V04_TRACES} traces, {} spans",
                2 * V04_TRACES
            ),
            format!(
                "python 3.11.7 (CPython), client 4.16.0 on /v0.5/traces: 1 payloads, {V05_TRACES} traces, {} spans",
                2 * V05_TRACES
            ),
        ]
    );
    assert_eq!(apm.tracers[0].stats.services["flask"].traces, V04_TRACES);
    let v04 = &apm.endpoints["/v0.4/traces"];
    assert_eq!(
        (
            v04.requests,
            v04.payloads_accepted,
            v04.decoding_errors,
            v04.traces_dropped
        ),
        (2, 1, 1, 2)
    );
    assert_eq!(apm.traces_received, V04_TRACES + V05_TRACES);
    let text = ddlab_agent::status::render(&status);
    for line in [
        format!("  Receiver: {addr}"),
        "    From python 3.11.7 (CPython), client 4.16.0, on /v0.5/traces".to_owned(),
        format!(
            "      Service 'flask': {V05_TRACES} traces, {} spans",
            2 * V05_TRACES
        ),
        "    Default priority sampling rate: 100.0%".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
    }
    let health = client.health().await.unwrap();
    assert!(
        health.healthy.iter().any(|c| c == "trace-agent") && health.is_healthy(),
        "{health:?}"
    );

    // The forwarder checks the API key once, in the background; on a busy machine that can come after
    // the traffic above, so the stop waits for it (the check's outcome is asserted below).
    support::poll::until(
        DEADLINE,
        || "the forwarder's API key check".to_owned(),
        async || {
            let status = client.status().await.ok()?;
            (status.forwarder.api_key.state != ApiKeyState::Unchecked).then_some(())
        },
    )
    .await;

    // A clean stop sends every trace and every open stats bucket through the forwarder.
    let last = agent.shutdown().await;
    let t = &last.forwarder.transactions;
    assert_eq!(
        (t.dropped_http, t.dropped_retry_queue_full, t.dropped_on_shutdown),
        (0, 0, 0),
        "{t:?}"
    );
    assert!(
        t.success_by_endpoint.get("apm_traces") >= Some(&1)
            && t.success_by_endpoint.get("apm_stats") >= Some(&1),
        "{t:?}"
    );
    assert_eq!(last.forwarder.api_key.state, ApiKeyState::Valid);
    assert_eq!(
        (last.apm.writer.spans, last.apm.writer.traces),
        (2 * (V04_TRACES + V05_TRACES), V04_TRACES + V05_TRACES)
    );

    let hits = support::poll::until(
        DEADLINE,
        || "trace.flask.request.hits for both resources".to_owned(),
        async || {
            let hits = by_resource(
                &backend,
                "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
            )
            .await;
            (hits.len() == 2).then_some(hits)
        },
    )
    .await;
    assert_eq!(
        hits,
        BTreeMap::from([
            ("get_/".to_owned(), V05_TRACES as f64),
            ("get_/api/apm".to_owned(), V04_TRACES as f64),
        ])
    );
    let errors = by_resource(
        &backend,
        "sum:trace.flask.request.errors{service:flask,env:lab} by {resource_name}.as_count()",
    )
    .await;
    assert_eq!(
        errors,
        BTreeMap::from([("get_/".to_owned(), 1.0), ("get_/api/apm".to_owned(), 1.0)])
    );
    let spans = backend
        .get(
            "/api/v2/spans/events?filter%5Bquery%5D=service%3Aflask%20env%3Alab&filter%5Bfrom%5D=now-15m\
             &page%5Blimit%5D=100",
        )
        .await;
    let spans = spans["data"].as_array().unwrap();
    assert_eq!(spans.len() as u64, 2 * (V04_TRACES + V05_TRACES), "{spans:?}");
    let hosts: Vec<&str> = spans
        .iter()
        .filter_map(|s| s["attributes"]["host"].as_str())
        .collect();
    assert!(hosts.iter().all(|h| *h == HOST), "{hosts:?}");
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apm_dd_url_that_is_not_http_stops_only_apm() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    // dd_url does not redirect APM: without apm_dd_url the traces would go to Datadog's intake.
    std::fs::write(
        root.join("datadog.yaml"),
        format!(
            "api_key: {API_KEY}\ndd_url: {}\nhostname: {HOST}\ncmd_port: 0\nuse_dogstatsd: false\n",
            backend.url()
        ),
    )
    .unwrap();
    let mut options = AgentOptions::new(&root);
    options.env = BTreeMap::new();
    options.core_checks = false;
    options.apm_listen = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(options).await.expect("the rest of the agent starts");
    assert_eq!(agent.apm_addr(), None);
    let status = agent.status();
    assert!(status.apm.enabled && !status.apm.running, "{:?}", status.apm);
    let error = status.apm.error.clone().unwrap();
    assert!(
        error.contains("https://trace.agent.datadoghq.com") && error.contains("DD_APM_DD_URL"),
        "{error}"
    );
    let health = agent.health();
    assert_eq!(health.unhealthy, [format!("trace-agent: {error}")], "{health:?}");
    let text = ddlab_agent::status::render(&status);
    assert!(text.contains(&format!("  Error: {error}")), "{text}");
    agent.shutdown().await;
    backend.stop().await;
}
