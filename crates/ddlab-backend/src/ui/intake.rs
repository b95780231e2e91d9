//! The intake log page: the last payloads each intake route received, decoded, so a user sees exactly
//! what their agent or client sent (the data of `GET /ddlab/intake`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};
use serde_json::Value;

use super::layout::{self, Section, Shell};
use super::{PageError, badge, href, when};
use crate::AppState;
use crate::http::blocking;

/// The routes whose payloads are logged.
const ROUTES: &[&str] = &[
    "/api/v2/series",
    "/api/v1/series",
    "/api/v1/check_run",
    "/intake/",
    "/api/v1/events",
    "/api/v0.2/traces",
    "/api/v0.2/stats",
];
const LIMIT: usize = 50;

/// `GET /lab/intake[?route=/api/v2/series]`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let route = params.get("route").filter(|r| !r.is_empty()).cloned();
    let wanted = route.clone();
    let records = blocking(&state, move |store| store.intake_log(wanted.as_deref(), LIMIT)).await?;
    let body = html! {
        div.filters {
            a.chip.on[route.is_none()] href="/lab/intake" { "all routes" }
            @for r in ROUTES {
                a.chip.on[route.as_deref() == Some(*r)] href=(href("/lab/intake", &[("route".to_owned(), (*r).to_owned())])) { (r) }
            }
        }
        @if records.is_empty() {
            (layout::empty("Nothing received yet", html! {
                "Point an agent or a client at this backend (" code { "cargo xtask up" } " does it for you); "
                "each payload it sends is listed here, decoded, newest first."
            }))
        } @else {
            div.card {
                @for (i, r) in records.iter().enumerate() {
                    details.intake-row open[i == 0] {
                        summary {
                            span.small.muted.nowrap { (when(r.received_at)) }
                            span.mono.small { (r.route) }
                            (badge(&r.status.to_string()))
                            span.small.muted.summary-text { (summary(&r.summary)) }
                        }
                        pre style="margin:6px 0 10px" { (serde_json::to_string_pretty(&r.summary).unwrap_or_default()) }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: "Intake log".to_owned(),
        section: Section::Intake,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

/// One line about a payload: how many series, points, spans... it carried, or why it was refused.
fn summary(payload: &Value) -> Markup {
    if let Some(error) = payload.get("error").and_then(Value::as_str) {
        return html! { span style="color:#b3211a" { "refused: " (error) } };
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(object) = payload.as_object() {
        for (key, value) in object {
            match value {
                Value::Number(n) => parts.push(format!("{key} {n}")),
                Value::Array(list) => parts.push(format!("{key} ×{}", list.len())),
                Value::String(s) if s.len() <= 40 => parts.push(format!("{key} {s}")),
                _ => {}
            }
            if parts.len() >= 6 {
                break;
            }
        }
    } else if let Some(list) = payload.as_array() {
        parts.push(format!("{} items", list.len()));
    }
    html! { (parts.join(" · ")) }
}
