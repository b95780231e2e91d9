//! `cargo xtask load`: concurrent clients against a real backend for a bounded time, mixing metric
//! intake, queries, API reads and web UI pages; reports throughput, p50/p99/max per kind of request, the
//! backend's RSS idle and under load, and fails on any error.
//!
//! The backend is the debug build the lab runs (dependencies optimised, our crates not), started with
//! `--demo` on a free loopback port and a fresh state folder, so the pages and queries have a day of data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::backend::LocalBackend;
use crate::{project_root, target_dir};

const API_KEY: &str = "0123456789abcdef0123456789abcdef";
const APP_KEY: &str = "0123456789abcdef0123456789abcdef01234567";
/// Each request's own limit: a request slower than this is an error, not a long tail.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most error messages the report keeps (the count is always exact).
const KEPT_ERRORS: usize = 10;

/// What `cargo xtask load` is asked to do.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoadArgs {
    /// Concurrent clients, each with its own keep-alive connection.
    #[arg(long, default_value_t = 32)]
    pub(crate) clients: usize,
    /// How long the clients run, in seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The kinds of request, in the order each client cycles through them (intake twice: it is the bulk of a
/// real backend's traffic).
const CYCLE: [Kind; 6] = [
    Kind::Intake,
    Kind::Query,
    Kind::Page,
    Kind::Intake,
    Kind::Api,
    Kind::Query,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `POST /api/v2/series` (API key): ten series of one point.
    Intake,
    /// `GET /api/v1/query` over the last hour.
    Query,
    /// A web UI page.
    Page,
    /// An API read or write: monitors, dashboards, events.
    Api,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Intake => "intake (POST /api/v2/series, 10 series)",
            Kind::Query => "query (GET /api/v1/query, 1 h)",
            Kind::Page => "UI page (host map, explorer, monitors, events, APM, dashboards)",
            Kind::Api => "API (monitors, dashboards, events)",
        }
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    /// Latency of every successful request, in microseconds, by kind.
    latencies: BTreeMap<Kind, Vec<u64>>,
    /// The slowest request of each kind: its latency (µs) and when it started, in seconds into the run.
    slowest: BTreeMap<Kind, (u64, f64)>,
    errors: BTreeMap<Kind, usize>,
    messages: Vec<String>,
}

pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let (report, log_tail) = measure(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", markdown(&report));
    }
    let errors = report["errors"].as_u64().unwrap_or(0);
    if errors > 0 {
        eprintln!("--- backend log (last lines) ---\n{log_tail}");
        bail!("{errors} requests failed under load (see above)");
    }
    Ok(())
}

/// Starts a backend, runs the clients against it, and answers the report and the end of the backend's
/// log. `cargo xtask bench` uses it for the backend's RSS idle and under load.
pub(crate) fn measure(args: &LoadArgs) -> anyhow::Result<(Value, String)> {
    if args.clients == 0 || args.seconds == 0 {
        bail!("--clients and --seconds must be at least 1");
    }
    let root = project_root();
    let backend = LocalBackend::start(
        &root,
        target_dir(&root).join("load"),
        &["--demo", "--api-key", API_KEY, "--app-key", APP_KEY],
    )?;
    let idle_rss = rss(backend.pid(), "VmRSS")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the load generator's runtime")?;
    let started = Instant::now();
    let seen = runtime.block_on(drive(
        backend.address,
        args.clients,
        Duration::from_secs(args.seconds),
    ))?;
    let elapsed = started.elapsed();
    let loaded_rss = rss(backend.pid(), "VmRSS")?;
    let peak_rss = rss(backend.pid(), "VmHWM")?;
    let report = report(args, &seen, elapsed, idle_rss, loaded_rss, peak_rss);
    Ok((report, backend.log_tail(30)))
}

