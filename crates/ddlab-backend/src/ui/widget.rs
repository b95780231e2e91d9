//! Dashboard widgets evaluated: a widget definition (Datadog's v1 dashboard JSON, or a legacy graph
//! definition with `viz`) and a time frame in, the chart model out, with the queries run on the store.
//!
//! A widget never fails its dashboard: a query that does not parse or evaluate becomes an error shown in
//! that widget, naming the field (`requests[0].q`), and an unknown widget type a "not rendered" tile.
//! Runs on a blocking thread: every query reads SQLite.

use std::cell::RefCell;
use std::collections::HashMap;

use ddlab_query::{SeriesKind, SeriesResult, Window};
use ddlab_store::Store;
use serde_json::Value;

use super::chart::{
    self, Band, BigNumber, Display, EventMark, Marker, Series, Timeseries, Tone, Toplist, ToplistRow, Unit,
    YAxis, palette,
};
use crate::http::query::{formulas, named_queries};
use crate::source::StoreSource;

/// Where and when widgets are evaluated.
#[derive(Debug)]
pub(crate) struct Frame<'s> {
    pub(crate) store: &'s Store,
    pub(crate) source: StoreSource<'s>,
    /// Epoch seconds, inclusive.
    pub(crate) from: i64,
    pub(crate) to: i64,
    /// The backend clock's now, for widgets with their own `time.live_span`.
    pub(crate) now: i64,
    /// Template variable selections, as `ddlab_query::Scope::substitute` takes them.
    pub(crate) vars: HashMap<String, String>,
    /// A public share page: notes keep no links into the private UI.
    pub(crate) public: bool,
    units: RefCell<HashMap<String, Option<Unit>>>,
}

/// One evaluated widget.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Widget {
    /// `timeseries`, `query_value`, ... as the definition says (`viz` for legacy graphs).
    pub(crate) kind: String,
    pub(crate) title: Option<String>,
    /// The widget's `layout` (grid units), when it has one.
    pub(crate) layout: Option<Layout>,
    pub(crate) body: Body,
}

/// A widget's `layout`: position and size in grid units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Timeseries(Timeseries),
    Toplist(Toplist),
    Value(BigNumber),
    /// Safe HTML of a note's markdown, with its `background_color` and `text_align`.
    Note {
        html: String,
        background: String,
        align: String,
    },
    FreeText(String),
    Group {
        widgets: Vec<Widget>,
        background: Option<String>,
    },
    /// A widget type the lab does not draw; it is kept and shown as a titled tile.
    NotRendered,
    /// The widget could not be evaluated; the message names the field.
    Failed(String),
}

impl<'s> Frame<'s> {
    pub(crate) fn new(store: &'s Store, from: i64, to: i64, now: i64, vars: HashMap<String, String>) -> Self {
        Frame {
            store,
            source: StoreSource::new(store),
            from,
            to,
            now,
            vars,
            public: false,
            units: RefCell::new(HashMap::new()),
        }
    }

    /// The unit of a metric: its metadata in the store, else what Datadog declares for well-known metrics.
    fn unit(&self, metric: &str) -> Option<Unit> {
        if let Some(unit) = self.units.borrow().get(metric) {
            return unit.clone();
        }
        let unit = self
            .store
            .metric_metadata(metric)
            .ok()
            .flatten()
            .and_then(|m| {
                m.unit
                    .as_deref()
                    .and_then(|u| Unit::new(u, m.per_unit.as_deref()))
            })
            .or_else(|| Unit::builtin(metric));
        self.units.borrow_mut().insert(metric.to_owned(), unit.clone());
        unit
    }
}

