//! The local provider's lifecycle on this machine, in a state folder and on ports of its own: `up` twice
//! (the second starts nothing), a killed component reported by `status` with its log, `down` leaving no
//! process and no busy port, and the whole cycle a second time on the same state.
//!
//! Needs MariaDB and python3-venv; without them it prints why it did not run and passes.

#![allow(clippy::print_stderr, clippy::unwrap_used)]

mod lab;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use ddlab_stack::local::COMPONENTS;
use ddlab_stack::process;

/// Every component but the relay, which only `--datadog` starts.
const LOCAL: &[&str] = &["mysql", "mail", "backend", "agent", "app", "traffic"];

#[test]
fn up_twice_kill_one_down_twice() {
    if let Some(reason) = lab::missing_prerequisite() {
        eprintln!("local provider lifecycle test NOT RUN: {reason}");
        return;
    }
    let project = lab::project();
    lab::build_binaries(&project);
    let dir = tempfile::tempdir().unwrap();
    let lab = lab::lab(dir.path());
    let outcome = std::panic::catch_unwind(|| cycles(&lab, dir.path()));
    // A failed assertion must not leave the lab's processes running.
    if let Err(panicked) = outcome {
        lab.down(true, &mut |_| {}).unwrap();
        std::panic::resume_unwind(panicked);
    }
}

fn cycles(lab: &ddlab_stack::local::Lab, dir: &std::path::Path) {
    for cycle in 1..=2 {
        let mut steps = Vec::new();
        let up = lab.up(&mut |step| steps.push(step.to_owned()));
        if let Err(err) = up {
            lab.down(false, &mut |_| {}).unwrap();
            panic!("cycle {cycle}: up failed: {err}\nsteps: {steps:#?}");
        }
        let running = pids(lab);
        assert_private(&lab.state);
        // The leftovers check below sees the lab's processes while they run.
        let live = lab::processes_in(dir);
        assert!(
            live.len() >= LOCAL.len(),
            "cycle {cycle}: only {live:#?} found running in the lab"
        );
        assert_eq!(
            running
                .iter()
                .filter(|(_, pid)| pid.is_some())
                .map(|(n, _)| *n)
                .collect::<Vec<_>>(),
            LOCAL,
            "cycle {cycle}: {running:?}"
        );

        // Idempotent: the second `up` finds every component running and starts nothing.
        let mut again = Vec::new();
        lab.up(&mut |step| again.push(step.to_owned())).unwrap();
        assert_eq!(
            pids(lab),
            running,
            "cycle {cycle}: the second up restarted something"
        );
        for name in LOCAL {
            assert!(
                again
                    .iter()
                    .any(|s| s.starts_with(&format!("{name}: already running"))),
                "cycle {cycle}: no `already running` for {name}: {again:?}"
            );
        }

        // A component that dies is reported with its log.
        let agent = running
            .iter()
            .find(|(n, _)| *n == "agent")
            .and_then(|(_, p)| *p)
            .unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(agent).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        assert!(
            process::wait_until(Duration::from_secs(10), || lab
                .status()
                .iter()
                .any(|s| s.name == "agent" && s.crashed)),
            "cycle {cycle}: status never reported the killed agent"
        );
        let status = lab.status();
        let reported = status.iter().find(|s| s.name == "agent").unwrap();
        assert_eq!(reported.pid, None);
        assert!(
            !reported.log_tail.is_empty(),
            "cycle {cycle}: the crashed agent's log tail is empty"
        );
        let others: Vec<(&str, bool)> = status
            .iter()
            .filter(|s| s.name != "agent")
            .map(|s| (s.name, s.crashed))
            .collect();
        assert!(
            others.iter().all(|(_, crashed)| !crashed),
            "cycle {cycle}: {others:?}"
        );

        lab.down(false, &mut |_| {}).unwrap();
        let left = lab::processes_in(dir);
        assert!(
            left.is_empty(),
            "cycle {cycle}: processes left after down: {left:#?}"
        );
        lab.ports
            .check_free(&["mysql", "smtp", "backend", "agent-ipc", "dogstatsd", "app"])
            .unwrap_or_else(|err| panic!("cycle {cycle}: a port is still held after down: {err}"));
        assert!(
            lab.status().iter().all(|s| s.pid.is_none() && !s.crashed),
            "cycle {cycle}: not every component of {COMPONENTS:?} stopped cleanly: {:?}",
            lab.status()
        );
    }
    // The data survives `down` (the second cycle reused it); --purge removes it.
    assert!(lab.state.join("mysql/data/mysql").is_dir());
    lab.down(true, &mut |_| {}).unwrap();
    assert!(!lab.state.join("mysql").exists());
}

/// The state folder and what holds keys, passwords and output are their owner's alone: folders 0700, files
/// 0600 (the backend's keys, the agent's staged configuration, every log and pid file).
fn assert_private(state: &Path) {
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let mut wrong = Vec::new();
    for dir in [
        "", "run", "logs", "agent", "mail", "mail/tmp", "mail/new", "mail/cur", "mysql", "backend",
    ] {
        let path = state.join(dir);
        if mode(&path) != 0o700 {
            wrong.push(format!("{} is {:o}", path.display(), mode(&path)));
        }
    }
    let mut files = vec![
        state.join("backend/keys.json"),
        state.join("agent/conf.d/mysql.d/conf.yaml"),
        state.join("agent/datadog.yaml"),
        state.join("run/solution"),
    ];
    for dir in ["logs", "run"] {
        files.extend(
            std::fs::read_dir(state.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
    }
    assert!(
        files.iter().any(|f| f.ends_with("logs/agent.log"))
            && files.iter().any(|f| f.ends_with("run/backend.pid")),
        "no logs or pid files to check: {files:?}"
    );
    for file in files {
        if mode(&file) != 0o600 {
            wrong.push(format!("{} is {:o}", file.display(), mode(&file)));
        }
    }
    assert!(
        wrong.is_empty(),
        "state files readable beyond their owner: {wrong:#?}"
    );
}

fn pids(lab: &ddlab_stack::local::Lab) -> Vec<(&'static str, Option<u32>)> {
    lab.status().into_iter().map(|s| (s.name, s.pid)).collect()
}
