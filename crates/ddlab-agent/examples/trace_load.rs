//! A load generator for profiling the trace receiver: starts the `ddlab-agent` binary (optionally under a
//! wrapper such as `perf record -g --`), sends the trace benchmark's payloads for a number of rounds, and
//! prints spans/s and spans per CPU-second of the agent.
//!
//! ```text
//! cargo build --release -p ddlab-agent --bin ddlab-agent --example trace_load
//! target/release/examples/trace_load target/release/ddlab-agent v04 20 [wrapper args...]
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use ddlab_wire::trace::pb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PAYLOADS: usize = 200;
const TRACES_PER_PAYLOAD: usize = 50;
const SPANS_PER_TRACE: usize = 4;
const CONNECTIONS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .expect("usage: trace_load BIN v04|v05 ROUNDS [WRAPPER...]");
    let v05 = args.get(2).is_some_and(|f| f == "v05");
    let rounds: usize = args.get(3).map_or(10, |r| r.parse().unwrap());
    let wrapper: Vec<String> = args.iter().skip(4).cloned().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(bin, v05, rounds, &wrapper));
}

async fn run(bin: &str, v05: bool, rounds: usize, wrapper: &[String]) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v1/validate", get(|| async { r#"{"valid":true}"# }))
        .fallback(post(|| async { (StatusCode::ACCEPTED, "{}") }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("etc");
    std::fs::create_dir_all(root.join("conf.d")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        root.join("datadog.yaml"),
        format!(
            "api_key: 0123456789abcdef0123456789abcdef\ndd_url: http://{sink}\nhostname: bench-host\ncmd_port: 0\n\
             log_level: warn\nuse_dogstatsd: false\napm_config:\n  enabled: true\n  receiver_port: {port}\n  \
             apm_dd_url: http://{sink}\n"
        ),
    )
    .unwrap();
    let mut command = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = tokio::process::Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => tokio::process::Command::new(bin),
    };
    let mut child = command
        .arg("-c")
        .arg(&root)
        .arg("run")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    loop {
        if let Ok(stream) = TcpStream::connect(addr).await {
            let mut http = Http::new(stream);
            if http.request("GET", "/info", &[], &[]).await == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the agent did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = agent_pid(child.id().unwrap());
    let bodies = Arc::new(payloads(v05));
    let route = if v05 { "/v0.5/traces" } else { "/v0.4/traces" };
    let cpu_before = cpu_ns(pid);
    let started = Instant::now();
    for _ in 0..rounds {
        send(addr, route, &bodies).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ns(pid).saturating_sub(cpu_before) as f64 / 1e9;
    let spans = (rounds * PAYLOADS * TRACES_PER_PAYLOAD * SPANS_PER_TRACE) as f64;
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or_default()
        .to_owned();
    println!(
        "{route}: {:.0} spans/s, {:.0} spans/CPU-s ({cpu:.2} CPU-s over {elapsed:.2} s), {rss}",
        spans / elapsed,
        spans / cpu
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
}

/// The agent's pid: the child itself, or the wrapper's only child.
fn agent_pid(child: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{child}/task/{child}/children"))
        .ok()
        .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(child)
}

fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

async fn send(addr: SocketAddr, route: &str, bodies: &Arc<Vec<Vec<u8>>>) {
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..CONNECTIONS {
        let bodies = Arc::clone(bodies);
        let route = route.to_owned();
        tasks.spawn(async move {
            let mut http = Http::new(TcpStream::connect(addr).await.unwrap());
            let count = TRACES_PER_PAYLOAD.to_string();
            let headers = [
                ("Content-Type", "application/msgpack"),
                ("X-Datadog-Trace-Count", count.as_str()),
                ("Datadog-Meta-Lang", "python"),
                ("Datadog-Meta-Tracer-Version", "4.16.0"),
            ];
            for body in bodies.iter().skip(connection).step_by(CONNECTIONS) {
                assert_eq!(http.request("PUT", &route, &headers, body).await, 200);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn payloads(v05: bool) -> Vec<Vec<u8>> {
    let start = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos()).unwrap();
    (0..PAYLOADS)
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
                meta,
                metrics,
                r#type: kind.into(),
                ..pb::Span::default()
            }
        })
        .collect()
}

struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    fn new(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        Http {
            stream: BufReader::new(stream),
        }
    }

    async fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: load\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.unwrap();
        status
    }
}
