//! Charts as SVG text, pure: timeseries (lines, areas, stacked bars, anomaly bands, threshold markers,
//! event marks, a legend), toplists and big numbers. The web UI inlines them; graph snapshots rasterise
//! the same text to PNG.
//!
//! Every string that comes from data (series labels, titles) is escaped here; callers pass plain text.
//! Sizes are pixels; the SVG carries its own `width`/`height` and a matching `viewBox`, so pages may scale
//! it and the rasteriser draws it at exactly that size.
//!
//! Anomaly bands are drawn as Datadog draws them: the expected range as a grey band behind the series,
//! and the parts of the series outside the band in red.

mod axis;
pub(crate) mod palette;
pub(crate) mod units;

use std::collections::HashMap;
use std::fmt::Write as _;

use jiff::tz::TimeZone;

pub(crate) use axis::format_time;
pub(crate) use units::{Scale, Unit};

/// How a series is drawn (a request's `display_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Display {
    Line,
    Area,
    Bars,
}

/// One series of a timeseries chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) display: Display,
    pub(crate) color: &'static str,
    /// Bucket width in seconds: the width of a bar.
    pub(crate) interval: u32,
    /// `(bucket start in epoch seconds, value)`, sorted by time; `None` breaks a line.
    pub(crate) points: Vec<(i64, Option<f64>)>,
    /// The expected range of an `anomalies()` series.
    pub(crate) band: Option<Band>,
}

/// An anomaly band: lower and upper bounds on the series' own timestamps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Band {
    pub(crate) lower: Vec<(i64, Option<f64>)>,
    pub(crate) upper: Vec<(i64, Option<f64>)>,
}

/// The colour family of a marker (a threshold line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Error,
    Warning,
    Ok,
    Info,
}

/// A horizontal line at a value: a monitor threshold, or a widget's `markers` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Marker {
    pub(crate) value: f64,
    pub(crate) label: String,
    pub(crate) tone: Tone,
    pub(crate) dashed: bool,
}

/// An event drawn as a vertical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventMark {
    pub(crate) at: i64,
    pub(crate) title: String,
}

/// The y axis options of a widget (`yaxis`): fixed ends and whether zero must show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct YAxis {
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) include_zero: bool,
}

impl Default for YAxis {
    fn default() -> Self {
        YAxis {
            min: None,
            max: None,
            include_zero: true,
        }
    }
}

/// A timeseries chart over `[from, to]` (epoch seconds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timeseries {
    /// Unique within a page: names the chart's clip path.
    pub(crate) id: String,
    /// Drawn above the plot (snapshots); pages show widget titles outside the chart.
    pub(crate) title: Option<String>,
    pub(crate) from: i64,
    pub(crate) to: i64,
    pub(crate) series: Vec<Series>,
    pub(crate) markers: Vec<Marker>,
    pub(crate) events: Vec<EventMark>,
    pub(crate) unit: Option<Unit>,
    pub(crate) yaxis: YAxis,
    pub(crate) legend: bool,
}

/// A toplist: one bar per row, largest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Toplist {
    pub(crate) title: Option<String>,
    pub(crate) rows: Vec<ToplistRow>,
    pub(crate) unit: Option<Unit>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToplistRow {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) color: &'static str,
}

/// A query value widget's big number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BigNumber {
    pub(crate) title: Option<String>,
    /// `None` when the query had no data.
    pub(crate) value: Option<f64>,
    pub(crate) precision: usize,
    pub(crate) unit: Option<Unit>,
    /// A widget's `custom_unit`, written after the number instead of the metric's unit.
    pub(crate) custom_unit: Option<String>,
    /// `autoscale`: 12.3K instead of 12345.
    pub(crate) autoscale: bool,
    /// The aggregator used, shown under the number (`avg`, `sum`, ...).
    pub(crate) caption: String,
    /// Text and background colours from a matching conditional format.
    pub(crate) color: Option<&'static str>,
    pub(crate) background: Option<&'static str>,
}

