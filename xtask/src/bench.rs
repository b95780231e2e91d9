//! `cargo xtask bench`: runs every benchmark in one go and writes `docs/benchmarks.md` and
//! `docs/benchmarks.json`.
//!
//! Each benchmark measures ours and its anchor in the same run on the same machine, so the ratio is the
//! number to compare across machines; the absolute numbers say what this machine did.
//!
//! The agent's benchmarks need two Python environments, prepared here before they run: the lab's
//! virtualenv (`DDLAB_PYTHON`, for the idle RSS with the Python check host) and Datadog's
//! `ddapm-test-agent`, the trace receiver's anchor, hash-pinned in the bench's own requirements file and
//! installed into a virtualenv of its own (`DDLAB_TEST_AGENT`), never into the lab's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use ddlab_stack::venv;
use serde_json::Value;

use crate::project_root;

/// The benchmark targets: (package, bench target).
const BENCHES: &[(&str, &str)] = &[
    ("ddlab-backend", "backend"),
    ("ddlab-agent", "agent"),
    ("ddlab-stack", "stack"),
];
/// The trace receiver benchmark's anchor, pinned with hashes.
const TEST_AGENT_REQUIREMENTS: &str = "crates/ddlab-agent/benches/apm/requirements.txt";

/// Installs `ddapm-test-agent` into `.ddlab/bench-test-agent-venv` and returns its script.
fn test_agent(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join(".ddlab").join("bench-test-agent-venv");
    let base = std::env::var("DDLAB_BASE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let requirements = [venv::Requirements {
        path: root.join(TEST_AGENT_REQUIREMENTS),
        no_deps: false,
    }];
    let built = venv::ensure(&dir, &base, &requirements)
        .with_context(|| format!("cannot install ddapm-test-agent into {}", dir.display()))?;
    if built.changed {
        eprintln!("bench: installed ddapm-test-agent into {}", dir.display());
    }
    Ok(dir.join("bin").join("ddapm-test-agent"))
}

pub(crate) fn run() -> anyhow::Result<()> {
    let root = project_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out_dir = crate::target_dir(&root).join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let python = crate::venv::ensure(&root)?;
    // Other work on the machine slows every wall-clock number; the report says how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let test_agent = test_agent(&root)?;
    let mut all = serde_json::Map::new();
    let mut commands = Vec::new();
    for (package, bench) in BENCHES {
        let json_path = out_dir.join(format!("{bench}.json"));
        let command = format!("cargo bench --locked -p {package} --bench {bench}");
        println!("==> {command}");
        let status = Command::new(&cargo)
            .args(["bench", "--locked", "-p", package, "--bench", bench])
            .env("DDLAB_BENCH_JSON", &json_path)
            .env("DDLAB_PYTHON", &python)
            .env("DDLAB_TEST_AGENT", &test_agent)
            .current_dir(&root)
            .status()
            .with_context(|| format!("cannot run {command}"))?;
        if !status.success() {
            bail!("{command} failed");
        }
        let text = std::fs::read_to_string(&json_path)
            .with_context(|| format!("{command} wrote no {}", json_path.display()))?;
        let value: Value = serde_json::from_str(&text)?;
        if let Value::Object(map) = value {
            all.extend(map);
        }
        commands.push(command);
    }
    // The backend's memory idle and under the load test's mix (the same command as `cargo xtask load`).
    let load_args = crate::load::LoadArgs {
        clients: 32,
        seconds: 20,
        json: true,
    };
    println!("==> cargo xtask load --clients 32 --seconds 20 (backend RSS idle and under load)");
    let (loaded, _) = crate::load::measure(&load_args)?;
    if loaded["errors"].as_u64() != Some(0) {
        bail!(
            "the load run behind the RSS figures had errors: {}",
            loaded["error_messages"]
        );
    }
    let mb = |key: &str| loaded["backend_rss_mb"][key].as_f64().unwrap_or(0.0);
    all.insert(
        "load".to_owned(),
        serde_json::json!([
            {"name": "backend idle RSS after start-up (a day of demo data)",
             "ours": mb("idle"), "ours_display": format!("{:.1} MB", mb("idle")), "goal": "report"},
            {"name": format!("backend peak RSS under load (32 clients, 20 s, {:.0} requests/s, p99 {:.1} ms, 0 errors)",
                loaded["requests_per_second"].as_f64().unwrap_or(0.0), loaded["p99_ms"].as_f64().unwrap_or(0.0)),
             "ours": mb("peak"), "ours_display": format!("{:.1} MB", mb("peak")), "goal": "report"},
        ]),
    );
    commands.push("cargo xtask load --clients 32 --seconds 20".to_owned());
    let machine = format!("{}; load average at the start: {load}", machine());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let report =
        serde_json::json!({ "date": date, "machine": machine, "commands": commands, "results": all });
    std::fs::write(
        root.join("docs/benchmarks.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(root.join("docs/benchmarks.md"), markdown(&report))?;
    println!("wrote docs/benchmarks.md and docs/benchmarks.json");
    Ok(())
}

fn markdown(report: &Value) -> String {
    let mut md = String::from("# Benchmarks\n\n");
    md.push_str("Written by `cargo xtask bench`; do not edit by hand. Each row measures ours and its anchor in the same\n");
    md.push_str("run on the same machine: compare the ratios across machines, not the absolute numbers.\n\n");
    let _ = writeln!(md, "- Date: {}", report["date"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "- Machine: {}", report["machine"].as_str().unwrap_or("?"));
    let _ = writeln!(
        md,
        "- Reproduce: `cargo xtask bench` (runs {})\n",
        report["commands"]
            .as_array()
            .map(|c| c
                .iter()
                .filter_map(Value::as_str)
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    md.push_str("| Benchmark | Ours | Anchor | Anchor is | Ratio | Goal |\n|---|---:|---:|---|---:|---|\n");
    if let Some(groups) = report["results"].as_object() {
        for rows in groups.values() {
            for row in rows.as_array().into_iter().flatten() {
                let text = |key: &str| row[key].as_str().unwrap_or("–").to_owned();
                let ratio = row["ratio"]
                    .as_f64()
                    .map_or("–".to_owned(), |r| format!("{r:.2}"));
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    text("name"),
                    text("ours_display"),
                    text("anchor_display"),
                    text("anchor_name"),
                    ratio,
                    text("goal")
                );
            }
        }
    }
    md
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines().find(|l| l.starts_with("MemTotal")).map(|l| {
                let kb: f64 = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                format!("{:.0} GiB", kb / 1024.0 / 1024.0)
            })
        })
        .unwrap_or_default();
    let rustc = command_output("rustc", &["--version"]).unwrap_or_default();
    format!("{cpus} CPUs ({model}), {memory} RAM, {rustc}")
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
