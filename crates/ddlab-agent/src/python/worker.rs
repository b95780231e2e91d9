//! One Python host process: spawning it, one request and its answer at a time, its stderr, its end.
//!
//! The process speaks the protocol on its stdin and stdout (see `protocol.rs`). Its stderr carries
//! the host's own log lines (`ddlab-log {json}`), which become `tracing` events, and anything else
//! the interpreter or a check's native code writes there, which is logged as a warning and kept in a
//! short tail that crash reports quote.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::protocol::{Answer, HostFailure, TimedOut};

/// How many raw stderr lines a crash report quotes.
const STDERR_TAIL: usize = 40;
/// How long a process that closed its protocol pipe gets to exit before it is killed.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// How long a dead process's last stderr lines are waited for before a crash report quotes the tail.
const STDERR_SETTLE: Duration = Duration::from_secs(1);
/// The prefix of the host's own log lines on stderr (`ddlab_runtime.LOG_PREFIX`).
const LOG_PREFIX: &str = "ddlab-log ";

/// How to start a host process.
#[derive(Debug, Clone)]
pub(crate) struct Spawn<'a> {
    pub python: &'a Path,
    pub script: &'a Path,
    /// `PYTHONPATH`, in order.
    pub python_path: &'a [PathBuf],
}

/// A running host process.
#[derive(Debug)]
pub(crate) struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    tail: Arc<Mutex<VecDeque<String>>>,
    drain: JoinHandle<()>,
    /// Whether `drain` has finished (a finished JoinHandle must not be polled again).
    drained: bool,
    next_id: u64,
    pid: Option<u32>,
}

/// A request answered by the host.
#[derive(Debug)]
pub(crate) enum Reply {
    Ok(Value),
    Failed(HostFailure),
    /// Only for `run`: the check overran its timeout and the host is exiting.
    TimedOut(Box<TimedOut>),
}

/// Why a request got no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The request could not even be written: the process was already gone.
    NotRunning { status: String, stderr: String },
    /// The process ended before answering.
    Exited { status: String, stderr: String },
    /// No answer before the deadline; the process is still running.
    Deadline,
    /// An answer that does not follow the protocol.
    Protocol(String),
}

impl Worker {
    pub(crate) fn spawn(spawn: &Spawn<'_>) -> std::io::Result<Worker> {
        let python_path = std::env::join_paths(spawn.python_path)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
        let mut child = Command::new(spawn.python)
            .arg(spawn.script)
            .env("PYTHONPATH", python_path)
            // Checks print UTF-8 whatever the locale, as in the Agent's embedded interpreter.
            .env("PYTHONUTF8", "1")
            .env("PYTHONIOENCODING", "utf-8")
            // No __pycache__ folders in the candidate's checks.d.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the child process has no pipes"));
        };
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let drain = tokio::spawn(drain_stderr(stderr, Arc::clone(&tail), pid));
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            tail,
            drain,
            drained: false,
            next_id: 1,
            pid,
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process has ended, with its exit status.
    pub(crate) fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(err) => Some(format!("unknown status ({err})")),
        }
    }

    /// Sends `request` (an object without `id`) and waits for its answer until `deadline`.
    pub(crate) async fn request(&mut self, mut request: Value, deadline: Instant) -> Result<Reply, Failure> {
        let id = self.next_id;
        self.next_id += 1;
        if let Value::Object(map) = &mut request {
            map.insert("id".into(), id.into());
        }
        let mut line = request.to_string();
        line.push('\n');
        // A process found dead before the request reached it never saw the request: the caller may
        // start another one and send it again. Once written, the request may be what killed it.
        if let Some(status) = self.exit_status() {
            self.settle_stderr(STDERR_SETTLE).await;
            return Err(Failure::NotRunning {
                status,
                stderr: self.stderr_tail(),
            });
        }
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        };
        match tokio::time::timeout_at(deadline, written).await {
            Err(_) => return Err(Failure::Deadline),
            Ok(Err(_)) => {
                let status = self.wait_for_exit().await;
                self.settle_stderr(STDERR_SETTLE).await;
                return Err(Failure::NotRunning {
                    status,
                    stderr: self.stderr_tail(),
                });
            }
            Ok(Ok(())) => {}
        }
        loop {
            let mut answer = String::new();
            let read = match tokio::time::timeout_at(deadline, self.stdout.read_line(&mut answer)).await {
                Err(_) => return Err(Failure::Deadline),
                Ok(read) => read,
            };
            match read {
                Ok(0) => {
                    let status = self.wait_for_exit().await;
                    self.settle_stderr(STDERR_SETTLE).await;
                    return Err(Failure::Exited {
                        status,
                        stderr: self.stderr_tail(),
                    });
                }
                Ok(_) if answer.trim().is_empty() => continue,
                Ok(_) => return parse_answer(id, &answer),
                Err(err) => return Err(Failure::Protocol(format!("cannot read the answer: {err}"))),
            }
        }
    }

    /// Ends the process (it may be gone already) and returns its exit status.
    pub(crate) async fn kill(mut self) -> String {
        if self.exit_status().is_none() {
            // An error here means the process has just exited, which is what we want.
            let _ = self.child.start_kill();
        }
        let status = self.wait_for_exit().await;
        self.settle_stderr(EXIT_WAIT).await;
        self.drain.abort();
        status
    }

    /// Waits for the process to exit after it closed its protocol pipe, killing it if it lingers.
    async fn wait_for_exit(&mut self) -> String {
        match tokio::time::timeout(EXIT_WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(err)) => format!("unknown status ({err})"),
            Err(_) => {
                let _ = self.child.start_kill();
                match self.child.wait().await {
                    Ok(status) => format!("{status}, killed after it stopped answering"),
                    Err(err) => format!("unknown status ({err})"),
                }
            }
        }
    }

    /// Lets the stderr reader take in the last lines of a process that has exited. The wait is
    /// bounded: a grandchild process that inherited stderr could keep the pipe open forever.
    async fn settle_stderr(&mut self, wait: Duration) {
        if !self.drained && tokio::time::timeout(wait, &mut self.drain).await.is_ok() {
            self.drained = true;
        }
    }

    /// The last raw lines of stderr, oldest first.
    pub(crate) fn stderr_tail(&self) -> String {
        let tail = lock(&self.tail);
        tail.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The child is killed by `kill_on_drop`; the reader ends with its pipe, or here.
        self.drain.abort();
    }
}

