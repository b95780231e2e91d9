//! The running agent: configuration, aggregator, collector, DogStatsD, the trace receiver, forwarder, host
//! metadata and the IPC endpoint, started in order and stopped in the reverse order with everything flushed.
//!
//! ```text
//!  start:  datadog.yaml + DD_* ─▶ run_path (pid, auth_token, cmd_port) ─▶ IPC port bound ─▶ aggregator
//!          ─▶ forwarder ─▶ DogStatsD ─▶ trace receiver ─▶ conf.d loaded, collector started ─▶ IPC served
//!          ─▶ flush loop: host metadata + API key check at once, then every 15 s: flush ─▶ serialize ─▶ forwarder
//!                                          (+ datadog.agent.running, datadog.agent.up), metadata every 30 min
//!          trace receiver: its own flushes (traces every 5 s, stats buckets every 10 s) ─▶ forwarder (apm_dd_url)
//!  stop:   flush loop ─▶ trace receiver (requests in flight finished, every trace and stats bucket sent)
//!          ─▶ collector (runs in progress committed, Python host stopped) ─▶ DogStatsD
//!          ─▶ final flush of everything (open DogStatsD buckets too) ─▶ forwarder drains ─▶ IPC ─▶ pid files removed
//! ```
//!
//! A problem in one part does not stop the others: a `conf.d` file with a YAML error, a check that cannot
//! load, a DogStatsD or trace receiver port in use, an `apm_dd_url` that is not plain HTTP are reported
//! (log, `status`, `health`) and everything else runs. What
//! stops the start: an unreadable `datadog.yaml`, a `dd_url` that is not plain HTTP, an unusable run
//! folder, or a `cmd_port` in use.
//!
//! Files under `run_path` (default `<config root>/run`): `ddlab-agent.pid`, `auth_token` (0600, unless
//! `auth_token_file_path` says otherwise), `cmd_port` (the IPC port), and `python/` (the Python host's
//! modules and persistent cache). The pid and port files are removed at a clean stop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ddlab_wire::check_run::{CheckRun, CheckStatus};
use ddlab_wire::series::{MetricKind, Point, Series};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::aggregator::{Aggregator, AggregatorConfig, AggregatorHandle, Flush};
use crate::collector::{Collector, CollectorOptions, CollectorView, LoadOptions, load_checks};
use crate::config::{AgentConfig, ConfigError, MAIN_FILE, load_confd};
use crate::configcheck::{self, ConfigCheck};
use crate::dogstatsd::{Clock, DogStatsd, DogStatsdStats, Listen, system_clock};
use crate::forwarder::{ApiKeyState, Forwarder, ForwarderError, ForwarderOptions, Transaction};
use crate::ipc::{self, CMD_PORT_FILE, IpcError, IpcServer, IpcSource, Token};
use crate::metadata::{self, HOST_METADATA_INTERVAL};
use crate::python::{DEFAULT_AGENT_VERSION, PythonHostOptions};
use crate::serializer::{self, SerializerOptions};
use crate::status::{
    AgentStatus, AggregatorSection, ApmSection, DogStatsdSection, Health, HostMetadataSection, Paths,
};
use crate::trace::{ApmPayload, ReceiverStats, TraceReceiver, TraceReceiverConfig, TraceSink};

/// The aggregator's flush interval.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(15);
/// The pid file inside `run_path`.
pub const PID_FILE: &str = "ddlab-agent.pid";

