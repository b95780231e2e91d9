//! The lab's own alerting routes, outside `/api/`: on-demand evaluation and delivery (test mode only) and
//! the notification outbox.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::blocking;
use super::error::ApiError;
use crate::AppState;
use crate::alerting;

/// `POST /ddlab/test/monitors/evaluate`: one evaluation pass at the backend clock's now, then one delivery
/// pass; answers what both did. Test mode only.
pub(crate) async fn evaluate(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pass = alerting::evaluate(&state).await?;
    let delivery = alerting::deliver(&state).await?;
    Ok(Json(json!({ "evaluation": pass, "delivery": delivery })))
}

/// `POST /ddlab/test/notifications/deliver`: one delivery pass (retries due at the backend clock's now).
pub(crate) async fn deliver(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let delivery = alerting::deliver(&state).await?;
    Ok(Json(json!({ "delivery": delivery })))
}

/// `GET /ddlab/notifications[?limit=100]`: the newest notifications, rendered, with their delivery state.
pub(crate) async fn notifications(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1000);
    let found = blocking(&state, move |store| store.notifications(limit)).await?;
    let list: Vec<Value> = found
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "created_at": n.created_at,
                "origin": n.notification.origin,
                "origin_id": n.notification.origin_id,
                "handle": n.notification.handle,
                "subject": n.notification.subject,
                "body": n.notification.body,
                "state": n.state,
                "detail": n.detail,
                "attempts": n.attempts,
                "next_attempt": n.next_attempt,
            })
        })
        .collect();
    Ok(Json(json!({ "notifications": list })))
}
