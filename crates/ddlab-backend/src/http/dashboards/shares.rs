//! Shared dashboards: `/api/v1/dashboard/public` links with unguessable tokens, their settings and
//! invitations. The public URL is `<public_url>/sb/<token>` on the backend's configured public URL; the page
//! behind it belongs to the web UI, which looks the token up with `Store::shared_dashboard`.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ddlab_store::ShareRecord;
use serde_json::{Map, Value, json};

use super::validate::LayoutType;
use super::{CREATOR_HANDLE, blocking, iso_millis, json_body, random_alnum};
use crate::AppState;
use crate::http::error::ApiError;

const LIVE_SPANS: &[&str] = &["15m", "1h", "4h", "1d", "2d", "1w", "1mo", "3mo"];
/// How long an invitation can be used, as Datadog sends it (the invitee then gets a session).
const INVITATION_DAYS: i64 = 7;
/// Sessions of invitees last this many days.
const SESSION_DAYS: i64 = 30;

/// `POST /api/v1/dashboard/public`.
pub(crate) async fn create(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object"))?;
    let dashboard_id = match object.get("dashboard_id") {
        Some(Value::String(id)) => id.clone(),
        Some(other) => return Err(bad(format!("'dashboard_id' must be a string, got {other}"))),
        None => return Err(bad("'dashboard_id' is a required property")),
    };
    let dashboard_type = match object.get("dashboard_type").and_then(Value::as_str) {
        Some(kind @ ("custom_timeboard" | "custom_screenboard")) => kind.to_owned(),
        Some(other) => {
            return Err(bad(format!(
                "'dashboard_type' must be one of 'custom_timeboard', 'custom_screenboard', got '{other}'"
            )));
        }
        None => return Err(bad("'dashboard_type' is a required property")),
    };
    let missing = || ApiError::NotFound(format!("{dashboard_type} {dashboard_id} not found"));
    let record = super::live(&state, &dashboard_id).await.map_err(|_| missing())?;
    let layout = LayoutType::parse(&record.layout_type).unwrap_or(LayoutType::Ordered);
    if layout.dashboard_type() != dashboard_type || record.id != dashboard_id {
        return Err(missing());
    }
    let now_ms = state.clock.now_ms();
    let mut share = default_share(layout);
    apply_settings(&mut share, object, now_ms)?;
    let share = ShareRecord {
        token: new_token()?,
        dashboard_id: record.id.clone(),
        share,
        created: now_ms,
    };
    let answer = share_json(&state, &share, &record.title);
    blocking(&state, move |store| store.insert_share(&share)).await?;
    Ok(Json(answer))
}

/// `GET /api/v1/dashboard/public/{token}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (share, title) = load(&state, &token).await?;
    Ok(Json(share_json(&state, &share, &title)))
}

/// `PUT /api/v1/dashboard/public/{token}`: changes the settings sent, keeps the others.
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let object = body
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object"))?;
    let (mut share, title) = load(&state, &token).await?;
    apply_settings(&mut share.share, object, state.clock.now_ms())?;
    let (key, settings) = (token.clone(), share.share.clone());
    if !blocking(&state, move |store| store.update_share(&key, &settings)).await? {
        return Err(share_not_found(&token));
    }
    Ok(Json(share_json(&state, &share, &title)))
}

/// `DELETE /api/v1/dashboard/public/{token}`: revokes the link.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = token.clone();
    if blocking(&state, move |store| store.delete_share(&key)).await? {
        Ok(Json(json!({ "deleted_public_dashboard_token": token })))
    } else {
        Err(share_not_found(&token))
    }
}

/// `GET /api/v1/dashboard/public/{token}/invitation[?page_size=&page_number=]`.
pub(crate) async fn invitations(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (share, _) = load(&state, &token).await?;
    let all = share.share["invitations"].as_array().cloned().unwrap_or_default();
    let size = number_param(&params, "page_size", 20)?.max(1);
    let page = number_param(&params, "page_number", 0)?;
    let data: Vec<Value> = all
        .iter()
        .skip(page.saturating_mul(size))
        .take(size)
        .map(|invitation| invitation_json(&token, invitation))
        .collect();
    Ok(Json(
        json!({ "data": data, "meta": { "page": { "total_count": all.len() } } }),
    ))
}

