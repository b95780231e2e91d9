//! Monitors: `/api/v1/monitor` create, get, list, update, delete, validate, search, group search, legacy
//! mute/unmute, `can_delete`, and the downtimes that match a monitor (v1 and v2).
//!
//! Shapes, defaults and messages follow the API reference §5: `metric alert` is answered as `query alert`,
//! thresholds as floats, `options` replaced whole on update (keeping `silenced`), `overall_state` "No Data"
//! until the first evaluation.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use ddlab_monitor::mentions::{Channel, mentions};
use ddlab_monitor::state::{Status, UNGROUPED};
use ddlab_store::{GroupRow, MonitorRecord};
use serde_json::{Map, Value, json};

use super::blocking;
use super::error::ApiError;
use crate::AppState;
use crate::alerting::model::{DowntimeDef, MonitorDef, normalise_monitor};
use crate::alerting::pass::StoredGroup;

/// The organisation id the lab answers with.
pub(crate) const ORG_ID: i64 = 1;
/// The user every object of the lab is created by.
pub(crate) const CREATOR_HANDLE: &str = "lab@ddlab.local";
/// The v2 id of that user.
pub(crate) const CREATOR_UUID: &str = "00000000-0000-4000-8000-0000000dd1ab";

/// `POST /api/v1/monitor`.
pub(crate) async fn create(State(state): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let normalised = normalise_monitor(&body).map_err(ApiError::BadRequest)?;
    let now_ms = state.clock.now_ms();
    let definition = normalised.definition;
    let id = blocking(&state, {
        let definition = definition.clone();
        move |store| store.insert_monitor(&definition, now_ms)
    })
    .await?;
    let record = load(&state, id).await?;
    Ok(Json(monitor_json(&record, None, None)))
}

/// `GET /api/v1/monitor/{id}[?group_states=all|alert,warn&with_downtimes=true]`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let record = load(&state, id).await?;
    let groups = match params.get("group_states") {
        Some(filter) if !filter.is_empty() => Some((
            blocking(&state, move |store| store.monitor_groups(id)).await?,
            filter.clone(),
        )),
        _ => None,
    };
    let downtimes = if flag(&params, "with_downtimes") {
        Some(matching_downtimes(&state, &record).await?)
    } else {
        None
    };
    Ok(Json(monitor_json(
        &record,
        groups.as_ref().map(|(g, f)| (g.as_slice(), f.as_str())),
        downtimes,
    )))
}

/// `GET /api/v1/monitor[?name=&tags=&monitor_tags=&group_states=&with_downtimes=&id_offset=&page=&page_size=]`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let records = blocking(&state, |store| store.monitors()).await?;
    let name = params.get("name").map(|n| n.to_lowercase());
    let monitor_tags = comma(params.get("monitor_tags"));
    let scope_tags = comma(params.get("tags"));
    let id_offset: i64 = params
        .get("id_offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(i64::MIN);
    let mut selected: Vec<&MonitorRecord> = records
        .iter()
        .filter(|r| r.id > id_offset)
        .filter(|r| {
            name.as_ref()
                .is_none_or(|n| text(&r.definition, "name").to_lowercase().contains(n))
        })
        .filter(|r| {
            let tags = tags_of(&r.definition);
            monitor_tags.iter().all(|t| tags.contains(t))
        })
        .filter(|r| {
            let scopes = scopes_of(&r.definition);
            scope_tags
                .iter()
                .all(|t| scopes.iter().any(|s| s.split(',').any(|part| part == t)))
        })
        .collect();
    if let Some(page) = params.get("page").and_then(|p| p.parse::<usize>().ok()) {
        let size = params
            .get("page_size")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(100)
            .clamp(1, 1000);
        selected = selected.into_iter().skip(page * size).take(size).collect();
    }
    let groups = match params.get("group_states") {
        Some(filter) if !filter.is_empty() => Some((
            blocking(&state, |store| store.all_monitor_groups()).await?,
            filter.clone(),
        )),
        _ => None,
    };
    let mut out = Vec::new();
    for record in selected {
        let own: Option<Vec<GroupRow>> = groups.as_ref().map(|(all, _)| {
            all.iter()
                .filter(|(id, _)| *id == record.id)
                .map(|(_, g)| g.clone())
                .collect()
        });
        let downtimes = if flag(&params, "with_downtimes") {
            Some(matching_downtimes(&state, record).await?)
        } else {
            None
        };
        let filter = groups.as_ref().map(|(_, f)| f.as_str()).unwrap_or_default();
        out.push(monitor_json(
            record,
            own.as_deref().map(|g| (g, filter)),
            downtimes,
        ));
    }
    Ok(Json(Value::Array(out)))
}