/// Pixel size of a chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Size {
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// The fonts charts ask for: the lab's OS package (`fonts-dejavu-core`) first, so pages and snapshots agree.
pub(crate) const FONT_FAMILY: &str = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif";
const FONT: f64 = 11.0;
const TITLE_FONT: f64 = 14.0;
const LEGEND_ROW: f64 = 18.0;
const MAX_LEGEND_ROWS: usize = 3;
const MAX_LABEL: usize = 60;

/// The SVG of a timeseries chart, drawn in `tz`'s clock.
pub(crate) fn timeseries(chart: &Timeseries, size: Size, tz: &TimeZone) -> String {
    let id = sanitize_id(&chart.id);
    let (from, to) = (chart.from, chart.to.max(chart.from + 1));
    let stacks = stack_bars(&chart.series);
    let domain = y_domain(chart, &stacks);
    let title_height = if chart.title.is_some() { 26.0 } else { 0.0 };
    let legend_items = if chart.legend {
        legend_items(chart)
    } else {
        Vec::new()
    };
    let legend = LegendLayout::new(&legend_items, size.width - 16.0);
    let top = 10.0 + title_height;
    let bottom = 22.0 + legend.height;
    let plot_height = (size.height - top - bottom).max(20.0);
    let ticks = axis::value_ticks(
        domain.map_or(0.0, |d| d.0),
        domain.map_or(1.0, |d| d.1),
        ((plot_height / 36.0) as usize).clamp(2, 8),
    );
    let (lo, hi) = (
        ticks.values.first().copied().unwrap_or(0.0),
        ticks.values.last().copied().unwrap_or(1.0),
    );
    let max_abs = lo.abs().max(hi.abs());
    let scale = Unit::scale(chart.unit.as_ref(), max_abs);
    let labels: Vec<String> = ticks.values.iter().map(|v| scale.label(*v, ticks.step)).collect();
    let left = labels
        .iter()
        .map(|l| text_width(l, FONT))
        .fold(0.0, f64::max)
        .max(16.0)
        + 12.0;
    let right = 14.0;
    let plot = Rect {
        x: left,
        y: top,
        width: (size.width - left - right).max(20.0),
        height: plot_height,
    };
    let x = |t: f64| plot.x + (t - from as f64) / (to - from) as f64 * plot.width;
    let y = |v: f64| plot.y + (hi - v) / (hi - lo) * plot.height;

    let mut svg = Svg::open(size, "chart timeseries");
    if let Some(title) = &chart.title {
        svg.text(
            10.0,
            19.0,
            TITLE_FONT,
            "start",
            "#23242b",
            "chart-title",
            title,
            true,
        );
    }
    let _ = write!(
        svg.0,
        r#"<defs><clipPath id="clip-{id}"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/></clipPath></defs>"#,
        plot.x,
        plot.y - 1.0,
        plot.width,
        plot.height + 2.0
    );
    // Grid and value labels.
    for (value, label) in ticks.values.iter().zip(&labels) {
        let ty = y(*value);
        let _ = write!(
            svg.0,
            r#"<line class="grid" x1="{:.1}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="{}" stroke-width="1"/>"#,
            plot.x,
            plot.x + plot.width,
            palette::GRID
        );
        svg.text(
            plot.x - 6.0,
            ty + 4.0,
            FONT,
            "end",
            palette::TEXT,
            "y-label",
            label,
            false,
        );
    }
    // Time labels.
    let max_ticks = (plot.width / 80.0).max(2.0) as usize;
    for tick in axis::time_ticks(from, to, max_ticks, tz) {
        let tx = x(tick.at as f64);
        if tick.major {
            let _ = write!(
                svg.0,
                r#"<line class="day" x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="{}" stroke-width="1"/>"#,
                plot.y,
                plot.y + plot.height,
                palette::GRID
            );
        }
        let _ = write!(
            svg.0,
            r#"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="{}" stroke-width="1"/>"#,
            plot.y + plot.height,
            plot.y + plot.height + 4.0,
            palette::TEXT
        );
        svg.text(
            tx,
            plot.y + plot.height + 16.0,
            FONT,
            "middle",
            palette::TEXT,
            if tick.major { "x-label major" } else { "x-label" },
            &tick.label,
            tick.major,
        );
    }
    let _ = write!(
        svg.0,
        r#"<line class="axis" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="1"/>"#,
        plot.x,
        plot.y + plot.height,
        plot.x + plot.width,
        plot.y + plot.height,
        palette::TEXT
    );

    let _ = write!(svg.0, r#"<g clip-path="url(#clip-{id})">"#);
    if domain.is_none() {
        svg.text(
            plot.x + plot.width / 2.0,
            plot.y + plot.height / 2.0,
            12.0,
            "middle",
            palette::TEXT,
            "no-data",
            "No data for this time frame",
            false,
        );
    }
    // Bands go behind everything.
    for series in &chart.series {
        if let Some(band) = &series.band {
            draw_band(&mut svg, band, &x, &y);
        }
    }
    let zero = y(0.0_f64.clamp(lo, hi));
    for (index, series) in chart.series.iter().enumerate() {
        match series.display {
            Display::Bars => draw_bars(&mut svg, series, &stacks[index], from, to, &x, &y, &scale, tz),
            Display::Area => {
                draw_area(&mut svg, series, &x, &y, zero);
                draw_line(&mut svg, series, &x, &y);
            }
            Display::Line => draw_line(&mut svg, series, &x, &y),
        }
        if let Some(band) = &series.band {
            draw_out_of_band(&mut svg, series, band, &x, &y);
        }
    }
    for marker in &chart.markers {
        let my = y(marker.value);
        let color = tone_color(marker.tone);
        let dash = if marker.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg.0,
            r#"<line class="marker" x1="{:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="{color}" stroke-width="1.5"{dash}/>"#,
            plot.x,
            plot.x + plot.width
        );
        svg.text(
            plot.x + plot.width - 4.0,
            my - 4.0,
            10.0,
            "end",
            color,
            "marker-label",
            &marker.label,
            true,
        );
    }
    for event in &chart.events {
        if event.at < from || event.at > to {
            continue;
        }
        let ex = x(event.at as f64);
        let _ = write!(
            svg.0,
            r#"<line class="event" x1="{ex:.1}" y1="{:.1}" x2="{ex:.1}" y2="{:.1}" stroke="{}" stroke-width="1" stroke-dasharray="2 3"><title>{}</title></line>"#,
            plot.y,
            plot.y + plot.height,
            palette::INFO,
            esc(&event.title)
        );
    }
    svg.0.push_str("</g>");
    legend.draw(&mut svg, &legend_items, 8.0, size.height - legend.height + 4.0);
    svg.close()
}

