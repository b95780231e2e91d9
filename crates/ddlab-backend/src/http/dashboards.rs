//! Dashboards: `/api/v1/dashboard` (create, get, replace, delete, list, bulk delete and restore), the
//! legacy timeboard and screenboard APIs on the same store (`legacy.rs`), share links (`shares.rs`) and
//! dashboard lists (`lists.rs`). Shapes and messages follow the API reference §4.
//!
//! The store keeps each dashboard as the JSON `GET /api/v1/dashboard/{id}` answers, so the web UI renders
//! exactly what the API returns. `is_read_only: true` is refused as Datadog now refuses it (the attribute
//! is deprecated); `false` is accepted and every answer says `"is_read_only": false`.

mod legacy;
mod lists;
mod shares;
mod validate;

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ddlab_store::{DashboardFilter, DashboardRecord, DashboardWrite};
use serde_json::{Map, Value, json};

use super::blocking;
use super::error::ApiError;
use super::monitors::{CREATOR_HANDLE, flag, json_body};
use crate::AppState;
use validate::DashboardBody;

/// Every dashboard route; the caller adds the API + application key layer.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/dashboard",
            get(list).post(create).delete(delete_many).patch(restore_many),
        )
        .route(
            "/api/v1/dashboard/{id}",
            get(get_one).put(update).delete(delete_one),
        )
        .route("/api/v1/dashboard/public", post(shares::create))
        .route(
            "/api/v1/dashboard/public/{token}",
            get(shares::get).put(shares::update).delete(shares::delete),
        )
        .route(
            "/api/v1/dashboard/public/{token}/invitation",
            get(shares::invitations)
                .post(shares::invite)
                .delete(shares::uninvite),
        )
        .route(
            "/api/v1/dashboard/lists/manual",
            get(lists::list).post(lists::create),
        )
        .route(
            "/api/v1/dashboard/lists/manual/{id}",
            get(lists::get).put(lists::update).delete(lists::delete),
        )
        .route(
            "/api/v2/dashboard/lists/manual/{id}/dashboards",
            get(lists::items)
                .post(lists::add_items)
                .put(lists::replace_items)
                .delete(lists::remove_items),
        )
        .route("/api/v1/dash", get(legacy::list_dashes).post(legacy::create_dash))
        .route(
            "/api/v1/dash/{id}",
            get(legacy::get_dash)
                .put(legacy::update_dash)
                .delete(legacy::delete_dash),
        )
        .route(
            "/api/v1/screen",
            get(legacy::list_screens).post(legacy::create_screen),
        )
        .route(
            "/api/v1/screen/{id}",
            get(legacy::get_screen)
                .put(legacy::update_screen)
                .delete(legacy::delete_screen),
        )
        .route(
            "/api/v1/screen/share/{id}",
            post(legacy::share_screen).delete(legacy::revoke_screen),
        )
}

/// `POST /api/v1/dashboard`.
async fn create(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let checked = validate::dashboard_body(&body, &mut widget_id).map_err(ApiError::BadRequest)?;
    let record = insert(&state, checked, "dashboard", None).await?;
    Ok(Json(record.dashboard))
}

/// `GET /api/v1/dashboard/{id}`: the text id, or a legacy numeric id.
async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(live(&state, &id).await?.dashboard))
}

/// `PUT /api/v1/dashboard/{id}`: a full replacement; `id`, `created_at` and the author stay, `layout_type`
/// cannot change.
async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let record = live(&state, &id).await?;
    let checked = validate::dashboard_body(&body, &mut widget_id).map_err(ApiError::BadRequest)?;
    let record = replace(&state, &record, checked, "dashboard", None).await?;
    Ok(Json(record.dashboard))
}

/// `DELETE /api/v1/dashboard/{id}`.
async fn delete_one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let record = live(&state, &id).await?;
    delete_ids(&state, vec![record.id.clone()]).await?;
    Ok(Json(json!({ "deleted_dashboard_id": record.id })))
}

