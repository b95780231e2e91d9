//! The DogStatsD server: UDP on `dogstatsd_port` and, optionally, a Unix datagram socket at
//! `dogstatsd_socket`, each datagram parsed ([`ddlab_wire::dogstatsd`]) and fed to the shared
//! [`Aggregator`](crate::aggregator::Aggregator).
//!
//! ```text
//!  UDP 127.0.0.1:8125 ─┐                  parse per line           AggregatorHandle
//!  dogstatsd_socket ───┴─▶ recv task ──▶ (metric | event | _sc) ──▶ add_dogstatsd(now) ──▶ flush(now) by the runtime
//!                                         └─ errors ──▶ DogStatsdStats (status)
//! ```
//!
//! One task per listener reads datagrams of up to `dogstatsd_buffer_size` bytes (a longer datagram is cut
//! there by the kernel, as in the Agent), reads the clock once per datagram, and adds what parsed to the
//! aggregator under one short lock. Nothing is flushed here: the runtime calls
//! [`AggregatorHandle::flush`] (or [`DogStatsd::flush`]) every 15 s with its `now`.
//!
//! The server owns its tasks: [`DogStatsd::shutdown`] stops them, waits for them and removes the Unix
//! socket file; dropping the server aborts them.
//!
//! No datagram is lost uncounted. At shutdown each socket is first connected to itself, so the kernel
//! stops queueing other senders' datagrams for it (UDP: it counts them as sent to no port, `Udp:
//! NoPorts`, as when no agent runs; Unix socket: the senders get an error), then what is already queued
//! is read and aggregated (`drained_at_stop`) before the socket is closed. Datagrams the kernel dropped
//! because the UDP socket's receive buffer was full are read from `/proc/net/udp` (`udp_kernel_drops`).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

mod kernel;

use ddlab_wire::dogstatsd::{self as wire, Message};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::aggregator::{AggregatorHandle, Flush};
use crate::config::DogStatsdConfig;

/// Where the server listens, derived from the `dogstatsd_*` keys by [`Listen::from_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// `127.0.0.1:<dogstatsd_port>`, or `0.0.0.0:<port>` with `dogstatsd_non_local_traffic`; `None` when
    /// the port is 0. Port 0 here (tests) asks the system for a free port.
    pub udp: Option<SocketAddr>,
    /// `dogstatsd_socket`: a Unix datagram socket; default none.
    pub socket: Option<PathBuf>,
    /// `dogstatsd_buffer_size`: the largest datagram read, in bytes; default 8192.
    pub buffer_size: usize,
}

/// Reads the current time as Unix seconds, fractional. The server calls it once per datagram.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// What the server has seen since it started, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DogStatsdStats {
    /// Datagrams received.
    pub packets: u64,
    pub bytes: u64,
    /// Metric samples parsed (one per value of a packed line).
    pub metric_samples: u64,
    pub events: u64,
    pub service_checks: u64,
    /// Lines that could not be parsed.
    pub parse_errors: u64,
    /// The last of them, with its line and field.
    pub last_error: Option<String>,
    /// Optional fields of events and service checks ignored for a bad value.
    pub ignored_fields: u64,
    /// Failed reads from a socket (the read is retried).
    pub receive_errors: u64,
    /// Datagrams the kernel dropped on the UDP socket because its receive buffer was full (the socket's
    /// `drops` in `/proc/net/udp`, read every second and at shutdown; 0 where there is no such file).
    pub udp_kernel_drops: u64,
    /// Datagrams still queued when shutdown began, read and aggregated before the sockets closed.
    pub drained_at_stop: u64,
}

