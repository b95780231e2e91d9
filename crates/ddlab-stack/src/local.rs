//! The local provider: every component is a process on this machine, under the lab's state folder.
//!
//! ```text
//! .ddlab/
//!   venv/        the lab's Python tools (check host, official clients, mail sink)
//!   app-venv/    the solution's app requirements (flask, ddtrace)
//!   mysql/       the private server's data folder and socket
//!   backend/     the backend's database and keys
//!   agent/       the agent's config root, staged from the solution (datadog.yaml, conf.d/, checks.d/)
//!   mail/        the mail sink's Maildir
//!   run/ logs/   pid files and logs, one per component
//! ```
//!
//! `up` is idempotent: a component already running is left alone.
//!
//! `up_datadog` runs the same lab against a real Datadog organisation: no backend and no mail sink; the
//! agent sends to `relay` (`python/intake_relay.py`, on the backend's port), which relays every request
//! over HTTPS to `https://app.<DD_SITE>`, because ddlab-agent speaks plain HTTP only. The API key goes to
//! the agent in its environment and is written to no file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::mysql::{self, Programs, Server};
use crate::ports::{PortError, Ports};
use crate::process::{self, RunFiles};
use crate::venv::{self, VenvError};

/// Where cargo puts the lab's binaries for the checkout at `root` (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into)
}

/// The components in start order.
pub const COMPONENTS: &[&str] = &["mysql", "mail", "backend", "relay", "agent", "app", "traffic"];

/// A Datadog API key: `Debug` and `Display` print `********`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that hands it to the agent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("********")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("********")
    }
}

/// A real Datadog organisation the agent sends to instead of the lab's backend (`up --datadog`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datadog {
    /// `DD_SITE`; default `datadoghq.com`.
    pub site: String,
    /// `DD_API_KEY`; required.
    pub api_key: ApiKey,
    /// Where the relay sends: `https://app.<site>` (the intake the Agent derives from `site`).
    pub intake: String,
}

impl Datadog {
    /// Reads `DD_SITE` and `DD_API_KEY` from the environment.
    pub fn from_env() -> Result<Self, StackError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StackError> {
        let site = lookup("DD_SITE")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "datadoghq.com".to_owned());
        if site.contains(['/', ':', ' ']) {
            return Err(StackError::Missing(format!(
                "DD_SITE={site:?} is not a Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com, ...)"
            )));
        }
        let api_key = lookup("DD_API_KEY")
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                StackError::Missing(
                    "--datadog needs DD_API_KEY in the environment (an API key of your organisation)"
                        .to_owned(),
                )
            })?;
        Ok(Self {
            intake: format!("https://app.{site}"),
            site,
            api_key: ApiKey(api_key),
        })
    }
}

