//! Graph snapshots: `GET /api/v1/graph/snapshot` (datadogpy `api.Graph.create`, the Python client's
//! `SnapshotsApi.get_graph_snapshot`) and `GET /api/v1/graph/snapshot_status/{path}` (`api.Graph.status`).
//!
//! A snapshot is drawn from real data with the UI's chart code and rasterised to PNG right away, so its
//! status is always "ready"; the PNG itself is served by the UI without keys (`crate::ui::snapshot`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::{blocking, epoch_param};
use crate::AppState;
use crate::ui::chart::Size;
use crate::ui::snapshot::{self, SnapshotError};
use crate::ui::widget::{self, Body, ChartModel, Frame};

const DEFAULT_WIDTH: u32 = 800;
const DEFAULT_HEIGHT: u32 = 400;
const MIN_SIZE: u32 = 100;
const MAX_SIZE: u32 = 4000;

/// `GET /api/v1/graph/snapshot?metric_query=|graph_def=&start=&end=[&title=&width=&height=&event_query=]`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let start = epoch_param(&params, "start")?;
    let end = epoch_param(&params, "end")?;
    if start >= end {
        return Err(ApiError::BadRequest(format!(
            "'start' ({start}) must be before 'end' ({end})"
        )));
    }
    let width = size_param(&params, "width", DEFAULT_WIDTH)?;
    let height = size_param(&params, "height", DEFAULT_HEIGHT)?;
    let metric_query = params
        .get("metric_query")
        .filter(|q| !q.trim().is_empty())
        .cloned();
    let graph_def_text = params.get("graph_def").filter(|g| !g.trim().is_empty()).cloned();
    let event_query = params
        .get("event_query")
        .filter(|q| !q.trim().is_empty())
        .cloned();
    let title = params.get("title").filter(|t| !t.trim().is_empty()).cloned();
    let (definition, graph_def_echo) = match (&graph_def_text, &metric_query) {
        (Some(text), _) => (graph_def(text)?, text.clone()),
        (None, Some(query)) => {
            ddlab_query::parse(query)
                .map_err(|err| ApiError::BadRequest(format!("Error parsing query: \n {err}")))?;
            let echo = json!({ "requests": [{ "q": query }] });
            (
                json!({ "viz": "timeseries", "requests": [{ "q": query }] }),
                serde_json::to_string(&echo).unwrap_or_default(),
            )
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "One of 'metric_query' or 'graph_def' is required".to_owned(),
            ));
        }
    };
    let now = state.clock.now();
    let dir = state.ui.snapshot_dir.clone();
    let date = crate::ui::chart::format_time(now, &jiff::tz::TimeZone::UTC, "%Y-%m-%d");
    let path = blocking(&state, move |store| {
        let frame = Frame::new(store, start, end, now, HashMap::new());
        let evaluated = widget::evaluate(&definition, "snapshot", &frame);
        let model = match (&evaluated.body, widget::chart_of(&evaluated)) {
            (Body::Failed(message), _) => return Ok(Err(ApiError::BadRequest(format!("Invalid graph_def: {message}")))),
            (_, Some(model)) => model,
            (_, None) => {
                return Ok(Err(ApiError::BadRequest(format!(
                    "graph_def.viz {:?} cannot be drawn as a snapshot: use timeseries, query_value or toplist",
                    evaluated.kind
                ))));
            }
        };
        let model = match model {
            ChartModel::Timeseries(mut chart) => {
                for query in event_queries(&definition, event_query.as_deref()) {
                    chart.events.extend(widget::event_marks(store, &query, start, end));
                }
                ChartModel::Timeseries(chart)
            }
            other => other,
        };
        let title = title.or(evaluated.title);
        let size = Size {
            width: f64::from(width),
            height: f64::from(height),
        };
        let svg = model.svg(title.as_deref(), size, &crate::ui::viewer_tz());
        Ok(snapshot::rasterize(&svg).and_then(|png| snapshot::save(&dir, &date, &png)).map_err(internal))
    })
    .await??;
    let mut answer = Map::new();
    if graph_def_text.is_none() {
        if let Some(query) = &metric_query {
            answer.insert("metric_query".to_owned(), json!(query));
        }
        if let Some(query) = params.get("event_query").filter(|q| !q.trim().is_empty()) {
            answer.insert("event_query".to_owned(), json!(query));
        }
    }
    answer.insert("graph_def".to_owned(), json!(graph_def_echo));
    answer.insert(
        "snapshot_url".to_owned(),
        json!(format!("{}/snapshot/view/{path}", state.app_url)),
    );
    Ok(Json(Value::Object(answer)))
}