/// `PUT /api/v1/monitor/{id}`: top-level fields are partial, `options` is replaced whole (`silenced` kept).
pub(crate) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let changes = json_body(&body)?;
    let record = load(&state, id).await?;
    let merged = merged_update(&record.definition, &changes)?;
    let normalised = normalise_monitor(&merged).map_err(ApiError::BadRequest)?;
    let reset = text(&normalised.definition, "query") != text(&record.definition, "query");
    let now_ms = state.clock.now_ms();
    let definition = normalised.definition;
    let found = blocking(&state, move |store| {
        store.update_monitor(id, &definition, now_ms, reset)
    })
    .await?;
    if !found {
        return Err(not_found());
    }
    let record = load(&state, id).await?;
    Ok(Json(monitor_json(&record, None, None)))
}

/// `DELETE /api/v1/monitor/{id}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    if blocking(&state, move |store| store.delete_monitor(id)).await? {
        Ok(Json(json!({ "deleted_monitor_id": id })))
    } else {
        Err(not_found())
    }
}

/// `POST /api/v1/monitor/validate`: `{}` when the monitor would be accepted; unknown message variables
/// come back as `warnings` (they render empty).
pub(crate) async fn validate(body: Bytes) -> Result<Json<Value>, ApiError> {
    let body = json_body(&body)?;
    let normalised = normalise_monitor(&body).map_err(ApiError::BadRequest)?;
    Ok(Json(validation_body(normalised.warnings)))
}

/// `POST /api/v1/monitor/{id}/validate`: the same for an edit of monitor `id`.
pub(crate) async fn validate_existing(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let changes = json_body(&body)?;
    let record = load(&state, id).await?;
    let merged = merged_update(&record.definition, &changes)?;
    let normalised = normalise_monitor(&merged).map_err(ApiError::BadRequest)?;
    Ok(Json(validation_body(normalised.warnings)))
}

/// `GET /api/v1/monitor/can_delete?monitor_ids=1,2`: nothing references monitors in the lab, so every
/// existing monitor can be deleted; unknown ids are listed as errors (409).
pub(crate) async fn can_delete(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    let ids = comma(params.get("monitor_ids"));
    if ids.is_empty() {
        return Err(ApiError::BadRequest(
            "The 'monitor_ids' parameter is required".to_owned(),
        ));
    }
    let records = blocking(&state, |store| store.monitors()).await?;
    let mut ok = Vec::new();
    let mut errors = Map::new();
    for id in ids {
        match id
            .parse::<i64>()
            .ok()
            .filter(|id| records.iter().any(|r| r.id == *id))
        {
            Some(id) => ok.push(id),
            None => {
                errors.insert(id, json!(["Monitor not found"]));
            }
        }
    }
    let body = json!({"data": {"ok": ok}, "errors": if errors.is_empty() { Value::Null } else { Value::Object(errors.clone()) }});
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::CONFLICT
    };
    Ok(axum::response::IntoResponse::into_response((status, Json(body))))
}

/// `POST /api/v1/monitor/{id}/mute` `{"scope": "host:a", "end": ts}` (legacy): `options.silenced`.
pub(crate) async fn mute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let scope = body["scope"].as_str().unwrap_or("*").to_owned();
    let end = match &body["end"] {
        Value::Null => Value::Null,
        value => json!(
            number(value).ok_or_else(|| ApiError::BadRequest("'end' must be epoch seconds".to_owned()))?
                as i64
        ),
    };
    edit_silenced(&state, id, |silenced| {
        silenced.insert(scope.clone(), end.clone());
    })
    .await
}

/// `POST /api/v1/monitor/{id}/unmute` `{"scope": "host:a"}` or `{"all_scopes": true}` (legacy).
pub(crate) async fn unmute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let body = if body.is_empty() {
        json!({})
    } else {
        json_body(&body)?
    };
    let all = body["all_scopes"].as_bool().unwrap_or(false);
    let scope = body["scope"].as_str().unwrap_or("*").to_owned();
    edit_silenced(&state, id, |silenced| {
        if all {
            silenced.clear();
        } else {
            silenced.remove(&scope);
        }
    })
    .await
}

