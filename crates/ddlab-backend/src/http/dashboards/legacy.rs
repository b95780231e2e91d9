//! The legacy APIs datadogpy and `dog` still call, on the dashboard store: timeboards (`/api/v1/dash`,
//! `graphs` with `viz`, ordered layout) and screenboards (`/api/v1/screen`, placed widgets with `tile_def`,
//! free layout), with their numeric ids, `new_id` naming the same board in `/api/v1/dashboard`, and
//! screenboard share links.
//!
//! A legacy body is converted into v1 widget definitions and checked like a v1 body, so the stored JSON
//! renders the same whichever API wrote it; the body as sent is kept beside it and echoed back exactly.
//! A board last written through `/api/v1/dashboard` is answered in the legacy shape by the reverse
//! conversion. The legacy `read_only` flag is accepted whatever its value and answered `false`, as every
//! board of the lab can be edited.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ddlab_store::{DashboardFilter, DashboardRecord, ShareRecord};
use serde_json::{Map, Value, json};

use super::validate::{LayoutType, Noun, checked_body};
use super::{CREATOR_HANDLE, blocking, insert, iso_millis, json_body, replace, slug, widget_id};
use crate::AppState;
use crate::http::error::ApiError;

/// `POST /api/v1/dash`: answers `{"dash": {...}, "url", "resource"}`.
pub(crate) async fn create_dash(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let checked = checked_body(&timeboard_as_v1(&body)?, Noun("graph"), &mut widget_id)
        .map_err(ApiError::BadRequest)?;
    let record = insert(&state, checked, "dash", Some(body)).await?;
    Ok(Json(dash_wrapper(&record)))
}

/// `GET /api/v1/dash/{id}`.
pub(crate) async fn get_dash(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = legacy(&state, &id, LayoutType::Ordered).await?;
    Ok(Json(dash_wrapper(&record)))
}

/// `PUT /api/v1/dash/{id}`: a full replacement.
pub(crate) async fn update_dash(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let record = legacy(&state, &id, LayoutType::Ordered).await?;
    let checked = checked_body(&timeboard_as_v1(&body)?, Noun("graph"), &mut widget_id)
        .map_err(ApiError::BadRequest)?;
    let record = replace(&state, &record, checked, "dash", Some(body)).await?;
    Ok(Json(dash_wrapper(&record)))
}

