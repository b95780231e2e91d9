//! The metric explorer: a query box, the graph of the query over the chosen time frame, the JSON
//! `/api/v1/query` answers for it, and the metric names the lab has seen.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::response::Html;
use ddlab_query::Window;
use maud::{Markup, PreEscaped, html};
use serde_json::json;

use super::layout::{self, Picker, Section, Shell};
use super::timeframe::Timeframe;
use super::widget::{self, Body, Frame};
use super::{PageError, href, viewer_tz};
use crate::AppState;
use crate::http::blocking;
use crate::http::query::v1_answer;
use crate::source::StoreSource;

/// Queries offered when the box is empty: the exercise's three graphs and an APM one.
const EXAMPLES: &[&str] = &[
    "avg:my_metric{*} by {host}",
    "anomalies(avg:mysql.performance.cpu_time{*}, 'basic', 2)",
    "avg:my_metric{*}.rollup(sum, 3600)",
    "sum:trace.flask.request.hits{*} by {resource_name}.as_count()",
];
const CHART: super::chart::Size = super::chart::Size {
    width: 920.0,
    height: 340.0,
};

/// `GET /metric/explorer[?q=...&display=line|area|bars&live_span=1h&filter=...]`.
pub(crate) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let now = state.clock.now();
    let frame = Timeframe::from_params(&params, now, "1h").map_err(PageError::BadRequest)?;
    let q = params.get("q").map(|q| q.trim().to_owned()).unwrap_or_default();
    let display = match params.get("display").map(String::as_str) {
        Some("bars") => "bars",
        Some("area") => "area",
        _ => "line",
    };
    let filter = params
        .get("filter")
        .map(|f| f.trim().to_owned())
        .unwrap_or_default();
    let (from, to) = (frame.from, frame.to);
    let query = q.clone();
    let (names, graph, answer) = blocking(&state, move |store| {
        let names = store.metric_names(now - 86_400)?;
        if query.is_empty() {
            return Ok((names, None, None));
        }
        let definition = json!({
            "type": "timeseries",
            "requests": [{ "q": query, "display_type": display }],
        });
        let widget = widget::evaluate(
            &definition,
            "explorer",
            &Frame::new(store, from, to, now, HashMap::new()),
        );
        let answer = ddlab_query::parse(&query)
            .map_err(|err| format!("Error parsing query: \n {err}"))
            .and_then(|parsed| {
                let window = Window {
                    from,
                    to,
                    interval: None,
                };
                ddlab_query::evaluate(&parsed, &StoreSource::new(store), window)
                    .map_err(|err| format!("Error evaluating query: {err}"))
            })
            .map(|results| v1_answer(&query, from, to, &results));
        Ok((names, Some(widget), Some(answer)))
    })
    .await?;
    let tz = viewer_tz();
    let mut keep = vec![("display".to_owned(), display.to_owned())];
    if !q.is_empty() {
        keep.insert(0, ("q".to_owned(), q.clone()));
    }
    let api_url = href(
        "/api/v1/query",
        &[
            ("from".to_owned(), from.to_string()),
            ("to".to_owned(), to.to_string()),
            ("query".to_owned(), q.clone()),
        ],
    );
    let body = html! {
        div.explorer {
            div {
                div.card {
                    form.inline method="get" action="/metric/explorer" {
                        input.query type="text" name="q" value=(q) placeholder="avg:my_metric{host:my-host}" autofocus;
                        select name="display" title="Display as" {
                            @for option in ["line", "area", "bars"] {
                                option value=(option) selected[option == display] { (option) }
                            }
                        }
                        @for (key, value) in frame.params() { input type="hidden" name=(key) value=(value); }
                        button.primary type="submit" { "Graph" }
                    }
                    @if q.is_empty() {
                        p.muted.small { "Try one of the exercise's queries:" }
                        div.tags {
                            @for example in EXAMPLES {
                                a.tag href=(href("/metric/explorer", &[("q".to_owned(), (*example).to_owned())])) { (example) }
                            }
                        }
                    }
                }
                @if let Some(widget) = &graph {
                    div.card {
                        @match &widget.body {
                            Body::Timeseries(chart) => (PreEscaped(super::chart::timeseries(chart, CHART, &tz))),
                            Body::Failed(message) => div.error-box { (message) },
                            _ => {}
                        }
                    }
                }
                @if let Some(answer) = &answer {
                    div.card {
                        h3 { "The API's answer" }
                        p.muted.small.mono.url { "GET " (api_url) }
                        @match answer {
                            Ok(value) => pre { (serde_json::to_string_pretty(value).unwrap_or_default()) },
                            Err(message) => pre { (json!({ "errors": [message] }).to_string()) },
                        }
                    }
                }
            }
            (metric_list(&names, &filter, &frame))
        }
    };
    let shell = Shell {
        title: "Metric explorer".to_owned(),
        section: Section::Metrics,
        login_required: state.ui.login_required,
        picker: Some(Picker {
            path: "/metric/explorer".to_owned(),
            frame,
            keep,
        }),
    };
    Ok(layout::page(&shell, body))
}

fn metric_list(names: &[String], filter: &str, frame: &Timeframe) -> Markup {
    let mut groups: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for name in names.iter().filter(|n| n.contains(filter)) {
        let namespace = name.split_once('.').map_or("custom", |(ns, _)| ns);
        groups.entry(namespace).or_default().push(name);
    }
    html! {
        div.card.metric-list {
            div.card-head { h3 { "Metrics" } span.muted.small { (names.len()) " in the past day" } }
            form method="get" action="/metric/explorer" {
                input type="text" name="filter" value=(filter) placeholder="Filter metric names" style="width:100%";
            }
            @if names.is_empty() {
                p.muted { "No metrics yet. Start the agent with " code { "cargo xtask up" } ", or send one: " code { "dog metric post my_metric 1" } "." }
            }
            @for (namespace, list) in &groups {
                h3 { (namespace) }
                @for name in list {
                    a href=(metric_link(name, frame)) title=(name) { (name) }
                }
            }
        }
    }
}

fn metric_link(name: &str, frame: &Timeframe) -> String {
    let mut params = vec![("q".to_owned(), format!("avg:{name}{{*}}"))];
    params.extend(frame.params());
    href("/metric/explorer", &params)
}
