//! The lifecycle of the Python check host's processes: starting one, replacing one that died or stopped
//! answering, and isolating the check that cost the shared one into a process of its own.
//!
//! Every check is loaded into one shared process, where checks run one at a time: a run holds the
//! process until it answers. A run that overruns its timeout is answered with the check's stack and the
//! process exits; a process that dies (a check calling `os._exit`, a crash in native code, a kill from
//! outside) is noticed on the next request or during the run. Either way a new process is started and
//! the loaded checks are loaded again; the failed run reports what happened as its error. The check
//! whose run cost the shared process is then *isolated*: it is not loaded into the new shared process
//! but into a process of its own, started at its next run, so a check that hangs or crashes at every
//! run costs only its own process from then on, and the other checks run on schedule beside it
//! (`status` lists isolated checks and why). Check objects otherwise live as long as their process, so
//! rates and other per-check state carry over between runs.
//!
//! An [`Interpreter`] is one such process slot: its [`State`] holds the process (absent until first
//! needed, or after it failed to start) and every check registered in it, with the `load` request that
//! loads the check again into a replacement. [`Placement`] says which interpreter each check runs in.
//! Every request goes through [`PythonHost::exchange`], which turns a dead or stuck process into
//! [`Exchange::Lost`] after replacing it; every replacement counts towards [`PythonHost::restarts`],
//! and the way a request ended ([`Abort::Crash`] or [`Abort::Timeout`]) is handed back for the run's
//! output. The request side (what is asked and how answers become outputs) lives in `mod.rs` and
//! `protocol.rs`; one process's pipes live in `worker.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::protocol::{self, HostFailure, Init};
use super::worker::{Failure, Reply, Spawn, Worker};
use super::{CheckHandle, HostError, HostInfo, IsolatedCheck, PythonHost, modules};
use crate::check::Abort;
use crate::config::CheckId;

/// Where the loaded checks run.
#[derive(Debug, Default)]
pub(super) struct Placement {
    /// Checks isolated in an interpreter of their own, by handle.
    pub(super) isolated: BTreeMap<u64, (Arc<Interpreter>, IsolatedCheck)>,
    /// Every loaded check's ID, by handle (to refuse loading an instance twice).
    pub(super) loaded: BTreeMap<u64, CheckId>,
}

/// One Python process and the checks loaded into it, to load them again into its replacement.
#[derive(Debug)]
pub(super) struct Interpreter {
    pub(super) state: Mutex<State>,
}

/// One check as the host remembers it, to load it again in a new process.
#[derive(Debug)]
pub(super) struct Registered {
    pub(super) name: String,
    pub(super) check_id: CheckId,
    pub(super) config: PathBuf,
    pub(super) request: Value,
    /// Set when loading it again into a new process failed; the next run tries once more.
    pub(super) reload_error: Option<HostFailure>,
}

/// One interpreter's process (absent until first needed, or after it failed to start) and checks.
#[derive(Debug)]
pub(super) struct State {
    /// Whether this is the shared interpreter (whose pid `status` shows).
    pub(super) shared: bool,
    pub(super) worker: Option<Worker>,
    pub(super) info: HostInfo,
    pub(super) checks: BTreeMap<u64, Registered>,
}

/// The result of one request, after the host dealt with a dead or stuck process.
pub(super) enum Exchange {
    Answered(Reply),
    /// The process died or stopped answering during the request and was replaced: `cause` says what
    /// happened, `note` how the replacement went.
    Lost {
        cause: String,
        note: String,
        stderr: String,
        /// The check that was running, taken out of the process before its replacement.
        removed: Option<Registered>,
        /// How the request ended: the process died ([`Abort::Crash`]) or stopped answering
        /// ([`Abort::Timeout`]).
        abort: Abort,
    },
}

impl Interpreter {
    /// An interpreter whose process starts when first needed.
    pub(super) fn new(shared: bool, checks: BTreeMap<u64, Registered>) -> Arc<Interpreter> {
        Arc::new(Interpreter {
            state: Mutex::new(State {
                shared,
                worker: None,
                info: HostInfo {
                    python_version: String::new(),
                    executable: PathBuf::new(),
                    base_version: None,
                    base_error: None,
                    pid: 0,
                    modules_dir: PathBuf::new(),
                },
                checks,
            }),
        })
    }
}

impl PythonHost {
    pub(super) fn placement(&self) -> std::sync::MutexGuard<'_, Placement> {
        self.placement
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn interpreter_of(&self, handle: &CheckHandle) -> Arc<Interpreter> {
        self.placement().isolated.get(&handle.id).map_or_else(
            || Arc::clone(&self.shared),
            |(interpreter, _)| Arc::clone(interpreter),
        )
    }

