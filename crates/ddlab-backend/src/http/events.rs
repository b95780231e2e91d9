//! Events (`POST/GET /api/v1/events`, `GET /api/v1/events/{id}`) and service checks (`POST /api/v1/check_run`).
//!
//! An event whose text mentions `@handles` records one notification per handle, in the same transaction as
//! the event; the notification channels (email, webhooks) deliver what is recorded.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ddlab_store::{EventFilter, NewCheckRun, NewEvent, NewNotification, StoredEvent};
use ddlab_wire::check_run::{self, CheckRun};
use ddlab_wire::events::{self, Event};
use serde_json::{Value, json};

use super::error::ApiError;
use super::intake::{IntakeLog, read_body};
use super::{blocking, epoch_param};
use crate::AppState;

/// Limits of event and check run bodies.
const BODY_LIMIT: usize = 512_000;
/// Service check results older than this are dropped, as Datadog drops them.
const CHECK_RUN_MAX_AGE: i64 = 600;
/// The most events one `GET /api/v1/events` page returns.
const EVENTS_PAGE: usize = 1000;

/// `POST /api/v1/events`.
pub(crate) async fn post_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/api/v1/events");
    let result = async {
        let bytes = read_body(&headers, body, BODY_LIMIT, BODY_LIMIT).await?;
        let event = events::decode(&bytes).map_err(super::intake::wire_error)?;
        let now = state.clock.now();
        let date = event.date_happened.unwrap_or(now);
        events::check_date(date, now).map_err(|err| ApiError::BadRequest(err.to_string()))?;
        let notifications: Vec<NewNotification> = ddlab_monitor::mentions::mentions(&event.text)
            .into_iter()
            .map(|handle| NewNotification {
                origin: "event".to_owned(),
                origin_id: None,
                handle,
                subject: format!("[Event] {}", event.title),
                body: event.text.clone(),
            })
            .collect();
        let stored = new_event(&event, date);
        let id = blocking(&state, move |store| {
            store.insert_event(&stored, &notifications, now)
        })
        .await?;
        Ok::<_, ApiError>((id, event, date))
    }
    .await;
    match result {
        Ok((id, event, date)) => {
            log.record(202, event_summary(id, &event)).await;
            let created = events::created(id, &event, date, &state.app_url);
            Ok((StatusCode::ACCEPTED, Json(created)).into_response())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

/// `GET /api/v1/events/{id}`.
pub(crate) async fn get_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::NotFound("Event not found".to_owned()))?;
    let found = blocking(&state, move |store| store.event(id)).await?;
    let event = found.ok_or_else(|| ApiError::NotFound("Event not found".to_owned()))?;
    Ok(Json(json!({ "event": event_json(&event, &state.app_url) })))
}

/// `GET /api/v1/events?start=&end=[&priority=&sources=&tags=]`, newest first.
pub(crate) async fn list_events(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let start = epoch_param(&params, "start")?;
    let end = epoch_param(&params, "end")?;
    let priority = match params.get("priority").map(String::as_str) {
        None | Some("") => None,
        Some(p @ ("normal" | "low")) => Some(p.to_owned()),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid priority {other:?}: expected \"normal\" or \"low\""
            )));
        }
    };
    let filter = EventFilter {
        start,
        end,
        priority,
        sources: comma_list(params.get("sources")),
        tags: comma_list(params.get("tags")),
        limit: EVENTS_PAGE,
    };
    let found = blocking(&state, move |store| store.events(&filter)).await?;
    let events: Vec<Value> = found.iter().map(|e| event_json(e, &state.app_url)).collect();
    Ok(Json(json!({ "events": events })))
}

