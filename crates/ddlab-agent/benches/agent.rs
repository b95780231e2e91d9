//! Agent benchmarks, each beside its anchor in one run (`cargo xtask bench` runs them):
//!
//! - DogStatsD: datagrams per second received, parsed and aggregated by the agent's DogStatsD server,
//!   against a bare Tokio UDP receive loop on the same socket setup (loopback, 8 KiB reads). The sender
//!   keeps at most [`WINDOW`] datagrams in flight, so the socket buffer never overflows and the rate is
//!   one with zero drops, which is checked (goal: ratio ≥ 0.5).
//! - Trace receiver: spans per second accepted over HTTP (`/v0.4/traces`, `/v0.5/traces`, msgpack) by the
//!   `ddlab-agent` binary, against Datadog's `ddapm-test-agent` (`DDLAB_TEST_AGENT`, installed by
//!   `cargo xtask bench` from `benches/apm/requirements.txt` into a virtualenv of its own); the same
//!   payloads from the same client with the same connections, and each process's peak RSS (goals:
//!   ≥ 10× the spans/s, ≤ 1/4 of the RSS). Rounds alternate the two on fresh processes; the rates are
//!   the rounds' medians, the RSS their highest.
//! - Idle RSS of the `ddlab-agent` binary after start-up with a small configuration (core checks,
//!   DogStatsD, the trace receiver), without Python checks and with the exercise's `my_metric` check
//!   through the Python check host (`DDLAB_PYTHON`), read from `/proc` (goal: ≤ 30 MB without Python).
//!
//! Loopback only; every loop is bounded in count and time. Prints a table and writes the rows as JSON to
//! the path in `DDLAB_BENCH_JSON` (if set). A benchmark whose tool is missing is reported as not run.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ddlab_agent::aggregator::{Aggregator, AggregatorConfig, AggregatorHandle};
use ddlab_agent::config::AgentConfig;
use ddlab_agent::dogstatsd::{DogStatsd, Listen, system_clock};
use ddlab_agent::ipc::IpcClient;
use ddlab_agent::status::AgentStatus;
use ddlab_wire::trace::pb;
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, sendmmsg};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[path = "../tests/support/test_agent.rs"]
mod test_agent;

use test_agent::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_ddlab-agent");
const API_KEY: &str = "0123456789abcdef0123456789abcdef";

/// DogStatsD: datagrams sent, one metric line each, over this many contexts.
const DSD_DATAGRAMS: u64 = 300_000;
const DSD_CONTEXTS: usize = 100;
/// Datagrams in flight at most: well inside the default socket receive buffer (208 KiB).
const WINDOW: u64 = 128;
/// Datagrams per `sendmmsg` call.
const BATCH: u64 = 32;

/// Trace receiver: payloads per format × traces per payload × spans per trace, over this many
/// keep-alive connections.
const TRACE_PAYLOADS: usize = 1000;
const TRACES_PER_PAYLOAD: usize = 50;
const SPANS_PER_TRACE: usize = 4;
const CONNECTIONS: usize = 4;
/// Rounds of the trace receiver benchmark, each on fresh processes; the figures are their medians.
const TRACE_ROUNDS: usize = 7;