/// How to run the agent. [`AgentOptions::new`] gives the defaults; every field says its default.
#[derive(Clone)]
pub struct AgentOptions {
    /// The config root: `datadog.yaml`, and `conf.d/`, `checks.d/` unless `confd_path` and
    /// `additional_checksd` say otherwise. Default [`crate::config::DEFAULT_CONFIG_ROOT`].
    pub config_root: PathBuf,
    /// The environment `DD_*` overrides (and `DDLAB_PYTHON`) are read from. Default: the process's.
    pub env: BTreeMap<String, String>,
    /// The Python check host's interpreter (`run --python`); wins over `ddlab_python` / `DDLAB_PYTHON`.
    /// Default none: `python3` when neither is set.
    pub python: Option<PathBuf>,
    /// Default 15 s.
    pub flush_interval: Duration,
    /// Default 30 minutes.
    pub metadata_interval: Duration,
    /// Run the core system checks (cpu, load, memory, disk, network, uptime). Default true.
    pub core_checks: bool,
    /// Also write the pid here (`run -p`). Default none.
    pub pidfile: Option<PathBuf>,
    /// Where DogStatsD listens, instead of `dogstatsd_*` (tests: port 0). Default none.
    pub dogstatsd_listen: Option<Listen>,
    /// Where the trace receiver listens on TCP, instead of `apm_config.receiver_port` (tests: port 0 for
    /// any free port). Default none.
    pub apm_listen: Option<std::net::SocketAddr>,
    /// The IPC port instead of `cmd_port` (0: any free port). Default none.
    pub cmd_port: Option<u16>,
    /// The wall clock. Default the system clock.
    pub clock: Clock,
}

/// Why the agent did not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Forwarder(#[from] ForwarderError),
    #[error(transparent)]
    Ipc(#[from] IpcError),
    #[error("cannot use the run folder {} (run_path): {source}", path.display())]
    RunPath { path: PathBuf, source: std::io::Error },
    #[error("no check named '{name}' is configured in {} and it is not a core check ({})", confd.display(), crate::system::NAMES.join(", "))]
    NoSuchCheck { name: String, confd: PathBuf },
}

/// The running agent.
pub struct Agent {
    sources: Arc<Sources>,
    collector: Collector,
    dogstatsd: Option<DogStatsd>,
    trace_receiver: Option<TraceReceiver>,
    ipc: IpcServer,
    stop: watch::Sender<bool>,
    flush_task: JoinHandle<()>,
    run_files: Vec<PathBuf>,
}

/// Everything `status`, `health` and the flush loop read.
struct Sources {
    fixed: Fixed,
    aggregator: AggregatorHandle,
    collector: CollectorView,
    forwarder: Arc<Forwarder>,
    dogstatsd: DogStatsdSection,
    dogstatsd_stats: Option<watch::Receiver<DogStatsdStats>>,
    apm: ApmSection,
    apm_stats: Option<watch::Receiver<ReceiverStats>>,
    metadata: Mutex<HostMetadataSection>,
    flushes: Mutex<FlushState>,
    config_check: ConfigCheck,
    serializer: SerializerOptions,
    clock: Clock,
}

/// What does not change while the agent runs.
struct Fixed {
    config: AgentConfig,
    hostname: String,
    version: String,
    pid: u32,
    started_at: i64,
    started: Instant,
    flush_interval: Duration,
    paths: Paths,
    config_warnings: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct FlushState {
    flushes: u64,
    last_flush_at: Option<i64>,
    last_flush: Option<Instant>,
}

impl std::fmt::Debug for AgentOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOptions")
            .field("config_root", &self.config_root)
            .field("python", &self.python)
            .field("flush_interval", &self.flush_interval)
            .field("metadata_interval", &self.metadata_interval)
            .field("core_checks", &self.core_checks)
            .field("pidfile", &self.pidfile)
            .field("dogstatsd_listen", &self.dogstatsd_listen)
            .field("apm_listen", &self.apm_listen)
            .field("cmd_port", &self.cmd_port)
            .finish_non_exhaustive()
    }
}

impl AgentOptions {
    /// The defaults for the config root `config_root`, reading the process environment.
    pub fn new(config_root: impl Into<PathBuf>) -> Self {
        AgentOptions {
            config_root: config_root.into(),
            env: std::env::vars().collect(),
            python: None,
            flush_interval: FLUSH_INTERVAL,
            metadata_interval: HOST_METADATA_INTERVAL,
            core_checks: true,
            pidfile: None,
            dogstatsd_listen: None,
            apm_listen: None,
            cmd_port: None,
            clock: system_clock(),
        }
    }

