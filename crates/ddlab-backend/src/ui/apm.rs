//! APM pages: the services (requests, errors, latency percentiles of each service's main operation), one
//! service (its resources, graphs of its trace metrics, its recent traces) and one trace as a waterfall of
//! spans with their meta and metrics.
//!
//! The numbers are the ones the `/ddlab/apm/` routes answer: both read the stored APM stats through
//! `crate::apm`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::response::Html;
use ddlab_store::{SpanField, SpanFilter, SpanMatch, SpanOrder, SpanQuery, StoredSpan, TraceStatsFilter};
use maud::{Markup, PreEscaped, html};
use serde_json::{Value, json};

use super::chart::{self, Scale, Size, Unit, palette};
use super::layout::{self, Picker, Section, Shell};
use super::timeframe::Timeframe;
use super::widget::{self, Body, Frame};
use super::{PageError, badge, href, viewer_tz, when};
use crate::AppState;
use crate::apm;
use crate::http::blocking;

/// `GET /apm/services[?live_span=1h&env=...]`.
pub(crate) async fn services(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let frame = Timeframe::from_params(&params, now, "1h").map_err(PageError::BadRequest)?;
    let env = params.get("env").filter(|e| !e.is_empty()).cloned();
    let filter = TraceStatsFilter {
        from: frame.from,
        to: frame.to,
        env: env.clone(),
        service: None,
    };
    let rows = blocking(&state, move |store| store.trace_stats(&filter)).await?;
    let services = apm::services(&rows);
    let list = services.as_array().cloned().unwrap_or_default();
    let seconds = (frame.to - frame.from).max(1) as f64;
    let body = html! {
        @if list.is_empty() {
            (layout::empty("No traced services in this time frame", html! {
                "Run the exercise's Flask app under " code { "ddtrace-run" } " against the agent ("
                code { "cargo xtask up" } " starts it with traffic), or widen the time frame."
            }))
        } @else {
            div.card {
                table.list {
                    thead { tr {
                        th { "Service" } th { "Operation" } th { "Type" } th.num { "Requests" } th.num { "Req/s" }
                        th.num { "Errors" } th.num { "Error rate" } th.num { "p50" } th.num { "p95" } th.num { "p99" }
                    } }
                    tbody {
                        @for s in &list {
                            @let service = s["service"].as_str().unwrap_or_default();
                            @let link = service_link(service, s["env"].as_str(), &frame);
                            tr {
                                td { a href=(link) { b { (service) } } @if let Some(e) = s["env"].as_str().filter(|e| !e.is_empty()) { div.muted.small { "env " (e) } } }
                                td.mono.small { (s["operation"].as_str().unwrap_or_default()) }
                                td.small { (s["type"].as_str().unwrap_or_default()) }
                                td.num { (count(&s["hits"])) }
                                td.num { (format!("{:.2}", s["hits"].as_f64().unwrap_or(0.0) / seconds)) }
                                td.num { (count(&s["errors"])) }
                                td.num { (percent(&s["error_rate"])) }
                                td.num { (latency(&s["duration"]["p50"])) }
                                td.num { (latency(&s["duration"]["p95"])) }
                                td.num { (latency(&s["duration"]["p99"])) }
                            }
                        }
                    }
                }
            }
        }
    };
    let shell = Shell {
        title: "APM services".to_owned(),
        section: Section::Apm,
        login_required: state.ui.login_required,
        picker: Some(Picker {
            path: "/apm/services".to_owned(),
            frame,
            keep: env.map(|e| vec![("env".to_owned(), e)]).unwrap_or_default(),
        }),
    };
    Ok(layout::page(&shell, body))
}

fn service_link(service: &str, env: Option<&str>, frame: &Timeframe) -> String {
    let mut params = Vec::new();
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        params.push(("env".to_owned(), env.to_owned()));
    }
    params.extend(frame.params());
    href(&format!("/apm/services/{}", path_segment(service)), &params)
}

