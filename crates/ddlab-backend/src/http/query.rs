//! Metric queries: `GET /api/v1/query` (classic, v1 shape) and `POST /api/v2/query/timeseries` (named
//! queries and formulas, v2 shape).
//!
//! Anomaly bands follow the convention of `ddlab_query::SeriesKind`: each series of `anomalies()` is
//! followed by two series with the same `tag_set`, display names suffixed ` lower` and ` upper`. In v2
//! answers the bands are two more entries of `series` (and `values`) right after their series, with the
//! same `group_tags` and `query_index`, and a `band` field (`"lower"` / `"upper"`) Datadog's own answers
//! never carry.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use ddlab_query::{Formula, Limit, NamedQuery, SeriesKind, SeriesResult, TopOrder, Window};
use serde_json::{Value, json};

use super::error::ApiError;
use super::{blocking, epoch_param};
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
    let window = Window {
        from,
        to,
        interval: None,
    };
    let results = blocking(&state, move |store| {
        Ok(ddlab_query::evaluate(&parsed, &StoreSource::new(store), window))
    })
    .await?
    .map_err(|err| ApiError::BadRequest(format!("Error evaluating query: {err}")))?;
    Ok(Json(v1_answer(&text, from, to, &results)))
}

/// The `/api/v1/query` body of evaluated results (also shown by the metric explorer).
pub(crate) fn v1_answer(text: &str, from: i64, to: i64, results: &[SeriesResult]) -> Value {
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
    json!({
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
    })
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

/// `POST /api/v2/query/timeseries`.
pub(crate) async fn query_timeseries(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("API input validation failed: invalid JSON: {err}")))?;
    let data = request
        .get("data")
        .ok_or_else(|| invalid("'data' is a required property"))?;
    if data.get("type").and_then(Value::as_str) != Some("timeseries_request") {
        return Err(invalid("Invalid type. Expected \"timeseries_request\"."));
    }
    let attributes = data
        .get("attributes")
        .ok_or_else(|| invalid("'attributes' is a required property"))?;
    let from_ms = ms_field(attributes, "from")?;
    let to_ms = ms_field(attributes, "to")?;
    if from_ms >= to_ms {
        return Err(invalid(&format!(
            "'from' ({from_ms}) must be before 'to' ({to_ms})"
        )));
    }
    let interval = match attributes.get("interval") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|ms| *ms >= 1000)
                .and_then(|ms| u32::try_from(ms / 1000).ok())
                .ok_or_else(|| invalid("'interval' must be a number of milliseconds, at least 1000"))?,
        ),
    };
    let queries = named_queries(attributes)?;
    let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
    let formulas = formulas(attributes, &names)?;
    // `to` is exclusive in v2; windows are inclusive.
    let window = Window {
        from: from_ms.div_euclid(1000),
        to: (to_ms - 1).div_euclid(1000),
        interval,
    };
    let results = blocking(&state, move |store| {
        Ok(ddlab_query::evaluate_formulas(
            &queries,
            &formulas,
            &StoreSource::new(store),
            window,
        ))
    })
    .await?
    .map_err(|err| ApiError::BadRequest(format!("Error evaluating query: {err}")))?;
    let mut times: Vec<i64> = results
        .iter()
        .flat_map(|r| r.points.iter().map(|(ts, _)| *ts))
        .collect();
    times.sort_unstable();
    times.dedup();
    let series: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut entry = json!({
                "group_tags": r.tag_set,
                "query_index": r.query_index,
                "unit": null,
            });
            match r.kind {
                SeriesKind::Value => {}
                SeriesKind::AnomalyLower => entry["band"] = json!("lower"),
                SeriesKind::AnomalyUpper => entry["band"] = json!("upper"),
            }
            entry
        })
        .collect();
    let values: Vec<Vec<Option<f64>>> = results
        .iter()
        .map(|r| {
            let by_time: HashMap<i64, Option<f64>> = r.points.iter().copied().collect();
            times
                .iter()
                .map(|ts| by_time.get(ts).copied().flatten())
                .collect()
        })
        .collect();
    let times_ms: Vec<i64> = times.iter().map(|ts| ts * 1000).collect();
    let body = json!({
        "data": {
            "id": "0",
            "type": "timeseries_response",
            "attributes": { "series": series, "times": times_ms, "values": values },
        }
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/vnd.api+json")],
        body.to_string(),
    )
        .into_response())
}

fn invalid(message: &str) -> ApiError {
    ApiError::BadRequest(format!("API input validation failed: {message}"))
}

fn ms_field(attributes: &Value, key: &str) -> Result<i64, ApiError> {
    attributes.get(key).and_then(Value::as_i64).ok_or_else(|| {
        invalid(&format!(
            "'{key}' is a required property and must be epoch milliseconds"
        ))
    })
}

pub(crate) fn named_queries(attributes: &Value) -> Result<Vec<NamedQuery>, ApiError> {
    let list = attributes
        .get("queries")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| invalid("'queries' is a required, non-empty list"))?;
    let mut queries = Vec::with_capacity(list.len());
    for (i, query) in list.iter().enumerate() {
        let source = query.get("data_source").and_then(Value::as_str).unwrap_or("");
        if source != "metrics" && source != "cloud_cost" {
            return Err(invalid(&format!(
                "queries[{i}].data_source {source:?} is not supported here: only \"metrics\" is"
            )));
        }
        let name = query
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("")
            .to_owned();
        let name = if name.is_empty() {
            format!("query{}", i + 1)
        } else {
            name
        };
        let text = query
            .get("query")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("queries[{i}].query is a required string")))?;
        let mut parsed = ddlab_query::parse(text).map_err(|err| {
            ApiError::BadRequest(format!("Error parsing query queries[{i}] ({name}): \n {err}"))
        })?;
        if parsed.items.len() != 1 {
            return Err(invalid(&format!(
                "queries[{i}].query must be one query; use one entry per query and formulas to combine them"
            )));
        }
        let expr = parsed.items.remove(0).expr;
        queries.push(NamedQuery { name, expr });
    }
    Ok(queries)
}

pub(crate) fn formulas(attributes: &Value, names: &[&str]) -> Result<Vec<Formula>, ApiError> {
    let Some(list) = attributes.get("formulas").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut formulas = Vec::with_capacity(list.len());
    for (i, formula) in list.iter().enumerate() {
        let text = formula
            .get("formula")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("formulas[{i}].formula is a required string")))?;
        let expr = ddlab_query::parse_formula(text, names)
            .map_err(|err| ApiError::BadRequest(format!("Error parsing formula formulas[{i}]: \n {err}")))?;
        let limit = match formula.get("limit") {
            None | Some(Value::Null) => None,
            Some(limit) => {
                let count = limit
                    .get("count")
                    .and_then(Value::as_u64)
                    .and_then(|c| usize::try_from(c).ok())
                    .ok_or_else(|| {
                        invalid(&format!("formulas[{i}].limit.count must be a positive integer"))
                    })?;
                let order = match limit.get("order").and_then(Value::as_str) {
                    None | Some("desc") => TopOrder::Desc,
                    Some("asc") => TopOrder::Asc,
                    Some(other) => {
                        return Err(invalid(&format!(
                            "formulas[{i}].limit.order must be \"asc\" or \"desc\", got {other:?}"
                        )));
                    }
                };
                Some(Limit { count, order })
            }
        };
        formulas.push(Formula { expr, limit });
    }
    Ok(formulas)
}
