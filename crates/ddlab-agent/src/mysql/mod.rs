//! The native MySQL check: the `mysql` integration of the Datadog Agent (integrations-core `mysql/`),
//! rebuilt on `mysql_async` so the lab needs no Python wheel that PyPI does not carry.
//!
//! A run does what the integration's `check()` does, in its order (reference/agent.md §7.3): connect and
//! report `mysql.can_connect`; read the version and set `version.*` and `flavor` metadata; read `SHOW GLOBAL
//! STATUS` and `SHOW GLOBAL VARIABLES`; parse `SHOW ENGINE INNODB STATUS`; sum `SHOW BINARY LOGS`; derive the
//! key cache and buffer pool values; run the optional collections (`extra_*`, replication, schema sizes,
//! performance_schema); send every metric with the integration's name and submission type; read the
//! server process's CPU time when it runs here; run custom queries.
//!
//! **Invariant:** a query that fails for lack of a privilege is a warning with the integration's wording
//! (`… (must grant PROCESS): (1227, '…')`), and the run goes on without that query's metrics, so a
//! wrong grants script looks exactly as it does on a real Agent. Only a failed connection, or a failure
//! the integration itself does not catch, makes the run an error.
//!
//! **Boundary:** the check submits raw values with their [`SubmissionKind`](crate::check::SubmissionKind);
//! rates and monotonic deltas between runs are the aggregator's job. The instance `tags` are already on
//! every submission, as the Python integration adds them itself; the collector must not add them again.

mod collect;
mod config;
mod innodb;
mod metrics;
mod queries;
mod system;
mod version;

use std::path::Path;
use std::time::Duration;

use ddlab_wire::check_run::CheckStatus;
use mysql_async::{Conn, OptsBuilder};

use crate::check::{
    CheckError, CheckLog, CheckOutput, MetricSubmission, ServiceCheckSubmission, SubmissionKind,
};
use crate::config::{CheckId, Instance};

pub use config::{
    ColumnKind, ConfigError, CustomColumn, CustomQuery, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CUSTOM_QUERIES,
    ExtraMetric, LegacyQuery, MysqlConfig, MysqlOptions, Password,
};
pub use version::ServerVersion;

/// The service check every run sends: OK when the connection succeeds, CRITICAL otherwise.
pub const SERVICE_CHECK_NAME: &str = "mysql.can_connect";
/// The replication service check (older name), sent with `options.replication`.
pub const SLAVE_SERVICE_CHECK_NAME: &str = "mysql.replication.slave_running";
/// The replication service check (newer name), sent with `options.replication`.
pub const REPLICA_SERVICE_CHECK_NAME: &str = "mysql.replication.replica_running";

/// One configured MySQL instance, and what it remembers between runs.
#[derive(Debug)]
pub struct MysqlCheck {
    id: CheckId,
    config: MysqlConfig,
    state: State,
}

/// Python's logging levels, as [`CheckLog::level`] carries them.
const WARNING: u8 = 30;
const ERROR: u8 = 40;

/// What the integration keeps on the check object from one run to the next.
#[derive(Debug, Default)]
struct State {
    /// `Qcache_hits`, `Qcache_inserts`, `Qcache_not_cached` of the previous run, for the instant
    /// query cache utilisation.
    qcache: Option<(i64, i64, i64)>,
    /// Deprecation notices are logged on the first run only.
    deprecations_logged: bool,
}

impl MysqlCheck {
    /// Reads the instance's configuration; nothing connects until [`MysqlCheck::run`].
    pub fn from_instance(instance: &Instance) -> Result<Self, ConfigError> {
        Ok(MysqlCheck {
            id: instance.id.clone(),
            config: MysqlConfig::from_instance(instance)?,
            state: State::default(),
        })
    }

    pub fn id(&self) -> &CheckId {
        &self.id
    }

    pub fn config(&self) -> &MysqlConfig {
        &self.config
    }

    /// One run: connect, collect, disconnect. Never fails: problems are in the output's `warnings`,
    /// `logs` and `error`, with what was submitted before them.
    pub async fn run(&mut self) -> CheckOutput {
        let mut run = Run::new(&self.config);
        if !self.state.deprecations_logged {
            for (old, new) in &self.config.deprecated_keys {
                run.log(
                    WARNING,
                    format!(
                        "DEPRECATION NOTICE: `{old}` has been renamed to `{new}`; \
                         the old name will be removed"
                    ),
                );
            }
            if self.config.dbm {
                run.log(
                    WARNING,
                    "dbm is set: ddlab-agent turns on the options it implies but does not collect Database \
                     Monitoring samples"
                        .to_owned(),
                );
            }
            self.state.deprecations_logged = true;
        }
        let service_check_tags = run.service_check_tags();
        let mut conn = match connect(&self.config).await {
            Ok(conn) => {
                run.service_check(SERVICE_CHECK_NAME, CheckStatus::Ok, service_check_tags);
                conn
            }
            Err(failure) => {
                run.service_check(SERVICE_CHECK_NAME, CheckStatus::Critical, service_check_tags);
                run.out.error = Some(failure);
                return run.out;
            }
        };
        if let Err(failure) = collect::collect(&mut conn, &mut run, &mut self.state).await {
            run.out.error = Some(failure.into_check_error());
        }
        // The run's data is complete; a failed goodbye changes nothing the Agent would report.
        let _ = conn.disconnect().await;
        run.out
    }
}

/// The output of one run being built, with the integration's submission helpers.
struct Run<'a> {
    config: &'a MysqlConfig,
    /// `hostname=` on every submission: the Agent's own unless DBM or `disable_generic_tags` names a
    /// remote server.
    hostname: Option<String>,
    out: CheckOutput,
}