/// The SVG of a toplist.
pub(crate) fn toplist(list: &Toplist, size: Size) -> String {
    let mut svg = Svg::open(size, "chart toplist");
    let mut top = 6.0;
    if let Some(title) = &list.title {
        svg.text(
            10.0,
            19.0,
            TITLE_FONT,
            "start",
            "#23242b",
            "chart-title",
            title,
            true,
        );
        top += 24.0;
    }
    if list.rows.is_empty() {
        svg.text(
            size.width / 2.0,
            (top + size.height) / 2.0,
            12.0,
            "middle",
            palette::TEXT,
            "no-data",
            "No data for this time frame",
            false,
        );
        return svg.close();
    }
    let max = list.rows.iter().map(|r| r.value.abs()).fold(0.0, f64::max);
    let scale = Unit::scale(list.unit.as_ref(), max);
    let values: Vec<String> = list.rows.iter().map(|r| scale.value(r.value, 2)).collect();
    let label_width = list
        .rows
        .iter()
        .map(|r| text_width(&truncate(&r.label, 40), FONT))
        .fold(0.0, f64::max)
        .min(size.width * 0.45)
        + 12.0;
    let value_width = values.iter().map(|v| text_width(v, FONT)).fold(0.0, f64::max) + 10.0;
    let bar_space = (size.width - label_width - value_width - 10.0).max(10.0);
    let row = ((size.height - top - 6.0) / list.rows.len() as f64).clamp(8.0, 26.0);
    for (i, (r, value)) in list.rows.iter().zip(&values).enumerate() {
        let ry = top + i as f64 * row;
        if ry + row > size.height + 0.5 {
            break;
        }
        let width = if max > 0.0 {
            r.value.abs() / max * bar_space
        } else {
            0.0
        };
        let label = truncate(&r.label, 40);
        svg.text(
            label_width - 6.0,
            ry + row * 0.5 + 4.0,
            FONT,
            "end",
            "#23242b",
            "row-label",
            &label,
            false,
        );
        let _ = write!(
            svg.0,
            r#"<rect class="toplist-bar" x="{label_width:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="2" fill="{}"><title>{}: {}</title></rect>"#,
            ry + row * 0.15,
            width.max(1.0),
            row * 0.7,
            r.color,
            esc(&r.label),
            esc(value)
        );
        svg.text(
            label_width + width + 6.0,
            ry + row * 0.5 + 4.0,
            FONT,
            "start",
            palette::TEXT,
            "row-value",
            value,
            false,
        );
    }
    svg.close()
}

