//! The host map: every host seen in the last day as a hexagon coloured by CPU, then one card per host with
//! its tags grouped by source, the integrations (metric namespaces) and checks it reports, and when it was
//! last seen.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Html;
use ddlab_query::Window;
use ddlab_store::Host;
use maud::{Markup, PreEscaped, html};

use super::chart::esc;
use super::layout::{self, Section, Shell};
use super::{PageError, ago, badge, when};
use crate::AppState;
use crate::http::blocking;
use crate::source::StoreSource;

/// Hosts seen within this window are shown.
const WINDOW: i64 = 86_400;
/// A host that reported within this window is up (as the hosts API says).
const UP_WINDOW: i64 = 15 * 60;

#[derive(Debug)]
struct HostView {
    host: Host,
    namespaces: Vec<(String, usize)>,
    /// Check name → (latest status, when).
    checks: BTreeMap<String, (u8, i64)>,
    cpu: Option<f64>,
}

/// `GET /infrastructure/map[?filter=text]`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let filter = params
        .get("filter")
        .map(|f| f.trim().to_owned())
        .unwrap_or_default();
    let views = blocking(&state, move |store| {
        let hosts = store.hosts(now - WINDOW)?;
        let runs = store.check_runs(None, now - WINDOW)?;
        let cpu = cpu_by_host(store, now);
        let mut views = Vec::new();
        for host in hosts {
            let metrics = store.metric_names_for_host(&host.name, now - WINDOW)?;
            let mut namespaces: BTreeMap<String, usize> = BTreeMap::new();
            for metric in &metrics {
                let namespace = metric.split_once('.').map_or("custom", |(ns, _)| ns);
                *namespaces.entry(namespace.to_owned()).or_default() += 1;
            }
            let mut checks = BTreeMap::new();
            for run in runs.iter().filter(|r| r.run.host == host.name) {
                let entry = checks
                    .entry(run.run.check.clone())
                    .or_insert((run.run.status, run.run.timestamp));
                if run.run.timestamp >= entry.1 {
                    *entry = (run.run.status, run.run.timestamp);
                }
            }
            views.push(HostView {
                cpu: cpu.get(&host.name).copied(),
                namespaces: namespaces.into_iter().collect(),
                checks,
                host,
            });
        }
        Ok(views)
    })
    .await?;
    let shown: Vec<&HostView> = views
        .iter()
        .filter(|v| filter.is_empty() || matches(&v.host, &filter))
        .collect();
    let body = html! {
        @if views.is_empty() {
            (layout::empty("No hosts yet", html! {
                "Start the lab's agent with " code { "cargo xtask up" } ", or send a metric that names a host: "
                code { "dog metric post my_metric 1 --host my-host" } "."
            }))
        } @else {
            form.filters method="get" action="/infrastructure/map" {
                input type="text" name="filter" value=(filter) placeholder="Filter by host name or tag";
                button.primary type="submit" { "Filter" }
                span.muted.small { (shown.len()) " of " (views.len()) " hosts seen in the past day" }
            }
            div.hexmap {
                (PreEscaped(hexagons(&shown, now)))
                div.legend-scale { span { "CPU user" } i {} span { "0% → 100%" } span { "· grey: no " code { "system.cpu.user" } } }
            }
            div.hosts {
                @for view in &shown { (card(view, now)) }
            }
        }
    };
    let shell = Shell {
        title: "Host map".to_owned(),
        section: Section::Hosts,
        login_required: state.ui.login_required,
        picker: None,
    };
    Ok(layout::page(&shell, body))
}

fn matches(host: &Host, filter: &str) -> bool {
    host.name.contains(filter) || host.tags().iter().any(|t| t.contains(filter))
}

/// The latest `system.cpu.user` of each host over the last 15 minutes.
fn cpu_by_host(store: &ddlab_store::Store, now: i64) -> HashMap<String, f64> {
    let Ok(query) = ddlab_query::parse("avg:system.cpu.user{*} by {host}") else {
        return HashMap::new();
    };
    let window = Window {
        from: now - 900,
        to: now,
        interval: None,
    };
    let Ok(results) = ddlab_query::evaluate(&query, &StoreSource::new(store), window) else {
        return HashMap::new();
    };
    results
        .into_iter()
        .filter_map(|r| {
            let host = r.tag_set.iter().find_map(|t| t.strip_prefix("host:"))?.to_owned();
            let value = r.points.iter().rev().find_map(|(_, v)| *v)?;
            Some((host, value))
        })
        .collect()
}

