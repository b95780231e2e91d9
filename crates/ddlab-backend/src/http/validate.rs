//! `GET /api/v1/validate`: whether the API key is valid.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::auth::check_api_key;
use super::error::ApiError;
use crate::AppState;

pub(crate) async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    check_api_key(&state, &headers, query.as_deref())?;
    Ok(Json(json!({ "valid": true })))
}
