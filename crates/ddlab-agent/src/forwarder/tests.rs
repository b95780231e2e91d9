//! Forwarder tests against a real HTTP intake on a loopback port: an axum server the test starts, makes
//! answer errors, stops and starts again on the same port, while the forwarder retries, backs off, drops
//! and counts. Waits are bounded polls of what the server received or of the forwarder's counters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";
const DEADLINE: Duration = Duration::from_secs(20);

/// What the intake answers to posts.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Accept,
    Refuse(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Log {
    mode: Arc<Mutex<Option<Mode>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// A running intake; [`Intake::stop`] closes its port and connections.
struct Intake {
    addr: SocketAddr,
    log: Log,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn accept(State(log): State<Log>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = log.mode.lock().unwrap().unwrap_or(Mode::Accept);
    match mode {
        Mode::Accept => {
            log.received.lock().unwrap().push(Received {
                path: uri.path().to_owned(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: body.to_vec(),
            });
            StatusCode::ACCEPTED
        }
        Mode::Refuse(code) => StatusCode::from_u16(code).unwrap(),
    }
}

async fn validate(headers: HeaderMap) -> StatusCode {
    match headers.get("dd-api-key").and_then(|v| v.to_str().ok()) {
        Some(KEY) => StatusCode::OK,
        _ => StatusCode::FORBIDDEN,
    }
}

impl Intake {
    async fn start() -> Intake {
        Intake::start_on("127.0.0.1:0".parse().unwrap(), Log::default()).await
    }

    async fn start_on(addr: SocketAddr, log: Log) -> Intake {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/api/v2/series", post(accept))
            .route("/api/v1/series", post(accept))
            .route("/api/v1/check_run", post(accept))
            .route("/intake/", post(accept))
            .route("/api/v0.2/traces", post(accept))
            .route("/api/v0.2/stats", post(accept))
            .route("/api/v1/validate", get(validate))
            .with_state(log.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Intake {
            addr,
            log,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, mode: Mode) {
        *self.log.mode.lock().unwrap() = Some(mode);
    }

    fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// The same intake again, on the same port, with what it received so far.
    async fn restart(mut self) -> Intake {
        self.stop().await;
        Intake::start_on(self.addr, self.log.clone()).await
    }
}

fn options(url: String, max_bytes: usize, backoff_ms: u64) -> ForwarderOptions {
    ForwarderOptions {
        apm_url: url.clone(),
        url,
        api_key: Some(ApiKey::new(KEY)),
        timeout: Duration::from_secs(5),
        retry_queue_max_bytes: max_bytes,
        backoff: Backoff {
            base: Duration::from_millis(backoff_ms),
            max: Duration::from_millis(backoff_ms * 2),
        },
        stop_timeout: Duration::from_secs(5),
        agent_version: "7.71.0".into(),
    }
}

fn tx(tag: u8, size: usize) -> Transaction {
    Transaction::new(Endpoint::SeriesV2, vec![tag; size], ddlab_wire::Encoding::Zstd)
}

/// Polls `condition` every 10 ms until it holds, failing after [`DEADLINE`].
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn tags(received: &[Received]) -> Vec<u8> {
    received.iter().map(|r| r.body[0]).collect()
}

#[tokio::test]
async fn delivers_with_the_agents_headers() {
    let mut intake = Intake::start().await;
    let forwarder = Forwarder::start(options(intake.url(), 1000, 50)).unwrap();
    forwarder.submit(vec![
        tx(1, 10),
        Transaction::new(Endpoint::CheckRun, b"[]".to_vec(), ddlab_wire::Encoding::Identity),
    ]);
    until("two payloads", || intake.received().len() == 2).await;
    let received = intake.received();
    assert_eq!(received[0].path, "/api/v2/series");
    let header = |r: &Received, name: &str| r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(header(&received[0], "dd-api-key").as_deref(), Some(KEY));
    assert_eq!(
        header(&received[0], "dd-agent-version").as_deref(),
        Some("7.71.0")
    );
    assert_eq!(
        header(&received[0], "user-agent").as_deref(),
        Some("datadog-agent/7.71.0")
    );
    assert_eq!(
        header(&received[0], "content-type").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(header(&received[0], "content-encoding").as_deref(), Some("zstd"));
    assert_eq!(received[1].path, "/api/v1/check_run");
    assert_eq!(header(&received[1], "content-encoding"), None);
    let stats = forwarder.shutdown().await;
    assert_eq!(stats.transactions.success, 2);
    assert_eq!(
        stats.transactions.success_by_endpoint,
        BTreeMap::from([("check_run_v1".to_owned(), 1), ("series_v2".to_owned(), 1)])
    );
    intake.stop().await;
}

#[tokio::test]
async fn apm_payloads_go_to_the_trace_intake_with_their_headers() {
    let mut metrics = Intake::start().await;
    let mut traces = Intake::start().await;
    let forwarder = Forwarder::start(ForwarderOptions {
        apm_url: traces.url(),
        ..options(metrics.url(), 1000, 50)
    })
    .unwrap();
    let apm = |kind, languages: Option<&str>| {
        let mut headers = vec![
            ("Content-Type", "application/x-protobuf".to_owned()),
            ("Content-Encoding", "gzip".to_owned()),
        ];
        if let Some(languages) = languages {
            headers.push(("X-Datadog-Reported-Languages", languages.to_owned()));
        }
        Transaction::apm(crate::trace::ApmPayload {
            kind,
            headers,
            body: b"payload".to_vec(),
        })
    };
    forwarder.submit(vec![
        apm(crate::trace::ApmPayloadKind::Traces, Some("python|go")),
        tx(7, 5),
        apm(crate::trace::ApmPayloadKind::Stats, None),
    ]);
    until("two APM payloads", || traces.received().len() == 2).await;
    until("one series payload", || metrics.received().len() == 1).await;
    let received = traces.received();
    let header = |r: &Received, name: &str| r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(
        received.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
        ["/api/v0.2/traces", "/api/v0.2/stats"]
    );
    let shown: Vec<[Option<String>; 4]> = received
        .iter()
        .map(|r| {
            [
                header(r, "content-type"),
                header(r, "content-encoding"),
                header(r, "x-datadog-reported-languages"),
                header(r, "dd-api-key"),
            ]
        })
        .collect();
    assert_eq!(
        shown,
        [
            [
                Some("application/x-protobuf".to_owned()),
                Some("gzip".to_owned()),
                Some("python|go".to_owned()),
                Some(KEY.to_owned())
            ],
            [
                Some("application/msgpack".to_owned()),
                Some("gzip".to_owned()),
                None,
                Some(KEY.to_owned())
            ],
        ]
    );
    assert_eq!(metrics.received()[0].path, "/api/v2/series");
    let stats = forwarder.shutdown().await;
    assert_eq!(
        stats.transactions.success_by_endpoint,
        BTreeMap::from([
            ("apm_stats".to_owned(), 1),
            ("apm_traces".to_owned(), 1),
            ("series_v2".to_owned(), 1)
        ])
    );
    assert_eq!(stats.apm_endpoint, traces.url());
    metrics.stop().await;
    traces.stop().await;
}

#[tokio::test]
async fn a_failing_intake_gets_retries_in_order_until_it_answers() {
    let mut intake = Intake::start().await;
    intake.set(Mode::Refuse(503));
    let forwarder = Forwarder::start(options(intake.url(), 1000, 20)).unwrap();
    forwarder.submit(vec![tx(1, 10), tx(2, 10), tx(3, 10)]);
    until("two failed attempts", || {
        forwarder.stats().transactions.errors >= 2
    })
    .await;
    let stats = forwarder.stats();
    assert_eq!(stats.retry_queue.payloads, 3);
    assert_eq!(stats.transactions.success, 0);
    intake.set(Mode::Accept);
    until("three payloads", || intake.received().len() == 3).await;
    assert_eq!(tags(&intake.received()), [1, 2, 3]);
    let stats = forwarder.shutdown().await;
    assert_eq!(stats.transactions.success, 3);
    assert!(stats.transactions.retried >= 3, "{stats:?}");
    assert_eq!(
        stats.transactions.http_errors_by_code.keys().collect::<Vec<_>>(),
        [&503]
    );
    assert_eq!(stats.transactions.dropped_retry_queue_full, 0);
    assert_eq!(stats.transactions.dropped_on_shutdown, 0);
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("answered 503")),
        "{:?}",
        stats.last_error
    );
    intake.stop().await;
}

#[tokio::test]
async fn a_stopped_intake_loses_only_what_overflows_the_queue_and_counts_it() {
    let mut intake = Intake::start().await;
    intake.stop().await;
    // 250 bytes of queue: two 100-byte payloads fit; five are sent while the port is closed, the two
    // oldest service checks, the rest series.
    let forwarder = Forwarder::start(options(intake.url(), 250, 100)).unwrap();
    let check_runs =
        (1..=2).map(|tag| Transaction::new(Endpoint::CheckRun, vec![tag; 100], ddlab_wire::Encoding::Zstd));
    forwarder.submit(check_runs.chain((3..=5).map(|tag| tx(tag, 100))).collect());
    until("three dropped payloads", || {
        forwarder.stats().transactions.dropped_retry_queue_full == 3
    })
    .await;
    let stats = forwarder.stats();
    assert_eq!(stats.transactions.dropped_retry_queue_full_bytes, 300);
    assert_eq!(
        stats.transactions.dropped_by_endpoint,
        BTreeMap::from([("check_run_v1".to_owned(), 2), ("series_v2".to_owned(), 1)])
    );
    assert_eq!((stats.retry_queue.payloads, stats.retry_queue.bytes), (2, 200));
    assert!(
        stats
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("cannot reach")),
        "{:?}",
        stats.last_error
    );

    let mut intake = intake.restart().await;
    until("the two newest payloads", || intake.received().len() == 2).await;
    assert_eq!(tags(&intake.received()), [4, 5]);
    let stats = forwarder.shutdown().await;
    assert_eq!(stats.transactions.success, 2);
    assert_eq!(stats.transactions.dropped_retry_queue_full, 3);
    assert_eq!((stats.retry_queue.payloads, stats.retry_queue.bytes), (0, 0));
    intake.stop().await;
}

#[tokio::test]
async fn client_errors_are_dropped_but_408_and_429_are_retried() {
    let mut intake = Intake::start().await;
    let forwarder = Forwarder::start(options(intake.url(), 1000, 20)).unwrap();
    for code in [400, 404, 413] {
        intake.set(Mode::Refuse(code));
        let before = forwarder.stats().transactions.dropped_http;
        forwarder.submit(vec![tx(1, 10)]);
        until("a dropped payload", || {
            forwarder.stats().transactions.dropped_http == before + 1
        })
        .await;
    }
    for code in [408, 429] {
        intake.set(Mode::Refuse(code));
        let before = forwarder.stats().transactions.errors;
        forwarder.submit(vec![tx(code as u8, 10)]);
        until("a failed attempt", || {
            forwarder.stats().transactions.errors > before
        })
        .await;
        intake.set(Mode::Accept);
        until("the retried payload", || {
            intake.received().iter().any(|r| r.body[0] == code as u8)
        })
        .await;
    }
    let stats = forwarder.shutdown().await;
    assert_eq!(stats.transactions.dropped_http, 3);
    assert_eq!(
        stats.transactions.dropped_by_endpoint,
        BTreeMap::from([("series_v2".to_owned(), 3)])
    );
    assert_eq!(stats.transactions.success, 2);
    assert_eq!(
        stats
            .transactions
            .http_errors_by_code
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [400, 404, 408, 413, 429]
    );
    intake.stop().await;
}

#[tokio::test]
async fn a_403_marks_the_api_key_invalid() {
    let mut intake = Intake::start().await;
    intake.set(Mode::Refuse(403));
    let forwarder = Forwarder::start(options(intake.url(), 1000, 20)).unwrap();
    forwarder.submit(vec![tx(1, 10)]);
    until("a dropped payload", || {
        forwarder.stats().transactions.dropped_http == 1
    })
    .await;
    assert_eq!(forwarder.stats().api_key.state, ApiKeyState::Invalid);
    forwarder.shutdown().await;
    intake.stop().await;
}

#[tokio::test]
async fn the_api_key_is_validated() {
    let mut intake = Intake::start().await;
    let forwarder = Forwarder::start(options(intake.url(), 1000, 20)).unwrap();
    assert_eq!(forwarder.stats().api_key.state, ApiKeyState::Unchecked);
    assert_eq!(forwarder.validate_api_key().await, ApiKeyState::Valid);
    forwarder.shutdown().await;

    let mut wrong = options(intake.url(), 1000, 20);
    wrong.api_key = Some(ApiKey::new("wrong"));
    let forwarder = Forwarder::start(wrong).unwrap();
    assert_eq!(forwarder.validate_api_key().await, ApiKeyState::Invalid);
    let message = forwarder.stats().api_key.message.unwrap_or_default();
    assert!(message.starts_with("API key invalid:"), "{message}");
    forwarder.shutdown().await;

    intake.stop().await;
    let forwarder = Forwarder::start(options(intake.url(), 1000, 20)).unwrap();
    assert_eq!(forwarder.validate_api_key().await, ApiKeyState::Unreachable);
    forwarder.shutdown().await;

    let mut keyless = options(intake.url(), 1000, 20);
    keyless.api_key = None;
    let forwarder = Forwarder::start(keyless).unwrap();
    assert_eq!(forwarder.stats().api_key.state, ApiKeyState::Missing);
    forwarder.shutdown().await;
}

#[tokio::test]
async fn shutdown_delivers_what_is_held_or_counts_it() {
    let mut intake = Intake::start().await;
    intake.set(Mode::Refuse(503));
    // A long backoff: without shutdown, nothing would be retried during the test.
    let forwarder = Forwarder::start(options(intake.url(), 1000, 60_000)).unwrap();
    forwarder.submit(vec![tx(1, 10), tx(2, 10)]);
    until("both payloads queued", || {
        forwarder.stats().retry_queue.payloads == 2
    })
    .await;
    intake.set(Mode::Accept);
    let stats = forwarder.shutdown().await;
    assert_eq!(tags(&intake.received()), [1, 2]);
    assert_eq!(
        (stats.transactions.success, stats.transactions.dropped_on_shutdown),
        (2, 0)
    );

    intake.stop().await;
    let forwarder = Forwarder::start(options(intake.url(), 1000, 60_000)).unwrap();
    forwarder.submit(vec![tx(3, 10), tx(4, 10)]);
    until("both payloads queued", || {
        forwarder.stats().retry_queue.payloads == 2
    })
    .await;
    let stats = forwarder.shutdown().await;
    assert_eq!(
        (stats.transactions.success, stats.transactions.dropped_on_shutdown),
        (0, 2)
    );
    assert_eq!(
        stats.transactions.dropped_by_endpoint,
        BTreeMap::from([("series_v2".to_owned(), 2)])
    );
}

#[test]
fn https_is_refused_with_the_key_to_change() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let err = Forwarder::start(options("https://app.datadoghq.com".into(), 1000, 20)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dd_url is https://app.datadoghq.com, but ddlab-agent speaks plain HTTP only: set dd_url in \
         datadog.yaml (or DD_DD_URL) to the lab backend, e.g. http://127.0.0.1:8480"
    );
}

#[test]
fn status_codes_are_classified_like_the_agent() {
    let verdicts: Vec<(u16, Verdict)> = [200, 202, 400, 403, 404, 408, 413, 429, 500, 503]
        .into_iter()
        .map(|code| (code, classify(code)))
        .collect();
    assert_eq!(
        verdicts,
        [
            (200, Verdict::Delivered),
            (202, Verdict::Delivered),
            (400, Verdict::Drop),
            (403, Verdict::Drop),
            (404, Verdict::Drop),
            (408, Verdict::Retry),
            (413, Verdict::Drop),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (503, Verdict::Retry),
        ]
    );
}
