//! The receiver's HTTP surface, as tracers see the trace-agent (`pkg/trace/api`): `GET /info`,
//! `PUT|POST /v0.4/traces`, `/v0.5/traces`, `/v0.7/traces` and `/v0.6/stats`.
//!
//! | case | answer |
//! | --- | --- |
//! | traces accepted | 200 `application/json` `{"rate_by_service":{"service:,env:":1}}` (`{}` when the tracer's `Datadog-Rates-Payload-Version` is current) |
//! | no decoder free within `decoder_wait` | 429 with the same rates body |
//! | body over `max_request_bytes` | 413 `payload-too-large` |
//! | body ends early | 400 `unexpected-eof` |
//! | body malformed | 400 with the decoder's message |
//! | `Sec-Fetch-Site: cross-site` | 403: a web page may not post traces |
//! | stats accepted | 200, empty body |
//! | any other route | 404 `404 page not found` |
//!
//! Every answer carries `Datadog-Agent-Version` and `Datadog-Agent-State` (the SHA-256 of the `/info`
//! body), which tracers watch to know when to read `/info` again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ddlab_wire::WireError;
use ddlab_wire::trace::{self, SpanSlice, TraceChunkRef, TraceFormat, TracerPayloadRef};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use sha2::{Digest as _, Sha256};
use tokio::sync::{Semaphore, watch};

use super::pipeline::{Incoming, Pipeline};
use super::{EndpointStats, ReceiverStats, ServiceCounts, TraceReceiverConfig, TracerKey};

/// Trace bodies up to this size are decoded and processed on the connection's task (about a
/// millisecond of work); larger ones on the blocking pool.
const INLINE_BODY_BYTES: u64 = 256 * 1024;
/// The version of the rates this receiver answers with; the rates never change.
const RATES_VERSION: &str = "1";
/// Sampling rates that keep every trace: the lab wants all of them.
const RATES_BODY: &str = "{\"rate_by_service\":{\"service:,env:\":1}}\n";
/// The rates of [`RATES_BODY`], as `status` shows them.
pub(crate) const RATE_BY_SERVICE: [(&str, f64); 1] = [("service:,env:", 1.0)];
/// The span kinds whose spans get stats even when not top-level (`compute_stats_by_span_kind`).
pub(crate) const SPAN_KINDS_STATS_COMPUTED: [&str; 4] = ["server", "consumer", "client", "producer"];

/// A trace endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V04,
    V05,
    V07,
}

impl Version {
    fn path(self) -> &'static str {
        match self {
            Version::V04 => "/v0.4/traces",
            Version::V05 => "/v0.5/traces",
            Version::V07 => "/v0.7/traces",
        }
    }
}

/// The endpoints `/info` lists: exactly what this receiver serves.
pub(crate) const ENDPOINTS: [&str; 5] = [
    "/v0.4/traces",
    "/v0.5/traces",
    "/v0.7/traces",
    "/v0.6/stats",
    "/info",
];

/// The `/info` body and what answers carry about it.
#[derive(Debug)]
pub(crate) struct Info {
    body: Bytes,
    state: HeaderValue,
    version: HeaderValue,
}

