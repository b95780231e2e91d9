//! Downtimes: v1 `/api/v1/downtime` and v2 `/api/v2/downtime` over one store (API reference §6).
//!
//! Both versions read and write the same records: a v1 downtime shows up in v2 (with its recurrence as an
//! RRULE) and the other way round. Creating a downtime whose first muted period lies ahead notifies the
//! handles of its message ("scheduled", EX-24c); the evaluation loop notifies them when a period starts and
//! ends; canceling notifies them at once.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::blocking;
use super::error::ApiError;
use super::monitors::{CREATOR_HANDLE, CREATOR_UUID, ORG_ID, json_body};
use crate::AppState;
use crate::alerting::model::{DowntimeDef, schedule_of, string_list};
use crate::alerting::pass::announce;

/// A recurring downtime may start this long before now (clients compute "now" a moment before sending).
const PAST_START_SLACK: i64 = 300;
const END_STATES: &[&str] = &["alert", "no data", "warn"];
const END_TYPES: &[&str] = &["canceled", "expired"];
const V2_ATTRIBUTES: &[&str] = &[
    "scope",
    "monitor_identifier",
    "message",
    "schedule",
    "display_timezone",
    "mute_first_recovery_notification",
    "notify_end_states",
    "notify_end_types",
];

/// `POST /api/v1/downtime`.
pub(crate) async fn create_v1(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let now = state.clock.now();
    let definition = v1_definition(&body, now, true)?;
    let def = insert(&state, definition, now).await?;
    Ok(Json(v1_json(&def, now)))
}

/// `GET /api/v1/downtime[?current_only=true]`.
pub(crate) async fn list_v1(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let current_only = super::monitors::flag(&params, "current_only");
    let list: Vec<Value> = all(&state)
        .await?
        .iter()
        .filter(|d| !current_only || d.active_at(now).is_some())
        .map(|d| v1_json(d, now))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// `GET /api/v1/downtime/{id}`.
pub(crate) async fn get_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let def = load_v1(&state, &id).await?;
    Ok(Json(v1_json(&def, state.clock.now())))
}

/// `PUT /api/v1/downtime/{id}`: the fields given replace the downtime's.
pub(crate) async fn update_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let changes = json_body(&body)?;
    let changes = changes
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("Invalid downtime: the body must be a JSON object".to_owned()))?;
    let def = load_v1(&state, &id).await?;
    let now = state.clock.now();
    let mut request = v1_request(&def, now);
    for (key, value) in changes {
        request.insert(key.clone(), value.clone());
    }
    let moved = changes.contains_key("start") || changes.contains_key("recurrence");
    let mut definition = v1_definition(&Value::Object(request), now, moved)?;
    definition["updated"] = json!(true);
    save(&state, &def, definition, now)
        .await
        .map(|def| Json(v1_json(&def, now)))
}

/// `DELETE /api/v1/downtime/{id}`: 204; the downtime stays readable, canceled.
pub(crate) async fn delete_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let def = load_v1(&state, &id).await?;
    cancel(&state, &def).await?;
    Ok(no_content())
}

/// `POST /api/v1/downtime/cancel/by_scope` `{"scope": "env:dev"}`.
pub(crate) async fn cancel_by_scope(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let scope = match &body["scope"] {
        Value::String(s) => s.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>(),
        Value::Array(_) => string_list(body.get("scope"), "scope").map_err(ApiError::BadRequest)?,
        _ => return Err(ApiError::BadRequest("Invalid scope parameter".to_owned())),
    };
    let mut wanted = scope;
    wanted.sort();
    let mut ids = Vec::new();
    for def in all(&state).await? {
        let mut items = def.scope.v1_items();
        items.sort();
        if def.canceled.is_none() && items == wanted {
            cancel(&state, &def).await?;
            ids.push(def.id);
        }
    }
    if ids.is_empty() {
        return Err(ApiError::NotFound("No downtimes found".to_owned()));
    }
    Ok(Json(json!({ "cancelled_ids": ids })))
}