/// `GET /api/v1/monitor/search?query=&page=0&per_page=30&sort=name,asc`.
pub(crate) async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let terms = parse_search(params.get("query").map_or("", String::as_str), false)?;
    let (records, downtimes) = monitors_and_downtimes(&state).await?;
    let now = state.clock.now();
    let mut rows: Vec<(Value, &MonitorRecord)> = Vec::new();
    for record in &records {
        let muted = is_muted(&record.definition, record.id, &downtimes, now);
        if !terms.iter().all(|t| t.matches_monitor(record, muted)) {
            continue;
        }
        let def = &record.definition;
        let notifications: Vec<Value> = mentions(&text(def, "message"))
            .into_iter()
            .map(|handle| {
                let name = match Channel::of(&handle) {
                    Channel::Email(address) => address.split('@').next().unwrap_or_default().to_owned(),
                    Channel::Webhook(name) => name,
                    Channel::Other(other) => other,
                };
                json!({"handle": handle, "name": name})
            })
            .collect();
        let entry = json!({
            "id": record.id,
            "name": text(def, "name"),
            "type": text(def, "type"),
            "status": record.overall_state,
            "classification": classification(&text(def, "type")),
            "query": text(def, "query"),
            "metrics": metrics_of(def),
            "scopes": scopes_of(def),
            "tags": tags_of(def),
            "notifications": notifications,
            "creator": {"handle": CREATOR_HANDLE, "id": 1, "name": Value::Null},
            "org_id": ORG_ID,
            "priority": def["priority"],
            "last_triggered_ts": Value::Null,
            "muted_until_ts": Value::Null,
            "overall_state_modified": record.overall_state_modified,
            "restricted_roles": [],
        });
        rows.push((entry, record));
    }
    sort_rows(&mut rows, params.get("sort").map_or("name,asc", String::as_str));
    let mut counts: BTreeMap<&str, BTreeMap<String, i64>> = BTreeMap::new();
    for (entry, record) in &rows {
        *counts
            .entry("status")
            .or_default()
            .entry(record.overall_state.clone())
            .or_default() += 1;
        let muted = is_muted(&record.definition, record.id, &downtimes, now);
        *counts
            .entry("muted")
            .or_default()
            .entry(muted.to_string())
            .or_default() += 1;
        for tag in tags_of(&record.definition) {
            *counts.entry("tag").or_default().entry(tag).or_default() += 1;
        }
        let class = entry["classification"].as_str().unwrap_or_default().to_owned();
        *counts.entry("type").or_default().entry(class).or_default() += 1;
    }
    let counts_json: Map<String, Value> = ["status", "muted", "tag", "type"]
        .into_iter()
        .map(|key| {
            let list: Vec<Value> = counts
                .get(key)
                .map(|c| {
                    c.iter()
                        .map(|(name, count)| {
                            let name = if key == "muted" {
                                json!(name == "true")
                            } else {
                                json!(name)
                            };
                            json!({"name": name, "count": count})
                        })
                        .collect()
                })
                .unwrap_or_default();
            (key.to_owned(), Value::Array(list))
        })
        .collect();
    let (page, per_page) = paging(&params);
    let total = rows.len();
    let monitors: Vec<Value> = rows
        .into_iter()
        .skip(page * per_page)
        .take(per_page)
        .map(|(entry, _)| entry)
        .collect();
    Ok(Json(json!({
        "monitors": monitors,
        "counts": counts_json,
        "metadata": {"page": page, "page_count": total.div_ceil(per_page), "per_page": per_page, "total_count": total},
    })))
}