    /// Reads `datadog.yaml` with the options' environment; warnings are logged.
    pub fn load_config(&self) -> Result<crate::config::Loaded, AgentError> {
        let env = &self.env;
        let loaded = AgentConfig::load(&self.config_root, &|var| env.get(var).cloned())?;
        Ok(loaded)
    }
}

impl Agent {
    /// Starts everything; see the module documentation for the order. Must run inside a Tokio runtime.
    pub async fn start(options: AgentOptions) -> Result<Agent, AgentError> {
        let loaded = options.load_config()?;
        for warning in &loaded.warnings {
            tracing::warn!("{warning}");
        }
        let mut config = loaded.config;
        if let Some(python) = &options.python {
            config.python = Some(python.clone());
        }
        if let Some(port) = options.cmd_port {
            config.cmd_port = port;
        }
        let hostname = metadata::resolve_hostname(&config);
        let version = DEFAULT_AGENT_VERSION.to_owned();
        tracing::info!(
            config = %options.config_root.join(MAIN_FILE).display(),
            %hostname,
            version = %version,
            "starting ddlab-agent"
        );

        // What stops the start when it fails comes first, before anything is written or started: the
        // intake URL, the IPC port, the run folder.
        let forwarder = Arc::new(Forwarder::start(ForwarderOptions::from_config(
            &config, &version,
        ))?);
        let listener = ipc::bind(config.cmd_port).await?;
        create_private_dir(&config.run_path)?;
        let pid = std::process::id();
        let mut run_files = vec![config.run_path.join(PID_FILE)];
        run_files.extend(options.pidfile.iter().cloned());
        for path in &run_files {
            std::fs::write(path, format!("{pid}\n")).map_err(|source| AgentError::RunPath {
                path: path.clone(),
                source,
            })?;
        }
        let ipc_port = listener
            .local_addr()
            .map_err(|source| AgentError::RunPath {
                path: config.run_path.clone(),
                source,
            })?
            .port();
        let port_file = config.run_path.join(CMD_PORT_FILE);
        std::fs::write(&port_file, format!("{ipc_port}\n")).map_err(|source| AgentError::RunPath {
            path: port_file.clone(),
            source,
        })?;
        run_files.push(port_file);
        if let Some(parent) = config.auth_token_file_path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| AgentError::RunPath {
                path: parent.to_owned(),
                source,
            })?;
        }
        let token = Token::generate()?;
        token.write(&config.auth_token_file_path)?;

        let (aggregator_config, warnings) = AggregatorConfig::from_agent_config(&config, hostname.clone());
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let aggregator = AggregatorHandle::new(Aggregator::new(aggregator_config));

        let (dogstatsd, dogstatsd_section) =
            start_dogstatsd(&config, &options, &aggregator, &options.clock).await;
        let (trace_receiver, apm_section) =
            start_trace_receiver(&config, &options, &hostname, &forwarder).await;

        let confd = load_confd(&config.confd_path);
        for problem in &confd.problems {
            match problem.severity {
                crate::config::Severity::Error => tracing::error!("{problem}"),
                crate::config::Severity::Warning => tracing::warn!("{problem}"),
            }
        }
        let python = python_options(&config, &hostname, &version);
        let loaded_checks = load_checks(
            &confd,
            LoadOptions {
                python,
                core_checks: options.core_checks,
                only: None,
            },
        )
        .await;
        let collector = Collector::start(
            loaded_checks,
            &confd.problems,
            aggregator.clone(),
            CollectorOptions {
                runners: usize::try_from(config.check_runners).unwrap_or(4).max(1),
                timeout: config.check_timeout,
                clock: options.clock.clone(),
            },
        );

        let serializer = SerializerOptions {
            use_v2_series: config.use_v2_api_series,
            compressor: config.serializer_compressor_kind,
            api_key: config
                .api_key
                .as_ref()
                .map(|k| k.expose().to_owned())
                .unwrap_or_default(),
            hostname: hostname.clone(),
        };
        let started_at = (options.clock)() as i64;
        let sources = Arc::new(Sources {
            fixed: Fixed {
                paths: Paths {
                    config_file: options.config_root.join(MAIN_FILE),
                    confd_path: config.confd_path.clone(),
                    additional_checksd: config.additional_checksd.clone(),
                    run_path: config.run_path.clone(),
                    auth_token_file: config.auth_token_file_path.clone(),
                    log_file: config.log_file.clone(),
                },
                config_warnings: loaded.warnings.iter().map(ToString::to_string).collect(),
                hostname,
                version,
                pid,
                started_at,
                started: Instant::now(),
                flush_interval: options.flush_interval,
                config,
            },
            config_check: configcheck::config_check(&confd, options.core_checks),
            aggregator,
            collector: collector.view(),
            forwarder,
            dogstatsd_stats: dogstatsd.as_ref().map(DogStatsd::watch_stats),
            dogstatsd: dogstatsd_section,
            apm_stats: trace_receiver.as_ref().map(TraceReceiver::watch_stats),
            apm: apm_section,
            metadata: Mutex::new(HostMetadataSection::default()),
            flushes: Mutex::new(FlushState::default()),
            serializer,
            clock: options.clock.clone(),
        });
        let ipc = IpcServer::serve(listener, token, Arc::clone(&sources) as Arc<dyn IpcSource>)?;
        let (stop, stopped) = watch::channel(false);
        let flush_task = tokio::spawn(flush_loop(
            Arc::clone(&sources),
            options.flush_interval,
            options.metadata_interval,
            stopped,
        ));
        tracing::info!(ipc = %ipc.addr(), "ddlab-agent started");
        Ok(Agent {
            sources,
            collector,
            dogstatsd,
            trace_receiver,
            ipc,
            stop,
            flush_task,
            run_files,
        })
    }

    /// The whole status, as `status --json` prints it.
    pub fn status(&self) -> AgentStatus {
        self.sources.status()
    }

    pub fn health(&self) -> Health {
        self.sources.health()
    }

    /// The IPC endpoint's address.
    pub fn ipc_addr(&self) -> std::net::SocketAddr {
        self.ipc.addr()
    }

    /// DogStatsD's UDP address, when it listens on UDP.
    pub fn dogstatsd_addr(&self) -> Option<std::net::SocketAddr> {
        self.dogstatsd.as_ref().and_then(DogStatsd::udp_addr)
    }

    /// The trace receiver's TCP address, when it listens on TCP.
    pub fn apm_addr(&self) -> Option<std::net::SocketAddr> {
        self.trace_receiver.as_ref().and_then(TraceReceiver::tcp_addr)
    }

    /// The hostname the agent reports under.
    pub fn hostname(&self) -> &str {
        &self.sources.fixed.hostname
    }

    /// Stops in order, flushing everything, and returns the last status.
    pub async fn shutdown(self) -> AgentStatus {
        tracing::info!("stopping ddlab-agent");
        let _ = self.stop.send(true);
        if let Err(err) = self.flush_task.await {
            tracing::error!(error = %err, "the flush loop failed");
        }
        // Its last traces and stats buckets go into the forwarder, which is still running.
        if let Some(receiver) = self.trace_receiver {
            receiver.shutdown().await;
        }
        self.collector.shutdown().await;
        if let Some(dogstatsd) = self.dogstatsd {
            dogstatsd.shutdown().await;
        }
        self.sources.flush(true);
        self.sources.forwarder.shutdown().await;
        let status = self.sources.status();
        self.ipc.shutdown().await;
        for path in &self.run_files {
            if let Err(err) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %err, "could not remove a run file");
            }
        }
        tracing::info!("ddlab-agent stopped");
        status
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("hostname", &self.sources.fixed.hostname)
            .field("ipc", &self.ipc.addr())
            .finish_non_exhaustive()
    }
}

