//! The HTTP surface: Datadog's API routes, grouped by the keys they need, and the test-mode admin routes.

mod admin;
mod alerting;
mod apm;
mod auth;
// Dashboards, legacy timeboards and screenboards, share links, dashboard lists (issue 4, API half).
mod dashboards;
mod ddlab;
mod downtimes;
mod error;
mod events;
mod hosts;
mod intake;
mod metrics;
mod monitors;
pub(crate) mod query;
mod snapshot;
mod validate;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use ddlab_store::{Store, StoreError};

pub use error::ApiError;
pub(crate) use monitors::{CREATOR_HANDLE, ORG_ID};

use crate::AppState;

/// The backend's whole router.
pub fn router(state: AppState) -> Router {
    let intake_routes = Router::new()
        .route("/api/v1/series", post(intake::series_v1))
        .route("/api/v2/series", post(intake::series_v2))
        .route("/api/beta/sketches", post(intake::sketches))
        .route("/api/v1/check_run", post(events::post_check_run))
        .route("/intake/", post(intake::intake))
        .route("/api/v0.2/traces", post(apm::intake_traces))
        .route("/api/v0.2/stats", post(apm::intake_stats))
        .route_layer(from_fn_with_state(state.clone(), auth::api_key));
    // Posting an event needs only the API key; reading events needs both, so the route is split by method.
    let post_events = Router::new()
        .route("/api/v1/events", post(events::post_event))
        .route_layer(from_fn_with_state(state.clone(), auth::api_key));
    let api = Router::new()
        .route("/api/v1/query", get(query::query_v1))
        .route("/api/v2/query/timeseries", post(query::query_timeseries))
        .route("/api/v1/events", get(events::list_events))
        .route("/api/v1/events/{id}", get(events::get_event))
        .route("/api/v1/metrics", get(metrics::list_metrics))
        .route(
            "/api/v1/metrics/{name}",
            get(metrics::get_metadata).put(metrics::update_metadata),
        )
        .route("/api/v1/search", get(hosts::search))
        .route("/api/v1/hosts", get(hosts::list_hosts))
        .route("/api/v1/hosts/totals", get(hosts::totals))
        .route("/api/v1/tags/hosts", get(hosts::all_tags))
        .route(
            "/api/v1/tags/hosts/{host}",
            get(hosts::host_tags)
                .post(hosts::add_host_tags)
                .put(hosts::replace_host_tags)
                .delete(hosts::delete_host_tags),
        )
        .route("/api/v2/spans/events/search", post(apm::search_spans))
        .route("/api/v2/spans/events", get(apm::list_spans))
        .route("/ddlab/intake", get(ddlab::intake_log))
        .merge(alerting_routes())
        // Dashboards: one block, kept apart from the UI routes.
        .merge(dashboards::routes())
        .route("/ddlab/apm/services", get(apm::services))
        .route("/ddlab/apm/services/{service}/resources", get(apm::resources))
        .route("/ddlab/apm/traces/{trace_id}", get(apm::trace))
        .route_layer(from_fn_with_state(state.clone(), auth::api_and_app_key));
    let mut app = Router::new()
        .route("/api/v1/validate", get(validate::validate))
        .merge(intake_routes)
        .merge(post_events)
        .merge(api);
    // ---- Web UI and graph snapshots (`crate::ui`, `snapshot.rs`) ----
    // Snapshot creation and status need both keys; the PNGs and the pages are the UI's (its own login).
    let snapshots = Router::new()
        .route("/api/v1/graph/snapshot", get(snapshot::create))
        .route("/api/v1/graph/snapshot_status/{*path}", get(snapshot::status))
        .route_layer(from_fn_with_state(state.clone(), auth::api_and_app_key));
    app = app.merge(snapshots).merge(crate::ui::routes(&state));
    // ---- end of the web UI block ----
    if state.test_mode {
        let admin = Router::new()
            .route("/ddlab/test/clock", get(admin::get_clock).post(admin::set_clock))
            .route("/ddlab/test/monitors/evaluate", post(alerting::evaluate))
            .route("/ddlab/test/notifications/deliver", post(alerting::deliver))
            .route_layer(from_fn_with_state(state.clone(), auth::api_and_app_key));
        app = app.merge(admin);
    }
    app.fallback(unknown_route).with_state(state)
}

/// Monitors, downtimes and the notification outbox (API and application key).
fn alerting_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/monitor", get(monitors::list).post(monitors::create))
        .route("/api/v1/monitor/validate", post(monitors::validate))
        .route("/api/v1/monitor/can_delete", get(monitors::can_delete))
        .route("/api/v1/monitor/search", get(monitors::search))
        .route("/api/v1/monitor/groups/search", get(monitors::group_search))
        .route("/api/v1/monitor/mute_all", post(downtimes::mute_all))
        .route("/api/v1/monitor/unmute_all", post(downtimes::unmute_all))
        .route(
            "/api/v1/monitor/{id}",
            get(monitors::get).put(monitors::update).delete(monitors::delete),
        )
        .route("/api/v1/monitor/{id}/validate", post(monitors::validate_existing))
        .route("/api/v1/monitor/{id}/mute", post(monitors::mute))
        .route("/api/v1/monitor/{id}/unmute", post(monitors::unmute))
        .route("/api/v1/monitor/{id}/downtimes", get(monitors::downtimes_v1))
        .route(
            "/api/v2/monitor/{id}/downtime_matches",
            get(monitors::downtime_matches),
        )
        .route(
            "/api/v1/downtime",
            get(downtimes::list_v1).post(downtimes::create_v1),
        )
        .route(
            "/api/v1/downtime/cancel/by_scope",
            post(downtimes::cancel_by_scope),
        )
        .route(
            "/api/v1/downtime/{id}",
            get(downtimes::get_v1)
                .put(downtimes::update_v1)
                .delete(downtimes::delete_v1),
        )
        .route(
            "/api/v2/downtime",
            get(downtimes::list_v2).post(downtimes::create_v2),
        )
        .route(
            "/api/v2/downtime/{id}",
            get(downtimes::get_v2)
                .patch(downtimes::patch_v2)
                .delete(downtimes::delete_v2),
        )
        .route("/ddlab/notifications", get(alerting::notifications))
}

/// Runs a store call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = std::sync::Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || call(&store))
        .await
        .map_err(|err| ApiError::Internal(anyhow::anyhow!("store task failed: {err}")))?
        .map_err(ApiError::from)
}

/// A required epoch-seconds parameter (integers or decimals, as clients send them).
pub(crate) fn epoch_param(
    params: &std::collections::HashMap<String, String>,
    name: &str,
) -> Result<i64, ApiError> {
    let text = params
        .get(name)
        .ok_or_else(|| ApiError::BadRequest(format!("The '{name}' parameter is required")))?;
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v as i64)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "The '{name}' parameter must be epoch seconds, got {text:?}"
            ))
        })
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
mod alerting_tests;
#[cfg(test)]
mod tests;