/// `GET /api/v1/monitor/groups/search?query=&page=0&per_page=30&sort=`.
pub(crate) async fn group_search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let terms = parse_search(params.get("query").map_or("", String::as_str), true)?;
    let (records, downtimes) = monitors_and_downtimes(&state).await?;
    let all_groups = blocking(&state, |store| store.all_monitor_groups()).await?;
    let now = state.clock.now();
    let mut groups = Vec::new();
    let mut status_counts: BTreeMap<String, i64> = BTreeMap::new();
    for (monitor_id, group) in &all_groups {
        let Some(record) = records.iter().find(|r| r.id == *monitor_id) else {
            continue;
        };
        let def = MonitorDef::from_stored(record.id, &record.definition).ok();
        let state = StoredGroup::parse(&group.state);
        let tags = state.tags.clone().into_owned();
        let matching: Vec<&DowntimeDef> = downtimes
            .iter()
            .filter(|d| d.active_at(now).is_some() && def.as_ref().is_some_and(|m| d.applies(m, &tags)))
            .collect();
        let muted = !matching.is_empty() || is_silenced(&record.definition, &tags, now);
        if !terms.iter().all(|t| t.matches_group(record, group, muted)) {
            continue;
        }
        *status_counts.entry(group.status.clone()).or_default() += 1;
        groups.push(json!({
            "monitor_id": record.id,
            "monitor_name": text(&record.definition, "name"),
            "group": display_group(&group.name),
            "group_tags": if group.name == UNGROUPED { vec!["*".to_owned()] } else { group.name.split(',').map(str::to_owned).collect() },
            "status": group.status,
            "last_triggered_ts": state.last_triggered,
            "last_nodata_ts": state.last_nodata,
            "muted": muted,
            "muted_until_ts": Value::Null,
            "downtimes": matching.iter().map(|d| json!({"id": d.id, "uuid": d.uuid})).collect::<Vec<_>>(),
            "all_tags": tags,
            "priority": record.definition["priority"],
        }));
    }
    let (page, per_page) = paging(&params);
    let total = groups.len();
    let page_groups: Vec<Value> = groups.into_iter().skip(page * per_page).take(per_page).collect();
    Ok(Json(json!({
        "groups": page_groups,
        "counts": {"status": status_counts.iter().map(|(name, count)| json!({"name": name, "count": count})).collect::<Vec<_>>()},
        "metadata": {"page": page, "page_count": total.div_ceil(per_page), "per_page": per_page, "total_count": total},
    })))
}