/// A running DogStatsD server.
pub struct DogStatsd {
    udp_addr: Option<SocketAddr>,
    /// Where the kernel counts what it dropped on the UDP socket.
    udp_drops: Option<kernel::UdpDrops>,
    socket_path: Option<PathBuf>,
    aggregator: AggregatorHandle,
    stats: watch::Receiver<DogStatsdStats>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DogStatsdError {
    #[error(
        "DogStatsD would listen on nothing: set dogstatsd_port to a port, or dogstatsd_socket to a path \
         (or use_dogstatsd: false to turn it off)"
    )]
    NoListener,
    #[error("cannot listen for DogStatsD on UDP {addr} (dogstatsd_port): {source}")]
    BindUdp { addr: SocketAddr, source: io::Error },
    #[error("cannot listen for DogStatsD on the socket {} (dogstatsd_socket): {source}", path.display())]
    BindSocket { path: PathBuf, source: io::Error },
    #[error(
        "dogstatsd_socket {} exists and is not a socket: remove it or choose another path",
        path.display()
    )]
    NotASocket { path: PathBuf },
    #[error("dogstatsd_socket {} is set, but Unix sockets are not available on this system", path.display())]
    SocketUnsupported { path: PathBuf },
}

impl Listen {
    /// The Agent's rules: port 0 closes UDP; without `dogstatsd_non_local_traffic` only loopback is bound.
    pub fn from_config(config: &DogStatsdConfig) -> Self {
        let host = if config.non_local_traffic {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        };
        Listen {
            udp: (config.port != 0).then(|| SocketAddr::new(host, config.port)),
            socket: config.socket.clone(),
            buffer_size: config.buffer_size,
        }
    }
}

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    })
}

impl DogStatsd {
    /// Binds every configured listener and starts reading. Must run inside a Tokio runtime.
    pub async fn start(
        listen: &Listen,
        aggregator: AggregatorHandle,
        clock: Clock,
    ) -> Result<Self, DogStatsdError> {
        if listen.udp.is_none() && listen.socket.is_none() {
            return Err(DogStatsdError::NoListener);
        }
        let (stats_tx, stats) = watch::channel(DogStatsdStats::default());
        let (shutdown, _) = watch::channel(false);
        let ingest = Ingest {
            aggregator: aggregator.clone(),
            stats: Arc::new(stats_tx),
            clock,
        };
        let buffer_size = listen.buffer_size.max(1);
        let mut tasks = JoinSet::new();

        let mut udp_addr = None;
        let mut udp_drops = None;
        if let Some(addr) = listen.udp {
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|source| DogStatsdError::BindUdp { addr, source })?;
            let local = socket
                .local_addr()
                .map_err(|source| DogStatsdError::BindUdp { addr, source })?;
            tracing::info!(addr = %local, "DogStatsD listening on UDP");
            udp_addr = Some(local);
            udp_drops = kernel::UdpDrops::of(&socket);
            tasks.spawn(serve_udp(
                socket,
                buffer_size,
                ingest.clone(),
                udp_drops.clone(),
                shutdown.subscribe(),
            ));
        }
        let socket_path = match &listen.socket {
            Some(path) => {
                let socket = unix::bind(path).await?;
                tracing::info!(path = %path.display(), "DogStatsD listening on a Unix socket");
                tasks.spawn(unix::serve(socket, buffer_size, ingest, shutdown.subscribe()));
                Some(path.clone())
            }
            None => None,
        };
        Ok(DogStatsd {
            udp_addr,
            udp_drops,
            socket_path,
            aggregator,
            stats,
            shutdown,
            tasks,
        })
    }

    /// The bound UDP address (with the real port when 0 was asked for).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    pub fn socket_path(&self) -> Option<&Path> {
        self.socket_path.as_deref()
    }

    /// What the kernel holds for the UDP socket right now: the bytes queued (as the kernel accounts
    /// them) and the datagrams it dropped for want of room; `None` without UDP or `/proc`.
    pub fn udp_kernel_queue(&self) -> Option<(u64, u64)> {
        self.udp_drops.as_ref()?.entry()
    }

    /// The counters as of now.
    pub fn stats(&self) -> DogStatsdStats {
        self.stats.borrow().clone()
    }

    /// A receiver that is told after every datagram, once its contents are in the aggregator.
    pub fn watch_stats(&self) -> watch::Receiver<DogStatsdStats> {
        self.stats.clone()
    }

    /// Flushes the aggregator this server feeds (see [`crate::aggregator::Aggregator::flush`]).
    pub fn flush(&self, now: f64) -> Flush {
        self.aggregator.flush(now)
    }

    /// Stops taking datagrams, reads what is queued, waits for the tasks, and removes the Unix socket
    /// file; returns the final counters (also logged, as `DogStatsD stopped`).
    pub async fn shutdown(mut self) -> DogStatsdStats {
        let _ = self.shutdown.send(true);
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(err) = joined {
                tracing::error!(error = %err, "a DogStatsD listener task failed");
            }
        }
        if let Some(path) = self.socket_path.take() {
            let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
            if let Ok(Err(err)) = removed {
                tracing::warn!(error = %err, "could not remove the DogStatsD socket file");
            }
        }
        let stats = self.stats();
        tracing::info!(
            packets = stats.packets,
            metric_samples = stats.metric_samples,
            events = stats.events,
            service_checks = stats.service_checks,
            parse_errors = stats.parse_errors,
            udp_kernel_drops = stats.udp_kernel_drops,
            drained_at_stop = stats.drained_at_stop,
            "DogStatsD stopped"
        );
        stats
    }
}