/// Runs the clients until `limit` and merges what they saw.
async fn drive(address: SocketAddr, clients: usize, limit: Duration) -> anyhow::Result<Seen> {
    let origin = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot build an HTTP client")?;
        tasks.spawn(run_client(http, address, client, origin, deadline));
    }
    let mut seen = Seen::default();
    while let Some(done) = tasks.join_next().await {
        let one = done.context("a load client panicked")?;
        for (kind, latencies) in one.latencies {
            seen.latencies.entry(kind).or_default().extend(latencies);
        }
        for (kind, slowest) in one.slowest {
            let kept = seen.slowest.entry(kind).or_insert(slowest);
            if slowest.0 > kept.0 {
                *kept = slowest;
            }
        }
        for (kind, count) in one.errors {
            *seen.errors.entry(kind).or_default() += count;
        }
        seen.messages.extend(one.messages);
    }
    seen.messages.truncate(KEPT_ERRORS);
    Ok(seen)
}

/// One client: cycles through the kinds of request, starting at its own offset, until the deadline.
async fn run_client(
    http: reqwest::Client,
    address: SocketAddr,
    client: usize,
    origin: Instant,
    deadline: tokio::time::Instant,
) -> Seen {
    let base = format!("http://{address}");
    let mut seen = Seen::default();
    let mut step = client;
    while tokio::time::Instant::now() < deadline {
        let kind = CYCLE[step % CYCLE.len()];
        let request = request(&http, &base, kind, client, step);
        let started = Instant::now();
        let outcome = match request.send().await {
            Ok(response) if response.status().is_success() => match response.bytes().await {
                Ok(_) => Ok(()),
                Err(err) => Err(format!("reading the body: {err}")),
            },
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                Err(format!(
                    "{status}: {}",
                    body.chars().take(200).collect::<String>()
                ))
            }
            Err(err) => Err(format!("{err:#}")),
        };
        match outcome {
            Ok(()) => {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                seen.latencies.entry(kind).or_default().push(micros);
                let at = started.duration_since(origin).as_secs_f64();
                let slowest = seen.slowest.entry(kind).or_insert((micros, at));
                if micros > slowest.0 {
                    *slowest = (micros, at);
                }
            }
            Err(message) => {
                *seen.errors.entry(kind).or_default() += 1;
                if seen.messages.len() < KEPT_ERRORS {
                    seen.messages
                        .push(format!("client {client}, {}: {message}", kind.name()));
                }
            }
        }
        step += 1;
    }
    seen
}

/// The request for step `step` of client `client`.
fn request(
    http: &reqwest::Client,
    base: &str,
    kind: Kind,
    client: usize,
    step: usize,
) -> reqwest::RequestBuilder {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let keyed = |builder: reqwest::RequestBuilder| {
        builder
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
    };
    match kind {
        Kind::Intake => {
            let series: Vec<Value> = (0..10)
                .map(|i| {
                    json!({"metric": format!("load.intake.m{i}"), "type": 3,
                           "points": [{"timestamp": now, "value": step as f64}],
                           "resources": [{"type": "host", "name": format!("load-{}", client % 8)}],
                           "tags": [format!("client:{client}")]})
                })
                .collect();
            http.post(format!("{base}/api/v2/series"))
                .header("DD-API-KEY", API_KEY)
                .json(&json!({ "series": series }))
        }
        Kind::Query => {
            let query = match step % 3 {
                0 => "avg:my_metric{*} by {host}",
                1 => "sum:load.intake.m0{*} by {client}",
                _ => "avg:mysql.performance.cpu_time{*}.rollup(avg, 300)",
            };
            keyed(http.get(format!("{base}/api/v1/query")).query(&[
                ("from", (now - 3600).to_string()),
                ("to", now.to_string()),
                ("query", query.to_owned()),
            ]))
        }
        Kind::Page => {
            let path = match step % 6 {
                0 => "/infrastructure/map",
                1 => "/metric/explorer?q=avg%3Amy_metric%7B%2A%7D%20by%20%7Bhost%7D",
                2 => "/monitors/manage",
                3 => "/event/stream",
                4 => "/apm/services",
                _ => "/dashboard/lists",
            };
            http.get(format!("{base}{path}"))
        }
        Kind::Api => match step % 3 {
            0 => keyed(http.get(format!("{base}/api/v1/monitor"))),
            1 => keyed(http.get(format!("{base}/api/v1/dashboard"))),
            _ => keyed(http.post(format!("{base}/api/v1/events"))).json(&json!({
                "title": format!("load client {client}"), "text": format!("step {step}"),
                "tags": ["source:load"]})),
        },
    }
}

