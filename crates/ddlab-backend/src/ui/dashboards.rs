//! The dashboards of the store in the UI: the dashboard list, one dashboard, and the public page of a
//! share link (`/sb/{token}`), which needs no login and shows only that dashboard, read-only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use ddlab_store::DashboardFilter;
use maud::html;

use super::dashboard::{DashboardView, render};
use super::layout::{self, Section, Shell};
use super::{PageError, ago};
use crate::AppState;
use crate::http::blocking;

/// `GET /dashboard/lists`: every live dashboard, newest change first.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let mut boards = blocking(&state, |store| store.dashboards(DashboardFilter::default())).await?;
    boards.sort_by_key(|board| std::cmp::Reverse(board.modified));
    let now = state.clock.now();
    let body = html! {
        @if boards.is_empty() {
            div.card.empty {
                p { "No dashboards yet." }
                p {
                    "Create one through the API (" code { "POST /api/v1/dashboard" } ", or your solution's "
                    code { "api/apply.py" } "), or try a dashboard's JSON in the "
                    a href="/dashboard/preview" { "preview" } "."
                }
            }
        } @else {
            div.card {
                table {
                    thead { tr { th { "Title" } th { "Layout" } th { "Widgets" } th { "Modified" } } }
                    tbody {
                        @for board in &boards {
                            tr {
                                td { a href=(format!("/dashboard/{}", board.id)) { (board.title) } }
                                td { (if board.layout_type == "free" { "screenboard (free)" } else { "timeboard (ordered)" }) }
                                td { (board.dashboard["widgets"].as_array().map_or(0, Vec::len)) }
                                td { (ago(board.modified / 1000, now)) }
                            }
                        }
                    }
                }
                p.muted { "Or try a dashboard's JSON in the " a href="/dashboard/preview" { "preview" } "." }
            }
        }
    };
    let shell = Shell {
        title: "Dashboards".to_owned(),
        section: Section::Dashboards,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

/// `GET /dashboard/{id}` and `/dashboard/{id}/{slug}`: one dashboard over the chosen time frame.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(path): Path<HashMap<String, String>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let id = path.get("id").cloned().unwrap_or_default();
    let lookup = id.clone();
    let dashboard = blocking(&state, move |store| store.dashboard_json(&lookup))
        .await?
        .ok_or_else(|| PageError::NotFound(format!("Dashboard {id} not found")))?;
    let view = DashboardView {
        path: format!("/dashboard/{id}"),
        params,
        ..DashboardView::default()
    };
    render(&state, &dashboard, &view).await
}

/// `GET /sb/{token}`: a shared dashboard, without keys or login. A revoked, paused or expired share,
/// and one whose dashboard was deleted, is not found.
pub(crate) async fn public(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let lookup = token.clone();
    let not_found =
        || PageError::NotFound("This shared dashboard does not exist or is no longer shared.".to_owned());
    let (share, dashboard) = blocking(&state, move |store| store.shared_dashboard(&lookup))
        .await?
        .ok_or_else(not_found)?;
    if share.share["status"].as_str() == Some("paused")
        || expired(&share.share["expiration"], state.clock.now())
    {
        return Err(not_found());
    }
    let view = DashboardView {
        path: format!("/sb/{token}"),
        params,
        public: true,
        default_span: share.share["global_time"]["live_span"]
            .as_str()
            .map(str::to_owned),
        ..DashboardView::default()
    };
    render(&state, &dashboard, &view).await
}

/// Whether a share's `expiration` (epoch milliseconds or an RFC 3339 time) has passed at `now` (seconds).
fn expired(expiration: &serde_json::Value, now: i64) -> bool {
    let at = match expiration {
        serde_json::Value::Number(ms) => ms.as_f64().map(|ms| (ms / 1000.0) as i64),
        serde_json::Value::String(text) => text.parse::<jiff::Timestamp>().ok().map(|t| t.as_second()),
        _ => None,
    };
    at.is_some_and(|at| at <= now)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::expired;

    #[test]
    fn expiration_in_milliseconds_or_rfc3339() {
        assert!(!expired(&json!(null), 100));
        assert!(expired(&json!(99_000), 100));
        assert!(!expired(&json!(101_000), 100));
        assert!(expired(&json!("1970-01-01T00:01:00Z"), 100));
        assert!(!expired(&json!("2100-01-01T00:00:00+00:00"), 100));
    }
}
