//! Metric intake: `POST /api/v1/series`, `POST /api/v2/series`, `POST /api/beta/sketches` and the agent's
//! host metadata on `POST /intake/`.
//!
//! Every body is read with Datadog's size limit (413 beyond), decompressed with its own limit, decoded whole
//! by `ddlab-wire` (a bad payload is refused whole, never partly written), normalised, and stored in one
//! transaction before the 202 goes out. Points outside Datadog's accepted window (more than an hour old or
//! more than ten minutes ahead of the backend's clock) are dropped the way Datadog drops them: silently for
//! the client, counted in the log.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ddlab_store::{HostUpdate, NewSeries};
use ddlab_wire::series::{self, MetricBatch, SeriesFormat};
use ddlab_wire::{Encoding, WireError, intake, normalize};
use serde_json::{Value, json};

use super::blocking;
use super::error::ApiError;
use crate::AppState;

/// How far back a point may be and still be accepted.
pub(crate) const MAX_PAST_SECONDS: i64 = 3600;
/// How far ahead a point may be and still be accepted.
pub(crate) const MAX_FUTURE_SECONDS: i64 = 600;
/// Limits of `/intake/` bodies (host metadata carries gohai, which can be large).
const INTAKE_BODY_LIMIT: usize = 3_200_000;
const INTAKE_DECOMPRESSED_LIMIT: usize = 62_914_560;

pub(crate) async fn series_v1(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    intake_series(&state, "/api/v1/series", SeriesFormat::V1Json, &headers, body).await?;
    // Datadog answers v1 intake with `text/json`.
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "text/json")],
        r#"{"status": "ok"}"#,
    )
        .into_response())
}

pub(crate) async fn series_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let format = SeriesFormat::v2(content_type);
    intake_series(&state, "/api/v2/series", format, &headers, body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "errors": [] }))).into_response())
}

