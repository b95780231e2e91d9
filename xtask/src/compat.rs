//! `cargo xtask compat`: the backend checked with Datadog's official clients, unchanged.
//!
//! Builds and starts a real backend on a free loopback port with a fresh state folder (so it generates
//! its keys as on a first start), then runs `crates/ddlab-backend/compat/official_clients.py` with the
//! lab's virtualenv, where the pinned datadogpy, `dog` and `datadog-api-client` live.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::{project_root, target_dir};

pub(crate) fn run() -> anyhow::Result<()> {
    let root = project_root();
    let venv = crate::venv::ensure(&root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .args(["build", "--locked", "-p", "ddlab-backend"])
        .current_dir(&root)
        .status()
        .context("cannot run cargo build")?;
    if !status.success() {
        bail!("building ddlab-backend failed");
    }
    let state = target_dir(&root).join("compat");
    if state.exists() {
        std::fs::remove_dir_all(&state).with_context(|| format!("cannot clear {}", state.display()))?;
    }
    std::fs::create_dir_all(&state)?;
    let address = free_loopback_address()?;
    let log = std::fs::File::create(state.join("backend.log"))?;
    let backend = Backend(
        Command::new(target_dir(&root).join("debug/ddlab-backend"))
            .arg("--state-dir")
            .arg(state.join("backend"))
            .arg("--listen")
            .arg(address.to_string())
            .env_remove("DDLAB_API_KEY")
            .env_remove("DDLAB_APP_KEY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start ddlab-backend")?,
    );
    wait_for_port(address, Duration::from_secs(30))?;
    let keys: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("backend/keys.json"))
            .context("the backend wrote no keys.json")?,
    )?;
    let key = |name: &str| keys[name].as_str().map(str::to_owned).unwrap_or_default();
    let script = root.join("crates/ddlab-backend/compat/official_clients.py");
    let status = Command::new(&venv)
        .arg(&script)
        .env("DDLAB_URL", format!("http://{address}"))
        .env("DD_API_KEY", key("api_key"))
        .env("DD_APP_KEY", key("app_key"))
        .status()
        .context("cannot run the client checks")?;
    drop(backend);
    if !status.success() {
        let log = std::fs::read_to_string(state.join("backend.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("--- backend log (last lines) ---");
        for line in tail.iter().rev() {
            eprintln!("{line}");
        }
        bail!("the official clients found incompatibilities (see above)");
    }
    println!("compat: the official clients passed against the backend at {address}");
    Ok(())
}

/// The backend process, killed when dropped so a failing run leaves nothing behind.
pub(crate) struct Backend(pub(crate) Child);

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?)
}

pub(crate) fn wait_for_port(address: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let listening = ddlab_stack::process::wait_until(limit, || {
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
    });
    if !listening {
        bail!("the backend did not listen on {address} within {limit:?}");
    }
    Ok(())
}