/// The Python host's options for this agent: interpreter, checks.d, hostname, host tags, settings, and
/// its files under `<run_path>/python`.
pub fn python_options(config: &AgentConfig, hostname: &str, version: &str) -> PythonHostOptions {
    let mut options = PythonHostOptions::for_agent(config, hostname);
    if let Some(python) = &config.python {
        options.python = python.clone();
    }
    options.runtime_dir = Some(config.run_path.join("python"));
    options.agent_version = version.to_owned();
    options.load_timeout = options.load_timeout.max(config.check_timeout);
    options
}

async fn start_dogstatsd(
    config: &AgentConfig,
    options: &AgentOptions,
    aggregator: &AggregatorHandle,
    clock: &Clock,
) -> (Option<DogStatsd>, DogStatsdSection) {
    let mut section = DogStatsdSection {
        enabled: config.dogstatsd.enabled,
        ..DogStatsdSection::default()
    };
    if !config.dogstatsd.enabled {
        return (None, section);
    }
    let listen = options
        .dogstatsd_listen
        .clone()
        .unwrap_or_else(|| Listen::from_config(&config.dogstatsd));
    if listen.udp.is_none() && listen.socket.is_none() {
        // `dogstatsd_port: 0` without a socket: the Agent's way of closing DogStatsD.
        tracing::info!("DogStatsD listens nowhere (dogstatsd_port: 0 and no dogstatsd_socket)");
        section.enabled = false;
        return (None, section);
    }
    match DogStatsd::start(&listen, aggregator.clone(), clock.clone()).await {
        Ok(server) => {
            section.udp = server.udp_addr().map(|a| a.to_string());
            section.socket = server.socket_path().map(Path::to_path_buf);
            (Some(server), section)
        }
        Err(err) => {
            tracing::error!(error = %err, "DogStatsD is not running; everything else is");
            section.error = Some(err.to_string());
            (None, section)
        }
    }
}

