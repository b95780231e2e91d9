//! The Python check host: long-lived Python processes that run the Agent's Python checks unchanged.
//!
//! ```text
//!  PythonHost ──JSON lines on stdin──▶ python ddlab_check_host.py ──▶ datadog_checks.<name> / checks.d/<name>.py
//!      ▲                                     │   aggregator.py, datadog_agent.py, checks/ (ours, first on PYTHONPATH)
//!      └───────JSON lines (private fd)───────┘   stderr: host log lines + anything native code writes
//! ```
//!
//! The host's Python files ship inside the binary (`crates/ddlab-agent/python/`, embedded with
//! `include_str!`) and are written at [`PythonHost::start`] into `<runtime dir>/python/`, which goes
//! first on `PYTHONPATH`: `import aggregator`, `import datadog_agent` and `from checks import AgentCheck`
//! find our modules, so `datadog_checks.base` runs as under the Agent (`AGENT_RUNNING`). The
//! interpreter is a parameter: the lab's virtualenv, where `python/requirements.txt` is installed.
//! checks.d folders are appended to the end of `sys.path`, where the Agent puts `additional_checksd`,
//! so an installed `datadog_checks.<name>` wins over `checks.d/<name>.py`.
//!
//! Every check is loaded into one shared process at first; a check whose run hangs or takes that
//! process down is isolated into a process of its own (`host.rs` describes the processes' lifecycle).
//! Check objects live as long as their process, so rates and other per-check state carry over between
//! runs.
//!
//! **Boundary:** this module only runs checks and hands back what they submitted ([`CheckOutput`]);
//! scheduling, the per-type aggregation and the service check `datadog.agent.check_status` belong to
//! the collector and the aggregator.

mod host;
mod modules;
mod protocol;
mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::check::{Abort, CheckError, CheckOutput};
use crate::config::{AgentConfig, CheckConfig, CheckId, Compressor, Instance};
use host::{Exchange, Interpreter, Placement, Registered, restarted_note};
use protocol::HostFailure;
use worker::Reply;

/// The Agent version checks see through `datadog_agent.get_version()` unless told otherwise.
pub const DEFAULT_AGENT_VERSION: &str = "7.71.0";

/// How to run the Python check host. Every field says its default ([`Default`]).
#[derive(Debug, Clone)]
pub struct PythonHostOptions {
    /// The interpreter: the lab virtualenv's `bin/python`, where `python/requirements.txt` is installed.
    /// Default `python3` from `PATH`.
    pub python: PathBuf,
    /// Folders searched for `<check name>.py` after installed integrations, in order. Default none.
    pub checksd: Vec<PathBuf>,
    /// Extra folders on `PYTHONPATH` after the host's own modules (and before site-packages). Default none.
    pub python_path: Vec<PathBuf>,
    /// Where the host's modules are written (`<dir>/python/`) and, unless `cache_dir` is set, the
    /// persistent cache kept (`<dir>/cache/`). Default: a private temporary folder, removed with the host.
    pub runtime_dir: Option<PathBuf>,
    /// The folder `datadog_agent.write_persistent_cache` writes to (the Agent's `run_path`).
    /// Default `<runtime dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// What `datadog_agent.get_hostname()` answers. Default empty: the machine's hostname as Python sees it.
    pub hostname: String,
    /// What `datadog_agent.get_host_tags()` answers (as its `system` list). Default none.
    pub host_tags: Vec<String>,
    /// What `datadog_agent.get_version()` answers. Default [`DEFAULT_AGENT_VERSION`].
    pub agent_version: String,
    /// `datadog.yaml` settings for `datadog_agent.get_config`, by their YAML keys (see [`agent_settings`]).
    /// Keys not set here get the Agent's defaults for the settings checks ask about. Default empty.
    pub config: Map<String, Value>,
    /// How long starting the interpreter and importing `datadog_checks.base` may take. Default 30 s.
    pub start_timeout: Duration,
    /// How long importing and constructing one check may take. Default 60 s.
    pub load_timeout: Duration,
    /// How much longer than a run's timeout the host gets to report the overrun (with the check's
    /// stack) before it is killed. Default 5 s.
    pub kill_grace: Duration,
}

impl Default for PythonHostOptions {
    fn default() -> Self {
        Self {
            python: PathBuf::from("python3"),
            checksd: Vec::new(),
            python_path: Vec::new(),
            runtime_dir: None,
            cache_dir: None,
            hostname: String::new(),
            host_tags: Vec::new(),
            agent_version: DEFAULT_AGENT_VERSION.to_owned(),
            config: Map::new(),
            start_timeout: Duration::from_secs(30),
            load_timeout: Duration::from_secs(60),
            kill_grace: Duration::from_secs(5),
        }
    }
}