/// Evaluates a widget (`{"definition": ..., "layout": ...}`) or a bare definition. `id` names its chart.
pub(crate) fn evaluate(widget: &Value, id: &str, frame: &Frame<'_>) -> Widget {
    let definition = widget.get("definition").unwrap_or(widget);
    let kind = definition
        .get("type")
        .or_else(|| definition.get("viz"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let title = text(definition, "title");
    let layout = widget.get("layout").and_then(layout);
    let body = match kind.as_str() {
        "timeseries" => timeseries(definition, id, frame).map_or_else(Body::Failed, Body::Timeseries),
        "query_value" => query_value(definition, frame).map_or_else(Body::Failed, Body::Value),
        "toplist" => toplist(definition, frame).map_or_else(Body::Failed, Body::Toplist),
        "note" => Body::Note {
            html: super::markdown::markdown_with(
                definition.get("content").and_then(Value::as_str).unwrap_or(""),
                !frame.public,
            ),
            background: text(definition, "background_color").unwrap_or_else(|| "white".to_owned()),
            align: text(definition, "text_align").unwrap_or_else(|| "left".to_owned()),
        },
        "free_text" => Body::FreeText(text(definition, "text").unwrap_or_default()),
        "group" => {
            let widgets = definition
                .get("widgets")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .enumerate()
                        .map(|(i, w)| evaluate(w, &format!("{id}-{i}"), frame))
                        .collect()
                })
                .unwrap_or_default();
            Body::Group {
                widgets,
                background: text(definition, "background_color"),
            }
        }
        "" => Body::Failed("definition.type is missing: every widget definition names its type".to_owned()),
        _ => Body::NotRendered,
    };
    Widget {
        kind,
        title,
        layout,
        body,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn layout(value: &Value) -> Option<Layout> {
    let number = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    Some(Layout {
        x: number("x")?,
        y: number("y")?,
        width: number("width")?,
        height: number("height")?,
    })
}

/// The requests of a definition; a legacy graph may have a single request object.
fn requests(definition: &Value) -> Result<Vec<&Value>, String> {
    match definition.get("requests") {
        Some(Value::Array(list)) if !list.is_empty() => Ok(list.iter().collect()),
        Some(Value::Object(_)) => Ok(vec![&definition["requests"]]),
        Some(Value::Array(_)) => Err("requests is empty: add at least one request with a query".to_owned()),
        _ => Err("requests is missing: a graph needs a list of requests".to_owned()),
    }
}

/// The frame of a widget: its own `time.live_span` if it has one, else the dashboard's.
fn window(definition: &Value, frame: &Frame<'_>) -> Window {
    let own = definition
        .pointer("/time/live_span")
        .and_then(Value::as_str)
        .and_then(super::timeframe::span_seconds);
    match own {
        Some(span) => Window {
            from: frame.now - span,
            to: frame.now,
            interval: None,
        },
        None => Window {
            from: frame.from,
            to: frame.to,
            interval: None,
        },
    }
}

/// The results of one request, and the first metric it reads (for its unit).
fn run_request(
    request: &Value,
    index: usize,
    window: Window,
    frame: &Frame<'_>,
) -> Result<(Vec<SeriesResult>, Option<String>), String> {
    if let Some(q) = request.get("q") {
        let q = q
            .as_str()
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| format!("requests[{index}].q must be a non-empty query string"))?;
        let parsed = ddlab_query::parse(q)
            .map_err(|err| format!("requests[{index}].q: Error parsing query: {err}"))?
            .substitute(&frame.vars);
        let metric = parsed
            .items
            .iter()
            .flat_map(|item| item.expr.queries())
            .map(|query| query.metric.clone())
            .next();
        let results = ddlab_query::evaluate(&parsed, &frame.source, window)
            .map_err(|err| format!("requests[{index}].q: Error evaluating query: {err}"))?;
        return Ok((results, metric));
    }
    if request.get("queries").is_some() {
        let mut queries = named_queries(request).map_err(|err| format!("requests[{index}]: {err}"))?;
        for query in &mut queries {
            query.expr = query.expr.substitute(&frame.vars);
        }
        let names: Vec<&str> = queries.iter().map(|q| q.name.as_str()).collect();
        let formulas = formulas(request, &names).map_err(|err| format!("requests[{index}]: {err}"))?;
        let metric = queries
            .iter()
            .flat_map(|q| q.expr.queries())
            .map(|query| query.metric.clone())
            .next();
        let results = ddlab_query::evaluate_formulas(&queries, &formulas, &frame.source, window)
            .map_err(|err| format!("requests[{index}]: Error evaluating query: {err}"))?;
        return Ok((results, metric));
    }
    Err(format!(
        "requests[{index}] has no query: give it \"q\", or \"queries\" with \"formulas\""
    ))
}

/// A series' legend label: an alias if the request gives one, else its name and group tags.
fn label(result: &SeriesResult, request: &Value, multi_query: bool) -> String {
    let alias = request
        .get("formulas")
        .and_then(Value::as_array)
        .and_then(|f| f.get(result.query_index))
        .and_then(|f| f.get("alias"))
        .or_else(|| {
            request
                .get("metadata")
                .and_then(Value::as_array)
                .and_then(|list| {
                    list.iter()
                        .find(|m| {
                            m.get("expression").and_then(Value::as_str).is_some_and(|e| {
                                e == result.expression || request.get("q").and_then(Value::as_str) == Some(e)
                            })
                        })
                        .and_then(|m| m.get("alias_name"))
                })
        })
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty());
    let name = alias.map_or_else(|| result.display_name.clone(), str::to_owned);
    if result.tag_set.is_empty() {
        name
    } else if multi_query || alias.is_some() {
        format!("{name} · {}", result.tag_set.join(", "))
    } else {
        result.tag_set.join(", ")
    }
}

