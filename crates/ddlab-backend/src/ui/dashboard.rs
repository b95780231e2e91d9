//! Dashboards rendered from Datadog's dashboard JSON (the v1 `/api/v1/dashboard` shape: `title`,
//! `description`, `layout_type`, `template_variables`, `widgets[].definition`, `widgets[].layout`).
//!
//! [`render`] draws one for the private UI or, with [`DashboardView::public`], as a read-only share page
//! without navigation or links into the private UI. The store of dashboards is not this module's: a route
//! that has the JSON calls [`render`]. `/dashboard/preview` renders JSON given in its `json` parameter, so a
//! board can be seen before it is created.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, PreEscaped, html};
use serde_json::Value;

use super::chart::{self, Size};
use super::layout::{self, Picker, Section, Shell};
use super::timeframe::Timeframe;
use super::widget::{self, Body, Frame, Widget};
use super::{PageError, viewer_tz};
use crate::AppState;
use crate::http::blocking;

/// How a dashboard page is drawn and where its controls point.
#[derive(Debug, Clone, Default)]
pub(crate) struct DashboardView {
    /// The page's own path: the time picker and template variable selectors link back to it.
    pub(crate) path: String,
    /// Parameters every link of the page keeps (the preview's `json`, a share page's nothing).
    pub(crate) keep: Vec<(String, String)>,
    /// The request's query parameters: `live_span` or `from_ts`/`to_ts`, and `tpl_var_<name>=<value>`.
    pub(crate) params: HashMap<String, String>,
    /// A public share page: read-only, no navigation, no links into the private UI.
    pub(crate) public: bool,
    /// The time frame when the request names none (a share's `global_time.live_span`); default `1h`.
    pub(crate) default_span: Option<String>,
}

/// A template variable with its current selection and the values it offers.
#[derive(Debug, Clone, PartialEq)]
struct TemplateVariable {
    name: String,
    prefix: String,
    selected: String,
    options: Vec<String>,
}

/// Width of the dashboard area the charts are drawn for (a 1400 px window less the navigation).
const BOARD_WIDTH: f64 = 1140.0;
const GAP: f64 = 14.0;
/// Height of one row unit of an ordered layout's `layout.height`.
const ROW: f64 = 62.0;

/// The dashboard as an HTML page: its queries run over the view's time frame on the store.
pub(crate) async fn render(
    state: &AppState,
    dashboard: &Value,
    view: &DashboardView,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let default_span = view.default_span.as_deref().unwrap_or("1h");
    let frame = Timeframe::from_params(&view.params, now, default_span).map_err(PageError::BadRequest)?;
    let (from, to) = (frame.from, frame.to);
    let dashboard = dashboard.clone();
    let params = view.params.clone();
    let public = view.public;
    let (dashboard, variables, widgets) = blocking(state, move |store| {
        let variables = template_variables(store, &dashboard, &params, now, public)?;
        let vars: HashMap<String, String> = variables
            .iter()
            .map(|v| {
                let selection = if v.selected == "*" || v.prefix.is_empty() {
                    v.selected.clone()
                } else {
                    format!("{}:{}", v.prefix, v.selected)
                };
                (v.name.clone(), selection)
            })
            .collect();
        let mut frame = Frame::new(store, from, to, now, vars);
        frame.public = public;
        let widgets: Vec<Widget> = dashboard
            .get("widgets")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, w)| widget::evaluate(w, &format!("w{i}"), &frame))
                    .collect()
            })
            .unwrap_or_default();
        Ok((dashboard, variables, widgets))
    })
    .await?;
    let title = dashboard
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .unwrap_or("Untitled dashboard")
        .to_owned();
    let free = dashboard.get("layout_type").and_then(Value::as_str) == Some("free");
    let description = dashboard
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map(|d| super::markdown::markdown_with(d, !view.public));
    let mut keep = view.keep.clone();
    keep.extend(
        variables
            .iter()
            .map(|v| (format!("tpl_var_{}", v.name), v.selected.clone())),
    );
    let picker = Picker {
        path: view.path.clone(),
        frame,
        keep,
    };
    let tz = viewer_tz();
    let board = html! {
        div.dash-head {
            @if let Some(description) = &description { div.dash-desc { (PreEscaped(description)) } }
        }
        @if !variables.is_empty() { (variable_form(&variables, view, &picker.frame)) }
        @if widgets.is_empty() {
            (layout::empty("This dashboard has no widgets", html! {
                "Add widgets to its " code { "widgets" } " list through the API."
            }))
        } @else if free {
            (free_layout(&widgets, &tz))
        } @else {
            div.grid { @for w in &widgets { (ordered_widget(w, BOARD_WIDTH, &tz)) } }
        }
    };
    if view.public {
        let body = html! {
            div.public-banner {
                span { "Shared dashboard · read-only" }
                span { "ddlab" }
            }
            div.topbar { h1 { (title) } (layout::time_picker(&picker)) }
            (board)
        };
        return Ok(layout::bare(&title, body));
    }
    let shell = Shell {
        title,
        section: Section::Dashboards,
        login_required: state.ui.login_required,
        picker: Some(picker),
    };
    Ok(layout::page(&shell, board))
}

