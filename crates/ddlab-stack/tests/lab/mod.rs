//! What the local-provider tests share: a lab of their own (temporary state, free ports, the reference
//! solution with its fixed ports moved to those), and the reasons such a lab cannot run here.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;

use ddlab_stack::local::Lab;
use ddlab_stack::ports::{PORTS, Ports};

pub fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the checkout")
}

/// Why a local lab cannot run on this machine, if it cannot: the fix is in the message.
pub fn missing_prerequisite() -> Option<String> {
    if let Err(err) = ddlab_stack::mysql::Programs::find() {
        return Some(err.to_string());
    }
    let venv = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .status()
        .is_ok_and(|s| s.success());
    if !venv {
        return Some("python3 with venv is missing; install it: apt-get install -y python3-venv".to_owned());
    }
    None
}

/// Builds the lab's binaries, as `cargo xtask up` does.
pub fn build_binaries(project: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--locked", "-p", "ddlab-backend", "-p", "ddlab-agent"])
        .current_dir(project)
        .status()
        .expect("cargo build runs");
    assert!(
        status.success(),
        "cargo build -p ddlab-backend -p ddlab-agent failed"
    );
}

/// Every port of the table moved to a free one.
pub fn free_ports() -> Ports {
    let mut chosen = HashMap::new();
    let mut held_tcp = Vec::new();
    let mut held_udp = Vec::new();
    for port in PORTS {
        // Held until all are chosen, so no two names get the same port.
        let value = if port.udp {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
            let value = socket.local_addr().expect("its address").port();
            held_udp.push(socket);
            value
        } else {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free TCP port");
            let value = listener.local_addr().expect("its address").port();
            held_tcp.push(listener);
            value
        };
        chosen.insert(port.env, value);
    }
    Ports::from_lookup(|env| chosen.get(env).map(u16::to_string)).expect("valid ports")
}

/// A copy of the reference solution in `dir` whose app and MySQL check use `ports` instead of the
/// exercise's fixed 5050 and 3306.
pub fn solution_on(dir: &Path, ports: &Ports) -> PathBuf {
    let source = project().join("fixtures/solution");
    let target = dir.join("solution");
    copy(&source, &target);
    let patch = |file: &str, from: &str, to: String| {
        let path = target.join(file);
        let text = std::fs::read_to_string(&path).expect("a solution file");
        assert!(
            text.contains(from),
            "{file} no longer contains {from:?}; update this test"
        );
        std::fs::write(&path, text.replace(from, &to)).expect("the patched file");
    };
    patch(
        "app/app.py",
        "port='5050'",
        format!("port='{}'", ports.get("app")),
    );
    patch(
        "conf.d/mysql.d/conf.yaml",
        "port: 3306",
        format!("port: {}", ports.get("mysql")),
    );
    target
}

fn copy(source: &Path, target: &Path) {
    if source.is_dir() {
        std::fs::create_dir_all(target).expect("a folder");
        for entry in std::fs::read_dir(source).expect("a readable folder").flatten() {
            copy(&entry.path(), &target.join(entry.file_name()));
        }
    } else {
        std::fs::copy(source, target).expect("a copied file");
    }
}

/// A lab with its own state in `dir`, sharing the checkout's virtualenvs (built once, minutes).
pub fn lab(dir: &Path) -> Lab {
    let project = project();
    let ports = free_ports();
    Lab {
        binaries: ddlab_stack::local::target_dir(&project).join("debug"),
        state: dir.join("state"),
        venvs: project.join(".ddlab"),
        solution: solution_on(dir, &ports),
        ports,
        project,
        test_mode: false,
    }
}

/// The live processes (not zombies) whose command line mentions `dir` or that run inside it.
pub fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        let inside = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        if (cmdline.contains(&needle) || inside) && !zombie && pid != std::process::id() {
            found.push(format!("{pid}: {}", cmdline.trim()));
        }
    }
    found
}
