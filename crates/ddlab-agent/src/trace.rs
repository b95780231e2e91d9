//! The trace receiver: what ddtrace talks to on `apm_config.receiver_port` (8126) and
//! `apm_config.receiver_socket`, turned into the trace-agent's payloads for `apm_dd_url`.
//!
//! ```text
//!  tracer ──PUT/POST /v0.4|/v0.5|/v0.7/traces──▶ decode (ddlab-wire) ──▶ normalise, top-level, stats, sample
//!         ──PUT/POST /v0.6/stats───────────────▶ decode, normalise ─┐         │ kept chunks      │ spans
//!         ◀─{"rate_by_service": ...}                                │         ▼                  ▼
//!         ──GET /info──▶ what is served                             │   trace buffer      SpanConcentrator (10 s)
//!                                                                   │     │ every 5 s or 3.2 MB  │ every 10 s
//!                                                                   ▼     ▼                      ▼
//!                                        TraceSink ◀── AgentPayload (protobuf, gzip)   StatsPayload (msgpack, gzip)
//! ```
//!
//! [`TraceReceiver::start`] binds the listeners and starts one flush task; payloads leave through the
//! [`TraceSink`] the runtime passes in (its forwarder with the retry queue). Stats are computed with
//! libdatadog's `SpanConcentrator` (the tracers' and serverless agent's implementation of the
//! trace-agent's concentrator: eligibility by top-level, measured or span kind, 10 s buckets by span end,
//! the two newest buckets kept until they close) unless the tracer says it computed them; its
//! `/v0.6/stats` payloads are normalised and sent on at once with `ClientComputed` set.
//!
//! The receiver owns its tasks: [`TraceReceiver::shutdown`] stops accepting, lets requests in flight
//! finish, then flushes every trace and every stats bucket into the sink, and removes the socket file.

mod http;
mod pipeline;
mod sink;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ddlab_wire::trace::normalize::SpanRepairs;
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::AgentConfig;

pub use sink::{ApmPayload, ApmPayloadKind, TraceSink};

/// The Agent version the receiver reports in `/info`, its headers and its payloads.
pub const AGENT_VERSION: &str = "7.70.0";

/// How the receiver runs. [`TraceReceiverConfig::from_agent`] reads it from `datadog.yaml`; every
/// field's default is the trace-agent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceReceiverConfig {
    /// TCP address: `127.0.0.1:<apm_config.receiver_port>`, or `0.0.0.0:<port>` with
    /// `apm_config.apm_non_local_traffic`; `None` when the port is 0. Default `127.0.0.1:8126`. Port 0
    /// here (tests) asks the system for a free port.
    pub listen: Option<SocketAddr>,
    /// `apm_config.receiver_socket`: a Unix stream socket for the same HTTP API; default none.
    pub socket: Option<PathBuf>,
    /// The agent's hostname: `AgentPayload.hostName` and `StatsPayload.agentHostname`. Default empty.
    pub hostname: String,
    /// The env of traces that name none: `apm_config.env`, `env`, an `env:` host tag, else `none`.
    pub default_env: String,
    /// The version reported in `/info`, headers and payloads; default [`AGENT_VERSION`].
    pub agent_version: String,
    /// `dogstatsd_port`, which `/info` tells tracers; default 8125.
    pub statsd_port: u16,
    /// The largest body read (`apm_config.max_payload_size`); default 25 MiB.
    pub max_request_bytes: usize,
    /// Payloads read, decoded and processed at once (`apm_config.decoders`); default one per CPU.
    ///
    /// The trace-agent's default is half the CPUs because its decoders only decode: its processing
    /// runs in other goroutines, on every CPU. Here a payload is decoded and processed by the same
    /// thread, so the decoder is held until it is processed, which keeps a payload's spans in one
    /// CPU's cache and the wake-up of the next payload on a thread that is about to be free. (Held for
    /// decoding only, one decoder on two CPUs left the second idle: tokio runs a task woken by a
    /// running task on that task's thread, after it, and no other thread takes it.)
    pub decoders: usize,
    /// How long a payload waits for a decoder before the answer is 429 (`apm_config.decoder_timeout`);
    /// default 1 s.
    pub decoder_wait: Duration,
    /// The stats bucket (`apm_config.bucket_size_seconds`); default 10 s.
    pub bucket: Duration,
    /// How often closed stats buckets are sent; default 10 s.
    pub stats_flush_interval: Duration,
    /// How often buffered traces are sent; default 5 s.
    pub trace_flush_interval: Duration,
    /// Buffered traces are sent early once their protobuf passes this size; default 3.2 MB.
    pub trace_buffer_bytes: usize,
    /// How long shutdown waits for requests in flight before cutting their connections; default 5 s,
    /// as the trace-agent's.
    pub shutdown_grace: Duration,
}