/// `GET /api/v1/graph/snapshot_status/{path}`: `{"status_code": 200}` once the PNG exists (always, here).
pub(crate) async fn status(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let file = snapshot::resolve(&state.ui.snapshot_dir, &path)
        .ok_or_else(|| ApiError::NotFound(format!("Snapshot {path:?} not found")))?;
    let exists = tokio::task::spawn_blocking(move || file.is_file())
        .await
        .unwrap_or(false);
    if exists {
        Ok(Json(json!({ "status_code": 200 })))
    } else {
        Err(ApiError::NotFound(format!("Snapshot {path:?} not found")))
    }
}

fn internal(err: SnapshotError) -> ApiError {
    ApiError::Internal(err.into())
}

fn size_param(params: &HashMap<String, String>, name: &str, default: u32) -> Result<u32, ApiError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= f64::from(MIN_SIZE) && *v <= f64::from(MAX_SIZE))
            .map(|v| v as u32)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "The '{name}' parameter must be a number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {text:?}"
                ))
            }),
    }
}

/// The graph definition of `graph_def`, checked: a JSON object whose `requests` each carry a query.
fn graph_def(text: &str) -> Result<Value, ApiError> {
    let invalid = |message: String| ApiError::BadRequest(format!("Invalid graph_def: {message}"));
    let value: Value = serde_json::from_str(text).map_err(|err| invalid(format!("not JSON: {err}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| invalid("it must be a JSON object with \"requests\"".to_owned()))?;
    for key in ["viz", "type"] {
        if let Some(kind) = object.get(key)
            && !kind.is_string()
        {
            return Err(invalid(format!("{key} must be a string such as \"timeseries\"")));
        }
    }
    let requests = match object.get("requests") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(invalid("requests must not be empty".to_owned())),
        Some(_) => return Err(invalid("requests must be a list of requests".to_owned())),
        None => return Err(invalid("requests is required".to_owned())),
    };
    for (i, request) in requests.iter().enumerate() {
        match (request.get("q"), request.get("queries")) {
            (Some(Value::String(q)), _) => {
                ddlab_query::parse(q)
                    .map_err(|err| invalid(format!("requests[{i}].q: Error parsing query: {err}")))?;
            }
            (Some(_), _) => return Err(invalid(format!("requests[{i}].q must be a query string"))),
            (None, Some(Value::Array(_))) => {}
            (None, Some(_)) => return Err(invalid(format!("requests[{i}].queries must be a list"))),
            (None, None) => {
                return Err(invalid(format!(
                    "requests[{i}] has no query: give it \"q\", or \"queries\" with \"formulas\""
                )));
            }
        }
    }
    if let Some(events) = object.get("events")
        && !events.is_array()
    {
        return Err(invalid("events must be a list of {\"q\": ...}".to_owned()));
    }
    // Legacy graphs name their type `viz`; without one it is a timeseries.
    let mut definition = value.clone();
    if object.get("viz").is_none() && object.get("type").is_none() {
        definition["viz"] = json!("timeseries");
    }
    Ok(definition)
}

/// The event queries of a snapshot: `event_query`, and a legacy graph's `events[].q`.
fn event_queries(definition: &Value, event_query: Option<&str>) -> Vec<String> {
    let mut queries: Vec<String> = definition["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["q"].as_str().map(str::to_owned))
        .collect();
    queries.extend(event_query.map(str::to_owned));
    queries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_defs_are_checked_field_by_field() {
        let error = |text: &str| match graph_def(text) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a 400 for {text}, got {other:?}"),
        };
        assert_eq!(
            error("{"),
            "Invalid graph_def: not JSON: EOF while parsing an object at line 1 column 1"
        );
        assert_eq!(
            error("[]"),
            "Invalid graph_def: it must be a JSON object with \"requests\""
        );
        assert_eq!(
            error(r#"{"viz": "timeseries"}"#),
            "Invalid graph_def: requests is required"
        );
        assert_eq!(
            error(r#"{"requests": []}"#),
            "Invalid graph_def: requests must not be empty"
        );
        assert_eq!(
            error(r#"{"requests": [{"q": "avg:m{*}"}, {"q": 3}]}"#),
            "Invalid graph_def: requests[1].q must be a query string"
        );
        assert!(
            error(r#"{"requests": [{"q": "avg:m{*"}]}"#)
                .starts_with("Invalid graph_def: requests[0].q: Error parsing query:")
        );
        assert_eq!(
            error(r#"{"requests": [{"type": "line"}]}"#),
            "Invalid graph_def: requests[0] has no query: give it \"q\", or \"queries\" with \"formulas\""
        );
        assert_eq!(
            graph_def(r#"{"requests": [{"q": "avg:m{*}"}]}"#).unwrap()["viz"],
            json!("timeseries")
        );
    }
}