/// `POST /api/v1/check_run`: one result (datadogpy) or an array (the Agent, the API clients).
pub(crate) async fn post_check_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let log = IntakeLog::new(&state, "/api/v1/check_run");
    let result = async {
        let bytes = read_body(&headers, body, BODY_LIMIT, BODY_LIMIT * 10).await?;
        let runs = check_run::decode(&bytes).map_err(super::intake::wire_error)?;
        let summary = json!(runs.iter().map(check_run_summary).collect::<Vec<_>>());
        store_check_runs(&state, runs).await?;
        Ok::<_, ApiError>(summary)
    }
    .await;
    match result {
        Ok(summary) => {
            log.record(202, summary).await;
            Ok((
                StatusCode::ACCEPTED,
                [(header::CONTENT_TYPE, "text/json")],
                r#"{"status": "ok"}"#,
            )
                .into_response())
        }
        Err(err) => {
            log.refused(&err).await;
            Err(err)
        }
    }
}

/// Stores service check results, dropping those older than Datadog accepts.
pub(crate) async fn store_check_runs(state: &AppState, runs: Vec<CheckRun>) -> Result<(), ApiError> {
    let now = state.clock.now();
    let total = runs.len();
    let rows: Vec<NewCheckRun> = runs
        .into_iter()
        .map(|run| NewCheckRun {
            timestamp: run.timestamp.unwrap_or(now),
            check: run.check,
            host: run.host_name,
            status: run.status.code(),
            message: run.message,
            tags: run.tags,
        })
        .filter(|run| run.timestamp >= now - CHECK_RUN_MAX_AGE)
        .collect();
    if rows.len() < total {
        tracing::info!(
            dropped = total - rows.len(),
            "Service check results older than 10 minutes were dropped."
        );
    }
    if rows.is_empty() {
        return Ok(());
    }
    blocking(state, move |store| store.insert_check_runs(&rows, now)).await
}

/// Stores the events of an agent payload.
pub(crate) async fn store_agent_events(state: &AppState, events: &[Event]) -> Result<Vec<i64>, ApiError> {
    let now = state.clock.now();
    let rows: Vec<NewEvent> = events
        .iter()
        .map(|e| new_event(e, e.date_happened.unwrap_or(now)))
        .collect();
    blocking(state, move |store| store.insert_events(&rows, now)).await
}

fn new_event(event: &Event, date_happened: i64) -> NewEvent {
    NewEvent {
        title: event.title.clone(),
        text: event.text.clone(),
        date_happened,
        priority: event.priority.name().to_owned(),
        host: event.host.clone(),
        tags: event.tags.clone(),
        alert_type: event.alert_type.name().to_owned(),
        aggregation_key: event.aggregation_key.clone(),
        source_type_name: event.source_type_name.clone(),
        related_event_id: event.related_event_id,
        device_name: event.device_name.clone(),
        event_type: event.event_type.clone(),
    }
}

fn event_json(stored: &StoredEvent, app_url: &str) -> Value {
    let e = &stored.event;
    json!({
        "id": stored.id,
        "id_str": stored.id.to_string(),
        "title": e.title,
        "text": e.text,
        "date_happened": e.date_happened,
        "alert_type": e.alert_type,
        "priority": e.priority,
        "host": e.host,
        "device_name": e.device_name,
        "tags": e.tags,
        "source": e.source_type_name,
        "aggregation_key": e.aggregation_key,
        "related_event_id": e.related_event_id,
        "is_aggregate": false,
        "comments": [],
        "children": [],
        "url": format!("{app_url}/event/event?id={}", stored.id),
        "resource": format!("/api/v1/events/{}", stored.id),
    })
}

pub(crate) fn event_summary(id: i64, event: &Event) -> Value {
    json!({
        "id": id,
        "title": event.title,
        "text": event.text,
        "date_happened": event.date_happened,
        "alert_type": event.alert_type.name(),
        "priority": event.priority.name(),
        "host": event.host,
        "tags": event.tags,
        "source_type_name": event.source_type_name,
    })
}

pub(crate) fn check_run_summary(run: &CheckRun) -> Value {
    json!({
        "check": run.check,
        "host_name": run.host_name,
        "status": run.status.name(),
        "timestamp": run.timestamp,
        "message": run.message,
        "tags": run.tags,
    })
}

fn comma_list(value: Option<&String>) -> Vec<String> {
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
