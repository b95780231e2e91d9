//! Turning `conf.d` into runnable check instances: which side runs each check, and the [`Check`] trait
//! the scheduler drives.
//!
//! | check name | run by | why |
//! | --- | --- | --- |
//! | `mysql` | [`MysqlCheck`], native | the real integration's wheel is not on PyPI; the native check reproduces its metrics, metadata and grant warnings, so `conf.d/mysql.d/conf.yaml` works unchanged |
//! | `cpu` `load` `memory` `disk` `network` `uptime` | [`SystemCheck`], native | the Agent's core checks are Go, not Python; each runs once by default, or with its `conf.d` instances |
//! | anything else | the [`PythonHost`] | `datadog_checks.<name>` if installed, else `<name>.py` from checks.d |
//!
//! So a `checks.d/mysql.py` never replaces the MySQL check, as under the Agent, where the installed
//! integration wins over checks.d.
//!
//! A check that cannot be loaded (a missing Python module, a bad MySQL instance) becomes a
//! [`LoadingError`], shown under *Loading Errors* in `status`; the other checks load and run.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::stats::Loader;
use crate::check::{CheckError, CheckOutput};
use crate::config::checks::default_instance;
use crate::config::{CheckConfig, CheckId, ConfD, Instance};
use crate::mysql::MysqlCheck;
use crate::python::{CheckHandle, HostInfo, LoadError, PythonHost, PythonHostOptions};
use crate::system::{self, SystemCheck};

/// A boxed run, so checks of every kind fit one trait object.
pub type RunFuture<'a> = Pin<Box<dyn Future<Output = CheckOutput> + Send + 'a>>;

/// A check instance the collector can run. A run never fails: what went wrong is in the output's
/// `error`. Runs of one instance never overlap.
pub trait Check: Send + fmt::Debug {
    /// Runs once; a run that takes longer than `timeout` is stopped and reported as an error.
    fn run(&mut self, timeout: Duration) -> RunFuture<'_>;
}

/// What the collector knows about an instance besides how to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckInfo {
    pub name: String,
    pub id: CheckId,
    pub version: Option<String>,
    pub loader: Loader,
    /// `file:<path>`, or `default` for a core check without configuration.
    pub source: String,
    pub interval: Duration,
    /// Added to every metric, service check and event of the instance: `service:<service>`, and for
    /// core checks the instance's `tags` (Python checks and the MySQL check add those themselves).
    pub added_tags: Vec<String>,
}

/// A check instance ready to be scheduled.
#[derive(Debug)]
pub struct LoadedCheck {
    pub info: CheckInfo,
    pub check: Box<dyn Check>,
}

/// A configured instance that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadingError {
    pub check: String,
    /// `file:<path>` of the configuration.
    pub source: String,
    /// The instance's check ID.
    pub check_id: String,
    pub error: String,
    pub traceback: String,
}

/// How to load checks. Every field says its default ([`Default`]).
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// How to start the Python check host, if any check needs it (started once, on first need).
    /// Default: [`PythonHostOptions::default`].
    pub python: PythonHostOptions,
    /// Run the core checks that have no configuration with a default instance. Default true.
    pub core_checks: bool,
    /// Load only the check of this name (`ddlab-agent check <name>`). Default all.
    pub only: Option<String>,
}

/// The result of loading `conf.d`.
#[derive(Debug, Default)]
pub struct LoadedChecks {
    pub checks: Vec<LoadedCheck>,
    pub errors: Vec<LoadingError>,
    /// The Python host, when a Python check was configured and the host started.
    pub python: Option<Arc<PythonHost>>,
    /// What the Python host reported at start.
    pub python_info: Option<HostInfo>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            python: PythonHostOptions::default(),
            core_checks: true,
            only: None,
        }
    }
}

/// Loads every instance of every check in `confd` (and the default core checks).
pub async fn load_checks(confd: &ConfD, options: LoadOptions) -> LoadedChecks {
    let wanted = |name: &str| options.only.as_deref().is_none_or(|only| only == name);
    let mut configs: Vec<CheckConfig> = confd.checks.iter().filter(|c| wanted(&c.name)).cloned().collect();
    if options.core_checks {
        for name in system::NAMES {
            if wanted(name) && !confd.checks.iter().any(|c| c.name == name) {
                configs.push(CheckConfig {
                    name: name.to_owned(),
                    source: Path::new("default").to_path_buf(),
                    init_config: serde_json::Value::Null,
                    instances: vec![default_instance(name)],
                });
            }
        }
    }
    let mut loaded = LoadedChecks::default();
    let mut python_failed: Option<String> = None;
    for config in &configs {
        for instance in &config.instances {
            let outcome = if config.name == "mysql" {
                load_mysql(config, instance)
            } else if let Some(check) = SystemCheck::new(&config.name, instance) {
                Ok(core(config, instance, check))
            } else {
                load_python(config, instance, &options.python, &mut loaded, &mut python_failed).await
            };
            match outcome {
                Ok(check) => loaded.checks.push(check),
                Err(error) => {
                    tracing::error!(
                        check = %config.name,
                        source = %config.source.display(),
                        error = %error.error,
                        "could not load a check instance; the other checks still run"
                    );
                    loaded.errors.push(error);
                }
            }
        }
    }
    loaded
}

fn source(config: &CheckConfig) -> String {
    if config.source == Path::new("default") {
        "default".to_owned()
    } else {
        format!("file:{}", config.source.display())
    }
}