/// `DELETE /api/v1/dash/{id}`: 204.
pub(crate) async fn delete_dash(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = legacy(&state, &id, LayoutType::Ordered).await?;
    super::delete_ids(&state, vec![record.id]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/dash`: `{"dashes": [...]}`, ids as strings.
pub(crate) async fn list_dashes(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let records = blocking(&state, |store| store.dashboards(DashboardFilter::default())).await?;
    let dashes: Vec<Value> = records
        .iter()
        .filter(|r| r.layout_type == LayoutType::Ordered.as_str())
        .map(|r| {
            json!({
                "id": r.legacy_id.to_string(),
                "title": r.title,
                "description": r.dashboard["description"],
                "created": iso_millis(r.created),
                "modified": iso_millis(r.modified),
                "read_only": false,
                "resource": format!("/api/v1/dash/{}", r.legacy_id),
                "created_by": created_by(),
            })
        })
        .collect();
    Ok(Json(json!({ "dashes": dashes })))
}

/// `POST /api/v1/screen`: answers the board unwrapped.
pub(crate) async fn create_screen(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let checked = checked_body(&screenboard_as_v1(&body)?, Noun("widget"), &mut widget_id)
        .map_err(ApiError::BadRequest)?;
    let record = insert(&state, checked, "screen", Some(body)).await?;
    Ok(Json(screen_json(&record, false)))
}

/// `GET /api/v1/screen/{id}`: the board with `created_by`.
pub(crate) async fn get_screen(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = legacy(&state, &id, LayoutType::Free).await?;
    Ok(Json(screen_json(&record, true)))
}

/// `PUT /api/v1/screen/{id}`: a full replacement.
pub(crate) async fn update_screen(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let record = legacy(&state, &id, LayoutType::Free).await?;
    let checked = checked_body(&screenboard_as_v1(&body)?, Noun("widget"), &mut widget_id)
        .map_err(ApiError::BadRequest)?;
    let record = replace(&state, &record, checked, "screen", Some(body)).await?;
    Ok(Json(screen_json(&record, false)))
}

/// `DELETE /api/v1/screen/{id}`: 204.
pub(crate) async fn delete_screen(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = legacy(&state, &id, LayoutType::Free).await?;
    super::delete_ids(&state, vec![record.id]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/screen`: `{"screenboards": [...]}`.
pub(crate) async fn list_screens(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let records = blocking(&state, |store| store.dashboards(DashboardFilter::default())).await?;
    let boards: Vec<Value> = records
        .iter()
        .filter(|r| r.layout_type == LayoutType::Free.as_str())
        .map(|r| {
            json!({
                "id": r.legacy_id,
                "title": r.title,
                "description": r.dashboard["description"],
                "created": iso_millis(r.created),
                "modified": iso_millis(r.modified),
                "read_only": false,
                "resource": format!("/api/v1/screen/{}", r.legacy_id),
                "created_by": created_by(),
            })
        })
        .collect();
    Ok(Json(json!({ "screenboards": boards })))
}

/// `POST /api/v1/screen/share/{id}`: `{"board_id", "public_url"}`; a board already shared keeps its link.
pub(crate) async fn share_screen(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = legacy(&state, &id, LayoutType::Free).await?;
    let dashboard_id = record.id.clone();
    let existing = blocking(&state, move |store| store.shares_of(&dashboard_id)).await?;
    let token = match existing.into_iter().next() {
        Some(share) => share.token,
        None => {
            let share = ShareRecord {
                token: super::shares::new_token()?,
                dashboard_id: record.id.clone(),
                share: super::shares::default_share(LayoutType::Free),
                created: state.clock.now_ms(),
            };
            let token = share.token.clone();
            blocking(&state, move |store| store.insert_share(&share)).await?;
            token
        }
    };
    Ok(Json(json!({
        "board_id": record.legacy_id,
        "public_url": super::shares::public_url(&state, &token),
    })))
}

/// `DELETE /api/v1/screen/share/{id}`: revokes the board's links; answers `null`.
pub(crate) async fn revoke_screen(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = legacy(&state, &id, LayoutType::Free).await?;
    blocking(&state, move |store| store.delete_shares_of(&record.id)).await?;
    Ok(Json(Value::Null))
}

/// A live board of the given layout by its legacy numeric id (or its text id).
async fn legacy(state: &AppState, id: &str, layout: LayoutType) -> Result<DashboardRecord, ApiError> {
    let record = super::live(state, id).await?;
    if record.layout_type == layout.as_str() {
        Ok(record)
    } else {
        Err(super::not_found(id))
    }
}

fn created_by() -> Value {
    json!({
        "handle": CREATOR_HANDLE, "name": null, "email": CREATOR_HANDLE, "access_role": "adm",
        "is_admin": true, "verified": true, "disabled": false, "title": null, "role": null, "icon": null,
    })
}

/// The timeboard wrapper: `{"dash": {...}, "url": "/dash/<id>/<slug>", "resource": "/api/v1/dash/<id>"}`.
fn dash_wrapper(record: &DashboardRecord) -> Value {
    let d = &record.dashboard;
    let sent = record.legacy.as_ref().filter(|_| record.origin == "dash");
    let graphs = match sent {
        Some(body) => body["graphs"].clone(),
        None => Value::Array(
            d["widgets"]
                .as_array()
                .map(|w| w.iter().map(widget_as_graph).collect())
                .unwrap_or_default(),
        ),
    };
    json!({
        "dash": {
            "id": record.legacy_id,
            "new_id": record.id,
            "title": record.title,
            "description": d["description"],
            "graphs": graphs,
            "template_variables": non_empty(&d["template_variables"]),
            "read_only": false,
            "created": iso_millis(record.created),
            "modified": iso_millis(record.modified),
            "created_by": created_by(),
        },
        "url": format!("/dash/{}/{}", record.legacy_id, slug(&record.title)),
        "resource": format!("/api/v1/dash/{}", record.legacy_id),
    })
}

/// The screenboard, unwrapped; `created_by` only on reads, as recorded.
fn screen_json(record: &DashboardRecord, with_creator: bool) -> Value {
    let d = &record.dashboard;
    let sent = record.legacy.as_ref().filter(|_| record.origin == "screen");
    let widgets = match sent {
        Some(body) => body.get("widgets").cloned().unwrap_or_else(|| json!([])),
        None => Value::Array(
            d["widgets"]
                .as_array()
                .map(|w| w.iter().map(widget_as_screen_widget).collect())
                .unwrap_or_default(),
        ),
    };
    let mut out = json!({
        "id": record.legacy_id,
        "new_id": record.id,
        "board_title": record.title,
        "description": d["description"],
        "read_only": false,
        "widgets": widgets,
        "template_variables": non_empty(&d["template_variables"]),
        "created": iso_millis(record.created),
        "modified": iso_millis(record.modified),
    });
    for key in ["width", "height"] {
        if let Some(value) = sent.and_then(|b| b.get(key)) {
            out[key] = value.clone();
        }
    }
    if with_creator {
        out["created_by"] = created_by();
    }
    out
}

fn non_empty(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        other => other.clone(),
    }
}

/// A timeboard body as a v1 body: each graph becomes a widget of type `viz`.
fn timeboard_as_v1(body: &Value) -> Result<Value, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The request body must be a JSON object".to_owned()))?;
    let graphs = match object.get("graphs") {
        Some(Value::Array(graphs)) => graphs,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "'graphs' must be an array, got {other}"
            )));
        }
        None => return Err(ApiError::BadRequest("'graphs' is a required property".to_owned())),
    };
    let widgets: Vec<Value> = graphs.iter().map(graph_as_widget).collect();
    let mut v1 = json!({
        "description": object.get("description").cloned().unwrap_or(Value::Null),
        "layout_type": "ordered",
        "widgets": widgets,
        "template_variables": object.get("template_variables").cloned().unwrap_or(Value::Null),
    });
    if let Some(title) = object.get("title") {
        v1["title"] = title.clone();
    }
    Ok(v1)
}

