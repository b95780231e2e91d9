//! Key checks as Datadog does them: intake needs the API key; everything else the API and application key.
//!
//! Keys come in the `DD-API-KEY` / `DD-APPLICATION-KEY` headers or the legacy `api_key` /
//! `application_key` query parameters. Extra keys are never rejected.

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
    check_api_key(&state, request.headers(), request.uri().query())?;
    Ok(next.run(request).await)
}

/// Layer for every other route: a valid API key and a valid application key.
pub(crate) async fn api_and_app_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_api_key(&state, request.headers(), request.uri().query())?;
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

pub(crate) fn check_api_key(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(), ApiError> {
    match key(headers, query, "dd-api-key", "api_key") {
        None => Err(ApiError::Forbidden("API key required")),
        Some(key) if state.keys.api_key.matches(&key) => Ok(()),
        Some(_) => Err(ApiError::Forbidden("Forbidden")),
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