/// Starts the trace receiver when `apm_config` asks for it, sending through `forwarder` to `apm_dd_url`.
/// A receiver that cannot start (port in use, an `apm_dd_url` that is not plain HTTP) is reported in
/// the returned section; the rest of the agent runs.
async fn start_trace_receiver(
    config: &AgentConfig,
    options: &AgentOptions,
    hostname: &str,
    forwarder: &Arc<Forwarder>,
) -> (Option<TraceReceiver>, ApmSection) {
    let mut receiver_config = TraceReceiverConfig::from_agent(config, hostname);
    if let Some(addr) = options.apm_listen {
        receiver_config.listen = Some(addr);
    }
    let mut section = ApmSection {
        enabled: config.apm.enabled,
        endpoint: config.traces_url(),
        default_env: receiver_config.default_env.clone(),
        socket: receiver_config.socket.clone(),
        rate_by_service: crate::trace::rate_by_service(),
        ..ApmSection::default()
    };
    if !config.apm.enabled {
        return (None, section);
    }
    if receiver_config.listen.is_none() && receiver_config.socket.is_none() {
        // `receiver_port: 0` without a socket: the trace-agent's way of closing the receiver.
        tracing::info!(
            "The trace receiver listens nowhere (apm_config.receiver_port: 0 and no receiver_socket)."
        );
        section.enabled = false;
        return (None, section);
    }
    if !section.endpoint.starts_with("http://") {
        let error = format!(
            "apm_config.apm_dd_url is {}, but ddlab-agent speaks plain HTTP only: set apm_config.apm_dd_url in \
             datadog.yaml (or DD_APM_DD_URL) to the lab backend, e.g. http://127.0.0.1:8480, or turn APM off \
             with apm_config.enabled: false",
            section.endpoint
        );
        tracing::error!("The trace receiver is not running: {error}");
        section.error = Some(error);
        return (None, section);
    }
    let sink = Arc::new(ForwarderSink(Arc::clone(forwarder)));
    match TraceReceiver::start(receiver_config, sink).await {
        Ok(receiver) => {
            section.running = true;
            section.receiver = receiver.tcp_addr().map(|addr| addr.to_string());
            (Some(receiver), section)
        }
        Err(err) => {
            tracing::error!(error = %err, "The trace receiver is not running; everything else is.");
            section.error = Some(err.to_string());
            (None, section)
        }
    }
}

/// The trace receiver's way out: the agent's forwarder, with its retry queue.
struct ForwarderSink(Arc<Forwarder>);