/// Decodes, stores and logs one series request.
async fn intake_series(
    state: &AppState,
    route: &'static str,
    format: SeriesFormat,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), ApiError> {
    let log = IntakeLog::new(state, route);
    let result = async {
        let bytes = read_body(headers, body, format.body_limit(), format.decompressed_limit()).await?;
        let batch = series::decode(format, &bytes).map_err(wire_error)?;
        let summary = batch_summary(&batch);
        store_series(state, batch).await?;
        Ok::<_, ApiError>(summary)
    }
    .await;
    match result {
        Ok(summary) => {
            log.record(202, summary).await;
            Ok(())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

/// Distribution sketches are accepted (the Agent sends them) but not stored: the lab has no distributions.
pub(crate) async fn sketches(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/api/beta/sketches");
    match read_body(
        &headers,
        body,
        series::V2_BODY_LIMIT,
        series::V2_DECOMPRESSED_LIMIT,
    )
    .await
    {
        Ok(bytes) => {
            tracing::debug!(
                bytes = bytes.len(),
                "Sketch payload accepted and not stored: the lab keeps no distributions."
            );
            log.record(202, json!({ "bytes": bytes.len(), "stored": false }))
                .await;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

/// `POST /intake/`: host metadata (hostname, host tags, IP, agent version).
pub(crate) async fn intake(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/intake/");
    let result = async {
        let bytes = read_body(&headers, body, INTAKE_BODY_LIMIT, INTAKE_DECOMPRESSED_LIMIT).await?;
        let decoded = intake::decode(&bytes).map_err(wire_error)?;
        let mut summary = serde_json::Map::new();
        if let Some(host) = decoded.host {
            summary.insert("host".to_owned(), host_summary(&host));
            let update = host_update(host);
            let now = state.clock.now();
            blocking(&state, move |store| store.update_host(&update, now)).await?;
        }
        if !decoded.events.is_empty() {
            let ids = super::events::store_agent_events(&state, &decoded.events).await?;
            let events: Vec<Value> = ids
                .iter()
                .zip(&decoded.events)
                .map(|(id, e)| super::events::event_summary(*id, e))
                .collect();
            summary.insert("events".to_owned(), Value::from(events));
        }
        if !decoded.service_checks.is_empty() {
            let checks: Vec<Value> = decoded
                .service_checks
                .iter()
                .map(super::events::check_run_summary)
                .collect();
            summary.insert("service_checks".to_owned(), Value::from(checks));
            super::events::store_check_runs(&state, decoded.service_checks).await?;
        }
        Ok::<_, ApiError>(Value::Object(summary))
    }
    .await;
    match result {
        Ok(summary) => {
            log.record(202, summary).await;
            Ok((StatusCode::ACCEPTED, Json(json!({ "status": "ok" }))).into_response())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

async fn store_series(state: &AppState, batch: MetricBatch) -> Result<(), ApiError> {
    let (batch, normalized) = normalize::series(batch);
    for change in &normalized.changes {
        tracing::debug!(%change, "Intake normalised a name or tag.");
    }
    let now = state.clock.now();
    let mut dropped = 0usize;
    let rows: Vec<NewSeries> = batch
        .series
        .into_iter()
        .filter_map(|s| {
            let total = s.points.len();
            let points: Vec<(i64, f64)> = s
                .points
                .iter()
                .filter(|p| p.timestamp >= now - MAX_PAST_SECONDS && p.timestamp <= now + MAX_FUTURE_SECONDS)
                .map(|p| (p.timestamp, p.value))
                .collect();
            dropped += total - points.len();
            if points.is_empty() {
                return None;
            }
            Some(NewSeries {
                metric: s.metric,
                host: s.host,
                tags: s.tags,
                kind: match s.kind {
                    series::MetricKind::Gauge => ddlab_store::MetricKind::Gauge,
                    series::MetricKind::Count => ddlab_store::MetricKind::Count,
                    series::MetricKind::Rate => ddlab_store::MetricKind::Rate,
                    series::MetricKind::Unspecified => ddlab_store::MetricKind::Unspecified,
                },
                interval: s.interval,
                unit: s.unit,
                source_type: s.source_type_name,
                points,
            })
        })
        .collect();
    if dropped > 0 {
        tracing::info!(
            dropped,
            now,
            "Points outside the accepted window (1 h past, 10 min future) were dropped."
        );
    }
    blocking(state, move |store| store.append_series(&rows, now)).await?;
    Ok(())
}

fn host_update(host: intake::HostMetadata) -> HostUpdate {
    let mut tags = std::collections::BTreeMap::new();
    // The Agent's own tags (`system`) show as Datadog's "Datadog" source; other sources keep their names.
    for (source, list) in host.host_tags {
        let source = if source == "system" {
            ddlab_store::AGENT_TAGS.to_owned()
        } else {
            source
        };
        tags.entry(source).or_insert_with(Vec::new).extend(list);
    }
    let meta = json!({
        "socket-hostname": host.socket_hostname,
        "socket-fqdn": host.socket_fqdn,
        "host_aliases": host.host_aliases,
        "agent_version": host.agent_version,
        "agent_flavor": host.agent_flavor,
        "os": host.os,
        "platform": host.platform,
        "kernel_release": host.kernel_release,
        "cpuCores": host.cpu_cores,
        "python": host.python_version,
        "ipaddress": host.ip,
        "ipaddressv6": host.ipv6,
        "macaddress": host.mac_address,
        "public_ipv4": host.public_ip,
        "timezones": host.timezones,
    });
    HostUpdate {
        name: host.hostname,
        ip: host.ip,
        agent_version: host.agent_version,
        platform: host.platform.or(host.os),
        meta,
        tags,
    }
}

/// Reads a body with Datadog's limits: 413 as soon as the raw body passes `limit` bytes, or its
/// decompressed form passes `decompressed_limit`; 400 for an unknown or corrupt encoding.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    decompressed_limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let value = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = Encoding::from_header(value).map_err(wire_error)?;
    let raw: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "Payload too large: the limit for this endpoint is {limit} bytes"
        ))
    })?;
    ddlab_wire::compression::decompress(encoding, &raw, decompressed_limit).map_err(wire_error)
}

pub(crate) fn wire_error(err: WireError) -> ApiError {
    match err {
        WireError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
            "Payload too large: it decompresses to more than {limit} bytes"
        )),
        other => ApiError::BadRequest(format!("Invalid payload: {other}")),
    }
}

/// Records what one intake request carried, for `/ddlab/intake` and the intake page. Logging is best
/// effort: the payload is already stored (or refused) when it runs, and a failure to log only shows in the
/// backend's log.
pub(crate) struct IntakeLog<'a> {
    state: &'a AppState,
    route: &'static str,
    received_at: i64,
}

impl<'a> IntakeLog<'a> {
    pub(crate) fn new(state: &'a AppState, route: &'static str) -> Self {
        Self {
            state,
            route,
            received_at: state.clock.now(),
        }
    }

    pub(crate) async fn record(self, status: u16, summary: Value) {
        let (route, at) = (self.route, self.received_at);
        let result = blocking(self.state, move |store| {
            store.log_intake(route, at, status, &summary)
        })
        .await;
        if let Err(err) = result {
            tracing::warn!(route, error = %err, "Could not record a payload in the intake log.");
        }
    }

    pub(crate) async fn refused(self, err: &ApiError) {
        let status = err.status().as_u16();
        self.record(status, json!({ "error": err.to_string() })).await;
    }
}

/// The most series and points per series an intake log entry keeps.
const SUMMARY_SERIES: usize = 200;
const SUMMARY_POINTS: usize = 50;

/// A series batch as the intake log shows it: as sent, before normalisation.
fn batch_summary(batch: &MetricBatch) -> Value {
    let series: Vec<Value> = batch
        .series
        .iter()
        .take(SUMMARY_SERIES)
        .map(|s| {
            json!({
                "metric": s.metric,
                "type": match s.kind {
                    series::MetricKind::Gauge => "gauge",
                    series::MetricKind::Count => "count",
                    series::MetricKind::Rate => "rate",
                    series::MetricKind::Unspecified => "unspecified",
                },
                "host": s.host,
                "tags": s.tags,
                "interval": s.interval,
                "unit": s.unit,
                "device": s.device,
                "source_type_name": s.source_type_name,
                "points": s.points.iter().take(SUMMARY_POINTS).map(|p| json!([p.timestamp, p.value])).collect::<Vec<_>>(),
                "point_count": s.points.len(),
            })
        })
        .collect();
    json!({ "series_count": batch.series.len(), "series": series })
}

fn host_summary(host: &intake::HostMetadata) -> Value {
    json!({
        "hostname": host.hostname,
        "host_tags": host.host_tags,
        "ip": host.ip,
        "agent_version": host.agent_version,
        "os": host.os,
        "platform": host.platform,
        "host_aliases": host.host_aliases,
    })
}
