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
