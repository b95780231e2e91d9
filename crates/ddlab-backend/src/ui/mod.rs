//! The web UI: server-rendered HTML pages over the store, with inline SVG charts and no JavaScript build
//! step (a few lines of plain inline script refresh live pages).
//!
//! Pages read the store directly (on the blocking pool) and reuse the API's own evaluation: the same query
//! engine, the same APM summaries, the same monitor and downtime models. Routes:
//!
//! | path | page |
//! |---|---|
//! | `/infrastructure/map` | hosts, their tags by source, checks and integrations seen |
//! | `/metric/explorer` | query box, graph, the API's JSON, metric names |
//! | `/dashboard/preview` | a dashboard JSON rendered ([`dashboard::render`] renders stored ones) |
//! | `/event/stream`, `/event/event` | events, newest first; one event |
//! | `/monitors/manage`, `/monitors/{id}`, `/monitors/downtimes` | monitors, one monitor, downtimes |
//! | `/lab/notifications`, `/lab/intake` | the notification outbox; the intake log |
//! | `/apm/services`, `/apm/services/{service}`, `/apm/trace/{id}` | APM services, one service, one trace |
//! | `/login`, `/logout` | the application-key login, when the backend listens beyond loopback |
//! | `/static/ddlab.css` | the one stylesheet |
//!
//! **Invariant:** every value from the store or the request reaches a page escaped (maud escapes every
//! interpolation; charts and markdown escape their own text).

pub(crate) mod apm;
pub(crate) mod auth;
pub(crate) mod chart;
pub(crate) mod dashboard;
pub(crate) mod dashboards;
pub(crate) mod events;
pub(crate) mod explorer;
pub(crate) mod hosts;
pub(crate) mod intake;
pub(crate) mod layout;
pub(crate) mod markdown;
pub(crate) mod monitors;
pub(crate) mod outbox;
pub(crate) mod snapshot;
pub(crate) mod timeframe;
pub(crate) mod widget;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};

use crate::AppState;
use crate::http::ApiError;

/// The UI's own state: whether pages need a login, the sessions of those who logged in, where snapshots go.
#[derive(Debug)]
pub struct Ui {
    /// Pages need the application key: the backend listens on an address other than loopback.
    pub(crate) login_required: bool,
    /// Session id → when it expires.
    sessions: Mutex<HashMap<String, Instant>>,
    /// `<state_dir>/snapshots`: graph snapshot PNGs.
    pub(crate) snapshot_dir: PathBuf,
}

impl Ui {
    pub(crate) fn new(listen: std::net::SocketAddr, state_dir: &std::path::Path) -> Ui {
        Ui {
            login_required: !listen.ip().is_loopback(),
            sessions: Mutex::new(HashMap::new()),
            snapshot_dir: state_dir.join(snapshot::SNAPSHOT_DIR),
        }
    }
}

/// The UI's routes: pages behind [`auth::session`], and what never needs a login (the login form, the
/// stylesheet, snapshot PNGs).
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/infrastructure/map") }))
        .route("/infrastructure/map", get(hosts::page))
        .route("/metric/explorer", get(explorer::page))
        .route("/dashboard/preview", get(dashboard::preview))
        .route("/dashboard/lists", get(dashboards::list))
        .route("/dashboard/{id}", get(dashboards::one))
        .route("/dashboard/{id}/{slug}", get(dashboards::one))
        .route("/event/stream", get(events::stream))
        .route("/event/event", get(events::one))
        .route("/monitors/manage", get(monitors::list))
        .route("/monitors/downtimes", get(monitors::downtimes))
        .route("/monitors/{id}", get(monitors::one))
        .route("/lab/notifications", get(outbox::page))
        .route("/lab/intake", get(intake::page))
        .route("/apm/services", get(apm::services))
        .route("/apm/services/{service}", get(apm::service))
        .route("/apm/trace/{trace_id}", get(apm::trace))
        .route("/logout", axum::routing::post(auth::logout))
        .route_layer(from_fn_with_state(state.clone(), auth::session));
    Router::new()
        .merge(pages)
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/static/ddlab.css", get(stylesheet))
        .route("/snapshot/view/{*path}", get(snapshot::view))
        .route("/sb/{token}", get(dashboards::public))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        layout::STYLESHEET,
    )
        .into_response()
}

/// A page that could not be shown, answered as a small HTML page.
#[derive(Debug)]
pub(crate) enum PageError {
    BadRequest(String),
    NotFound(String),
    Internal(anyhow::Error),
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::BadRequest(m) | ApiError::PayloadTooLarge(m) => PageError::BadRequest(m),
            ApiError::NotFound(m) => PageError::NotFound(m),
            ApiError::Forbidden(m) => PageError::BadRequest(m.to_owned()),
            ApiError::Internal(err) => PageError::Internal(err),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "A page failed inside the backend.");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong inside the backend; its log says what.".to_owned(),
                )
            }
        };
        let body = html! {
            div.empty {
                h2 { (status.canonical_reason().unwrap_or("Error")) }
                p { (message) }
                p { a href="/" { "Back to the lab" } }
            }
        };
        let page = layout::bare(status.canonical_reason().unwrap_or("Error"), body);
        (status, page).into_response()
    }
}

/// A link to `path` with query parameters.
pub(crate) fn href(path: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return path.to_owned();
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish();
    format!("{path}?{query}")
}

/// Pages are drawn in the backend machine's time zone: the lab runs where its user is.
pub(crate) fn viewer_tz() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::system()
}

/// `at` (epoch seconds) for people: `Nov 14 22:13:20`.
pub(crate) fn when(at: i64) -> String {
    chart::format_time(at, &viewer_tz(), "%b %-d %H:%M:%S")
}

/// How long ago `at` was, for people: `12s ago`, `5 min ago`, `3 h ago`, `2 days ago`.
pub(crate) fn ago(at: i64, now: i64) -> String {
    let seconds = now - at;
    match seconds {
        s if s < 0 => "in the future".to_owned(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// A state badge (`OK`, `Alert`, `sent`, ...), coloured by what it means.
pub(crate) fn badge(text: &str) -> Markup {
    let tone = match text.to_ascii_lowercase().as_str() {
        "ok" | "sent" | "active" | "up" | "200" | "202" => "ok",
        "warn" | "warning" | "retrying" | "scheduled" => "warn",
        "alert" | "error" | "failed" | "critical" => "alert",
        "no data" | "ended" | "canceled" | "recorded" | "down" => "muted",
        _ => "info",
    };
    html! { span class={"badge " (tone)} { (text) } }
}

#[cfg(test)]
mod tests;