/// The SVG of a query value's big number.
pub(crate) fn big_number(number: &BigNumber, size: Size) -> String {
    let mut svg = Svg::open(size, "chart query-value");
    if let Some(background) = number.background {
        let _ = write!(
            svg.0,
            r#"<rect x="0" y="0" width="{:.1}" height="{:.1}" rx="6" fill="{background}"/>"#,
            size.width, size.height
        );
    }
    let mut top = 0.0;
    if let Some(title) = &number.title {
        svg.text(
            10.0,
            19.0,
            TITLE_FONT,
            "start",
            "#23242b",
            "chart-title",
            title,
            true,
        );
        top = 24.0;
    }
    let text = match number.value {
        None => "–".to_owned(),
        Some(value) => format_big(number, value),
    };
    let color = number.color.unwrap_or("#23242b");
    let room = size.height - top - 22.0;
    let font = (room * 0.62)
        .min(size.width * 0.9 / (text.chars().count().max(1) as f64 * 0.62))
        .clamp(12.0, 96.0);
    let cy = top + room / 2.0 + font * 0.36;
    svg.text(size.width / 2.0, cy, font, "middle", color, "value", &text, true);
    let caption = if number.value.is_none() {
        "no data in this time frame".to_owned()
    } else {
        number.caption.clone()
    };
    svg.text(
        size.width / 2.0,
        size.height - 8.0,
        FONT,
        "middle",
        palette::TEXT,
        "caption",
        &caption,
        false,
    );
    svg.close()
}

fn format_big(number: &BigNumber, value: f64) -> String {
    let unit = if number.custom_unit.is_some() {
        None
    } else {
        number.unit.as_ref()
    };
    let text = if number.autoscale {
        Unit::scale(unit, value.abs()).value(value, number.precision)
    } else {
        let p = number.precision;
        let base = format!("{value:.p$}");
        match unit {
            Some(unit) => format!("{base} {}", unit.name),
            None => base,
        }
    };
    match &number.custom_unit {
        Some(custom) => format!("{text} {custom}"),
        None => text,
    }
}

/// Plain text with `&`, `<`, `>` and quotes escaped, for SVG and HTML.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

/// An SVG document being written.
struct Svg(String);

impl Svg {
    fn open(size: Size, class: &str) -> Svg {
        let mut text = String::with_capacity(8192);
        let _ = write!(
            text,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{FONT_FAMILY}" role="img">"#,
            w = size.width,
            h = size.height
        );
        Svg(text)
    }

