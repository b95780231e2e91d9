//! Metric names and metadata: `GET /api/v1/metrics`, `GET/PUT /api/v1/metrics/{name}`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use ddlab_store::MetricMetadata;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::{blocking, epoch_param};
use crate::AppState;

/// `GET /api/v1/metrics?from=<s>[&host=]`: metrics that reported since `from`.
pub(crate) async fn list_metrics(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let from = epoch_param(&params, "from")?;
    let host = params.get("host").cloned().filter(|h| !h.is_empty());
    let names = blocking(&state, move |store| match host {
        Some(host) => store.metric_names_for_host(&host, from),
        None => store.metric_names(from),
    })
    .await?;
    Ok(Json(json!({ "from": from.to_string(), "metrics": names })))
}

/// `GET /api/v1/metrics/{name}`.
pub(crate) async fn get_metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let metric = name.clone();
    let found = blocking(&state, move |store| store.metric_metadata(&metric)).await?;
    let meta = found.ok_or_else(|| ApiError::NotFound(format!("Metric {name:?} not found")))?;
    Ok(Json(metadata_json(&meta)))
}

/// `PUT /api/v1/metrics/{name}`: sets the given fields, answers the whole metadata.
pub(crate) async fn update_metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("Invalid JSON body: {err}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The body must be a JSON object".to_owned()))?;
    let update = MetricMetadata {
        kind: string_field(object, "type")?,
        description: string_field(object, "description")?,
        short_name: string_field(object, "short_name")?,
        unit: string_field(object, "unit")?,
        per_unit: string_field(object, "per_unit")?,
        statsd_interval: match object.get("statsd_interval") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::BadRequest("\"statsd_interval\" must be a positive integer".to_owned())
            })?),
        },
        integration: None,
    };
    if let Some(kind) = &update.kind
        && !matches!(kind.as_str(), "gauge" | "count" | "rate" | "distribution")
    {
        return Err(ApiError::BadRequest(format!(
            "\"type\" must be one of gauge, count, rate, distribution; got {kind:?}"
        )));
    }
    let metric = name.clone();
    let meta = blocking(&state, move |store| {
        store.update_metric_metadata(&metric, &update)?;
        store.metric_metadata(&metric)
    })
    .await?
    .unwrap_or_default();
    Ok(Json(metadata_json(&meta)))
}

fn string_field(object: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::BadRequest(format!("{key:?} must be a string"))),
    }
}

fn metadata_json(meta: &MetricMetadata) -> Value {
    json!({
        "type": meta.kind,
        "description": meta.description,
        "short_name": meta.short_name,
        "unit": meta.unit,
        "per_unit": meta.per_unit,
        "statsd_interval": meta.statsd_interval,
        "integration": meta.integration,
    })
}
