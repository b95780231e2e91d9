//! The receiver over real loopback HTTP (and a Unix socket): payloads built value by value with `rmpv`
//! as ddtrace builds them, answers and headers as tracers read them, and what reaches the sink.

use std::collections::{BTreeMap, HashMap};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use ddlab_wire::trace::{StatsFormat, pb};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmpv::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

use super::*;

/// When the test traces happen: a fixed, recent time.
const T0: i64 = 1_800_000_000_000_000_000;
const WAIT: Duration = Duration::from_secs(20);

/// A sink that hands payloads to the test.
struct Channel(mpsc::UnboundedSender<ApmPayload>);

impl TraceSink for Channel {
    fn submit(&self, payload: ApmPayload) {
        let _ = self.0.send(payload);
    }
}

struct Lab {
    receiver: TraceReceiver,
    payloads: mpsc::UnboundedReceiver<ApmPayload>,
}

/// A receiver whose flush task never fires during a test: payloads leave at shutdown, or when a test
/// shortens an interval.
fn config() -> TraceReceiverConfig {
    TraceReceiverConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        hostname: "agent-host".into(),
        default_env: "none".into(),
        decoders: 2,
        trace_flush_interval: Duration::from_secs(3600),
        stats_flush_interval: Duration::from_secs(3600),
        ..TraceReceiverConfig::default()
    }
}

/// A clock that starts at `T0` plus a minute and moves when told.
fn fixed_clock() -> (Clock, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(T0 + 60_000_000_000));
    let read = Arc::clone(&now);
    let clock: Clock = Arc::new(move || {
        UNIX_EPOCH + Duration::from_nanos(u64::try_from(read.load(Ordering::SeqCst)).unwrap())
    });
    (clock, now)
}

async fn start(config: TraceReceiverConfig) -> Lab {
    start_with(config, fixed_clock().0).await
}

async fn start_with(config: TraceReceiverConfig, clock: Clock) -> Lab {
    let (tx, payloads) = mpsc::unbounded_channel();
    let receiver = TraceReceiver::start_with_clock(config, Arc::new(Channel(tx)), clock)
        .await
        .unwrap();
    Lab { receiver, payloads }
}

impl Lab {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.receiver.tcp_addr().unwrap())
    }

    /// Stops the receiver (a forced flush) and returns every payload it sent.
    async fn finish(mut self) -> Sent {
        self.receiver.shutdown().await;
        let mut sent = Sent::default();
        while let Ok(payload) = self.payloads.try_recv() {
            sent.take(payload);
        }
        sent
    }
}

/// What reached the sink, decoded.
#[derive(Debug, Default)]
struct Sent {
    traces: Vec<pb::AgentPayload>,
    stats: Vec<pb::StatsPayload>,
}

impl Sent {
    fn take(&mut self, payload: ApmPayload) {
        assert_eq!(payload.header("Content-Encoding"), Some("gzip"));
        let body =
            ddlab_wire::compression::decompress(ddlab_wire::Encoding::Gzip, &payload.body, 1 << 26).unwrap();
        match payload.kind {
            ApmPayloadKind::Traces => {
                assert_eq!(payload.path(), "/api/v0.2/traces");
                assert_eq!(payload.header("Content-Type"), Some("application/x-protobuf"));
                self.traces
                    .push(ddlab_wire::trace::decode_agent_payload(&body).unwrap());
            }
            ApmPayloadKind::Stats => {
                assert_eq!(payload.path(), "/api/v0.2/stats");
                assert_eq!(payload.header("Content-Type"), Some("application/msgpack"));
                self.stats
                    .push(ddlab_wire::trace::decode_stats_payload(&body, StatsFormat::Msgpack).unwrap());
            }
        }
    }

    fn spans(&self) -> Vec<&pb::Span> {
        self.traces
            .iter()
            .flat_map(|p| &p.tracer_payloads)
            .flat_map(|t| &t.chunks)
            .flat_map(|c| &c.spans)
            .collect()
    }

