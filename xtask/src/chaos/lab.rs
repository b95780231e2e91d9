//! What the fault scenarios share: a scenario's lab (its folder, a backend with the suite's keys, and
//! agent configurations pointing at it), the real agent as a process (its config folder, start,
//! SIGTERM, and `ddlab-agent status --json`), a private MariaDB from `ddlab-stack`, the backend's public
//! API, a DogStatsD sender, and bounded polling.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use ddlab_stack::mysql::{Programs, Server};
use ddlab_stack::process::RunFiles;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::time::MissedTickBehavior;

use super::Lab;
use crate::backend::LocalBackend;

/// The keys the suite's backends accept and its agents and clients send.
pub(crate) const API_KEY: &str = "0123456789abcdef0123456789abcdef";
pub(crate) const APP_KEY: &str = "0123456789abcdef0123456789abcdef01234567";

/// How long an agent may take to answer `status` after it was started.
const AGENT_START_LIMIT: Duration = Duration::from_secs(60);
/// How long an agent told to stop may take to exit: its collector waits for runs in progress (up to the
/// check timeout plus grace) and its forwarder gets 5 s for what it holds.
const AGENT_STOP_LIMIT: Duration = Duration::from_secs(60);
/// One `status` call's limit.
const STATUS_LIMIT: Duration = Duration::from_secs(20);

/// What a scenario found: named figures, in the order they were taken, and every expectation that failed.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) figures: Vec<(String, Value)>,
    pub(crate) failures: Vec<String>,
}

impl Outcome {
    /// Records a figure of the run.
    pub(crate) fn figure(&mut self, name: &str, value: impl Into<Value>) {
        self.figures.push((name.to_owned(), value.into()));
    }

    /// Records a failure unless `holds`.
    pub(crate) fn expect(&mut self, holds: bool, failure: impl FnOnce() -> String) {
        if !holds {
            self.failures.push(failure());
        }
    }
}

/// Milliseconds since the Unix epoch, the unit of the agent's `last_run_at_ms`.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Polls `probe` every `every` until it yields a value; fails after `limit` naming what was awaited and
/// what the probe saw last (its error, if it failed every time).
pub(crate) async fn until<T>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        tick.tick().await;
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if tokio::time::Instant::now() >= deadline {
            match last_error {
                Some(err) => bail!("gave up after {limit:?} waiting for {what}; last error: {err:#}"),
                None => bail!("gave up after {limit:?} waiting for {what}"),
            }
        }
    }
}

/// A free UDP port on loopback (bound and released), for an agent's DogStatsD.
pub(crate) fn free_udp_port() -> anyhow::Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").context("cannot find a free UDP port")?;
    Ok(socket.local_addr()?.port())
}

/// A free TCP port on loopback, for an agent's `cmd_port` or a MariaDB server.
pub(crate) fn free_tcp_port() -> anyhow::Result<u16> {
    Ok(crate::backend::free_loopback_address()?.port())
}