impl<'a> Run<'a> {
    fn new(config: &'a MysqlConfig) -> Self {
        let local = system::server_is_local(&config.host, config.sock.is_some());
        let hostname = ((config.dbm || config.disable_generic_tags) && !local && !config.host.is_empty())
            .then(|| config.host.clone());
        Run {
            config,
            hostname,
            out: CheckOutput::default(),
        }
    }

    /// `port:<port|unix_socket>`, the instance tags, then `server:<sock or host>`.
    fn service_check_tags(&self) -> Vec<String> {
        let config = self.config;
        let port = match config.port {
            0 => "unix_socket".to_owned(),
            port => port.to_string(),
        };
        let mut tags = vec![format!("port:{port}")];
        tags.extend(config.tags.iter().cloned());
        if !config.disable_generic_tags {
            tags.push(format!(
                "server:{}",
                config.sock.as_deref().unwrap_or(&config.host)
            ));
        }
        tags
    }

    fn metric(&mut self, kind: SubmissionKind, name: &str, value: f64, tags: Vec<String>) {
        self.out.metrics.push(MetricSubmission {
            kind,
            name: name.to_owned(),
            value,
            tags,
            hostname: self.hostname.clone(),
            flush_first_value: false,
        });
    }

    fn service_check(&mut self, name: &str, status: CheckStatus, tags: Vec<String>) {
        self.out.service_checks.push(ServiceCheckSubmission {
            name: name.to_owned(),
            status,
            tags,
            hostname: self.hostname.clone(),
            message: None,
        });
    }

    /// `self.warning(...)`: shown under the instance in `status`, and logged.
    fn warning(&mut self, message: String) {
        self.log(WARNING, message.clone());
        self.out.warnings.push(message);
    }

    fn log(&mut self, level: u8, message: String) {
        self.out.logs.push(CheckLog { level, message });
    }
}

/// Where and as whom to connect, after `defaults_file` is applied.
struct Target {
    host: String,
    port: u16,
    socket: Option<String>,
    user: String,
    password: Password,
}

async fn target(config: &MysqlConfig) -> Result<Target, CheckError> {
    let Some(path) = &config.defaults_file else {
        return Ok(Target {
            host: config.host.clone(),
            port: if config.port == 0 { 3306 } else { config.port },
            socket: config.sock.clone(),
            user: config.username.clone(),
            password: config.password.clone(),
        });
    };
    let defaults = read_defaults_file(path).await.map_err(|message| CheckError {
        traceback: format!("mysql check: defaults_file {}: {message}", path.display()),
        message,
    })?;
    Ok(Target {
        host: defaults.host.unwrap_or_else(|| "localhost".to_owned()),
        port: defaults.port.unwrap_or(3306),
        socket: defaults.socket,
        user: defaults.user.unwrap_or_default(),
        password: defaults.password.unwrap_or_default(),
    })
}

async fn read_defaults_file(path: &Path) -> Result<config::ClientDefaults, String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|err| format!("cannot read defaults_file {}: {err}", path.display()))?;
    config::parse_defaults_file(&text).map_err(|err| format!("defaults_file {}: {err}", path.display()))
}

/// Opens the run's connection; a failure reads as PyMySQL's `OperationalError` would.
async fn connect(config: &MysqlConfig) -> Result<Conn, CheckError> {
    let target = target(config).await?;
    let mut opts = OptsBuilder::default()
        .user(Some(target.user.clone()))
        .pass(Some(target.password.expose()).filter(|p| !p.is_empty()))
        // mysql_async would otherwise switch a TCP connection to the server's socket, changing the
        // account the server matches ('localhost' instead of '127.0.0.1').
        .prefer_socket(false)
        .stmt_cache_size(0);
    let place = match &target.socket {
        Some(socket) => {
            opts = opts.socket(Some(socket.clone()));
            socket.clone()
        }
        None => {
            opts = opts.ip_or_hostname(target.host.clone()).tcp_port(target.port);
            format!("{}:{}", target.host, target.port)
        }
    };
    let shown_host = if target.host.is_empty() {
        "localhost"
    } else {
        &target.host
    };
    let result = tokio::time::timeout(config.connect_timeout, Conn::new(opts)).await;
    let error = match result {
        Ok(Ok(conn)) => return Ok(conn),
        Ok(Err(err)) => err,
        Err(_) => {
            let message = format!(
                "(2003, \"Can't connect to MySQL server on {} (timed out)\")",
                queries::python_repr(shown_host)
            );
            return Err(CheckError {
                traceback: format!(
                    "mysql check: cannot connect to {place} as {:?}: no answer within {}",
                    target.user,
                    seconds(config.connect_timeout)
                ),
                message,
            });
        }
    };
    let message = match &error {
        mysql_async::Error::Server(server) => queries::QueryError {
            code: server.code,
            message: server.message.clone(),
        }
        .to_string(),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => format!(
            "(2003, {})",
            queries::python_repr(&format!(
                "Can't connect to MySQL server on {} ({})",
                queries::python_repr(shown_host),
                python_os_error(io)
            ))
        ),
        other => other.to_string(),
    };
    Err(CheckError {
        traceback: format!(
            "mysql check: cannot connect to {place} as {:?}: {error}",
            target.user
        ),
        message,
    })
}

/// Python's text for an `OSError`: `[Errno 111] Connection refused`.
fn python_os_error(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let text = err.to_string();
            let suffix = format!(" (os error {code})");
            format!("[Errno {code}] {}", text.strip_suffix(&suffix).unwrap_or(&text))
        }
        None => err.to_string(),
    }
}

fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_like_python() {
        let err = std::io::Error::from_raw_os_error(111);
        assert_eq!(python_os_error(&err), "[Errno 111] Connection refused");
    }
}