    /// Hits by `service name resource status`, over every stats payload.
    fn hits(&self) -> BTreeMap<String, u64> {
        let mut hits = BTreeMap::new();
        for group in self
            .stats
            .iter()
            .flat_map(|p| &p.stats)
            .flat_map(|c| &c.stats)
            .flat_map(|b| &b.stats)
        {
            let key = format!(
                "{} {} {} {}",
                group.service, group.name, group.resource, group.http_status_code
            );
            *hits.entry(key).or_default() += group.hits;
        }
        hits
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(url: &str, method: Method, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// ddtrace's headers on a trace payload.
fn tracer_headers(count: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("Content-Type", "application/msgpack"),
        ("Datadog-Meta-Lang", "python"),
        ("Datadog-Meta-Lang-Version", "3.11.7"),
        ("Datadog-Meta-Tracer-Version", "4.16.0"),
        ("X-Datadog-Trace-Count", count),
    ]
}

/// A span as ddtrace's v0.4 encoder writes it.
#[derive(Clone)]
struct Span {
    trace_id: u64,
    span_id: u64,
    parent_id: u64,
    service: &'static str,
    name: &'static str,
    resource: &'static str,
    start: i64,
    duration: i64,
    error: i32,
    meta: Vec<(&'static str, &'static str)>,
    metrics: Vec<(&'static str, f64)>,
}

/// The root span of a Flask request for `resource` answered with `status`.
fn request(trace_id: u64, resource: &'static str, status: &'static str) -> Span {
    Span {
        trace_id,
        span_id: trace_id * 10,
        parent_id: 0,
        service: "flask",
        name: "flask.request",
        resource,
        start: T0,
        duration: 2_000_000,
        error: i32::from(status.starts_with('5')),
        meta: vec![("http.status_code", status), ("env", "lab"), ("version", "1.0")],
        metrics: vec![("_sampling_priority_v1", 1.0)],
    }
}

/// A child span of `parent` in the same service (not top-level, so without stats).
fn child(parent: &Span) -> Span {
    Span {
        span_id: parent.span_id + 1,
        parent_id: parent.span_id,
        name: "flask.dispatch_request",
        start: parent.start + 100_000,
        duration: 1_000_000,
        meta: vec![],
        metrics: vec![],
        ..parent.clone()
    }
}

fn v04_span(span: &Span) -> Value {
    let text_map = |entries: &[(&str, &str)]| {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::from(*k), Value::from(*v)))
                .collect(),
        )
    };
    Value::Map(vec![
        ("trace_id".into(), span.trace_id.into()),
        ("span_id".into(), span.span_id.into()),
        ("parent_id".into(), span.parent_id.into()),
        ("service".into(), span.service.into()),
        ("name".into(), span.name.into()),
        ("resource".into(), span.resource.into()),
        ("type".into(), "web".into()),
        ("start".into(), span.start.into()),
        ("duration".into(), span.duration.into()),
        ("error".into(), span.error.into()),
        ("meta".into(), text_map(&span.meta)),
        (
            "metrics".into(),
            Value::Map(
                span.metrics
                    .iter()
                    .map(|(k, v)| (Value::from(*k), Value::F64(*v)))
                    .collect(),
            ),
        ),
    ])
}

fn pack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

fn v04(traces: &[Vec<Span>]) -> Vec<u8> {
    pack(&Value::Array(
        traces
            .iter()
            .map(|t| Value::Array(t.iter().map(v04_span).collect()))
            .collect(),
    ))
}

/// The v0.5 form: a string table and spans as 12-element arrays, as ddtrace's default encoder writes it.
fn v05(traces: &[Vec<Span>]) -> Vec<u8> {
    let mut table: Vec<String> = vec![String::new()];
    let mut index = |text: &str| -> Value {
        let at = table.iter().position(|t| t == text).unwrap_or_else(|| {
            table.push(text.to_owned());
            table.len() - 1
        });
        Value::from(at as u64)
    };
    let traces: Vec<Value> = traces
        .iter()
        .map(|trace| {
            Value::Array(
                trace
                    .iter()
                    .map(|s| {
                        Value::Array(vec![
                            index(s.service),
                            index(s.name),
                            index(s.resource),
                            s.trace_id.into(),
                            s.span_id.into(),
                            s.parent_id.into(),
                            s.start.into(),
                            s.duration.into(),
                            s.error.into(),
                            Value::Map(s.meta.iter().map(|(k, v)| (index(k), index(v))).collect()),
                            Value::Map(
                                s.metrics
                                    .iter()
                                    .map(|(k, v)| (index(k), Value::F64(*v)))
                                    .collect(),
                            ),
                            index("web"),
                        ])
                    })
                    .collect(),
            )
        })
        .collect();
    let table = Value::Array(table.into_iter().map(Value::from).collect());
    pack(&Value::Array(vec![table, Value::Array(traces)]))
}

const RATES: &str = "{\"rate_by_service\":{\"service:,env:\":1}}\n";

