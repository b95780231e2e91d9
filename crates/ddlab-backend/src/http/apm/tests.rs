//! The APM routes in-process: the trace intake as the trace-agent posts to it (gzip, protobuf traces,
//! msgpack stats), trace metrics read back through `/api/v1/query`, the spans API and the APM pages' data.

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use ddlab_wire::Encoding;
use ddlab_wire::trace::sketch::LatencySketch;
use ddlab_wire::trace::{StatsFormat, pb};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{AppState, Config, Keys, Secret};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// The traces' time: epoch seconds of the stats bucket, and the spans' start in nanoseconds.
const BUCKET: i64 = 1_700_000_000;
const START_NS: i64 = BUCKET * 1_000_000_000 + 500_000_000;

struct Lab {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        state_dir: dir.path().join("state"),
        listen: "127.0.0.1:0".parse().unwrap(),
        test_mode: false,
        keys: Some(Keys {
            api_key: Secret::new(API),
            app_key: Secret::new(APP),
        }),
        public_url: Some("http://lab.test".to_owned()),
        notifications: Default::default(),
    };
    let state = AppState::open(&config).unwrap();
    Lab { _dir: dir, state }
}

async fn call(lab: &Lab, request: Request<Body>) -> (StatusCode, String, Value) {
    let response = super::super::router(lab.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, content_type, body)
}

/// A POST as the trace-agent sends it: gzipped, with the API key.
fn intake(path: &str, content_type: &str, body: &[u8]) -> Request<Body> {
    Request::post(path)
        .header("DD-API-KEY", API)
        .header("Content-Type", content_type)
        .header("Content-Encoding", "gzip")
        .body(Body::from(
            ddlab_wire::compression::compress(Encoding::Gzip, body).unwrap(),
        ))
        .unwrap()
}

fn read(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .body(Body::empty())
        .unwrap()
}

