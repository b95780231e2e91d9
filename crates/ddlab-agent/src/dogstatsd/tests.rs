//! DogStatsD server tests: real datagrams over loopback UDP and a Unix socket, into a real aggregator,
//! waited for through the server's stats signal (never a sleep), then flushed at a chosen `now`.

use std::net::UdpSocket as StdUdpSocket;
use std::time::Duration;

use ddlab_wire::series::{MetricKind, Point, Series};

use super::*;
use crate::aggregator::{Aggregator, AggregatorConfig};

const NOW: f64 = 1_700_000_003.0;
const BUCKET: i64 = 1_700_000_000;

fn fixed_clock(now: f64) -> Clock {
    Arc::new(move || now)
}

fn handle() -> AggregatorHandle {
    AggregatorHandle::new(Aggregator::new(AggregatorConfig::new("lab-host")))
}

fn loopback(buffer_size: usize) -> Listen {
    Listen {
        udp: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        socket: None,
        buffer_size,
    }
}

/// Waits until the server has taken in `packets` datagrams, at most 10 s.
async fn wait_for_packets(server: &DogStatsd, packets: u64) -> DogStatsdStats {
    let mut stats = server.watch_stats();
    tokio::time::timeout(Duration::from_secs(10), stats.wait_for(|s| s.packets >= packets))
        .await
        .unwrap_or_else(|_| panic!("the server took in fewer than {packets} datagrams in 10 s"))
        .expect("the server is running")
        .clone()
}

fn send_udp(to: SocketAddr, datagrams: &[&[u8]]) {
    let client = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("client socket");
    for datagram in datagrams {
        client.send_to(datagram, to).expect("send");
    }
}

fn series(metric: &str, kind: MetricKind, value: f64) -> Series {
    Series {
        host: Some("lab-host".into()),
        interval: Some(10),
        points: vec![Point {
            timestamp: BUCKET,
            value,
        }],
        ..Series::new(metric, kind)
    }
}

#[tokio::test]
async fn udp_datagrams_are_parsed_aggregated_and_flushed() {
    let server = DogStatsd::start(&loopback(8192), handle(), fixed_clock(NOW))
        .await
        .expect("starts");
    let addr = server.udp_addr().expect("UDP is bound");
    assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(addr.port(), 0);
    let datagrams: [&[u8]; 5] = [
        b"page.views:1|c\npage.views:2|c|@0.5",
        b"fuel.level:0.5|g|#env:dev",
        b"not a metric\n_sc|app.up|0|m:fine",
        b"_e{5,4}:Title|Text|t:error",
        b"users:alice|s\nusers:bob|s\nusers:alice|s",
    ];
    send_udp(addr, &datagrams);
    let stats = wait_for_packets(&server, 5).await;
    assert_eq!(
        stats,
        DogStatsdStats {
            packets: 5,
            bytes: datagrams.iter().map(|d| d.len() as u64).sum(),
            metric_samples: 6,
            events: 1,
            service_checks: 1,
            parse_errors: 1,
            last_error: Some(
                "line 1: \"not a metric\" has no '|': expected <name>:<value>|<type>, an event \
                 (_e{...}) or a service check (_sc|...)"
                    .into()
            ),
            ignored_fields: 0,
            receive_errors: 0,
            udp_kernel_drops: 0,
            drained_at_stop: 0,
        }
    );

    // Events and service checks go with the next flush; metrics wait for their bucket to close.
    let early = server.flush(NOW);
    assert_eq!(early.series.series, [], "the bucket of the samples is still open");
    assert_eq!(early.events.len(), 1);
    assert_eq!(early.events[0].title, "Title");
    assert_eq!(early.events[0].host.as_deref(), Some("lab-host"));
    assert_eq!(early.events[0].date_happened, Some(NOW as i64));
    assert_eq!(early.service_checks.len(), 1);
    assert_eq!(early.service_checks[0].check, "app.up");
    assert_eq!(early.service_checks[0].host_name, "lab-host");

    let flush = server.flush(NOW + 10.0);
    assert_eq!(
        flush.series.series,
        [
            Series {
                tags: vec!["env:dev".into()],
                ..series("fuel.level", MetricKind::Gauge, 0.5)
            },
            series("page.views", MetricKind::Rate, 0.5),
            series("users", MetricKind::Gauge, 2.0),
        ]
    );
    assert!(flush.events.is_empty() && flush.service_checks.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn datagrams_the_kernel_dropped_on_a_full_buffer_are_counted() {
    // The test's runtime has one thread: the server cannot read while this test sends, so the socket's
    // receive buffer overflows and the kernel drops the rest.
    let server = DogStatsd::start(&loopback(8192), handle(), fixed_clock(NOW))
        .await
        .expect("starts");
    let addr = server.udp_addr().expect("UDP is bound");
    let sent = 5_000u64;
    let datagram: &[u8] = b"chaos.flood:1|c";
    send_udp(addr, &vec![datagram; sent as usize]);
    let mut stats = server.watch_stats();
    let accounted = tokio::time::timeout(
        Duration::from_secs(10),
        stats.wait_for(|s| s.packets + s.udp_kernel_drops == sent),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not every datagram was read or counted as dropped: {:?}",
            server.stats()
        )
    })
    .expect("the server is running")
    .clone();
    assert!(
        accounted.udp_kernel_drops > 0,
        "the buffer never overflowed: {accounted:?}"
    );
    assert_eq!(accounted.metric_samples, accounted.packets);
    let stopped = server.shutdown().await;
    assert_eq!(
        (stopped.packets, stopped.udp_kernel_drops, stopped.drained_at_stop),
        (accounted.packets, accounted.udp_kernel_drops, 0)
    );
}