    #[allow(clippy::too_many_arguments)]
    fn text(
        &mut self,
        x: f64,
        y: f64,
        size: f64,
        anchor: &str,
        fill: &str,
        class: &str,
        text: &str,
        bold: bool,
    ) {
        let weight = if bold { r#" font-weight="bold""# } else { "" };
        let _ = write!(
            self.0,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" font-size="{size:.1}" text-anchor="{anchor}" fill="{fill}"{weight}>{}</text>"#,
            esc(text)
        );
    }

    fn close(mut self) -> String {
        self.0.push_str("</svg>");
        self.0
    }
}

/// Estimated width of `text` at `size` px in the chart font (no text measuring without the font).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.62
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn sanitize_id(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn tone_color(tone: Tone) -> &'static str {
    match tone {
        Tone::Error => palette::ANOMALY,
        Tone::Warning => palette::WARNING,
        Tone::Ok => palette::OK,
        Tone::Info => palette::INFO,
    }
}

/// For each series, the base its bars stand on at each timestamp: bar series stack in order, positive
/// values upwards and negative values downwards, as Datadog stacks bars.
fn stack_bars(series: &[Series]) -> Vec<HashMap<i64, f64>> {
    let mut positive: HashMap<i64, f64> = HashMap::new();
    let mut negative: HashMap<i64, f64> = HashMap::new();
    series
        .iter()
        .map(|s| {
            let mut bases = HashMap::new();
            if s.display == Display::Bars {
                for (t, v) in &s.points {
                    let Some(v) = v.filter(|v| v.is_finite()) else {
                        continue;
                    };
                    let stack = if v >= 0.0 { &mut positive } else { &mut negative };
                    let base = stack.entry(*t).or_insert(0.0);
                    bases.insert(*t, *base);
                    *base += v;
                }
            }
            bases
        })
        .collect()
}

/// The range of everything drawn; `None` when there is nothing to draw.
fn y_domain(chart: &Timeseries, stacks: &[HashMap<i64, f64>]) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut see = |v: f64| {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    };
    let mut any = false;
    for (series, bases) in chart.series.iter().zip(stacks) {
        for (t, v) in &series.points {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                any = true;
                let base = if series.display == Display::Bars {
                    bases.get(t).copied().unwrap_or(0.0)
                } else {
                    0.0
                };
                see(base + v);
                if series.display != Display::Line {
                    see(base);
                }
            }
        }
        if let Some(band) = &series.band {
            for (_, v) in band.lower.iter().chain(&band.upper) {
                if let Some(v) = v {
                    see(*v);
                }
            }
        }
    }
    if !any {
        return None;
    }
    for marker in &chart.markers {
        see(marker.value);
    }
    if chart.yaxis.include_zero {
        see(0.0);
    }
    let lo = chart.yaxis.min.unwrap_or(lo);
    let hi = chart.yaxis.max.unwrap_or(hi);
    Some((lo, hi.max(lo)))
}

fn draw_line(svg: &mut Svg, series: &Series, x: &impl Fn(f64) -> f64, y: &impl Fn(f64) -> f64) {
    let mut path = String::new();
    let mut run = 0;
    let mut singles = Vec::new();
    let mut last = None;
    for (t, v) in &series.points {
        match v.filter(|v| v.is_finite()) {
            Some(v) => {
                let (px, py) = (x(*t as f64), y(v));
                let _ = write!(path, "{}{px:.1},{py:.1}", if run == 0 { "M" } else { "L" });
                run += 1;
                last = Some((px, py));
            }
            None => {
                if run == 1 {
                    singles.extend(last);
                }
                run = 0;
            }
        }
    }
    if run == 1 {
        singles.extend(last);
    }
    let label = esc(&series.label);
    if !path.is_empty() {
        let _ = write!(
            svg.0,
            r#"<path class="series line" d="{path}" fill="none" stroke="{}" stroke-width="1.6" stroke-linejoin="round" stroke-linecap="round"><title>{label}</title></path>"#,
            series.color
        );
    }
    for (px, py) in singles {
        let _ = write!(
            svg.0,
            r#"<circle class="point" cx="{px:.1}" cy="{py:.1}" r="2.5" fill="{}"><title>{label}</title></circle>"#,
            series.color
        );
    }
}

