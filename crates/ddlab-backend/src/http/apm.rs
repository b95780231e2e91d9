//! APM routes: the trace intake (`POST /api/v0.2/traces`, `POST /api/v0.2/stats`, API key), the spans
//! API (`POST /api/v2/spans/events/search`, `GET /api/v2/spans/events`) and the lab's APM pages' data
//! (`GET /ddlab/apm/services`, `/ddlab/apm/services/{service}/resources`, `/ddlab/apm/traces/{id}`).
//!
//! Stats are stored as buckets and the trace metrics of every touched bucket are derived again in the same
//! transaction (`crate::apm::metrics`), so a late or repeated payload for a bucket adds to it instead of
//! replacing it. Like the trace intake, stats are not held to the series intake's time window.
//!
//! The spans API answers errors as JSON:API objects (`{"errors": [{"title", "detail", "status"}]}`), as
//! Datadog's spans endpoints do; a `from` after `to` is the recorded 422.

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ddlab_store::{SpanOrder, SpanQuery, TraceStatsFilter};
use ddlab_wire::trace::{self, StatsFormat};
use serde_json::{Value, json};

use super::error::ApiError;
use super::intake::{IntakeLog, read_body, wire_error};
use super::{blocking, epoch_param};
use crate::AppState;
use crate::apm::{self, metrics, search, time};

/// The most spans one page returns, and the default.
const PAGE_LIMIT_MAX: usize = 1000;
const PAGE_LIMIT_DEFAULT: usize = 10;
/// The window the services pages read when none is given.
const DEFAULT_WINDOW_SECONDS: i64 = 3600;

/// `POST /api/v0.2/traces`: a (gzipped) protobuf `AgentPayload`; its spans are stored.
pub(crate) async fn intake_traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/api/v0.2/traces");
    let result = async {
        let bytes = read_body(
            &headers,
            body,
            trace::INTAKE_BODY_LIMIT,
            trace::INTAKE_DECOMPRESSED_LIMIT,
        )
        .await?;
        let (spans, summary) = tokio::task::spawn_blocking(move || {
            let payload = trace::decode_agent_payload(&bytes).map_err(wire_error)?;
            let spans = apm::spans_of(&payload);
            let mut services: Vec<&str> = spans.iter().map(|s| s.service.as_str()).collect();
            services.sort_unstable();
            services.dedup();
            let summary = json!({
                "host_name": payload.host_name,
                "env": payload.env,
                "agent_version": payload.agent_version,
                "tracer_payloads": payload.tracer_payloads.len(),
                "chunks": payload.tracer_payloads.iter().map(|t| t.chunks.len()).sum::<usize>(),
                "spans": spans.len(),
                "services": services,
                // The v1 (indexed) form some agents send behind a feature flag is not read.
                "idx_tracer_payloads_ignored": payload.idx_tracer_payloads.len(),
            });
            Ok::<_, ApiError>((spans, summary))
        })
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("trace decoding task failed: {err}")))??;
        let now = state.clock.now();
        blocking(&state, move |store| store.insert_spans(&spans, now)).await?;
        Ok::<_, ApiError>(summary)
    }
    .await;
    finish(log, result).await
}

/// `POST /api/v0.2/stats`: a (gzipped) msgpack or protobuf `StatsPayload`; its buckets are added to the
/// stored ones and the trace metrics derived again.
pub(crate) async fn intake_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/api/v0.2/stats");
    let result = async {
        let format =
            StatsFormat::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()));
        let bytes = read_body(
            &headers,
            body,
            trace::INTAKE_BODY_LIMIT,
            trace::INTAKE_DECOMPRESSED_LIMIT,
        )
        .await?;
        let payload = trace::decode_stats_payload(&bytes, format).map_err(wire_error)?;
        let rows = apm::stats_rows(&payload).map_err(wire_error)?;
        let now = state.clock.now();
        let count = rows.len();
        let report = blocking(&state, move |store| {
            store.ingest_trace_stats(&rows, &metrics::merge_summaries, &metrics::derive, now)
        })
        .await?;
        Ok::<_, ApiError>(json!({
            "agent_hostname": payload.agent_hostname,
            "agent_env": payload.agent_env,
            "client_computed": payload.client_computed,
            "client_payloads": payload.stats.len(),
            "groups": count,
            "series": report.series.series,
            "points": report.series.points,
        }))
    }
    .await;
    finish(log, result).await
}

