//! `cargo xtask screenshots`: every page of the web UI, captured with headless Chromium into `docs/img/`.
//!
//! Starts a real backend on a free loopback port with a fresh state folder and `--demo` (a day of known
//! data: three hosts, `my_metric`, MySQL with an anomaly, APM traffic, events, the reference monitor and
//! downtimes), renders the reference solution's two dashboards through `/dashboard/preview`, and takes one
//! screenshot per page. Chromium comes from the OS packages (`apt-get install chromium`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::backend::LocalBackend;
use crate::{project_root, target_dir};

const API_KEY: &str = "0123456789abcdef0123456789abcdef";
const APP_KEY: &str = "0123456789abcdef0123456789abcdef01234567";
/// The demo's exercise host (`ddlab_backend::demo::DEMO_HOST`), the `$HOST` of the reference dashboards.
const DEMO_HOST: &str = "ddlab-vm";
const WIDTH: u32 = 1400;

pub(crate) fn run() -> anyhow::Result<()> {
    let root = project_root();
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"])
        .context("no Chromium found: install it with `apt-get install chromium`")?;
    let backend = LocalBackend::start(
        &root,
        target_dir(&root).join("screenshots"),
        &["--demo", "--api-key", API_KEY, "--app-key", APP_KEY],
    )?;
    let address = backend.address;
    let state = backend.dir.clone();
    let trace_id = mysql_trace(address)?;
    let board = |file: &str| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(root.join("fixtures/solution/api").join(file))?;
        let compact: Value = serde_json::from_str(&text.replace("$HOST", DEMO_HOST))?;
        Ok(encode(&compact.to_string()))
    };
    let timeboard = board("timeboard.json")?;
    let apm_board = board("apm-infra-dashboard.json")?;
    let anomalies = encode("anomalies(avg:mysql.performance.cpu_time{*}, 'basic', 2)");
    let pages: Vec<(&str, String, u32)> = vec![
        ("host-map", "/infrastructure/map".to_owned(), 900),
        ("metric-explorer", format!("/metric/explorer?q={anomalies}"), 900),
        (
            "timeboard",
            format!("/dashboard/preview?json={timeboard}&live_span=4h"),
            760,
        ),
        (
            "timeboard-past-5-minutes",
            format!("/dashboard/preview?json={timeboard}&live_span=5m"),
            760,
        ),
        (
            "apm-infra-dashboard",
            format!("/dashboard/preview?json={apm_board}&live_span=1h"),
            1040,
        ),
        ("events", "/event/stream".to_owned(), 1000),
        ("monitors", "/monitors/manage".to_owned(), 560),
        ("monitor", "/monitors/1".to_owned(), 1300),
        ("downtimes", "/monitors/downtimes".to_owned(), 480),
        ("notifications", "/lab/notifications".to_owned(), 900),
        ("apm-services", "/apm/services".to_owned(), 420),
        ("apm-service", "/apm/services/flask".to_owned(), 900),
        ("apm-trace", format!("/apm/trace/{trace_id}"), 720),
        ("intake-log", "/lab/intake".to_owned(), 900),
    ];
    let out = root.join("docs/img");
    std::fs::create_dir_all(&out)?;
    for (name, path, height) in &pages {
        let file = out.join(format!("{name}.png"));
        let url = format!("http://{address}{path}");
        capture(&chromium, &url, &file, *height)?;
        println!("wrote docs/img/{name}.png  ({path:.60})");
    }
    copy_snapshot(&state.join("backend/snapshots"), &out.join("graph-snapshot.png"))?;
    println!("wrote docs/img/graph-snapshot.png  (the PNG of /api/v1/graph/snapshot)");
    drop(backend);
    println!("screenshots: {} pages captured into docs/img/", pages.len() + 1);
    Ok(())
}

fn which(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
            .map(|found| found.to_string_lossy().into_owned())
    })
}

/// One screenshot; Chromium runs as root here, hence `--no-sandbox`.
fn capture(chromium: &str, url: &str, file: &Path, height: u32) -> anyhow::Result<()> {
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            &format!("--window-size={WIDTH},{height}"),
            &format!("--screenshot={}", file.display()),
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .context("cannot run Chromium")?;
    if !output.status.success() || !file.is_file() {
        bail!(
            "Chromium could not capture {url}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The demo's graph snapshot PNG, as the event that carries it links to it.
fn copy_snapshot(dir: &Path, to: &Path) -> anyhow::Result<()> {
    for day in std::fs::read_dir(dir).with_context(|| format!("no snapshots in {}", dir.display()))? {
        for file in std::fs::read_dir(day?.path())? {
            let file = file?.path();
            if file.extension().is_some_and(|e| e == "png") {
                std::fs::copy(&file, to)?;
                return Ok(());
            }
        }
    }
    bail!("the demo made no snapshot in {}", dir.display())
}

/// The id of a demo trace that reaches MySQL, found through the spans API.
fn mysql_trace(address: SocketAddr) -> anyhow::Result<String> {
    let body = get(
        address,
        "/api/v2/spans/events?filter%5Bquery%5D=service%3Amysql&filter%5Bfrom%5D=now-1h&page%5Blimit%5D=1",
    )?;
    let answer: Value = serde_json::from_str(&body).context("the spans API answered no JSON")?;
    answer["data"][0]["attributes"]["trace_id"]
        .as_str()
        .map(str::to_owned)
        .context("the demo has no MySQL span")
}

/// A plain HTTP/1.0 GET with the demo's keys; the body of a 200.
fn get(address: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nDD-API-KEY: {API_KEY}\r\nDD-APPLICATION-KEY: {APP_KEY}\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("GET {path} answered {}", head.lines().next().unwrap_or(""));
    }
    Ok(body.to_owned())
}

/// Percent-encoding of a query parameter value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