impl fmt::Debug for DogStatsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DogStatsd")
            .field("udp_addr", &self.udp_addr)
            .field("socket_path", &self.socket_path)
            .field("stats", &*self.stats.borrow())
            .finish_non_exhaustive()
    }
}

/// What a listener task needs to take a datagram in.
#[derive(Clone)]
struct Ingest {
    aggregator: AggregatorHandle,
    stats: Arc<watch::Sender<DogStatsdStats>>,
    clock: Clock,
}

impl Ingest {
    /// Parses a datagram, adds what parsed at the clock's time, then counts it.
    fn datagram(&self, bytes: &[u8]) {
        let now = (self.clock)();
        let mut messages = Vec::new();
        let mut counted = DogStatsdStats {
            packets: 1,
            bytes: bytes.len() as u64,
            ..DogStatsdStats::default()
        };
        for line in wire::parse(bytes) {
            match line {
                Ok(line) => {
                    match &line.message {
                        Message::Metric(metric) => counted.metric_samples += metric.sample.count() as u64,
                        Message::Event(_) => counted.events += 1,
                        Message::ServiceCheck(_) => counted.service_checks += 1,
                    }
                    for ignored in &line.ignored {
                        tracing::debug!(problem = %ignored, "DogStatsD field ignored");
                    }
                    counted.ignored_fields += line.ignored.len() as u64;
                    messages.push(line.message);
                }
                Err(err) => {
                    tracing::debug!(error = %err, "DogStatsD line refused");
                    counted.parse_errors += 1;
                    counted.last_error = Some(err.to_string());
                }
            }
        }
        if !messages.is_empty() {
            let mut aggregator = self.aggregator.lock();
            for message in messages {
                aggregator.add_dogstatsd(message, now);
            }
        }
        self.stats.send_modify(|stats| {
            stats.packets += counted.packets;
            stats.bytes += counted.bytes;
            stats.metric_samples += counted.metric_samples;
            stats.events += counted.events;
            stats.service_checks += counted.service_checks;
            stats.parse_errors += counted.parse_errors;
            stats.ignored_fields += counted.ignored_fields;
            if counted.last_error.is_some() {
                stats.last_error = counted.last_error;
            }
        });
    }

    fn receive_error(&self, err: &io::Error) {
        tracing::warn!(error = %err, "DogStatsD could not read a datagram");
        self.stats.send_modify(|stats| stats.receive_errors += 1);
    }

    /// Takes in every datagram `read` still finds (it must not wait), counting them as drained at stop.
    fn drain(&self, buffer: &mut [u8], mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) {
        let mut drained = 0;
        loop {
            match read(buffer) {
                Ok(len) => {
                    self.datagram(&buffer[..len]);
                    drained += 1;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    self.receive_error(&err);
                    break;
                }
            }
        }
        self.stats.send_modify(|stats| stats.drained_at_stop += drained);
    }

    fn kernel_drops(&self, drops: Option<u64>) {
        if let Some(drops) = drops {
            self.stats.send_if_modified(|stats| {
                let changed = stats.udp_kernel_drops != drops;
                stats.udp_kernel_drops = drops;
                changed
            });
        }
    }
}