#[tokio::test]
async fn info_lists_only_what_is_served() {
    let lab = start(config()).await;
    let answer = send(&lab.url("/info"), Method::GET, &[], Vec::new()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let info: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        info["endpoints"],
        serde_json::json!([
            "/v0.4/traces",
            "/v0.5/traces",
            "/v0.7/traces",
            "/v0.6/stats",
            "/info"
        ])
    );
    assert_eq!(info["client_drop_p0s"], true);
    assert_eq!(info["config"]["default_env"], "none");
    assert_eq!(info["config"]["statsd_port"], 8125);
    assert_eq!(
        info["config"]["receiver_port"],
        lab.receiver.tcp_addr().unwrap().port()
    );
    // libdatadog's tracers read the obfuscation settings field by field: none may be missing.
    assert_eq!(
        info["config"]["obfuscation"]["redis"],
        serde_json::json!({"enabled": false, "remove_all_args": false})
    );
    assert_eq!(info["config"]["obfuscation"]["http"]["remove_path_digits"], false);
    assert_eq!(answer.headers["Datadog-Agent-Version"], AGENT_VERSION);
    let state: String = Sha256::digest(answer.body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(answer.headers["Datadog-Agent-State"], state.as_str());

    // What is not served is a 404 that still carries the agent's headers.
    let answer = send(&lab.url("/v0.7/config"), Method::POST, &[], Vec::new()).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::NOT_FOUND, "404 page not found\n")
    );
    assert_eq!(answer.headers["Datadog-Agent-State"], state.as_str());
    lab.finish().await;
}

#[tokio::test]
async fn v04_and_v05_traces_reach_the_sink_with_their_stats() {
    let lab = start(config()).await;
    let home = request(1, "GET /", "200");
    let apm = request(2, "GET /api/apm", "200");
    let body = v04(&[vec![home.clone(), child(&home)], vec![apm.clone()]]);
    let answer = send(&lab.url("/v0.4/traces"), Method::PUT, &tracer_headers("2"), body).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, RATES));
    assert_eq!(answer.headers["Content-Type"], "application/json");

    let boom = request(3, "GET /api/trace", "500");
    let body = v05(&[vec![boom.clone(), child(&boom)], vec![request(4, "GET /", "200")]]);
    let answer = send(&lab.url("/v0.5/traces"), Method::POST, &tracer_headers("2"), body).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, RATES));

    let stats = lab.receiver.stats();
    assert_eq!(
        (stats.traces_received, stats.spans_received, stats.spans_kept),
        (4, 6, 6)
    );
    let v05 = &stats.endpoints["/v0.5/traces"];
    assert_eq!(
        (v05.requests, v05.payloads_accepted, v05.traces, v05.spans),
        (1, 1, 2, 3)
    );
    assert_eq!(stats.payloads_in_flight, 0);

    let sent = lab.finish().await;
    assert_eq!(sent.traces.len(), 1, "one flush, one AgentPayload");
    let payload = &sent.traces[0];
    assert_eq!(
        (payload.host_name.as_str(), payload.env.as_str()),
        ("agent-host", "none")
    );
    assert_eq!(payload.agent_version, AGENT_VERSION);
    assert_eq!(payload.tracer_payloads.len(), 2);
    let tracer = &payload.tracer_payloads[0];
    assert_eq!(
        (tracer.language_name.as_str(), tracer.tracer_version.as_str()),
        ("python", "4.16.0")
    );
    assert_eq!(tracer.env, "lab");
    // The tracer sent priorities on the roots; the agent marked the top-level spans.
    assert!(tracer.chunks.iter().all(|c| c.priority == 1));
    let spans = sent.spans();
    assert_eq!(spans.len(), 6);
    let top_level: Vec<&str> = spans
        .iter()
        .filter(|s| s.metrics.get("_top_level") == Some(&1.0))
        .map(|s| s.resource.as_str())
        .collect();
    assert_eq!(top_level, ["GET /", "GET /api/apm", "GET /api/trace", "GET /"]);

    // Stats: one hit per request, children excluded, errors counted, all in one payload.
    assert_eq!(sent.stats.len(), 1);
    assert!(!sent.stats[0].client_computed);
    assert_eq!(
        sent.hits(),
        BTreeMap::from([
            ("flask flask.request GET / 200".to_owned(), 2),
            ("flask flask.request GET /api/apm 200".to_owned(), 1),
            ("flask flask.request GET /api/trace 500".to_owned(), 1),
        ])
    );
    let client = &sent.stats[0].stats[0];
    assert_eq!((client.env.as_str(), client.version.as_str()), ("lab", "1.0"));
    let bucket = &client.stats[0];
    assert_eq!(bucket.start % 10_000_000_000, 0);
    assert_eq!(bucket.duration, 10_000_000_000);
    let errors: u64 = client.stats.iter().flat_map(|b| &b.stats).map(|g| g.errors).sum();
    assert_eq!(errors, 1);
}