impl Default for TraceReceiverConfig {
    fn default() -> Self {
        TraceReceiverConfig {
            listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8126)),
            socket: None,
            hostname: String::new(),
            default_env: "none".to_owned(),
            agent_version: AGENT_VERSION.to_owned(),
            statsd_port: 8125,
            max_request_bytes: ddlab_wire::trace::MAX_REQUEST_BYTES,
            decoders: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            decoder_wait: Duration::from_secs(1),
            bucket: Duration::from_secs(10),
            stats_flush_interval: Duration::from_secs(10),
            trace_flush_interval: Duration::from_secs(5),
            trace_buffer_bytes: 3_200_000,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl TraceReceiverConfig {
    /// The receiver `config` describes, for an agent known as `hostname`.
    pub fn from_agent(config: &AgentConfig, hostname: &str) -> Self {
        let defaults = TraceReceiverConfig::default();
        let host = if config.apm.non_local_traffic {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        TraceReceiverConfig {
            listen: (config.apm.receiver_port != 0).then(|| SocketAddr::new(host, config.apm.receiver_port)),
            socket: config.apm.receiver_socket.clone(),
            hostname: hostname.to_owned(),
            default_env: config
                .traces_env()
                .map(|env| ddlab_wire::trace::normalize::tag(&env))
                .filter(|env| !env.is_empty())
                .unwrap_or_else(|| "none".to_owned()),
            statsd_port: config.dogstatsd.port,
            max_request_bytes: config.apm.max_payload_size,
            decoder_wait: config.apm.decoder_timeout,
            decoders: config.apm.decoders.unwrap_or(defaults.decoders),
            ..defaults
        }
    }
}

/// The sampling rates the receiver answers tracers with, by `service:<name>,env:<env>`; `service:,env:`
/// is the default rate. The lab keeps every trace, so there is only the default, 1.
pub fn rate_by_service() -> BTreeMap<String, f64> {
    http::RATE_BY_SERVICE
        .iter()
        .map(|(key, rate)| ((*key).to_owned(), *rate))
        .collect()
}

/// Reads the current time. The receiver calls it once per payload and per flush.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(SystemTime::now)
}

/// What one endpoint has seen since the receiver started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub requests: u64,
    pub payloads_accepted: u64,
    /// Body bytes of accepted payloads, as received.
    pub bytes: u64,
    /// Traces (chunks) and spans in accepted payloads, before normalisation and sampling.
    pub traces: u64,
    pub spans: u64,
    /// Payloads answered 400: the body was malformed or ended early.
    pub decoding_errors: u64,
    /// Payloads answered 413.
    pub too_large: u64,
    /// Payloads answered 429: no decoder was free in time.
    pub refused: u64,
    /// Traces in refused payloads, as their `X-Datadog-Trace-Count` header announced them.
    pub traces_dropped: u64,
}

/// Who sent trace payloads, as the trace-agent's `status` groups them: the tracer's headers and the
/// endpoint it used.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TracerKey {
    /// `Datadog-Meta-Lang`, e.g. `python`.
    pub lang: String,
    /// `Datadog-Meta-Lang-Version`.
    pub lang_version: String,
    /// `Datadog-Meta-Lang-Interpreter`, e.g. `CPython`.
    pub interpreter: String,
    /// `Datadog-Meta-Tracer-Version`.
    pub tracer_version: String,
    /// The route: `/v0.4/traces`, `/v0.5/traces` or `/v0.7/traces`.
    pub endpoint: String,
}

