//! The notification outbox: every e-mail, webhook and other handle notification the lab recorded, rendered
//! as sent, with its delivery state and attempts.

use axum::extract::State;
use axum::response::Html;
use maud::html;

use super::layout::{self, Section, Shell};
use super::{PageError, badge, when};
use crate::AppState;
use crate::http::blocking;

const LIMIT: usize = 200;

/// `GET /lab/notifications`.
pub(crate) async fn page(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let notifications = blocking(&state, |store| store.notifications(LIMIT)).await?;
    // The newest monitor notification is shown open: its rendered message is what people come to read.
    let featured = notifications
        .iter()
        .position(|n| n.notification.origin == "monitor")
        .unwrap_or(0);
    let body = html! {
        @if notifications.is_empty() {
            (layout::empty("No notifications yet", html! {
                "Mention a handle such as " code { "@you@example.com" } " or " code { "@webhook-ops" }
                " in a monitor message, a downtime message or an event text, and what it sends shows up here."
            }))
        } @else {
            p.muted.small { "The newest " (notifications.len()) ", newest first. E-mails go to the SMTP server given with "
                code { "--smtp" } ", or into the state folder's " code { "outbox/" } " as .eml files." }
            @for (i, n) in notifications.iter().enumerate() {
                div.card {
                    div.card-head {
                        div {
                            h3 { (n.notification.subject) }
                            div.muted.small {
                                "to " span.handle { "@" (n.notification.handle) } " · " (when(n.created_at)) " · from "
                                @match (n.notification.origin.as_str(), n.notification.origin_id) {
                                    ("monitor", Some(id)) => a href={"/monitors/" (id)} { "monitor " (id) },
                                    (origin, _) => (origin),
                                }
                            }
                        }
                        div {
                            (badge(&n.state))
                            span.muted.small { " " (n.attempts) " attempt" @if n.attempts != 1 { "s" } }
                        }
                    }
                    @if let Some(detail) = &n.detail { p.small.muted { (detail) } }
                    @if let Some(next) = n.next_attempt { p.small.muted { "next attempt " (when(next)) } }
                    details open[i == featured] {
                        summary.small { "Message" }
                        pre style="white-space:pre-wrap; margin-top:8px" { (n.notification.body) }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: "Notifications".to_owned(),
        section: Section::Notifications,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}
