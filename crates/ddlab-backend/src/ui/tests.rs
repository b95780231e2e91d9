//! The web UI in-process: every page against a backend seeded with the demo data set (known hosts, metrics,
//! APM traffic, events, the reference monitor and downtimes), the empty states of a fresh lab, dashboards
//! from Datadog's JSON, the login off loopback, and graph snapshots.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use resvg::tiny_skia;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::dashboard::{self, DashboardView};
use crate::demo::{self, DEMO_EMAIL, DEMO_HOST, DemoReport};
use crate::{AppState, Config, Keys, Secret};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";

struct Lab {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn lab(listen: &str) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        state_dir: dir.path().join("state"),
        listen: listen.parse().unwrap(),
        test_mode: false,
        keys: Some(Keys {
            api_key: Secret::new(API),
            app_key: Secret::new(APP),
        }),
        public_url: Some("http://lab.test".to_owned()),
        notifications: crate::NotificationConfig::default(),
    };
    let state = AppState::open(&config).unwrap();
    Lab { _dir: dir, state }
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(lab: &Lab, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = crate::router(lab.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

async fn get(lab: &Lab, uri: &str) -> Page {
    get_with(lab, uri, &[]).await
}

async fn get_with(lab: &Lab, uri: &str, headers: &[(&str, &str)]) -> Page {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, headers, body) = send(lab, request.body(Body::empty()).unwrap()).await;
    Page {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A page that must answer 200 with HTML.
async fn html(lab: &Lab, uri: &str) -> String {
    let page = get(lab, uri).await;
    assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8",
        "{uri}"
    );
    page.body
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The part of a dashboard page from the widget titled `title` to the next widget.
fn widget<'p>(page: &'p str, title: &str) -> &'p str {
    let start = page
        .find(&format!(">{title}</div>"))
        .unwrap_or_else(|| panic!("no widget titled {title:?} in:\n{page}"));
    let rest = &page[start..];
    let end = rest.find(r#"<div class="widget "#).unwrap_or(rest.len());
    &rest[..end]
}

/// Asserts that `needles` appear in `page`, in this order.
fn in_order(page: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match page[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing (or out of order) in:\n{page}"),
        }
    }
}

async fn seeded() -> (Lab, DemoReport) {
    let lab = lab("127.0.0.1:0");
    let report = demo::seed(&lab.state).await.unwrap();
    (lab, report)
}

#[tokio::test]
async fn every_page_shows_the_seeded_lab() {
    let (lab, report) = seeded().await;

    let map = html(&lab, "/infrastructure/map").await;
    in_order(
        &map,
        &[
            "<title>Host map · ddlab</title>",
            r#"class="hexes""#,
            r#"id="host-ddlab-vm""#,
        ],
    );
    for needle in [
        "web-2",
        "10.0.2.15",
        "team:solutions-engineering",
        ">Users<",
        ">Datadog<",
        "mysql.can_connect",
        "role:exercise",
    ] {
        assert!(map.contains(needle), "host map lacks {needle}");
    }
    // worker-1 stopped reporting 40 minutes ago; the others are up.
    in_order(&map, &[r#"id="host-worker-1""#, r#"class="dot down""#]);
    assert_eq!(count(&map, r#"class="dot up""#), 2);

    let query = "anomalies(avg:mysql.performance.cpu_time{*}, 'basic', 2)";
    let explorer = html(&lab, &format!("/metric/explorer?q={}", encode(query))).await;
    assert!(explorer.contains(r#"<path class="band""#), "no band");
    assert!(
        explorer.contains(r#"<circle class="anomaly""#),
        "no out-of-band point"
    );
    assert!(
        explorer.contains("&quot;res_type&quot;: &quot;time_series&quot;"),
        "no API JSON"
    );
    assert!(explorer.contains(">Past 1 Hour<") && explorer.contains(r#"title="Past 5 Minutes""#));
    assert!(explorer.contains(r#"title="my_metric""#), "no metric list");
    let bad = html(&lab, &format!("/metric/explorer?q={}", encode("avg:my_metric{"))).await;
    assert!(bad.contains(r#"class="error-box""#) && bad.contains("Error parsing query"));

    let stream = html(&lab, "/event/stream").await;
    in_order(&stream, &["my_metric went above 800", "Deployed flask app 1.4.2"]);
    let snapshot_path = report.snapshot_url.strip_prefix("http://lab.test").unwrap();
    assert!(
        stream.contains(&format!(r#"<img src="{snapshot_path}""#)),
        "no snapshot picture"
    );
    assert!(stream.contains(&format!(r#"<span class="handle">@{DEMO_EMAIL}</span>"#)));
    let low = html(&lab, "/event/stream?priority=low").await;
    assert!(low.contains("No events in this time frame"));
    let from_apps = html(&lab, "/event/stream?source=my_apps").await;
    assert!(from_apps.contains("Deployed flask app") && !from_apps.contains("went above 800"));

    let monitors = html(&lab, "/monitors/manage").await;
    in_order(
        &monitors,
        &["Alert", &format!("my_metric is high on {DEMO_HOST}")],
    );
    assert!(monitors.contains("CPU is high on {{host.name}}"));
    let monitor = html(&lab, &format!("/monitors/{}", report.monitor_id)).await;
    in_order(
        &monitor,
        &[
            r#"class="marker-label""#,
            "critical 800",
            r#"class="marker-label""#,
            "warning 500",
        ],
    );
    assert!(monitor.contains(r#"class="series line""#), "no query graph");
    // The history goes OK → Warn → Alert, newest first, and both transitions notified.
    in_order(&monitor, &["State history", "Warn", "Alert", "OK", "Warn"]);
    assert!(monitor.contains(&format!("@{DEMO_EMAIL}")));
    assert_eq!(get(&lab, "/monitors/999").await.status, StatusCode::NOT_FOUND);

    let downtimes = html(&lab, "/monitors/downtimes").await;
    for needle in [
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "FREQ=WEEKLY;BYDAY=SA",
        "America/New_York",
        "scheduled",
    ] {
        assert!(downtimes.contains(needle), "downtimes lack {needle}");
    }
    assert!(downtimes.contains(&format!(r#"href="/monitors/{}""#, report.monitor_id)));

    let outbox = html(&lab, "/lab/notifications").await;
    for needle in [
        format!("my_metric is high on {DEMO_HOST}"),
        format!("@{DEMO_EMAIL}"),
        "Downtime scheduled".to_owned(),
    ] {
        assert!(outbox.contains(&needle), "outbox lacks {needle}");
    }
    assert!(outbox.contains(r#"class="badge ok">sent<"#));

    let intake = html(&lab, "/lab/intake").await;
    assert!(intake.contains("/api/v1/series") && intake.contains("/api/v0.2/stats"));
    let traces_only = html(&lab, &format!("/lab/intake?route={}", encode("/api/v0.2/traces"))).await;
    assert_eq!(count(&traces_only, r#"<details class="intake-row""#), 1);

    let services = html(&lab, "/apm/services").await;
    in_order(&services, &["flask", "flask.request", "web"]);
    let service = html(&lab, "/apm/services/flask").await;
    for needle in [
        "Requests by resource",
        "Latency",
        "GET /api/trace",
        "GET /api/apm",
        "Recent traces",
    ] {
        assert!(service.contains(needle), "service page lacks {needle}");
    }
    assert!(count(&service, r#"<rect class="bar""#) > 60, "no request bars");
    let trace = html(&lab, &format!("/apm/trace/{}", report.trace_id)).await;
    in_order(
        &trace,
        &[
            "flask.request",
            "flask.dispatch_request",
            "mysql.query",
            "flask.render",
        ],
    );
    assert_eq!(count(&trace, r#"<details class="span-row"#), 4);
    assert!(trace.contains("http.status_code"), "no span meta");
    assert_eq!(get(&lab, "/apm/trace/12").await.status, StatusCode::NOT_FOUND);

    // The reference timeboard: three graphs, the anomaly band, the hourly rollup as bars.
    let timeboard = report.dashboards[0].to_string();
    let board = html(
        &lab,
        &format!("/dashboard/preview?json={}&live_span=4h", encode(&timeboard)),
    )
    .await;
    in_order(
        &board,
        &[
            "my_metric timeboard (ddlab reference)",
            &format!("my_metric on {DEMO_HOST}"),
            "MySQL CPU time with anomaly band",
            r#"<path class="band""#,
            "my_metric summed into one-hour buckets",
        ],
    );
    // Four hour buckets reach into a four-hour frame (the first starts before it), one bar each.
    let rollup = widget(&board, "my_metric summed into one-hour buckets");
    assert!(
        (4..=5).contains(&count(rollup, r#"<rect class="bar""#)),
        "{rollup}"
    );
    assert!(board.contains(r#"href="/dashboard/preview?json="#) && board.contains("live_span=5m"));
    let five = html(
        &lab,
        &format!("/dashboard/preview?json={}&live_span=5m", encode(&timeboard)),
    )
    .await;
    assert!(five.contains(r#"class="on" title="Past 5 Minutes""#));
}

#[tokio::test]
async fn a_fresh_lab_says_what_to_do() {
    let lab = lab("127.0.0.1:0");
    for (uri, advice) in [
        ("/infrastructure/map", "No hosts yet"),
        ("/metric/explorer", "No metrics yet"),
        ("/event/stream", "No events in this time frame"),
        ("/monitors/manage", "No monitors yet"),
        ("/monitors/downtimes", "No downtimes"),
        ("/lab/notifications", "No notifications yet"),
        ("/lab/intake", "Nothing received yet"),
        ("/apm/services", "No traced services in this time frame"),
        ("/apm/services/flask", "No traces for this service"),
        ("/dashboard/preview", "Paste a dashboard"),
    ] {
        let page = html(&lab, uri).await;
        assert!(page.contains(advice), "{uri} lacks {advice:?}");
        assert!(
            page.contains(r#"<nav class="sidebar">"#),
            "{uri} has no navigation"
        );
    }
    assert!(html(&lab, "/infrastructure/map").await.contains("cargo xtask up"));
    let root = get(&lab, "/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.headers[header::LOCATION], "/infrastructure/map");
    let css = get(&lab, "/static/ddlab.css").await;
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.body.contains(".sidebar"));
    let bad = get(&lab, "/event/stream?live_span=forever").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body
            .contains("live_span &quot;forever&quot; is not a time span")
    );
}

/// A small lab: `my_metric` on two hosts over the last 10 minutes.
fn with_points(lab: &Lab) -> i64 {
    let now = lab.state.clock.now();
    let series = |host: &str, base: f64| ddlab_store::NewSeries {
        metric: "my_metric".to_owned(),
        host: Some(host.to_owned()),
        tags: vec!["env:lab".to_owned()],
        kind: ddlab_store::MetricKind::Gauge,
        interval: None,
        unit: None,
        source_type: None,
        points: (0..10).map(|i| (now - 600 + i * 60, base + i as f64)).collect(),
    };
    lab.state
        .store
        .append_series(&[series("a", 100.0), series("b", 500.0)], now)
        .unwrap();
    now
}

fn view(params: &[(&str, &str)], public: bool) -> DashboardView {
    DashboardView {
        path: "/sb/token".to_owned(),
        keep: Vec::new(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        public,
        default_span: None,
    }
}

#[tokio::test]
async fn widgets_fail_alone_and_unknown_types_are_kept() {
    let lab = lab("127.0.0.1:0");
    with_points(&lab);
    let board = json!({
        "title": "Mixed <board>",
        "layout_type": "ordered",
        "template_variables": [{"name": "host", "prefix": "host", "defaults": ["a"]}],
        "widgets": [
            {"definition": {"type": "timeseries", "title": "per host",
                "requests": [{"q": "avg:my_metric{$host} by {host}", "display_type": "area"}]}},
            {"definition": {"type": "timeseries", "title": "broken", "requests": [{"q": "avg:my_metric{"}]}},
            {"definition": {"type": "heatmap", "title": "heat", "requests": [{"q": "avg:my_metric{*}"}]}},
            {"definition": {"type": "sunburst", "requests": []}},
            {"definition": {"type": "note", "content": "**hi** <script>alert(1)</script> [x](javascript:alert(1))"}},
            {"definition": {"type": "query_value", "title": "max", "precision": 0,
                "requests": [{"q": "max:my_metric{*}", "aggregator": "max",
                    "conditional_formats": [{"comparator": ">", "value": 400, "palette": "white_on_red"}]}]}},
            {"definition": {"type": "toplist", "title": "top hosts",
                "requests": [{"q": "top(avg:my_metric{*} by {host}, 10, 'mean', 'desc')"}]}},
            {"definition": {"type": "group", "title": "inside", "layout_type": "ordered", "widgets": [
                {"definition": {"type": "timeseries", "title": "nested", "requests": [{"q": "avg:my_metric{*}"}]}}
            ]}},
        ]
    });
    let page = dashboard::render(&lab.state, &board, &view(&[], false))
        .await
        .unwrap()
        .0;
    // The template variable defaults to host:a: one series in the first graph.
    let first = widget(&page, "per host");
    assert_eq!(count(first, r#"<text class="legend-label""#), 1, "{first}");
    assert!(first.contains(">host:a<") && first.contains(r#"class="series area""#));
    // The broken widget shows its error; the others still draw.
    in_order(
        &page,
        &[
            "broken",
            r#"<div class="error-box">requests[0].q: Error parsing query"#,
        ],
    );
    in_order(
        &page,
        &[
            "heat",
            "The lab keeps this <code>heatmap</code> widget but does not draw it.",
        ],
    );
    assert!(page.contains("sunburst widget"));
    assert!(page.contains("<strong>hi</strong> &lt;script&gt;alert(1)&lt;/script&gt; <a href=\"#\">x</a>"));
    assert!(!page.contains("<script>alert"));
    in_order(&page, &["max", r#"<text class="value""#, ">509<"]);
    assert!(
        page.contains(r##"fill="#e5332a"/>"##),
        "the conditional format's background is missing"
    );
    in_order(&page, &["top hosts", ">host:b<", ">host:a<"]);
    in_order(&page, &["inside", "nested", r#"class="series line""#]);
    assert!(page.contains("Mixed &lt;board&gt;"));
    // Choosing another host redraws for it.
    let b = dashboard::render(&lab.state, &board, &view(&[("tpl_var_host", "b")], false))
        .await
        .unwrap()
        .0;
    let first = widget(&b, "per host");
    assert!(first.contains(">host:b<") && !first.contains(">host:a<"));
    assert!(b.contains(r#"<option value="b" selected>b</option>"#));
}

#[tokio::test]
async fn public_dashboards_have_no_way_into_the_private_ui() {
    let lab = lab("127.0.0.1:0");
    with_points(&lab);
    let board = json!({
        "title": "Shared", "layout_type": "free",
        "widgets": [
            {"definition": {"type": "timeseries", "title": "t", "requests": [{"q": "avg:my_metric{*}"}]},
             "layout": {"x": 0, "y": 0, "width": 47, "height": 15}},
            {"definition": {"type": "note", "content": "[events](/event/stream) [docs](https://docs.datadoghq.com)"},
             "layout": {"x": 47, "y": 0, "width": 47, "height": 15}},
        ]
    });
    let page = dashboard::render(&lab.state, &board, &view(&[("live_span", "15m")], true))
        .await
        .unwrap()
        .0;
    assert!(!page.contains("sidebar"), "a public page has no navigation");
    assert!(page.contains("Shared dashboard · read-only"));
    for link in page
        .split("href=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
    {
        assert!(
            link.starts_with("/sb/token?")
                || link == "#"
                || link.starts_with("https://")
                || link == "/static/ddlab.css",
            "link into the private UI: {link}"
        );
    }
    // Free layout: positioned by `layout`, the second widget to the right of the first.
    assert!(
        page.contains(r#"style="left: 0px; top: 0px; width: 562px; height: 174px""#),
        "{page}"
    );
    assert!(page.contains("left: 570px"));
}

#[tokio::test]
async fn off_loopback_every_page_needs_the_application_key() {
    let lab = lab("0.0.0.0:0");
    let page = get(&lab, "/monitors/manage?x=1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers[header::LOCATION],
        "/login?next=%2Fmonitors%2Fmanage%3Fx%3D1"
    );
    let form = html(&lab, "/login?next=/monitors/manage").await;
    assert!(form.contains(r#"name="app_key""#) && !form.contains("sidebar"));

    let login = |key: &str, next: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "app_key={}&next={}",
                encode(key),
                encode(next)
            )))
            .unwrap()
    };
    let (status, _, body) = send(&lab, login("wrong", "/monitors/manage")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("That is not this lab's application key")
    );
    // The API key is not the application key.
    assert_eq!(send(&lab, login(API, "/")).await.0, StatusCode::UNAUTHORIZED);

    let (status, headers, _) = send(&lab, login(APP, "//evil.example/")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        "/",
        "only this site's paths are followed"
    );
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"));
    let session = cookie.split(';').next().unwrap().to_owned();
    assert_eq!(session.len(), "ddlab_session=".len() + 64);

    let page = get_with(&lab, "/monitors/manage", &[("cookie", &session)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Log out"));
    let forged = get_with(&lab, "/monitors/manage", &[("cookie", "ddlab_session=0000")]).await;
    assert_eq!(forged.status, StatusCode::SEE_OTHER);
    // The stylesheet and the API never ask for the UI's login.
    assert_eq!(get(&lab, "/static/ddlab.css").await.status, StatusCode::OK);
    let api = get_with(
        &lab,
        "/api/v1/monitor",
        &[("DD-API-KEY", API), ("DD-APPLICATION-KEY", APP)],
    )
    .await;
    assert_eq!(api.status, StatusCode::OK);

    let logout = Request::post("/logout")
        .header("cookie", &session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&lab, logout).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        get_with(&lab, "/monitors/manage", &[("cookie", &session)])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn on_loopback_the_ui_needs_no_login() {
    let lab = lab("127.0.0.1:0");
    assert_eq!(get(&lab, "/monitors/manage").await.status, StatusCode::OK);
    let login = get(&lab, "/login?next=/event/stream").await;
    assert_eq!(
        (login.status, &login.headers[header::LOCATION]),
        (StatusCode::SEE_OTHER, &"/event/stream".parse().unwrap())
    );
    assert!(!html(&lab, "/event/stream").await.contains("Log out"));
}

#[tokio::test]
async fn snapshots_are_pngs_of_real_data_served_without_keys() {
    let lab = lab("0.0.0.0:0");
    let now = with_points(&lab);
    let keys = [("DD-API-KEY", API), ("DD-APPLICATION-KEY", APP)];
    let query = format!(
        "/api/v1/graph/snapshot?metric_query={}&start={}&end={}&title=my_metric&width=640&height=320",
        encode("avg:my_metric{*} by {host}"),
        now - 900,
        now
    );
    assert_eq!(get(&lab, &query).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get_with(&lab, &query, &keys[..1]).await.status,
        StatusCode::FORBIDDEN
    );
    let created = get_with(&lab, &query, &keys).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let answer: Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(answer["metric_query"], "avg:my_metric{*} by {host}");
    assert_eq!(
        answer["graph_def"],
        r#"{"requests":[{"q":"avg:my_metric{*} by {host}"}]}"#
    );
    let url = answer["snapshot_url"].as_str().unwrap();
    let path = url.strip_prefix("http://lab.test").unwrap();
    assert!(
        path.starts_with("/snapshot/view/dd-snapshots-lab/org_1/"),
        "{url}"
    );

    // The PNG needs neither keys nor a login, even off loopback.
    let (status, headers, png) = send(&lab, Request::get(path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let image = tiny_skia::Pixmap::decode_png(&png).unwrap();
    assert_eq!((image.width(), image.height()), (640, 320));
    // Not a blank picture: the series' colour is in it.
    let purple = image
        .pixels()
        .iter()
        .filter(|p| (p.red(), p.green(), p.blue()) == (0x6f, 0x4f, 0xc9))
        .count();
    assert!(purple > 50, "{purple} pixels of the first series");
    let guessed = path.replace(|c: char| c.is_ascii_hexdigit() && c != '0', "0");
    assert_eq!(get(&lab, &guessed).await.status, StatusCode::NOT_FOUND);

    // datadogpy's Graph.status: the path after /snapshot/view/ without .png, with both keys.
    let status_path = format!(
        "/api/v1/graph/snapshot_status/{}",
        path.trim_start_matches("/snapshot/view/")
            .trim_end_matches(".png")
    );
    assert_eq!(get(&lab, &status_path).await.status, StatusCode::FORBIDDEN);
    let ready = get_with(&lab, &status_path, &keys).await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (StatusCode::OK, r#"{"status_code":200}"#)
    );

    // A graph_def comes back as sent, alone with the URL.
    let graph_def =
        r#"{"viz": "toplist", "requests": [{"q": "top(avg:my_metric{*} by {host}, 5, 'mean', 'desc')"}]}"#;
    let uri = format!(
        "/api/v1/graph/snapshot?graph_def={}&start={}&end={now}",
        encode(graph_def),
        now - 900
    );
    let answer: Value = serde_json::from_str(&get_with(&lab, &uri, &keys).await.body).unwrap();
    assert_eq!(answer.as_object().unwrap().len(), 2, "{answer}");
    assert_eq!(answer["graph_def"], graph_def);

    for (params, error) in [
        (
            format!("graph_def={}", encode(r#"{"requests": [{"q": 1}]}"#)),
            "Invalid graph_def: requests[0].q must be a query string",
        ),
        (
            format!(
                "graph_def={}",
                encode(r#"{"viz": "heatmap", "requests": [{"q": "avg:m{*}"}]}"#)
            ),
            "graph_def.viz \"heatmap\" cannot be drawn",
        ),
        (
            format!("metric_query={}", encode("avg:m{")),
            "Error parsing query",
        ),
        (
            "title=x".to_owned(),
            "One of 'metric_query' or 'graph_def' is required",
        ),
        (
            "metric_query=m{*}&width=5".to_owned(),
            "The 'width' parameter must be a number of pixels from 100 to 4000",
        ),
    ] {
        let uri = format!("/api/v1/graph/snapshot?{params}&start={}&end={now}", now - 60);
        let page = get_with(&lab, &uri, &keys).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{params}");
        assert!(
            page.body.contains(&error.replace('"', "\\\"")),
            "{params}: {}",
            page.body
        );
    }

    // Posting an event that carries the snapshot and an @handle notifies the handle (EX-14).
    let event = Request::post("/api/v1/events")
        .header("DD-API-KEY", API)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"title": "snapshot", "text": format!("{url} @{DEMO_EMAIL}")}).to_string(),
        ))
        .unwrap();
    assert_eq!(send(&lab, event).await.0, StatusCode::ACCEPTED);
    let notifications = lab.state.store.notifications(10).unwrap();
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].notification.handle, DEMO_EMAIL);
    assert!(notifications[0].notification.body.contains(url));
}

/// A call to the API with both keys, answering JSON.
async fn api(lab: &Lab, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, _, bytes) = send(lab, request).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn dashboards_of_the_store_are_listed_shown_and_shared_until_revoked() {
    let lab = lab("127.0.0.1:0");
    with_points(&lab);
    assert!(
        html(&lab, "/dashboard/lists")
            .await
            .contains("No dashboards yet.")
    );
    let (status, created) = api(
        &lab,
        "POST",
        "/api/v1/dashboard",
        json!({"title": "Board <one>", "layout_type": "ordered",
               "widgets": [{"definition": {"type": "timeseries", "title": "my metric",
                            "requests": [{"q": "avg:my_metric{*}"}]}}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let list = html(&lab, "/dashboard/lists").await;
    assert!(list.contains(&format!("href=\"/dashboard/{id}\"")), "{list}");
    assert!(list.contains("Board &lt;one&gt;"), "titles are escaped: {list}");
    let page = html(&lab, created["url"].as_str().unwrap()).await;
    assert!(page.contains("my metric") && page.contains("<svg"), "{page}");
    assert_eq!(
        get(&lab, "/dashboard/abc-def-ghi").await.status,
        StatusCode::NOT_FOUND
    );

    let (status, share) = api(
        &lab,
        "POST",
        "/api/v1/dashboard/public",
        json!({"dashboard_id": id, "dashboard_type": "custom_timeboard", "share_type": "open",
               "global_time": {"live_span": "4h"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{share}");
    let token = share["token"].as_str().unwrap().to_owned();
    assert_eq!(share["public_url"], format!("http://lab.test/sb/{token}"));
    // No keys and no session: the share page is public, and only it.
    let public = get(&lab, &format!("/sb/{token}")).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.body.contains("Board &lt;one&gt;") && !public.body.contains("sidebar"));
    assert!(
        public.body.contains("Past 4 Hours"),
        "the share's time frame: {}",
        public.body
    );
    assert_eq!(get(&lab, "/sb/nothing-here").await.status, StatusCode::NOT_FOUND);
    let (status, _) = api(
        &lab,
        "DELETE",
        &format!("/api/v1/dashboard/public/{token}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(&lab, &format!("/sb/{token}")).await.status,
        StatusCode::NOT_FOUND
    );
}