#[tokio::test]
async fn v04_json_and_v07_are_accepted_too() {
    let lab = start(config()).await;
    let json = serde_json::json!([[{
        "trace_id": 5, "span_id": 50, "parent_id": 0, "service": "flask", "name": "flask.request",
        "resource": "GET /json", "type": "web", "start": T0, "duration": 1000, "error": 0,
        "meta": {"env": "lab"}, "metrics": {}
    }]]);
    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::POST,
        &[("Content-Type", "application/json")],
        json.to_string().into_bytes(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let payload = Value::Map(vec![
        ("language_name".into(), "go".into()),
        ("env".into(), "Prod Env".into()),
        (
            "chunks".into(),
            Value::Array(vec![Value::Map(vec![
                ("priority".into(), 2.into()),
                (
                    "spans".into(),
                    Value::Array(vec![v04_span(&request(6, "GET /v07", "200"))]),
                ),
            ])]),
        ),
    ]);
    let answer = send(&lab.url("/v0.7/traces"), Method::PUT, &[], pack(&payload)).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, RATES));
    let sent = lab.finish().await;
    let resources: Vec<&str> = sent.spans().iter().map(|s| s.resource.as_str()).collect();
    assert_eq!(resources, ["GET /json", "GET /v07"]);
    let v07 = &sent.traces[0].tracer_payloads[1];
    assert_eq!((v07.language_name.as_str(), v07.env.as_str()), ("go", "prod_env"));
    assert_eq!(v07.chunks[0].priority, 2);
}

#[tokio::test]
async fn bad_payloads_are_refused_and_counted() {
    let lab = start(TraceReceiverConfig {
        max_request_bytes: 2_000,
        ..config()
    })
    .await;
    let good = v04(&[vec![request(1, "GET /", "200")]]);
    let truncated = good[..good.len() - 3].to_vec();
    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::PUT,
        &tracer_headers("1"),
        truncated,
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::BAD_REQUEST, "unexpected-eof\n")
    );
    assert!(answer.headers.contains_key("Datadog-Agent-State"));

    let wrong = pack(&Value::Array(vec![Value::Array(vec![Value::Map(vec![(
        "duration".into(),
        "slow".into(),
    )])])]));
    let answer = send(&lab.url("/v0.4/traces"), Method::PUT, &tracer_headers("3"), wrong).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        "invalid msgpack v0.4 traces ([0][0].duration, byte 12): expected an integer that fits in int64, \
         found a string\n"
    );
    let answer = send(
        &lab.url("/v0.5/traces"),
        Method::PUT,
        &tracer_headers("1"),
        good.clone(),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "a v0.4 body is not v0.5: {}",
        answer.body
    );

    let huge = v04(&vec![vec![request(1, "GET /", "200")]; 40]);
    assert!(huge.len() > 2_000);
    let answer = send(&lab.url("/v0.4/traces"), Method::PUT, &tracer_headers("40"), huge).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large\n")
    );

    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::PUT,
        &[("Sec-Fetch-Site", "cross-site")],
        good,
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    let stats = lab.receiver.stats();
    let v04 = &stats.endpoints["/v0.4/traces"];
    assert_eq!(
        (
            v04.requests,
            v04.payloads_accepted,
            v04.decoding_errors,
            v04.too_large,
            v04.traces_dropped
        ),
        (4, 0, 2, 1, 44)
    );
    assert_eq!(stats.endpoints["/v0.5/traces"].decoding_errors, 1);
    assert_eq!(
        stats.last_error.as_deref(),
        Some("/v0.4/traces: payload-too-large")
    );
    let sent = lab.finish().await;
    assert!(sent.traces.is_empty() && sent.stats.is_empty(), "{sent:?}");
}