/// `POST /api/v1/dashboard/public/{token}/invitation`: invites e-mail addresses to an `invite` share.
/// `data` is one invitation or a list, and is answered in the same form.
pub(crate) async fn invite(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (data, emails) = invitation_body(&json_body(&body)?)?;
    let (mut share, _) = load(&state, &token).await?;
    if share.share["share_type"] != "invite" {
        return Err(bad(
            "Invitations are only sent for shares with share_type 'invite'",
        ));
    }
    let now_ms = state.clock.now_ms();
    let mut invitations = share.share["invitations"].as_array().cloned().unwrap_or_default();
    let mut sent = Vec::new();
    for email in &emails {
        invitations.retain(|i| i["email"] != email.as_str());
        let invitation =
            json!({"email": email, "created": now_ms, "expires": now_ms + INVITATION_DAYS * 86_400_000});
        sent.push(invitation_json(&token, &invitation));
        invitations.push(invitation);
    }
    share.share["invitations"] = Value::Array(invitations);
    add_to_share_list(&mut share.share, &emails, now_ms);
    let (key, settings) = (token.clone(), share.share.clone());
    blocking(&state, move |store| store.update_share(&key, &settings)).await?;
    let data = if data.is_array() {
        Value::Array(sent)
    } else {
        sent.into_iter().next().unwrap_or(Value::Null)
    };
    Ok(Json(json!({ "data": data })))
}

