//! The SVG renderer checked on known series: axes, legends, bands, bars and escaping.

use jiff::tz::TimeZone;

use super::*;

const T: i64 = 1_700_000_000 - 1_700_000_000 % 3600; // 2023-11-14 22:00:00 UTC.

fn series(label: &str, display: Display, points: &[(i64, f64)]) -> Series {
    Series {
        label: label.to_owned(),
        display,
        color: palette::color(None, 0),
        interval: 60,
        points: points.iter().map(|&(t, v)| (t, Some(v))).collect(),
        band: None,
    }
}

fn chart(series: Vec<Series>) -> Timeseries {
    Timeseries {
        id: "t".to_owned(),
        title: None,
        from: T,
        to: T + 3600,
        series,
        markers: Vec::new(),
        events: Vec::new(),
        unit: None,
        yaxis: YAxis::default(),
        legend: true,
    }
}

fn render(chart: &Timeseries) -> String {
    timeseries(
        chart,
        Size {
            width: 600.0,
            height: 240.0,
        },
        &TimeZone::UTC,
    )
}

/// The texts of the elements with `class`, in order.
fn texts(svg: &str, class: &str) -> Vec<String> {
    let marker = format!(r#"<text class="{class}""#);
    svg.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &svg[at..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest.find("</text>").unwrap();
            rest[start..end].to_owned()
        })
        .collect()
}

fn count(svg: &str, needle: &str) -> usize {
    svg.matches(needle).count()
}