/// `POST /api/v1/monitor/mute_all` (legacy): a downtime of every monitor, from now, without end.
pub(crate) async fn mute_all(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let definition = v1_definition(&json!({"scope": ["*"], "start": now}), now, false)?;
    let def = insert(&state, definition, now).await?;
    Ok(Json(v1_json(&def, now)))
}

/// `POST /api/v1/monitor/unmute_all` (legacy): cancels the downtimes of every monitor with scope `*`.
pub(crate) async fn unmute_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    for def in all(&state).await? {
        let everything = matches!(&def.target, ddlab_monitor::downtime::MonitorTarget::Tags(tags) if tags.iter().all(|t| t == "*"));
        if def.canceled.is_none() && everything && def.scope.is_all() {
            cancel(&state, &def).await?;
        }
    }
    Ok(no_content())
}

/// `POST /api/v2/downtime`.
pub(crate) async fn create_v2(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let data = &body["data"];
    check_v2_type(data)?;
    let attributes = data["attributes"].as_object().ok_or_else(|| {
        ApiError::BadRequest("API input validation failed: 'attributes' is required".to_owned())
    })?;
    let now = state.clock.now();
    let definition = v2_definition(attributes, now, true)?;
    let def = insert(&state, definition, now).await?;
    Ok(Json(v2_document(&def, now)))
}

/// `GET /api/v2/downtime[?current_only=&page[offset]=&page[limit]=]`.
pub(crate) async fn list_v2(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let current_only = super::monitors::flag(&params, "current_only");
    let selected: Vec<DowntimeDef> = all(&state)
        .await?
        .into_iter()
        .filter(|d| !current_only || d.active_at(now).is_some())
        .collect();
    let total = selected.len();
    let offset: usize = params
        .get("page[offset]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: usize = params
        .get("page[limit]")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let data: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(limit)
        .map(|d| v2_json(d, now))
        .collect();
    Ok(Json(
        json!({"data": data, "meta": {"page": {"total_filtered_count": total}}}),
    ))
}

/// `GET /api/v2/downtime/{id}`.
pub(crate) async fn get_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let def = load_v2(&state, &id).await?;
    Ok(Json(v2_document(&def, state.clock.now())))
}

/// `PATCH /api/v2/downtime/{id}`: the attributes given replace the downtime's.
pub(crate) async fn patch_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let data = &body["data"];
    check_v2_type(data)?;
    let def = load_v2(&state, &id).await?;
    let changes = data["attributes"].as_object().cloned().unwrap_or_default();
    let now = state.clock.now();
    let mut attributes = v2_request(&def);
    for (key, value) in &changes {
        attributes.insert(key.clone(), value.clone());
    }
    let moved = changes.contains_key("schedule");
    let mut definition = v2_definition(&attributes, now, moved)?;
    // Attributes the v2 request cannot express survive a v2 edit of a v1 downtime only when not replaced.
    if !changes.contains_key("schedule") {
        definition["schedule"] = def.definition["schedule"].clone();
    }
    definition["updated"] = json!(true);
    let def = save(&state, &def, definition, now).await?;
    Ok(Json(v2_document(&def, now)))
}

/// `DELETE /api/v2/downtime/{id}`: 204, also for a downtime already canceled.
pub(crate) async fn delete_v2(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !is_uuid(&id) {
        return Err(ApiError::BadRequest(
            "Invalid URL param: downtime_id must be an uuid".to_owned(),
        ));
    }
    let def = match find_uuid(&state, &id).await? {
        Some(def) => def,
        None => return Err(ApiError::NotFound(format!("Downtime {id} not found"))),
    };
    cancel(&state, &def).await?;
    Ok(no_content())
}