fn card(view: &HostView, now: i64) -> Markup {
    let host = &view.host;
    let up = now - host.last_seen <= UP_WINDOW;
    let sources: BTreeSet<&String> = host.tags_by_source.keys().collect();
    html! {
        div.card.host id={"host-" (host.name)} {
            h3 {
                span class={"dot " (if up { "up" } else { "down" })} title=(if up { "reporting" } else { "not reporting for 15 minutes" }) {}
                (host.name)
                @if let Some(cpu) = view.cpu { span.muted.small { "CPU " (format!("{cpu:.1}")) "%" } }
            }
            dl.facts {
                dt { "Last seen" } dd { (ago(host.last_seen, now)) span.muted.small { " · " (when(host.last_seen)) } }
                @if let Some(ip) = &host.ip { dt { "IP" } dd.mono { (ip) } }
                @if let Some(version) = &host.agent_version { dt { "Agent" } dd { (version) } }
                @if let Some(platform) = &host.platform { dt { "Platform" } dd { (platform) } }
                dt { "Tags" }
                dd {
                    @if sources.is_empty() { span.muted { "none" } }
                    @for source in &sources {
                        div.tags style="margin-bottom:4px" {
                            span.tag.source { (source) }
                            @for tag in host.tags_by_source.get(*source).into_iter().flatten() { span.tag { (tag) } }
                        }
                    }
                }
                dt { "Integrations" }
                dd.tags {
                    @if view.namespaces.is_empty() { span.muted { "no metrics in the past day" } }
                    @for (namespace, count) in &view.namespaces {
                        a.tag href={"/metric/explorer?filter=" (namespace)} title={(count) " metrics"} { (namespace) " · " (count) }
                    }
                }
                dt { "Checks" }
                dd.tags {
                    @if view.checks.is_empty() { span.muted { "no service checks" } }
                    @for (check, (status, at)) in &view.checks {
                        span title={"last run " (when(*at))} { (check) " " (badge(check_status(*status))) }
                    }
                }
            }
        }
    }
}

fn check_status(status: u8) -> &'static str {
    match status {
        0 => "OK",
        1 => "Warning",
        2 => "Critical",
        _ => "Unknown",
    }
}

/// The hexagon map as SVG: one linked hexagon per host, coloured by CPU.
fn hexagons(hosts: &[&HostView], now: i64) -> String {
    let radius = 40.0_f64;
    let w = radius * 3f64.sqrt();
    let columns = hosts.len().clamp(1, 14);
    let rows = hosts.len().div_ceil(columns);
    let width = columns as f64 * w + w / 2.0 + 4.0;
    let height = rows as f64 * radius * 1.5 + radius * 0.5 + 4.0;
    let mut svg = format!(
        r#"<svg class="hexes" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="{}">"#,
        super::chart::FONT_FAMILY
    );
    for (i, view) in hosts.iter().enumerate() {
        let (row, col) = (i / columns, i % columns);
        let cx = 2.0 + w / 2.0 + col as f64 * w + if row % 2 == 1 { w / 2.0 } else { 0.0 };
        let cy = 2.0 + radius + row as f64 * radius * 1.5;
        let points: Vec<String> = (0..6)
            .map(|k| {
                let angle = std::f64::consts::PI / 180.0 * (60.0 * k as f64 - 30.0);
                format!(
                    "{:.1},{:.1}",
                    cx + (radius - 1.5) * angle.cos(),
                    cy + (radius - 1.5) * angle.sin()
                )
            })
            .collect();
        let up = now - view.host.last_seen <= UP_WINDOW;
        let fill = match (view.cpu, up) {
            (_, false) => "#e3e5ec".to_owned(),
            (Some(cpu), true) => heat(cpu / 100.0),
            (None, true) => "#c9ccd6".to_owned(),
        };
        let name: String = view.host.name.chars().take(11).collect();
        let cpu = view
            .cpu
            .map_or_else(|| "no CPU data".to_owned(), |c| format!("CPU {c:.1}%"));
        let _ = write!(
            svg,
            r##"<a href="#host-{id}"><polygon points="{pts}" fill="{fill}" stroke="#fff" stroke-width="2"><title>{title} · {cpu}</title></polygon><text x="{cx:.1}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="#23242b">{name}</text></a>"##,
            id = esc(&view.host.name),
            pts = points.join(" "),
            title = esc(&view.host.name),
            cpu = esc(&cpu),
            ty = cy + 3.5,
            name = esc(&name),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Green (0) through yellow (0.5) to red (1).
fn heat(fraction: f64) -> String {
    let f = fraction.clamp(0.0, 1.0);
    let (a, b, t) = if f < 0.5 {
        ((0x3f, 0xb6, 0x8b), (0xf6, 0xc3, 0x44), f * 2.0)
    } else {
        ((0xf6, 0xc3, 0x44), (0xe5, 0x33, 0x2a), (f - 0.5) * 2.0)
    };
    let mix = |x: i32, y: i32| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as i32;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