/// How long a process may take to start, a run may take, and how long idle RSS is watched.
const START_DEADLINE: Duration = Duration::from_secs(120);
const RUN_DEADLINE: Duration = Duration::from_secs(300);
const IDLE_WATCH: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench --bench agent -- trace` runs the benchmarks whose group names contain `trace`.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |group: &str| only.is_empty() || only.iter().any(|o| group.contains(o.as_str()));
    let mut results = Vec::new();
    if wanted("dogstatsd") {
        results.extend(runtime.block_on(dogstatsd()));
    }
    if wanted("trace_receiver") {
        results.extend(runtime.block_on(trace_receiver()));
    }
    if wanted("idle_rss") {
        results.extend(runtime.block_on(idle_rss()));
    }
    println!();
    println!(
        "{:<72} {:>22} {:>16} {:>8} {:>8}",
        "benchmark", "ours", "anchor", "ratio", "goal"
    );
    for r in &results {
        println!(
            "{:<72} {:>22} {:>16} {:>8} {:>8}",
            r["name"].as_str().unwrap(),
            r["ours_display"].as_str().unwrap_or("-"),
            r["anchor_display"].as_str().unwrap_or("-"),
            r["ratio"].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}")),
            r["goal"].as_str().unwrap_or("-"),
        );
    }
    if let Ok(path) = std::env::var("DDLAB_BENCH_JSON") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({ "agent": results })).unwrap(),
        )
        .unwrap();
        println!("\nwrote {path}");
    }
}

/// A row without an anchor measurement: why it was not run.
fn not_run(name: &str, why: &str, anchor_name: &str, goal: &str) -> Value {
    eprintln!("NOT RUN: {name}: {why}");
    json!({
        "name": name, "ours": null, "ours_display": format!("not run: {why}"),
        "anchor": null, "anchor_display": null, "anchor_name": anchor_name, "ratio": null, "goal": goal,
    })
}

// ---------------------------------------------------------------------------------------------------
// DogStatsD
// ---------------------------------------------------------------------------------------------------

/// Datagrams as datadogpy sends them: counters, gauges, histograms, timers and sets, with tags.
fn dogstatsd_lines() -> Vec<Vec<u8>> {
    (0..DSD_CONTEXTS)
        .map(|i| {
            let kind = ["c", "g", "h", "ms", "s"][i % 5];
            format!(
                "bench.dogstatsd.m{}:{}|{kind}|#env:bench,route:/api/{},service:flask",
                i % 20,
                i % 7 + 1,
                i / 5
            )
            .into_bytes()
        })
        .collect()
}

/// Sends [`DSD_DATAGRAMS`] datagrams to `target` from a thread of its own, never more than [`WINDOW`]
/// ahead of what `received` reports, and waits until all arrived. The sender hands the kernel up to
/// [`BATCH`] datagrams per `sendmmsg` call, so it outruns the receiver and the receiver's rate is what is
/// measured. The elapsed time and the CPU time the rest of the process (the receiver) used meanwhile,
/// or how many datagrams were missing when the receiver stopped making progress.
fn send_windowed(
    target: SocketAddr,
    received: Arc<dyn Fn() -> u64 + Send + Sync>,
) -> Result<(Duration, Duration), u64> {
    let lines = dogstatsd_lines();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(target).unwrap();
    let process_before = cpu_ns(std::process::id());
    let sender_before = thread_cpu_ns();
    let started = Instant::now();
    let mut last_progress = (Instant::now(), 0);
    let mut sent = 0u64;
    while sent < DSD_DATAGRAMS {
        let got = received();
        let room = (WINDOW - (sent - got.min(sent)))
            .min(BATCH)
            .min(DSD_DATAGRAMS - sent);
        if room == 0 {
            if got != last_progress.1 {
                last_progress = (Instant::now(), got);
            } else if last_progress.0.elapsed() > Duration::from_secs(5) {
                return Err(sent - got);
            }
            std::thread::yield_now();
            continue;
        }
        let iovs: Vec<[IoSlice<'_>; 1]> = (sent..sent + room)
            .map(|i| [IoSlice::new(&lines[i as usize % lines.len()])])
            .collect();
        let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
            iovs.iter().map(|_| SendAncillaryBuffer::default()).collect();
        let mut messages: Vec<MMsgHdr<'_>> = iovs
            .iter()
            .zip(controls.iter_mut())
            .map(|(iov, control)| MMsgHdr::new(iov, control))
            .collect();
        sent += sendmmsg(&socket, &mut messages, SendFlags::empty()).unwrap() as u64;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = received();
        if got >= DSD_DATAGRAMS {
            let elapsed = started.elapsed();
            let sender = thread_cpu_ns().saturating_sub(sender_before);
            let process = cpu_ns(std::process::id()).saturating_sub(process_before);
            return Ok((elapsed, Duration::from_nanos(process.saturating_sub(sender))));
        }
        if Instant::now() > deadline {
            return Err(DSD_DATAGRAMS - got);
        }
        std::thread::yield_now();
    }
}

async fn dogstatsd() -> Vec<Value> {
    let name = format!(
        "DogStatsD datagrams parsed+aggregated, UDP loopback ({DSD_DATAGRAMS} datagrams, {DSD_CONTEXTS} contexts, zero drops)"
    );
    // Ours: the agent's server feeding its aggregator.
    let aggregator = AggregatorHandle::new(Aggregator::new(AggregatorConfig::new("bench-host")));
    let server = DogStatsd::start(
        &Listen {
            udp: Some("127.0.0.1:0".parse().unwrap()),
            socket: None,
            buffer_size: 8192,
        },
        aggregator.clone(),
        system_clock(),
    )
    .await
    .unwrap();
    let target = server.udp_addr().unwrap();
    let stats = server.watch_stats();
    let ours =
        tokio::task::spawn_blocking(move || send_windowed(target, Arc::new(move || stats.borrow().packets)))
            .await
            .unwrap();
    let counted = server.stats();
    let samples = aggregator.lock().stats().dogstatsd_samples;
    server.shutdown().await;
    let (ours, ours_cpu) = match ours {
        Ok(took) => took,
        Err(missing) => panic!("the DogStatsD server lost {missing} datagrams: {counted:?}"),
    };
    assert_eq!(
        (
            counted.packets,
            counted.metric_samples,
            counted.parse_errors,
            samples
        ),
        (DSD_DATAGRAMS, DSD_DATAGRAMS, 0, DSD_DATAGRAMS),
        "every datagram parsed and aggregated"
    );

    // The anchor: the same socket setup, a loop that only receives and counts.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = socket.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    let receiver = tokio::spawn(async move {
        let mut buffer = vec![0u8; 8192];
        loop {
            match socket.recv_from(&mut buffer).await {
                Ok((len, _)) => {
                    std::hint::black_box(&buffer[..len]);
                    counter.fetch_add(1, Ordering::Release);
                }
                Err(err) => panic!("the bare receive loop failed: {err}"),
            }
        }
    });
    let anchor = tokio::task::spawn_blocking(move || {
        send_windowed(target, Arc::new(move || count.load(Ordering::Acquire)))
    })
    .await
    .unwrap();
    receiver.abort();
    let (anchor, anchor_cpu) =
        anchor.unwrap_or_else(|missing| panic!("the bare loop lost {missing} datagrams"));
    let ours_rate = DSD_DATAGRAMS as f64 / ours.as_secs_f64();
    let anchor_rate = DSD_DATAGRAMS as f64 / anchor.as_secs_f64();
    let ours_cpu_rate = DSD_DATAGRAMS as f64 / ours_cpu.as_secs_f64().max(1e-9);
    let anchor_cpu_rate = DSD_DATAGRAMS as f64 / anchor_cpu.as_secs_f64().max(1e-9);
    let anchor_name =
        format!("bare Tokio UDP receive loop, same socket setup (window {WINDOW}, sendmmsg x{BATCH})");
    vec![
        json!({
            "name": name,
            "ours": ours_rate, "ours_display": format!("{ours_rate:.0} dgram/s"),
            "anchor": anchor_rate, "anchor_display": format!("{anchor_rate:.0} dgram/s"),
            "anchor_name": anchor_name,
            "ratio": ours_rate / anchor_rate, "goal": ">= 0.5",
        }),
        json!({
            "name": "DogStatsD datagrams per CPU-second of the receiving side (same runs)",
            "ours": ours_cpu_rate, "ours_display": format!("{ours_cpu_rate:.0} dgram/CPU-s"),
            "anchor": anchor_cpu_rate, "anchor_display": format!("{anchor_cpu_rate:.0} dgram/CPU-s"),
            "anchor_name": anchor_name,
            "ratio": ours_cpu_rate / anchor_cpu_rate, "goal": "(load-independent view)",
        }),
    ]
}

// ---------------------------------------------------------------------------------------------------
// Trace receiver
// ---------------------------------------------------------------------------------------------------

/// A Flask-like trace: the request, its dispatch, a template render and a database query.
fn trace(trace_id: u64, start: i64) -> Vec<pb::Span> {
    let root_id = trace_id << 8;
    let names = [
        ("flask.request", "GET /api/trace", "web"),
        ("flask.dispatch_request", "flask.dispatch_request", ""),
        ("flask.render_template", "index.html", "template"),
        ("mysql.query", "SELECT id, name FROM users WHERE id = ?", "sql"),
    ];
    (0..SPANS_PER_TRACE)
        .map(|i| {
            let (name, resource, kind) = names[i % names.len()];
            let mut meta = HashMap::from([
                ("env".to_owned(), "bench".to_owned()),
                ("version".to_owned(), "1.0".to_owned()),
                ("component".to_owned(), "flask".to_owned()),
                ("language".to_owned(), "python".to_owned()),
                (
                    "runtime-id".to_owned(),
                    "8b5b1c7e4f2a4f0e9d6c3b2a1f0e9d8c".to_owned(),
                ),
            ]);
            let mut metrics = HashMap::from([("process_id".to_owned(), 4242.0)]);
            if i == 0 {
                meta.insert("http.method".into(), "GET".into());
                meta.insert("http.url".into(), "http://127.0.0.1:5050/api/trace".into());
                meta.insert("http.status_code".into(), "200".into());
                meta.insert("span.kind".into(), "server".into());
                metrics.insert("_dd.top_level".into(), 1.0);
                metrics.insert("_sampling_priority_v1".into(), 1.0);
            }
            pb::Span {
                service: "flask".into(),
                name: name.into(),
                resource: resource.into(),
                trace_id,
                span_id: root_id + i as u64 + 1,
                parent_id: if i == 0 { 0 } else { root_id + 1 },
                start: start + i as i64 * 1000,
                duration: 2_000_000 - i as i64 * 1000,
                error: 0,
                meta,
                metrics,
                r#type: kind.into(),
                ..pb::Span::default()
            }
        })
        .collect()
}

/// The payloads of one format: [`TRACE_PAYLOADS`] bodies of [`TRACES_PER_PAYLOAD`] traces.
fn payloads(v05: bool) -> Vec<Vec<u8>> {
    let start = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
    (0..TRACE_PAYLOADS)
        .map(|p| {
            let traces: Vec<Vec<pb::Span>> = (0..TRACES_PER_PAYLOAD)
                .map(|t| trace((p * TRACES_PER_PAYLOAD + t + 1) as u64, start))
                .collect();
            if v05 {
                ddlab_wire::trace::encode_v05(&traces)
            } else {
                ddlab_wire::trace::encode_v04(&traces)
            }
        })
        .collect()
}

/// Sends every payload to `route` over [`CONNECTIONS`] keep-alive connections (payload `i` on
/// connection `i % CONNECTIONS`); the elapsed time and the payloads answered 200.
async fn send_traces(addr: SocketAddr, route: &str, bodies: &Arc<Vec<Vec<u8>>>) -> (Duration, usize) {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..CONNECTIONS {
        let bodies = Arc::clone(bodies);
        let route = route.to_owned();
        tasks.spawn(async move {
            let mut http = Http::connect(addr).await;
            let count = TRACES_PER_PAYLOAD.to_string();
            let headers = [
                ("Content-Type", "application/msgpack"),
                ("X-Datadog-Trace-Count", count.as_str()),
                ("Datadog-Meta-Lang", "python"),
                ("Datadog-Meta-Lang-Version", "3.11.7"),
                ("Datadog-Meta-Lang-Interpreter", "CPython"),
                ("Datadog-Meta-Tracer-Version", "4.16.0"),
            ];
            let mut accepted = 0;
            for body in bodies.iter().skip(connection).step_by(CONNECTIONS) {
                let (status, _) = http.request("PUT", &route, &headers, body).await;
                if status == 200 {
                    accepted += 1;
                }
            }
            accepted
        });
    }
    let mut accepted = 0;
    while let Some(done) = tasks.join_next().await {
        accepted += done.unwrap();
    }
    (started.elapsed(), accepted)
}

/// A receiver under test: spans/s for v0.4 and v0.5 (wall clock), spans per second of the process's
/// own CPU time over both runs, and its peak RSS after both.
struct Measured {
    v04: f64,
    v05: f64,
    per_cpu_second: f64,
    refused: usize,
    peak_rss_kb: u64,
}

impl Measured {
    /// The median of every rate over `rounds` (at least one), the sum of refusals and the highest RSS.
    fn median(rounds: &[Measured]) -> Measured {
        let median = |rate: fn(&Measured) -> f64| {
            let mut rates: Vec<f64> = rounds.iter().map(rate).collect();
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        };
        Measured {
            v04: median(|m| m.v04),
            v05: median(|m| m.v05),
            per_cpu_second: median(|m| m.per_cpu_second),
            refused: rounds.iter().map(|m| m.refused).sum(),
            peak_rss_kb: rounds.iter().map(|m| m.peak_rss_kb).max().unwrap_or(0),
        }
    }
}

async fn measure(addr: SocketAddr, pid: u32, v04: &Arc<Vec<Vec<u8>>>, v05: &Arc<Vec<Vec<u8>>>) -> Measured {
    let spans = (TRACE_PAYLOADS * TRACES_PER_PAYLOAD * SPANS_PER_TRACE) as f64;
    let cpu_before = cpu_ns(pid);
    let (took04, ok04) = tokio::time::timeout(RUN_DEADLINE, send_traces(addr, "/v0.4/traces", v04))
        .await
        .expect("the v0.4 run finishes");
    let (took05, ok05) = tokio::time::timeout(RUN_DEADLINE, send_traces(addr, "/v0.5/traces", v05))
        .await
        .expect("the v0.5 run finishes");
    let cpu = cpu_ns(pid).saturating_sub(cpu_before).max(1) as f64 / 1e9;
    let per_payload = spans / TRACE_PAYLOADS as f64;
    Measured {
        v04: ok04 as f64 * per_payload / took04.as_secs_f64(),
        v05: ok05 as f64 * per_payload / took05.as_secs_f64(),
        per_cpu_second: (ok04 + ok05) as f64 * per_payload / cpu,
        refused: 2 * TRACE_PAYLOADS - ok04 - ok05,
        peak_rss_kb: proc_status_kb(pid, "VmHWM:").unwrap_or(0),
    }
}

/// One round of ours: the agent binary, its receiver forwarding to a sink that accepts everything.
async fn measure_agent(v04: &Arc<Vec<Vec<u8>>>, v05: &Arc<Vec<Vec<u8>>>) -> Measured {
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let root = agent_root(dir.path(), &sink.url(), None, port);
    let mut agent = spawn_agent(&root, None);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_info(addr, &mut agent).await;
    let measured = measure(addr, agent.id().unwrap(), v04, v05).await;
    stop(agent).await;
    sink.stop().await;
    measured
}

/// One round of the anchor: Datadog's test agent, in its virtualenv.
async fn measure_test_agent(
    test_agent: &std::ffi::OsStr,
    v04: &Arc<Vec<Vec<u8>>>,
    v05: &Arc<Vec<Vec<u8>>>,
) -> Measured {
    let port = free_port();
    let mut anchor = test_agent::command(test_agent, port, "ERROR")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("DDLAB_TEST_AGENT={test_agent:?} cannot run: {err}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_info(addr, &mut anchor).await;
    let measured = measure(addr, anchor.id().unwrap(), v04, v05).await;
    stop(anchor).await;
    measured
}

async fn trace_receiver() -> Vec<Value> {
    let spans = TRACE_PAYLOADS * TRACES_PER_PAYLOAD * SPANS_PER_TRACE;
    let name = |what: &str| {
        format!(
            "trace receiver {what} ({TRACE_PAYLOADS} payloads x {} spans, {CONNECTIONS} connections, \
             median of {TRACE_ROUNDS} rounds)",
            TRACES_PER_PAYLOAD * SPANS_PER_TRACE
        )
    };
    let anchor_name = "ddapm-test-agent 1.69.1, same payloads and client";
    let v04 = Arc::new(payloads(false));
    let v05 = Arc::new(payloads(true));

    // Rounds alternate ours and the anchor, each on a fresh process, so a drift in the machine's speed
    // falls on both; every figure is the median of the rounds (peak RSS: the highest).
    let test_agent = std::env::var_os("DDLAB_TEST_AGENT").filter(|v| !v.is_empty());
    if test_agent.is_none() {
        eprintln!(
            "NOT RUN: the anchor ddapm-test-agent: DDLAB_TEST_AGENT unset (cargo xtask bench installs it)"
        );
    }
    let mut ours_rounds = Vec::new();
    let mut theirs_rounds = Vec::new();
    for _ in 0..TRACE_ROUNDS {
        ours_rounds.push(measure_agent(&v04, &v05).await);
        if let Some(test_agent) = &test_agent {
            theirs_rounds.push(measure_test_agent(test_agent, &v04, &v05).await);
        }
    }
    let ours = Measured::median(&ours_rounds);
    let theirs = (!theirs_rounds.is_empty()).then(|| Measured::median(&theirs_rounds));

    let refused = |m: &Measured| {
        if m.refused == 0 {
            String::new()
        } else {
            format!(", {} payloads refused", m.refused)
        }
    };
    let row = |what: &str, ours_rate: f64, anchor_rate: Option<f64>| {
        json!({
            "name": name(what),
            "ours": ours_rate, "ours_display": format!("{ours_rate:.0} spans/s{}", refused(&ours)),
            "anchor": anchor_rate,
            "anchor_display": anchor_rate.map_or_else(
                || "not run: DDLAB_TEST_AGENT unset".to_owned(),
                |rate| format!("{rate:.0} spans/s{}", theirs.as_ref().map(&refused).unwrap_or_default()),
            ),
            "anchor_name": anchor_name, "ratio": anchor_rate.map(|rate| ours_rate / rate), "goal": ">= 10",
        })
    };
    let mb = |kb: u64| kb as f64 / 1024.0;
    let per_cpu = theirs.as_ref().map(|t| t.per_cpu_second);
    vec![
        row("v0.4 msgpack spans/s", ours.v04, theirs.as_ref().map(|t| t.v04)),
        row("v0.5 msgpack spans/s", ours.v05, theirs.as_ref().map(|t| t.v05)),
        json!({
            "name": name("spans per CPU-second of the receiving process, v0.4 + v0.5"),
            "ours": ours.per_cpu_second, "ours_display": format!("{:.0} spans/CPU-s", ours.per_cpu_second),
            "anchor": per_cpu,
            "anchor_display": per_cpu.map(|rate| format!("{rate:.0} spans/CPU-s")),
            "anchor_name": anchor_name, "ratio": per_cpu.map(|rate| ours.per_cpu_second / rate),
            "goal": "(load-independent view)",
        }),
        json!({
            "name": format!("trace receiver peak RSS after both runs ({} spans, highest of {TRACE_ROUNDS} rounds)", 2 * spans),
            "ours": mb(ours.peak_rss_kb), "ours_display": format!("{:.1} MB", mb(ours.peak_rss_kb)),
            "anchor": theirs.as_ref().map(|t| mb(t.peak_rss_kb)),
            "anchor_display": theirs.as_ref().map(|t| format!("{:.1} MB", mb(t.peak_rss_kb))),
            "anchor_name": anchor_name,
            "ratio": theirs.as_ref().map(|t| ours.peak_rss_kb as f64 / t.peak_rss_kb.max(1) as f64),
            "goal": "<= 0.25",
        }),
    ]
}

// ---------------------------------------------------------------------------------------------------
// Idle RSS
// ---------------------------------------------------------------------------------------------------

async fn idle_rss() -> Vec<Value> {
    let sink = Sink::start().await;
    let mut rows = Vec::new();
    let small = |dir: &Path| agent_root(dir, &sink.url(), Some(free_port()), free_port());

    let dir = tempfile::tempdir().unwrap();
    let root = small(dir.path());
    let (agent_kb, _) = idle(&root, None, None).await;
    rows.push(json!({
        "name": "agent idle RSS after start-up, no Python checks (core checks, DogStatsD, APM)",
        "ours": agent_kb as f64 / 1024.0, "ours_display": format!("{:.1} MB", agent_kb as f64 / 1024.0),
        "anchor": null, "anchor_display": null, "anchor_name": null, "ratio": null, "goal": "<= 30 MB",
    }));

    let name = "agent idle RSS after start-up, with the Python check host (my_metric)";
    match std::env::var_os("DDLAB_PYTHON").filter(|v| !v.is_empty()) {
        None => rows.push(not_run(
            name,
            "DDLAB_PYTHON unset (cargo xtask bench sets it)",
            "",
            "report",
        )),
        Some(python) => {
            let dir = tempfile::tempdir().unwrap();
            let root = small(dir.path());
            let solution = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/solution");
            std::fs::create_dir_all(root.join("checks.d")).unwrap();
            std::fs::copy(
                solution.join("conf.d/my_metric.yaml"),
                root.join("conf.d/my_metric.yaml"),
            )
            .unwrap();
            std::fs::copy(
                solution.join("checks.d/my_metric.py"),
                root.join("checks.d/my_metric.py"),
            )
            .unwrap();
            let (agent_kb, python_kb) = idle(&root, Some(PathBuf::from(python)), Some("my_metric")).await;
            let total = (agent_kb + python_kb) as f64 / 1024.0;
            rows.push(json!({
                "name": name,
                "ours": total,
                "ours_display": format!(
                    "{total:.1} MB (agent {:.1} + Python {:.1})",
                    agent_kb as f64 / 1024.0,
                    python_kb as f64 / 1024.0
                ),
                "anchor": null, "anchor_display": null, "anchor_name": null, "ratio": null, "goal": "report",
            }));
        }
    }
    sink.stop().await;
    rows
}

/// Starts the agent on `root`, waits until every check ran once (and `python_check` ran through the
/// Python host), then watches the resident sizes for [`IDLE_WATCH`]: the largest of the agent and of
/// the Python host, in KiB.
async fn idle(root: &Path, python: Option<PathBuf>, python_check: Option<&str>) -> (u64, u64) {
    let mut agent = spawn_agent(root, python.as_deref());
    let pid = agent.id().unwrap();
    let config = AgentConfig::load(root, &|_| None).unwrap().config;
    let started = Instant::now();
    let status: AgentStatus = loop {
        if let Ok(Some(exit)) = agent.try_wait() {
            panic!("ddlab-agent exited during start-up: {exit}");
        }
        assert!(
            started.elapsed() < START_DEADLINE,
            "ddlab-agent did not run its checks in time"
        );
        if let Ok(client) = IpcClient::for_config(&config)
            && let Ok(status) = client.status().await
        {
            let checks = &status.collector.running_checks;
            let ran = !checks.is_empty() && checks.iter().all(|c| c.total_runs >= 1);
            let python_ran = python_check.is_none_or(|name| checks.iter().any(|c| c.name == name));
            if ran && python_ran {
                break status;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if let Some(name) = python_check {
        let check = status
            .collector
            .running_checks
            .iter()
            .find(|c| c.name == name)
            .unwrap();
        assert!(check.last_error.is_none(), "{name} failed: {check:?}");
    }
    let python_pid = status.collector.python.as_ref().map(|p| p.pid);
    let watch_until = Instant::now() + IDLE_WATCH;
    let (mut agent_kb, mut python_kb) = (0, 0);
    while Instant::now() < watch_until {
        agent_kb = agent_kb.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
        if let Some(pid) = python_pid {
            python_kb = python_kb.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(agent).await;
    (agent_kb, python_kb)
}

// ---------------------------------------------------------------------------------------------------
// Processes, the sink and the client
// ---------------------------------------------------------------------------------------------------

/// A config root for the agent binary: `datadog.yaml` sending metrics and traces to `url`, DogStatsD on
/// `dogstatsd_port` (off when `None`), the trace receiver on `apm_port`, and an empty `conf.d`.
fn agent_root(dir: &Path, url: &str, dogstatsd_port: Option<u16>, apm_port: u16) -> PathBuf {
    let root = dir.join("etc");
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    let dogstatsd = match dogstatsd_port {
        Some(port) => format!("dogstatsd_port: {port}"),
        None => "use_dogstatsd: false".to_owned(),
    };
    std::fs::write(
        root.join("datadog.yaml"),
        format!(
            "api_key: {API_KEY}\ndd_url: {url}\nhostname: bench-host\ncmd_port: 0\nlog_level: warn\n{dogstatsd}\n\
             apm_config:\n  enabled: true\n  receiver_port: {apm_port}\n  apm_dd_url: {url}\n"
        ),
    )
    .unwrap();
    root
}

fn spawn_agent(root: &Path, python: Option<&Path>) -> Child {
    let mut command = Command::new(BIN);
    command
        .arg("-c")
        .arg(root)
        .arg("run")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(python) = python {
        command.arg("--python").arg(python);
    }
    command.spawn().unwrap()
}

/// Polls `GET /info` until it answers 200, failing if the process exits or the deadline passes.
async fn wait_for_info(addr: SocketAddr, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("the trace receiver at {addr} exited during start-up: {exit}");
        }
        assert!(
            started.elapsed() < START_DEADLINE,
            "the trace receiver at {addr} did not start"
        );
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await {
            let mut http = Http::from_stream(stream);
            let (status, _) = http.request("GET", "/info", &[], &[]).await;
            if status == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then the exit within a deadline (killed otherwise).
async fn stop(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// The CPU time of the calling thread so far, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next().and_then(|ns| ns.parse().ok()))
        .unwrap_or(0)
}

/// The CPU time of every thread of `pid` so far, in nanoseconds (`/proc/<pid>/task/*/schedstat`).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| {
            stat.split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
        })
        .sum()
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// An intake that accepts every payload and every API key: where the agent under test sends.
struct Sink {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/api/v1/validate", get(|| async { r#"{"valid":true}"# }))
            .fallback(post(|| async { (StatusCode::ACCEPTED, "{}") }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Sink { addr, stop, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A minimal HTTP/1.1 keep-alive client: the same for every server measured, nothing pooled.
struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    async fn connect(addr: SocketAddr) -> Self {
        Http::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    fn from_stream(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        Http {
            stream: BufReader::new(stream),
        }
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        // Head and body in one write, as Python's http.client (under ddtrace) sends a bytes body:
        // the server then wakes once for the request, not once for its head and again for its body.
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.trim().parse::<usize>().unwrap()),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let mut bytes = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..size]);
            }
        } else {
            bytes.resize(length.unwrap_or(0), 0);
            self.stream.read_exact(&mut bytes).await.unwrap();
        }
        (status, bytes)
    }
}