/// `GET /dashboard/preview[?json=<dashboard JSON>&live_span=...&tpl_var_<name>=...]`.
pub(crate) async fn preview(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let text = params
        .get("json")
        .map(|j| j.trim().to_owned())
        .unwrap_or_default();
    let parsed = if text.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|err| format!("The dashboard is not valid JSON: {err}"))
                .and_then(|value| {
                    if value.is_object() {
                        Ok(value)
                    } else {
                        Err("The dashboard must be a JSON object with \"title\" and \"widgets\".".to_owned())
                    }
                }),
        )
    };
    match parsed {
        Some(Ok(dashboard)) => {
            let view = DashboardView {
                path: "/dashboard/preview".to_owned(),
                keep: vec![("json".to_owned(), text)],
                params,
                public: false,
                default_span: None,
            };
            render(&state, &dashboard, &view).await
        }
        other => {
            let error = match other {
                Some(Err(message)) => Some(message),
                _ => None,
            };
            let body = html! {
                div.card {
                    p {
                        "Paste a dashboard as the API takes it (" code { "POST /api/v1/dashboard" } ": "
                        code { "title" } ", " code { "layout_type" } ", " code { "widgets" } ") to see it drawn with the lab's data. "
                        "Dashboards created through the API are drawn the same way."
                    }
                    @if let Some(error) = &error { div.error-box { (error) } }
                    form method="get" action="/dashboard/preview" {
                        textarea name="json" rows="18" placeholder=(EXAMPLE) { (text) }
                        p { button.primary type="submit" { "Render" } }
                    }
                }
            };
            let shell = Shell {
                title: "Dashboard preview".to_owned(),
                section: Section::Dashboards,
                login_required: state.ui.login_required,
                picker: None,
            };
            Ok(layout::page(&shell, body))
        }
    }
}

const EXAMPLE: &str = r#"{"title": "my_metric", "layout_type": "ordered", "widgets": [{"definition": {"type": "timeseries", "title": "my_metric", "requests": [{"q": "avg:my_metric{*} by {host}"}]}}]}"#;

/// The dashboard's template variables with their selections (`tpl_var_<name>`, else the default, else
/// all) and the values each offers (its `available_values`, else the tag values the lab has seen).
///
/// A `public` share page offers only the variable's `available_values`: the tags the lab has seen belong
/// to every host and metric, and a share link must not list the hosts and tags of data its dashboard
/// does not show.
fn template_variables(
    store: &ddlab_store::Store,
    dashboard: &Value,
    params: &HashMap<String, String>,
    now: i64,
    public: bool,
) -> Result<Vec<TemplateVariable>, ddlab_store::StoreError> {
    let Some(list) = dashboard.get("template_variables").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut seen: Option<Vec<String>> = None;
    let mut variables = Vec::new();
    for entry in list {
        let Some(name) = entry
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        let prefix = entry
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let default = entry
            .get("defaults")
            .and_then(Value::as_array)
            .and_then(|d| d.first())
            .or_else(|| entry.get("default"))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        let selected = params
            .get(&format!("tpl_var_{name}"))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .or(default)
            .unwrap_or("*")
            .to_owned();
        let available: Vec<String> = entry
            .get("available_values")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let mut options: BTreeSet<String> = if available.is_empty() && !prefix.is_empty() && !public {
            if seen.is_none() {
                seen = Some(seen_tags(store, now)?);
            }
            seen.iter()
                .flatten()
                .filter_map(|tag| tag.strip_prefix(&format!("{prefix}:")).map(str::to_owned))
                .collect()
        } else {
            available.into_iter().collect()
        };
        if selected != "*" {
            options.insert(selected.clone());
        }
        variables.push(TemplateVariable {
            name: name.to_owned(),
            prefix,
            selected,
            options: options.into_iter().collect(),
        });
    }
    Ok(variables)
}

/// Every tag of the series and hosts seen in the past day, hosts as `host:<name>`.
fn seen_tags(store: &ddlab_store::Store, now: i64) -> Result<Vec<String>, ddlab_store::StoreError> {
    let mut tags = BTreeSet::new();
    for (host, series_tags) in store.series_tags(now - 86_400)? {
        tags.extend(host.map(|h| format!("host:{h}")));
        tags.extend(series_tags);
    }
    for (host, host_tags) in store.all_host_tags()? {
        tags.insert(format!("host:{host}"));
        tags.extend(host_tags);
    }
    Ok(tags.into_iter().collect())
}

fn variable_form(variables: &[TemplateVariable], view: &DashboardView, frame: &Timeframe) -> Markup {
    html! {
        form.tpl-vars method="get" action=(view.path) {
            @for (key, value) in view.keep.iter().cloned().chain(frame.params()) {
                input type="hidden" name=(key) value=(value);
            }
            @for variable in variables {
                label.tpl-var {
                    span { "$" (variable.name) }
                    select name={"tpl_var_" (variable.name)} onchange="this.form.submit()" {
                        option value="*" selected[variable.selected == "*"] { "*" }
                        @for option in &variable.options {
                            option value=(option) selected[*option == variable.selected] { (option) }
                        }
                    }
                }
            }
            noscript { button.primary type="submit" { "Apply" } }
        }
    }
}

