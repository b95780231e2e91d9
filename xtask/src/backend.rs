//! A real `ddlab-backend` process for the tasks that drive one (compat, screenshots, load): built with
//! cargo, started on a free loopback port with a fresh state folder, killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::target_dir;

/// How long a freshly built backend may take to listen (a first start creates and migrates its database).
const START_LIMIT: Duration = Duration::from_secs(120);

/// A running backend; the process is killed when this is dropped, so a failing task leaves nothing behind.
pub(crate) struct LocalBackend {
    pub(crate) address: SocketAddr,
    /// The task's folder: the backend's state is in `backend/`, its log in `backend.log`.
    pub(crate) dir: PathBuf,
    child: Child,
}

impl LocalBackend {
    /// Builds the backend (a no-op when it is up to date), clears `dir`, and starts the backend there with
    /// `args` added to its command line.
    pub(crate) fn start(root: &Path, dir: PathBuf, args: &[&str]) -> anyhow::Result<LocalBackend> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(&cargo)
            .args(["build", "--locked", "-p", "ddlab-backend"])
            .current_dir(root)
            .status()
            .context("cannot run cargo build")?;
        if !status.success() {
            bail!("building ddlab-backend failed");
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let address = free_loopback_address()?;
        let log = std::fs::File::create(dir.join("backend.log"))?;
        let child = Command::new(target_dir(root).join("debug/ddlab-backend"))
            .arg("--state-dir")
            .arg(dir.join("backend"))
            .args(["--listen", &address.to_string()])
            .args(args)
            .env_remove("DDLAB_API_KEY")
            .env_remove("DDLAB_APP_KEY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start ddlab-backend")?;
        let backend = LocalBackend { address, dir, child };
        let listening = ddlab_stack::process::wait_until(START_LIMIT, || {
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
        if !listening {
            bail!(
                "the backend did not listen on {address} within {START_LIMIT:?}; its log ends:\n{}",
                backend.log_tail(40)
            );
        }
        Ok(backend)
    }

    /// The backend's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of the backend's log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("backend.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?)
}