fn parse_answer(id: u64, line: &str) -> Result<Reply, Failure> {
    let answer: Answer = serde_json::from_str(line)
        .map_err(|err| Failure::Protocol(format!("answer is not valid: {err}: {}", clip(line))))?;
    if answer.id != Some(id) {
        return Err(Failure::Protocol(format!(
            "expected the answer to request {id}, got {:?}: {}",
            answer.id,
            clip(line)
        )));
    }
    match (answer.ok, answer.error, answer.timeout) {
        (Some(ok), None, None) => Ok(Reply::Ok(ok)),
        (None, Some(error), None) => Ok(Reply::Failed(error)),
        (None, None, Some(timeout)) => Ok(Reply::TimedOut(Box::new(timeout))),
        _ => Err(Failure::Protocol(format!(
            "an answer has exactly one of ok, error and timeout: {}",
            clip(line)
        ))),
    }
}

fn clip(line: &str) -> &str {
    let line = line.trim_end();
    match line.char_indices().nth(300) {
        Some((index, _)) => &line[..index],
        None => line,
    }
}

async fn drain_stderr(stderr: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>, pid: Option<u32>) {
    let mut lines = BufReader::new(stderr).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(pid, error = %err, "cannot read the Python check host's stderr");
                return;
            }
        };
        if let Some((level, message)) = host_log(&line) {
            match level {
                40.. => tracing::error!(pid, python_level = level, "{message}"),
                30..=39 => tracing::warn!(pid, python_level = level, "{message}"),
                20..=29 => tracing::info!(pid, python_level = level, "{message}"),
                _ => tracing::debug!(pid, python_level = level, "{message}"),
            }
            continue;
        }
        tracing::warn!(pid, line = %line, "the Python check host wrote to stderr");
        let mut tail = lock(&tail);
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

fn host_log(line: &str) -> Option<(i64, String)> {
    #[derive(serde::Deserialize)]
    struct HostLog {
        level: i64,
        message: String,
    }
    let log: HostLog = serde_json::from_str(line.strip_prefix(LOG_PREFIX)?).ok()?;
    Some((log.level, log.message))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The tail is plain data: a panic while it was held cannot leave it inconsistent.
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