/// The v1 shape of a downtime. A recurring downtime shows its current (or next) period as `start`/`end`.
pub(crate) fn v1_json(def: &DowntimeDef, now: i64) -> Value {
    let d = &def.definition;
    let schedule = &d["schedule"];
    let next = def.schedule.occurrences(now, 1).into_iter().next();
    let (start, end) = match (schedule["type"].as_str(), next) {
        (Some("once") | None, _) | (_, None) => (
            schedule["start"].as_i64().or_else(|| next.map(|n| n.start)),
            schedule["end"].as_i64().or_else(|| next.and_then(|n| n.end)),
        ),
        (_, Some(next)) => (Some(next.start), next.end),
    };
    let recurrence = match schedule["type"].as_str() {
        Some("v1") => {
            let r = &schedule["recurrence"];
            json!({
                "type": r["type"], "period": r["period"].as_i64().unwrap_or(1), "week_days": r["week_days"],
                "until_date": r["until_date"], "until_occurrences": r["until_occurrences"], "rrule": r["rrule"],
            })
        }
        Some("rrule") => json!({
            "type": "rrule", "period": 1, "week_days": null, "until_date": null, "until_occurrences": null,
            "rrule": def.schedule.recurrences().first().map(|r| r.rrule.clone()),
        }),
        _ => Value::Null,
    };
    let status = def.status(now);
    json!({
        "id": def.id,
        "uuid": def.uuid,
        "monitor_id": d["monitor_id"],
        "monitor_tags": monitor_tags(d),
        "org_id": ORG_ID,
        "scope": def.scope.v1_items(),
        "start": start,
        "end": end,
        "canceled": def.canceled,
        "created": def.created,
        "modified": def.modified,
        "message": d["message"],
        "active": status == "active",
        "disabled": def.canceled.is_some(),
        "recurrence": recurrence,
        "timezone": def.schedule.zone().map_or_else(|| d["display_timezone"].as_str().unwrap_or("UTC").to_owned(), |z| z.name().to_owned()),
        "parent_id": null,
        "child_id": null,
        "creator_id": 1,
        "updater_id": if d["updated"].as_bool() == Some(true) { json!(1) } else { Value::Null },
        "downtime_type": if def.scope.is_all() { 0 } else if def.scope.host_only() { 1 } else { 2 },
        "status": status,
        "mute_first_recovery_notification": def.mute_first_recovery,
        "notify_end_types": d["notify_end_types"],
        "notify_end_states": d["notify_end_states"],
    })
}

/// The v2 resource object of a downtime.
pub(crate) fn v2_json(def: &DowntimeDef, now: i64) -> Value {
    let d = &def.definition;
    let schedule = match d["schedule"]["type"].as_str() {
        Some("once") | None => json!({
            "start": d["schedule"]["start"].as_i64().map(iso_seconds),
            "end": d["schedule"]["end"].as_i64().map(iso_seconds),
        }),
        Some(_) => {
            let zone = def.schedule.zone().map_or("UTC", |z| z.name());
            let recurrences: Vec<Value> = def
                .schedule
                .recurrences()
                .iter()
                .map(|r| json!({"rrule": r.rrule, "duration": r.duration_text(), "start": r.start_text()}))
                .collect();
            let mut schedule = json!({"timezone": zone, "recurrences": recurrences});
            if def.canceled.is_none()
                && let Some(current) = def.schedule.occurrences(now, 1).first()
            {
                schedule["current_downtime"] = json!({
                    "start": iso_seconds(current.start),
                    "end": current.end.map(iso_seconds),
                });
            }
            schedule
        }
    };
    let identifier = match d["monitor_id"].as_i64() {
        Some(id) => json!({ "monitor_id": id }),
        None => json!({ "monitor_tags": monitor_tags(d) }),
    };
    json!({
        "type": "downtime",
        "id": def.uuid,
        "attributes": {
            "scope": def.scope.to_string(),
            "status": def.status(now),
            "monitor_identifier": identifier,
            "message": d["message"],
            "schedule": schedule,
            "display_timezone": d["display_timezone"].as_str().unwrap_or("UTC"),
            "canceled": def.canceled.map(iso_seconds),
            "created": iso_seconds(def.created),
            "modified": iso_seconds(def.modified),
            "mute_first_recovery_notification": def.mute_first_recovery,
            "notify_end_states": d["notify_end_states"],
            "notify_end_types": d["notify_end_types"],
        },
        "relationships": {
            "created_by": {"data": {"type": "users", "id": CREATOR_UUID}},
            "monitor": {"data": d["monitor_id"].as_i64().map(|id| json!({"type": "monitors", "id": id.to_string()}))},
        },
    })
}