/// `DELETE /api/v1/dashboard/public/{token}/invitation`: revokes the invitations (and access) of the
/// addresses sent; 204.
pub(crate) async fn uninvite(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, emails) = invitation_body(&json_body(&body)?)?;
    let (mut share, _) = load(&state, &token).await?;
    let keep = |list: &Value, field: Option<&str>| -> Value {
        Value::Array(
            list.as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter(|item| {
                            let email = field.map_or(Some(*item), |f| item.get(f));
                            !email
                                .and_then(Value::as_str)
                                .is_some_and(|e| emails.iter().any(|x| x == e))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    share.share["invitations"] = keep(&share.share["invitations"], Some("email"));
    share.share["invitees"] = keep(&share.share["invitees"], Some("email"));
    if share.share["share_list"].is_array() {
        share.share["share_list"] = keep(&share.share["share_list"], None);
    }
    let (key, settings) = (token.clone(), share.share.clone());
    blocking(&state, move |store| store.update_share(&key, &settings)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A new token: 16 lowercase letters or digits, a hyphen, 32 hex digits (about 210 random bits).
pub(crate) fn new_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("no randomness for a share token: {err}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}-{hex}", random_alnum(16)?))
}

/// `<public_url>/sb/<token>`.
pub(crate) fn public_url(state: &AppState, token: &str) -> String {
    format!("{}/sb/{token}", state.app_url)
}

/// The settings of a new open share of the past hour.
pub(crate) fn default_share(layout: LayoutType) -> Value {
    json!({
        "dashboard_type": layout.dashboard_type(),
        "share_type": "open",
        "share_list": null,
        "invitees": [],
        "invitations": [],
        "status": "active",
        "expiration": null,
        "global_time": {"live_span": "1h"},
        "global_time_selectable_enabled": null,
        "selectable_template_vars": null,
        "viewing_preferences": {},
        "embeddable_domains": [],
    })
}

/// Applies the settings of a create or update body onto `share`, checking each.
fn apply_settings(share: &mut Value, body: &Map<String, Value>, now_ms: i64) -> Result<(), ApiError> {
    if let Some(value) = body.get("share_type").filter(|v| !v.is_null()) {
        match value.as_str() {
            Some("open" | "invite" | "embed") => share["share_type"] = value.clone(),
            _ => {
                return Err(bad(format!(
                    "'share_type' must be one of 'open', 'invite', 'embed', got {value}"
                )));
            }
        }
    }
    if let Some(value) = body.get("status").filter(|v| !v.is_null()) {
        match value.as_str() {
            Some("active" | "paused") => share["status"] = value.clone(),
            _ => {
                return Err(bad(format!(
                    "'status' must be one of 'active', 'paused', got {value}"
                )));
            }
        }
    }
    if let Some(value) = body.get("global_time") {
        match value.get("live_span") {
            _ if value.is_null() => share["global_time"] = json!({"live_span": "1h"}),
            Some(Value::String(span)) if LIVE_SPANS.contains(&span.as_str()) => {
                share["global_time"] = json!({"live_span": span});
            }
            None if value.is_object() => share["global_time"] = json!({"live_span": "1h"}),
            _ => {
                return Err(bad(format!(
                    "'global_time.live_span' must be one of {}, got {}",
                    LIVE_SPANS.join(", "),
                    value.get("live_span").unwrap_or(&Value::Null)
                )));
            }
        }
    }
    for key in ["global_time_selectable_enabled"] {
        if let Some(value) = body.get(key) {
            if !value.is_boolean() && !value.is_null() {
                return Err(bad(format!("'{key}' must be a boolean, got {value}")));
            }
            share[key] = value.clone();
        }
    }
    for key in [
        "selectable_template_vars",
        "viewing_preferences",
        "expiration",
        "embeddable_domains",
    ] {
        if let Some(value) = body.get(key) {
            share[key] = value.clone();
        }
    }
    if let Some(value) = body.get("share_list") {
        let emails = match value {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item.as_str() {
                    Some(email) if email.contains('@') => Ok(email.to_owned()),
                    _ => Err(bad(format!(
                        "share_list[{index}] must be an e-mail address, got {item}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            other => {
                return Err(bad(format!(
                    "'share_list' must be a list of e-mail addresses, got {other}"
                )));
            }
        };
        share["share_list"] = Value::Null;
        share["invitees"] = json!([]);
        add_to_share_list(share, &emails, now_ms);
    }
    if share["share_type"] == "invite" && share["share_list"].as_array().is_none_or(Vec::is_empty) {
        return Err(bad(
            "'share_list' must name at least one e-mail address when share_type is 'invite'",
        ));
    }
    Ok(())
}

/// Adds addresses to `share_list` and `invitees` (each once).
fn add_to_share_list(share: &mut Value, emails: &[String], now_ms: i64) {
    let mut list: Vec<Value> = share["share_list"].as_array().cloned().unwrap_or_default();
    let mut invitees: Vec<Value> = share["invitees"].as_array().cloned().unwrap_or_default();
    for email in emails {
        if !list.iter().any(|e| e == email.as_str()) {
            list.push(json!(email));
        }
        if !invitees.iter().any(|i| i["email"] == email.as_str()) {
            invitees
                .push(json!({"email": email, "access_expiration": null, "created_at": iso_millis(now_ms)}));
        }
    }
    if !list.is_empty() {
        share["share_list"] = Value::Array(list);
    }
    share["invitees"] = Value::Array(invitees);
}

/// The share as the API answers it.
fn share_json(state: &AppState, share: &ShareRecord, title: &str) -> Value {
    let s = &share.share;
    let invite = s["share_type"] == "invite";
    json!({
        "token": share.token,
        "public_url": public_url(state, &share.token),
        "dashboard_id": share.dashboard_id,
        "dashboard_type": s["dashboard_type"],
        "title": title,
        "status": s["status"],
        "share_type": s["share_type"],
        "share_list": s["share_list"],
        "invitees": s["invitees"],
        "author": {"handle": CREATOR_HANDLE, "name": null},
        "created": iso_millis(share.created),
        "expiration": s["expiration"],
        "last_accessed": null,
        "global_time": s["global_time"],
        "global_time_selectable_enabled": s["global_time_selectable_enabled"],
        "selectable_template_vars": s["selectable_template_vars"],
        "viewing_preferences": s["viewing_preferences"],
        "embeddable_domains": s["embeddable_domains"],
        "session_duration_in_days": if invite { json!(SESSION_DAYS) } else { Value::Null },
    })
}

fn invitation_json(token: &str, invitation: &Value) -> Value {
    json!({
        "type": "public_dashboard_invitation",
        "attributes": {
            "email": invitation["email"],
            "created_at": iso_millis(invitation["created"].as_i64().unwrap_or_default()),
            "invitation_expiry": iso_millis(invitation["expires"].as_i64().unwrap_or_default()),
            "has_session": false,
            "session_expiry": null,
            "share_token": token,
        }
    })
}

/// `{"data": {"type": "public_dashboard_invitation", "attributes": {"email"}}}` or `{"data": [...]}`:
/// the data as sent and its addresses.
fn invitation_body(body: &Value) -> Result<(Value, Vec<String>), ApiError> {
    let data = body
        .get("data")
        .ok_or_else(|| bad("'data' is a required property"))?;
    let items: Vec<&Value> = match data {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![data],
        other => return Err(bad(format!("'data' must be an object or a list, got {other}"))),
    };
    let emails = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            if item.get("type").and_then(Value::as_str) != Some("public_dashboard_invitation") {
                return Err(bad(format!(
                    "data[{index}]: 'type' must be 'public_dashboard_invitation'"
                )));
            }
            match item.pointer("/attributes/email").and_then(Value::as_str) {
                Some(email) if email.contains('@') => Ok(email.to_owned()),
                _ => Err(bad(format!(
                    "data[{index}]: 'attributes.email' must be an e-mail address"
                ))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((data.clone(), emails))
}

/// A share and its dashboard's title; 404 when the token is unknown or the dashboard deleted.
async fn load(state: &AppState, token: &str) -> Result<(ShareRecord, String), ApiError> {
    let key = token.to_owned();
    let found = blocking(state, move |store| store.shared_dashboard(&key)).await?;
    match found {
        Some((share, dashboard)) => {
            let title = dashboard["title"].as_str().unwrap_or_default().to_owned();
            Ok((share, title))
        }
        None => Err(share_not_found(token)),
    }
}

fn share_not_found(token: &str) -> ApiError {
    ApiError::NotFound(format!("Shared dashboard with token {token} not found"))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

fn number_param(params: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, ApiError> {
    match params.get(name) {
        None => Ok(default),
        Some(text) => text.trim().parse().map_err(|_| {
            bad(format!(
                "The '{name}' parameter must be a non-negative integer, got {text:?}"
            ))
        }),
    }
}