/// What one tracer sent on one endpoint, in accepted payloads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracerStats {
    pub payloads: u64,
    /// Traces (chunks) and spans, before normalisation and sampling.
    pub traces: u64,
    pub spans: u64,
    /// Body bytes, as received.
    pub bytes: u64,
    /// Traces and spans by the service of each trace's root span.
    pub services: BTreeMap<String, ServiceCounts>,
}

/// Traces and spans of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCounts {
    pub traces: u64,
    pub spans: u64,
}

/// Traces dropped after decoding, by the trace-agent's reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedTraces {
    pub empty_trace: u64,
    pub trace_id_zero: u64,
    pub span_id_zero: u64,
    pub foreign_span: u64,
    /// Dropped by sampling: the tracer dropped them (priority 0 without an error, or negative).
    pub sampled_out: u64,
}

impl DroppedTraces {
    fn add(&mut self, other: &DroppedTraces) {
        self.empty_trace += other.empty_trace;
        self.trace_id_zero += other.trace_id_zero;
        self.span_id_zero += other.span_id_zero;
        self.foreign_span += other.foreign_span;
        self.sampled_out += other.sampled_out;
    }
}

/// What the receiver has done since it started, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// By route: `/v0.4/traces`, `/v0.5/traces`, `/v0.7/traces`, `/v0.6/stats`.
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Accepted trace payloads by tracer and endpoint, with their services.
    pub tracers: BTreeMap<TracerKey, TracerStats>,
    /// Trace payloads being read, decoded or processed now (each holds a decoder).
    pub payloads_in_flight: u64,
    /// Traces and spans that passed normalisation.
    pub traces_received: u64,
    pub spans_received: u64,
    /// Spans kept by sampling, bound for the intake.
    pub spans_kept: u64,
    pub traces_dropped: DroppedTraces,
    /// Spans repaired by normalisation, by repair.
    pub spans_repaired: SpanRepairs,
    /// What tracers said they dropped before sending (`Datadog-Client-Dropped-P0-*`).
    pub client_dropped_p0_traces: u64,
    pub client_dropped_p0_spans: u64,
    /// Buckets and groups of the tracers' own stats (`/v0.6/stats`).
    pub client_stats_buckets: u64,
    pub client_stats_groups: u64,
    /// Payloads handed to the sink, what they held, and their compressed bytes.
    pub trace_payloads_sent: u64,
    pub traces_sent: u64,
    pub spans_sent: u64,
    pub trace_bytes_sent: u64,
    pub stats_payloads_sent: u64,
    pub stats_buckets_sent: u64,
    pub stats_bytes_sent: u64,
    /// Payloads that could not be encoded or compressed.
    pub payloads_lost: u64,
    /// The last refusal or loss, with its endpoint.
    pub last_error: Option<String>,
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceReceiverError {
    #[error(
        "the trace receiver would listen on nothing: set apm_config.receiver_port to a port, or \
         apm_config.receiver_socket to a path (or apm_config.enabled: false to turn APM off)"
    )]
    NoListener,
    #[error("cannot listen for traces on TCP {addr} (apm_config.receiver_port): {source}")]
    BindTcp { addr: SocketAddr, source: io::Error },
    #[error("cannot listen for traces on the socket {} (apm_config.receiver_socket): {source}", path.display())]
    BindSocket { path: PathBuf, source: io::Error },
    #[error(
        "apm_config.receiver_socket {} exists and is not a socket: remove it or choose another path",
        path.display()
    )]
    NotASocket { path: PathBuf },
    #[error("apm_config.receiver_socket {} is set, but Unix sockets are not available on this system", path.display())]
    SocketUnsupported { path: PathBuf },
}

/// A running trace receiver.
pub struct TraceReceiver {
    tcp_addr: Option<SocketAddr>,
    socket_path: Option<PathBuf>,
    pipeline: Arc<pipeline::Pipeline>,
    decoders: Arc<Semaphore>,
    stats: watch::Receiver<ReceiverStats>,
    shutdown: watch::Sender<bool>,
    shutdown_grace: Duration,
    servers: JoinSet<()>,
    flusher: JoinSet<()>,
}

impl TraceReceiver {
    /// Binds every configured listener and starts serving, with the system clock. Must run inside a
    /// Tokio runtime.
    pub async fn start(
        config: TraceReceiverConfig,
        sink: Arc<dyn TraceSink>,
    ) -> Result<Self, TraceReceiverError> {
        Self::start_with_clock(config, sink, system_clock()).await
    }