/// A screenboard body as a v1 body: each placed widget becomes a widget with a `layout`.
fn screenboard_as_v1(body: &Value) -> Result<Value, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("The request body must be a JSON object".to_owned()))?;
    let title = match object.get("board_title") {
        Some(title) => title.clone(),
        None => {
            return Err(ApiError::BadRequest(
                "'board_title' is a required property".to_owned(),
            ));
        }
    };
    let widgets = match object.get("widgets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(widgets)) => widgets
            .iter()
            .enumerate()
            .map(|(position, widget)| {
                screen_widget_as_widget(widget).map_err(|error| {
                    ApiError::BadRequest(format!("Invalid widget at position {position}. Error: {error}"))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "'widgets' must be an array, got {other}"
            )));
        }
    };
    Ok(json!({
        "title": title,
        "description": object.get("description").cloned().unwrap_or(Value::Null),
        "layout_type": "free",
        "widgets": widgets,
        "template_variables": object.get("template_variables").cloned().unwrap_or(Value::Null),
    }))
}

/// `{"title", "definition": {"viz", "requests": [{"q", "type"}], ...}}` → `{"definition": {"type", "title",
/// "requests": [{"q", "display_type"}], ...}}`. `viz` may also sit beside `definition` (a common slip);
/// without one the graph is a timeseries, as it was in the legacy API.
fn graph_as_widget(graph: &Value) -> Value {
    let Some(object) = graph.as_object() else {
        // Left for the checker, which names the position.
        return graph.clone();
    };
    let Some(definition) = object.get("definition").and_then(Value::as_object) else {
        // Left for the checker: no definition, or one that is not an object.
        let mut out = Map::new();
        if let Some(definition) = object.get("definition") {
            out.insert("definition".to_owned(), definition.clone());
        }
        return Value::Object(out);
    };
    let viz = definition
        .get("viz")
        .or_else(|| object.get("viz"))
        .and_then(Value::as_str)
        .unwrap_or("timeseries");
    let mut out = tile_as_definition(definition, viz);
    if let Some(title) = object.get("title").filter(|t| t.is_string()) {
        out.insert("title".to_owned(), title.clone());
    }
    json!({ "definition": out })
}