fn info(config: &CheckConfig, instance: &Instance, loader: Loader, version: Option<String>) -> CheckInfo {
    let mut added_tags = Vec::new();
    if loader == Loader::Core {
        added_tags.extend(instance.tags.iter().cloned());
    }
    if let Some(service) = &instance.service {
        added_tags.push(format!("service:{service}"));
    }
    CheckInfo {
        name: config.name.clone(),
        id: instance.id.clone(),
        version,
        loader,
        source: source(config),
        interval: instance.interval,
        added_tags,
    }
}

fn loading_error(
    config: &CheckConfig,
    instance: &Instance,
    error: String,
    traceback: String,
) -> LoadingError {
    LoadingError {
        check: config.name.clone(),
        source: source(config),
        check_id: instance.id.to_string(),
        error,
        traceback,
    }
}

fn load_mysql(config: &CheckConfig, instance: &Instance) -> Result<LoadedCheck, LoadingError> {
    match MysqlCheck::from_instance(instance) {
        Ok(check) => Ok(LoadedCheck {
            info: info(config, instance, Loader::Native, None),
            check: Box::new(NativeMysql(check)),
        }),
        Err(err) => Err(loading_error(
            config,
            instance,
            err.to_string(),
            format!("{}: {err}", config.source.display()),
        )),
    }
}

fn core(config: &CheckConfig, instance: &Instance, check: SystemCheck) -> LoadedCheck {
    LoadedCheck {
        info: info(config, instance, Loader::Core, None),
        check: Box::new(Core {
            check: Some(check),
            pending: None,
        }),
    }
}

async fn load_python(
    config: &CheckConfig,
    instance: &Instance,
    options: &PythonHostOptions,
    loaded: &mut LoadedChecks,
    failed: &mut Option<String>,
) -> Result<LoadedCheck, LoadingError> {
    if let Some(message) = failed {
        return Err(loading_error(config, instance, message.clone(), String::new()));
    }
    let host = match &loaded.python {
        Some(host) => Arc::clone(host),
        None => match PythonHost::start(options.clone()).await {
            Ok(host) => {
                let host = Arc::new(host);
                loaded.python_info = Some(host.info().await);
                loaded.python = Some(Arc::clone(&host));
                host
            }
            Err(err) => {
                let message = err.to_string();
                tracing::error!(error = %message, "the Python check host did not start; Python checks cannot run");
                *failed = Some(message.clone());
                return Err(loading_error(config, instance, message, String::new()));
            }
        },
    };
    match host.load(config, instance).await {
        Ok(handle) => Ok(LoadedCheck {
            info: info(
                config,
                instance,
                Loader::Python,
                handle.version().map(str::to_owned),
            ),
            check: Box::new(PythonCheck { host, handle }),
        }),
        Err(err) => {
            let traceback = match &err {
                LoadError::Check { traceback, .. } => traceback.clone(),
                LoadError::Host(_) => String::new(),
            };
            Err(loading_error(config, instance, err.to_string(), traceback))
        }
    }
}

/// A Python check loaded in the shared host.
#[derive(Debug)]
struct PythonCheck {
    host: Arc<PythonHost>,
    handle: CheckHandle,
}

impl Check for PythonCheck {
    fn run(&mut self, timeout: Duration) -> RunFuture<'_> {
        Box::pin(async move {
            // The host bounds the run itself (and restarts the interpreter after an overrun), so the
            // request is never abandoned half-way.
            match self.host.run(&self.handle, timeout).await {
                Ok(output) => output,
                Err(err) => failed(err.to_string(), String::new()),
            }
        })
    }
}

/// The native MySQL check.
#[derive(Debug)]
struct NativeMysql(MysqlCheck);

impl Check for NativeMysql {
    fn run(&mut self, timeout: Duration) -> RunFuture<'_> {
        Box::pin(async move {
            match tokio::time::timeout(timeout, self.0.run()).await {
                Ok(output) => output,
                Err(_) => failed(
                    format!("the check did not finish within {timeout:?} and was stopped"),
                    format!("mysql check {}: timed out (ddlab_check_timeout)", self.0.id()),
                ),
            }
        })
    }
}

/// A core check, read on the blocking pool. A read that overruns the timeout (a hung network
/// filesystem under `statvfs`) cannot be cancelled: it is left to finish, and the check is taken back
/// when it does.
#[derive(Debug)]
struct Core {
    check: Option<SystemCheck>,
    pending: Option<JoinHandle<(SystemCheck, CheckOutput)>>,
}

impl Check for Core {
    fn run(&mut self, timeout: Duration) -> RunFuture<'_> {
        Box::pin(async move {
            if let Some(pending) = self.pending.take() {
                if pending.is_finished() {
                    if let Ok((check, _stale)) = pending.await {
                        self.check = Some(check);
                    }
                } else {
                    self.pending = Some(pending);
                    return failed(
                        "the previous run has still not finished".to_owned(),
                        "a read of /proc or a filesystem is blocked".to_owned(),
                    );
                }
            }
            let Some(mut check) = self.check.take() else {
                return failed("the check was lost after a failed run".to_owned(), String::new());
            };
            let mut handle = tokio::task::spawn_blocking(move || {
                let output = check.collect();
                (check, output)
            });
            match tokio::time::timeout(timeout, &mut handle).await {
                Ok(Ok((check, output))) => {
                    self.check = Some(check);
                    output
                }
                Ok(Err(err)) => failed(format!("the check failed: {err}"), String::new()),
                Err(_) => {
                    self.pending = Some(handle);
                    failed(
                        format!("the check did not finish within {timeout:?}"),
                        "a read of /proc or a filesystem is blocked".to_owned(),
                    )
                }
            }
        })
    }
}

fn failed(message: String, traceback: String) -> CheckOutput {
    CheckOutput {
        error: Some(CheckError { message, traceback }),
        ..CheckOutput::default()
    }
}