/// A lab on this machine.
#[derive(Debug, Clone)]
pub struct Lab {
    /// The ddlab checkout (requirement files, the traffic script).
    pub project: PathBuf,
    /// The state folder, `.ddlab` in the checkout by default.
    pub state: PathBuf,
    /// Where the virtualenvs live (`venv/`, `app-venv/`); the state folder by default. Labs with
    /// separate state (the e2e run's) share the checkout's virtualenvs, which take minutes to build.
    pub venvs: PathBuf,
    /// Where the built `ddlab-backend` and `ddlab-agent` binaries are.
    pub binaries: PathBuf,
    /// The solution the lab runs.
    pub solution: PathBuf,
    pub ports: Ports,
    /// Start the backend with its movable test clock.
    pub test_mode: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error(transparent)]
    Venv(#[from] VenvError),
    #[error(transparent)]
    Mysql(#[from] mysql::MysqlError),
    #[error(transparent)]
    Process(#[from] process::ProcessError),
    #[error("{component} did not become ready within {seconds} s; {} ends with:\n{tail}", log.display())]
    NotReady {
        component: &'static str,
        seconds: u64,
        log: PathBuf,
        tail: String,
    },
    #[error("{0}")]
    Missing(String),
    #[error("cannot prepare {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// What `status` says about one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentStatus {
    pub name: &'static str,
    pub pid: Option<u32>,
    /// Stopped although its pid file says it was started: it crashed or was killed.
    pub crashed: bool,
    pub log: PathBuf,
    pub log_tail: Vec<String>,
}

/// A component spawned and not yet waited for.
#[derive(Debug)]
struct Starting {
    component: &'static str,
    port: u16,
    files: RunFiles,
    /// What `up` reports once it listens.
    ready: String,
}

/// What `start_app` did.
#[derive(Debug)]
enum AppStart {
    /// The solution has no app.
    Absent,
    Running,
    Starting(Starting),
}

impl Lab {
    pub fn files(&self, component: &str) -> RunFiles {
        RunFiles::new(&self.state.join("run"), &self.state.join("logs"), component)
    }

    pub fn mysql_server(&self) -> Server {
        Server {
            dir: self.state.join("mysql"),
            port: self.ports.get("mysql"),
        }
    }

    pub fn venv_dir(&self) -> PathBuf {
        self.venvs.join("venv")
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.state.join("mail")
    }

    pub fn backend_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.get("backend"))
    }

    /// Brings up every component not already running, reporting each step through `progress`.
    pub fn up(&self, progress: &mut dyn FnMut(&str)) -> Result<(), StackError> {
        if let Some(running) = self.running_solution()
            && running != self.solution
            && process::running(&self.files("agent").pid_file).is_some()
        {
            return Err(StackError::Missing(format!(
                "the lab is already running the solution in {}; stop it first with `cargo xtask down`",
                running.display()
            )));
        }
        if process::running(&self.files("relay").pid_file).is_some() {
            return Err(StackError::Missing(
                "the lab is running against Datadog (--datadog); stop it first with `cargo xtask down`"
                    .to_owned(),
            ));
        }
        self.private_state()?;
        let venv = self.lab_venv(progress)?;
        self.record_solution()?;
        // The app (Python under ddtrace-run) and the mail sink take the longest to start and need nothing
        // else: they start first and are waited for last.
        let app = self.start_app(progress)?;
        let mail = self.start_mail(&venv, progress)?;
        let programs = self.up_mysql(progress)?;
        let backend = self.start_backend(progress)?;
        self.finish(mail, progress)?;
        self.finish(backend, progress)?;
        let (api_key, _) = self
            .keys()
            .ok_or_else(|| StackError::Missing("the backend has not written its keys yet".to_owned()))?;
        self.up_agent(&venv, &ApiKey(api_key), &[], progress)?;
        if self.finish_app(app, progress)? {
            self.up_traffic(&venv, &programs, progress)?;
        }
        Ok(())
    }

    /// Brings the lab up against a real Datadog organisation: MySQL, the relay to `datadog.intake` on the
    /// backend's port, the agent (with `DD_SITE` and the API key in its environment only), the app and the
    /// traffic; no backend and no mail sink.
    pub fn up_datadog(&self, datadog: &Datadog, progress: &mut dyn FnMut(&str)) -> Result<(), StackError> {
        if process::running(&self.files("backend").pid_file).is_some() {
            return Err(StackError::Missing(
                "the lab is running with its own backend; stop it first with `cargo xtask down`".to_owned(),
            ));
        }
        if let Some(running) = self.running_solution()
            && running != self.solution
            && process::running(&self.files("agent").pid_file).is_some()
        {
            return Err(StackError::Missing(format!(
                "the lab is already running the solution in {}; stop it first with `cargo xtask down`",
                running.display()
            )));
        }
        self.private_state()?;
        let venv = self.lab_venv(progress)?;
        self.record_solution()?;
        let app = self.start_app(progress)?;
        let programs = self.up_mysql(progress)?;
        self.up_relay(&venv, &datadog.intake, progress)?;
        // The relay carries metrics only; the trace intake is HTTPS, which the agent does not speak, so APM
        // is named at Datadog's trace intake and the agent reports it as off in `status` (and says why).
        let trace_intake = format!("https://trace.agent.{}", datadog.site);
        self.up_agent(
            &venv,
            &datadog.api_key,
            &[("DD_SITE", &datadog.site), ("DD_APM_DD_URL", &trace_intake)],
            progress,
        )?;
        if self.finish_app(app, progress)? {
            self.up_traffic(&venv, &programs, progress)?;
        }
        Ok(())
    }

    /// Creates the state folder and the folders the lab keeps its secrets and output in, readable by their
    /// owner only (0700), narrowing them if an older version made them wider: the backend's keys, the
    /// agent's staged configuration (it holds the MySQL password), the logs, the mail and the database.
    fn private_state(&self) -> Result<(), StackError> {
        // The Maildir's own folders too: Python's `mailbox.Maildir` makes `tmp/`, `new/` and `cur/` only
        // when it creates the Maildir itself, and cannot store a message without them.
        let dirs = [
            self.state.clone(),
            self.state.join("run"),
            self.state.join("logs"),
            self.state.join("agent"),
            self.mail_dir(),
            self.mail_dir().join("tmp"),
            self.mail_dir().join("new"),
            self.mail_dir().join("cur"),
            self.state.join("mysql"),
        ];
        for dir in dirs {
            process::private_dir(&dir).map_err(|source| StackError::Io { path: dir, source })?;
        }
        Ok(())
    }

    fn record_solution(&self) -> Result<(), StackError> {
        let record = self.state.join("run/solution");
        process::private_dir(&self.state.join("run"))
            .and_then(|()| process::private_file(&record, self.solution.to_string_lossy().as_bytes()))
            .map_err(|source| StackError::Io {
                path: record.clone(),
                source,
            })
    }

    /// The relay to a real intake, listening where the backend would.
    fn up_relay(&self, venv: &Path, intake: &str, progress: &mut dyn FnMut(&str)) -> Result<(), StackError> {
        if self.already("relay", progress) {
            return Ok(());
        }
        self.ports.check_free(&["backend"])?;
        let port = self.ports.get("backend");
        let files = self.files("relay");
        process::spawn(
            Command::new(venv)
                .arg(self.project.join("crates/ddlab-stack/python/intake_relay.py"))
                .arg(port.to_string())
                .arg(intake),
            &files,
        )?;
        self.wait_tcp("relay", port, &files)?;
        progress(&format!("relay: {} -> {intake} (HTTPS)", self.backend_url()));
        Ok(())
    }

    fn lab_venv(&self, progress: &mut dyn FnMut(&str)) -> Result<PathBuf, StackError> {
        progress("python: the lab's virtualenv (pinned, hashed requirements)");
        let built = venv::ensure(
            &self.venv_dir(),
            "python3",
            &venv::lab_requirements(&self.project),
        )?;
        Ok(built.python)
    }

    fn already(&self, component: &str, progress: &mut dyn FnMut(&str)) -> bool {
        match process::running(&self.files(component).pid_file) {
            Some(recorded) => {
                progress(&format!("{component}: already running (pid {})", recorded.pid));
                true
            }
            None => false,
        }
    }

    /// Starts the server if needed and applies the grants; returns the programs found, for the traffic.
    fn up_mysql(&self, progress: &mut dyn FnMut(&str)) -> Result<Programs, StackError> {
        let programs = Programs::find()?;
        let server = self.mysql_server();
        if !self.already("mysql", progress) {
            self.ports.check_free(&["mysql"])?;
            if server.init(&programs)? {
                progress(&format!("mysql: initialised {}", server.data_dir().display()));
            }
            server.start(&programs, &self.files("mysql"))?;
            progress(&format!(
                "mysql: {} listening on 127.0.0.1:{}",
                programs.server.display(),
                server.port
            ));
        }
        let grants = self.solution.join(ddlab_layout::GRANTS);
        server.apply_file(&programs, &grants)?;
        progress(&format!("mysql: applied {}", grants.display()));
        server.root_sql(&programs, "creating the sample schema", mysql::SAMPLE_SCHEMA)?;
        Ok(programs)
    }

    /// Waits for a component started with `start_*` to listen, then reports it.
    fn finish(&self, starting: Option<Starting>, progress: &mut dyn FnMut(&str)) -> Result<(), StackError> {
        if let Some(starting) = starting {
            self.wait_tcp(starting.component, starting.port, &starting.files)?;
            progress(&starting.ready);
        }
        Ok(())
    }

    fn start_mail(
        &self,
        venv: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<Starting>, StackError> {
        if self.already("mail", progress) {
            return Ok(None);
        }
        self.ports.check_free(&["smtp"])?;
        let port = self.ports.get("smtp");
        let files = self.files("mail");
        process::spawn(
            Command::new(venv)
                .args(["-m", "aiosmtpd", "--nosetuid", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--class", "aiosmtpd.handlers.Mailbox"])
                .arg(self.mail_dir()),
            &files,
        )?;
        Ok(Some(Starting {
            component: "mail",
            port,
            files,
            ready: format!(
                "mail: SMTP sink on 127.0.0.1:{port}, storing messages in {}",
                self.mail_dir().display()
            ),
        }))
    }

    fn start_backend(&self, progress: &mut dyn FnMut(&str)) -> Result<Option<Starting>, StackError> {
        if self.already("backend", progress) {
            return Ok(None);
        }
        self.ports.check_free(&["backend"])?;
        let binary = self.binary("ddlab-backend")?;
        let port = self.ports.get("backend");
        let files = self.files("backend");
        let mut command = Command::new(binary);
        command
            .arg("--state-dir")
            .arg(self.state.join("backend"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            // Monitor and event e-mails go to the lab's mail sink.
            .arg("--smtp")
            .arg(format!("127.0.0.1:{}", self.ports.get("smtp")))
            .env_remove("DDLAB_API_KEY")
            .env_remove("DDLAB_APP_KEY");
        if self.test_mode {
            command.arg("--test-mode");
        }
        process::spawn(&mut command, &files)?;
        Ok(Some(Starting {
            component: "backend",
            port,
            files,
            ready: format!(
                "backend: {} (state in {})",
                self.backend_url(),
                self.state.join("backend").display()
            ),
        }))
    }

    /// Stages the solution's agent files (`datadog.yaml`, `conf.d/`, `checks.d/`) as the agent's config
    /// root, and starts the agent pointed at the backend's port (the backend, or the relay) with `api_key`
    /// and `extra` in its environment.
    fn up_agent(
        &self,
        venv: &Path,
        api_key: &ApiKey,
        extra: &[(&str, &str)],
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), StackError> {
        if self.already("agent", progress) {
            return Ok(());
        }
        self.ports.check_free(&["agent-ipc", "dogstatsd"])?;
        let binary = self.binary("ddlab-agent")?;
        let root = self.state.join("agent");
        for entry in [
            ddlab_layout::AGENT_CONFIG,
            ddlab_layout::CONF_D,
            ddlab_layout::CHECKS_D,
        ] {
            let target = root.join(entry);
            if target.exists() {
                let removed = if target.is_dir() {
                    std::fs::remove_dir_all(&target)
                } else {
                    std::fs::remove_file(&target)
                };
                removed.map_err(|source| StackError::Io {
                    path: target.clone(),
                    source,
                })?;
            }
            let source = self.solution.join(entry);
            if source.exists() {
                copy_tree(&source, &target)?;
            }
        }
        let files = self.files("agent");
        let ipc = self.ports.get("agent-ipc");
        let mut command = Command::new(binary);
        command
            .arg("--cfgpath")
            .arg(&root)
            .arg("run")
            .arg("--python")
            .arg(venv)
            .env("DD_API_KEY", api_key.expose())
            .env("DD_DD_URL", self.backend_url())
            // dd_url does not redirect APM, as on the real Agent: the trace intake is named apart.
            .env("DD_APM_DD_URL", self.backend_url())
            .env("DD_CMD_PORT", ipc.to_string())
            .env("DD_DOGSTATSD_PORT", self.ports.get("dogstatsd").to_string())
            .env("DD_APM_RECEIVER_PORT", self.ports.get("apm").to_string());
        for (name, value) in extra {
            command.env(name, value);
        }
        process::spawn(&mut command, &files)?;
        self.wait_tcp("agent", ipc, &files)?;
        progress(&format!(
            "agent: config root {} (staged from the solution), DogStatsD 127.0.0.1:{}, status: {} -c {} status",
            root.display(),
            self.ports.get("dogstatsd"),
            self.binaries.join("ddlab-agent").display(),
            root.display()
        ));
        Ok(())
    }

    /// Waits for the app `start_app` started; returns whether an app runs.
    fn finish_app(&self, app: AppStart, progress: &mut dyn FnMut(&str)) -> Result<bool, StackError> {
        match app {
            AppStart::Absent => Ok(false),
            AppStart::Running => Ok(true),
            AppStart::Starting(starting) => self.finish(Some(starting), progress).map(|()| true),
        }
    }

    /// Starts the solution's app with its own launcher, from a virtualenv of its own requirements,
    /// without waiting for it to listen.
    fn start_app(&self, progress: &mut dyn FnMut(&str)) -> Result<AppStart, StackError> {
        if self.already("app", progress) {
            return Ok(AppStart::Running);
        }
        let requirements = self.solution.join(ddlab_layout::APP_REQUIREMENTS);
        let launcher = self.solution.join(ddlab_layout::APP_LAUNCHER);
        if !requirements.is_file() || !launcher.is_file() {
            progress(&format!(
                "app: not started — the solution has no {} and {}",
                ddlab_layout::APP_REQUIREMENTS,
                ddlab_layout::APP_LAUNCHER
            ));
            return Ok(AppStart::Absent);
        }
        self.ports.check_free(&["app"])?;
        progress(&format!("app: installing {}", requirements.display()));
        let app_venv = self.venvs.join("app-venv");
        // The candidate's requirements are theirs: pinned by version, not necessarily by hash.
        let built = venv::ensure_unhashed(&app_venv, "python3", &requirements)?;
        let files = self.files("app");
        let bin = app_venv.join("bin");
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        process::spawn(
            Command::new("bash")
                .arg(&launcher)
                .env("PATH", path)
                .env("VIRTUAL_ENV", &app_venv)
                .env(
                    "DD_TRACE_AGENT_URL",
                    format!("http://127.0.0.1:{}", self.ports.get("apm")),
                )
                .env("DD_AGENT_HOST", "127.0.0.1")
                .env("DD_DOGSTATSD_PORT", self.ports.get("dogstatsd").to_string()),
            &files,
        )?;
        let port = self.ports.get("app");
        Ok(AppStart::Starting(Starting {
            component: "app",
            port,
            files,
            ready: format!("app: http://127.0.0.1:{port} (python {})", built.python.display()),
        }))
    }

    fn up_traffic(
        &self,
        venv: &Path,
        programs: &Programs,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), StackError> {
        if self.already("traffic", progress) {
            return Ok(());
        }
        process::spawn(
            Command::new(venv)
                .arg(self.project.join("crates/ddlab-stack/python/traffic.py"))
                .arg(format!("http://127.0.0.1:{}", self.ports.get("app")))
                .arg(&programs.client)
                .arg(self.mysql_server().socket()),
            &self.files("traffic"),
        )?;
        progress("traffic: requests to the app's three routes and writes to lab.visits every 2 s");
        Ok(())
    }

    /// Stops every component (in reverse order); with `purge`, deletes the state folder's data too.
    pub fn down(&self, purge: bool, progress: &mut dyn FnMut(&str)) -> Result<(), StackError> {
        for component in COMPONENTS.iter().rev() {
            if process::stop(&self.files(component).pid_file, Duration::from_secs(10)) {
                progress(&format!("{component}: stopped"));
            }
        }
        if purge {
            for dir in ["mysql", "backend", "agent", "mail", "run", "logs"] {
                let path = self.state.join(dir);
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(|source| StackError::Io {
                        path: path.clone(),
                        source,
                    })?;
                    progress(&format!("purged {}", path.display()));
                }
            }
        }
        Ok(())
    }

    /// Each component's process state and, for one that stopped on its own, its last log lines.
    pub fn status(&self) -> Vec<ComponentStatus> {
        COMPONENTS
            .iter()
            .map(|name| {
                let files = self.files(name);
                let pid = process::running(&files.pid_file).map(|r| r.pid);
                let crashed = pid.is_none() && files.pid_file.exists();
                ComponentStatus {
                    name,
                    pid,
                    crashed,
                    log_tail: if crashed {
                        process::log_tail(&files.log_file, 10)
                    } else {
                        Vec::new()
                    },
                    log: files.log_file,
                }
            })
            .collect()
    }

    /// The solution the lab was last brought up with.
    pub fn running_solution(&self) -> Option<PathBuf> {
        std::fs::read_to_string(self.state.join("run/solution"))
            .ok()
            .map(PathBuf::from)
    }

    /// The API and application keys the backend generated on its first start.
    pub fn keys(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string(self.state.join("backend/keys.json")).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            value["api_key"].as_str()?.to_owned(),
            value["app_key"].as_str()?.to_owned(),
        ))
    }

    fn binary(&self, name: &str) -> Result<PathBuf, StackError> {
        let path = self.binaries.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(StackError::Missing(format!(
                "{} is not built; run: cargo build -p {name}",
                path.display()
            )))
        }
    }

    fn wait_tcp(&self, component: &'static str, port: u16, files: &RunFiles) -> Result<(), StackError> {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let pid_file = files.pid_file.clone();
        let mut exited = false;
        let ready = process::wait_until(Duration::from_secs(120), || {
            if process::running(&pid_file).is_none() {
                exited = true;
                return true;
            }
            std::net::TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        });
        if !ready || exited {
            return Err(StackError::NotReady {
                component,
                seconds: 120,
                log: files.log_file.clone(),
                tail: process::log_tail(&files.log_file, 20).join("\n"),
            });
        }
        Ok(())
    }
}

/// Copies a file or a folder tree, readable by its owner only (folders 0700, files 0600): the agent's
/// configuration holds the MySQL password.
fn copy_tree(source: &Path, target: &Path) -> Result<(), StackError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| StackError::Io { path, source }
    };
    if source.is_dir() {
        process::private_dir(target).map_err(io(target))?;
        for entry in std::fs::read_dir(source).map_err(io(source))? {
            let entry = entry.map_err(io(source))?;
            copy_tree(&entry.path(), &target.join(entry.file_name()))?;
        }
    } else {
        if let Some(parent) = target.parent() {
            process::private_dir(parent).map_err(io(parent))?;
        }
        let bytes = std::fs::read(source).map_err(io(source))?;
        process::private_file(target, &bytes).map_err(io(target))?;
    }
    Ok(())
}