impl Info {
    /// The `/info` of a receiver configured by `config`, listening on TCP `port` (0 for none).
    pub(crate) fn new(config: &TraceReceiverConfig, port: u16) -> Self {
        let body = serde_json::json!({
            "version": config.agent_version,
            "git_commit": "",
            "endpoints": ENDPOINTS,
            "feature_flags": [],
            "client_drop_p0s": true,
            "span_meta_structs": true,
            "long_running_spans": false,
            "span_events": true,
            "evp_proxy_allowed_headers": [],
            "peer_tags": [],
            "span_kinds_stats_computed": SPAN_KINDS_STATS_COMPUTED,
            "config": {
                "default_env": config.default_env,
                "target_tps": 10,
                "max_eps": 200,
                "receiver_port": port,
                "receiver_socket": config.socket.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                "connection_limit": 0,
                "receiver_timeout": 0,
                "max_request_bytes": config.max_request_bytes,
                "statsd_port": config.statsd_port,
                "max_memory": 0,
                "max_cpu": 0,
                "analyzed_spans_by_service": {},
                // Every field, as the trace-agent writes it (libdatadog's tracers refuse the whole
                // `/info` otherwise). SQL is always obfuscated and has no switch here; the optional
                // obfuscators are off, as by default.
                "obfuscation": {
                    "elastic_search": false,
                    "mongo": false,
                    "sql_exec_plan": false,
                    "sql_exec_plan_normalize": false,
                    "http": {"remove_query_string": false, "remove_path_digits": false},
                    "remove_stack_traces": false,
                    "redis": {"enabled": false, "remove_all_args": false},
                    "memcached": {"enabled": false, "keep_command": false},
                },
            },
        })
        .to_string();
        let state = hex(&Sha256::digest(body.as_bytes()));
        Info {
            state: HeaderValue::from_str(&state).unwrap_or(HeaderValue::from_static("")),
            version: HeaderValue::from_str(&config.agent_version).unwrap_or(HeaderValue::from_static("")),
            body: Bytes::from(body),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) stats: Arc<watch::Sender<ReceiverStats>>,
    pub(crate) decoders: Arc<Semaphore>,
    pub(crate) decoder_wait: Duration,
    pub(crate) max_request_bytes: usize,
    pub(crate) info: Arc<Info>,
}

pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/info", get(info))
        .route("/v0.4/traces", post(traces_v04).put(traces_v04))
        .route("/v0.5/traces", post(traces_v05).put(traces_v05))
        .route("/v0.7/traces", post(traces_v07).put(traces_v07))
        .route("/v0.6/stats", post(stats_v06).put(stats_v06))
        .fallback(unknown_route)
        .layer(from_fn_with_state(Arc::clone(&shared.info), agent_headers))
        .with_state(shared)
}

async fn agent_headers(State(info): State<Arc<Info>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("Datadog-Agent-Version", info.version.clone());
    headers.insert("Datadog-Agent-State", info.state.clone());
    response
}

async fn info(State(shared): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        shared.info.body.clone(),
    )
        .into_response()
}

async fn unknown_route(request: Request) -> Response {
    tracing::debug!(
        path = request.uri().path(),
        "A tracer called a route the receiver does not serve."
    );
    text(StatusCode::NOT_FOUND, "404 page not found")
}

async fn traces_v04(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    traces(&shared, Version::V04, &headers, body).await
}

async fn traces_v05(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    traces(&shared, Version::V05, &headers, body).await
}

async fn traces_v07(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    traces(&shared, Version::V07, &headers, body).await
}

/// What a tracer says about itself in its headers.
#[derive(Debug, Clone, Default)]
struct Tracer {
    lang: String,
    lang_version: String,
    interpreter: String,
    tracer_version: String,
    container_id: String,
}

impl Tracer {
    fn from_headers(headers: &HeaderMap) -> Self {
        Tracer {
            lang: header_text(headers, "Datadog-Meta-Lang"),
            lang_version: header_text(headers, "Datadog-Meta-Lang-Version"),
            interpreter: header_text(headers, "Datadog-Meta-Lang-Interpreter"),
            tracer_version: header_text(headers, "Datadog-Meta-Tracer-Version"),
            container_id: header_text(headers, "Datadog-Container-ID"),
        }
    }
}

