//! `up --datadog` on this machine: no backend and no mail sink; the agent gets `DD_SITE` and the API key in
//! its environment only and sends through the relay on the backend's port. A real Datadog intake cannot be
//! reached here, so the relay's upstream is a second ddlab-backend started by the test with the same key:
//! the agent's metrics arriving there prove the path agent → relay → intake with the key, and no file of
//! the lab holds the key.
//!
//! Needs MariaDB and python3-venv; without them it prints why it did not run and passes.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod lab;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ddlab_stack::local::{ApiKey, Datadog};
use ddlab_stack::process::{self, RunFiles};

const API_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const APP_KEY: &str = "00112233445566778899aabbccddeeff00112233";

#[test]
fn the_agent_sends_through_the_relay_with_the_key_from_the_environment_only() {
    if let Some(reason) = lab::missing_prerequisite() {
        eprintln!("--datadog test NOT RUN: {reason}");
        return;
    }
    let project = lab::project();
    lab::build_binaries(&project);
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::lab(dir.path());

    // The stand-in for Datadog's intake: the lab's own backend, accepting only API_KEY.
    let intake_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let intake_files = RunFiles::new(&dir.path().join("intake"), &dir.path().join("intake"), "intake");
    process::spawn(
        Command::new(lab.binaries.join("ddlab-backend"))
            .arg("--state-dir")
            .arg(dir.path().join("intake/state"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{intake_port}"))
            .env("DDLAB_API_KEY", API_KEY)
            .env("DDLAB_APP_KEY", APP_KEY),
        &intake_files,
    )
    .unwrap();
    let intake = format!("http://127.0.0.1:{intake_port}");
    assert!(
        process::wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            intake_port
        ))
        .is_ok()),
        "the intake backend did not start"
    );

    let datadog = Datadog {
        site: "datadoghq.eu".to_owned(),
        api_key: ApiKey::new(API_KEY),
        intake: intake.clone(),
    };
    let outcome = std::panic::catch_unwind(|| check(&lab, &datadog, &intake, dir.path()));
    lab.down(false, &mut |_| {}).unwrap();
    process::stop(&intake_files.pid_file, Duration::from_secs(10));
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let left = lab::processes_in(dir.path());
    assert!(left.is_empty(), "processes left after down: {left:#?}");
}

fn check(lab: &ddlab_stack::local::Lab, datadog: &Datadog, intake: &str, dir: &Path) {
    let mut steps = Vec::new();
    let up = lab.up_datadog(datadog, &mut |step| steps.push(step.to_owned()));
    assert!(up.is_ok(), "up --datadog failed: {up:?}\n{steps:#?}");
    let running: Vec<&str> = lab
        .status()
        .into_iter()
        .filter(|s| s.pid.is_some())
        .map(|s| s.name)
        .collect();
    assert_eq!(running, ["mysql", "relay", "agent", "app", "traffic"]);

    // The agent's environment: the site, the key, and the relay as its intake.
    let agent = process::running(&lab.files("agent").pid_file).unwrap().pid;
    let environ = std::fs::read(format!("/proc/{agent}/environ")).unwrap();
    let environ: Vec<String> = environ
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    for wanted in [
        "DD_SITE=datadoghq.eu".to_owned(),
        format!("DD_API_KEY={API_KEY}"),
        format!("DD_DD_URL={}", lab.backend_url()),
    ] {
        assert!(
            environ.contains(&wanted),
            "the agent's environment lacks {wanted}"
        );
    }

    // The agent's metrics reach the intake through the relay (the agent flushes every 15 s).
    let arrived = process::wait_until(Duration::from_secs(90), || {
        let Ok(output) = Command::new("python3")
            .arg("-c")
            .arg(
                "import json,sys,time,urllib.parse as p,urllib.request as u\n\
                 now=int(time.time())\n\
                 q=p.urlencode({'query':'avg:system.cpu.user{*}','from':now-600,'to':now})\n\
                 r=u.Request(sys.argv[1]+'/api/v1/query?'+q,\n\
                 headers={'DD-API-KEY':sys.argv[2],'DD-APPLICATION-KEY':sys.argv[3]})\n\
                 print(len(json.load(u.urlopen(r,timeout=5))['series']))",
            )
            .args([intake, API_KEY, APP_KEY])
            .output()
        else {
            return false;
        };
        String::from_utf8_lossy(&output.stdout).trim() == "1"
    });
    let relay_log = process::log_tail(&lab.files("relay").log_file, 50);
    assert!(
        arrived,
        "no system.cpu.user reached the intake through the relay; relay log:\n{relay_log:#?}"
    );
    assert!(
        relay_log
            .iter()
            .any(|l| l.starts_with("relay: POST /api/v2/series -> 202")),
        "the relay did not log the accepted series: {relay_log:#?}"
    );

    // The key was handed over in the environment only: no file of the lab holds it.
    let holders = files_containing(&lab.state, API_KEY.as_bytes());
    assert!(holders.is_empty(), "files holding the API key: {holders:#?}");
    assert!(dir.join("state").is_dir());
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_symlink() {
            continue;
        }
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)) {
            found.push(path.display().to_string());
        }
    }
    found
}