async fn finish(log: IntakeLog<'_>, result: Result<Value, ApiError>) -> Result<Response, ApiError> {
    match result {
        Ok(summary) => {
            log.record(202, summary).await;
            Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

/// A spans API failure, as a JSON:API error.
#[derive(Debug)]
pub(crate) struct SpansError {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl SpansError {
    fn bad_request(detail: impl Into<String>) -> Self {
        SpansError {
            status: StatusCode::BAD_REQUEST,
            title: "Bad Request",
            detail: detail.into(),
        }
    }
}

impl From<ApiError> for SpansError {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let detail = if matches!(err, ApiError::Internal(_)) {
            // The generic response logs the internal cause once; its body is not used.
            drop(err.into_response());
            "Internal Server Error".to_owned()
        } else {
            err.to_string()
        };
        SpansError {
            status,
            title: "Generic Error",
            detail,
        }
    }
}

impl IntoResponse for SpansError {
    fn into_response(self) -> Response {
        let body = json!({
            "errors": [{ "title": self.title, "detail": self.detail, "status": self.status.as_str() }]
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/vnd.api+json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// A spans search, from either form of the API.
#[derive(Debug, Default)]
struct SearchRequest {
    query: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

/// `POST /api/v2/spans/events/search` with `{"data": {"type": "search_request", "attributes": {...}}}`.
pub(crate) async fn search_spans(State(state): State<AppState>, body: Bytes) -> Result<Response, SpansError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|err| SpansError::bad_request(format!("invalid JSON: {err}")))?
    };
    if let Some(kind) = value.pointer("/data/type")
        && kind != "search_request"
    {
        return Err(SpansError::bad_request(format!(
            "data.type must be \"search_request\", not {kind}"
        )));
    }
    let text = |pointer: &str| -> Result<Option<String>, SpansError> {
        match value.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(SpansError::bad_request(format!(
                "{}: expected a string, found {other}",
                pointer.trim_start_matches('/').replace('/', ".")
            ))),
        }
    };
    let request = SearchRequest {
        query: text("/data/attributes/filter/query")?,
        from: text("/data/attributes/filter/from")?,
        to: text("/data/attributes/filter/to")?,
        sort: text("/data/attributes/sort")?,
        cursor: text("/data/attributes/page/cursor")?,
        limit: text("/data/attributes/page/limit")?,
    };
    search(&state, request).await
}

/// `GET /api/v2/spans/events?filter[query]=&filter[from]=&filter[to]=&sort=&page[cursor]=&page[limit]=`.
pub(crate) async fn list_spans(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SpansError> {
    let get = |name: &str| params.get(name).cloned();
    let request = SearchRequest {
        query: get("filter[query]"),
        from: get("filter[from]"),
        to: get("filter[to]"),
        sort: get("sort"),
        cursor: get("page[cursor]"),
        limit: get("page[limit]"),
    };
    search(&state, request).await
}

async fn search(state: &AppState, request: SearchRequest) -> Result<Response, SpansError> {
    let started = Instant::now();
    let now_ms = state.clock.now_ms();
    let time = |text: Option<&str>, default: &str, name: &str| {
        time::parse_time(text.unwrap_or(default), now_ms)
            .map_err(|err| SpansError::bad_request(format!("filter.{name}: {err}")))
    };
    let from = time(request.from.as_deref(), "now-15m", "from")?;
    let to = time(request.to.as_deref(), "now", "to")?;
    if from > to {
        return Err(SpansError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Generic Error",
            detail: "invalid_argument(Field 'filter.from,to' is invalid: 'from' should be anterior to 'to')"
                .to_owned(),
        });
    }
    let query_text = request.query.clone().unwrap_or_else(|| "*".to_owned());
    let filter = search::parse(&query_text)
        .map_err(|err| SpansError::bad_request(format!("invalid query {query_text:?}: {err}")))?;
    let (sort, order) = match request.sort.as_deref() {
        None | Some("-timestamp") => ("-timestamp", SpanOrder::Newest),
        Some("timestamp") => ("timestamp", SpanOrder::Oldest),
        Some(other) => {
            return Err(SpansError::bad_request(format!(
                "sort must be \"timestamp\" or \"-timestamp\", not {other:?}"
            )));
        }
    };
    let limit = match request.limit.as_deref() {
        None => PAGE_LIMIT_DEFAULT,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                SpansError::bad_request(format!(
                    "page.limit must be from 1 to {PAGE_LIMIT_MAX}, not {text:?}"
                ))
            })?,
    };
    let after = match request.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(apm::decode_cursor(text).ok_or_else(|| {
            SpansError::bad_request(format!("page.cursor {text:?} is not a cursor this API gave"))
        })?),
    };
    let query = SpanQuery {
        filter,
        from: from.saturating_mul(1_000_000),
        to: to.saturating_mul(1_000_000).saturating_add(999_999),
        order,
        after,
        limit,
    };
    let page = blocking(state, move |store| store.search_spans(&query)).await?;
    let data: Vec<Value> = page.spans.iter().map(apm::span_json).collect();
    let mut meta = json!({
        "elapsed": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request_id": request_id(),
        "status": "done",
    });
    let mut answer = json!({ "data": data, "meta": Value::Null });
    if let Some(next) = page.next {
        let cursor = apm::encode_cursor(next);
        meta["page"] = json!({ "after": cursor });
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filter[query]", &query_text)
            .append_pair("filter[from]", &from.to_string())
            .append_pair("filter[to]", &to.to_string())
            .append_pair("sort", sort)
            .append_pair("page[cursor]", &cursor)
            .append_pair("page[limit]", &limit.to_string())
            .finish();
        answer["links"] = json!({ "next": format!("{}/api/v2/spans/events?{query}", state.app_url) });
    }
    answer["meta"] = meta;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/vnd.api+json")],
        answer.to_string(),
    )
        .into_response())
}