async fn traces(shared: &Shared, version: Version, headers: &HeaderMap, body: Body) -> Response {
    let endpoint = version.path();
    let announced = header_text(headers, "X-Datadog-Trace-Count")
        .parse::<u64>()
        .unwrap_or(0);
    shared.count(endpoint, |e| e.requests += 1);
    if cross_site(headers) {
        return text(StatusCode::FORBIDDEN, "cross-site request rejected");
    }
    let permit =
        match tokio::time::timeout(shared.decoder_wait, Arc::clone(&shared.decoders).acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // Closed (shutting down) or no decoder free in time: the trace-agent refuses the payload.
            _ => {
                shared.count(endpoint, |e| {
                    e.refused += 1;
                    e.traces_dropped += announced;
                });
                return rates(StatusCode::TOO_MANY_REQUESTS, headers);
            }
        };
    let in_flight = InFlight::new(&shared.stats);
    let bytes = match read_body(body, shared.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => {
            drop((permit, in_flight));
            shared.refused(endpoint, announced, &refusal);
            return refusal.into_response(endpoint);
        }
    };
    let received = bytes.len() as u64;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let tracer = Tracer::from_headers(headers);
    let key = TracerKey {
        lang: tracer.lang.clone(),
        lang_version: tracer.lang_version.clone(),
        interpreter: tracer.interpreter.clone(),
        tracer_version: tracer.tracer_version.clone(),
        endpoint: endpoint.to_owned(),
    };
    let client_computed_top_level = headers.contains_key("Datadog-Client-Computed-Top-Level");
    let client_computed_stats = headers.contains_key("Datadog-Client-Computed-Stats");
    let client_dropped_p0_traces = header_text(headers, "Datadog-Client-Dropped-P0-Traces")
        .parse()
        .unwrap_or(0);
    let client_dropped_p0_spans = header_text(headers, "Datadog-Client-Dropped-P0-Spans")
        .parse()
        .unwrap_or(0);
    let pipeline = Arc::clone(&shared.pipeline);
    let work = move || {
        // The spans borrow their text from the body, which lives until they are processed.
        let payload = decode(version, content_type.as_deref(), &bytes, &tracer)?;
        let traces = payload.chunks.len() as u64;
        let spans: u64 = payload.chunks.iter().map(|c| c.spans.len() as u64).sum();
        let services = services(&payload);
        let processed = pipeline.process(Incoming {
            payload,
            client_computed_top_level,
            client_computed_stats,
            client_dropped_p0_traces,
            client_dropped_p0_spans,
        });
        // The decoder is free once the payload is processed (see `TraceReceiverConfig::decoders`).
        drop(permit);
        Ok::<_, WireError>((traces, spans, services, processed))
    };
    // A small body is processed on this task: handing it to the blocking pool and back costs more
    // than the work. Larger ones go to the blocking pool so they never hold a runtime thread long.
    // Either way a panic is caught and answered 500, as the blocking pool's task catches it.
    let work = if received <= INLINE_BODY_BYTES {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .map_err(|_| "processing the payload panicked".to_owned())
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|err| err.to_string())
    };
    match work {
        Ok(Ok((traces, spans, services, processed))) => {
            shared.stats.send_modify(|stats| {
                in_flight.done(stats);
                processed.record(stats);
                let e = stats.endpoints.entry(endpoint.to_owned()).or_default();
                e.payloads_accepted += 1;
                e.bytes += received;
                e.traces += traces;
                e.spans += spans;
                let t = stats.tracers.entry(key).or_default();
                t.payloads += 1;
                t.bytes += received;
                t.traces += traces;
                t.spans += spans;
                for (service, counts) in services {
                    let s = t.services.entry(service).or_default();
                    s.traces += counts.traces;
                    s.spans += counts.spans;
                }
            });
            rates(StatusCode::OK, headers)
        }
        Ok(Err(err)) => {
            drop(in_flight);
            let refusal = Refusal::Decode(err);
            shared.refused(endpoint, announced, &refusal);
            refusal.into_response(endpoint)
        }
        Err(err) => {
            drop(in_flight);
            tracing::error!(endpoint, error = %err, "Processing a trace payload failed.");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Traces and spans by the service of each trace's root span (the span without a parent, else the first).
fn services(payload: &TracerPayloadRef<'_>) -> BTreeMap<String, ServiceCounts> {
    // A payload's traces come from a service or two: counted by borrowed name, then owned once each.
    let mut by_service: Vec<(&str, ServiceCounts)> = Vec::new();
    for chunk in &payload.chunks {
        let root = chunk
            .spans
            .iter()
            .find(|span| span.parent_id == 0)
            .or_else(|| chunk.spans.first());
        if let Some(root) = root {
            let service: &str = &root.service;
            let index = match by_service
                .iter()
                .position(|(name, _)| ddlab_wire::trace::same_text(name, service))
            {
                Some(index) => index,
                None => {
                    by_service.push((service, ServiceCounts::default()));
                    by_service.len() - 1
                }
            };
            let counts = &mut by_service[index].1;
            counts.traces += 1;
            counts.spans += chunk.spans.len() as u64;
        }
    }
    let mut owned: BTreeMap<String, ServiceCounts> = BTreeMap::new();
    for (service, counts) in by_service {
        let entry = owned.entry(service.to_owned()).or_default();
        entry.traces += counts.traces;
        entry.spans += counts.spans;
    }
    owned
}

/// Decodes a request into one tracer payload borrowing from `body`, filling what the headers say.
fn decode<'a>(
    version: Version,
    content_type: Option<&str>,
    body: &'a [u8],
    tracer: &Tracer,
) -> Result<TracerPayloadRef<'a>, WireError> {
    let chunks = |traces: Vec<Vec<SpanSlice<'a>>>| -> Vec<TraceChunkRef<'a>> {
        traces
            .into_iter()
            .map(|spans| TraceChunkRef {
                priority: trace::normalize::PRIORITY_NONE,
                spans,
                ..TraceChunkRef::default()
            })
            .collect()
    };
    let mut payload = match version {
        Version::V04 => TracerPayloadRef {
            chunks: chunks(trace::decode_traces_ref(
                TraceFormat::v04(content_type),
                content_type,
                body,
            )?),
            ..TracerPayloadRef::default()
        },
        Version::V05 => TracerPayloadRef {
            chunks: chunks(trace::decode_v05_ref(body)?),
            ..TracerPayloadRef::default()
        },
        Version::V07 => trace::decode_v07_ref(body)?,
    };
    let fill = |field: &mut String, value: &str| {
        if field.is_empty() {
            value.clone_into(field);
        }
    };
    fill(&mut payload.language_name, &tracer.lang);
    fill(&mut payload.language_version, &tracer.lang_version);
    fill(&mut payload.tracer_version, &tracer.tracer_version);
    fill(&mut payload.container_id, &tracer.container_id);
    Ok(payload)
}