/// `2030-01-08T00:00:00.000000+00:00`.
pub(crate) fn iso_seconds(epoch: i64) -> String {
    jiff::Timestamp::from_second(epoch)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
        .unwrap_or_default()
}

fn v2_document(def: &DowntimeDef, now: i64) -> Value {
    json!({
        "data": v2_json(def, now),
        "included": [{
            "type": "users",
            "id": CREATOR_UUID,
            "attributes": {"handle": CREATOR_HANDLE, "email": CREATOR_HANDLE, "name": null, "status": "Active",
                           "disabled": false, "verified": true, "service_account": false, "title": null},
        }],
    })
}

fn monitor_tags(d: &Value) -> Value {
    match d["monitor_tags"].as_array() {
        Some(tags) if !tags.is_empty() => Value::Array(tags.clone()),
        _ if d["monitor_id"].is_i64() => json!([]),
        _ => json!(["*"]),
    }
}

/// Checks a v1 request and turns it into the stored definition.
fn v1_definition(body: &Value, now: i64, check_start: bool) -> Result<Value, ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    let object = body
        .as_object()
        .ok_or_else(|| bad("Invalid downtime: the body must be a JSON object"))?;
    let scope: Vec<String> = match object.get("scope") {
        Some(Value::String(s)) => s
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::Array(_)) => {
            string_list(object.get("scope"), "scope").map_err(|_| bad("Invalid scope parameter"))?
        }
        _ => return Err(bad("Invalid scope parameter")),
    };
    if scope.is_empty() {
        return Err(bad("Invalid scope parameter"));
    }
    ddlab_monitor::downtime::DowntimeScope::v1(&scope).map_err(|e| bad(&e.to_string()))?;
    let epoch = |key: &str| -> Result<Option<i64>, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .or_else(|| value.as_str()?.trim().parse().ok())
                .map(|v| Some(v as i64))
                .ok_or_else(|| ApiError::BadRequest(format!("Invalid {key}: expected epoch seconds"))),
        }
    };
    let start = epoch("start")?.unwrap_or(now);
    let end = epoch("end")?;
    let timezone = object
        .get("timezone")
        .and_then(Value::as_str)
        .unwrap_or("UTC")
        .to_owned();
    ddlab_monitor::schedule::Zone::get(&timezone).map_err(|e| bad(&e.to_string()))?;
    let schedule = match object.get("recurrence") {
        None | Some(Value::Null) => json!({"type": "once", "start": start, "end": end}),
        Some(Value::Object(r)) => {
            if check_start && start < now - PAST_START_SLACK {
                return Err(bad("Scheduled downtime start cannot be in the past"));
            }
            json!({"type": "v1", "start": start, "end": end, "timezone": timezone, "recurrence": r})
        }
        Some(_) => return Err(bad("Invalid recurrence type")),
    };
    schedule_of(&schedule, now).map_err(|e| bad(&e.to_string()))?;
    let monitor_id = match object.get("monitor_id") {
        None | Some(Value::Null) => Value::Null,
        Some(v) => json!(
            v.as_i64()
                .ok_or_else(|| bad("Invalid monitor_id: expected an integer"))?
        ),
    };
    let monitor_tags = string_list(object.get("monitor_tags"), "monitor_tags").map_err(|e| bad(&e))?;
    let mut definition = json!({
        "api": "v1",
        "scope_v1": scope,
        "monitor_id": monitor_id,
        "monitor_tags": if monitor_tags.is_empty() { json!(["*"]) } else { json!(monitor_tags) },
        "message": object.get("message").cloned().unwrap_or(Value::Null),
        "display_timezone": timezone,
        "schedule": schedule,
    });
    notify_options(object, &mut definition)?;
    Ok(definition)
}

