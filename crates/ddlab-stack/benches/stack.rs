//! Benchmarks of the stack's lifecycle, each beside MariaDB's own timing on the same machine:
//!
//! - local `up` from nothing running to every component ready, with everything built and cached (binaries,
//!   virtualenvs, the MySQL data folder), against the slowest single component's own start, the app
//!   under `ddtrace-run` until it listens, and against MariaDB's own start (`mariadbd` until it accepts
//!   connections on its socket) (goal for both: ratio ≤ 2);
//! - local `down`, against MariaDB's own shutdown (SIGTERM until the process is gone);
//! - docker `up` to both containers healthy and `down`, when the engine answers and the images exist.
//!
//! Medians of a few runs. Prints a table and writes the numbers as JSON to `DDLAB_BENCH_JSON` (if set).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

#[path = "../tests/lab/mod.rs"]
mod lab;

use std::time::{Duration, Instant};

use ddlab_stack::docker::{self, DockerLab, images};
use ddlab_stack::mysql::{Programs, Server};
use ddlab_stack::process::{self, RunFiles};
use serde_json::{Value, json};

const RUNS: usize = 3;

fn main() {
    if let Some(reason) = lab::missing_prerequisite() {
        eprintln!("stack benchmarks NOT RUN: {reason}");
        write(&[]);
        return;
    }
    let project = lab::project();
    lab::build_binaries(&project);
    let (start, stop) = mariadb_alone();
    let mut results = local(start, stop);
    results.extend(docker_lab(start, stop));
    println!();
    println!(
        "{:<60} {:>10} {:>10} {:>8} {:>8}",
        "benchmark", "ours", "anchor", "ratio", "goal"
    );
    for r in &results {
        println!(
            "{:<60} {:>10} {:>10} {:>8} {:>8}",
            r["name"].as_str().unwrap(),
            r["ours_display"].as_str().unwrap(),
            r["anchor_display"].as_str().unwrap_or("-"),
            r["ratio"].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}")),
            r["goal"].as_str().unwrap_or("-"),
        );
    }
    write(&results);
}

fn write(results: &[Value]) {
    if let Ok(path) = std::env::var("DDLAB_BENCH_JSON") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({ "stack": results })).unwrap(),
        )
        .unwrap();
        println!("\nwrote {path}");
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// MariaDB by itself, as the lab starts it: an initialised data folder, then start and stop, timed.
fn mariadb_alone() -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let programs = Programs::find().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server {
        dir: dir.path().join("mysql"),
        port,
    };
    server.init(&programs).unwrap();
    let files = RunFiles::new(&dir.path().join("run"), &dir.path().join("logs"), "mysql");
    let (mut starts, mut stops) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        server.start(&programs, &files).unwrap();
        starts.push(started.elapsed());
        // Stopped once it answers a query, as the lab's server is when `down` stops it.
        server.root_sql(&programs, "a first query", "SELECT 1;").unwrap();
        let stopping = Instant::now();
        assert!(process::stop(&files.pid_file, Duration::from_secs(30)));
        stops.push(stopping.elapsed());
    }
    (median(starts), median(stops))
}

fn local(mariadb_start: Duration, mariadb_stop: Duration) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::lab(dir.path());
    // The first round builds what is missing (data folder, virtualenvs); it is not measured.
    lab.up(&mut |_| {}).unwrap();
    lab.down(false, &mut |_| {}).unwrap();
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let started = Instant::now();
        lab.up(&mut |_| {}).unwrap();
        ups.push(started.elapsed());
        let stopping = Instant::now();
        lab.down(false, &mut |_| {}).unwrap();
        downs.push(stopping.elapsed());
    }
    let (up, down) = (median(ups), median(downs));
    let app = app_alone(&lab);
    vec![
        json!({
            "name": "local up to all-ready (binaries, virtualenvs, MySQL data cached)",
            "ours": up.as_secs_f64(), "ours_display": seconds(up),
            "anchor": app.as_secs_f64(), "anchor_display": seconds(app),
            "anchor_name": "the slowest component's own start: the app under ddtrace-run until it listens",
            "ratio": up.as_secs_f64() / app.as_secs_f64(), "goal": "<= 2",
        }),
        json!({
            "name": "local up to all-ready (binaries, virtualenvs, MySQL data cached)",
            "ours": up.as_secs_f64(), "ours_display": seconds(up),
            "anchor": mariadb_start.as_secs_f64(), "anchor_display": seconds(mariadb_start),
            "anchor_name": "MariaDB's own start (mariadbd until its socket accepts)",
            "ratio": up.as_secs_f64() / mariadb_start.as_secs_f64(), "goal": "<= 2",
        }),
        json!({
            "name": "local down (every component stopped)",
            "ours": down.as_secs_f64(), "ours_display": seconds(down),
            "anchor": mariadb_stop.as_secs_f64(), "anchor_display": seconds(mariadb_stop),
            "anchor_name": "MariaDB's own shutdown (SIGTERM until it exits)",
            "ratio": down.as_secs_f64() / mariadb_stop.as_secs_f64(), "goal": "-",
        }),
    ]
}