impl PythonHostOptions {
    /// Options for the agent configured by `config`, whose resolved hostname is `hostname`: its
    /// `additional_checksd`, host tags and settings. The interpreter and folders keep their defaults.
    pub fn for_agent(config: &AgentConfig, hostname: &str) -> Self {
        Self {
            checksd: vec![config.additional_checksd.clone()],
            hostname: hostname.to_owned(),
            host_tags: config.host_tags(),
            config: agent_settings(config),
            ..Self::default()
        }
    }
}

/// The agent's settings as `datadog_agent.get_config` answers them, keyed like `datadog.yaml`
/// (`apm_config` nested). The API key is left out: checks have no use for it.
pub fn agent_settings(config: &AgentConfig) -> Map<String, Value> {
    let compressor = match config.serializer_compressor_kind {
        Compressor::Zstd => "zstd",
        Compressor::Zlib => "zlib",
    };
    let settings = json!({
        "site": config.site,
        "dd_url": config.dd_url,
        "hostname": config.hostname,
        "tags": config.tags,
        "extra_tags": config.extra_tags,
        "env": config.env,
        "apm_config": {
            "enabled": config.apm.enabled,
            "receiver_port": config.apm.receiver_port,
            "receiver_socket": config.apm.receiver_socket,
            "apm_non_local_traffic": config.apm.non_local_traffic,
            "apm_dd_url": config.apm.dd_url,
            "env": config.apm.env,
        },
        "use_dogstatsd": config.dogstatsd.enabled,
        "dogstatsd_port": config.dogstatsd.port,
        "dogstatsd_socket": config.dogstatsd.socket,
        "dogstatsd_non_local_traffic": config.dogstatsd.non_local_traffic,
        "dogstatsd_buffer_size": config.dogstatsd.buffer_size,
        "check_runners": config.check_runners,
        "confd_path": config.confd_path,
        "additional_checksd": config.additional_checksd,
        "cmd_port": config.cmd_port,
        "logs_enabled": config.logs_enabled,
        "histogram_aggregates": config.histogram_aggregates,
        "histogram_percentiles": config.histogram_percentiles,
        "use_v2_api": {"series": config.use_v2_api_series},
        "serializer_compressor_kind": compressor,
        "forwarder_timeout": config.forwarder.timeout.as_secs(),
    });
    match settings {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The running host. Share it (`Arc`) between the tasks that run checks: runs in one interpreter take
/// turns, runs in different interpreters (the shared one, each isolated check's) go at once.
#[derive(Debug)]
pub struct PythonHost {
    options: PythonHostOptions,
    modules_dir: PathBuf,
    cache_dir: PathBuf,
    started: SystemTime,
    restarts: AtomicU64,
    /// The pid of the shared interpreter, as of its last start.
    pid: AtomicU32,
    next_handle: AtomicU64,
    /// The interpreter every check is loaded into first.
    shared: Arc<Interpreter>,
    /// Which interpreter runs each loaded check (by handle), and the checks isolated so far.
    placement: std::sync::Mutex<Placement>,
    // Last, so the processes are gone before their modules folder is removed.
    _temporary: Option<tempfile::TempDir>,
}

/// A check that hung or took its interpreter down in the shared interpreter, and now runs alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IsolatedCheck {
    pub check_id: String,
    /// What it did in the shared interpreter.
    pub reason: String,
}

/// A loaded check instance. Handles stay valid across restarts of the Python process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckHandle {
    id: u64,
    name: String,
    check_id: CheckId,
    version: Option<String>,
    module: String,
    file: Option<PathBuf>,
    wheel: bool,
}

/// What the Python process reported about itself when it last started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// `platform.python_version()`, e.g. `3.11.7`.
    pub python_version: String,
    /// `sys.executable`.
    pub executable: PathBuf,
    /// The installed `datadog-checks-base` version, `None` when it cannot be imported.
    pub base_version: Option<String>,
    /// Why `datadog-checks-base` cannot be imported; every load fails with this message then.
    pub base_error: Option<String>,
    /// The process ID of the current Python process.
    pub pid: u32,
    /// Where the host's modules were written.
    pub modules_dir: PathBuf,
}

/// The host could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot write the Python check host's modules to {}: {source}", dir.display())]
    Modules { dir: PathBuf, source: std::io::Error },
    #[error(
        "cannot start the Python check host with {}: {source}; point the agent at an interpreter \
         with datadog-checks-base installed (crates/ddlab-agent/python/requirements.txt)",
        python.display()
    )]
    Spawn { python: PathBuf, source: std::io::Error },
    #[error("the Python check host ({}) did not start: {message}", python.display())]
    Start { python: PathBuf, message: String },
    #[error("check {0} is not loaded in the Python check host")]
    NotLoaded(CheckId),
}