    /// [`TraceReceiver::start`] with another clock (tests move time through it).
    pub async fn start_with_clock(
        config: TraceReceiverConfig,
        sink: Arc<dyn TraceSink>,
        clock: Clock,
    ) -> Result<Self, TraceReceiverError> {
        if config.listen.is_none() && config.socket.is_none() {
            return Err(TraceReceiverError::NoListener);
        }
        let (stats_tx, stats) = watch::channel(ReceiverStats::default());
        let stats_tx = Arc::new(stats_tx);
        let (shutdown, _) = watch::channel(false);
        let pipeline = Arc::new(pipeline::Pipeline::new(
            pipeline::Settings {
                hostname: config.hostname.clone(),
                default_env: config.default_env.clone(),
                agent_version: config.agent_version.clone(),
                bucket: config.bucket,
                span_kinds: http::SPAN_KINDS_STATS_COMPUTED.map(str::to_owned).to_vec(),
                trace_buffer_bytes: config.trace_buffer_bytes,
            },
            sink,
            clock,
            Arc::clone(&stats_tx),
        ));
        // Listeners first, so `/info` can name the port the system picked.
        let mut tcp = None;
        if let Some(addr) = config.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| TraceReceiverError::BindTcp { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| TraceReceiverError::BindTcp { addr, source })?;
            tracing::info!(addr = %local, "Trace receiver listening on TCP.");
            tcp = Some((listener, local));
        }
        let socket = match &config.socket {
            Some(path) => {
                let listener = unix::bind(path).await?;
                tracing::info!(path = %path.display(), "Trace receiver listening on a Unix socket.");
                Some((listener, path.clone()))
            }
            None => None,
        };
        let tcp_addr = tcp.as_ref().map(|(_, local)| *local);

        let decoders = Arc::new(Semaphore::new(config.decoders.max(1)));
        let shared = http::Shared {
            pipeline: Arc::clone(&pipeline),
            stats: stats_tx,
            decoders: Arc::clone(&decoders),
            decoder_wait: config.decoder_wait,
            max_request_bytes: config.max_request_bytes,
            info: Arc::new(http::Info::new(&config, tcp_addr.map_or(0, |a| a.port()))),
        };
        let app = http::router(shared);
        let mut servers = JoinSet::new();
        if let Some((listener, _)) = tcp {
            let mut stop = shutdown.subscribe();
            let app = app.clone();
            servers.spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await;
                if let Err(err) = served {
                    tracing::error!(error = %err, "The trace receiver's TCP server failed.");
                }
            });
        }
        let socket_path = socket.map(|(listener, path)| {
            servers.spawn(unix::serve(listener, app, shutdown.subscribe()));
            path
        });

        let mut flusher = JoinSet::new();
        flusher.spawn(flush_loop(
            Arc::clone(&pipeline),
            config.trace_flush_interval,
            config.stats_flush_interval,
            shutdown.subscribe(),
        ));
        Ok(TraceReceiver {
            tcp_addr,
            socket_path,
            pipeline,
            decoders,
            stats,
            shutdown,
            shutdown_grace: config.shutdown_grace,
            servers,
            flusher,
        })
    }

    /// The bound TCP address (with the real port when 0 was asked for).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    pub fn socket_path(&self) -> Option<&Path> {
        self.socket_path.as_deref()
    }

    /// The counters as of now.
    pub fn stats(&self) -> ReceiverStats {
        self.stats.borrow().clone()
    }

    /// A receiver that is told after every change of the counters.
    pub fn watch_stats(&self) -> watch::Receiver<ReceiverStats> {
        self.stats.clone()
    }

    /// Sends the buffered traces and the closed stats buckets now (every bucket when `force`d), as the
    /// flush task does on its ticks. Blocking work: call it from the blocking pool.
    pub fn flush(&self, force: bool) {
        self.pipeline.flush_traces();
        self.pipeline.flush_stats(force);
    }

    /// Stops accepting, waits for the requests in flight (at most `shutdown_grace`, then their
    /// connections are cut), sends every trace and stats bucket, and removes the Unix socket file.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        let servers = &mut self.servers;
        let drained = tokio::time::timeout(self.shutdown_grace, async {
            while let Some(joined) = servers.join_next().await {
                if let Err(err) = joined {
                    tracing::error!(error = %err, "A trace receiver server task failed.");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                grace = ?self.shutdown_grace,
                "Trace receiver connections still open at shutdown were cut."
            );
            self.servers.abort_all();
            while self.servers.join_next().await.is_some() {}
        }
        // Payloads still waiting for a decoder are refused from here on.
        self.decoders.close();
        while let Some(joined) = self.flusher.join_next().await {
            if let Err(err) = joined {
                tracing::error!(error = %err, "The trace receiver's flush task failed.");
            }
        }
        let pipeline = Arc::clone(&self.pipeline);
        let flushed = tokio::task::spawn_blocking(move || {
            pipeline.flush_traces();
            pipeline.flush_stats(true);
        })
        .await;
        if let Err(err) = flushed {
            tracing::error!(error = %err, "The trace receiver's last flush failed.");
        }
        if let Some(path) = self.socket_path.take() {
            let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
            if let Ok(Err(err)) = removed {
                tracing::warn!(error = %err, "Could not remove the trace receiver's socket file.");
            }
        }
        tracing::info!("Trace receiver stopped.");
    }
}

