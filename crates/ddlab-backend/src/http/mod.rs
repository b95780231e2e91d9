//! The HTTP surface: Datadog's API routes, grouped by the keys they need, and the test-mode admin routes.

mod admin;
mod auth;
mod error;
mod intake;
mod query;
mod validate;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::AppState;

/// The backend's whole router.
pub fn router(state: AppState) -> Router {
    let intake_routes = Router::new()
        .route("/api/v1/series", post(intake::series_v1))
        .route("/api/v2/series", post(intake::series_v2))
        .route("/api/beta/sketches", post(intake::sketches))
        .route("/intake/", post(intake::intake))
        .route_layer(from_fn_with_state(state.clone(), auth::api_key));
    let api = Router::new()
        .route("/api/v1/query", get(query::query_v1))
        .route_layer(from_fn_with_state(state.clone(), auth::api_and_app_key));
    let mut app = Router::new()
        .route("/api/v1/validate", get(validate::validate))
        .merge(intake_routes)
        .merge(api);
    if state.test_mode {
        let admin = Router::new()
            .route("/ddlab/test/clock", get(admin::get_clock).post(admin::set_clock))
            .route_layer(from_fn_with_state(state.clone(), auth::api_and_app_key));
        app = app.merge(admin);
    }
    app.fallback(unknown_route).with_state(state)
}

/// Unknown routes are logged, so a client calling something the lab lacks shows up in the log.
async fn unknown_route(uri: Uri) -> (StatusCode, axum::Json<serde_json::Value>) {
    tracing::warn!(
        path = uri.path(),
        "Request for a route the backend does not serve."
    );
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({ "errors": ["Not Found"] })),
    )
}

#[cfg(test)]
mod tests;