/// Checks v2 attributes and turns them into the stored definition.
fn v2_definition(attributes: &Map<String, Value>, now: i64, check_start: bool) -> Result<Value, ApiError> {
    let bad = |m: &str| ApiError::BadRequest(m.to_owned());
    if let Some(unknown) = attributes.keys().find(|k| !V2_ATTRIBUTES.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "Additional properties are not allowed ('{unknown}' was unexpected)"
        )));
    }
    let scope = attributes
        .get("scope")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("API input validation failed: 'scope' is required"))?;
    ddlab_monitor::downtime::DowntimeScope::v2(scope).map_err(|e| bad(&e.to_string()))?;
    let identifier = attributes
        .get("monitor_identifier")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("API input validation failed: 'monitor_identifier' is required"))?;
    let (monitor_id, monitor_tags) = match (identifier.get("monitor_id"), identifier.get("monitor_tags")) {
        (Some(id), None) => (
            json!(
                id.as_i64()
                    .ok_or_else(|| bad("monitor_identifier.monitor_id must be an integer"))?
            ),
            Value::Null,
        ),
        (None, Some(_)) => {
            let tags = string_list(identifier.get("monitor_tags"), "monitor_tags").map_err(|e| bad(&e))?;
            if tags.is_empty() {
                return Err(bad("monitor_identifier.monitor_tags needs at least one tag"));
            }
            (Value::Null, json!(tags))
        }
        _ => {
            return Err(bad(
                "monitor_identifier needs exactly one of monitor_id or monitor_tags",
            ));
        }
    };
    let display_timezone = attributes
        .get("display_timezone")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let schedule = match attributes.get("schedule") {
        None | Some(Value::Null) => json!({"type": "once", "start": now, "end": null}),
        Some(Value::Object(s)) if s.contains_key("recurrences") => {
            let timezone = s
                .get("timezone")
                .and_then(Value::as_str)
                .or(display_timezone.as_deref())
                .unwrap_or("UTC")
                .to_owned();
            if let Some(display) = &display_timezone
                && *display != timezone
            {
                return Err(bad("timezone must match display_timezone"));
            }
            let recurrences = s["recurrences"]
                .as_array()
                .ok_or_else(|| bad("schedule.recurrences must be a list"))?
                .iter()
                .map(|r| {
                    let mut out = json!({"rrule": r["rrule"], "duration": r["duration"]});
                    if let Some(start) = r["start"].as_str() {
                        out["start"] = json!(start);
                    }
                    out
                })
                .collect::<Vec<_>>();
            json!({"type": "rrule", "timezone": timezone, "recurrences": recurrences})
        }
        Some(Value::Object(s)) => {
            let time = |key: &str| -> Result<Option<i64>, ApiError> {
                match s.get(key) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(text)) => text
                        .parse::<jiff::Timestamp>()
                        .map(|ts| Some(ts.as_second()))
                        .map_err(|_| {
                            ApiError::BadRequest(format!(
                                "schedule.{key} {text:?} must be an ISO-8601 date and time with an offset"
                            ))
                        }),
                    Some(_) => Err(ApiError::BadRequest(format!("schedule.{key} must be a string"))),
                }
            };
            json!({"type": "once", "start": time("start")?.unwrap_or(now), "end": time("end")?})
        }
        Some(_) => return Err(bad("schedule must be an object")),
    };
    let parsed = schedule_of(&schedule, now).map_err(|e| bad(&e.to_string()))?;
    if check_start
        && schedule["type"] == "rrule"
        && parsed
            .recurrences()
            .iter()
            .filter_map(|r| parsed.zone().and_then(|z| z.epoch(r.start).ok()))
            .any(|start| start < now - PAST_START_SLACK)
    {
        return Err(bad("Scheduled downtime start cannot be in the past"));
    }
    let display =
        display_timezone.unwrap_or_else(|| schedule["timezone"].as_str().unwrap_or("UTC").to_owned());
    ddlab_monitor::schedule::Zone::get(&display).map_err(|e| bad(&e.to_string()))?;
    let mut definition = json!({
        "api": "v2",
        "scope": scope,
        "monitor_id": monitor_id,
        "monitor_tags": monitor_tags,
        "message": attributes.get("message").cloned().unwrap_or(Value::Null),
        "display_timezone": display,
        "schedule": schedule,
    });
    notify_options(attributes, &mut definition)?;
    Ok(definition)
}

