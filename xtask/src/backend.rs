//! A real `ddlab-backend` process for the tasks that drive one (compat, screenshots, load, chaos): built
//! with cargo, started on a free loopback port with a fresh state folder, killed when dropped. The fault
//! suite also kills it (SIGKILL or SIGTERM) and restarts it on the same port and state folder.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::target_dir;

/// How long a freshly built backend may take to listen (a first start creates and migrates its database).
const START_LIMIT: Duration = Duration::from_secs(120);

/// How long a backend told to stop with SIGTERM may take to exit before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// A running backend; the process is killed when this is dropped, so a failing task leaves nothing behind.
pub(crate) struct LocalBackend {
    pub(crate) address: SocketAddr,
    /// The task's folder: the backend's state is in `backend/`, its log in `backend.log`.
    pub(crate) dir: PathBuf,
    binary: PathBuf,
    args: Vec<String>,
    /// `None` while the backend is stopped (between [`LocalBackend::kill`] and [`LocalBackend::restart`]).
    child: Option<Child>,
}

/// Builds the named packages of the workspace (a no-op when they are up to date).
pub(crate) fn build(root: &Path, packages: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command.args(["build", "--locked"]).current_dir(root);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("building {} failed", packages.join(", "));
    }
    Ok(())
}

impl LocalBackend {
    /// Builds the backend (a no-op when it is up to date), clears `dir`, and starts the backend there with
    /// `args` added to its command line.
    pub(crate) fn start(root: &Path, dir: PathBuf, args: &[&str]) -> anyhow::Result<LocalBackend> {
        build(root, &["ddlab-backend"])?;
        LocalBackend::launch(root, dir, args)
    }

    /// Starts the already built backend in a cleared `dir` on a free loopback port.
    pub(crate) fn launch(root: &Path, dir: PathBuf, args: &[&str]) -> anyhow::Result<LocalBackend> {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut backend = LocalBackend {
            address: free_loopback_address()?,
            dir,
            binary: target_dir(root).join("debug/ddlab-backend"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        backend.restart()?;
        Ok(backend)
    }

    /// Starts the backend again, on the same address and state folder, after a kill or a stop; returns
    /// once it accepts connections. Its log is appended to.
    pub(crate) fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the backend on {} is still running", self.address);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("backend.log"))
            .with_context(|| format!("cannot open {}", self.dir.join("backend.log").display()))?;
        let child = Command::new(&self.binary)
            .arg("--state-dir")
            .arg(self.dir.join("backend"))
            .args(["--listen", &self.address.to_string()])
            .args(&self.args)
            .env_remove("DDLAB_API_KEY")
            .env_remove("DDLAB_APP_KEY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.child = Some(child);
        let address = self.address;
        let listening = ddlab_stack::process::wait_until(START_LIMIT, || {
            TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
        if !listening {
            bail!(
                "the backend did not listen on {address} within {START_LIMIT:?}; its log ends:\n{}",
                self.log_tail(40)
            );
        }
        Ok(())
    }

    /// `kill -9`: the backend gets no chance to finish anything.
    pub(crate) fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("the backend on {} is not running", self.address);
        };
        child.kill().context("cannot kill the backend")?;
        child.wait().context("cannot wait for the killed backend")?;
        Ok(())
    }

    /// SIGTERM, then waits for the backend to exit (it finishes the requests in flight); killed after
    /// [`STOP_LIMIT`]. Returns how long the stop took.
    pub(crate) fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            bail!("the backend on {} is not running", self.address);
        };
        let started = Instant::now();
        let pid = Pid::from_raw(i32::try_from(child.id()).context("the backend's pid")?);
        kill(pid, Signal::SIGTERM).context("cannot send SIGTERM to the backend")?;
        let exited = ddlab_stack::process::wait_until(STOP_LIMIT, || matches!(child.try_wait(), Ok(Some(_))));
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the backend did not exit within {STOP_LIMIT:?} of SIGTERM and was killed; its log ends:\n{}",
                self.log_tail(20)
            );
        }
        Ok(started.elapsed())
    }

    /// The backend's process id (0 while it is stopped).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback address with a port that was free a moment ago.
pub(crate) fn free_loopback_address() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free loopback port")?;
    Ok(listener.local_addr()?)
}