#[tokio::test]
async fn bad_spans_are_repaired_or_their_traces_dropped_as_the_agent_does() {
    let lab = start(config()).await;
    let mut nameless = request(1, "", "999");
    nameless.service = "";
    nameless.start = 7;
    let mut zero = request(2, "GET /", "200");
    zero.span_id = 0;
    let mut user_drop = request(3, "GET /dropped", "200");
    user_drop.metrics = vec![("_sampling_priority_v1", -1.0)];
    let mut kept_span = child(&user_drop);
    kept_span.metrics = vec![("_dd.span_sampling.mechanism", 8.0)];
    let mut auto_drop_error = request(4, "GET /boom", "500");
    auto_drop_error.metrics = vec![("_sampling_priority_v1", 0.0)];
    let mut auto_drop = request(5, "GET /quiet", "200");
    auto_drop.metrics = vec![("_sampling_priority_v1", 0.0)];
    let body = v04(&[
        vec![nameless],
        vec![zero],
        vec![user_drop, kept_span],
        vec![auto_drop_error],
        vec![auto_drop],
        vec![],
    ]);
    let answer = send(&lab.url("/v0.4/traces"), Method::POST, &tracer_headers("6"), body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let stats = lab.receiver.stats();
    assert_eq!(
        stats.traces_dropped,
        DroppedTraces {
            empty_trace: 1,
            span_id_zero: 1,
            sampled_out: 2,
            ..DroppedTraces::default()
        }
    );
    assert_eq!(
        (
            stats.spans_repaired.service_empty,
            stats.spans_repaired.resource_empty,
            stats.spans_repaired.invalid_start_date,
            stats.spans_repaired.invalid_http_status_code
        ),
        (1, 1, 1, 1)
    );
    let sent = lab.finish().await;
    let kept: Vec<(&str, &str)> = sent
        .spans()
        .iter()
        .map(|s| (s.service.as_str(), s.resource.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("unnamed-python-service", "flask.request"),
            ("flask", "GET /dropped"),
            ("flask", "GET /boom")
        ]
    );
    let chunks = &sent.traces[0].tracer_payloads[0].chunks;
    assert!(chunks[1].dropped_trace && chunks[1].spans[0].name == "flask.dispatch_request");
    // Stats count every decoded trace, sampled or not: the dropped ones too.
    let hits = sent.hits();
    assert_eq!(hits["flask flask.request GET /quiet 200"], 1);
    assert_eq!(hits["flask flask.request GET /dropped 200"], 1);
    assert_eq!(hits["unnamed-python-service flask.request flask.request 0"], 1);
}

#[tokio::test]
async fn client_computed_stats_are_forwarded_instead_of_computed() {
    let lab = start(config()).await;
    let mut headers = tracer_headers("1");
    headers.push(("Datadog-Client-Computed-Stats", "yes"));
    headers.push(("Datadog-Client-Computed-Top-Level", "yes"));
    headers.push(("Datadog-Client-Dropped-P0-Traces", "7"));
    let mut root = request(1, "GET /", "200");
    root.metrics.push(("_dd.top_level", 1.0));
    let answer = send(
        &lab.url("/v0.5/traces"),
        Method::POST,
        &headers,
        v05(&[vec![root]]),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);

    let client = pb::ClientStatsPayload {
        hostname: "tracer-host".into(),
        stats: vec![pb::ClientStatsBucket {
            start: u64::try_from(T0).unwrap(),
            duration: 10_000_000_000,
            stats: vec![pb::ClientGroupedStats {
                service: "Flask App".into(),
                name: "flask.request".into(),
                resource: "GET /".into(),
                http_status_code: 200,
                hits: 9,
                top_level_hits: 9,
                ..pb::ClientGroupedStats::default()
            }],
            agent_time_shift: 0,
        }],
        ..pb::ClientStatsPayload::default()
    };
    let body = ddlab_wire::trace::encode_client_stats(&client).unwrap();
    let answer = send(&lab.url("/v0.6/stats"), Method::PUT, &tracer_headers("0"), body).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, ""));
    let answer = send(&lab.url("/v0.6/stats"), Method::PUT, &[], vec![0x93]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::BAD_REQUEST, "unexpected-eof\n")
    );

    let stats = lab.receiver.stats();
    assert_eq!((stats.client_stats_buckets, stats.client_stats_groups), (1, 1));
    assert_eq!(stats.client_dropped_p0_traces, 7);
    let sent = lab.finish().await;
    // Only the tracer's stats: none were computed from its spans.
    assert_eq!(sent.stats.len(), 1);
    let payload = &sent.stats[0];
    assert!(payload.client_computed);
    let forwarded = &payload.stats[0];
    assert_eq!(
        (
            forwarded.env.as_str(),
            forwarded.lang.as_str(),
            forwarded.hostname.as_str()
        ),
        ("none", "python", "tracer-host")
    );
    assert_eq!(forwarded.stats[0].stats[0].service, "flask_app");
    // The tracer's top-level marks were trusted, not computed again.
    assert!(!sent.spans()[0].metrics.contains_key("_top_level"));
}