/// `mute_first_recovery_notification`, `notify_end_states` and `notify_end_types`, with their defaults.
fn notify_options(object: &Map<String, Value>, definition: &mut Value) -> Result<(), ApiError> {
    let list = |key: &str, allowed: &[&str], default: &[&str]| -> Result<Value, ApiError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(json!(default)),
            Some(_) => {
                let items = string_list(object.get(key), key).map_err(ApiError::BadRequest)?;
                if let Some(bad) = items.iter().find(|i| !allowed.contains(&i.as_str())) {
                    return Err(ApiError::BadRequest(format!(
                        "Invalid {key} value '{bad}': use {}",
                        allowed.join(", ")
                    )));
                }
                Ok(json!(items))
            }
        }
    };
    definition["notify_end_states"] = list("notify_end_states", END_STATES, END_STATES)?;
    definition["notify_end_types"] = list("notify_end_types", END_TYPES, &["expired"])?;
    definition["mute_first_recovery_notification"] = match object.get("mute_first_recovery_notification") {
        None | Some(Value::Null) => json!(false),
        Some(Value::Bool(b)) => json!(b),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "mute_first_recovery_notification must be a boolean".to_owned(),
            ));
        }
    };
    Ok(())
}

/// The v1 request that would create this downtime, for partial updates.
fn v1_request(def: &DowntimeDef, now: i64) -> Map<String, Value> {
    let mut request = v1_json(def, now).as_object().cloned().unwrap_or_default();
    let schedule = &def.definition["schedule"];
    if schedule["type"] != "rrule" {
        request.insert("start".to_owned(), schedule["start"].clone());
        request.insert("end".to_owned(), schedule["end"].clone());
    }
    if schedule["type"] == "v1" {
        request.insert("recurrence".to_owned(), schedule["recurrence"].clone());
    }
    request.retain(|key, _| {
        matches!(
            key.as_str(),
            "scope"
                | "monitor_id"
                | "monitor_tags"
                | "start"
                | "end"
                | "timezone"
                | "message"
                | "recurrence"
                | "mute_first_recovery_notification"
                | "notify_end_states"
                | "notify_end_types"
        )
    });
    request
}

/// The v2 attributes that would create this downtime, for partial updates.
fn v2_request(def: &DowntimeDef) -> Map<String, Value> {
    let d = &def.definition;
    let mut attributes = Map::new();
    attributes.insert("scope".to_owned(), json!(def.scope.to_string()));
    attributes.insert(
        "monitor_identifier".to_owned(),
        match d["monitor_id"].as_i64() {
            Some(id) => json!({ "monitor_id": id }),
            None => json!({ "monitor_tags": monitor_tags(d) }),
        },
    );
    for key in [
        "message",
        "display_timezone",
        "mute_first_recovery_notification",
        "notify_end_states",
        "notify_end_types",
    ] {
        attributes.insert(key.to_owned(), d[key].clone());
    }
    attributes
}