    /// Gives `handle`'s check, taken out of the shared interpreter, an interpreter of its own, started
    /// at its next run.
    pub(super) fn isolate(
        &self,
        handle: &CheckHandle,
        registered: Registered,
        reason: &str,
    ) -> IsolatedCheck {
        let isolated = IsolatedCheck {
            check_id: handle.check_id.as_str().to_owned(),
            reason: reason.to_owned(),
        };
        let checks = BTreeMap::from([(
            handle.id,
            Registered {
                reload_error: None,
                ..registered
            },
        )]);
        tracing::warn!(check = %handle.check_id, reason, "isolating a Python check in an interpreter of its own");
        self.placement()
            .isolated
            .insert(handle.id, (Interpreter::new(false, checks), isolated.clone()));
        isolated
    }

    /// Sends one request, starting a new process first if the current one is gone. A process found
    /// dead before the request reached it is replaced and the request sent again; one that dies or
    /// hangs while handling it is replaced, and the request is reported lost. Before that replacement,
    /// the check `culprit` (the one the request ran) is taken out of the process's checks and handed
    /// back in [`Exchange::Lost`], so the new process does not load it.
    pub(super) async fn exchange(
        &self,
        state: &mut State,
        request: Value,
        deadline: Instant,
        culprit: Option<u64>,
    ) -> Result<Exchange, HostError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if state.worker.is_none() {
                self.respawn(state).await?;
            }
            let Some(worker) = state.worker.as_mut() else {
                continue;
            };
            match worker.request(request.clone(), deadline).await {
                Ok(reply) => return Ok(Exchange::Answered(reply)),
                Err(Failure::NotRunning { status, stderr }) if attempts == 1 => {
                    tracing::warn!(%status, stderr = %stderr, "the Python check host had exited; starting it again");
                    if let Some(worker) = state.worker.take() {
                        worker.kill().await;
                    }
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                }
                Err(Failure::NotRunning { status, stderr }) | Err(Failure::Exited { status, stderr }) => {
                    let removed = culprit.and_then(|id| state.checks.remove(&id));
                    let restarted = self.replace_worker(state, "the Python check host exited").await;
                    return Ok(Exchange::Lost {
                        cause: format!("the Python check host exited ({status})"),
                        note: restarted_note(&restarted),
                        stderr,
                        removed,
                        abort: Abort::Crash,
                    });
                }
                Err(Failure::Deadline) => {
                    let stderr = worker.stderr_tail();
                    let removed = culprit.and_then(|id| state.checks.remove(&id));
                    let restarted = self
                        .replace_worker(state, "the Python check host stopped answering")
                        .await;
                    return Ok(Exchange::Lost {
                        cause: "the Python check host did not answer in time and was killed".to_owned(),
                        note: restarted_note(&restarted),
                        stderr,
                        removed,
                        abort: Abort::Timeout,
                    });
                }
                Err(Failure::Protocol(message)) => {
                    let stderr = worker.stderr_tail();
                    let removed = culprit.and_then(|id| state.checks.remove(&id));
                    let restarted = self
                        .replace_worker(state, "the Python check host broke the protocol")
                        .await;
                    return Ok(Exchange::Lost {
                        cause: format!("the Python check host broke the protocol ({message})"),
                        note: restarted_note(&restarted),
                        stderr,
                        removed,
                        abort: Abort::Crash,
                    });
                }
            }
        }
    }

    /// Kills the current process and starts a new one with every check loaded again.
    pub(super) async fn replace_worker(&self, state: &mut State, why: &str) -> Result<(), HostError> {
        if let Some(worker) = state.worker.take() {
            let status = worker.kill().await;
            tracing::warn!(%status, reason = why, "replacing the Python check host");
        }
        self.restarts.fetch_add(1, Ordering::Relaxed);
        let result = self.respawn(state).await;
        if let Err(err) = &result {
            tracing::error!(error = %err, "cannot start the Python check host again; checks cannot run until it starts");
        }
        result
    }

    /// Starts a process and loads every registered check into it. A check that fails to load is
    /// marked and retried at its next run; one whose import kills the process is marked and the
    /// remaining checks are loaded into yet another process.
    pub(super) async fn respawn(&self, state: &mut State) -> Result<(), HostError> {
        let mut pending: Vec<u64> = state.checks.keys().copied().collect();
        loop {
            let (mut worker, info) = self.spawn().await?;
            let mut lost = None;
            while let Some(&id) = pending.first() {
                pending.remove(0);
                let Some(registered) = state.checks.get_mut(&id) else {
                    continue;
                };
                let deadline = Instant::now() + self.options.load_timeout;
                let failure = match worker.request(registered.request.clone(), deadline).await {
                    Ok(Reply::Ok(_)) => None,
                    Ok(Reply::Failed(failure)) => Some(failure),
                    Ok(Reply::TimedOut(timeout)) => Some(HostFailure {
                        message: timeout.message,
                        traceback: timeout.traceback,
                        file: None,
                        line: None,
                    }),
                    Err(failure) => {
                        let (message, traceback) = describe(&failure);
                        lost = Some(id);
                        Some(HostFailure {
                            message: format!("{message} while loading the check again"),
                            traceback,
                            file: None,
                            line: None,
                        })
                    }
                };
                if let Some(failure) = &failure {
                    tracing::warn!(
                        check = %registered.check_id,
                        config = %registered.config.display(),
                        name = %registered.name,
                        error = %failure.message,
                        "a Python check could not be loaded again after a restart"
                    );
                }
                registered.reload_error = failure;
                if lost.is_some() {
                    break;
                }
            }
            if lost.is_none() {
                if state.shared {
                    self.pid.store(info.pid, Ordering::Relaxed);
                }
                state.info = info;
                state.worker = Some(worker);
                return Ok(());
            }
            worker.kill().await;
        }
    }

    /// Starts one process and sends it `init`.
    pub(super) async fn spawn(&self) -> Result<(Worker, HostInfo), HostError> {
        let python = &self.options.python;
        let mut python_path = vec![self.modules_dir.clone()];
        python_path.extend(self.options.python_path.iter().cloned());
        let script = self.modules_dir.join(modules::HOST_SCRIPT);
        let mut worker = Worker::spawn(&Spawn {
            python,
            script: &script,
            python_path: &python_path,
        })
        .map_err(|source| HostError::Spawn {
            python: python.clone(),
            source,
        })?;
        let started = self.started.duration_since(UNIX_EPOCH).unwrap_or_default();
        let init = protocol::init_request(&Init {
            version: &self.options.agent_version,
            hostname: &self.options.hostname,
            host_tags: &self.options.host_tags,
            config: &self.options.config,
            cache_dir: &self.cache_dir,
            checksd: &self.options.checksd,
            process_start_time: started.as_secs_f64(),
        });
        let deadline = Instant::now() + self.options.start_timeout;
        let start_error = |message: String| HostError::Start {
            python: python.clone(),
            message,
        };
        let answer = match worker.request(init, deadline).await {
            Ok(Reply::Ok(answer)) => answer,
            Ok(Reply::Failed(failure)) => {
                worker.kill().await;
                return Err(start_error(format!("{}\n{}", failure.message, failure.traceback)));
            }
            Ok(Reply::TimedOut(timeout)) => {
                worker.kill().await;
                return Err(start_error(timeout.message));
            }
            Err(failure) => {
                let (message, stderr) = describe(&failure);
                worker.kill().await;
                return Err(start_error(with_stderr(&message, &stderr)));
            }
        };
        let started: protocol::Started = match serde_json::from_value(answer) {
            Ok(started) => started,
            Err(err) => {
                worker.kill().await;
                return Err(start_error(format!("unexpected answer to init: {err}")));
            }
        };
        if started.protocol != 1 {
            worker.kill().await;
            return Err(start_error(format!(
                "the host script speaks protocol {}, this agent speaks 1",
                started.protocol
            )));
        }
        if let Some(error) = &started.base_error {
            tracing::warn!(python = %python.display(), error = %error, "datadog-checks-base is not usable; Python checks cannot load");
        }
        let info = HostInfo {
            python_version: started.python,
            executable: started.executable,
            base_version: started.base_version,
            base_error: started.base_error,
            pid: worker.pid().unwrap_or(started.pid),
            modules_dir: self.modules_dir.clone(),
        };
        Ok((worker, info))
    }
}

pub(super) fn restarted_note(restarted: &Result<(), HostError>) -> String {
    match restarted {
        Ok(()) => "the Python check host was restarted and the checks loaded again".to_owned(),
        Err(err) => format!("starting the Python check host again failed: {err}"),
    }
}

fn describe(failure: &Failure) -> (String, String) {
    match failure {
        Failure::NotRunning { status, stderr } | Failure::Exited { status, stderr } => {
            (format!("the Python check host exited ({status})"), stderr.clone())
        }
        Failure::Deadline => (
            "the Python check host did not answer in time".to_owned(),
            String::new(),
        ),
        Failure::Protocol(message) => (
            format!("the Python check host broke the protocol ({message})"),
            String::new(),
        ),
    }
}

fn with_stderr(message: &str, stderr: &str) -> String {
    if stderr.is_empty() {
        message.to_owned()
    } else {
        format!("{message}; its stderr ended with:\n{stderr}")
    }
}