fn display(request: &Value) -> Display {
    match request
        .get("display_type")
        .or_else(|| request.get("type"))
        .and_then(Value::as_str)
    {
        Some("bars") => Display::Bars,
        Some("area") => Display::Area,
        _ => Display::Line,
    }
}

fn timeseries(definition: &Value, id: &str, frame: &Frame<'_>) -> Result<Timeseries, String> {
    let requests = requests(definition)?;
    let window = window(definition, frame);
    let mut series: Vec<Series> = Vec::new();
    let mut unit = None;
    let mut errors = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        let (results, metric) = match run_request(request, index, window, frame) {
            Ok(found) => found,
            Err(err) => {
                errors.push(err);
                continue;
            }
        };
        if unit.is_none() {
            unit = metric.as_deref().and_then(|m| frame.unit(m));
        }
        let palette_name = request.pointer("/style/palette").and_then(Value::as_str);
        let multi = requests.len() > 1 || results.iter().map(|r| r.query_index).max().unwrap_or(0) > 0;
        let mut color_index = 0;
        for result in results {
            match result.kind {
                SeriesKind::Value => {
                    series.push(Series {
                        label: label(&result, request, multi),
                        display: display(request),
                        color: palette::color(palette_name, color_index),
                        interval: result.interval,
                        points: result.points,
                        band: None,
                    });
                    color_index += 1;
                }
                SeriesKind::AnomalyLower | SeriesKind::AnomalyUpper => {
                    // A band follows its series: lower, then upper.
                    if let Some(last) = series.last_mut() {
                        let band = last.band.get_or_insert_with(|| Band {
                            lower: Vec::new(),
                            upper: Vec::new(),
                        });
                        if result.kind == SeriesKind::AnomalyLower {
                            band.lower = result.points;
                        } else {
                            band.upper = result.points;
                        }
                    }
                }
            }
        }
    }
    // One request failing fails the widget when nothing else is left to draw; otherwise the others show.
    if series.is_empty() && !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Ok(Timeseries {
        id: id.to_owned(),
        title: None,
        from: window.from,
        to: window.to,
        series,
        markers: markers(definition),
        events: Vec::new(),
        unit,
        yaxis: yaxis(definition),
        legend: definition
            .get("show_legend")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    })
}

