//! The event stream (newest first, filtered by priority, source and text) and the page of one event.
//!
//! Event texts are shown safely: Datadog's `%%% ... %%%` markdown is rendered with raw HTML escaped, plain
//! text is escaped with its URLs as links, and a graph snapshot URL of this lab is shown as its picture.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::response::Html;
use ddlab_store::{EventFilter, StoredEvent};
use maud::{Markup, PreEscaped, html};

use super::layout::{self, Picker, Section, Shell};
use super::markdown::{linkify, markdown, urls};
use super::timeframe::Timeframe;
use super::{PageError, href, when};
use crate::AppState;
use crate::http::blocking;

const PAGE: usize = 200;

/// `GET /event/stream[?live_span=1d&priority=normal|low&source=...&q=words]`.
pub(crate) async fn stream(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let frame = Timeframe::from_params(&params, now, "1d").map_err(PageError::BadRequest)?;
    let priority = params
        .get("priority")
        .filter(|p| matches!(p.as_str(), "normal" | "low"))
        .cloned();
    let source = params.get("source").filter(|s| !s.is_empty()).cloned();
    let words: Vec<String> = params
        .get("q")
        .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
        .unwrap_or_default();
    let filter = EventFilter {
        start: frame.from,
        end: frame.to,
        priority: priority.clone(),
        sources: source.iter().cloned().collect(),
        tags: Vec::new(),
        limit: PAGE,
    };
    let all = EventFilter {
        priority: None,
        sources: Vec::new(),
        ..filter.clone()
    };
    let (events, sources) = blocking(&state, move |store| {
        let events = store.events(&filter)?;
        let sources: BTreeSet<String> = store
            .events(&all)?
            .into_iter()
            .filter_map(|e| e.event.source_type_name)
            .collect();
        Ok((events, sources))
    })
    .await?;
    let shown: Vec<&StoredEvent> = events
        .iter()
        .filter(|e| {
            let haystack = format!("{} {}", e.event.title, e.event.text).to_lowercase();
            words.iter().all(|w| haystack.contains(w))
        })
        .collect();
    let q = params.get("q").cloned().unwrap_or_default();
    let mut keep: Vec<(String, String)> = Vec::new();
    for (key, value) in [("priority", &priority), ("source", &source)] {
        if let Some(value) = value {
            keep.push((key.to_owned(), value.clone()));
        }
    }
    if !q.is_empty() {
        keep.push(("q".to_owned(), q.clone()));
    }
    let link = |key: &str, value: Option<&str>| -> String {
        let mut params: Vec<(String, String)> = keep.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(value) = value {
            params.push((key.to_owned(), value.to_owned()));
        }
        params.extend(frame.params());
        href("/event/stream", &params)
    };
    let body = html! {
        div.filters {
            span.muted.small { "Priority" }
            a.chip.on[priority.is_none()] href=(link("priority", None)) { "all" }
            @for p in ["normal", "low"] {
                a.chip.on[priority.as_deref() == Some(p)] href=(link("priority", Some(p))) { (p) }
            }
            span.muted.small style="margin-left:12px" { "Source" }
            a.chip.on[source.is_none()] href=(link("source", None)) { "all" }
            @for s in &sources {
                a.chip.on[source.as_deref() == Some(s.as_str())] href=(link("source", Some(s))) { (s) }
            }
            form.inline method="get" action="/event/stream" style="margin-left:auto" {
                @for (key, value) in keep.iter().filter(|(k, _)| k != "q").cloned().chain(frame.params()) {
                    input type="hidden" name=(key) value=(value);
                }
                input type="text" name="q" value=(q) placeholder="Search titles and texts";
            }
        }
        @if shown.is_empty() {
            (layout::empty("No events in this time frame", html! {
                "Events come from the agent, from monitors changing state, and from the API: "
                code { "dog event post \"Deploy\" \"Rolled out, @you@example.com\"" } "."
            }))
        } @else {
            p.muted.small { (shown.len()) " events, newest first" @if events.len() == PAGE { " (the newest " (PAGE) " only)" } }
            @for event in &shown { div.card { (event_html(event, &state.app_url, true)) } }
        }
    };
    let shell = Shell {
        title: "Events".to_owned(),
        section: Section::Events,
        login_required: state.ui.login_required,
        picker: Some(Picker {
            path: "/event/stream".to_owned(),
            frame,
            keep,
        }),
    };
    Ok(layout::page(&shell, body))
}

/// `GET /event/event?id=N`: the link the events API answers with.
pub(crate) async fn one(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let id: i64 = params
        .get("id")
        .and_then(|id| id.trim().parse().ok())
        .ok_or_else(|| PageError::BadRequest("id must be an event id, like ?id=42".to_owned()))?;
    let event = blocking(&state, move |store| store.event(id))
        .await?
        .ok_or_else(|| PageError::NotFound(format!("There is no event {id}.")))?;
    let body = html! {
        div.card { (event_html(&event, &state.app_url, false)) }
        p { a href="/event/stream" { "← All events" } }
    };
    let shell = Shell {
        title: format!("Event {id}"),
        section: Section::Events,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

/// One event: title, when, where from, tags, its text and the snapshots it links to.
pub(crate) fn event_html(stored: &StoredEvent, app_url: &str, link_title: bool) -> Markup {
    let e = &stored.event;
    let (text_html, is_markdown) = match e
        .text
        .trim()
        .strip_prefix("%%%")
        .and_then(|t| t.strip_suffix("%%%"))
    {
        Some(inner) => (markdown(inner.trim()), true),
        None => (linkify(&e.text), false),
    };
    let snapshot_prefix = format!("{app_url}/snapshot/view/");
    let snapshots: Vec<String> = urls(&e.text)
        .into_iter()
        .filter_map(|u| {
            u.strip_prefix(&snapshot_prefix)
                .map(|rest| format!("/snapshot/view/{rest}"))
        })
        .filter(|path| path.ends_with(".png"))
        .collect();
    html! {
        div class={"event " (e.alert_type)} {
            div.bar {}
            div.event-main {
                div.event-title {
                    @if link_title { a href={"/event/event?id=" (stored.id)} { (e.title) } } @else { (e.title) }
                }
                div.event-meta {
                    span { (when(e.date_happened)) }
                    span { (e.alert_type) }
                    span { "priority " (e.priority) }
                    @if let Some(source) = &e.source_type_name { span { "source " (source) } }
                    @if let Some(host) = &e.host { span { "host " a href={"/infrastructure/map?filter=" (host)} { (host) } } }
                }
                @if !e.text.is_empty() {
                    div class={"event-text" @if is_markdown { " md" }} { (PreEscaped(text_html)) }
                }
                @for path in &snapshots {
                    div.snapshot-preview { a href=(path) { img src=(path) alt="Graph snapshot" loading="lazy"; } }
                }
                @if !e.tags.is_empty() {
                    div.tags style="margin-top:6px" { @for tag in &e.tags { span.tag { (tag) } } }
                }
            }
        }
    }
}