/// `GET /api/v1/dashboard[?filter[shared]=&filter[deleted]=&count=&start=]`.
async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let filter = DashboardFilter {
        deleted: flag(&params, "filter[deleted]"),
        shared: flag(&params, "filter[shared]").then_some(true),
    };
    let count = count_param(&params, "count", 100)?;
    let start = count_param(&params, "start", 0)?;
    let records = blocking(&state, move |store| store.dashboards(filter)).await?;
    let dashboards: Vec<Value> = records.iter().skip(start).take(count).map(summary).collect();
    Ok(Json(json!({ "dashboards": dashboards })))
}

/// `DELETE /api/v1/dashboard` with `{"data": [{"id", "type": "dashboard"}]}`: all or nothing, 204.
async fn delete_many(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let ids = bulk_ids(&json_body(&body)?)?;
    delete_ids(&state, ids).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /api/v1/dashboard` with `{"data": [{"id", "type": "dashboard"}]}`: restores deleted dashboards.
async fn restore_many(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let ids = bulk_ids(&json_body(&body)?)?;
    let missing = blocking(&state, move |store| store.restore_dashboards(&ids)).await?;
    if !missing.is_empty() {
        return Err(ApiError::NotFound(format!(
            "Deleted dashboards not found: {}",
            missing.join(", ")
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A live dashboard by text or legacy id, or Datadog's 404.
async fn live(state: &AppState, id: &str) -> Result<DashboardRecord, ApiError> {
    let key = id.to_owned();
    let record = blocking(state, move |store| match key.parse::<i64>() {
        Ok(legacy_id) => store.dashboard_by_legacy_id(legacy_id),
        Err(_) => store.dashboard(&key),
    })
    .await?;
    record
        .filter(|r| r.deleted.is_none())
        .ok_or_else(|| not_found(id))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Dashboard with ID {id} not found"))
}

async fn delete_ids(state: &AppState, ids: Vec<String>) -> Result<(), ApiError> {
    let now_ms = state.clock.now_ms();
    let missing = blocking(state, move |store| store.delete_dashboards(&ids, now_ms)).await?;
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(not_found(one)),
        many => Err(ApiError::NotFound(format!(
            "Dashboards not found: {}",
            many.join(", ")
        ))),
    }
}

/// Stores a new dashboard under a fresh id; returns what was stored.
async fn insert(
    state: &AppState,
    checked: DashboardBody,
    origin: &'static str,
    legacy: Option<Value>,
) -> Result<DashboardRecord, ApiError> {
    let now_ms = state.clock.now_ms();
    // Ids are drawn at random; a taken one (one chance in 10^14 per dashboard) is drawn again.
    for _ in 0..5 {
        let id = dashboard_id()?;
        let write = DashboardWrite {
            title: checked.title.clone(),
            layout_type: checked.layout_type.as_str().to_owned(),
            origin: origin.to_owned(),
            dashboard: dashboard_json(&id, &checked, now_ms, now_ms),
            legacy: legacy.clone(),
        };
        let key = id.clone();
        let stored = blocking(state, move |store| store.insert_dashboard(&key, &write, now_ms)).await?;
        if stored.is_some() {
            return blocking(state, move |store| store.dashboard(&id))
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a stored dashboard vanished")));
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "no free dashboard id after 5 draws"
    )))
}

/// Replaces a live dashboard whole, keeping its id and creation time; `layout_type` cannot change.
async fn replace(
    state: &AppState,
    record: &DashboardRecord,
    checked: DashboardBody,
    origin: &'static str,
    legacy: Option<Value>,
) -> Result<DashboardRecord, ApiError> {
    if checked.layout_type.as_str() != record.layout_type {
        return Err(ApiError::BadRequest(format!(
            "'layout_type' cannot be changed (from '{}' to '{}'): create a new dashboard instead",
            record.layout_type,
            checked.layout_type.as_str()
        )));
    }
    let now_ms = state.clock.now_ms();
    let id = record.id.clone();
    let write = DashboardWrite {
        title: checked.title.clone(),
        layout_type: checked.layout_type.as_str().to_owned(),
        origin: origin.to_owned(),
        dashboard: dashboard_json(&id, &checked, record.created, now_ms),
        legacy,
    };
    let key = id.clone();
    if !blocking(state, move |store| store.replace_dashboard(&key, &write, now_ms)).await? {
        return Err(not_found(&id));
    }
    blocking(state, move |store| store.dashboard(&id))
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a stored dashboard vanished")))
}

/// The dashboard as the API answers it and the store keeps it.
fn dashboard_json(id: &str, checked: &DashboardBody, created_ms: i64, modified_ms: i64) -> Value {
    let mut out: Map<String, Value> = checked.fields.clone();
    out.insert("id".to_owned(), json!(id));
    out.insert("url".to_owned(), json!(dashboard_url(id, &checked.title)));
    out.insert("author_handle".to_owned(), json!(CREATOR_HANDLE));
    out.insert("author_name".to_owned(), Value::Null);
    out.insert("is_read_only".to_owned(), json!(false));
    out.insert("created_at".to_owned(), json!(iso_millis(created_ms)));
    out.insert("modified_at".to_owned(), json!(iso_millis(modified_ms)));
    Value::Object(out)
}

/// One entry of `GET /api/v1/dashboard`.
fn summary(record: &DashboardRecord) -> Value {
    let d = &record.dashboard;
    json!({
        "id": record.id,
        "title": record.title,
        "description": d["description"],
        "author_handle": d["author_handle"],
        "created_at": d["created_at"],
        "modified_at": d["modified_at"],
        "url": d["url"],
        "layout_type": record.layout_type,
        "is_read_only": false,
    })
}

/// `/dashboard/<id>/<slug>`: the slug is the title lowercased, without characters other than letters,
/// digits, spaces and hyphens, spaces turned into hyphens, at most 80 characters.
pub(crate) fn dashboard_url(id: &str, title: &str) -> String {
    format!("/dashboard/{id}/{}", slug(title))
}

pub(crate) fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ' ' | '-'))
        .map(|c| if c == ' ' { '-' } else { c })
        .take(80)
        .collect()
}

/// `2024-11-15T19:33:11.001000+00:00`.
pub(crate) fn iso_millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
        .unwrap_or_default()
}

/// The ids of a bulk delete or restore body.
fn bulk_ids(body: &Value) -> Result<Vec<String>, ApiError> {
    let bad = |why: String| ApiError::BadRequest(why);
    let data = body
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("'data' is a required property and must be a list".to_owned()))?;
    if data.is_empty() {
        return Err(bad("'data' must contain at least 1 item".to_owned()));
    }
    data.iter()
        .enumerate()
        .map(|(index, item)| {
            if item.get("type").and_then(Value::as_str) != Some("dashboard") {
                return Err(bad(format!("data[{index}]: 'type' must be 'dashboard'")));
            }
            item.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("data[{index}]: 'id' is a required property")))
        })
        .collect()
}

fn count_param(params: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "The '{name}' parameter must be a non-negative integer, got {text:?}"
            ))
        }),
    }
}

/// `abc-def-ghi`: three groups of three lowercase letters or digits.
fn dashboard_id() -> Result<String, ApiError> {
    let chars = random_alnum(9)?;
    Ok(format!("{}-{}-{}", &chars[..3], &chars[3..6], &chars[6..]))
}

/// A widget id: a random positive integer below 2^52, so JavaScript reads it exactly.
fn widget_id() -> i64 {
    let mut bytes = [0u8; 8];
    // Without randomness ids still have to be unique within a dashboard: fall back to the clock.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos());
        bytes = (nanos as u64).to_le_bytes();
    }
    let id = (u64::from_le_bytes(bytes) >> 12) as i64;
    id.max(1)
}

/// `count` random characters from `[a-z0-9]`, each uniform (bytes past the last full cycle of 36 are
/// drawn again).
pub(crate) fn random_alnum(count: usize) -> Result<String, ApiError> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(count);
    while out.len() < count {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|err| ApiError::Internal(anyhow::anyhow!("no randomness for an id: {err}")))?;
        for byte in bytes {
            if byte < 252 && out.len() < count {
                out.push(char::from(ALPHABET[usize::from(byte % 36)]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