async fn insert(state: &AppState, definition: Value, now: i64) -> Result<DowntimeDef, ApiError> {
    let uuid = new_uuid()?;
    let id = blocking(state, {
        let uuid = uuid.clone();
        move |store| store.insert_downtime(&uuid, &definition, now)
    })
    .await?;
    let def = load_record(state, id).await?;
    if def
        .schedule
        .occurrences(now, 1)
        .first()
        .is_some_and(|o| o.start > now)
    {
        notify_lifecycle(state, &def, "scheduled", now).await?;
    }
    Ok(def)
}

async fn save(
    state: &AppState,
    previous: &DowntimeDef,
    definition: Value,
    now: i64,
) -> Result<DowntimeDef, ApiError> {
    let id = previous.id;
    blocking(state, move |store| store.update_downtime(id, &definition, now)).await?;
    let def = load_record(state, id).await?;
    if def
        .schedule
        .occurrences(now, 1)
        .first()
        .is_some_and(|o| o.start > now)
    {
        notify_lifecycle(state, &def, "scheduled", now).await?;
    }
    Ok(def)
}

async fn cancel(state: &AppState, def: &DowntimeDef) -> Result<(), ApiError> {
    let now = state.clock.now();
    let id = def.id;
    let newly = blocking(state, move |store| store.cancel_downtime(id, now)).await?;
    if newly == Some(true) {
        let def = load_record(state, id).await?;
        notify_lifecycle(state, &def, "canceled", now).await?;
    }
    Ok(())
}

async fn notify_lifecycle(
    state: &AppState,
    def: &DowntimeDef,
    what: &'static str,
    now: i64,
) -> Result<(), ApiError> {
    let id = def.id;
    let app_url = state.app_url.clone();
    blocking(state, move |store| {
        let Some(record) = store.downtime(id)? else {
            return Ok(0);
        };
        match DowntimeDef::from_record(&record) {
            Ok(def) => announce(store, &def, what, now, &app_url),
            Err(err) => {
                tracing::warn!(
                    downtime = id,
                    error = err,
                    "A downtime cannot be read back; it is not announced."
                );
                Ok(0)
            }
        }
    })
    .await?;
    state.alerting.wake();
    Ok(())
}

async fn all(state: &AppState) -> Result<Vec<DowntimeDef>, ApiError> {
    let records = blocking(state, |store| store.downtimes()).await?;
    Ok(records
        .iter()
        .filter_map(|r| DowntimeDef::from_record(r).ok())
        .collect())
}

async fn load_record(state: &AppState, id: i64) -> Result<DowntimeDef, ApiError> {
    let record = blocking(state, move |store| store.downtime(id))
        .await?
        .ok_or_else(|| ApiError::NotFound("Downtime not found".to_owned()))?;
    DowntimeDef::from_record(&record).map_err(|e| ApiError::Internal(anyhow::anyhow!("downtime {id}: {e}")))
}

async fn load_v1(state: &AppState, id: &str) -> Result<DowntimeDef, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Downtime not found".to_owned()))?;
    load_record(state, id).await
}

async fn find_uuid(state: &AppState, uuid: &str) -> Result<Option<DowntimeDef>, ApiError> {
    let uuid = uuid.to_owned();
    let record = blocking(state, move |store| store.downtime_by_uuid(&uuid)).await?;
    match record {
        Some(record) => Ok(Some(load_record(state, record.id).await?)),
        None => Ok(None),
    }
}

async fn load_v2(state: &AppState, id: &str) -> Result<DowntimeDef, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::BadRequest(
            "Invalid URL param: downtime_id must be an uuid".to_owned(),
        ));
    }
    find_uuid(state, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Downtime not found".to_owned()))
}

fn check_v2_type(data: &Value) -> Result<(), ApiError> {
    if data["type"] != "downtime" {
        return Err(ApiError::BadRequest(
            "API input validation failed: Invalid type. Expected \"downtime\".".to_owned(),
        ));
    }
    Ok(())
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// A random version-4 UUID.
fn new_uuid() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("no randomness for an id: {err}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