/// `markers: [{"value": "y = 800", "display_type": "error dashed", "label": "..."}]`.
fn markers(definition: &Value) -> Vec<Marker> {
    let Some(list) = definition.get("markers").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|m| {
            let text = m.get("value").and_then(Value::as_str)?;
            let value: f64 = text.split('=').nth(1)?.trim().parse().ok()?;
            let style = m.get("display_type").and_then(Value::as_str).unwrap_or("");
            let tone = if style.contains("error") {
                Tone::Error
            } else if style.contains("warning") {
                Tone::Warning
            } else if style.contains("ok") {
                Tone::Ok
            } else {
                Tone::Info
            };
            Some(Marker {
                value,
                label: m
                    .get("label")
                    .and_then(Value::as_str)
                    .map_or_else(|| text.to_owned(), str::to_owned),
                tone,
                dashed: style.contains("dashed"),
            })
        })
        .collect()
}

fn yaxis(definition: &Value) -> YAxis {
    let axis = definition.get("yaxis");
    let bound = |key: &str| {
        axis.and_then(|a| a.get(key)).and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    };
    YAxis {
        min: bound("min"),
        max: bound("max"),
        include_zero: axis
            .and_then(|a| a.get("include_zero"))
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

/// Reduces points the way a widget's `aggregator` says.
fn reduce(points: &[(i64, f64)], aggregator: &str) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let values = points.iter().map(|(_, v)| *v);
    Some(match aggregator {
        "sum" => values.sum(),
        "min" => values.fold(f64::INFINITY, f64::min),
        "max" => values.fold(f64::NEG_INFINITY, f64::max),
        "last" => points.iter().max_by_key(|(t, _)| *t).map_or(0.0, |(_, v)| *v),
        _ => values.sum::<f64>() / points.len() as f64,
    })
}

fn values_of(result: &SeriesResult) -> Vec<(i64, f64)> {
    result
        .points
        .iter()
        .filter_map(|(t, v)| v.filter(|v| v.is_finite()).map(|v| (*t, v)))
        .collect()
}

/// The aggregator a scalar widget uses: the request's `aggregator`, or its first query's.
fn aggregator(request: &Value) -> String {
    request
        .get("aggregator")
        .or_else(|| request.pointer("/queries/0/aggregator"))
        .and_then(Value::as_str)
        .unwrap_or("avg")
        .to_owned()
}

fn query_value(definition: &Value, frame: &Frame<'_>) -> Result<BigNumber, String> {
    let requests = requests(definition)?;
    let request = requests[0];
    let (results, metric) = run_request(request, 0, window(definition, frame), frame)?;
    let aggregator = aggregator(request);
    let points: Vec<(i64, f64)> = results
        .iter()
        .filter(|r| r.kind == SeriesKind::Value)
        .flat_map(values_of)
        .collect();
    let value = reduce(&points, &aggregator);
    let (color, background) = value
        .and_then(|v| conditional_format(request, v))
        .map_or((None, None), |(c, b)| (Some(c), b));
    Ok(BigNumber {
        title: None,
        value,
        precision: definition
            .get("precision")
            .and_then(Value::as_u64)
            .map_or(2, |p| p.min(6) as usize),
        unit: metric.as_deref().and_then(|m| frame.unit(m)),
        custom_unit: text(definition, "custom_unit"),
        autoscale: definition
            .get("autoscale")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        caption: aggregator,
        color,
        background,
    })
}

/// The text and background colours of the first `conditional_formats` entry `value` matches.
fn conditional_format(request: &Value, value: f64) -> Option<(&'static str, Option<&'static str>)> {
    let formats = request.get("conditional_formats")?.as_array()?;
    formats.iter().find_map(|format| {
        let threshold = format.get("value").and_then(Value::as_f64)?;
        let holds = match format.get("comparator").and_then(Value::as_str)? {
            ">" => value > threshold,
            ">=" => value >= threshold,
            "<" => value < threshold,
            "<=" => value <= threshold,
            _ => false,
        };
        if !holds {
            return None;
        }
        let palette_name = format.get("palette").and_then(Value::as_str).unwrap_or("");
        let tone = if palette_name.contains("red") {
            palette::ANOMALY
        } else if palette_name.contains("yellow") {
            palette::WARNING
        } else if palette_name.contains("green") {
            palette::OK
        } else {
            palette::INFO
        };
        Some(if palette_name.starts_with("white_on_") {
            ("#ffffff", Some(tone))
        } else {
            (tone, None)
        })
    })
}

fn toplist(definition: &Value, frame: &Frame<'_>) -> Result<Toplist, String> {
    let requests = requests(definition)?;
    let request = requests[0];
    let (results, metric) = run_request(request, 0, window(definition, frame), frame)?;
    let aggregator = aggregator(request);
    let limit = request
        .pointer("/formulas/0/limit/count")
        .and_then(Value::as_u64)
        .map_or(10, |c| c.clamp(1, 100) as usize);
    let palette_name = request.pointer("/style/palette").and_then(Value::as_str);
    let mut rows: Vec<ToplistRow> = results
        .iter()
        .filter(|r| r.kind == SeriesKind::Value)
        .filter_map(|r| {
            let value = reduce(&values_of(r), &aggregator)?;
            let label = if r.tag_set.is_empty() {
                r.display_name.clone()
            } else {
                r.tag_set.join(", ")
            };
            Some(ToplistRow {
                label,
                value,
                color: palette::color(palette_name, 0),
            })
        })
        .collect();
    rows.sort_by(|a, b| b.value.total_cmp(&a.value));
    rows.truncate(limit);
    Ok(Toplist {
        title: None,
        rows,
        unit: metric.as_deref().and_then(|m| frame.unit(m)),
    })
}

/// Event marks for a chart from an `event_query` (`sources:jenkins tags:env:prod` or words of the title).
pub(crate) fn event_marks(store: &Store, query: &str, from: i64, to: i64) -> Vec<EventMark> {
    let mut filter = ddlab_store::EventFilter {
        start: from,
        end: to,
        limit: 200,
        ..ddlab_store::EventFilter::default()
    };
    let mut words = Vec::new();
    for term in query.split_whitespace() {
        if let Some(sources) = term.strip_prefix("sources:") {
            filter.sources.extend(sources.split(',').map(str::to_owned));
        } else if let Some(tags) = term.strip_prefix("tags:") {
            filter.tags.extend(tags.split(',').map(str::to_owned));
        } else if let Some(priority) = term.strip_prefix("priority:") {
            filter.priority = Some(priority.to_owned());
        } else if term != "*" && !term.starts_with("hosts:") {
            words.push(term.to_ascii_lowercase());
        }
    }
    store
        .events(&filter)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            words
                .iter()
                .all(|w| e.event.title.to_ascii_lowercase().contains(w))
        })
        .map(|e| EventMark {
            at: e.event.date_happened,
            title: e.event.title,
        })
        .collect()
}

/// The chart model of a definition for a snapshot: only graphs that draw (timeseries, toplist, query value).
pub(crate) fn chart_of(widget: &Widget) -> Option<ChartModel> {
    match &widget.body {
        Body::Timeseries(t) => Some(ChartModel::Timeseries(t.clone())),
        Body::Toplist(t) => Some(ChartModel::Toplist(t.clone())),
        Body::Value(v) => Some(ChartModel::Value(v.clone())),
        _ => None,
    }
}

/// A drawable chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ChartModel {
    Timeseries(Timeseries),
    Toplist(Toplist),
    Value(BigNumber),
}

impl ChartModel {
    /// The chart's SVG, with `title` drawn in it when given.
    pub(crate) fn svg(&self, title: Option<&str>, size: chart::Size, tz: &jiff::tz::TimeZone) -> String {
        let title = title.map(str::to_owned);
        match self {
            ChartModel::Timeseries(t) => chart::timeseries(&Timeseries { title, ..t.clone() }, size, tz),
            ChartModel::Toplist(t) => chart::toplist(&Toplist { title, ..t.clone() }, size),
            ChartModel::Value(v) => chart::big_number(&BigNumber { title, ..v.clone() }, size),
        }
    }
}