/// A legacy `definition`/`tile_def` as a v1 definition of type `viz`.
fn tile_as_definition(tile: &Map<String, Value>, viz: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("type".to_owned(), json!(viz));
    for (key, value) in tile {
        match key.as_str() {
            "viz" => {}
            "requests" => {
                let requests = match value {
                    Value::Array(requests) => {
                        Value::Array(requests.iter().map(|r| legacy_request(r, viz)).collect())
                    }
                    other => other.clone(),
                };
                out.insert(key.clone(), requests);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// A legacy request: its `type` (line, bars, area) is the v1 `display_type` of a timeseries.
fn legacy_request(request: &Value, viz: &str) -> Value {
    let Some(object) = request.as_object() else {
        return request.clone();
    };
    let mut out = object.clone();
    if viz == "timeseries"
        && let Some(kind) = out.remove("type")
    {
        out.insert("display_type".to_owned(), kind);
    }
    Value::Object(out)
}

/// A placed screenboard widget (`type`, `x`, `y`, `width`, `height`, `tile_def` or the type's own fields)
/// as a v1 widget with a `layout`.
fn screen_widget_as_widget(widget: &Value) -> Result<Value, String> {
    let object = widget
        .as_object()
        .ok_or_else(|| format!("{widget} is not of type 'object'"))?;
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .ok_or("'type' is a required property")?;
    let mut layout = Map::new();
    for (key, default) in [("x", Some(0)), ("y", Some(0)), ("width", None), ("height", None)] {
        let value = match (object.get(key), default) {
            (Some(Value::Number(n)), _) => match n.as_f64() {
                Some(v) if v >= 0.0 => v.round() as u64,
                _ => return Err(format!("'{key}' must be a non-negative number, got {n}")),
            },
            (None, Some(default)) => default,
            (Some(other), _) => return Err(format!("'{key}' must be a non-negative number, got {other}")),
            (None, None) => return Err(format!("'{key}' is a required property")),
        };
        layout.insert(key.to_owned(), json!(value));
    }
    let definition = if let Some(tile) = object.get("tile_def").and_then(Value::as_object) {
        let viz = tile.get("viz").and_then(Value::as_str).unwrap_or(kind);
        let mut definition = tile_as_definition(tile, viz);
        if let Some(title) = object.get("title_text").filter(|t| t.is_string()) {
            definition.insert("title".to_owned(), title.clone());
        }
        definition
    } else {
        let mut definition = Map::new();
        definition.insert("type".to_owned(), json!(kind));
        for (key, value) in object {
            let key = match (kind, key.as_str()) {
                (_, "type" | "x" | "y" | "width" | "height") => continue,
                ("note", "text") => "content",
                ("note", "bgcolor") => "background_color",
                ("note", "tick") => "show_tick",
                (_, "title_text") => "title",
                (_, other) => other,
            };
            definition.insert(key.to_owned(), value.clone());
        }
        definition
    };
    Ok(json!({"definition": definition, "layout": layout}))
}

/// The reverse of [`graph_as_widget`], for boards last written through `/api/v1/dashboard`.
fn widget_as_graph(widget: &Value) -> Value {
    let definition = widget["definition"].as_object().cloned().unwrap_or_default();
    let kind = definition
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("timeseries")
        .to_owned();
    let mut tile = Map::new();
    tile.insert("viz".to_owned(), json!(kind));
    for (key, value) in &definition {
        match key.as_str() {
            "type" | "title" => {}
            "requests" => {
                tile.insert(key.clone(), requests_as_legacy(value, &kind));
            }
            _ => {
                tile.insert(key.clone(), value.clone());
            }
        }
    }
    json!({
        "title": definition.get("title").cloned().unwrap_or_else(|| json!("")),
        "definition": tile,
    })
}

/// The reverse of [`screen_widget_as_widget`].
fn widget_as_screen_widget(widget: &Value) -> Value {
    let definition = widget["definition"].as_object().cloned().unwrap_or_default();
    let kind = definition
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("timeseries")
        .to_owned();
    let mut out = Map::new();
    out.insert("type".to_owned(), json!(kind));
    if let Some(layout) = widget["layout"].as_object() {
        for (key, value) in layout {
            out.insert(key.clone(), value.clone());
        }
    }
    if definition.contains_key("requests") {
        let mut tile = Map::new();
        tile.insert("viz".to_owned(), json!(kind));
        for (key, value) in &definition {
            match key.as_str() {
                "type" => {}
                "title" => {
                    out.insert("title_text".to_owned(), value.clone());
                }
                "requests" => {
                    tile.insert(key.clone(), requests_as_legacy(value, &kind));
                }
                _ => {
                    tile.insert(key.clone(), value.clone());
                }
            }
        }
        out.insert("tile_def".to_owned(), Value::Object(tile));
    } else {
        for (key, value) in &definition {
            let key = match (kind.as_str(), key.as_str()) {
                (_, "type") => continue,
                ("note", "content") => "text",
                ("note", "background_color") => "bgcolor",
                ("note", "show_tick") => "tick",
                (_, "title") => "title_text",
                (_, other) => other,
            };
            out.insert(key.to_owned(), value.clone());
        }
    }
    Value::Object(out)
}

fn requests_as_legacy(requests: &Value, kind: &str) -> Value {
    match requests {
        Value::Array(items) if kind == "timeseries" => Value::Array(
            items
                .iter()
                .map(|request| {
                    let mut request = request.as_object().cloned().unwrap_or_default();
                    if let Some(display) = request.remove("display_type") {
                        request.insert("type".to_owned(), display);
                    }
                    Value::Object(request)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphs_become_widgets_and_back() {
        let graph = json!({"title": "g", "definition": {"viz": "timeseries", "events": [],
            "requests": [{"q": "avg:m{host:a}", "type": "bars"}]}});
        let widget = graph_as_widget(&graph);
        assert_eq!(
            widget,
            json!({"definition": {"type": "timeseries", "title": "g", "events": [],
                "requests": [{"q": "avg:m{host:a}", "display_type": "bars"}]}})
        );
        assert_eq!(widget_as_graph(&widget), graph);
        // `viz` beside `definition`, as some candidates wrote it.
        let beside = json!({"title": "v", "viz": "query_value", "definition": {"requests": [{"q": "sum:m{*}", "aggregator": "sum"}]}});
        assert_eq!(
            graph_as_widget(&beside)["definition"],
            json!({"type": "query_value", "title": "v", "requests": [{"q": "sum:m{*}", "aggregator": "sum"}]})
        );
    }

    #[test]
    fn screen_widgets_become_placed_widgets_and_back() {
        let placed = json!({"type": "timeseries", "x": 1, "y": 2, "width": 40, "height": 15, "title_text": "load",
            "tile_def": {"viz": "timeseries", "requests": [{"q": "avg:m{*}", "type": "line"}]}});
        let widget = screen_widget_as_widget(&placed).unwrap();
        assert_eq!(
            widget,
            json!({"layout": {"x": 1, "y": 2, "width": 40, "height": 15},
                "definition": {"type": "timeseries", "title": "load", "requests": [{"q": "avg:m{*}", "display_type": "line"}]}})
        );
        assert_eq!(widget_as_screen_widget(&widget), placed);
        let note = json!({"type": "note", "x": 0, "y": 0, "width": 10, "height": 5, "text": "hi", "bgcolor": "yellow"});
        let widget = screen_widget_as_widget(&note).unwrap();
        assert_eq!(
            widget["definition"],
            json!({"type": "note", "content": "hi", "background_color": "yellow"})
        );
        assert_eq!(widget_as_screen_widget(&widget), note);
        assert_eq!(
            screen_widget_as_widget(&json!({"type": "note", "x": 0, "text": "hi"})).unwrap_err(),
            "'width' is a required property"
        );
    }
}