fn draw_area(svg: &mut Svg, series: &Series, x: &impl Fn(f64) -> f64, y: &impl Fn(f64) -> f64, zero: f64) {
    let mut path = String::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64)>, path: &mut String| {
        if let (Some(first), Some(last)) = (run.first(), run.last()) {
            let _ = write!(path, "M{:.1},{zero:.1}", first.0);
            for (px, py) in run.iter() {
                let _ = write!(path, "L{px:.1},{py:.1}");
            }
            let _ = write!(path, "L{:.1},{zero:.1}Z", last.0);
        }
        run.clear();
    };
    for (t, v) in &series.points {
        match v.filter(|v| v.is_finite()) {
            Some(v) => run.push((x(*t as f64), y(v))),
            None => flush(&mut run, &mut path),
        }
    }
    flush(&mut run, &mut path);
    if !path.is_empty() {
        let _ = write!(
            svg.0,
            r#"<path class="series area" d="{path}" fill="{}" fill-opacity="0.22" stroke="none"/>"#,
            series.color
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_bars(
    svg: &mut Svg,
    series: &Series,
    bases: &HashMap<i64, f64>,
    from: i64,
    to: i64,
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
    scale: &Scale,
    tz: &TimeZone,
) {
    let interval = i64::from(series.interval.max(1));
    let label = esc(&series.label);
    for (t, v) in &series.points {
        let Some(v) = v.filter(|v| v.is_finite()) else {
            continue;
        };
        if t + interval <= from || *t > to {
            continue;
        }
        let (x0, x1) = (x(*t as f64), x((t + interval) as f64));
        let gap = ((x1 - x0) * 0.12).min(3.0);
        let base = bases.get(t).copied().unwrap_or(0.0);
        let (y0, y1) = (y(base), y(base + v));
        let when = format_time(*t, tz, "%b %-d %H:%M");
        let _ = write!(
            svg.0,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{label} at {when}: {}</title></rect>"#,
            x0 + gap / 2.0,
            y0.min(y1),
            (x1 - x0 - gap).max(1.0),
            (y0 - y1).abs().max(0.5),
            series.color,
            esc(&scale.value(v, 3))
        );
    }
}

fn draw_band(svg: &mut Svg, band: &Band, x: &impl Fn(f64) -> f64, y: &impl Fn(f64) -> f64) {
    let upper: HashMap<i64, f64> = band
        .upper
        .iter()
        .filter_map(|(t, v)| v.filter(|v| v.is_finite()).map(|v| (*t, v)))
        .collect();
    let mut runs: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new()];
    for (t, lower) in &band.lower {
        match (lower.filter(|v| v.is_finite()), upper.get(t)) {
            (Some(low), Some(high)) => {
                if let Some(run) = runs.last_mut() {
                    run.push((x(*t as f64), y(low), y(*high)));
                }
            }
            _ => runs.push(Vec::new()),
        }
    }
    let mut path = String::new();
    for run in runs.iter().filter(|r| !r.is_empty()) {
        for (i, (px, _, high)) in run.iter().enumerate() {
            let _ = write!(path, "{}{px:.1},{high:.1}", if i == 0 { "M" } else { "L" });
        }
        for (px, low, _) in run.iter().rev() {
            let _ = write!(path, "L{px:.1},{low:.1}");
        }
        path.push('Z');
    }
    if !path.is_empty() {
        let _ = write!(
            svg.0,
            r#"<path class="band" d="{path}" fill="{}" fill-opacity="0.35" stroke="{}" stroke-opacity="0.5" stroke-width="0.8"><title>expected range</title></path>"#,
            palette::BAND,
            palette::BAND
        );
    }
}

/// The points outside the band, and the line segments touching them, in red.
fn draw_out_of_band(
    svg: &mut Svg,
    series: &Series,
    band: &Band,
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    let lower: HashMap<i64, f64> = band
        .lower
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect();
    let upper: HashMap<i64, f64> = band
        .upper
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect();
    let points: Vec<(i64, Option<f64>, bool)> = series
        .points
        .iter()
        .map(|(t, v)| {
            let out = match (v, lower.get(t), upper.get(t)) {
                (Some(v), Some(low), Some(high)) => v < low || v > high,
                _ => false,
            };
            (*t, v.filter(|v| v.is_finite()), out)
        })
        .collect();
    let mut path = String::new();
    for pair in points.windows(2) {
        if let [(t0, Some(v0), out0), (t1, Some(v1), out1)] = pair
            && (*out0 || *out1)
        {
            let _ = write!(
                path,
                "M{:.1},{:.1}L{:.1},{:.1}",
                x(*t0 as f64),
                y(*v0),
                x(*t1 as f64),
                y(*v1)
            );
        }
    }
    if !path.is_empty() {
        let _ = write!(
            svg.0,
            r#"<path class="anomaly-line" d="{path}" fill="none" stroke="{}" stroke-width="2" stroke-linecap="round"/>"#,
            palette::ANOMALY
        );
    }
    for (t, v, out) in &points {
        if let (Some(v), true) = (v, out) {
            let _ = write!(
                svg.0,
                r#"<circle class="anomaly" cx="{:.1}" cy="{:.1}" r="2.6" fill="{}"><title>{} outside the expected range</title></circle>"#,
                x(*t as f64),
                y(*v),
                palette::ANOMALY,
                esc(&series.label)
            );
        }
    }
}

/// One legend entry: a colour swatch and a label.
#[derive(Debug, Clone, PartialEq)]
struct LegendItem {
    label: String,
    color: &'static str,
    class: &'static str,
}

fn legend_items(chart: &Timeseries) -> Vec<LegendItem> {
    let mut items: Vec<LegendItem> = chart
        .series
        .iter()
        .map(|s| LegendItem {
            label: truncate(&s.label, MAX_LABEL),
            color: s.color,
            class: "legend-item",
        })
        .collect();
    if chart.series.iter().any(|s| s.band.is_some()) {
        items.push(LegendItem {
            label: "expected range".to_owned(),
            color: palette::BAND,
            class: "legend-item legend-band",
        });
        items.push(LegendItem {
            label: "anomaly".to_owned(),
            color: palette::ANOMALY,
            class: "legend-item legend-anomaly",
        });
    }
    items
}

/// Where legend items go: flowed into rows, at most [`MAX_LEGEND_ROWS`], the rest counted.
#[derive(Debug)]
struct LegendLayout {
    /// `(row, x)` of each item shown.
    places: Vec<(usize, f64)>,
    hidden: usize,
    height: f64,
}

impl LegendLayout {
    fn new(items: &[LegendItem], width: f64) -> LegendLayout {
        let mut places = Vec::new();
        let (mut row, mut x) = (0, 0.0);
        for item in items {
            let w = 14.0 + text_width(&item.label, FONT) + 14.0;
            if x > 0.0 && x + w > width {
                row += 1;
                x = 0.0;
            }
            if row >= MAX_LEGEND_ROWS {
                break;
            }
            places.push((row, x));
            x += w;
        }
        let hidden = items.len() - places.len();
        // A last row says how many entries did not fit.
        let rows = places.iter().map(|(r, _)| r + 1).max().unwrap_or(0) + usize::from(hidden > 0);
        LegendLayout {
            hidden,
            height: rows as f64 * LEGEND_ROW + if rows > 0 { 4.0 } else { 0.0 },
            places,
        }
    }

    fn draw(&self, svg: &mut Svg, items: &[LegendItem], left: f64, top: f64) {
        if self.places.is_empty() {
            return;
        }
        svg.0.push_str(r#"<g class="legend">"#);
        for (item, (row, x)) in items.iter().zip(&self.places) {
            let (ix, iy) = (left + x, top + *row as f64 * LEGEND_ROW);
            let _ = write!(
                svg.0,
                r#"<g class="{}"><rect x="{ix:.1}" y="{:.1}" width="10" height="10" rx="2" fill="{}"/>"#,
                item.class,
                iy + 2.0,
                item.color
            );
            svg.text(
                ix + 14.0,
                iy + 11.0,
                FONT,
                "start",
                "#3a3d48",
                "legend-label",
                &item.label,
                false,
            );
            svg.0.push_str("</g>");
        }
        if self.hidden > 0 {
            let rows = self.places.iter().map(|(r, _)| r + 1).max().unwrap_or(0);
            let more = format!("+{} more", self.hidden);
            let iy = top + rows as f64 * LEGEND_ROW;
            svg.text(
                left,
                iy + 11.0,
                FONT,
                "start",
                palette::TEXT,
                "legend-more",
                &more,
                false,
            );
        }
        svg.0.push_str("</g>");
    }
}

#[cfg(test)]
mod tests;