/// `GET /api/v1/monitor/{id}/downtimes`: the v1 downtimes in progress that apply to the monitor.
pub(crate) async fn downtimes_v1(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = monitor_id(&id)?;
    let record = load(&state, id).await?;
    let (_, downtimes) = monitors_and_downtimes(&state).await?;
    let def = MonitorDef::from_stored(record.id, &record.definition).map_err(ApiError::BadRequest)?;
    let now = state.clock.now();
    let list: Vec<Value> = downtimes
        .iter()
        .filter(|d| d.active_at(now).is_some() && d.target.matches(def.id, &def.tags))
        .map(|d| super::downtimes::v1_json(d, now))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// `GET /api/v2/monitor/{id}/downtime_matches`.
pub(crate) async fn downtime_matches(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = match id.parse::<i64>() {
        Ok(id) => blocking(&state, move |store| store.monitor(id)).await?,
        Err(_) => None,
    };
    let Some(record) = record else {
        return Err(ApiError::NotFound(format!("Monitor with id {id} not found")));
    };
    let (_, downtimes) = monitors_and_downtimes(&state).await?;
    let def = MonitorDef::from_stored(record.id, &record.definition).map_err(ApiError::BadRequest)?;
    let groups = blocking(&state, move |store| store.monitor_groups(record.id)).await?;
    let now = state.clock.now();
    let mut data = Vec::new();
    for downtime in &downtimes {
        if downtime.canceled.is_some() || !downtime.target.matches(def.id, &def.tags) {
            continue;
        }
        let Some(next) = downtime.schedule.occurrences(now, 1).into_iter().next() else {
            continue;
        };
        let muted: Vec<String> = groups
            .iter()
            .filter(|g| {
                downtime
                    .scope
                    .matches(&crate::alerting::pass::group_from_row(g).tags)
            })
            .map(|g| display_group(&g.name))
            .collect();
        data.push(json!({
            "id": downtime.uuid,
            "type": "downtime_match",
            "attributes": {
                "start": super::downtimes::iso_seconds(next.start),
                "end": next.end.map(super::downtimes::iso_seconds),
                "scope": downtime.scope.to_string(),
                "groups": muted,
            },
        }));
    }
    let total = data.len();
    Ok(Json(
        json!({"data": data, "meta": {"page": {"total_filtered_count": total}}}),
    ))
}

async fn edit_silenced(
    state: &AppState,
    id: i64,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Result<Json<Value>, ApiError> {
    let record = load(state, id).await?;
    let mut definition = record.definition.clone();
    let mut silenced = definition["options"]["silenced"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    edit(&mut silenced);
    if let Some(options) = definition["options"].as_object_mut() {
        options.insert("silenced".to_owned(), Value::Object(silenced));
    }
    let now_ms = state.clock.now_ms();
    blocking(state, move |store| {
        store.update_monitor(id, &definition, now_ms, false)
    })
    .await?;
    let record = load(state, id).await?;
    Ok(Json(monitor_json(&record, None, None)))
}

/// The monitor as the API shows it.
pub(crate) fn monitor_json(
    record: &MonitorRecord,
    groups: Option<(&[GroupRow], &str)>,
    downtimes: Option<Vec<Value>>,
) -> Value {
    let mut body = match &record.definition {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    body.insert("id".to_owned(), json!(record.id));
    body.insert("org_id".to_owned(), json!(ORG_ID));
    body.insert("multi".to_owned(), json!(is_multi(&record.definition)));
    body.insert("deleted".to_owned(), Value::Null);
    body.insert("created_at".to_owned(), json!(record.created));
    body.insert("created".to_owned(), json!(iso_millis(record.created)));
    body.insert("modified".to_owned(), json!(iso_millis(record.modified)));
    body.insert("overall_state".to_owned(), json!(record.overall_state));
    body.insert(
        "overall_state_modified".to_owned(),
        record
            .overall_state_modified
            .map_or(Value::Null, |s| json!(super::downtimes::iso_seconds(s))),
    );
    body.insert("draft_status".to_owned(), json!("published"));
    body.insert("assets".to_owned(), json!([]));
    body.insert("restriction_policy".to_owned(), Value::Null);
    body.insert(
        "creator".to_owned(),
        json!({"id": 1, "handle": CREATOR_HANDLE, "name": Value::Null, "email": CREATOR_HANDLE}),
    );
    if let Some((groups, filter)) = groups {
        let wanted: Vec<Status> = filter.split(',').filter_map(Status::parse).collect();
        let all = filter.split(',').any(|f| f.trim() == "all");
        let map: Map<String, Value> = groups
            .iter()
            .filter(|g| all || Status::parse(&g.status).is_some_and(|s| wanted.contains(&s)))
            .map(|g| {
                let state = StoredGroup::parse(&g.state);
                (
                    g.name.clone(),
                    json!({
                        "name": g.name,
                        "status": g.status,
                        "last_triggered_ts": state.last_triggered,
                        "last_notified_ts": state.last_notified,
                        "last_resolved_ts": state.last_resolved,
                        "last_nodata_ts": state.last_nodata,
                        "triggering_value": state.value,
                    }),
                )
            })
            .collect();
        body.insert("state".to_owned(), json!({ "groups": map }));
    }
    if let Some(downtimes) = downtimes {
        body.insert("matching_downtimes".to_owned(), Value::Array(downtimes));
    }
    Value::Object(body)
}

/// v1 downtimes (active or scheduled) that target the monitor, as `matching_downtimes`.
async fn matching_downtimes(state: &AppState, record: &MonitorRecord) -> Result<Vec<Value>, ApiError> {
    let (_, downtimes) = monitors_and_downtimes(state).await?;
    let Ok(def) = MonitorDef::from_stored(record.id, &record.definition) else {
        return Ok(Vec::new());
    };
    let id = record.id;
    let groups = blocking(state, move |store| store.monitor_groups(id)).await?;
    let now = state.clock.now();
    Ok(downtimes
        .iter()
        .filter(|d| d.canceled.is_none() && d.target.matches(def.id, &def.tags))
        .filter_map(|d| {
            let next = d.schedule.occurrences(now, 1).into_iter().next()?;
            let muted: Vec<String> = groups
                .iter()
                .filter(|g| d.scope.matches(&crate::alerting::pass::group_from_row(g).tags))
                .map(|g| display_group(&g.name))
                .collect();
            Some(json!({
                "id": d.id,
                "active": next.start <= now,
                "monitor_id": d.definition["monitor_id"],
                "start": next.start,
                "end": next.end,
                "scope": d.scope.v1_items(),
                "groups": muted,
            }))
        })
        .collect())
}

async fn monitors_and_downtimes(
    state: &AppState,
) -> Result<(Vec<MonitorRecord>, Vec<DowntimeDef>), ApiError> {
    let (records, downtimes) = blocking(state, |store| Ok((store.monitors()?, store.downtimes()?))).await?;
    let downtimes = downtimes
        .iter()
        .filter_map(|d| DowntimeDef::from_record(d).ok())
        .collect();
    Ok((records, downtimes))
}

fn is_muted(definition: &Value, id: i64, downtimes: &[DowntimeDef], now: i64) -> bool {
    let silenced = definition["options"]["silenced"]
        .as_object()
        .is_some_and(|s| !s.is_empty());
    silenced
        || downtimes.iter().any(|d| {
            d.active_at(now).is_some() && d.target.matches(id, &tags_of(definition)) && d.scope.is_all()
        })
}

fn is_silenced(definition: &Value, tags: &[String], now: i64) -> bool {
    definition["options"]["silenced"].as_object().is_some_and(|map| {
        map.iter().any(|(scope, end)| {
            let in_scope = scope == "*" || scope.split(',').all(|item| tags.iter().any(|t| t == item.trim()));
            in_scope && end.as_i64().is_none_or(|end| end > now)
        })
    })
}

/// The stored definition with an update's fields applied: top-level fields replace, `options` is
/// replaced whole but keeps `silenced`.
fn merged_update(stored: &Value, changes: &Value) -> Result<Value, ApiError> {
    let changes = changes
        .as_object()
        .ok_or_else(|| ApiError::BadRequest("Invalid monitor: the body must be a JSON object".to_owned()))?;
    let mut merged = stored.as_object().cloned().unwrap_or_default();
    for (key, value) in changes {
        if key == "options" {
            let mut options = value.as_object().cloned().unwrap_or_default();
            if !options.contains_key("silenced")
                && let Some(silenced) = stored["options"].get("silenced")
            {
                options.insert("silenced".to_owned(), silenced.clone());
            }
            merged.insert(key.clone(), Value::Object(options));
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    if changes.contains_key("query") && !changes.contains_key("options") {
        // A new query with the old thresholds would fail the threshold check; follow the query's number.
        if let Some(thresholds) = merged
            .get_mut("options")
            .and_then(|o| o.get_mut("thresholds"))
            .and_then(Value::as_object_mut)
            && let Some(Value::String(query)) = changes.get("query")
            && let Ok(parsed) = ddlab_monitor::query::MonitorQuery::parse(query)
        {
            thresholds.insert("critical".to_owned(), json!(parsed.threshold));
        }
    }
    Ok(Value::Object(merged))
}

fn validation_body(warnings: Vec<String>) -> Value {
    if warnings.is_empty() {
        json!({})
    } else {
        json!({ "warnings": warnings })
    }
}

async fn load(state: &AppState, id: i64) -> Result<MonitorRecord, ApiError> {
    blocking(state, move |store| store.monitor(id))
        .await?
        .ok_or_else(not_found)
}

fn not_found() -> ApiError {
    ApiError::NotFound("Monitor not found".to_owned())
}

fn monitor_id(text: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| not_found())
}

/// A JSON request body, with Datadog's error shape when it is not JSON.
pub(crate) fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|err| ApiError::BadRequest(format!("Invalid JSON in the request body: {err}")))
}

/// A boolean query parameter: `true`, `True` (datadogpy sends Python's spelling) or `1`.
pub(crate) fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn comma(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.trim().parse().ok())
}

fn text(definition: &Value, key: &str) -> String {
    definition[key].as_str().unwrap_or_default().to_owned()
}

fn tags_of(definition: &Value) -> Vec<String> {
    crate::alerting::model::string_list(definition.get("tags"), "tags").unwrap_or_default()
}

fn parsed_query(definition: &Value) -> Option<ddlab_monitor::query::MonitorQuery> {
    (text(definition, "type") == "query alert")
        .then(|| ddlab_monitor::query::MonitorQuery::parse(&text(definition, "query")).ok())
        .flatten()
}

fn is_multi(definition: &Value) -> bool {
    parsed_query(definition).is_some_and(|q| ddlab_monitor::state::is_grouped(&q.expression))
}

fn metrics_of(definition: &Value) -> Vec<String> {
    parsed_query(definition)
        .map(|q| q.metrics().into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn scopes_of(definition: &Value) -> Vec<String> {
    parsed_query(definition)
        .map(|q| {
            q.expression
                .queries()
                .iter()
                .map(|m| m.scope.to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn classification(kind: &str) -> &str {
    match kind {
        "query alert" | "metric alert" => "metric",
        "service check" => "custom",
        other => other.strip_suffix(" alert").unwrap_or(other),
    }
}

/// `*` (an ungrouped monitor's one group) is called `total` in searches and downtime matches.
fn display_group(name: &str) -> String {
    if name == UNGROUPED {
        "total".to_owned()
    } else {
        name.to_owned()
    }
}

fn iso_millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string())
        .unwrap_or_default()
}

fn paging(params: &HashMap<String, String>) -> (usize, usize) {
    let page = params.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let per_page = params
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 1000);
    (page, per_page)
}

fn sort_rows(rows: &mut [(Value, &MonitorRecord)], sort: &str) {
    let (field, direction) = sort.split_once(',').unwrap_or((sort, "asc"));
    let key = |entry: &Value| -> String {
        match field {
            "id" => format!("{:020}", entry["id"].as_i64().unwrap_or(0)),
            "status" => entry["status"].as_str().unwrap_or_default().to_owned(),
            "type" => entry["classification"].as_str().unwrap_or_default().to_owned(),
            "priority" => entry["priority"].as_i64().unwrap_or(9).to_string(),
            _ => entry["name"].as_str().unwrap_or_default().to_lowercase(),
        }
    };
    rows.sort_by_key(|(entry, _)| key(entry));
    if direction.eq_ignore_ascii_case("desc") {
        rows.reverse();
    }
}

/// One term of a monitor search query.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Status(Status),
    GroupStatus(Status),
    Type(String),
    Tag(String),
    Id(i64),
    Muted(bool),
    Priority(u64),
    Notification(String),
    Text(String),
}

impl Term {
    fn matches_monitor(&self, record: &MonitorRecord, muted: bool) -> bool {
        let def = &record.definition;
        match self {
            Term::Status(status) | Term::GroupStatus(status) => {
                Status::parse(&record.overall_state) == Some(*status)
            }
            Term::Type(kind) => classification(&text(def, "type")) == kind || text(def, "type") == *kind,
            Term::Tag(tag) => tags_of(def).contains(tag),
            Term::Id(id) => record.id == *id,
            Term::Muted(wanted) => muted == *wanted,
            Term::Priority(p) => def["priority"].as_u64() == Some(*p),
            Term::Notification(handle) => mentions(&text(def, "message"))
                .iter()
                .any(|h| h.contains(handle.as_str())),
            Term::Text(words) => {
                let words = words.to_lowercase();
                text(def, "name").to_lowercase().contains(&words) || record.id.to_string() == words
            }
        }
    }

    fn matches_group(&self, record: &MonitorRecord, group: &GroupRow, muted: bool) -> bool {
        match self {
            Term::GroupStatus(status) => Status::parse(&group.status) == Some(*status),
            Term::Text(words) => {
                let words = words.to_lowercase();
                group.name.to_lowercase().contains(&words) || self.matches_monitor(record, muted)
            }
            other => other.matches_monitor(record, muted),
        }
    }
}

/// `status:alert type:metric tag:"team:a" id:3 muted:true priority:p1 notification:ops free words`.
fn parse_search(query: &str, groups: bool) -> Result<Vec<Term>, ApiError> {
    let mut terms = Vec::new();
    let mut words = Vec::new();
    for raw in split_query(query) {
        let Some((key, value)) = raw.split_once(':') else {
            words.push(raw);
            continue;
        };
        let value = value.trim_matches('"').to_owned();
        let status = |value: &str| {
            Status::parse(value).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "Query parsing error: '{value}' is not a valid monitor status"
                ))
            })
        };
        terms.push(match key {
            "status" if groups => Term::GroupStatus(status(&value)?),
            "status" => Term::Status(status(&value)?),
            "group_status" => Term::GroupStatus(status(&value)?),
            "type" => Term::Type(value),
            "tag" => Term::Tag(value),
            "id" => Term::Id(value.parse().map_err(|_| {
                ApiError::BadRequest(format!("Query parsing error: '{value}' is not a monitor id"))
            })?),
            "muted" => Term::Muted(value == "true"),
            "priority" => Term::Priority(value.trim_start_matches(['p', 'P']).parse().map_err(|_| {
                ApiError::BadRequest(format!("Query parsing error: '{value}' is not a priority"))
            })?),
            "notification" => Term::Notification(value.trim_start_matches('@').to_owned()),
            "title" => Term::Text(value),
            _ => {
                words.push(raw);
                continue;
            }
        });
    }
    if !words.is_empty() {
        terms.push(Term::Text(words.join(" ").trim_matches('"').to_owned()));
    }
    Ok(terms)
}

/// Splits on spaces outside double quotes.
fn split_query(query: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    parts.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}