/// The solution layout, re-exported under a short name.
use ddlab_solution::layout as ddlab_layout;

#[cfg(test)]
mod tests {
    use super::*;

    fn datadog(vars: &[(&str, &str)]) -> Result<Datadog, String> {
        Datadog::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .map_err(|err| err.to_string())
    }

    #[test]
    fn datadog_reads_the_site_and_key_from_the_environment() {
        let site = datadog(&[("DD_SITE", "datadoghq.eu"), ("DD_API_KEY", "abc")]).unwrap();
        assert_eq!(site.site, "datadoghq.eu");
        assert_eq!(site.intake, "https://app.datadoghq.eu");
        assert_eq!(site.api_key.expose(), "abc");
        let default = datadog(&[("DD_API_KEY", "abc")]).unwrap();
        assert_eq!(default.intake, "https://app.datadoghq.com");
    }

    #[test]
    fn datadog_errors_name_the_variable() {
        let missing = datadog(&[("DD_SITE", "datadoghq.eu")]).unwrap_err();
        assert!(missing.contains("DD_API_KEY"), "{missing}");
        let url = datadog(&[("DD_SITE", "https://app.datadoghq.com"), ("DD_API_KEY", "k")]).unwrap_err();
        assert!(
            url.starts_with("DD_SITE=\"https://app.datadoghq.com\" is not a Datadog site"),
            "{url}"
        );
    }

    #[test]
    fn the_api_key_never_prints() {
        let site = datadog(&[("DD_API_KEY", "0123456789abcdef")]).unwrap();
        let shown = format!("{site:?} {}", site.api_key);
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("********"), "{shown}");
    }
}
