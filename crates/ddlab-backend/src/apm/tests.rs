//! Tests of the APM derivations: trace metrics from stats rows, the stats and spans of intake payloads,
//! the spans API's span shape and cursors, and the services pages' summaries.

use std::collections::{BTreeMap, HashMap};

use ddlab_store::{MetricKind, NewSeries, SpanCursor, StoredSpan};
use ddlab_wire::trace::pb;
use ddlab_wire::trace::sketch::LatencySketch;
use serde_json::json;

use super::*;

fn row(resource: &str, status: u32, hits: f64, errors: f64, latencies_ms: &[f64]) -> TraceStatsRow {
    let ok: Vec<f64> = latencies_ms
        .iter()
        .skip(errors as usize)
        .map(|ms| ms * 1e6)
        .collect();
    let error: Vec<f64> = latencies_ms
        .iter()
        .take(errors as usize)
        .map(|ms| ms * 1e6)
        .collect();
    TraceStatsRow {
        bucket: 1_700_000_000,
        bucket_duration: 10,
        host: "web-1".into(),
        env: "lab".into(),
        version: "1.0".into(),
        service: "flask".into(),
        name: "flask.request".into(),
        resource: resource.into(),
        http_status_code: status,
        span_type: "web".into(),
        hits,
        errors,
        duration: latencies_ms.iter().sum::<f64>() * 1e6,
        top_level_hits: hits,
        ok_summary: LatencySketch::of(&ok).encode(),
        error_summary: LatencySketch::of(&error).encode(),
    }
}

