//! The pages' shell: the left navigation, the top bar with the time picker and auto-refresh, empty states,
//! and the one stylesheet (`style.css`, served at `/static/ddlab.css`).

use axum::response::Html;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::href;
use super::timeframe::{PRESETS, Timeframe};

pub(crate) const STYLESHEET: &str = include_str!("style.css");

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Hosts,
    Metrics,
    Dashboards,
    Events,
    Monitors,
    Downtimes,
    Apm,
    Notifications,
    Intake,
}

/// (section, label, path, icon path data on a 16×16 grid).
const NAV: &[(Section, &str, &str, &str)] = &[
    (
        Section::Hosts,
        "Host map",
        "/infrastructure/map",
        "M8 1.5l5.6 3.2v6.6L8 14.5l-5.6-3.2V4.7z",
    ),
    (
        Section::Metrics,
        "Metrics",
        "/metric/explorer",
        "M1.5 12.5l4-5 3 3 5.5-7",
    ),
    (
        Section::Dashboards,
        "Dashboards",
        "/dashboard/lists",
        "M2 2h5v5H2zM9 2h5v3H9zM9 7h5v7H9zM2 9h5v5H2z",
    ),
    (
        Section::Events,
        "Events",
        "/event/stream",
        "M2 3h12M2 8h12M2 13h8",
    ),
    (
        Section::Monitors,
        "Monitors",
        "/monitors/manage",
        "M8 2a4 4 0 0 1 4 4v3l1.5 2.5h-11L4 9V6a4 4 0 0 1 4-4zM6.5 13.5a1.5 1.5 0 0 0 3 0",
    ),
    (
        Section::Downtimes,
        "Downtimes",
        "/monitors/downtimes",
        "M10.5 2.5a5.5 5.5 0 1 0 3 8.8A5 5 0 0 1 10.5 2.5z",
    ),
    (Section::Apm, "APM", "/apm/services", "M1.5 4h9M4 8h10M2.5 12h6"),
    (
        Section::Notifications,
        "Notifications",
        "/lab/notifications",
        "M2 3.5h12v9H2zM2 3.5l6 5 6-5",
    ),
    (
        Section::Intake,
        "Intake log",
        "/lab/intake",
        "M2 9.5h3.5l1 2h3l1-2H14M2 9.5L4 3h8l2 6.5v3.5H2z",
    ),
];

/// What the shell shows around a page.
#[derive(Debug, Clone)]
pub(crate) struct Shell {
    pub(crate) title: String,
    pub(crate) section: Section,
    /// Show the log-out button.
    pub(crate) login_required: bool,
    pub(crate) picker: Option<Picker>,
}

/// The time picker of a page: presets link to `path` with `keep` (the page's other parameters).
#[derive(Debug, Clone)]
pub(crate) struct Picker {
    pub(crate) path: String,
    pub(crate) frame: Timeframe,
    pub(crate) keep: Vec<(String, String)>,
}

/// A full page with the navigation.
pub(crate) fn page(shell: &Shell, body: Markup) -> Html<String> {
    let content = html! {
        div.app {
            nav.sidebar {
                a.brand href="/" {
                    svg width="22" height="22" viewBox="0 0 16 16" aria-hidden="true" {
                        path d="M8 1.5l5.6 3.2v6.6L8 14.5l-5.6-3.2V4.7z" fill="#a58bf0" {}
                        path d="M5 8.5l2 2 4-4.5" fill="none" stroke="#24163f" stroke-width="1.6" {}
                    }
                    span { "ddlab" }
                }
                ul {
                    @for (section, label, path, icon) in NAV {
                        li {
                            a href=(path) class=@if *section == shell.section { "active" } {
                                svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" {
                                    path d=(icon) fill="none" stroke="currentColor" stroke-width="1.4"
                                        stroke-linejoin="round" stroke-linecap="round" {}
                                }
                                span { (label) }
                            }
                        }
                    }
                }
                div.sidebar-foot {
                    @if shell.login_required {
                        form method="post" action="/logout" {
                            button.link type="submit" { "Log out" }
                        }
                    }
                    span { "Datadog-compatible lab" }
                }
            }
            main.content {
                header.topbar {
                    h1 { (shell.title) }
                    @if let Some(picker) = &shell.picker {
                        (time_picker(picker))
                    }
                }
                (body)
            }
        }
    };
    document(
        &shell.title,
        content,
        shell.picker.as_ref().is_some_and(|p| p.frame.live.is_some()),
    )
}

/// A page without navigation: the login form, errors, public dashboards.
pub(crate) fn bare(title: &str, body: Markup) -> Html<String> {
    document(title, html! { main.bare { (body) } }, false)
}

fn document(title: &str, content: Markup, refresh: bool) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · ddlab" }
                    link rel="stylesheet" href="/static/ddlab.css";
                }
                body {
                    (content)
                    @if refresh { script { (PreEscaped(REFRESH_SCRIPT)) } }
                }
            }
        }
        .into_string(),
    )
}

/// Auto-refresh of live pages: a checkbox remembered in the browser, reloading every 30 s.
const REFRESH_SCRIPT: &str = "(function(){var box=document.getElementById('refresh');if(!box)return;\
var key='ddlab-refresh',timer;box.checked=localStorage.getItem(key)==='1';\
function arm(){clearTimeout(timer);if(box.checked)timer=setTimeout(function(){location.reload();},30000);}\
box.addEventListener('change',function(){localStorage.setItem(key,box.checked?'1':'0');arm();});arm();})();";

/// The presets of the time picker, and the auto-refresh switch when the frame is live.
pub(crate) fn time_picker(picker: &Picker) -> Markup {
    let tz = super::viewer_tz();
    let links: Vec<(&str, &str, String)> = PRESETS
        .iter()
        .map(|preset| {
            let mut params = picker.keep.clone();
            params.push(("live_span".to_owned(), preset.key.to_owned()));
            (preset.key, preset.label, href(&picker.path, &params))
        })
        .collect();
    html! {
        div.picker {
            span.frame-label title="Time frame" { (picker.frame.label(&tz)) }
            div.presets role="group" aria-label="Time frame" {
                @for (key, label, link) in &links {
                    a href=(link) class=@if picker.frame.live.as_deref() == Some(*key) { "on" } title=(label) {
                        (key)
                    }
                }
            }
            @if picker.frame.live.is_some() {
                label.refresh { input #refresh type="checkbox"; " Auto-refresh" }
            }
        }
    }
}

/// An empty state: what is missing and what to do about it.
pub(crate) fn empty(title: &str, advice: Markup) -> Markup {
    html! {
        div.empty {
            h2 { (title) }
            p { (advice) }
        }
    }
}
