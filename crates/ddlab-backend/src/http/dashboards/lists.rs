//! Manual dashboard lists: `/api/v1/dashboard/lists/manual[/{id}]` and the lists' dashboards through
//! `/api/v2/dashboard/lists/manual/{id}/dashboards`, in the shapes of Datadog's OpenAPI.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use ddlab_store::{DashboardListRecord, DashboardRecord};
use serde_json::{Value, json};

use super::validate::LayoutType;
use super::{CREATOR_HANDLE, blocking, iso_millis, json_body};
use crate::AppState;
use crate::http::error::ApiError;

/// `GET /api/v1/dashboard/lists/manual`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let lists = blocking(&state, |store| store.dashboard_lists()).await?;
    let lists: Vec<Value> = lists.iter().map(list_json).collect();
    Ok(Json(json!({ "dashboard_lists": lists })))
}

/// `POST /api/v1/dashboard/lists/manual` with `{"name"}`.
pub(crate) async fn create(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let name = name(&json_body(&body)?)?;
    let now_ms = state.clock.now_ms();
    let id = blocking(&state, move |store| store.insert_dashboard_list(&name, now_ms)).await?;
    Ok(Json(list_json(&load(&state, id).await?)))
}

/// `GET /api/v1/dashboard/lists/manual/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = list_id(&id)?;
    Ok(Json(list_json(&load(&state, id).await?)))
}

/// `PUT /api/v1/dashboard/lists/manual/{id}` with `{"name"}`.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = list_id(&id)?;
    let name = name(&json_body(&body)?)?;
    let now_ms = state.clock.now_ms();
    if !blocking(&state, move |store| {
        store.rename_dashboard_list(id, &name, now_ms)
    })
    .await?
    {
        return Err(not_found(id));
    }
    Ok(Json(list_json(&load(&state, id).await?)))
}

/// `DELETE /api/v1/dashboard/lists/manual/{id}`: the list only, never its dashboards.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = list_id(&id)?;
    if blocking(&state, move |store| store.delete_dashboard_list(id)).await? {
        Ok(Json(json!({ "deleted_dashboard_list_id": id })))
    } else {
        Err(not_found(id))
    }
}

/// `GET /api/v2/dashboard/lists/manual/{id}/dashboards`: `{"dashboards": [...], "total"}`.
pub(crate) async fn items(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = list_id(&id)?;
    let items = blocking(&state, move |store| store.dashboard_list_items(id))
        .await?
        .ok_or_else(|| not_found(id))?;
    let shared = blocking(&state, |store| {
        store.dashboards(ddlab_store::DashboardFilter {
            deleted: false,
            shared: Some(true),
        })
    })
    .await?;
    let dashboards: Vec<Value> = items
        .iter()
        .map(|(record, _)| item_json(record, shared.iter().any(|s| s.id == record.id)))
        .collect();
    Ok(Json(
        json!({ "total": dashboards.len(), "dashboards": dashboards }),
    ))
}

/// `POST /api/v2/dashboard/lists/manual/{id}/dashboards` with `{"dashboards": [{"id", "type"}]}`.
pub(crate) async fn add_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let added = change_items(&state, &id, &json_body(&body)?, false).await?;
    Ok(Json(json!({ "added_dashboards_to_list": added })))
}

/// `PUT /api/v2/dashboard/lists/manual/{id}/dashboards`: the list holds exactly the dashboards sent.
pub(crate) async fn replace_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let items = change_items(&state, &id, &json_body(&body)?, true).await?;
    Ok(Json(json!({ "dashboards": items })))
}

/// `DELETE /api/v2/dashboard/lists/manual/{id}/dashboards` with `{"dashboards": [{"id", "type"}]}`.
pub(crate) async fn remove_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = list_id(&id)?;
    let wanted = item_refs(&json_body(&body)?)?;
    let ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
    let now_ms = state.clock.now_ms();
    let removed = blocking(&state, move |store| {
        store.remove_dashboard_list_items(id, &ids, now_ms)
    })
    .await?
    .ok_or_else(|| not_found(id))?;
    let removed: Vec<Value> = wanted
        .iter()
        .filter(|(id, _)| removed.contains(id))
        .map(|(id, kind)| json!({"id": id, "type": kind}))
        .collect();
    Ok(Json(json!({ "deleted_dashboards_from_list": removed })))
}