impl TraceSink for ForwarderSink {
    fn submit(&self, payload: ApmPayload) {
        self.0.submit(vec![Transaction::apm(payload)]);
    }
}

async fn flush_loop(
    sources: Arc<Sources>,
    flush_interval: Duration,
    metadata_interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut flush = tokio::time::interval_at(Instant::now() + flush_interval, flush_interval);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is immediate: host metadata goes out at start.
    let mut metadata = tokio::time::interval(metadata_interval);
    metadata.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The API key is checked with the first host metadata, at once.
    let mut validation: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = flush.tick() => {
                sources.flush(false);
                // An API key the intake could not judge yet is asked about again.
                let state = sources.forwarder.stats().api_key.state;
                let idle = validation.as_ref().is_none_or(JoinHandle::is_finished);
                if idle && matches!(state, ApiKeyState::Unchecked | ApiKeyState::Unreachable) {
                    validation = Some(spawn_validation(&sources));
                }
            }
            _ = metadata.tick() => {
                send_host_metadata(&sources).await;
                let idle = validation.as_ref().is_none_or(JoinHandle::is_finished);
                if idle {
                    validation = Some(spawn_validation(&sources));
                }
            }
        }
    }
    if let Some(validation) = validation {
        validation.abort();
    }
}

fn spawn_validation(sources: &Arc<Sources>) -> JoinHandle<()> {
    let sources = Arc::clone(sources);
    tokio::spawn(async move {
        sources.forwarder.validate_api_key().await;
    })
}

async fn send_host_metadata(sources: &Arc<Sources>) {
    let ip = metadata::primary_ip().await;
    let python_version = sources.collector.status().python.map(|p| p.version);
    let config = sources.fixed.config.clone();
    let hostname = sources.fixed.hostname.clone();
    let version = sources.fixed.version.clone();
    let host = tokio::task::spawn_blocking(move || {
        metadata::host_metadata(&config, &hostname, &version, python_version, ip)
    })
    .await;
    let host = match host {
        Ok(host) => host,
        Err(err) => {
            tracing::error!(error = %err, "could not gather host metadata");
            return;
        }
    };
    if let Some(transaction) = metadata::transaction(&host, &sources.serializer) {
        sources.forwarder.submit(vec![transaction]);
        let mut section = lock(&sources.metadata);
        section.sent += 1;
        section.last_sent_at = Some((sources.clock)() as i64);
        section.ip.clone_from(&host.ip);
        tracing::info!(
            hostname = %host.hostname,
            ip = host.ip.as_deref().unwrap_or("unknown"),
            host_tags = ?host.host_tags.get("system"),
            "host metadata sent"
        );
    }
}

impl Sources {
    /// One flush: the aggregator's data plus the agent's own `datadog.agent.running` and
    /// `datadog.agent.up`, serialized and handed to the forwarder. `all` also flushes open DogStatsD
    /// buckets (shutdown).
    fn flush(&self, all: bool) {
        let now = (self.clock)();
        let mut flush = if all {
            self.aggregator.lock().flush_all(now)
        } else {
            self.aggregator.flush(now)
        };
        add_agent_telemetry(&mut flush, &self.fixed.hostname, &self.fixed.version, now as i64);
        let transactions = serializer::serialize(&flush, &self.serializer);
        tracing::debug!(
            series = flush.series.series.len(),
            service_checks = flush.service_checks.len(),
            events = flush.events.len(),
            payloads = transactions.len(),
            "flushed"
        );
        self.forwarder.submit(transactions);
        let mut state = lock(&self.flushes);
        state.flushes += 1;
        state.last_flush_at = Some(now as i64);
        state.last_flush = Some(Instant::now());
    }

