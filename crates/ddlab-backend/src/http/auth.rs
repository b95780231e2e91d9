//! Key checks as Datadog does them: intake needs the API key; everything else the API and application key.
//!
//! Keys come in the `DD-API-KEY` / `DD-APPLICATION-KEY` headers or the legacy `api_key` /
//! `application_key` query parameters. Extra keys are never rejected. A refusal is Datadog's
//! `403 {"errors": ["Forbidden"]}` whether a key is missing or wrong; only `/api/v1/validate` says
//! `API key required` when none was sent (reference/datadog-api.md §1.2).

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use super::error::ApiError;
use crate::AppState;

/// Layer for intake routes: a valid API key.
pub(crate) async fn api_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if api_key_state(&state, request.headers(), request.uri().query()) != KeyState::Valid {
        return Err(ApiError::Forbidden("Forbidden"));
    }
    Ok(next.run(request).await)
}

/// Layer for every other route: a valid API key and a valid application key.
pub(crate) async fn api_and_app_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if api_key_state(&state, request.headers(), request.uri().query()) != KeyState::Valid {
        return Err(ApiError::Forbidden("Forbidden"));
    }
    let app = key(
        request.headers(),
        request.uri().query(),
        "dd-application-key",
        "application_key",
    );
    match app {
        Some(key) if state.keys.app_key.matches(&key) => Ok(next.run(request).await),
        _ => Err(ApiError::Forbidden("Forbidden")),
    }
}

/// `GET /api/v1/validate`'s check, which alone tells a missing API key from a wrong one.
pub(crate) fn check_api_key(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), ApiError> {
    match api_key_state(state, headers, query) {
        KeyState::Missing => Err(ApiError::Forbidden("API key required")),
        KeyState::Wrong => Err(ApiError::Forbidden("Forbidden")),
        KeyState::Valid => Ok(()),
    }
}

/// What a request's API key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Missing,
    Wrong,
    Valid,
}

fn api_key_state(state: &AppState, headers: &HeaderMap, query: Option<&str>) -> KeyState {
    match key(headers, query, "dd-api-key", "api_key") {
        None => KeyState::Missing,
        Some(key) if state.keys.api_key.matches(&key) => KeyState::Valid,
        Some(_) => KeyState::Wrong,
    }
}

fn key(headers: &HeaderMap, query: Option<&str>, header: &str, param: &str) -> Option<String> {
    if let Some(value) = headers.get(header).and_then(|v| v.to_str().ok()) {
        return Some(value.trim().to_owned());
    }
    query?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == param).then(|| value.trim().to_owned())
    })
}