/// The solution's app by itself, as the lab starts it (its launcher, the lab's app virtualenv), until it
/// listens; median of a few runs.
fn app_alone(lab: &ddlab_stack::local::Lab) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let files = RunFiles::new(dir.path(), dir.path(), "app");
    let bin = lab.venvs.join("app-venv/bin");
    let port = lab.ports.get("app");
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        process::spawn(
            std::process::Command::new("bash")
                .arg(lab.solution.join("app/run"))
                .env(
                    "PATH",
                    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
                )
                .env("VIRTUAL_ENV", lab.venvs.join("app-venv"))
                .env(
                    "DD_TRACE_AGENT_URL",
                    format!("http://127.0.0.1:{}", lab.ports.get("apm")),
                ),
            &files,
        )
        .unwrap();
        assert!(
            process::wait_until(Duration::from_secs(60), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "the app did not listen on {port}"
        );
        samples.push(started.elapsed());
        assert!(process::stop(&files.pid_file, Duration::from_secs(10)));
    }
    median(samples)
}

/// The docker provider from existing images: `up` to both containers healthy, then `down` (volumes kept).
fn docker_lab(mariadb_start: Duration, mariadb_stop: Duration) -> Vec<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let Ok(docker) = docker::connect().await else {
            eprintln!("docker benchmarks NOT RUN: the Docker engine does not answer");
            return Vec::new();
        };
        for image in [images::HOST_IMAGE, images::BACKEND_IMAGE] {
            if !matches!(images::image_label(&docker, image).await, Ok(Some(_))) {
                eprintln!("docker benchmarks NOT RUN: no image {image} (cargo xtask images)");
                return Vec::new();
            }
        }
        let project = lab::project();
        // Inside the containers every port is the exercise's own; only the published side moves.
        let lab = DockerLab {
            name: format!("ddlab-bench-{}", std::process::id()),
            solution: project.join("fixtures/solution"),
            ports: lab::free_ports(),
            test_mode: false,
            work: ddlab_stack::local::target_dir(&project).join("docker"),
            project,
        };
        let (mut ups, mut downs) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let started = Instant::now();
            lab.up(&docker, &mut |_| {}).await.unwrap();
            ups.push(started.elapsed());
            let stopping = Instant::now();
            lab.down(&docker, false, &mut |_| {}).await.unwrap();
            downs.push(stopping.elapsed());
        }
        lab.down(&docker, true, &mut |_| {}).await.unwrap();
        let (up, down) = (median(ups), median(downs));
        vec![
            json!({
                "name": "docker up to both containers healthy (images built, volumes kept)",
                "ours": up.as_secs_f64(), "ours_display": seconds(up),
                "anchor": mariadb_start.as_secs_f64(), "anchor_display": seconds(mariadb_start),
                "anchor_name": "MariaDB's own start (mariadbd until its socket accepts)",
                "ratio": up.as_secs_f64() / mariadb_start.as_secs_f64(), "goal": "-",
            }),
            json!({
                "name": "docker down (containers and network removed)",
                "ours": down.as_secs_f64(), "ours_display": seconds(down),
                "anchor": mariadb_stop.as_secs_f64(), "anchor_display": seconds(mariadb_stop),
                "anchor_name": "MariaDB's own shutdown (SIGTERM until it exits)",
                "ratio": down.as_secs_f64() / mariadb_stop.as_secs_f64(), "goal": "-",
            }),
        ]
    })
}