/// A line of `/proc/<pid>/status` in bytes (`VmRSS`: now, `VmHWM`: the peak).
fn rss(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (is the backend still running?)"))?;
    let kilobytes = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("/proc/{pid}/status has no {field}"))?;
    Ok(kilobytes * 1024)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank: the smallest value with at least p% of the samples at or below it.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn report(args: &LoadArgs, seen: &Seen, elapsed: Duration, idle: u64, loaded: u64, peak: u64) -> Value {
    let mut kinds = Vec::new();
    let mut all: Vec<u64> = Vec::new();
    let mut errors = 0;
    for kind in [Kind::Intake, Kind::Query, Kind::Page, Kind::Api] {
        let mut latencies = seen.latencies.get(&kind).cloned().unwrap_or_default();
        latencies.sort_unstable();
        let failed = seen.errors.get(&kind).copied().unwrap_or(0);
        errors += failed;
        kinds.push(json!({
            "kind": kind.name(), "requests": latencies.len() + failed, "errors": failed,
            "p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0),
            "max_ms": latencies.last().map_or(0.0, |&m| m as f64 / 1000.0),
            "max_at_s": seen.slowest.get(&kind).map_or(0.0, |&(_, at)| at),
        }));
        all.extend(latencies);
    }
    all.sort_unstable();
    let requests = all.len() + errors;
    let mb = |bytes: u64| bytes as f64 / 1_048_576.0;
    json!({
        "clients": args.clients, "seconds": elapsed.as_secs_f64(), "requests": requests, "errors": errors,
        "requests_per_second": requests as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile(&all, 50.0), "p99_ms": percentile(&all, 99.0),
        "kinds": kinds, "error_messages": seen.messages,
        "backend_rss_mb": {"idle": mb(idle), "end": mb(loaded), "peak": mb(peak)},
        "command": format!("cargo xtask load --clients {} --seconds {}", args.clients, args.seconds),
    })
}

fn markdown(report: &Value) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} clients for {:.0} s: {} requests ({:.0}/s), {} errors; p50 {:.1} ms, p99 {:.1} ms\n",
        report["clients"],
        report["seconds"].as_f64().unwrap_or(0.0),
        report["requests"],
        report["requests_per_second"].as_f64().unwrap_or(0.0),
        report["errors"],
        report["p50_ms"].as_f64().unwrap_or(0.0),
        report["p99_ms"].as_f64().unwrap_or(0.0),
    );
    md.push_str("| Requests | Count | Errors | p50 | p99 | max (at) |\n|---|---:|---:|---:|---:|---:|\n");
    for kind in report["kinds"].as_array().into_iter().flatten() {
        let ms = |key: &str| format!("{:.1} ms", kind[key].as_f64().unwrap_or(0.0));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} ({:.1} s) |",
            kind["kind"].as_str().unwrap_or("?"),
            kind["requests"],
            kind["errors"],
            ms("p50_ms"),
            ms("p99_ms"),
            ms("max_ms"),
            kind["max_at_s"].as_f64().unwrap_or(0.0),
        );
    }
    let rss = &report["backend_rss_mb"];
    let _ = writeln!(
        md,
        "\nBackend RSS: {:.1} MB idle (after start-up with the demo data), {:.1} MB at the end, {:.1} MB peak.",
        rss["idle"].as_f64().unwrap_or(0.0),
        rss["end"].as_f64().unwrap_or(0.0),
        rss["peak"].as_f64().unwrap_or(0.0),
    );
    for message in report["error_messages"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- error: {}", message.as_str().unwrap_or(""));
    }
    let _ = writeln!(md, "\nReproduce: `{}`", report["command"].as_str().unwrap_or(""));
    md
}