#[test]
fn axes_are_labelled_with_times_and_units() {
    let mut c = chart(vec![series(
        "avg:system.cpu.user{*}",
        Display::Line,
        &[(T, 12.0), (T + 600, 48.0), (T + 1200, 87.0)],
    )]);
    c.unit = Unit::new("percent", None);
    let svg = render(&c);
    assert_eq!(texts(&svg, "y-label"), ["0%", "20%", "40%", "60%", "80%", "100%"]);
    let times = texts(&svg, "x-label");
    assert_eq!(
        times,
        ["22:00", "22:10", "22:20", "22:30", "22:40", "22:50", "23:00"]
    );
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert_eq!(count(&svg, r#"class="series line""#), 1);
}

#[test]
fn the_legend_lists_every_series_in_its_colour() {
    let mut a = series("host:a", Display::Line, &[(T, 1.0), (T + 60, 2.0)]);
    let mut b = series("host:b", Display::Line, &[(T, 3.0), (T + 60, 4.0)]);
    a.color = palette::color(None, 0);
    b.color = palette::color(None, 1);
    let svg = render(&chart(vec![a, b]));
    assert_eq!(texts(&svg, "legend-label"), ["host:a", "host:b"]);
    assert!(svg.contains(&format!(
        r#"fill="{}"/><text class="legend-label""#,
        palette::color(None, 1)
    )));
    let mut hidden = chart(vec![series("x", Display::Line, &[(T, 1.0)])]);
    hidden.legend = false;
    assert!(texts(&render(&hidden), "legend-label").is_empty());
}

#[test]
fn a_crowded_legend_says_how_many_entries_it_left_out() {
    let many: Vec<Series> = (0..40)
        .map(|i| {
            series(
                &format!("resource_name:get_/api/endpoint/{i}"),
                Display::Line,
                &[(T, f64::from(i))],
            )
        })
        .collect();
    let svg = render(&chart(many));
    let shown = texts(&svg, "legend-label").len();
    assert!(shown > 0 && shown < 40, "{shown}");
    assert_eq!(texts(&svg, "legend-more"), [format!("+{} more", 40 - shown)]);
}

#[test]
fn anomaly_bands_are_grey_and_out_of_band_points_red() {
    let mut s = series(
        "avg:mysql.performance.cpu_time{*}",
        Display::Line,
        &[(T, 10.0), (T + 60, 11.0), (T + 120, 30.0), (T + 180, 10.5)],
    );
    s.band = Some(Band {
        lower: vec![
            (T, None),
            (T + 60, Some(8.0)),
            (T + 120, Some(8.5)),
            (T + 180, Some(9.0)),
        ],
        upper: vec![
            (T, None),
            (T + 60, Some(13.0)),
            (T + 120, Some(13.5)),
            (T + 180, Some(12.0)),
        ],
    });
    let svg = render(&chart(vec![s]));
    // One band polygon over the three points that have bounds: upper left to right, lower back.
    let band = svg.split(r#"<path class="band" d=""#).nth(1).unwrap();
    let d = &band[..band.find('"').unwrap()];
    assert_eq!(d.matches(['M', 'L']).count(), 6, "{d}");
    assert!(d.ends_with('Z'));
    assert!(svg.contains(&format!(r#"fill="{}" fill-opacity="0.35""#, palette::BAND)));
    // Only the spike is outside the band; both segments touching it are red.
    assert_eq!(count(&svg, r#"<circle class="anomaly""#), 1);
    let red = svg.split(r#"<path class="anomaly-line" d=""#).nth(1).unwrap();
    assert_eq!(red[..red.find('"').unwrap()].matches('M').count(), 2);
    assert_eq!(
        texts(&svg, "legend-label"),
        ["avg:mysql.performance.cpu_time{*}", "expected range", "anomaly"]
    );
    // The band is drawn before (under) the series.
    assert!(svg.find(r#"class="band""#) < svg.find(r#"class="series line""#));
}

#[test]
fn one_bar_per_bucket() {
    let mut s = series("sum per hour", Display::Bars, &[]);
    s.interval = 600;
    s.points = (0..6)
        .map(|i| (T + i * 600, Some(f64::from(i as u8) + 1.0)))
        .collect();
    s.points.push((T + 3600, None));
    let svg = render(&chart(vec![s]));
    assert_eq!(count(&svg, r#"<rect class="bar""#), 6);
    // A bucket that starts before the window but reaches into it is drawn (clipped); one outside is not.
    let mut rollup = series("rollup", Display::Bars, &[(T - 1800, 5.0), (T - 7200, 9.0)]);
    rollup.interval = 3600;
    let svg = render(&chart(vec![rollup]));
    assert_eq!(count(&svg, r#"<rect class="bar""#), 1);
}

#[test]
fn bars_of_several_series_stack() {
    let a = series("a", Display::Bars, &[(T, 2.0)]);
    let b = series("b", Display::Bars, &[(T, 3.0)]);
    let svg = render(&chart(vec![a, b]));
    // The axis reaches the stacked total, not the largest single value.
    assert_eq!(texts(&svg, "y-label").last().map(String::as_str), Some("5"));
}

#[test]
fn data_text_is_escaped() {
    let mut c = chart(vec![series(
        "<script>alert('x')</script>",
        Display::Line,
        &[(T, 1.0)],
    )]);
    c.title = Some("A & B <b>".to_owned());
    c.events.push(EventMark {
        at: T + 60,
        title: "\"><img src=x>".to_owned(),
    });
    let svg = render(&c);
    assert!(!svg.contains("<script>") && !svg.contains("<img") && !svg.contains("<b>"));
    assert!(svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert_eq!(texts(&svg, "chart-title"), ["A &amp; B &lt;b&gt;"]);
}

#[test]
fn an_empty_chart_says_so() {
    let svg = render(&chart(Vec::new()));
    assert_eq!(texts(&svg, "no-data"), ["No data for this time frame"]);
    assert_eq!(texts(&svg, "x-label").len(), 7);
}

#[test]
fn markers_draw_threshold_lines() {
    let mut c = chart(vec![series("m", Display::Line, &[(T, 100.0), (T + 60, 300.0)])]);
    c.markers = vec![
        Marker {
            value: 800.0,
            label: "critical 800".to_owned(),
            tone: Tone::Error,
            dashed: true,
        },
        Marker {
            value: 500.0,
            label: "warning 500".to_owned(),
            tone: Tone::Warning,
            dashed: true,
        },
    ];
    let svg = render(&c);
    assert_eq!(texts(&svg, "marker-label"), ["critical 800", "warning 500"]);
    // The axis grows to show the thresholds.
    assert_eq!(texts(&svg, "y-label").last().map(String::as_str), Some("800"));
}

#[test]
fn toplists_and_big_numbers() {
    let list = Toplist {
        title: None,
        rows: vec![
            ToplistRow {
                label: "host:a".to_owned(),
                value: 1500.0,
                color: palette::color(None, 0),
            },
            ToplistRow {
                label: "host:<b>".to_owned(),
                value: 750.0,
                color: palette::color(None, 0),
            },
        ],
        unit: None,
    };
    let svg = toplist(
        &list,
        Size {
            width: 400.0,
            height: 120.0,
        },
    );
    assert_eq!(count(&svg, r#"<rect class="toplist-bar""#), 2);
    assert_eq!(texts(&svg, "row-label"), ["host:a", "host:&lt;b&gt;"]);
    assert_eq!(texts(&svg, "row-value"), ["1.5K", "750"]);

    let mut number = BigNumber {
        title: None,
        value: Some(0.4567),
        precision: 2,
        unit: Unit::new("second", None),
        custom_unit: None,
        autoscale: true,
        caption: "avg".to_owned(),
        color: None,
        background: None,
    };
    let size = Size {
        width: 300.0,
        height: 150.0,
    };
    assert_eq!(texts(&big_number(&number, size), "value"), ["456.7ms"]);
    number.custom_unit = Some("req".to_owned());
    number.value = Some(12_345.0);
    number.precision = 0;
    assert_eq!(texts(&big_number(&number, size), "value"), ["12K req"]);
    number.value = None;
    let svg = big_number(&number, size);
    assert_eq!(texts(&svg, "value"), ["–"]);
    assert_eq!(texts(&svg, "caption"), ["no data in this time frame"]);
}