/// A MySQL query span under a Flask request, as ddtrace's pymysql integration makes it.
fn mysql_query(trace_id: u64, query: &str) -> Vec<pb::Span> {
    let root = pb::Span {
        service: "flask".into(),
        name: "flask.request".into(),
        resource: "GET /api/trace".into(),
        trace_id,
        span_id: trace_id * 10,
        start: T0,
        duration: 5_000_000,
        meta: HashMap::from([("env".to_owned(), "lab".to_owned())]),
        metrics: HashMap::from([("_sampling_priority_v1".to_owned(), 1.0)]),
        r#type: "web".into(),
        ..pb::Span::default()
    };
    let query = pb::Span {
        service: "mysql".into(),
        name: "pymysql.query".into(),
        resource: query.into(),
        span_id: trace_id * 10 + 1,
        parent_id: trace_id * 10,
        start: T0 + 1_000_000,
        duration: 2_000_000,
        meta: HashMap::from([
            ("db.system".to_owned(), "mysql".to_owned()),
            ("db.type".to_owned(), "mysql".to_owned()),
        ]),
        metrics: HashMap::new(),
        r#type: "sql".into(),
        ..root.clone()
    };
    vec![root, query]
}

#[tokio::test]
async fn sql_is_obfuscated_before_stats_as_the_trace_agent_does() {
    let lab = start(config()).await;
    let traces = [
        mysql_query(
            1,
            "SELECT name FROM users WHERE id = 42 AND email = 'ann@example.com'",
        ),
        mysql_query(
            2,
            "SELECT name FROM users WHERE id = 7 AND email = 'bob@example.com'",
        ),
        mysql_query(3, "UPDATE users SET visits = visits + 1 WHERE id IN (1, 2, 3)"),
    ];
    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::PUT,
        &tracer_headers("3"),
        ddlab_wire::trace::encode_v04(&traces),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);

    // Tracer-computed stats for a query name their resource as sent; it is obfuscated on the way too.
    let client = pb::ClientStatsPayload {
        stats: vec![pb::ClientStatsBucket {
            start: u64::try_from(T0).unwrap(),
            duration: 10_000_000_000,
            stats: vec![pb::ClientGroupedStats {
                service: "mysql".into(),
                name: "pymysql.query".into(),
                resource: "DELETE FROM sessions WHERE token = 'abc123'".into(),
                r#type: "sql".into(),
                db_type: "mysql".into(),
                hits: 1,
                ..pb::ClientGroupedStats::default()
            }],
            agent_time_shift: 0,
        }],
        ..pb::ClientStatsPayload::default()
    };
    let body = ddlab_wire::trace::encode_client_stats(&client).unwrap();
    let answer = send(&lab.url("/v0.6/stats"), Method::PUT, &tracer_headers("0"), body).await;
    assert_eq!(answer.status, StatusCode::OK);

    let sent = lab.finish().await;
    let queries: Vec<(&str, Option<&str>)> = sent
        .spans()
        .into_iter()
        .filter(|s| s.r#type == "sql")
        .map(|s| (s.resource.as_str(), s.meta.get("sql.query").map(String::as_str)))
        .collect();
    let select = "SELECT name FROM users WHERE id = ? AND email = ?";
    let update = "UPDATE users SET visits = visits + ? WHERE id IN ( ? )";
    assert_eq!(
        queries,
        [
            (select, Some(select)),
            (select, Some(select)),
            (update, Some(update))
        ]
    );
    // A query span's service differs from its parent's, so it is top-level and has stats of its own.
    let hits = sent.hits();
    assert_eq!(
        hits.get(&format!("mysql pymysql.query {select} 0")),
        Some(&2),
        "{hits:?}"
    );
    assert_eq!(
        hits.get(&format!("mysql pymysql.query {update} 0")),
        Some(&1),
        "{hits:?}"
    );
    assert_eq!(
        hits.get("mysql pymysql.query DELETE FROM sessions WHERE token = ? 0"),
        Some(&1),
        "{hits:?}"
    );
    assert!(
        hits.keys()
            .all(|k| !k.contains("42") && !k.contains("example.com")),
        "{hits:?}"
    );
}

