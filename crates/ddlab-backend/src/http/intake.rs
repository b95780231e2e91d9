//! Metric intake: `POST /api/v1/series`, `POST /api/v2/series`, `POST /api/beta/sketches` and the agent's
//! host metadata on `POST /intake/`.
//!
//! Every body is read with Datadog's size limit (413 beyond), decompressed with its own limit, decoded whole
//! by `ddlab-wire` (a bad payload is refused whole, never partly written), normalised, and stored in one
//! transaction before the 202 goes out. Points outside Datadog's accepted window (more than an hour old or
//! more than ten minutes ahead of the backend's clock) are dropped the way Datadog drops them: silently for
//! the client, counted in the log.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ddlab_store::{HostUpdate, NewSeries};
use ddlab_wire::series::{self, MetricBatch, SeriesFormat};
use ddlab_wire::{Encoding, WireError, intake, normalize};
use serde_json::json;

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
    let batch = decode_series(SeriesFormat::V1Json, &headers, body).await?;
    store_series(&state, batch).await?;
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
    let batch = decode_series(SeriesFormat::v2(content_type), &headers, body).await?;
    store_series(&state, batch).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "errors": [] }))).into_response())
}

/// Distribution sketches are accepted (the Agent sends them) but not stored: the lab has no distributions.
pub(crate) async fn sketches(headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let encoding = encoding(&headers)?;
    let raw = read_limited(body, series::V2_BODY_LIMIT).await?;
    ddlab_wire::compression::decompress(encoding, &raw, series::V2_DECOMPRESSED_LIMIT).map_err(wire_error)?;
    tracing::debug!(
        bytes = raw.len(),
        "Sketch payload accepted and not stored: the lab keeps no distributions."
    );
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /intake/`: host metadata (hostname, host tags, IP, agent version).
pub(crate) async fn intake(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let encoding = encoding(&headers)?;
    let raw = read_limited(body, INTAKE_BODY_LIMIT).await?;
    let bytes =
        ddlab_wire::compression::decompress(encoding, &raw, INTAKE_DECOMPRESSED_LIMIT).map_err(wire_error)?;
    let decoded = intake::decode(&bytes).map_err(wire_error)?;
    if let Some(host) = decoded.host {
        let update = host_update(host);
        let store = Arc::clone(&state.store);
        let now = state.clock.now();
        tokio::task::spawn_blocking(move || store.update_host(&update, now))
            .await
            .map_err(|err| ApiError::Internal(anyhow::anyhow!("intake task failed: {err}")))??;
    }
    if !decoded.events.is_empty() || !decoded.service_checks.is_empty() {
        tracing::warn!(
            events = decoded.events.len(),
            service_checks = decoded.service_checks.len(),
            "Events and service checks inside /intake/ are not stored yet."
        );
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "ok" }))).into_response())
}

async fn decode_series(
    format: SeriesFormat,
    headers: &HeaderMap,
    body: Body,
) -> Result<MetricBatch, ApiError> {
    let encoding = encoding(headers)?;
    let raw = read_limited(body, format.body_limit()).await?;
    let bytes = ddlab_wire::compression::decompress(encoding, &raw, format.decompressed_limit())
        .map_err(wire_error)?;
    series::decode(format, &bytes).map_err(wire_error)
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
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || store.append_series(&rows, now))
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("intake task failed: {err}")))??;
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

fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let value = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    Encoding::from_header(value).map_err(wire_error)
}

/// Reads the body, refusing it with 413 as soon as it passes `limit` bytes.
async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!(
            "Payload too large: the limit for this endpoint is {limit} bytes"
        ))
    })
}

fn wire_error(err: WireError) -> ApiError {
    match err {
        WireError::TooLarge { limit } => ApiError::PayloadTooLarge(format!(
            "Payload too large: it decompresses to more than {limit} bytes"
        )),
        other => ApiError::BadRequest(format!("Invalid payload: {other}")),
    }
}
