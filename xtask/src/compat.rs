//! `cargo xtask compat`: the backend checked with Datadog's official clients, unchanged.
//!
//! Builds and starts a real backend on a free loopback port with a fresh state folder (so it generates
//! its keys as on a first start), then runs `crates/ddlab-backend/compat/official_clients.py` with the
//! lab's virtualenv, where the pinned datadogpy, `dog` and `datadog-api-client` live.

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::backend::LocalBackend;
use crate::{project_root, target_dir};

pub(crate) fn run() -> anyhow::Result<()> {
    let root = project_root();
    let venv = crate::venv::ensure(&root)?;
    let backend = LocalBackend::start(&root, target_dir(&root).join("compat"), &[])?;
    let address = backend.address;
    let state = backend.dir.clone();
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
    if !status.success() {
        eprintln!("--- backend log (last lines) ---");
        eprintln!("{}", backend.log_tail(40));
        bail!("the official clients found incompatibilities (see above)");
    }
    println!("compat: the official clients passed against the backend at {address}");
    Ok(())
}