#[tokio::test]
async fn a_query_seen_before_is_obfuscated_the_same_from_the_cache() {
    let lab = start(config()).await;
    let query = "SELECT * FROM orders WHERE card = '4111111111111111' AND total > 100";
    let with_card = |trace_id: u64| {
        let mut trace = mysql_query(trace_id, query);
        trace[1]
            .meta
            .insert("payment.card".to_owned(), "4111 1111 1111 1111".to_owned());
        trace
    };
    // Two payloads: the first obfuscates the query, the second finds it in the cache.
    for trace_id in [1, 2] {
        let answer = send(
            &lab.url("/v0.4/traces"),
            Method::PUT,
            &tracer_headers("1"),
            ddlab_wire::trace::encode_v04(&[with_card(trace_id)]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let sent = lab.finish().await;
    let queries: Vec<(&str, Option<&str>, Option<&str>)> = sent
        .spans()
        .into_iter()
        .filter(|s| s.r#type == "sql")
        .map(|s| {
            (
                s.resource.as_str(),
                s.meta.get("sql.query").map(String::as_str),
                s.meta.get("payment.card").map(String::as_str),
            )
        })
        .collect();
    let obfuscated = "SELECT * FROM orders WHERE card = ? AND total > ?";
    let first = (obfuscated, Some(obfuscated), Some("?"));
    assert_eq!(queries, [first, first]);
}

#[tokio::test]
async fn rates_are_not_sent_again_when_the_tracer_has_them() {
    let lab = start(config()).await;
    let body = v04(&[vec![request(1, "GET /", "200")]]);
    let mut headers = tracer_headers("1");
    headers.push(("Datadog-Rates-Payload-Version", "1"));
    let answer = send(&lab.url("/v0.4/traces"), Method::POST, &headers, body.clone()).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "{}"));
    assert_eq!(answer.headers["Datadog-Rates-Payload-Version"], "1");
    headers.pop();
    headers.push(("Datadog-Rates-Payload-Version", "0"));
    let answer = send(&lab.url("/v0.4/traces"), Method::POST, &headers, body).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, RATES));
    lab.finish().await;
}

#[tokio::test]
async fn a_busy_receiver_answers_429() {
    let lab = start(TraceReceiverConfig {
        decoders: 1,
        decoder_wait: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(100),
        ..config()
    })
    .await;
    // A tracer that sends half its body holds the only decoder.
    let mut slow = tokio::net::TcpStream::connect(lab.receiver.tcp_addr().unwrap())
        .await
        .unwrap();
    slow.write_all(b"PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n\x91")
        .await
        .unwrap();
    let mut watch = lab.receiver.watch_stats();
    tokio::time::timeout(WAIT, watch.wait_for(|s| s.payloads_in_flight == 1))
        .await
        .unwrap()
        .unwrap();
    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::PUT,
        &tracer_headers("5"),
        v04(&[vec![request(1, "GET /", "200")]]),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, RATES)
    );
    let v04 = lab.receiver.stats().endpoints["/v0.4/traces"].clone();
    assert_eq!((v04.refused, v04.traces_dropped), (1, 5));
    // The stalled tracer does not hold shutdown past its grace.
    let sent = lab.finish().await;
    assert!(sent.traces.is_empty());
    drop(slow);
}