async fn change_items(
    state: &AppState,
    id: &str,
    body: &Value,
    replace: bool,
) -> Result<Vec<Value>, ApiError> {
    let id = list_id(id)?;
    let wanted = item_refs(body)?;
    // Each reference must name a live dashboard of the type it says.
    for (index, (dashboard_id, kind)) in wanted.iter().enumerate() {
        let key = dashboard_id.clone();
        let record = blocking(state, move |store| store.dashboard(&key)).await?;
        match record.filter(|r| r.deleted.is_none()) {
            None => {
                return Err(ApiError::NotFound(format!(
                    "dashboards[{index}]: dashboard {dashboard_id} not found"
                )));
            }
            Some(record) if dashboard_type(&record) != kind => {
                return Err(ApiError::BadRequest(format!(
                    "dashboards[{index}]: dashboard {dashboard_id} is a {}, not a {kind}",
                    dashboard_type(&record)
                )));
            }
            Some(_) => {}
        }
    }
    let ids: Vec<String> = wanted.iter().map(|(id, _)| id.clone()).collect();
    let now_ms = state.clock.now_ms();
    match blocking(state, move |store| {
        store.add_dashboard_list_items(id, &ids, replace, now_ms)
    })
    .await?
    {
        Ok(true) => {}
        Ok(false) => return Err(not_found(id)),
        Err(missing) => {
            return Err(ApiError::NotFound(format!(
                "Dashboards not found: {}",
                missing.join(", ")
            )));
        }
    }
    Ok(wanted
        .iter()
        .map(|(id, kind)| json!({"id": id, "type": kind}))
        .collect())
}

/// `{"dashboards": [{"id", "type"}]}` as (id, type) pairs.
fn item_refs(body: &Value) -> Result<Vec<(String, String)>, ApiError> {
    let items = body.get("dashboards").and_then(Value::as_array).ok_or_else(|| {
        ApiError::BadRequest("'dashboards' is a required property and must be a list".to_owned())
    })?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let id = item.get("id").and_then(Value::as_str).ok_or_else(|| {
                ApiError::BadRequest(format!("dashboards[{index}]: 'id' is a required property"))
            })?;
            let kind = item.get("type").and_then(Value::as_str).ok_or_else(|| {
                ApiError::BadRequest(format!("dashboards[{index}]: 'type' is a required property"))
            })?;
            if !matches!(
                kind,
                "custom_timeboard"
                    | "custom_screenboard"
                    | "integration_screenboard"
                    | "integration_timeboard"
                    | "host_timeboard"
            ) {
                return Err(ApiError::BadRequest(format!(
                    "dashboards[{index}]: 'type' must be one of 'custom_timeboard', 'custom_screenboard', \
                     'integration_screenboard', 'integration_timeboard', 'host_timeboard', got '{kind}'"
                )));
            }
            Ok((id.to_owned(), kind.to_owned()))
        })
        .collect()
}

fn dashboard_type(record: &DashboardRecord) -> &'static str {
    LayoutType::parse(&record.layout_type)
        .unwrap_or(LayoutType::Ordered)
        .dashboard_type()
}

fn author() -> Value {
    json!({"email": CREATOR_HANDLE, "handle": CREATOR_HANDLE, "name": null})
}

fn list_json(list: &DashboardListRecord) -> Value {
    json!({
        "id": list.id,
        "name": list.name,
        "type": "manual_dashboard_list",
        "dashboard_count": list.dashboard_count,
        "created": iso_millis(list.created),
        "modified": iso_millis(list.modified),
        "is_favorite": false,
        "author": author(),
    })
}

fn item_json(record: &DashboardRecord, shared: bool) -> Value {
    json!({
        "id": record.id,
        "type": dashboard_type(record),
        "title": record.title,
        "url": record.dashboard["url"],
        "author": author(),
        "created": iso_millis(record.created),
        "modified": iso_millis(record.modified),
        "icon": null,
        "integration_id": null,
        "is_favorite": false,
        "is_read_only": false,
        "is_shared": shared,
        "popularity": 0,
        "tags": record.dashboard.get("tags").cloned().unwrap_or(Value::Null),
    })
}

fn name(body: &Value) -> Result<String, ApiError> {
    match body.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.clone()),
        Some(Value::String(_)) => Err(ApiError::BadRequest("'name' must not be empty".to_owned())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "'name' must be a string, got {other}"
        ))),
        None => Err(ApiError::BadRequest("'name' is a required property".to_owned())),
    }
}

async fn load(state: &AppState, id: i64) -> Result<DashboardListRecord, ApiError> {
    blocking(state, move |store| store.dashboard_list(id))
        .await?
        .ok_or_else(|| not_found(id))
}

fn list_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("Dashboard list {text} not found")))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Dashboard list {id} not found"))
}