/// An opaque id for one answer, like Datadog's `request_id`.
fn request_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        return "pddv1-local".to_owned();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("pddv1{hex}")
}

/// The window and env of the services pages: `from`/`to` epoch seconds (default the last hour) and an
/// optional `env`.
fn window(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<(i64, i64, Option<String>), ApiError> {
    let now = state.clock.now();
    let from = if params.contains_key("from") {
        epoch_param(params, "from")?
    } else {
        now - DEFAULT_WINDOW_SECONDS
    };
    let to = if params.contains_key("to") {
        epoch_param(params, "to")?
    } else {
        now
    };
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "'from' ({from}) must not be after 'to' ({to})"
        )));
    }
    let env = params.get("env").filter(|e| !e.is_empty()).cloned();
    Ok((from, to, env))
}

/// `GET /ddlab/apm/services[?from=&to=&env=]`: every service with its main operation's requests, errors
/// and latency percentiles.
pub(crate) async fn services(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (from, to, env) = window(&state, &params)?;
    let filter = TraceStatsFilter {
        from,
        to,
        env: env.clone(),
        service: None,
    };
    let rows = blocking(&state, move |store| store.trace_stats(&filter)).await?;
    Ok(Json(json!({
        "from": from,
        "to": to,
        "env": env,
        "services": apm::services(&rows),
    })))
}

/// `GET /ddlab/apm/services/{service}/resources[?operation=&from=&to=&env=]`: the resources of the
/// service's main operation (or `operation`), busiest first.
pub(crate) async fn resources(
    State(state): State<AppState>,
    Path(service): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (from, to, env) = window(&state, &params)?;
    let filter = TraceStatsFilter {
        from,
        to,
        env: env.clone(),
        service: Some(service.clone()),
    };
    let rows = blocking(&state, move |store| store.trace_stats(&filter)).await?;
    let operation = params
        .get("operation")
        .filter(|o| !o.is_empty())
        .cloned()
        .or_else(|| apm::main_operation(&rows));
    let resources = operation.as_deref().map_or_else(
        || Value::from(Vec::<Value>::new()),
        |op| apm::resources(&rows, op),
    );
    Ok(Json(json!({
        "service": service,
        "operation": operation,
        "from": from,
        "to": to,
        "env": env,
        "resources": resources,
    })))
}

/// `GET /ddlab/apm/traces/{trace_id}`: every stored span of a trace, for the trace view.
pub(crate) async fn trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: u64 = trace_id
        .trim()
        .parse()
        .map_err(|_| ApiError::NotFound(format!("Trace {trace_id:?} not found")))?;
    let spans = blocking(&state, move |store| store.trace_spans(id)).await?;
    if spans.is_empty() {
        return Err(ApiError::NotFound(format!("Trace {id} not found")));
    }
    Ok(Json(apm::trace_json(id, &spans)))
}

#[cfg(test)]
mod tests;