#[tokio::test]
async fn traces_are_flushed_on_their_interval() {
    let mut lab = start(TraceReceiverConfig {
        trace_flush_interval: Duration::from_millis(20),
        ..config()
    })
    .await;
    let body = v04(&[vec![request(1, "GET /", "200")]]);
    let answer = send(&lab.url("/v0.4/traces"), Method::PUT, &tracer_headers("1"), body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let payload = tokio::time::timeout(WAIT, lab.payloads.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(payload.kind, ApmPayloadKind::Traces);
    assert_eq!(payload.header("X-Datadog-Reported-Languages"), Some("python"));
    lab.finish().await;
}

#[tokio::test]
async fn a_full_buffer_is_sent_before_its_interval() {
    // The interval never fires in the test; a buffer past its size goes at once.
    let mut lab = start(TraceReceiverConfig {
        trace_buffer_bytes: 1,
        ..config()
    })
    .await;
    let traces: Vec<Vec<Span>> = (1..=3).map(|id| vec![request(id, "GET /", "200")]).collect();
    let answer = send(
        &lab.url("/v0.4/traces"),
        Method::PUT,
        &tracer_headers("3"),
        v04(&traces),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let payload = tokio::time::timeout(WAIT, lab.payloads.recv())
        .await
        .unwrap()
        .unwrap();
    let mut sent = Sent::default();
    sent.take(payload);
    let ids: Vec<u64> = sent.spans().iter().map(|span| span.trace_id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(sent.traces[0].host_name, "agent-host");
    // The counters are updated just after the sink took the payload.
    let mut watch = lab.receiver.watch_stats();
    let spans_sent = tokio::time::timeout(WAIT, watch.wait_for(|s| s.trace_payloads_sent == 1))
        .await
        .unwrap()
        .unwrap()
        .spans_sent;
    assert_eq!(spans_sent, 3);
    lab.finish().await;
}

#[tokio::test]
async fn stats_buckets_leave_once_closed() {
    let (clock, now) = fixed_clock();
    let lab = start_with(config(), clock).await;
    let mut recent = request(1, "GET /", "200");
    recent.start = now.load(Ordering::SeqCst) - 3_000_000;
    let body = v04(&[vec![recent]]);
    let answer = send(&lab.url("/v0.4/traces"), Method::PUT, &tracer_headers("1"), body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let receiver = Arc::new(lab.receiver);
    let flush = |receiver: &Arc<TraceReceiver>| {
        let receiver = Arc::clone(receiver);
        tokio::task::spawn_blocking(move || receiver.flush(false))
    };
    // The bucket is the current one: kept.
    flush(&receiver).await.unwrap();
    let mut payloads = lab.payloads;
    let first = payloads.try_recv().unwrap();
    assert_eq!(first.kind, ApmPayloadKind::Traces);
    assert!(payloads.try_recv().is_err(), "no stats while the bucket is open");
    // Two buckets later it is closed and leaves.
    now.fetch_add(25_000_000_000, Ordering::SeqCst);
    flush(&receiver).await.unwrap();
    let stats = payloads.try_recv().unwrap();
    assert_eq!(stats.kind, ApmPayloadKind::Stats);
    let receiver = Arc::into_inner(receiver).unwrap();
    receiver.shutdown().await;
    assert!(payloads.try_recv().is_err(), "nothing left to send at shutdown");
}

#[cfg(unix)]
#[tokio::test]
async fn the_unix_socket_serves_the_same_api() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apm.socket");
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let lab = start(TraceReceiverConfig {
        listen: None,
        socket: Some(path.clone()),
        ..config()
    })
    .await;
    assert_eq!(lab.receiver.tcp_addr(), None);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o722);
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let body = v04(&[vec![request(1, "GET /socket", "200")]]);
    let mut http = Request::builder()
        .method(Method::PUT)
        .uri("/v0.4/traces")
        .header("Host", "apm");
    for (name, value) in tracer_headers("1") {
        http = http.header(name, value);
    }
    let response = sender
        .send_request(http.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(sender);
    driver.await.unwrap().unwrap();
    let sent = lab.finish().await;
    assert_eq!(sent.spans()[0].resource, "GET /socket");
    assert!(!path.exists(), "the socket file is removed at shutdown");

    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "x").unwrap();
    let err = TraceReceiver::start(
        TraceReceiverConfig {
            listen: None,
            socket: Some(file.clone()),
            ..config()
        },
        Arc::new(Channel(mpsc::unbounded_channel().0)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "apm_config.receiver_socket {} exists and is not a socket: remove it or choose another path",
            file.display()
        )
    );
}

#[tokio::test]
async fn the_config_follows_datadog_yaml() {
    let load = |yaml: &str, env: &[(&str, &str)]| {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        crate::config::AgentConfig::from_yaml(
            std::path::Path::new("/etc/dd"),
            std::path::Path::new("/etc/dd/datadog.yaml"),
            yaml,
            &|var| env.get(var).cloned(),
        )
        .unwrap()
        .config
    };
    let default = TraceReceiverConfig::from_agent(&load("api_key: x\n", &[]), "h1");
    assert_eq!(default.listen, Some("127.0.0.1:8126".parse().unwrap()));
    assert_eq!(
        (default.hostname.as_str(), default.default_env.as_str()),
        ("h1", "none")
    );
    let custom = TraceReceiverConfig::from_agent(
        &load(
            "env: Lab\ndogstatsd_port: 9125\napm_config:\n  receiver_port: 9126\n  apm_non_local_traffic: true\n",
            &[],
        ),
        "h1",
    );
    assert_eq!(custom.listen, Some("0.0.0.0:9126".parse().unwrap()));
    assert_eq!((custom.default_env.as_str(), custom.statsd_port), ("lab", 9125));
    let closed = TraceReceiverConfig::from_agent(&load("apm_config:\n  receiver_port: 0\n", &[]), "h1");
    assert_eq!(closed.listen, None);
    let err = TraceReceiver::start(closed, Arc::new(Channel(mpsc::unbounded_channel().0)))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the trace receiver would listen on nothing"),
        "{err}"
    );
}
