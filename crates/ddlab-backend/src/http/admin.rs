//! Test-mode administration, outside `/api/`: reading and moving the backend's clock.
//!
//! These routes exist only when the backend was started with `--test-mode`; they still require the
//! application key, so a lab left in test mode cannot be steered by anyone who can reach it.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::AppState;

/// `POST /ddlab/test/clock` body: move by `advance` seconds, or set `now` (epoch seconds).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClockChange {
    advance: Option<i64>,
    now: Option<i64>,
}

pub(crate) async fn get_clock(State(state): State<AppState>) -> Json<Value> {
    Json(clock_body(&state))
}

pub(crate) async fn set_clock(
    State(state): State<AppState>,
    Json(change): Json<ClockChange>,
) -> Result<Json<Value>, ApiError> {
    match (change.advance, change.now) {
        (Some(seconds), None) => state.clock.advance(seconds),
        (None, Some(now)) => state.clock.set(now),
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of 'advance' (seconds) or 'now' (epoch seconds)".to_owned(),
            ));
        }
    }
    tracing::info!(
        now = state.clock.now(),
        offset = state.clock.offset_seconds(),
        "Test clock moved."
    );
    Ok(Json(clock_body(&state)))
}

fn clock_body(state: &AppState) -> Value {
    json!({ "now": state.clock.now(), "offset": state.clock.offset_seconds() })
}
