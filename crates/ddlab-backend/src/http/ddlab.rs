//! The lab's own routes, outside `/api/`: the intake log, readable with the application key.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::blocking;
use super::error::ApiError;
use crate::AppState;

/// `GET /ddlab/intake[?route=/api/v2/series][&limit=N]`: the newest logged intake requests first.
pub(crate) async fn intake_log(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let route = params.get("route").cloned().filter(|r| !r.is_empty());
    let limit = match params.get("limit") {
        None => 20,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid 'limit' {text:?}: expected 1 to 500")))?,
    };
    let records = blocking(&state, move |store| store.intake_log(route.as_deref(), limit)).await?;
    let payloads: Vec<Value> = records
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "route": r.route,
                "received_at": r.received_at,
                "status": r.status,
                "payload": r.summary,
            })
        })
        .collect();
    Ok(Json(json!({ "payloads": payloads })))
}