/// A path segment with `/`, `?`, `#`, `%` and spaces escaped.
fn path_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn count(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "–".to_owned(), |v| Scale::plain().value(v, 1))
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "–".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// Seconds as `12.3 ms`.
fn latency(value: &Value) -> String {
    value.as_f64().map_or_else(
        || "–".to_owned(),
        |v| Unit::scale(Unit::new("second", None).as_ref(), v).value(v, 1),
    )
}

/// `GET /apm/services/{service}[?env=&operation=&live_span=1h]`.
pub(crate) async fn service(
    State(state): State<AppState>,
    Path(service): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let frame = Timeframe::from_params(&params, now, "1h").map_err(PageError::BadRequest)?;
    let env = params.get("env").filter(|e| !e.is_empty()).cloned();
    let wanted_operation = params.get("operation").filter(|o| !o.is_empty()).cloned();
    let (from, to) = (frame.from, frame.to);
    let name = service.clone();
    let filter_env = env.clone();
    let loaded = blocking(&state, move |store| {
        let rows = store.trace_stats(&TraceStatsFilter {
            from,
            to,
            env: filter_env.clone(),
            service: Some(name.clone()),
        })?;
        let Some(operation) = wanted_operation.or_else(|| apm::main_operation(&rows)) else {
            return Ok(None);
        };
        let resources = apm::resources(&rows, &operation);
        let scope = match &filter_env {
            Some(env) => format!("service:{name},env:{env}"),
            None => format!("service:{name}"),
        };
        let frame = Frame::new(store, from, to, now, HashMap::new());
        let charts: Vec<(String, widget::Widget)> = graphs(&operation, &scope)
            .into_iter()
            .enumerate()
            .map(|(i, (title, definition))| {
                (title, widget::evaluate(&definition, &format!("apm{i}"), &frame))
            })
            .collect();
        let mut filters = vec![
            SpanFilter::Field(SpanField::Service, SpanMatch::Equals(name.clone())),
            SpanFilter::Field(SpanField::Name, SpanMatch::Equals(operation.clone())),
        ];
        if let Some(env) = &filter_env {
            filters.push(SpanFilter::Field(SpanField::Env, SpanMatch::Equals(env.clone())));
        }
        let traces = store.search_spans(&SpanQuery {
            filter: SpanFilter::And(filters),
            from: from.saturating_mul(1_000_000_000),
            to: to.saturating_mul(1_000_000_000).saturating_add(999_999_999),
            order: SpanOrder::Newest,
            after: None,
            limit: 25,
        })?;
        Ok(Some((operation, resources, charts, traces.spans)))
    })
    .await?;
    let tz = viewer_tz();
    let body = match &loaded {
        None => layout::empty(
            "No traces for this service in this time frame",
            html! {
                "Send some requests to it, or widen the time frame. " a href="/apm/services" { "All services" }
            },
        ),
        Some((operation, resources, charts, traces)) => html! {
            p.muted { "Operation " code { (operation) } @if let Some(env) = &env { " · env " code { (env) } } }
            div.grid {
                @for (title, w) in charts {
                    div.widget style="grid-column: span 4" {
                        div.widget-title { (title) }
                        div.widget-body {
                            @match &w.body {
                                Body::Timeseries(t) => (PreEscaped(chart::timeseries(t, Size { width: 340.0, height: 200.0 }, &tz))),
                                Body::Failed(message) => div.error-box { (message) },
                                _ => {}
                            }
                        }
                    }
                }
            }
            div.card style="margin-top:16px" {
                h3 { "Resources" }
                table.list {
                    thead { tr { th { "Resource" } th.num { "Requests" } th.num { "Errors" } th.num { "Error rate" } th.num { "Avg" } th.num { "p50" } th.num { "p95" } th.num { "p99" } } }
                    tbody {
                        @for r in resources.as_array().into_iter().flatten() {
                            tr {
                                td.mono.small { (r["resource"].as_str().unwrap_or_default()) }
                                td.num { (count(&r["hits"])) }
                                td.num { (count(&r["errors"])) }
                                td.num { (percent(&r["error_rate"])) }
                                td.num { (latency(&r["duration"]["avg"])) }
                                td.num { (latency(&r["duration"]["p50"])) }
                                td.num { (latency(&r["duration"]["p95"])) }
                                td.num { (latency(&r["duration"]["p99"])) }
                            }
                        }
                    }
                }
            }
            div.card {
                h3 { "Recent traces" }
                @if traces.is_empty() { p.muted { "No spans of this operation were kept in this time frame." } } @else {
                    table.list {
                        thead { tr { th { "When" } th { "Resource" } th.num { "Duration" } th { "Status" } th { "Trace" } } }
                        tbody {
                            @for s in traces {
                                tr {
                                    td.small { (when(s.span.start / 1_000_000_000)) }
                                    td.mono.small { (s.span.resource) }
                                    td.num { (nanos(s.span.duration)) }
                                    td { (badge(if s.span.error { "error" } else { "ok" })) }
                                    td { a.mono.small href={"/apm/trace/" (s.span.trace_id)} { (s.span.trace_id) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    };
    let mut keep = Vec::new();
    if let Some(env) = &env {
        keep.push(("env".to_owned(), env.clone()));
    }
    let shell = Shell {
        title: format!("Service {service}"),
        section: Section::Apm,
        login_required: state.ui.login_required,
        picker: Some(Picker {
            path: format!("/apm/services/{}", path_segment(&service)),
            frame,
            keep,
        }),
    };
    Ok(layout::page(&shell, body))
}

/// The service page's graphs: requests by resource, errors, latency percentiles, from the trace metrics.
fn graphs(operation: &str, scope: &str) -> Vec<(String, Value)> {
    let percentile = |name: &str, suffix: &str| {
        json!({
            "data_source": "metrics",
            "name": name,
            "query": format!("avg:trace.{operation}.duration.by.service.{suffix}{{{scope}}}"),
        })
    };
    vec![
        (
            "Requests by resource".to_owned(),
            json!({ "type": "timeseries", "requests": [{
                "q": format!("sum:trace.{operation}.hits{{{scope}}} by {{resource_name}}.as_count()"),
                "display_type": "bars",
            }] }),
        ),
        (
            "Errors".to_owned(),
            json!({ "type": "timeseries", "show_legend": false, "requests": [{
                "q": format!("sum:trace.{operation}.errors{{{scope}}}.as_count()"),
                "display_type": "bars",
                "style": { "palette": "warm" },
            }] }),
        ),
        (
            "Latency".to_owned(),
            json!({ "type": "timeseries", "requests": [{
                "response_format": "timeseries",
                "queries": [percentile("lat50", "50p"), percentile("lat95", "95p"), percentile("lat99", "99p")],
                "formulas": [
                    { "formula": "lat50", "alias": "p50" },
                    { "formula": "lat95", "alias": "p95" },
                    { "formula": "lat99", "alias": "p99" },
                ],
                "display_type": "line",
            }] }),
        ),
    ]
}

/// Nanoseconds as `12.3 ms`.
fn nanos(ns: i64) -> String {
    let seconds = ns as f64 / 1e9;
    Unit::scale(Unit::new("second", None).as_ref(), seconds).value(seconds, 2)
}

/// `GET /apm/trace/{trace_id}`.
pub(crate) async fn trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Html<String>, PageError> {
    let id: u64 = trace_id
        .trim()
        .parse()
        .map_err(|_| PageError::NotFound(format!("There is no trace {trace_id:?}.")))?;
    let spans = blocking(&state, move |store| store.trace_spans(id)).await?;
    if spans.is_empty() {
        return Err(PageError::NotFound(format!(
            "There is no trace {id}: its spans may have aged out."
        )));
    }
    let body = waterfall(&spans);
    let shell = Shell {
        title: format!("Trace {id}"),
        section: Section::Apm,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

/// Spans in tree order (each after its parent, siblings by start) with their depth.
fn tree(spans: &[StoredSpan]) -> Vec<(usize, &StoredSpan)> {
    let ids: HashMap<u64, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span.span_id, i))
        .collect();
    let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        let parent = ids.get(&s.span.parent_id).copied().filter(|p| *p != i);
        children.entry(parent).or_default().push(i);
    }
    for list in children.values_mut() {
        list.sort_by_key(|i| (spans[*i].span.start, spans[*i].span.span_id));
    }
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, usize)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|i| (*i, 0))
        .collect();
    let mut visited = vec![false; spans.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        order.push((depth, &spans[i]));
        for child in children.get(&Some(i)).into_iter().flatten().rev() {
            stack.push((*child, depth + 1));
        }
    }
    // Spans in a parent cycle have no root; they are shown last rather than lost.
    for (i, seen) in visited.iter().enumerate() {
        if !seen {
            order.push((0, &spans[i]));
        }
    }
    order
}

fn waterfall(spans: &[StoredSpan]) -> Markup {
    let start = spans.iter().map(|s| s.span.start).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.span.start.saturating_add(s.span.duration))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let total = (end - start) as f64;
    let mut services: Vec<&str> = spans.iter().map(|s| s.span.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let color =
        |service: &str| palette::color(None, services.iter().position(|s| *s == service).unwrap_or(0));
    let root = spans.iter().min_by_key(|s| (s.span.parent_id != 0, s.span.start));
    let errors = spans.iter().filter(|s| s.span.error).count();
    html! {
        div.stats {
            div.stat { b { (nanos(end - start)) } span { "duration" } }
            div.stat { b { (spans.len()) } span { "spans" } }
            div.stat { b { (services.len()) } span { "services" } }
            div.stat { b { (errors) } span { "errors" } }
            @if let Some(root) = root {
                div.stat { b.mono style="font-size:15px" { (root.span.resource) } span { (root.span.service) " · " (when(root.span.start / 1_000_000_000)) } }
            }
        }
        div.card.waterfall {
            div.tags style="margin-bottom:10px" {
                span.muted.small { "Click a span for its tags and metrics." }
                @for service in &services {
                    span.tag { span.dot style={"background:" (color(service))} {} " " (service) }
                }
            }
            div.time-axis { span { "Span" } div { span { "0" } span { (nanos((total / 2.0) as i64)) } span { (nanos(end - start)) } } span { "Duration" } }
            @for (i, (depth, s)) in tree(spans).into_iter().enumerate() {
                @let left = (s.span.start - start) as f64 / total * 100.0;
                @let width = (s.span.duration as f64 / total * 100.0).max(0.3);
                details.span-row open[i == 0] {
                    summary {
                        span.span-name style={"padding-left:" (depth * 16) "px"} title=(s.span.resource) {
                            b { (s.span.service) } " " span.mono { (s.span.name) } " " span.muted { (s.span.resource) }
                        }
                        span.span-track {
                            span class={"span-bar" @if s.span.error { " error" }}
                                style={"left:" (format!("{left:.2}")) "%;width:" (format!("{width:.2}")) "%;background:" (color(&s.span.service))} {}
                        }
                        span.num { (nanos(s.span.duration)) }
                    }
                    div.span-detail { (span_detail(s)) }
                }
            }
        }
    }
}

fn span_detail(s: &StoredSpan) -> Markup {
    let span = &s.span;
    html! {
        table {
            tr { td { "span_id" } td.mono { (span.span_id) } }
            tr { td { "parent_id" } td.mono { (span.parent_id) } }
            tr { td { "type" } td { (span.span_type) } }
            @if !span.env.is_empty() { tr { td { "env" } td { (span.env) } } }
            @if !span.version.is_empty() { tr { td { "version" } td { (span.version) } } }
            @if !span.host.is_empty() { tr { td { "host" } td { (span.host) } } }
            tr { td { "status" } td { (badge(if span.error { "error" } else { "ok" })) } }
            @for (key, value) in &span.meta { tr { td { (key) } td.mono { (value) } } }
            @for (key, value) in &span.metrics { tr { td { (key) } td.mono { (value) } } }
        }
    }
}
