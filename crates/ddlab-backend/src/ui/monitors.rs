//! Monitors and downtimes: the monitor list with states, one monitor (its query graphed with its
//! thresholds, the state of each group, the state history, the notifications it sent), and the downtimes
//! with their next occurrences in their own time zone.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::response::Html;
use ddlab_store::{GroupRow, HistoryRow, MonitorRecord, Notification};
use maud::{Markup, PreEscaped, html};
use serde_json::{Value, json};

use super::chart::{self, Marker, Size, Tone};
use super::layout::{self, Picker, Section, Shell};
use super::markdown::linkify;
use super::timeframe::Timeframe;
use super::widget::{self, Body, Frame};
use super::{PageError, ago, badge, viewer_tz, when};
use crate::AppState;
use crate::alerting::model::DowntimeDef;
use crate::alerting::pass::StoredGroup;
use crate::http::blocking;

/// `GET /monitors/manage`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let (monitors, groups) = blocking(&state, |store| {
        Ok((store.monitors()?, store.all_monitor_groups()?))
    })
    .await?;
    let mut by_monitor: HashMap<i64, Vec<&GroupRow>> = HashMap::new();
    for (id, group) in &groups {
        by_monitor.entry(*id).or_default().push(group);
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &monitors {
        *counts.entry(m.overall_state.clone()).or_default() += 1;
    }
    let body = html! {
        @if monitors.is_empty() {
            (layout::empty("No monitors yet", html! {
                "Create one through the API (" code { "POST /api/v1/monitor" } "), for example the reference "
                code { "fixtures/solution/api/monitor.json" } " with " code { "dog monitor post" } "."
            }))
        } @else {
            div.stats {
                div.stat { b { (monitors.len()) } span { "monitors" } }
                @for (state_name, count) in &counts {
                    div.stat { b { (count) } span { (badge(state_name)) } }
                }
            }
            div.card {
                table.list {
                    thead { tr { th { "Status" } th { "Monitor" } th { "Query" } th { "Groups" } th { "Tags" } th { "Evaluated" } } }
                    tbody {
                        @for m in &monitors {
                            @let groups = by_monitor.get(&m.id).map_or(&[][..], Vec::as_slice);
                            tr {
                                td { (badge(&m.overall_state)) }
                                td { a href={"/monitors/" (m.id)} { (text(&m.definition, "name")) } div.muted.small { (text(&m.definition, "type")) " · id " (m.id) } }
                                td.mono.small { (text(&m.definition, "query")) }
                                td { (group_summary(groups)) }
                                td { div.tags { @for tag in tags(&m.definition) { span.tag { (tag) } } } }
                                td.small.muted { @match m.last_evaluated { Some(at) => (ago(at, now)), None => "not yet" } }
                            }
                        }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: "Monitors".to_owned(),
        section: Section::Monitors,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

fn group_summary(groups: &[&GroupRow]) -> Markup {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for g in groups {
        *counts.entry(g.status.as_str()).or_default() += 1;
    }
    html! {
        @if counts.is_empty() { span.muted.small { "none yet" } }
        @for (status, count) in &counts { span { (count) " " (badge(status)) " " } }
    }
}

fn text(definition: &Value, key: &str) -> String {
    definition[key].as_str().unwrap_or_default().to_owned()
}

fn tags(definition: &Value) -> Vec<String> {
    definition["tags"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `GET /monitors/{id}[?live_span=4h]`.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let id: i64 = id
        .parse()
        .map_err(|_| PageError::NotFound(format!("There is no monitor {id:?}.")))?;
    let now = state.clock.now();
    let frame = Timeframe::from_params(&params, now, "4h").map_err(PageError::BadRequest)?;
    let (from, to) = (frame.from, frame.to);
    let loaded = blocking(&state, move |store| {
        let Some(record) = store.monitor(id)? else {
            return Ok(None);
        };
        let groups = store.monitor_groups(id)?;
        let history = store.monitor_history(id, 100)?;
        let notifications: Vec<Notification> = store
            .notifications(1000)?
            .into_iter()
            .filter(|n| n.notification.origin == "monitor" && n.notification.origin_id == Some(id))
            .collect();
        let graph = graph(store, &record, from, to, now);
        Ok(Some((record, groups, history, notifications, graph)))
    })
    .await?;
    let (record, groups, history, notifications, graph) =
        loaded.ok_or_else(|| PageError::NotFound(format!("There is no monitor {id}.")))?;
    let d = &record.definition;
    let tz = viewer_tz();
    let options = &d["options"];
    let body = html! {
        div.card {
            div.card-head {
                div {
                    div { (badge(&record.overall_state)) " "
                    span.muted.small { (text(d, "type")) " · id " (record.id)
                        @if let Some(at) = record.last_evaluated { " · evaluated " (ago(at, now)) } } }
                }
                div.tags { @for tag in tags(d) { span.tag { (tag) } } }
            }
            p.mono { (text(d, "query")) }
            dl.facts {
                dt { "Thresholds" } dd { (thresholds_text(options)) }
                dt { "No data" } dd {
                    @if options["notify_no_data"].as_bool() == Some(true) {
                        "notifies after " (options["no_data_timeframe"].as_i64().map_or("2× the window".to_owned(), |m| format!("{m} minutes")))
                    } @else { "does not notify" }
                }
                @if let Some(renotify) = options["renotify_interval"].as_i64().filter(|r| *r > 0) {
                    dt { "Renotify" } dd { "every " (renotify) " minutes" }
                }
            }
        }
        div.card {
            div.card-head { h3 { "Query over the time frame, with thresholds" } }
            @match &graph {
                Some(Ok(chart)) => (PreEscaped(chart::timeseries(chart, Size { width: 1080.0, height: 280.0 }, &tz))),
                Some(Err(message)) => div.error-box { (message) },
                None => p.muted { "This monitor's query has no metric expression to graph." },
            }
        }
        div.row {
            div.card {
                h3 { "Groups" }
                @if groups.is_empty() { p.muted { "No group has been evaluated yet." } } @else {
                    table.list {
                        thead { tr { th { "Group" } th { "Status" } th.num { "Value" } th { "Last triggered" } } }
                        tbody { @for g in &groups { (group_row(g)) } }
                    }
                }
            }
            div.card {
                h3 { "Message" }
                pre style="white-space:pre-wrap" { (PreEscaped(linkify(&text(d, "message")))) }
            }
        }
        div.card {
            h3 { "State history" }
            @if history.is_empty() { p.muted { "No transitions yet." } } @else {
                table.list {
                    thead { tr { th { "When" } th { "Group" } th { "Transition" } th.num { "Value" } th { "Notified" } } }
                    tbody { @for h in &history { (history_row(h)) } }
                }
            }
        }
        div.card {
            h3 { "Notifications sent" }
            @if notifications.is_empty() { p.muted { "None: mention a handle such as " code { "@you@example.com" } " in the message to be notified." } } @else {
                table.list {
                    thead { tr { th { "When" } th { "To" } th { "Subject" } th { "Delivery" } } }
                    tbody {
                        @for n in &notifications {
                            tr {
                                td.small { (when(n.created_at)) }
                                td.mono.small { "@" (n.notification.handle) }
                                td { (n.notification.subject) }
                                td { (badge(&n.state)) @if let Some(detail) = &n.detail { div.muted.small { (detail) } } }
                            }
                        }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: text(d, "name"),
        section: Section::Monitors,
        login_required: state.ui.login_required,
        picker: Some(Picker {
            path: format!("/monitors/{id}"),
            frame,
            keep: Vec::new(),
        }),
    };
    Ok(layout::page(&shell, body))
}

/// The monitor's metric expression over the frame, with its thresholds as lines.
fn graph(
    store: &ddlab_store::Store,
    record: &MonitorRecord,
    from: i64,
    to: i64,
    now: i64,
) -> Option<Result<chart::Timeseries, String>> {
    let query = record.definition["query"].as_str()?;
    let parsed = match ddlab_monitor::query::MonitorQuery::parse(query) {
        Ok(parsed) => parsed,
        Err(err) => return Some(Err(format!("query: {}", err.message))),
    };
    let definition = json!({
        "type": "timeseries",
        "requests": [{ "q": parsed.expression_text, "display_type": "line" }],
    });
    let widget = widget::evaluate(
        &definition,
        &format!("monitor-{}", record.id),
        &Frame::new(store, from, to, now, HashMap::new()),
    );
    let mut chart = match widget.body {
        Body::Timeseries(chart) => chart,
        Body::Failed(message) => return Some(Err(message)),
        _ => return None,
    };
    let thresholds = &record.definition["options"]["thresholds"];
    for (key, tone, dashed, name) in [
        ("critical", Tone::Error, true, "critical"),
        ("warning", Tone::Warning, true, "warning"),
        ("critical_recovery", Tone::Ok, false, "critical recovery"),
        ("warning_recovery", Tone::Ok, false, "warning recovery"),
    ] {
        if let Some(value) = thresholds[key].as_f64() {
            chart.markers.push(Marker {
                value,
                label: format!("{name} {}", number(value)),
                tone,
                dashed,
            });
        }
    }
    Some(Ok(chart))
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn thresholds_text(options: &Value) -> String {
    let t = &options["thresholds"];
    let parts: Vec<String> = [
        "critical",
        "warning",
        "critical_recovery",
        "warning_recovery",
        "ok",
    ]
    .iter()
    .filter_map(|key| {
        t[*key]
            .as_f64()
            .map(|v| format!("{} {}", key.replace('_', " "), number(v)))
    })
    .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" · ")
    }
}

fn group_row(g: &GroupRow) -> Markup {
    let state = StoredGroup::parse(&g.state);
    let value = state.value;
    let triggered = state.last_triggered.filter(|t| *t > 0);
    html! {
        tr {
            td.mono.small { (if g.name.is_empty() || g.name == "*" { "(all)" } else { g.name.as_str() }) }
            td { (badge(&g.status)) }
            td.num { @match value { Some(v) => (format!("{v:.2}")), None => "–" } }
            td.small { @match triggered { Some(at) => (when(at)), None => span.muted { "never" } } }
        }
    }
}

fn history_row(h: &HistoryRow) -> Markup {
    html! {
        tr {
            td.small { (when(h.ts)) }
            td.mono.small { (if h.group.is_empty() || h.group == "*" { "(all)" } else { h.group.as_str() }) }
            td { @if let Some(from) = &h.from_status { (badge(from)) " → " } (badge(&h.to_status)) }
            td.num { @match h.value { Some(v) => (format!("{v:.2}")), None => "–" } }
            td { @if h.notified { "yes" } @else { span.muted { "no" } }
                @if let Some(event) = h.event_id { " · " a href={"/event/event?id=" (event)} { "event" } } }
        }
    }
}

/// `GET /monitors/downtimes`.
pub(crate) async fn downtimes(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let records = blocking(&state, |store| store.downtimes()).await?;
    let downtimes: Vec<Result<DowntimeDef, (i64, String)>> = records
        .iter()
        .map(|r| DowntimeDef::from_record(r).map_err(|e| (r.id, e)))
        .collect();
    let body = html! {
        @if downtimes.is_empty() {
            (layout::empty("No downtimes", html! {
                "Schedule one through the API (" code { "POST /api/v2/downtime" } "), for example the reference "
                code { "fixtures/solution/api/downtime-weekdays.json" } "."
            }))
        } @else {
            div.card {
                table.list {
                    thead { tr { th { "Status" } th { "Targets" } th { "Scope" } th { "Schedule" } th { "Next occurrences" } th { "Message" } } }
                    tbody {
                        @for d in &downtimes {
                            @match d {
                                Ok(d) => (downtime_row(d, now)),
                                Err((id, err)) => tr { td { (badge("error")) } td colspan="5" { "Downtime " (id) " cannot be read: " (err) } },
                            }
                        }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: "Downtimes".to_owned(),
        section: Section::Downtimes,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

fn downtime_row(d: &DowntimeDef, now: i64) -> Markup {
    let zone_name = d
        .schedule
        .zone()
        .map(|z| z.name().to_owned())
        .or_else(|| d.definition["display_timezone"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "UTC".to_owned());
    let tz = jiff::tz::TimeZone::get(&zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = |at: i64| chart::format_time(at, &tz, "%a %b %-d %H:%M");
    let scope = match d.definition.get("scope_v1") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => d.definition["scope"].as_str().unwrap_or("*").to_owned(),
    };
    let recurrences = d.schedule.recurrences();
    let occurrences = if d.canceled.is_some() {
        Vec::new()
    } else {
        d.schedule.occurrences(now, 3)
    };
    html! {
        tr {
            td { (badge(&d.status(now))) div.muted.small { "id " (d.id) } }
            td {
                @match &d.target {
                    ddlab_monitor::downtime::MonitorTarget::Id(id) => a href={"/monitors/" (id)} { (d.target_text()) },
                    _ => (d.target_text()),
                }
            }
            td.mono.small.nowrap { (scope) }
            td.small {
                @if recurrences.is_empty() { "once" }
                @for r in recurrences {
                    div.mono { (r.rrule) }
                    div.muted { "from " (r.start.strftime("%a %b %-d %Y %H:%M").to_string()) " for " (format!("{:#}", r.duration)) }
                }
                div.muted { (zone_name) }
            }
            td.small.nowrap {
                @if occurrences.is_empty() { span.muted { "none ahead" } }
                @for o in &occurrences {
                    div { (local(o.start)) " → " @match o.end { Some(end) => (local(end)), None => "no end" } }
                }
            }
            td.small { (PreEscaped(linkify(&d.message))) }
        }
    }
}