/// A check could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Python could not import, find or construct the check. `file` and `line` point into the
    /// Python code when the failure happened there.
    #[error("{}: cannot load check '{check}': {}", config.display(), located(.file, .line, .message))]
    Check {
        check: String,
        config: PathBuf,
        file: Option<PathBuf>,
        line: Option<u32>,
        message: String,
        traceback: String,
    },
    #[error(transparent)]
    Host(#[from] HostError),
}

impl PythonHost {
    /// Writes the host's modules, starts the interpreter and configures the `datadog_agent` module.
    pub async fn start(options: PythonHostOptions) -> Result<PythonHost, HostError> {
        let (runtime_dir, temporary) = match &options.runtime_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("ddlab-agent-python-")
                    .tempdir()
                    .map_err(|source| HostError::Modules {
                        dir: std::env::temp_dir(),
                        source,
                    })?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let modules_dir = runtime_dir.join("python");
        modules::write(&modules_dir)
            .await
            .map_err(|source| HostError::Modules {
                dir: modules_dir.clone(),
                source,
            })?;
        let cache_dir = options
            .cache_dir
            .clone()
            .unwrap_or_else(|| runtime_dir.join("cache"));
        let host = PythonHost {
            options,
            modules_dir,
            cache_dir,
            started: SystemTime::now(),
            restarts: AtomicU64::new(0),
            pid: AtomicU32::new(0),
            next_handle: AtomicU64::new(1),
            shared: Interpreter::new(true, BTreeMap::new()),
            placement: std::sync::Mutex::new(Placement::default()),
            _temporary: temporary,
        };
        let (worker, info) = host.spawn().await?;
        {
            let mut state = host.shared.state.lock().await;
            host.pid.store(info.pid, Ordering::Relaxed);
            tracing::info!(
                python = %info.executable.display(),
                version = %info.python_version,
                datadog_checks_base = info.base_version.as_deref().unwrap_or("missing"),
                pid = info.pid,
                "started the Python check host"
            );
            state.worker = Some(worker);
            state.info = info;
        }
        Ok(host)
    }

    /// What the shared Python process reported at its last start.
    pub async fn info(&self) -> HostInfo {
        self.shared.state.lock().await.info.clone()
    }