/// An ordered layout's widget: `layout.width` columns of 12 (half the board without a layout).
fn ordered_widget(w: &Widget, board: f64, tz: &jiff::tz::TimeZone) -> Markup {
    let columns = match (&w.body, w.layout) {
        (_, Some(layout)) => layout.width.round().clamp(1.0, 12.0),
        (Body::Group { .. }, None) => 12.0,
        _ => 6.0,
    };
    let column = (board - 11.0 * GAP) / 12.0;
    let width = columns * column + (columns - 1.0) * GAP;
    let height = w.layout.map(|l| (l.height * ROW).max(120.0));
    let style = format!("grid-column: span {columns}");
    widget_html(w, width, height, &style, tz)
}

/// A free layout: widgets placed by `layout` on a grid scaled to the board's width.
fn free_layout(widgets: &[Widget], tz: &jiff::tz::TimeZone) -> Markup {
    let extent = widgets
        .iter()
        .filter_map(|w| w.layout.map(|l| l.x + l.width))
        .fold(12.0, f64::max);
    let unit = BOARD_WIDTH / extent;
    let mut bottom: f64 = 0.0;
    let mut next_free_y: f64 = 0.0;
    let placed: Vec<(f64, f64, f64, f64, &Widget)> = widgets
        .iter()
        .map(|w| {
            // A widget without a layout (invalid in a free board) goes below the others.
            let layout = w.layout.unwrap_or(widget::Layout {
                x: 0.0,
                y: next_free_y,
                width: 12.0_f64.min(extent),
                height: 4.0,
            });
            next_free_y = next_free_y.max(layout.y + layout.height);
            let (x, y) = (layout.x * unit, layout.y * unit);
            let (width, height) = (
                (layout.width * unit - 8.0).max(80.0),
                (layout.height * unit - 8.0).max(60.0),
            );
            bottom = bottom.max(y + height);
            (x, y, width, height, w)
        })
        .collect();
    html! {
        div.free style={"height: " (format!("{:.0}", bottom + 8.0)) "px"} {
            @for (x, y, width, height, w) in &placed {
                @let style = format!("left: {x:.0}px; top: {y:.0}px; width: {width:.0}px; height: {height:.0}px");
                (widget_html(w, *width, Some(*height), &style, tz))
            }
        }
    }
}

/// One widget's tile. `width` and `height` are the tile's pixels; charts fill what the title leaves.
fn widget_html(w: &Widget, width: f64, height: Option<f64>, style: &str, tz: &jiff::tz::TimeZone) -> Markup {
    let inner_width = (width - 26.0).max(80.0);
    let title_height = if w.title.is_some() { 26.0 } else { 0.0 };
    let chart_height = |default: f64| height.map_or(default, |h| (h - title_height - 22.0).max(60.0));
    let (class, content) = match &w.body {
        Body::Timeseries(t) => (
            "timeseries",
            html! { (PreEscaped(chart::timeseries(t, Size { width: inner_width, height: chart_height(230.0) }, tz))) },
        ),
        Body::Toplist(t) => {
            let rows = t.rows.len().max(3) as f64;
            (
                "toplist",
                html! { (PreEscaped(chart::toplist(t, Size { width: inner_width, height: chart_height((rows * 26.0 + 12.0).min(300.0)) }))) },
            )
        }
        Body::Value(v) => (
            "query_value",
            html! { (PreEscaped(chart::big_number(v, Size { width: inner_width, height: chart_height(170.0) }))) },
        ),
        Body::Note { html, .. } => ("note", html! { (PreEscaped(html)) }),
        Body::FreeText(text) => ("free_text", html! { h2 { (text) } }),
        Body::Group { widgets, .. } => (
            "group",
            html! { div.grid { @for child in widgets { (ordered_widget(child, inner_width, tz)) } } },
        ),
        Body::NotRendered => (
            "not-rendered",
            html! { span { "The lab keeps this " code { (w.kind) } " widget but does not draw it." } },
        ),
        Body::Failed(message) => ("failed", html! { div.error-box { (message) } }),
    };
    let extra = match &w.body {
        Body::Note {
            background, align, ..
        } => format!(" bg-{background} align-{align}"),
        _ => String::new(),
    };
    let title = w.title.clone().or_else(|| match &w.body {
        Body::NotRendered => Some(format!("{} widget", w.kind)),
        _ => None,
    });
    let note_style = match &w.body {
        Body::Note { align, .. } if align == "center" || align == "right" => format!("; text-align: {align}"),
        _ => String::new(),
    };
    html! {
        div class={"widget " (class) (extra)} data-type=(w.kind) style={(style) (note_style)} {
            @if let Some(title) = &title { div.widget-title title=(title) { (title) } }
            div.widget-body { (content) }
        }
    }
}
