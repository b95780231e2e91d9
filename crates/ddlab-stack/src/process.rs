//! The stack's processes: started detached with their output in a log file, recorded in a pid file with
//! the process's start time (so a recycled pid is never mistaken for ours), checked and stopped.
//!
//! Run and log folders are created 0700 and their files 0600: a component's log holds whatever it
//! prints, and only the lab's owner may read it.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where a component's run files live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    pub pid_file: PathBuf,
    pub log_file: PathBuf,
}

impl RunFiles {
    pub fn new(run_dir: &Path, log_dir: &Path, component: &str) -> Self {
        Self {
            pid_file: run_dir.join(format!("{component}.pid")),
            log_file: log_dir.join(format!("{component}.log")),
        }
    }
}

/// A recorded process: its pid and the start time the kernel gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub pid: u32,
    pub start_ticks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Starts `command` detached (its own process group, so the caller's Ctrl-C does not reach it), appending
/// its output to the log file, and records it in the pid file.
pub fn spawn(command: &mut Command, files: &RunFiles) -> Result<Recorded, ProcessError> {
    use std::os::unix::process::CommandExt as _;
    for path in [&files.pid_file, &files.log_file] {
        if let Some(dir) = path.parent() {
            private_dir(dir).map_err(|source| ProcessError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    let log_error = |source| ProcessError::Write {
        path: files.log_file.clone(),
        source,
    };
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&files.log_file)
        .map_err(log_error)?;
    // A log file from before logs were private is narrowed too.
    log.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(log_error)?;
    let log_err = log.try_clone().map_err(|source| ProcessError::Write {
        path: files.log_file.clone(),
        source,
    })?;
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|source| ProcessError::Spawn { program, source })?;
    let pid = child.id();
    // The child is not waited for: it outlives this process, and init reaps it.
    drop(child);
    let recorded = Recorded {
        pid,
        start_ticks: start_ticks(pid).unwrap_or(0),
    };
    private_file(
        &files.pid_file,
        format!("{} {}\n", recorded.pid, recorded.start_ticks).as_bytes(),
    )
    .map_err(|source| ProcessError::Write {
        path: files.pid_file.clone(),
        source,
    })?;
    Ok(recorded)
}

/// Creates `dir` and its missing parents with mode 0700, and narrows `dir` itself to 0700 if it existed.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes `bytes` to `path` with mode 0600, replacing what was there.
pub fn private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// The process recorded in `pid_file`, if it is still the one that was started and has not exited.
pub fn running(pid_file: &Path) -> Option<Recorded> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    let mut fields = text.split_whitespace();
    let pid: u32 = fields.next()?.parse().ok()?;
    let start: u64 = fields.next()?.parse().ok()?;
    let now = start_ticks(pid)?;
    let state = process_state(pid)?;
    (now == start && state != 'Z' && state != 'X').then_some(Recorded {
        pid,
        start_ticks: start,
    })
}

/// Stops the recorded process: SIGTERM, then SIGKILL after `grace`. Removes the pid file.
pub fn stop(pid_file: &Path, grace: Duration) -> bool {
    let Some(recorded) = running(pid_file) else {
        let _ = std::fs::remove_file(pid_file);
        return false;
    };
    let pid = Pid::from_raw(i32::try_from(recorded.pid).unwrap_or(i32::MAX));
    let _ = kill(pid, Signal::SIGTERM);
    if !wait_until(grace, || running(pid_file).is_none()) {
        let _ = kill(pid, Signal::SIGKILL);
        wait_until(Duration::from_secs(5), || running(pid_file).is_none());
    }
    let _ = std::fs::remove_file(pid_file);
    true
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut tail: Vec<String> = text.lines().rev().take(lines).map(str::to_owned).collect();
    tail.reverse();
    tail
}

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
fn start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

fn process_state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// The fields of /proc/<pid>/stat after the command name (which may hold spaces), starting at field 3.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// Polls `ready` until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_track_and_stop_a_detached_process() {
        let dir = tempfile::tempdir().unwrap();
        let files = RunFiles::new(&dir.path().join("run"), &dir.path().join("logs"), "sleeper");
        let recorded = spawn(
            Command::new("sh").args(["-c", "echo started; exec sleep 30"]),
            &files,
        )
        .unwrap();
        assert_eq!(running(&files.pid_file), Some(recorded));
        assert!(wait_until(Duration::from_secs(10), || log_tail(
            &files.log_file,
            5
        ) == ["started"]));
        assert!(stop(&files.pid_file, Duration::from_secs(5)));
        assert_eq!(running(&files.pid_file), None);
        assert!(!files.pid_file.exists());
        assert!(
            !stop(&files.pid_file, Duration::from_secs(1)),
            "nothing left to stop"
        );
    }

    #[test]
    fn run_and_log_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        // A log left readable by an older version is narrowed at the next start.
        std::fs::create_dir(&logs).unwrap();
        std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(logs.join("quiet.log"), "old\n").unwrap();
        std::fs::set_permissions(logs.join("quiet.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let files = RunFiles::new(&dir.path().join("state/run"), &logs, "quiet");
        spawn(&mut Command::new("true"), &files).unwrap();
        let mode = |path: &Path| {
            format!(
                "{:o}",
                std::fs::metadata(path).unwrap().permissions().mode() & 0o777
            )
        };
        assert_eq!(mode(&dir.path().join("state")), "700");
        assert_eq!(mode(&dir.path().join("state/run")), "700");
        assert_eq!(mode(&logs), "700");
        assert_eq!(mode(&files.pid_file), "600");
        assert_eq!(mode(&files.log_file), "600");
    }

    #[test]
    fn a_recycled_pid_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("x.pid");
        // Our own pid with a start time that cannot be ours.
        std::fs::write(&pid_file, format!("{} 1\n", std::process::id())).unwrap();
        assert_eq!(running(&pid_file), None);
    }
}