/// The backend's public API, with the suite's keys.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(address: SocketAddr) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build an HTTP client")?;
        Ok(Api {
            base: format!("http://{address}"),
            http,
        })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A GET with both keys; the JSON answer of a 2xx, else an error with the status and body.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .header("DD-API-KEY", API_KEY)
            .header("DD-APPLICATION-KEY", APP_KEY)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .with_context(|| format!("GET {path}: reading the body"))?;
        if !status.is_success() {
            bail!(
                "GET {path} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        serde_json::from_str(&body).with_context(|| format!("GET {path}: the answer is not JSON"))
    }

    /// `/api/v1/query` from `from` to `to` (Unix seconds): each series' scope and its non-null points
    /// as (seconds, value).
    pub(crate) async fn query(
        &self,
        query: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Vec<(String, Vec<(i64, f64)>)>> {
        let answer = self
            .get(
                "/api/v1/query",
                &[
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                    ("query", query.to_owned()),
                ],
            )
            .await?;
        let mut found = Vec::new();
        for series in answer["series"].as_array().into_iter().flatten() {
            let scope = series["scope"].as_str().unwrap_or_default().to_owned();
            let points = series["pointlist"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|point| Some(((point[0].as_f64()? / 1000.0) as i64, point[1].as_f64()?)))
                .collect();
            found.push((scope, points));
        }
        Ok(found)
    }

    /// Every stored point of `query` from `from` to `to`, by series scope, read in windows of 300
    /// seconds so the automatic interval is one second and no two points share a bucket.
    pub(crate) async fn points(
        &self,
        query: &str,
        from: i64,
        to: i64,
    ) -> anyhow::Result<BTreeMap<String, Vec<(i64, f64)>>> {
        let mut found: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
        let mut start = from;
        while start <= to {
            let end = (start + 299).min(to);
            for (scope, points) in self.query(query, start, end).await? {
                found.entry(scope).or_default().extend(points);
            }
            start = end + 1;
        }
        Ok(found)
    }

    /// The intake log of one route, newest first (`/ddlab/intake`, at most 500).
    pub(crate) async fn intake_log(&self, route: &str, limit: usize) -> anyhow::Result<Vec<Value>> {
        let answer = self
            .get(
                "/ddlab/intake",
                &[("route", route.to_owned()), ("limit", limit.to_string())],
            )
            .await?;
        Ok(answer["payloads"].as_array().cloned().unwrap_or_default())
    }
}

/// The count a DogStatsD counter (`<name>:<n>|c`) adds up to in the backend between `from` and `to`,
/// for `metric_and_scope` (`name{tags}`).
///
/// The agent flushes a counter as a rate over its 10-second bucket (the count divided by 10, with
/// `interval: 10`), as the Datadog Agent does; the stored points are read one by one (one-second query
/// buckets) with `.as_count()`, which multiplies each rate back by its interval.
pub(crate) async fn dogstatsd_count(
    api: &Api,
    metric_and_scope: &str,
    from: i64,
    to: i64,
) -> anyhow::Result<u64> {
    let points = api
        .points(&format!("sum:{metric_and_scope}.as_count()"), from, to)
        .await?;
    let count: f64 = points.values().flatten().map(|(_, count)| count).sum();
    Ok(count.round() as u64)
}

/// One scenario's lab: a cleared folder under `target/chaos/<scenario>/`, a backend that accepts the
/// suite's keys (its files in `<dir>/lab/`), and that backend's API. The backend is killed when this is
/// dropped, so it is declared before the agents and servers that use it.
pub(crate) struct ScenarioLab {
    pub(crate) dir: PathBuf,
    pub(crate) backend: LocalBackend,
    pub(crate) api: Api,
}

impl ScenarioLab {
    /// Clears the scenario's folder and launches its backend.
    pub(crate) fn start(lab: &Lab, scenario: &str) -> anyhow::Result<ScenarioLab> {
        let dir = lab.scenario_dir(scenario)?;
        let backend = tokio::task::block_in_place(|| {
            LocalBackend::launch(
                &lab.root,
                dir.join("lab"),
                &["--api-key", API_KEY, "--app-key", APP_KEY],
            )
        })?;
        let api = Api::new(backend.address)?;
        Ok(ScenarioLab { dir, backend, api })
    }

    /// The setup of an agent called `hostname` that sends to this lab's backend, with DogStatsD and
    /// Python checks off and nothing extra; scenarios change the fields they need.
    pub(crate) fn agent_setup(&self, hostname: &str) -> AgentSetup {
        AgentSetup {
            hostname: hostname.to_owned(),
            backend: self.backend.address,
            dogstatsd_port: 0,
            python: None,
            extra: String::new(),
        }
    }

    /// Creates the agent folder `<dir>/<folder>` and writes `setup` into it
    /// ([`AgentProcess::configure`]); returns the folder, the agent's `-c` root.
    pub(crate) fn configure_agent(&self, folder: &str, setup: &AgentSetup) -> anyhow::Result<PathBuf> {
        let root = self.dir.join(folder);
        std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
        AgentProcess::configure(&root, setup)?;
        Ok(root)
    }
}

/// How to configure one agent: written as its `datadog.yaml`.
#[derive(Debug, Clone)]
pub(crate) struct AgentSetup {
    pub(crate) hostname: String,
    pub(crate) backend: SocketAddr,
    /// 0 turns DogStatsD off.
    pub(crate) dogstatsd_port: u16,
    /// The lab virtualenv's interpreter, for Python checks.
    pub(crate) python: Option<PathBuf>,
    /// More `datadog.yaml` lines, as YAML.
    pub(crate) extra: String,
}

/// A real `ddlab-agent run` in a process group of its own; the group (the agent and its Python check
/// processes) is killed when this is dropped.
#[derive(Debug)]
pub(crate) struct AgentProcess {
    binary: PathBuf,
    root: PathBuf,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    started: u32,
}

impl AgentProcess {
    /// Writes `setup` as `<root>/datadog.yaml` (the root must exist; `conf.d/` and `checks.d/` are the
    /// caller's).
    pub(crate) fn configure(root: &Path, setup: &AgentSetup) -> anyhow::Result<()> {
        let mut yaml = String::new();
        let _ = writeln!(yaml, "api_key: {API_KEY}");
        let _ = writeln!(yaml, "dd_url: http://{}", setup.backend);
        let _ = writeln!(yaml, "hostname: {}", setup.hostname);
        let _ = writeln!(yaml, "cmd_port: {}", free_tcp_port()?);
        let _ = writeln!(yaml, "dogstatsd_port: {}", setup.dogstatsd_port);
        let _ = writeln!(yaml, "use_dogstatsd: {}", setup.dogstatsd_port != 0);
        let _ = writeln!(yaml, "apm_config:\n  enabled: false");
        let _ = writeln!(yaml, "log_level: info");
        let _ = writeln!(yaml, "log_file: {}", root.join("agent.log").display());
        if let Some(python) = &setup.python {
            let _ = writeln!(yaml, "ddlab_python: {}", python.display());
        }
        yaml.push_str(&setup.extra);
        for dir in ["conf.d", "checks.d"] {
            std::fs::create_dir_all(root.join(dir))
                .with_context(|| format!("cannot create {}", root.join(dir).display()))?;
        }
        let path = root.join("datadog.yaml");
        std::fs::write(&path, yaml).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Starts `ddlab-agent -c <root> run` with `env` added (and the runner's own `DD_*` variables removed),
    /// and waits until its `status` answers.
    pub(crate) async fn start(
        binary: &Path,
        root: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<AgentProcess> {
        let mut agent = AgentProcess {
            binary: binary.to_owned(),
            root: root.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            started: 0,
        };
        agent.restart().await?;
        Ok(agent)
    }

    /// Starts the agent again (after [`AgentProcess::stop`]) with the same configuration, and `env` in
    /// place of the environment it was started with.
    pub(crate) async fn restart_with(&mut self, env: &[(&str, &str)]) -> anyhow::Result<()> {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.restart().await
    }

    async fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("the agent in {} is still running", self.root.display());
        }
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("agent.out"))
            .with_context(|| format!("cannot open {}", self.root.join("agent.out").display()))?;
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("-c")
            .arg(&self.root)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .process_group(0)
            .kill_on_drop(true);
        for (name, _) in std::env::vars() {
            if name.starts_with("DD_") || name.starts_with("DDLAB_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.binary.display()))?;
        self.started = child.id().unwrap_or(0);
        self.child = Some(child);
        let root = self.root.clone();
        let pid = self.started;
        let status = until(
            AGENT_START_LIMIT,
            Duration::from_millis(250),
            "the agent's status",
            async || {
                if let Some(child) = self.child.as_mut()
                    && let Some(exit) = child.try_wait()?
                {
                    bail!(
                        "the agent exited with {exit}; its output ends:\n{}",
                        tail(&root.join("agent.out"), 20)
                    );
                }
                Ok(self
                    .status()
                    .await
                    .ok()
                    .filter(|s| s["pid"].as_u64() == Some(u64::from(pid))))
            },
        )
        .await;
        status
            .map(drop)
            .with_context(|| format!("the agent in {} did not come up", self.root.display()))
    }

    /// `ddlab-agent status --json`, as a user runs it.
    pub(crate) async fn status(&self) -> anyhow::Result<Value> {
        let run = tokio::process::Command::new(&self.binary)
            .arg("-c")
            .arg(&self.root)
            .args(["status", "--json"])
            .env_remove("DD_API_KEY")
            .env_remove("DD_DD_URL")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(STATUS_LIMIT, run)
            .await
            .context("ddlab-agent status did not answer in time")?
            .context("cannot run ddlab-agent status")?;
        if !output.status.success() {
            bail!(
                "ddlab-agent status failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).context("ddlab-agent status --json did not print JSON")
    }

    /// The process id of the agent started last.
    pub(crate) fn pid(&self) -> u32 {
        self.started
    }

    /// Whether the agent process is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGTERM, then waits for the agent to flush and exit; fails if it exits non-zero or does not exit
    /// within the limit (then it is killed). Returns how long the stop took.
    pub(crate) async fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            bail!("the agent in {} is not running", self.root.display());
        };
        let started = Instant::now();
        let pid = Pid::from_raw(i32::try_from(self.started).context("the agent's pid")?);
        kill(pid, Signal::SIGTERM).context("cannot send SIGTERM to the agent")?;
        match tokio::time::timeout(AGENT_STOP_LIMIT, child.wait()).await {
            Ok(Ok(exit)) if exit.success() => Ok(started.elapsed()),
            Ok(Ok(exit)) => bail!(
                "the agent exited with {exit} after SIGTERM; its output ends:\n{}",
                tail(&self.root.join("agent.out"), 20)
            ),
            Ok(Err(err)) => Err(err).context("cannot wait for the agent"),
            Err(_) => {
                let _ = child.kill().await;
                bail!("the agent did not exit within {AGENT_STOP_LIMIT:?} of SIGTERM and was killed")
            }
        }
    }

    /// The agent's log file (`log_file`), whole.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        // The whole group: a Python check process spinning with the GIL held would outlive its agent.
        if self.running()
            && let Ok(group) = i32::try_from(self.started)
            && group > 0
        {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

/// The last `lines` lines of a file.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    ddlab_stack::process::log_tail(path, lines).join("\n")
}

/// A private MariaDB from the OS binaries, through `ddlab-stack`'s server (the lab's own); stopped when
/// dropped.
#[derive(Debug)]
pub(crate) struct Mariadb {
    pub(crate) server: Server,
    programs: Programs,
    files: RunFiles,
}

impl Mariadb {
    /// Initialises a data folder in `dir`, starts the server on a free loopback port and applies the
    /// reference solution's grants (the `datadog` user).
    pub(crate) fn start(root: &Path, dir: &Path) -> anyhow::Result<Mariadb> {
        let programs = Programs::find()?;
        let server = Server {
            dir: dir.to_owned(),
            port: free_tcp_port()?,
        };
        // Not `mysqld.pid` in the server's folder: the server writes that file itself.
        let files = RunFiles::new(&dir.join("run"), dir, "mariadb");
        let mariadb = Mariadb {
            server,
            programs,
            files,
        };
        mariadb.server.init(&mariadb.programs)?;
        mariadb.server.start(&mariadb.programs, &mariadb.files)?;
        mariadb.server.apply_file(
            &mariadb.programs,
            &root.join("fixtures/solution/mysql/grants.sql"),
        )?;
        Ok(mariadb)
    }

    /// Stops the server (SIGTERM, then SIGKILL after 30 s); true when it was running.
    pub(crate) fn stop(&self) -> bool {
        ddlab_stack::process::stop(&self.files.pid_file, Duration::from_secs(30))
    }

    /// Starts the stopped server again on its data folder and port.
    pub(crate) fn restart(&self) -> anyhow::Result<()> {
        self.server.start(&self.programs, &self.files)?;
        Ok(())
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// DogStatsD traffic from one UDP socket at a steady pace: `per_tick` datagrams to each target every
/// `tick`, until [`DogStatsdSender::finish`].
#[derive(Debug)]
pub(crate) struct DogStatsdSender {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<Vec<u64>>>,
}

impl DogStatsdSender {
    /// Starts sending `datagram` to every target.
    pub(crate) fn start(
        targets: Vec<SocketAddr>,
        datagram: String,
        per_tick: usize,
        tick: Duration,
    ) -> DogStatsdSender {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .context("cannot bind the DogStatsD sender's socket")?;
            let mut sent = vec![0u64; targets.len()];
            let mut ticks = tokio::time::interval(tick);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => {}
                }
                for (index, target) in targets.iter().enumerate() {
                    for _ in 0..per_tick {
                        // Nothing listening is not an error for UDP (the socket is not connected): the
                        // datagram is sent, and the receiving kernel counts it as sent to no port.
                        socket
                            .send_to(datagram.as_bytes(), target)
                            .await
                            .with_context(|| format!("cannot send a datagram to {target}"))?;
                        sent[index] += 1;
                    }
                }
            }
            Ok(sent)
        });
        DogStatsdSender { stop, task }
    }

    /// Stops sending; the datagrams sent to each target.
    pub(crate) async fn finish(self) -> anyhow::Result<Vec<u64>> {
        let _ = self.stop.send(true);
        self.task.await.context("the DogStatsD sender panicked")?
    }
}

/// The check named `name` in a `status --json`'s running checks.
pub(crate) fn check<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["collector"]["running_checks"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// A number in a JSON value, 0 when absent.
pub(crate) fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}