    /// The shared Python process's pid, as of its last start.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::Relaxed)
    }

    /// How many times a Python process was replaced after a timeout or a crash.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The checks moved into an interpreter of their own, and why.
    pub fn isolated(&self) -> Vec<IsolatedCheck> {
        self.placement()
            .isolated
            .values()
            .map(|(_, isolated)| isolated.clone())
            .collect()
    }

    /// Loads one instance of a check into the shared interpreter: imports `datadog_checks.<name>` or
    /// `<name>` from checks.d, constructs the check class with the instance and sets its check ID.
    pub async fn load(&self, config: &CheckConfig, instance: &Instance) -> Result<CheckHandle, LoadError> {
        let mut state = self.shared.state.lock().await;
        let failed = |message: String, traceback: String| LoadError::Check {
            check: config.name.clone(),
            config: config.source.clone(),
            file: None,
            line: None,
            message,
            traceback,
        };
        if self.placement().loaded.values().any(|id| *id == instance.id) {
            return Err(failed(
                format!("the instance {} is already loaded", instance.id),
                String::new(),
            ));
        }
        let id = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let init_config = match &config.init_config {
            Value::Null => Value::Object(Map::new()),
            other => other.clone(),
        };
        let request = json!({
            "op": "load",
            "handle": id,
            "name": config.name,
            "check_id": instance.id.as_str(),
            "init_config": init_config,
            "instance": instance.raw,
            "source": config.source,
        });
        let deadline = Instant::now() + self.options.load_timeout;
        let answer = match self.exchange(&mut state, request.clone(), deadline, None).await? {
            Exchange::Answered(Reply::Ok(answer)) => answer,
            Exchange::Answered(Reply::Failed(failure)) => {
                return Err(LoadError::Check {
                    check: config.name.clone(),
                    config: config.source.clone(),
                    file: failure.file,
                    line: failure.line,
                    message: failure.message,
                    traceback: failure.traceback,
                });
            }
            Exchange::Answered(Reply::TimedOut(timeout)) => {
                return Err(failed(timeout.message, timeout.traceback));
            }
            Exchange::Lost {
                cause, note, stderr, ..
            } => {
                return Err(failed(format!("{cause} while loading the check; {note}"), stderr));
            }
        };
        let loaded: protocol::Loaded = serde_json::from_value(answer).map_err(|err| {
            failed(
                format!("the Python check host answered the load strangely: {err}"),
                String::new(),
            )
        })?;
        if loaded.deprecated_constructor {
            tracing::warn!(check = %instance.id, "the check's constructor takes agentConfig, which is deprecated");
        }
        tracing::info!(
            check = %instance.id,
            module = %loaded.module,
            class = %loaded.class,
            version = loaded.version.as_deref().unwrap_or("unversioned"),
            "loaded Python check"
        );
        state.checks.insert(
            id,
            Registered {
                name: config.name.clone(),
                check_id: instance.id.clone(),
                config: config.source.clone(),
                request,
                reload_error: None,
            },
        );
        self.placement().loaded.insert(id, instance.id.clone());
        Ok(CheckHandle {
            id,
            name: config.name.clone(),
            check_id: instance.id.clone(),
            version: loaded.version,
            module: loaded.module,
            file: loaded.file,
            wheel: loaded.wheel,
        })
    }

    /// Runs the check once. A check that raises, overruns `timeout` or takes the Python process down
    /// still gives an output, with `error` saying what happened; `Err` means no Python process could
    /// be started, or the handle was unloaded.
    ///
    /// A check that overruns or takes down the shared interpreter is isolated: the shared one is
    /// restarted without it, and from its next run on it runs in an interpreter of its own, where it
    /// can only hurt itself.
    pub async fn run(&self, handle: &CheckHandle, timeout: Duration) -> Result<CheckOutput, HostError> {
        let interpreter = self.interpreter_of(handle);
        let mut state = interpreter.state.lock().await;
        let Some(registered) = state.checks.get(&handle.id) else {
            return Err(HostError::NotLoaded(handle.check_id.clone()));
        };
        if registered.reload_error.is_some() || state.worker.is_none() {
            let request = registered.request.clone();
            let reload_error = registered.reload_error.is_some();
            let deadline = Instant::now() + self.options.load_timeout;
            // A process that is not running yet (an isolated check's first run) loads its checks as
            // it starts; only a check whose reload failed is loaded on its own.
            let failure = if reload_error {
                match self.exchange(&mut state, request, deadline, None).await? {
                    Exchange::Answered(Reply::Ok(_)) => None,
                    Exchange::Answered(Reply::Failed(failure)) => Some(failure),
                    Exchange::Answered(Reply::TimedOut(timeout)) => Some(HostFailure {
                        message: timeout.message,
                        traceback: timeout.traceback,
                        file: None,
                        line: None,
                    }),
                    Exchange::Lost {
                        cause, note, stderr, ..
                    } => Some(HostFailure {
                        message: format!("{cause} while loading the check again; {note}"),
                        traceback: stderr,
                        file: None,
                        line: None,
                    }),
                }
            } else {
                self.respawn(&mut state).await?;
                state.checks.get(&handle.id).and_then(|c| c.reload_error.clone())
            };
            if let Some(registered) = state.checks.get_mut(&handle.id) {
                registered.reload_error.clone_from(&failure);
            }
            if let Some(failure) = failure {
                return Ok(not_reloaded(&handle.check_id, failure));
            }
        }

        let deadline = Instant::now() + timeout + self.options.kill_grace;
        let request = protocol::run_request(handle.id, timeout.as_secs_f64());
        // In the shared interpreter, a check that takes the process down leaves it before the restart.
        let culprit = state.shared.then_some(handle.id);
        match self.exchange(&mut state, request, deadline, culprit).await? {
            Exchange::Answered(Reply::Ok(answer)) => match serde_json::from_value(answer) {
                Ok(raw) => Ok(protocol::into_output(raw)),
                Err(err) => Ok(failed_output(
                    format!(
                        "the Python check host answered the run of {} strangely: {err}",
                        handle.check_id
                    ),
                    String::new(),
                )),
            },
            Exchange::Answered(Reply::Failed(failure)) => {
                // The request may have gone to a new process into which the check could not be loaded.
                let reload_error = state.checks.get(&handle.id).and_then(|c| c.reload_error.clone());
                Ok(match reload_error {
                    Some(reload) => not_reloaded(&handle.check_id, reload),
                    None => failed_output(failure.message, failure.traceback),
                })
            }
            Exchange::Answered(Reply::TimedOut(timed_out)) => {
                tracing::warn!(check = %handle.check_id, ?timeout, "a Python check timed out; restarting its Python process");
                let mut output = timed_out.output.map(protocol::into_output).unwrap_or_default();
                let moved = culprit.and_then(|id| state.checks.remove(&id));
                let isolated = moved.map(|registered| self.isolate(handle, registered, &timed_out.message));
                let restarted = self.replace_worker(&mut state, "a check timed out").await;
                output.error = Some(CheckError {
                    message: format!(
                        "{}; {}{}",
                        timed_out.message,
                        restarted_note(&restarted),
                        isolated_note(isolated.is_some())
                    ),
                    traceback: timed_out.traceback,
                });
                output.aborted = Some(Abort::Timeout);
                Ok(output)
            }
            Exchange::Lost {
                cause,
                note,
                stderr,
                removed,
                abort,
            } => {
                let isolated = removed.map(|registered| self.isolate(handle, registered, &cause));
                Ok(CheckOutput {
                    aborted: Some(abort),
                    ..failed_output(
                        format!(
                            "{cause} while running check {}; {note}{}",
                            handle.check_id,
                            isolated_note(isolated.is_some())
                        ),
                        stderr,
                    )
                })
            }
        }
    }

    /// Unloads a check instance (calling its `cancel()`); its handle is no longer valid.
    pub async fn unload(&self, handle: CheckHandle) -> Result<(), HostError> {
        let interpreter = self.interpreter_of(&handle);
        let mut state = interpreter.state.lock().await;
        if state.checks.remove(&handle.id).is_none() {
            return Err(HostError::NotLoaded(handle.check_id));
        }
        {
            let mut placement = self.placement();
            placement.loaded.remove(&handle.id);
            placement.isolated.remove(&handle.id);
        }
        let Some(worker) = state.worker.as_mut() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.options.load_timeout;
        match worker
            .request(protocol::unload_request(handle.id), deadline)
            .await
        {
            Ok(Reply::Ok(_)) => {}
            Ok(Reply::Failed(failure)) => {
                tracing::warn!(check = %handle.check_id, error = %failure.message, "unloading a Python check failed");
            }
            Ok(Reply::TimedOut(_)) | Err(_) => {
                // The process is in an unknown state: the next request starts a new one.
                if let Some(worker) = state.worker.take() {
                    worker.kill().await;
                }
            }
        }
        if !Arc::ptr_eq(&interpreter, &self.shared)
            && let Some(worker) = state.worker.take()
        {
            // An isolated check's interpreter has nothing left to run.
            worker.kill().await;
        }
        Ok(())
    }

    /// Asks every Python process to exit, and kills those that do not.
    pub async fn shutdown(&self) {
        let mut interpreters = vec![Arc::clone(&self.shared)];
        interpreters.extend(
            self.placement()
                .isolated
                .values()
                .map(|(interpreter, _)| Arc::clone(interpreter)),
        );
        for interpreter in interpreters {
            let mut state = interpreter.state.lock().await;
            if let Some(mut worker) = state.worker.take() {
                let deadline = Instant::now() + self.options.kill_grace;
                let _ = worker.request(protocol::shutdown_request(), deadline).await;
                let status = worker.kill().await;
                tracing::info!(%status, "stopped a Python check host process");
            }
        }
    }
}