/// The derived series as `metric{tags} = value`, sorted, percentiles rounded to the millisecond.
fn shown(series: &[NewSeries]) -> Vec<String> {
    let mut lines: Vec<String> = series
        .iter()
        .map(|s| {
            assert_eq!(s.host.as_deref(), Some("web-1"));
            assert_eq!(s.interval, Some(10));
            assert_eq!(s.points.len(), 1);
            let (ts, value) = s.points[0];
            assert_eq!(ts, 1_700_000_000);
            let kind = match s.kind {
                MetricKind::Count => "count",
                _ => "gauge",
            };
            format!("{} {kind} {{{}}} = {:.3}", s.metric, s.tags.join(","), value)
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn trace_metrics_follow_datadogs_namespace() {
    let rows = vec![
        row("GET /", 200, 3.0, 0.0, &[10.0, 20.0, 30.0]),
        row("GET /api/trace", 500, 1.0, 1.0, &[2000.0]),
        row("GET /api/trace", 200, 1.0, 0.0, &[1000.0]),
    ];
    let lines = shown(&metrics::derive(&rows));
    let expected = [
        "trace.flask.request.apdex gauge {env:lab,service:flask,version:1.0,resource_name:get_/} = 1.000",
        // The 1 s request is tolerated (counts a half), the 2 s error is frustrated: 0.5 / 2.
        "trace.flask.request.apdex gauge {env:lab,service:flask,version:1.0,resource_name:get_/api/trace} = 0.250",
        "trace.flask.request.duration gauge {env:lab,service:flask,version:1.0,resource_name:get_/,http.status_code:200} = 0.060",
        "trace.flask.request.duration gauge {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:200} = 1.000",
        "trace.flask.request.duration gauge {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:500} = 2.000",
        "trace.flask.request.duration.by.resource_service.100p gauge {env:lab,service:flask,version:1.0,resource_name:get_/} = 0.030",
    ];
    for line in expected {
        assert!(
            lines.contains(&line.to_owned()),
            "missing {line}\nin:\n{}",
            lines.join("\n")
        );
    }
    let find = |prefix: &str| -> Vec<&String> { lines.iter().filter(|l| l.starts_with(prefix)).collect() };
    assert_eq!(
        find("trace.flask.request.hits "),
        [
            "trace.flask.request.hits count {env:lab,service:flask,version:1.0,resource_name:get_/,http.status_code:200} = 3.000",
            "trace.flask.request.hits count {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:200} = 1.000",
            "trace.flask.request.hits count {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:500} = 1.000",
        ]
    );
    assert_eq!(
        find("trace.flask.request.errors.by_http_status "),
        [
            "trace.flask.request.errors.by_http_status count {env:lab,service:flask,version:1.0,resource_name:get_/,http.status_code:200,http.status_class:2xx} = 0.000",
            "trace.flask.request.errors.by_http_status count {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:200,http.status_class:2xx} = 0.000",
            "trace.flask.request.errors.by_http_status count {env:lab,service:flask,version:1.0,resource_name:get_/api/trace,http.status_code:500,http.status_class:5xx} = 1.000",
        ]
    );
    // The service's percentiles pool every resource: 5 spans, the median is 30 ms (within 1 %).
    let median = find("trace.flask.request.duration.by.service.50p ");
    assert_eq!(median.len(), 1);
    assert!(median[0].ends_with("= 0.030"), "{}", median[0]);
    assert_eq!(find("trace.flask.request.duration.by.service.").len(), 6);
    assert_eq!(
        find("trace.flask.request.duration.by.resource_service.").len(),
        12
    );
    assert_eq!(lines.len(), 3 * 6 + 12 + 6 + 2);
}

#[test]
fn rows_without_status_or_env_get_fewer_tags() {
    let mut quiet = row("SELECT 1", 0, 2.0, 0.0, &[1.0, 1.0]);
    quiet.env = String::new();
    quiet.version = String::new();
    quiet.name = "mysql.query".into();
    quiet.span_type = "sql".into();
    let lines = shown(&metrics::derive(&[quiet]));
    assert!(
        lines.contains(
            &"trace.mysql.query.hits count {service:flask,resource_name:select_1} = 2.000".to_owned()
        )
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("by_http_status") || l.contains("apdex")),
        "{lines:?}"
    );
    assert!(metrics::derive(&[]).is_empty());
}

#[test]
fn summaries_merge() {
    let a = LatencySketch::of(&[1e6, 2e6]).encode();
    let b = LatencySketch::of(&[3e6]).encode();
    let merged = LatencySketch::decode(&metrics::merge_summaries(&a, &b)).unwrap();
    assert_eq!(merged.count(), 3.0);
    assert_eq!(metrics::merge_summaries(&a, &[]), a);
    assert_eq!(metrics::merge_summaries(&[], &b), b);
}

fn flask_span(trace_id: u64, span_id: u64) -> pb::Span {
    pb::Span {
        service: "flask".into(),
        name: "flask.request".into(),
        resource: "GET /".into(),
        trace_id,
        span_id,
        start: 1_700_000_000_123_000_000,
        duration: 4_000_000,
        r#type: "web".into(),
        meta: HashMap::from([
            ("http.status_code".into(), "200".into()),
            ("http.method".into(), "GET".into()),
            ("span.kind".into(), "server".into()),
            ("component".into(), "flask".into()),
        ]),
        metrics: HashMap::from([("_top_level".into(), 1.0), ("process_id".into(), 42.0)]),
        ..pb::Span::default()
    }
}

#[test]
fn agent_payloads_become_spans_with_their_context() {
    let mut child = flask_span(7, 2);
    child.parent_id = 1;
    child.metrics.clear();
    child.meta.insert("env".into(), "staging".into());
    child.span_links = vec![pb::SpanLink {
        trace_id: 9,
        span_id: 8,
        ..pb::SpanLink::default()
    }];
    let payload = pb::AgentPayload {
        host_name: "agent-host".into(),
        env: "none".into(),
        tracer_payloads: vec![pb::TracerPayload {
            env: "lab".into(),
            app_version: "1.0".into(),
            chunks: vec![pb::TraceChunk {
                spans: vec![flask_span(7, 1), child],
                ..pb::TraceChunk::default()
            }],
            ..pb::TracerPayload::default()
        }],
        ..pb::AgentPayload::default()
    };
    let spans = spans_of(&payload);
    let shown: Vec<(u64, &str, &str, &str, bool)> = spans
        .iter()
        .map(|s| {
            (
                s.span_id,
                s.env.as_str(),
                s.version.as_str(),
                s.host.as_str(),
                s.top_level,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (1, "lab", "1.0", "agent-host", true),
            (2, "staging", "1.0", "agent-host", false)
        ]
    );
    assert_eq!(spans[1].extra["span_links"][0]["trace_id"], "9");
    assert!(spans[0].extra.is_null());
}

#[test]
fn stats_payloads_become_rows_with_the_agents_context() {
    let group = pb::ClientGroupedStats {
        service: "Flask".into(),
        name: "flask.request".into(),
        resource: String::new(),
        http_status_code: 200,
        hits: 4,
        ok_summary: LatencySketch::of(&[1e6]).encode(),
        ..pb::ClientGroupedStats::default()
    };
    let mut payload = pb::StatsPayload {
        agent_hostname: "agent-host".into(),
        agent_env: "Lab".into(),
        stats: vec![pb::ClientStatsPayload {
            version: "1.0".into(),
            stats: vec![pb::ClientStatsBucket {
                start: 1_700_000_000_000_000_000,
                duration: 10_000_000_000,
                stats: vec![group],
                agent_time_shift: 0,
            }],
            ..pb::ClientStatsPayload::default()
        }],
        ..pb::StatsPayload::default()
    };
    let rows = stats_rows(&payload).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.bucket,
            r.bucket_duration,
            r.host.as_str(),
            r.env.as_str(),
            r.version.as_str()
        ),
        (1_700_000_000, 10, "agent-host", "lab", "1.0")
    );
    assert_eq!(
        (r.service.as_str(), r.resource.as_str(), r.hits),
        ("flask", "flask.request", 4.0)
    );
    payload.stats[0].stats[0].stats[0].error_summary = vec![0xff];
    let err = stats_rows(&payload).unwrap_err();
    assert!(err.to_string().starts_with("invalid protobuf DDSketch"), "{err}");
}

#[test]
fn spans_answer_in_the_spans_api_shape() {
    let spans = spans_of(&pb::AgentPayload {
        host_name: "agent-host".into(),
        tracer_payloads: vec![pb::TracerPayload {
            env: "lab".into(),
            chunks: vec![pb::TraceChunk {
                spans: vec![flask_span(u64::MAX, 1)],
                ..pb::TraceChunk::default()
            }],
            ..pb::TracerPayload::default()
        }],
        ..pb::AgentPayload::default()
    });
    let stored = StoredSpan {
        id: 1,
        span: spans[0].clone(),
        received_at: 0,
    };
    let value = span_json(&stored);
    let attributes = &value["attributes"];
    assert_eq!(value["type"], "spans");
    assert_eq!(attributes["trace_id"], "18446744073709551615");
    assert_eq!(attributes["parent_id"], "0");
    assert_eq!(attributes["resource_name"], "GET /");
    assert_eq!(attributes["start_timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(attributes["end_timestamp"], "2023-11-14T22:13:20.127Z");
    assert_eq!(
        attributes["tags"],
        json!(["env:lab", "service:flask", "host:agent-host"])
    );
    assert_eq!(
        attributes["custom"],
        json!({
            "duration": 4_000_000,
            "http": {"status_code": "200", "method": "GET"},
            "span": {"kind": "server"},
            "component": "flask",
            "_top_level": 1.0,
            "process_id": 42.0,
        })
    );
    assert_eq!(attributes["resource_hash"].as_str().unwrap().len(), 16);
}

#[test]
fn dotted_keys_nest_unless_they_collide() {
    let mut custom = serde_json::Map::new();
    insert_path(&mut custom, "a.b", json!(1));
    insert_path(&mut custom, "a", json!(2));
    insert_path(&mut custom, "x", json!(3));
    insert_path(&mut custom, "x.y", json!(4));
    insert_path(&mut custom, ".odd", json!(5));
    assert_eq!(
        serde_json::Value::Object(custom),
        json!({"a": {"b": 1, "": 2}, "x": 3, "x.y": 4, ".odd": 5})
    );
}

#[test]
fn cursors_round_trip_and_refuse_garbage() {
    let cursor = SpanCursor {
        start: 1_700_000_000_000_000_000,
        id: 42,
    };
    let text = encode_cursor(cursor);
    assert!(text.starts_with("eyJhZnRlciI6"), "{text}");
    assert_eq!(decode_cursor(&text), Some(cursor));
    assert_eq!(decode_cursor("nope"), None);
    assert_eq!(decode_cursor(""), None);
}

#[test]
fn services_and_resources_summarise_the_entry_operation() {
    let mut inner = row("SELECT 1", 0, 10.0, 0.0, &[1.0; 10]);
    inner.name = "mysql.query".into();
    inner.span_type = "sql".into();
    inner.top_level_hits = 0.0;
    let rows = vec![
        row("GET /", 200, 3.0, 0.0, &[10.0, 20.0, 30.0]),
        row("GET /api/trace", 500, 1.0, 1.0, &[2000.0]),
        inner,
    ];
    let services = services(&rows);
    assert_eq!(services.as_array().unwrap().len(), 1);
    let flask = &services[0];
    assert_eq!(flask["service"], "flask");
    assert_eq!(flask["operation"], "flask.request");
    assert_eq!(
        (flask["hits"].as_f64(), flask["errors"].as_f64()),
        (Some(4.0), Some(1.0))
    );
    assert_eq!(flask["error_rate"], 0.25);
    let p50 = flask["duration"]["p50"].as_f64().unwrap();
    assert!((p50 - 0.020).abs() < 0.0005, "{p50}");
    assert_eq!(flask["operations"].as_array().unwrap().len(), 1);
    assert_eq!(main_operation(&rows).as_deref(), Some("flask.request"));

    let listed = resources(&rows, "flask.request");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resource"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GET /", "GET /api/trace"]);
    assert_eq!(listed[1]["duration"]["avg"], 2.0);
    let by_name: BTreeMap<&str, f64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["resource"].as_str().unwrap(), r["hits"].as_f64().unwrap()))
        .collect();
    assert_eq!(by_name, BTreeMap::from([("GET /", 3.0), ("GET /api/trace", 1.0)]));
}