    fn status(&self) -> AgentStatus {
        let fixed = &self.fixed;
        let collector = self.collector.status();
        let stats = self.aggregator.lock().stats();
        let (dogstatsd_contexts, check_contexts) = {
            let aggregator = self.aggregator.lock();
            (aggregator.dogstatsd_contexts(), aggregator.check_contexts())
        };
        let flushes = *lock(&self.flushes);
        let dogstatsd = match &self.dogstatsd_stats {
            Some(stats) => self.dogstatsd.clone().with_stats(&stats.borrow()),
            None => self.dogstatsd.clone(),
        };
        AgentStatus {
            version: fixed.version.clone(),
            ddlab_version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: fixed.pid,
            started_at: fixed.started_at,
            now_ms: ((self.clock)() * 1000.0) as i64,
            hostname: fixed.hostname.clone(),
            host_tags: fixed.config.host_tags(),
            log_level: fixed.config.log_level.clone(),
            python_version: collector.python.as_ref().map(|p| p.version.clone()),
            paths: fixed.paths.clone(),
            config_warnings: fixed.config_warnings.clone(),
            collector,
            aggregator: AggregatorSection {
                checks_metric_samples: stats.check_samples,
                checks_non_finite_dropped: stats.check_non_finite,
                dogstatsd_metric_samples: stats.dogstatsd_samples,
                dogstatsd_discarded: stats.dogstatsd_discarded,
                series_flushed: stats.series_flushed,
                service_checks_flushed: stats.service_checks_flushed,
                events_flushed: stats.events_flushed,
                flushes: flushes.flushes,
                last_flush_at: flushes.last_flush_at,
                dogstatsd_contexts: dogstatsd_contexts as u64,
                check_contexts: check_contexts as u64,
            },
            forwarder: self.forwarder.stats(),
            host_metadata: lock(&self.metadata).clone(),
            dogstatsd,
            apm: match &self.apm_stats {
                Some(stats) => self.apm.clone().with_stats(&stats.borrow()),
                None => self.apm.clone(),
            },
        }
    }

    fn health(&self) -> Health {
        let mut health = Health::default();
        let mut component = |name: &str, problem: Option<String>| match problem {
            None => health.healthy.push(name.to_owned()),
            Some(why) => health.unhealthy.push(format!("{name}: {why}")),
        };
        let flushes = *lock(&self.flushes);
        let late = self.fixed.flush_interval * 3;
        let last = flushes.last_flush.unwrap_or(self.fixed.started);
        component(
            "aggregator",
            (last.elapsed() > late).then(|| format!("no flush for {:?}", last.elapsed())),
        );
        component("collector-queue", None);
        if self.dogstatsd.enabled {
            component("dogstatsd-main", self.dogstatsd.error.clone());
        }
        if self.apm.enabled {
            component("trace-agent", self.apm.error.clone());
        }
        let key = self.forwarder.stats().api_key;
        component(
            "forwarder",
            match key.state {
                ApiKeyState::Invalid | ApiKeyState::Missing => {
                    Some(key.message.unwrap_or_else(|| "API key invalid".to_owned()))
                }
                _ => None,
            },
        );
        component("healthcheck", None);
        component("metadata-host", None);
        health
    }
}

impl IpcSource for Sources {
    fn status(&self) -> AgentStatus {
        Sources::status(self)
    }

    fn health(&self) -> Health {
        Sources::health(self)
    }

    fn config_check(&self) -> ConfigCheck {
        self.config_check.clone()
    }
}

/// `datadog.agent.running` (gauge 1, `version:<v>`) and `datadog.agent.up` (OK), as the Agent's
/// aggregator adds them to every flush.
pub fn add_agent_telemetry(flush: &mut Flush, hostname: &str, version: &str, now: i64) {
    flush.series.series.push(Series {
        host: Some(hostname.to_owned()),
        tags: vec![format!("version:{version}")],
        points: vec![Point {
            timestamp: now,
            value: 1.0,
        }],
        ..Series::new("datadog.agent.running", MetricKind::Gauge)
    });
    flush.service_checks.push(CheckRun {
        check: "datadog.agent.up".to_owned(),
        host_name: hostname.to_owned(),
        status: CheckStatus::Ok,
        timestamp: Some(now),
        message: None,
        tags: Vec::new(),
    });
}

fn create_private_dir(dir: &Path) -> Result<(), AgentError> {
    let failed = |source| AgentError::RunPath {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(failed)?;
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