impl CheckHandle {
    /// The check name (`my_metric`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance's check ID.
    pub fn check_id(&self) -> &CheckId {
        &self.check_id
    }

    /// The module's `__version__`, shown next to the check name in `status`; `None` is "unversioned".
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The Python module the check came from (`datadog_checks.mysql`, `my_metric`).
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The module's file.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Whether the check is an installed integration (`datadog_checks.<name>`) rather than a checks.d file.
    pub fn is_integration(&self) -> bool {
        self.wheel
    }
}

fn failed_output(message: String, traceback: String) -> CheckOutput {
    CheckOutput {
        error: Some(CheckError { message, traceback }),
        ..CheckOutput::default()
    }
}

fn not_reloaded(check_id: &CheckId, failure: HostFailure) -> CheckOutput {
    failed_output(
        format!(
            "check {check_id} could not be loaded again after the Python check host restarted: {}",
            located(&failure.file, &failure.line, &failure.message)
        ),
        failure.traceback,
    )
}

fn isolated_note(isolated: bool) -> &'static str {
    if isolated {
        "; the check now runs in a Python process of its own"
    } else {
        ""
    }
}

fn located(file: &Option<PathBuf>, line: &Option<u32>, message: &str) -> String {
    match (file, line) {
        (Some(file), Some(line)) => format!("{}:{line}: {message}", file.display()),
        (Some(file), None) => format!("{}: {message}", file.display()),
        _ => message.to_owned(),
    }
}

#[cfg(test)]
mod tests;