/// How often the UDP socket's kernel drop count is read.
const KERNEL_DROPS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn serve_udp(
    socket: UdpSocket,
    buffer_size: usize,
    ingest: Ingest,
    drops: Option<kernel::UdpDrops>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; buffer_size];
    let mut drops_tick = tokio::time::interval(KERNEL_DROPS_EVERY);
    drops_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // Shutdown first: what is queued then is drained below, and counted as such.
            biased;
            _ = shutdown.changed() => break,
            received = socket.recv_from(&mut buffer) => match received {
                Ok((len, _)) => ingest.datagram(&buffer[..len]),
                Err(err) => ingest.receive_error(&err),
            },
            _ = drops_tick.tick() => ingest.kernel_drops(drops.as_ref().and_then(kernel::UdpDrops::read)),
        }
    }
    // A socket connected to itself takes only its own datagrams: the kernel stops queueing the others
    // (and counts them in `Udp: NoPorts`), so the queue can be read to its end before the socket closes.
    // The plain socket is read, not tokio's: tokio answers "would block" until its poller has seen the
    // socket readable, which a queue filled before the stop may never have been.
    match socket.into_std() {
        Ok(socket) => {
            match socket.local_addr() {
                Ok(local) => {
                    let own = if local.ip().is_unspecified() {
                        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
                    } else {
                        local
                    };
                    if let Err(err) = socket.connect(own) {
                        tracing::warn!(error = %err, "DogStatsD could not stop the kernel queueing datagrams at shutdown");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "DogStatsD could not read its own address at shutdown")
                }
            }
            ingest.drain(&mut buffer, |buffer| socket.recv(buffer));
        }
        Err(err) => tracing::warn!(error = %err, "DogStatsD could not read what was queued at shutdown"),
    }
    ingest.kernel_drops(drops.as_ref().and_then(kernel::UdpDrops::read));
}

#[cfg(unix)]
mod unix {
    //! The Unix datagram socket: created with write access for everyone (mode 0722, as the Agent does),
    //! replacing a stale socket file left by an earlier run.

    use std::path::Path;

    use tokio::net::UnixDatagram;
    use tokio::sync::watch;

    use super::{DogStatsdError, Ingest};
    use crate::unix_socket::{self, SocketPathError};

    pub(super) async fn bind(path: &Path) -> Result<UnixDatagram, DogStatsdError> {
        let path_buf = path.to_path_buf();
        unix_socket::bind(path, UnixDatagram::bind)
            .await
            .map_err(|err| match err {
                SocketPathError::NotASocket => DogStatsdError::NotASocket { path: path_buf },
                SocketPathError::Io(source) => DogStatsdError::BindSocket {
                    path: path_buf,
                    source,
                },
            })
    }

    pub(super) async fn serve(
        socket: UnixDatagram,
        buffer_size: usize,
        ingest: Ingest,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut buffer = vec![0; buffer_size];
        loop {
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                received = socket.recv(&mut buffer) => match received {
                    Ok(len) => ingest.datagram(&buffer[..len]),
                    Err(err) => ingest.receive_error(&err),
                },
            }
        }
        // Connected to itself, the socket refuses other senders (they get EPERM, so nothing they send
        // now is lost without them knowing); what is queued is then read to its end, from the plain
        // socket (see `serve_udp`).
        match socket.into_std() {
            Ok(socket) => {
                let own = socket
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(Path::to_path_buf));
                if let Some(own) = own
                    && let Err(err) = socket.connect(&own)
                {
                    tracing::warn!(error = %err, "DogStatsD could not stop the Unix socket taking datagrams at shutdown");
                }
                ingest.drain(&mut buffer, |buffer| socket.recv(buffer));
            }
            Err(err) => tracing::warn!(error = %err, "DogStatsD could not read what was queued at shutdown"),
        }
    }
}

#[cfg(not(unix))]
mod unix {
    //! Unix sockets are refused where the system has none.

    use std::path::Path;

    use tokio::sync::watch;

    use super::{DogStatsdError, Ingest};

    pub(super) struct NoSocket;

    pub(super) async fn bind(path: &Path) -> Result<NoSocket, DogStatsdError> {
        Err(DogStatsdError::SocketUnsupported {
            path: path.to_path_buf(),
        })
    }

    pub(super) async fn serve(_: NoSocket, _: usize, _: Ingest, _: watch::Receiver<bool>) {}
}

#[cfg(test)]
mod tests;
