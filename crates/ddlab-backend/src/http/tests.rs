//! In-process tests of the router: real handlers, a temp-file store, no network.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{AppState, Config, Keys, Secret};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";

struct Lab {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn lab(test_mode: bool) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        state_dir: dir.path().join("state"),
        listen: "127.0.0.1:0".parse().unwrap(),
        test_mode,
        keys: Some(Keys {
            api_key: Secret::new(API),
            app_key: Secret::new(APP),
        }),
        public_url: None,
        notifications: crate::NotificationConfig::default(),
    };
    let state = AppState::open(&config).unwrap();
    Lab { _dir: dir, state }
}

async fn call(lab: &Lab, request: Request<Body>) -> (StatusCode, Value) {
    let response = super::router(lab.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

fn get(uri: &str, api: Option<&str>, app: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(key) = api {
        builder = builder.header("DD-API-KEY", key);
    }
    if let Some(key) = app {
        builder = builder.header("DD-APPLICATION-KEY", key);
    }
    builder.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn validate_checks_the_api_key() {
    let lab = lab(false);
    assert_eq!(
        call(&lab, get("/api/v1/validate", Some(API), None)).await,
        (StatusCode::OK, json!({"valid": true}))
    );
    assert_eq!(
        call(&lab, get("/api/v1/validate", None, None)).await,
        (StatusCode::FORBIDDEN, json!({"errors": ["API key required"]}))
    );
    assert_eq!(
        call(&lab, get("/api/v1/validate", Some("nope"), None)).await,
        (StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]}))
    );
    // The legacy query-string form.
    let uri = format!("/api/v1/validate?api_key={API}");
    assert_eq!(call(&lab, get(&uri, None, None)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn queries_need_both_keys() {
    let lab = lab(false);
    let uri = "/api/v1/query?from=0&to=100&query=avg:m%7B*%7D";
    assert_eq!(
        call(&lab, get(uri, Some(API), None)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&lab, get(uri, Some(API), Some("wrong"))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(call(&lab, get(uri, Some(API), Some(APP))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn query_answers_in_datadogs_shape() {
    let lab = lab(false);
    let series = |host: &str, points: &[(i64, f64)]| ddlab_store::NewSeries {
        metric: "my_metric".to_owned(),
        host: Some(host.to_owned()),
        tags: vec!["env:lab".to_owned()],
        kind: ddlab_store::MetricKind::Gauge,
        interval: None,
        unit: None,
        source_type: None,
        points: points.to_vec(),
    };
    lab.state
        .store
        .append_series(
            &[
                series("a", &[(1_000, 10.0), (1_045, 20.0)]),
                series("b", &[(1_000, 100.0)]),
            ],
            1_100,
        )
        .unwrap();
    // Host tags from metadata apply to every series of the host.
    let host = ddlab_store::HostUpdate {
        name: "a".to_owned(),
        tags: [(
            ddlab_store::AGENT_TAGS.to_owned(),
            vec!["role:database".to_owned()],
        )]
        .into_iter()
        .collect(),
        ..ddlab_store::HostUpdate::default()
    };
    lab.state.store.update_host(&host, 1_100).unwrap();
    let uri = "/api/v1/query?from=900&to=1200&query=avg:my_metric%7Brole:database%7D%20by%20%7Bhost%7D";
    let (_, body) = call(&lab, get(uri, Some(API), Some(APP))).await;
    assert_eq!(body["series"][0]["tag_set"], json!(["host:a"]));
    assert_eq!(body["series"].as_array().unwrap().len(), 1);

    let uri = "/api/v1/query?from=900&to=1200&query=avg:my_metric%7Bhost:a%7D";
    let (status, body) = call(&lab, get(uri, Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["from_date"], 900_000);
    let series = &body["series"][0];
    assert_eq!(series["metric"], "my_metric");
    assert_eq!(series["scope"], "host:a");
    assert_eq!(series["aggr"], "avg");
    assert_eq!(series["interval"], 1);
    assert_eq!(
        series["pointlist"],
        json!([[1_000_000.0, 10.0], [1_045_000.0, 20.0]])
    );
    assert_eq!(series["length"], 2);
    assert_eq!(body["series"].as_array().unwrap().len(), 1);

    // Time aggregation first (each host's points summed into the hour), then the average across hosts.
    let uri = "/api/v1/query?from=900&to=1200&query=avg:my_metric%7B*%7D.rollup(sum,%203600)";
    let (_, body) = call(&lab, get(uri, Some(API), Some(APP))).await;
    assert_eq!(body["series"][0]["interval"], 3600);
    assert_eq!(body["series"][0]["pointlist"], json!([[0.0, 65.0]]));
}

#[tokio::test]
async fn bad_queries_answer_400_with_the_position() {
    let lab = lab(false);
    let uri = "/api/v1/query?from=0&to=100&query=anomalies(avg:m%7B*%7D,%20basic,%202)";
    let (status, body) = call(&lab, get(uri, Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0],
        "Error parsing query: \n unable to parse anomalies(avg:m{*}, basic, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 26)."
    );
    let (status, body) = call(
        &lab,
        get("/api/v1/query?to=100&query=m%7B*%7D", Some(API), Some(APP)),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["The 'from' parameter is required"]})
        )
    );
}

#[tokio::test]
async fn the_test_clock_exists_only_in_test_mode() {
    let normal = lab(false);
    assert_eq!(
        call(&normal, get("/ddlab/test/clock", Some(API), Some(APP)))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let test = lab(true);
    let before = test.state.clock.now();
    let request = Request::post("/ddlab/test/clock")
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"advance": 3600}"#))
        .unwrap();
    let (status, body) = call(&test, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!((body["now"].as_i64().unwrap() - before - 3600).abs() <= 1);
    assert_eq!(
        call(&test, get("/ddlab/test/clock", Some(API), None)).await.0,
        StatusCode::FORBIDDEN
    );
}

fn post(uri: &str, content_type: &str, encoding: Option<&str>, body: Vec<u8>) -> Request<Body> {
    let mut builder = Request::post(uri)
        .header("DD-API-KEY", API)
        .header("content-type", content_type);
    if let Some(encoding) = encoding {
        builder = builder.header("content-encoding", encoding);
    }
    builder.body(Body::from(body)).unwrap()
}

async fn query(lab: &Lab, q: &str, from: i64, to: i64) -> Value {
    let uri = format!(
        "/api/v1/query?from={from}&to={to}&query={}",
        q.replace('{', "%7B").replace('}', "%7D").replace(' ', "%20")
    );
    let (status, body) = call(lab, get(&uri, Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn v1_series_as_datadogpy_sends_them() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    // datadogpy sends explicit nulls and a float timestamp.
    let body = json!({"series": [
        {"metric": "my_metric", "points": [[now as f64, 512.0]], "type": null, "host": "lab", "tags": ["env:lab"], "device": null},
        {"metric": "my_metric", "points": [[now - 7200, 1.0]], "host": "lab"},
    ]});
    let (status, reply) = call(
        &lab,
        post(
            "/api/v1/series",
            "application/json",
            None,
            body.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!((status, reply), (StatusCode::ACCEPTED, json!({"status": "ok"})));
    let body = query(&lab, "avg:my_metric{host:lab}", now - 3600, now + 60).await;
    // The point two hours old was outside the accepted window and dropped; the 202 does not say so.
    let interval = body["series"][0]["interval"].as_i64().unwrap();
    let bucket = now - now.rem_euclid(interval);
    assert_eq!(
        body["series"][0]["pointlist"],
        json!([[(bucket * 1000) as f64, 512.0]])
    );
    assert_eq!(
        lab.state.store.host("lab").unwrap().map(|h| h.name),
        Some("lab".to_owned())
    );
}

#[tokio::test]
async fn v2_protobuf_with_zstd_as_the_agent_sends_it() {
    use ddlab_wire::series::{MetricBatch, MetricKind, Point, Series};
    let lab = lab(false);
    let now = lab.state.clock.now();
    let mut series = Series::new("system.load.1", MetricKind::Gauge);
    series.host = Some("lab".to_owned());
    series.tags = vec!["role:database".to_owned()];
    series.points = vec![
        Point {
            timestamp: now - 10,
            value: 0.5,
        },
        Point {
            timestamp: now,
            value: 0.75,
        },
    ];
    let payload = ddlab_wire::series::encode_v2_protobuf(&MetricBatch { series: vec![series] });
    let compressed = ddlab_wire::compression::compress(ddlab_wire::Encoding::Zstd, &payload).unwrap();
    let (status, reply) = call(
        &lab,
        post(
            "/api/v2/series",
            "application/x-protobuf",
            Some("zstd"),
            compressed,
        ),
    )
    .await;
    assert_eq!((status, reply), (StatusCode::ACCEPTED, json!({"errors": []})));
    let body = query(&lab, "max:system.load.1{role:database}", now - 60, now).await;
    let values: Vec<f64> = body["series"][0]["pointlist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap())
        .collect();
    assert_eq!(values, [0.5, 0.75]);
}

#[tokio::test]
async fn bad_payloads_are_refused_whole() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    let body = format!(
        r#"{{"series": [{{"metric": "good", "points": [[{now}, 1]]}}, {{"metric": "bad", "points": [["soon", 1]]}}]}}"#
    );
    let (status, reply) = call(
        &lab,
        post("/api/v1/series", "application/json", None, body.into_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = reply["errors"][0].as_str().unwrap();
    assert!(
        message.starts_with("Invalid payload: series[1].points[0]"),
        "{message}"
    );
    assert_eq!(
        lab.state.store.metric_names(0).unwrap(),
        Vec::<String>::new(),
        "nothing of a refused payload is stored"
    );

    let (status, reply) = call(
        &lab,
        post("/api/v2/series", "application/json", Some("br"), b"{}".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");

    let big = vec![b' '; ddlab_wire::series::V2_BODY_LIMIT + 1];
    let (status, reply) = call(&lab, post("/api/v2/series", "application/json", None, big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");

    let (status, _) = call(
        &lab,
        Request::post("/api/v1/series").body(Body::from("{}")).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn host_metadata_tags_apply_to_the_hosts_series() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    let metadata = json!({
        "internalHostname": "lab",
        "host-tags": {"system": ["env:lab", "role:database"]},
        "meta": {"socket-hostname": "lab", "hostname": "lab"},
        "agentVersion": "7.60.0",
        "gohai": json!({"network": {"ipaddress": "10.0.2.15"}}).to_string(),
        "systemStats": {"cpuCores": 2},
    });
    let (status, _) = call(
        &lab,
        post(
            "/intake/",
            "application/json",
            None,
            metadata.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let host = lab.state.store.host("lab").unwrap().unwrap();
    assert_eq!(host.ip.as_deref(), Some("10.0.2.15"));
    assert_eq!(
        host.tags_by_source[ddlab_store::AGENT_TAGS],
        ["env:lab", "role:database"]
    );
    let series = json!({"series": [{"metric": "my_metric", "points": [[now, 7]], "host": "lab"}]});
    call(
        &lab,
        post(
            "/api/v1/series",
            "application/json",
            None,
            series.to_string().into_bytes(),
        ),
    )
    .await;
    let body = query(&lab, "avg:my_metric{role:database}", now - 60, now).await;
    assert_eq!(body["series"][0]["pointlist"][0][1], 7.0);
}

fn with_keys(method: &str, uri: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn send_series(lab: &Lab, series: Value) {
    let (status, body) = call(
        lab,
        post(
            "/api/v1/series",
            "application/json",
            None,
            series.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn events_are_stored_listed_and_their_mentions_recorded() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    let event = json!({
        "title": "Snapshot of my_metric",
        "text": "Look: http://127.0.0.1:8480/snapshot/x.png @alice@example.com",
        "tags": ["env:lab"],
        "host": "lab",
        "source_type_name": "my_apps",
    });
    let (status, created) = call(
        &lab,
        post(
            "/api/v1/events",
            "application/json",
            None,
            event.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    assert_eq!(created["status"], "ok");
    assert_eq!(created["event"]["priority"], Value::Null);
    let id = created["event"]["id"].as_i64().unwrap();
    assert_eq!(created["event"]["id_str"], id.to_string());
    assert!(
        created["event"]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/event/event?id={id}"))
    );

    let (status, got) = call(&lab, get(&format!("/api/v1/events/{id}"), Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["event"]["title"], "Snapshot of my_metric");
    assert_eq!(got["event"]["alert_type"], "info");
    assert_eq!(got["event"]["host"], "lab");

    let uri = format!(
        "/api/v1/events?start={}&end={}&sources=my_apps&tags=env:lab",
        now - 60,
        now + 60
    );
    let (status, list) = call(&lab, get(&uri, Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["events"].as_array().unwrap().len(), 1);

    let notes = lab.state.store.notifications(10).unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].notification.handle, "alice@example.com");
    assert_eq!(notes[0].notification.origin_id, Some(id));

    // Reading events needs the application key; a missing one is refused.
    assert_eq!(
        call(&lab, get(&uri, Some(API), None)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&lab, get("/api/v1/events/999999", Some(API), Some(APP))).await,
        (StatusCode::NOT_FOUND, json!({"errors": ["Event not found"]}))
    );
    let old = json!({"title": "t", "text": "x", "date_happened": now - 24 * 3600});
    assert_eq!(
        call(
            &lab,
            post(
                "/api/v1/events",
                "application/json",
                None,
                old.to_string().into_bytes()
            )
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["Event too far in the past"]})
        )
    );
}

#[tokio::test]
async fn check_runs_in_both_shapes() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    // datadogpy posts one object with explicit nulls; the Agent and the API clients post an array.
    let single = json!({"check": "app.ok", "host_name": "lab", "status": 0, "message": null, "tags": null, "timestamp": null});
    let list =
        json!([{"check": "app.ok", "host_name": "lab", "status": 2, "tags": ["env:lab"], "timestamp": now}]);
    for body in [single, list] {
        let (status, reply) = call(
            &lab,
            post(
                "/api/v1/check_run",
                "application/json",
                None,
                body.to_string().into_bytes(),
            ),
        )
        .await;
        assert_eq!((status, reply), (StatusCode::ACCEPTED, json!({"status": "ok"})));
    }
    let runs = lab.state.store.check_runs(Some("app.ok"), 0).unwrap();
    assert_eq!(runs.iter().map(|r| r.run.status).collect::<Vec<_>>(), [0, 2]);
    let bad = json!([{"check": "app.ok", "host_name": "lab", "status": 7, "tags": []}]);
    let (status, reply) = call(
        &lab,
        post(
            "/api/v1/check_run",
            "application/json",
            None,
            bad.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(reply["errors"][0].as_str().unwrap().contains("status"), "{reply}");
    assert_eq!(lab.state.store.check_runs(Some("app.ok"), 0).unwrap().len(), 2);
}

#[tokio::test]
async fn hosts_tags_metrics_and_search() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    send_series(
        &lab,
        json!({"series": [
            {"metric": "my_metric", "points": [[now, 1]], "host": "lab", "type": "gauge"},
            {"metric": "mysql.net.connections", "points": [[now, 3]], "host": "db", "type": "rate", "interval": 15},
        ]}),
    )
    .await;
    let (status, hosts) = call(&lab, get("/api/v1/hosts", Some(API), Some(APP))).await;
    assert_eq!(status, StatusCode::OK, "{hosts}");
    assert_eq!(hosts["total_matching"], 2);
    assert_eq!(hosts["host_list"][0]["name"], "db");
    assert_eq!(hosts["host_list"][0]["up"], true);
    assert_eq!(
        hosts["host_list"][0]["tags_by_source"]["Datadog"],
        json!(["host:db"])
    );
    let (_, filtered) = call(&lab, get("/api/v1/hosts?filter=host:lab", Some(API), Some(APP))).await;
    assert_eq!(filtered["total_matching"], 1);
    assert_eq!(
        call(&lab, get("/api/v1/hosts?count=0", Some(API), Some(APP)))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&lab, get("/api/v1/hosts/totals", Some(API), Some(APP)))
            .await
            .1,
        json!({"total_up": 2, "total_active": 2})
    );

    let (status, added) = call(
        &lab,
        with_keys(
            "POST",
            "/api/v1/tags/hosts/lab",
            json!({"tags": ["team:se"], "source": "users"}),
        ),
    )
    .await;
    assert_eq!(
        (status, added),
        (StatusCode::CREATED, json!({"host": "lab", "tags": ["team:se"]}))
    );
    let (_, tags) = call(&lab, get("/api/v1/tags/hosts/lab", Some(API), Some(APP))).await;
    assert_eq!(tags["tags"], json!(["team:se"]));
    let (_, all) = call(&lab, get("/api/v1/tags/hosts", Some(API), Some(APP))).await;
    assert_eq!(all["tags"]["team:se"], json!(["lab"]));
    let body = query(&lab, "avg:my_metric{team:se}", now - 60, now).await;
    assert_eq!(body["series"][0]["pointlist"][0][1], 1.0);
    let (status, _) = call(&lab, with_keys("DELETE", "/api/v1/tags/hosts/lab", Value::Null)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&lab, get("/api/v1/tags/hosts/lab", Some(API), Some(APP)))
            .await
            .1["tags"],
        json!([])
    );
    let (status, bad) = call(
        &lab,
        with_keys("PUT", "/api/v1/tags/hosts/lab", json!({"tags": [3]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad,
        json!({"errors": ["\"tags\"[0] must be a non-empty tag string"]})
    );

    let uri = format!("/api/v1/metrics?from={}", now - 60);
    let (_, metrics) = call(&lab, get(&uri, Some(API), Some(APP))).await;
    assert_eq!(metrics["metrics"], json!(["my_metric", "mysql.net.connections"]));
    let (_, meta) = call(
        &lab,
        get("/api/v1/metrics/mysql.net.connections", Some(API), Some(APP)),
    )
    .await;
    assert_eq!(meta["type"], "rate");
    assert_eq!(meta["statsd_interval"], 15);
    let (status, updated) = call(
        &lab,
        with_keys(
            "PUT",
            "/api/v1/metrics/my_metric",
            json!({"description": "random", "unit": "item"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], "random");
    assert_eq!(updated["type"], "gauge");
    assert_eq!(
        call(&lab, get("/api/v1/metrics/nope", Some(API), Some(APP)))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (_, found) = call(&lab, get("/api/v1/search?q=hosts:la", Some(API), Some(APP))).await;
    assert_eq!(found, json!({"results": {"hosts": ["lab"]}}));
    let (_, found) = call(&lab, get("/api/v1/search?q=mysql", Some(API), Some(APP))).await;
    assert_eq!(
        found,
        json!({"results": {"hosts": [], "metrics": ["mysql.net.connections"]}})
    );
}

#[tokio::test]
async fn v2_timeseries_with_formulas() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    let t = now - now.rem_euclid(60) - 120;
    send_series(
        &lab,
        json!({"series": [
            {"metric": "app.latency", "points": [[t, 2], [t + 60, 4]], "host": "a", "tags": ["env:dev"]},
            {"metric": "app.latency", "points": [[t, 6], [t + 60, 8]], "host": "b", "tags": ["env:prod"]},
        ]}),
    )
    .await;
    let request = json!({"data": {"type": "timeseries_request", "attributes": {
        "from": t * 1000, "to": (t + 120) * 1000, "interval": 60000,
        "queries": [{"data_source": "metrics", "name": "a", "query": "avg:app.latency{*} by {env}"}],
        "formulas": [{"formula": "a * 1000", "limit": {"count": 1, "order": "desc"}}],
    }}});
    let response = super::router(lab.state.clone())
        .oneshot(with_keys("POST", "/api/v2/query/timeseries", request))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/vnd.api+json");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let attributes = &body["data"]["attributes"];
    assert_eq!(body["data"]["type"], "timeseries_response");
    assert_eq!(
        attributes["series"],
        json!([{"group_tags": ["env:prod"], "query_index": 0, "unit": null}])
    );
    assert_eq!(attributes["times"], json!([t * 1000, (t + 60) * 1000]));
    assert_eq!(attributes["values"], json!([[6000.0, 8000.0]]));

    let wrong = json!({"data": {"type": "scalar_request", "attributes": {}}});
    assert_eq!(
        call(&lab, with_keys("POST", "/api/v2/query/timeseries", wrong)).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": ["API input validation failed: Invalid type. Expected \"timeseries_request\"."]})
        )
    );
    let unknown = json!({"data": {"type": "timeseries_request", "attributes": {
        "from": t * 1000, "to": (t + 120) * 1000,
        "queries": [{"data_source": "metrics", "name": "a", "query": "avg:app.latency{*}"}],
        "formulas": [{"formula": "b + 1"}],
    }}});
    let (status, reply) = call(&lab, with_keys("POST", "/api/v2/query/timeseries", unknown)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["errors"][0].as_str().unwrap().contains("formulas[0]"),
        "{reply}"
    );
}

#[tokio::test]
async fn the_intake_log_shows_what_was_sent_and_what_was_refused() {
    let lab = lab(false);
    let now = lab.state.clock.now();
    send_series(&lab, json!({"series": [{"metric": "my_metric", "points": [[now, 5]], "host": "lab", "tags": ["Env:Lab"]}]})).await;
    call(
        &lab,
        post(
            "/api/v1/series",
            "application/json",
            None,
            b"{\"series\": 3}".to_vec(),
        ),
    )
    .await;
    let (status, log) = call(
        &lab,
        get("/ddlab/intake?route=/api/v1/series", Some(API), Some(APP)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let payloads = log["payloads"].as_array().unwrap();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0]["status"], 400);
    assert!(
        payloads[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("series"),
        "{log}"
    );
    assert_eq!(payloads[1]["status"], 202);
    // As sent: before tag normalisation.
    assert_eq!(payloads[1]["payload"]["series"][0]["tags"], json!(["Env:Lab"]));
    assert_eq!(payloads[1]["payload"]["series"][0]["points"], json!([[now, 5.0]]));
    assert_eq!(
        call(&lab, get("/ddlab/intake", Some(API), None)).await.0,
        StatusCode::FORBIDDEN
    );
}