fn search(body: &Value) -> Request<Body> {
    Request::post("/api/v2/spans/events/search")
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .header("Content-Type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn span(trace_id: u64, span_id: u64, parent_id: u64, resource: &str, status: &str, ms: i64) -> pb::Span {
    pb::Span {
        service: "flask".into(),
        name: if parent_id == 0 {
            "flask.request"
        } else {
            "flask.dispatch_request"
        }
        .into(),
        resource: resource.into(),
        trace_id,
        span_id,
        parent_id,
        start: START_NS + i64::try_from(trace_id).unwrap() * 1_000_000,
        duration: ms * 1_000_000,
        error: i32::from(status.starts_with('5')),
        r#type: "web".into(),
        meta: HashMap::from([
            ("http.status_code".into(), status.into()),
            ("http.method".into(), "GET".into()),
        ]),
        metrics: HashMap::from([("_top_level".into(), if parent_id == 0 { 1.0 } else { 0.0 })]),
        ..pb::Span::default()
    }
}

fn agent_payload(traces: Vec<Vec<pb::Span>>) -> Vec<u8> {
    ddlab_wire::trace::encode_agent_payload(&pb::AgentPayload {
        host_name: "agent-host".into(),
        env: "none".into(),
        tracer_payloads: vec![pb::TracerPayload {
            language_name: "python".into(),
            env: "lab".into(),
            app_version: "1.0".into(),
            chunks: traces
                .into_iter()
                .map(|spans| pb::TraceChunk {
                    priority: 1,
                    spans,
                    ..pb::TraceChunk::default()
                })
                .collect(),
            ..pb::TracerPayload::default()
        }],
        agent_version: "7.70.0".into(),
        ..pb::AgentPayload::default()
    })
}

/// Stats as the trace-agent computes them: one bucket, a group per (resource, status).
fn stats_payload(groups: &[(&str, u32, u64, u64, &[f64])]) -> pb::StatsPayload {
    pb::StatsPayload {
        agent_hostname: "agent-host".into(),
        agent_env: "none".into(),
        agent_version: "7.70.0".into(),
        stats: vec![pb::ClientStatsPayload {
            env: "lab".into(),
            version: "1.0".into(),
            stats: vec![pb::ClientStatsBucket {
                start: u64::try_from(BUCKET).unwrap() * 1_000_000_000,
                duration: 10_000_000_000,
                stats: groups
                    .iter()
                    .map(|(resource, status, hits, errors, latencies_ms)| {
                        let ns: Vec<f64> = latencies_ms.iter().map(|ms| ms * 1e6).collect();
                        pb::ClientGroupedStats {
                            service: "flask".into(),
                            name: "flask.request".into(),
                            resource: (*resource).into(),
                            http_status_code: *status,
                            r#type: "web".into(),
                            hits: *hits,
                            errors: *errors,
                            duration: ns.iter().sum::<f64>() as u64,
                            ok_summary: LatencySketch::of(&ns[usize::try_from(*errors).unwrap()..]).encode(),
                            error_summary: LatencySketch::of(&ns[..usize::try_from(*errors).unwrap()])
                                .encode(),
                            top_level_hits: *hits,
                            ..pb::ClientGroupedStats::default()
                        }
                    })
                    .collect(),
                agent_time_shift: 0,
            }],
            ..pb::ClientStatsPayload::default()
        }],
        ..pb::StatsPayload::default()
    }
}

/// The total of each series of a metric query, by its `tag_set`.
async fn totals(lab: &Lab, query: &str) -> BTreeMap<String, f64> {
    let uri = format!(
        "/api/v1/query?from={}&to={}&query={}",
        BUCKET - 300,
        BUCKET + 300,
        form_urlencoded::byte_serialize(query.as_bytes()).collect::<String>()
    );
    let (status, _, body) = call(lab, read(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|series| {
            let tags: Vec<&str> = series["tag_set"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let total = series["pointlist"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p[1].as_f64())
                .sum();
            (tags.join(","), total)
        })
        .collect()
}

#[tokio::test]
async fn stats_become_trace_metrics_that_queries_read() {
    let lab = lab();
    let first = stats_payload(&[
        ("GET /", 200, 3, 0, &[10.0, 20.0, 30.0]),
        ("GET /api/trace", 500, 2, 2, &[40.0, 50.0]),
    ]);
    let body = ddlab_wire::trace::encode_stats_payload(&first, StatsFormat::Msgpack).unwrap();
    let (status, _, answer) = call(&lab, intake("/api/v0.2/stats", "application/msgpack", &body)).await;
    assert_eq!((status, answer), (StatusCode::ACCEPTED, json!({})));
    // A second payload for the same bucket (another tracer, a late flush) adds to it, here in protobuf.
    let second = stats_payload(&[
        ("GET /", 200, 1, 0, &[5.0]),
        ("GET /api/apm", 200, 4, 0, &[1.0; 4]),
    ]);
    let body = ddlab_wire::trace::encode_stats_payload(&second, StatsFormat::Protobuf).unwrap();
    let (status, _, _) = call(&lab, intake("/api/v0.2/stats", "application/x-protobuf", &body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let hits = totals(
        &lab,
        "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
    )
    .await;
    assert_eq!(
        hits,
        BTreeMap::from([
            ("resource_name:get_/".to_owned(), 4.0),
            ("resource_name:get_/api/apm".to_owned(), 4.0),
            ("resource_name:get_/api/trace".to_owned(), 2.0),
        ])
    );
    let errors = totals(&lab, "sum:trace.flask.request.errors{service:flask}.as_count()").await;
    assert_eq!(errors.values().copied().collect::<Vec<_>>(), [2.0]);
    let by_status = totals(
        &lab,
        "sum:trace.flask.request.hits.by_http_status{*} by {http.status_class}.as_count()",
    )
    .await;
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("http.status_class:2xx".to_owned(), 8.0),
            ("http.status_class:5xx".to_owned(), 2.0)
        ])
    );
    // The total duration of `GET /`, in seconds: 10 + 20 + 30 + 5 ms.
    let duration = totals(&lab, "sum:trace.flask.request.duration{resource_name:get_/}").await;
    let seconds = duration.values().next().copied().unwrap();
    assert!((seconds - 0.065).abs() < 1e-9, "{seconds}");
    // The slowest `GET /` after both payloads is 30 ms (1 % sketch accuracy).
    let max = totals(
        &lab,
        "max:trace.flask.request.duration.by.resource_service.100p{resource_name:get_/}",
    )
    .await;
    let max = max.values().next().copied().unwrap();
    assert!((max - 0.030).abs() < 0.0005, "{max}");
    // Host tags apply as to any series: the stats name the agent's host.
    let by_host = totals(&lab, "sum:trace.flask.request.hits{*} by {host}.as_count()").await;
    assert_eq!(by_host, BTreeMap::from([("host:agent-host".to_owned(), 10.0)]));

    let (status, _, log) = call(&lab, read("/ddlab/intake?route=/api/v0.2/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["payloads"][1]["payload"]["groups"], 2);

    // The services page reads the same stats.
    let uri = format!("/ddlab/apm/services?from={}&to={}", BUCKET - 60, BUCKET + 60);
    let (status, _, services) = call(&lab, read(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{services}");
    let flask = &services["services"][0];
    assert_eq!(
        (
            &flask["service"],
            &flask["env"],
            &flask["operation"],
            &flask["hits"],
            &flask["errors"]
        ),
        (
            &json!("flask"),
            &json!("lab"),
            &json!("flask.request"),
            &json!(10.0),
            &json!(2.0)
        )
    );
    let uri = format!(
        "/ddlab/apm/services/flask/resources?from={}&to={}&env=lab",
        BUCKET - 60,
        BUCKET + 60
    );
    let (_, _, resources) = call(&lab, read(&uri)).await;
    assert_eq!(resources["operation"], "flask.request");
    let listed: Vec<(&str, f64)> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["resource"].as_str().unwrap(), r["hits"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("GET /", 4.0), ("GET /api/apm", 4.0), ("GET /api/trace", 2.0)]
    );
    let uri = format!(
        "/ddlab/apm/services?from={}&to={}&env=prod",
        BUCKET - 60,
        BUCKET + 60
    );
    let (_, _, none) = call(&lab, read(&uri)).await;
    assert_eq!(none["services"], json!([]));
}

#[tokio::test]
async fn the_trace_intake_needs_the_api_key_and_refuses_bad_bodies() {
    let lab = lab();
    let body = agent_payload(vec![vec![span(1, 10, 0, "GET /", "200", 2)]]);
    let mut request = intake("/api/v0.2/traces", "application/x-protobuf", &body);
    request.headers_mut().remove("DD-API-KEY");
    assert_eq!(call(&lab, request).await.0, StatusCode::FORBIDDEN);
    let (status, _, answer) = call(
        &lab,
        intake("/api/v0.2/traces", "application/x-protobuf", &[0x0a, 0xff]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("Invalid payload: invalid protobuf AgentPayload"),
        "{answer}"
    );
    let mut bad_sketch = stats_payload(&[("GET /", 200, 1, 0, &[1.0])]);
    bad_sketch.stats[0].stats[0].stats[0].ok_summary = vec![0x0a, 0x05];
    let body = ddlab_wire::trace::encode_stats_payload(&bad_sketch, StatsFormat::Msgpack).unwrap();
    let (status, _, answer) = call(&lab, intake("/api/v0.2/stats", "application/msgpack", &body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (_, _, log) = call(&lab, read("/ddlab/intake?route=/api/v0.2/stats")).await;
    assert_eq!(log["payloads"][0]["status"], 400);
}

/// The `trace_id/span_id` of each span of a spans API answer.
fn ids(answer: &Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["attributes"]["trace_id"].as_str().unwrap(),
                s["attributes"]["span_id"].as_str().unwrap()
            )
        })
        .collect()
}

fn search_body(query: &str, sort: &str, limit: u32, cursor: Option<&str>) -> Value {
    let mut page = json!({ "limit": limit });
    if let Some(cursor) = cursor {
        page["cursor"] = json!(cursor);
    }
    json!({"data": {"type": "search_request", "attributes": {
        "filter": {"query": query, "from": (BUCKET * 1000).to_string(), "to": ((BUCKET + 60) * 1000).to_string()},
        "options": {"timezone": "UTC"},
        "page": page,
        "sort": sort,
    }}})
}

#[tokio::test]
async fn stored_spans_are_searchable_and_paged() {
    let lab = lab();
    let traces = vec![
        vec![
            span(1, 10, 0, "GET /", "200", 2),
            span(1, 11, 10, "GET /", "200", 1),
        ],
        vec![span(2, 20, 0, "GET /api/apm", "200", 3)],
        vec![span(3, 30, 0, "GET /api/trace", "500", 250)],
    ];
    let (status, _, _) = call(
        &lab,
        intake(
            "/api/v0.2/traces",
            "application/x-protobuf",
            &agent_payload(traces),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, content_type, answer) =
        call(&lab, search(&search_body("service:flask", "timestamp", 10, None))).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/vnd.api+json")
    );
    assert_eq!(ids(&answer), ["1/10", "1/11", "2/20", "3/30"]);
    assert_eq!(answer["meta"]["status"], "done");
    assert!(
        answer.get("links").is_none() && answer["meta"].get("page").is_none(),
        "{answer}"
    );
    let first = &answer["data"][0]["attributes"];
    assert_eq!(
        (&first["env"], &first["version"], &first["host"]),
        (&json!("lab"), &json!("1.0"), &json!("agent-host"))
    );
    assert_eq!(first["custom"]["http"]["status_code"], "200");
    assert_eq!(first["custom"]["duration"], 2_000_000);

    for (query, expected) in [
        ("status:error", vec!["3/30"]),
        ("@duration:>100ms", vec!["3/30"]),
        (
            "@http.status_code:[200 TO 299] -operation_name:flask.dispatch_request",
            vec!["1/10", "2/20"],
        ),
        (
            r#"resource_name:"GET /api/apm" OR trace_id:3"#,
            vec!["2/20", "3/30"],
        ),
        (
            "env:lab service:(mysql OR flask) resource_name:GET*trace",
            vec!["3/30"],
        ),
        ("service:mysql", vec![]),
    ] {
        let (status, _, answer) = call(&lab, search(&search_body(query, "timestamp", 10, None))).await;
        assert_eq!(status, StatusCode::OK, "{query}: {answer}");
        assert_eq!(ids(&answer), expected, "{query}");
    }

    // Newest first, two per page, following the cursor until the last page.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (_, _, page) = call(
            &lab,
            search(&search_body("*", "-timestamp", 2, cursor.as_deref())),
        )
        .await;
        seen.extend(ids(&page));
        match page["meta"]["page"]["after"].as_str() {
            Some(after) => {
                let next = page["links"]["next"].as_str().unwrap();
                assert!(
                    next.starts_with("http://lab.test/api/v2/spans/events?filter%5Bquery%5D=*"),
                    "{next}"
                );
                cursor = Some(after.to_owned());
            }
            None => break,
        }
        assert!(seen.len() <= 4);
    }
    assert_eq!(seen, ["3/30", "2/20", "1/11", "1/10"]);

    // The GET form answers the same, and its `links.next` is followable as is.
    let uri = format!(
        "/api/v2/spans/events?filter%5Bquery%5D=service%3Aflask&filter%5Bfrom%5D={}&filter%5Bto%5D={}&sort=timestamp&page%5Blimit%5D=3",
        BUCKET * 1000,
        (BUCKET + 60) * 1000
    );
    let (status, _, page) = call(&lab, read(&uri)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["1/10", "1/11", "2/20"]);
    let next = page["links"]["next"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://lab.test");
    let (_, _, rest) = call(&lab, read(next)).await;
    assert_eq!(ids(&rest), ["3/30"]);

    // The trace view's data.
    let (status, _, trace) = call(&lab, read("/ddlab/apm/traces/1")).await;
    assert_eq!(status, StatusCode::OK);
    let spans: Vec<(&str, bool)> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["top_level"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        spans,
        [("flask.request", true), ("flask.dispatch_request", false)]
    );
    assert_eq!(
        call(&lab, read("/ddlab/apm/traces/99")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&lab, read("/ddlab/apm/traces/x")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_searches_answer_json_api_errors() {
    let lab = lab();
    let from_after_to = json!({"data": {"type": "search_request", "attributes": {
        "filter": {"query": "*", "from": "now", "to": "now-15m"}}}});
    let (status, content_type, answer) = call(&lab, search(&from_after_to)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "application/vnd.api+json")
    );
    assert_eq!(
        answer,
        json!({"errors": [{"title": "Generic Error", "status": "422",
            "detail": "invalid_argument(Field 'filter.from,to' is invalid: 'from' should be anterior to 'to')"}]})
    );
    for (body, detail) in [
        (
            search_body("status:maybe", "timestamp", 10, None),
            "invalid query \"status:maybe\": status must be error or ok, not \"maybe\"",
        ),
        (
            search_body("*", "newest", 10, None),
            "sort must be \"timestamp\" or \"-timestamp\", not \"newest\"",
        ),
        (
            search_body("*", "timestamp", 5000, None),
            "page.limit must be from 1 to 1000, not \"5000\"",
        ),
        (
            search_body("*", "timestamp", 10, Some("bogus")),
            "page.cursor \"bogus\" is not a cursor this API gave",
        ),
        (
            json!({"data": {"type": "aggregate_request"}}),
            "data.type must be \"search_request\", not \"aggregate_request\"",
        ),
        (
            json!({"data": {"attributes": {"filter": {"from": "yesterday"}}}}),
            "filter.from: invalid time \"yesterday\": expected now, now-15m, epoch milliseconds or an ISO-8601 date",
        ),
    ] {
        let (status, _, answer) = call(&lab, search(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["errors"][0]["detail"], detail);
        assert_eq!(answer["errors"][0]["status"], "400");
    }
    // An empty body is the default search: the last 15 minutes, nothing stored yet.
    let request = Request::post("/api/v2/spans/events/search")
        .header("DD-API-KEY", API)
        .header("DD-APPLICATION-KEY", APP)
        .body(Body::empty())
        .unwrap();
    let (status, _, answer) = call(&lab, request).await;
    assert_eq!((status, &answer["data"]), (StatusCode::OK, &json!([])));
    // Reading spans needs the application key.
    let request = Request::get("/api/v2/spans/events")
        .header("DD-API-KEY", API)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&lab, request).await.0, StatusCode::FORBIDDEN);
}