#[tokio::test]
async fn what_is_queued_at_the_stop_is_read_before_the_socket_closes() {
    // Nothing is read before the stop (one-thread runtime, no await in between): the stop reads it all.
    let server = DogStatsd::start(&loopback(8192), handle(), fixed_clock(NOW))
        .await
        .expect("starts");
    let addr = server.udp_addr().expect("UDP is bound");
    let datagram: &[u8] = b"chaos.queued:1|c";
    send_udp(addr, &[datagram; 100]);
    let aggregator = server.aggregator.clone();
    let stats = server.shutdown().await;
    assert_eq!(
        (stats.packets, stats.metric_samples, stats.drained_at_stop),
        (100, 100, 100)
    );
    let flush = aggregator.lock().flush_all(NOW + 10.0);
    assert_eq!(
        flush.series.series,
        [series("chaos.queued", MetricKind::Rate, 10.0)]
    );
}

#[tokio::test]
async fn a_datagram_longer_than_the_buffer_is_cut_at_the_buffer_size() {
    let server = DogStatsd::start(&loopback(16), handle(), fixed_clock(NOW))
        .await
        .expect("starts");
    let addr = server.udp_addr().expect("UDP is bound");
    // 20 bytes: the second line is cut to "xyz" and refused.
    send_udp(addr, &[b"abcdefgh:1|c\nxyz:2|c"]);
    let stats = wait_for_packets(&server, 1).await;
    assert_eq!(
        (stats.bytes, stats.metric_samples, stats.parse_errors),
        (16, 1, 1)
    );
    assert_eq!(
        stats.last_error.as_deref(),
        Some(
            "line 2: \"xyz\" has no '|': expected <name>:<value>|<type>, an event (_e{...}) or a \
             service check (_sc|...)"
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ignored_event_fields_are_counted() {
    let server = DogStatsd::start(&loopback(8192), handle(), fixed_clock(NOW))
        .await
        .expect("starts");
    send_udp(
        server.udp_addr().expect("UDP is bound"),
        &[b"_e{1,1}:a|b|p:urgent|t:fatal"],
    );
    let stats = wait_for_packets(&server, 1).await;
    assert_eq!(
        (stats.events, stats.ignored_fields, stats.parse_errors),
        (1, 2, 0)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_reported_with_the_config_key() {
    let taken = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = taken.local_addr().expect("address");
    let listen = Listen {
        udp: Some(addr),
        ..loopback(8192)
    };
    let err = DogStatsd::start(&listen, handle(), fixed_clock(NOW))
        .await
        .expect_err("the port is taken");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "cannot listen for DogStatsD on UDP {addr} (dogstatsd_port): "
        )),
        "{shown}"
    );
}

#[tokio::test]
async fn listening_on_nothing_is_refused() {
    let listen = Listen {
        udp: None,
        socket: None,
        buffer_size: 8192,
    };
    let err = DogStatsd::start(&listen, handle(), fixed_clock(NOW))
        .await
        .expect_err("no listener");
    assert_eq!(
        err.to_string(),
        "DogStatsD would listen on nothing: set dogstatsd_port to a port, or dogstatsd_socket to a path \
         (or use_dogstatsd: false to turn it off)"
    );
}

#[test]
fn listen_follows_the_agent_config() {
    let config = |port, non_local_traffic| DogStatsdConfig {
        enabled: true,
        port,
        socket: None,
        non_local_traffic,
        buffer_size: 8192,
        tags: Vec::new(),
        expiry_seconds: 300.0,
    };
    assert_eq!(
        Listen::from_config(&config(8125, false)).udp,
        Some(SocketAddr::from(([127, 0, 0, 1], 8125)))
    );
    assert_eq!(
        Listen::from_config(&config(8125, true)).udp,
        Some(SocketAddr::from(([0, 0, 0, 0], 8125)))
    );
    assert_eq!(Listen::from_config(&config(0, false)).udp, None);
}

#[cfg(unix)]
mod unix_socket {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixDatagram as StdUnixDatagram;

    use super::*;

    fn socket_only(path: &Path) -> Listen {
        Listen {
            udp: None,
            socket: Some(path.to_path_buf()),
            buffer_size: 8192,
        }
    }

    #[tokio::test]
    async fn datagrams_on_the_socket_reach_the_aggregator_and_the_file_is_removed_at_shutdown() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dsd.socket");
        // A stale socket from an earlier run is replaced.
        let stale = StdUnixDatagram::bind(&path).expect("stale socket");
        drop(stale);
        let server = DogStatsd::start(&socket_only(&path), handle(), fixed_clock(NOW))
            .await
            .expect("starts");
        assert_eq!(server.udp_addr(), None);
        let meta = std::fs::metadata(&path).expect("socket file");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o722);

        let client = StdUnixDatagram::unbound().expect("client");
        client
            .send_to(b"queue.depth:7|g|#host:worker-1", &path)
            .expect("send");
        wait_for_packets(&server, 1).await;
        assert_eq!(
            server.flush(NOW + 10.0).series.series,
            [Series {
                host: Some("worker-1".into()),
                ..series("queue.depth", MetricKind::Gauge, 7.0)
            }]
        );
        server.shutdown().await;
        assert!(!path.exists(), "the socket file is removed at shutdown");
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("precious.txt");
        std::fs::write(&path, "keep me").expect("write");
        let err = DogStatsd::start(&socket_only(&path), handle(), fixed_clock(NOW))
            .await
            .expect_err("not a socket");
        assert_eq!(
            err.to_string(),
            format!(
                "dogstatsd_socket {} exists and is not a socket: remove it or choose another path",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&path).expect("still there"), "keep me");
    }
}