async fn stats_v06(State(shared): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    const ENDPOINT: &str = "/v0.6/stats";
    shared.count(ENDPOINT, |e| e.requests += 1);
    if cross_site(&headers) {
        return text(StatusCode::FORBIDDEN, "cross-site request rejected");
    }
    let bytes = match read_body(body, shared.max_request_bytes).await {
        Ok(bytes) => bytes,
        Err(refusal) => {
            shared.refused(ENDPOINT, 0, &refusal);
            return refusal.into_response(ENDPOINT);
        }
    };
    let received = bytes.len() as u64;
    let tracer = Tracer::from_headers(&headers);
    let pipeline = Arc::clone(&shared.pipeline);
    let work = tokio::task::spawn_blocking(move || {
        let payload = trace::decode_client_stats(&bytes)?;
        pipeline.client_stats(payload, &tracer.lang, &tracer.tracer_version);
        Ok::<_, WireError>(())
    })
    .await;
    match work {
        Ok(Ok(())) => {
            shared.count(ENDPOINT, |e| {
                e.payloads_accepted += 1;
                e.bytes += received;
            });
            StatusCode::OK.into_response()
        }
        Ok(Err(err)) => {
            let refusal = Refusal::Decode(err);
            shared.refused(ENDPOINT, 0, &refusal);
            refusal.into_response(ENDPOINT)
        }
        Err(err) => {
            tracing::error!(error = %err, "Processing a stats payload failed.");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

/// Counts a payload being read, decoded or processed in [`ReceiverStats::payloads_in_flight`] while it
/// lives, or until [`InFlight::done`] ends it within the update that records the payload.
struct InFlight(Option<Arc<watch::Sender<ReceiverStats>>>);

impl InFlight {
    fn new(stats: &Arc<watch::Sender<ReceiverStats>>) -> Self {
        stats.send_modify(|stats| stats.payloads_in_flight += 1);
        InFlight(Some(Arc::clone(stats)))
    }

    /// Ends the count inside an update of `stats` already under way.
    fn done(mut self, stats: &mut ReceiverStats) {
        self.0 = None;
        stats.payloads_in_flight = stats.payloads_in_flight.saturating_sub(1);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(stats) = self.0.take() {
            stats.send_modify(|stats| stats.payloads_in_flight = stats.payloads_in_flight.saturating_sub(1));
        }
    }
}

/// Why a payload was refused before it reached the pipeline.
#[derive(Debug)]
enum Refusal {
    TooLarge,
    Read(String),
    Decode(WireError),
}

impl Refusal {
    fn into_response(self, endpoint: &'static str) -> Response {
        match self {
            Refusal::TooLarge => text(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Refusal::Read(reason) => text(StatusCode::BAD_REQUEST, &reason),
            Refusal::Decode(err) if err.is_truncated() => text(StatusCode::BAD_REQUEST, "unexpected-eof"),
            Refusal::Decode(err) => {
                tracing::debug!(endpoint, error = %err, "A payload was refused.");
                text(StatusCode::BAD_REQUEST, &err.to_string())
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Refusal::TooLarge => "payload-too-large".to_owned(),
            Refusal::Read(reason) => reason.clone(),
            Refusal::Decode(err) => err.to_string(),
        }
    }
}

impl Shared {
    fn count(&self, endpoint: &'static str, update: impl FnOnce(&mut EndpointStats)) {
        self.stats
            .send_modify(|stats| update(stats.endpoints.entry(endpoint.to_owned()).or_default()));
    }

    fn refused(&self, endpoint: &'static str, announced: u64, refusal: &Refusal) {
        let message = format!("{endpoint}: {}", refusal.describe());
        tracing::warn!(endpoint, error = %message, "A tracer payload was refused.");
        self.stats.send_modify(|stats| {
            let counts = stats.endpoints.entry(endpoint.to_owned()).or_default();
            match refusal {
                Refusal::TooLarge => counts.too_large += 1,
                Refusal::Read(_) | Refusal::Decode(_) => counts.decoding_errors += 1,
            }
            counts.traces_dropped += announced;
            stats.last_error = Some(message);
        });
    }
}

/// Reads a body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if is_length_limit(err.as_ref()) => Err(Refusal::TooLarge),
        Err(err) => Err(Refusal::Read(format!("cannot read the body: {err}"))),
    }
}

fn is_length_limit(mut err: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if err.is::<LengthLimitError>() {
            return true;
        }
        match err.source() {
            Some(source) => err = source,
            None => return false,
        }
    }
}

/// The rates answer to a trace payload, with `status`.
fn rates(status: StatusCode, request: &HeaderMap) -> Response {
    let known = header_text(request, "Datadog-Rates-Payload-Version");
    let mut response = if known == RATES_VERSION {
        (status, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        (status, [(header::CONTENT_TYPE, "application/json")], RATES_BODY).into_response()
    };
    if !known.is_empty() {
        response.headers_mut().insert(
            "Datadog-Rates-Payload-Version",
            HeaderValue::from_static(RATES_VERSION),
        );
    }
    response
}

/// A plain-text answer, as Go's `http.Error` writes it.
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("Sec-Fetch-Site")
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"cross-site"))
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_owned())
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
