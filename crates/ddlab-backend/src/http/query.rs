//! `GET /api/v1/query`: classic metric queries, answered in Datadog's v1 shape.
//!
//! Anomaly bands follow the convention of `ddlab_query::SeriesKind`: each series of `anomalies()` is
//! followed by two series with the same `tag_set`, display names suffixed ` lower` and ` upper`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use ddlab_query::{SeriesResult, Window};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::AppState;
use crate::source::StoreSource;

pub(crate) async fn query_v1(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let from = epoch_param(&params, "from")?;
    let to = epoch_param(&params, "to")?;
    let text = params
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("The 'query' parameter is required".to_owned()))?
        .clone();
    if from > to {
        return Err(ApiError::BadRequest(format!(
            "'from' ({from}) must not be after 'to' ({to})"
        )));
    }
    let parsed = ddlab_query::parse(&text)
        .map_err(|err| ApiError::BadRequest(format!("Error parsing query: \n {err}")))?;
    let store = Arc::clone(&state.store);
    let results = tokio::task::spawn_blocking(move || {
        ddlab_query::evaluate(
            &parsed,
            &StoreSource::new(&store),
            Window {
                from,
                to,
                interval: None,
            },
        )
    })
    .await
    .map_err(|err| ApiError::Internal(anyhow::anyhow!("query task failed: {err}")))?
    .map_err(|err| ApiError::BadRequest(format!("Error evaluating query: {err}")))?;
    let group_by: Vec<String> = {
        let mut keys: Vec<String> = results
            .iter()
            .flat_map(|r| {
                r.tag_set
                    .iter()
                    .filter_map(|t| t.split_once(':').map(|(k, _)| k.to_owned()))
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let series: Vec<Value> = results
        .iter()
        .filter(|r| r.points.iter().any(|(_, v)| v.is_some()))
        .map(series_json)
        .collect();
    Ok(Json(json!({
        "status": "ok",
        "res_type": "time_series",
        "resp_version": 1,
        "query": text,
        "from_date": from * 1000,
        "to_date": to * 1000,
        "group_by": group_by,
        "message": "",
        "times": [],
        "values": [],
        "series": series,
    })))
}

fn series_json(result: &SeriesResult) -> Value {
    let interval = i64::from(result.interval);
    let pointlist: Vec<Value> = result
        .points
        .iter()
        .map(|(ts, value)| json!([(ts * 1000) as f64, value]))
        .collect();
    let start = result.points.first().map_or(0, |(ts, _)| ts * 1000);
    let end = result
        .points
        .last()
        .map_or(0, |(ts, _)| (ts + interval) * 1000 - 1000);
    json!({
        "metric": result.metric,
        "display_name": result.display_name,
        "expression": result.expression,
        "scope": result.scope,
        "tag_set": result.tag_set,
        "aggr": result.aggr.map(|a| a.to_string()),
        "interval": interval,
        "length": result.points.len(),
        "query_index": result.query_index,
        "attributes": {},
        "start": start,
        "end": end,
        "pointlist": pointlist,
    })
}

fn epoch_param(params: &HashMap<String, String>, name: &str) -> Result<i64, ApiError> {
    let text = params
        .get(name)
        .ok_or_else(|| ApiError::BadRequest(format!("The '{name}' parameter is required")))?;
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v as i64)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "The '{name}' parameter must be epoch seconds, got {text:?}"
            ))
        })
}