impl fmt::Debug for TraceReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceReceiver")
            .field("tcp_addr", &self.tcp_addr)
            .field("socket_path", &self.socket_path)
            .field("stats", &*self.stats.borrow())
            .finish_non_exhaustive()
    }
}

/// Sends traces every `traces` (and whenever the buffer is full) and stats every `stats` until
/// shutdown; the last flush is the receiver's own, after its servers have stopped.
async fn flush_loop(
    pipeline: Arc<pipeline::Pipeline>,
    traces: Duration,
    stats: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut trace_tick = tokio::time::interval(traces.max(Duration::from_millis(1)));
    let mut stats_tick = tokio::time::interval(stats.max(Duration::from_millis(1)));
    trace_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stats_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Both intervals tick at once when created; nothing is buffered yet.
    trace_tick.tick().await;
    stats_tick.tick().await;
    loop {
        let job: fn(&pipeline::Pipeline) = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = trace_tick.tick() => |p| p.flush_traces(),
            () = pipeline.flush_wanted().notified() => |p| p.flush_traces(),
            _ = stats_tick.tick() => |p| p.flush_stats(false),
        };
        let pipeline = Arc::clone(&pipeline);
        if let Err(err) = tokio::task::spawn_blocking(move || job(&pipeline)).await {
            tracing::error!(error = %err, "A trace receiver flush failed.");
        }
    }
}

#[cfg(unix)]
mod unix {
    //! The Unix stream socket: created writable by everyone (mode 0722, as the trace-agent does), replacing
    //! a stale socket file left by an earlier run.

    use std::path::Path;

    use axum::Router;
    use tokio::net::UnixListener;
    use tokio::sync::watch;

    use super::TraceReceiverError;
    use crate::unix_socket::{self, SocketPathError};

    pub(super) async fn bind(path: &Path) -> Result<UnixListener, TraceReceiverError> {
        let path_buf = path.to_path_buf();
        unix_socket::bind(path, UnixListener::bind)
            .await
            .map_err(|err| match err {
                SocketPathError::NotASocket => TraceReceiverError::NotASocket { path: path_buf },
                SocketPathError::Io(source) => TraceReceiverError::BindSocket {
                    path: path_buf,
                    source,
                },
            })
    }

    pub(super) async fn serve(listener: UnixListener, app: Router, mut stop: watch::Receiver<bool>) {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "The trace receiver's socket server failed.");
        }
    }
}

#[cfg(not(unix))]
mod unix {
    //! Unix sockets are refused where the system has none.

    use std::path::Path;

    use axum::Router;
    use tokio::sync::watch;

    use super::TraceReceiverError;

    pub(super) struct NoSocket;

    pub(super) async fn bind(path: &Path) -> Result<NoSocket, TraceReceiverError> {
        Err(TraceReceiverError::SocketUnsupported {
            path: path.to_path_buf(),
        })
    }

    pub(super) async fn serve(_: NoSocket, _: Router, _: watch::Receiver<bool>) {}
}

#[cfg(test)]
mod tests;
