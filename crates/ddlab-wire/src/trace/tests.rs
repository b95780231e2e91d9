//! Tests of the trace and stats formats: bodies built value by value as tracers build them, the
//! trace-agent's leniency and normalisation, errors with paths, sketches, and property tests that no
//! body panics a decoder and that encoded spans decode to themselves.

use std::collections::HashMap;

use expect_test::{Expect, expect};
use proptest::prelude::*;
use rmpv::Value;

use super::normalize::{self, SpanRepairs, TraceDrop, normalize_trace};
use super::sketch::LatencySketch;
use super::*;

const START: i64 = 1_700_000_000_000_000_000;
const NOW: i64 = 1_800_000_000_000_000_000;

fn msgpack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(entries.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
}

/// The Flask root span ddtrace sends for `GET /`, as a v0.4 span map.
fn flask_span_v04() -> Value {
    map(vec![
        ("trace_id", Value::from(7u64)),
        ("span_id", Value::from(1u64)),
        ("parent_id", Value::from(0u64)),
        ("name", Value::from("flask.request")),
        ("resource", Value::from("GET /")),
        ("service", Value::from("flask")),
        ("type", Value::from("web")),
        ("start", Value::from(START)),
        ("duration", Value::from(38_000)),
        ("error", Value::from(0)),
        (
            "meta",
            map(vec![
                ("http.status_code", Value::from("200")),
                ("env", Value::from("lab")),
            ]),
        ),
        (
            "metrics",
            map(vec![
                ("_dd.top_level", Value::from(1)),
                ("_sampling_priority_v1", Value::from(1.0)),
            ]),
        ),
    ])
}

fn flask_span() -> pb::Span {
    pb::Span {
        service: "flask".into(),
        name: "flask.request".into(),
        resource: "GET /".into(),
        trace_id: 7,
        span_id: 1,
        parent_id: 0,
        start: START,
        duration: 38_000,
        error: 0,
        r#type: "web".into(),
        meta: HashMap::from([
            ("http.status_code".into(), "200".into()),
            ("env".into(), "lab".into()),
        ]),
        metrics: HashMap::from([
            ("_dd.top_level".into(), 1.0),
            ("_sampling_priority_v1".into(), 1.0),
        ]),
        ..pb::Span::default()
    }
}

/// Decodes with `decode` and shows the error, for bodies that must be refused.
fn check_error(result: Result<Vec<Vec<pb::Span>>, WireError>, expect: Expect) {
    match result {
        Ok(traces) => panic!("expected an error, decoded {traces:?}"),
        Err(err) => expect.assert_eq(&err.to_string()),
    }
}

#[test]
fn v04_decodes_what_ddtrace_sends() {
    let body = msgpack(&Value::Array(vec![Value::Array(vec![flask_span_v04()])]));
    assert_eq!(decode_v04(&body).unwrap(), vec![vec![flask_span()]]);
}

#[test]
fn a_repeated_string_is_checked_once_and_shared() {
    let span = |service: Value, env: &str| {
        map(vec![
            ("service", service),
            ("name", Value::from("flask.request")),
            (
                "meta",
                map(vec![
                    ("env", Value::from(env)),
                    ("bad", Value::Binary(b"a\xffb".to_vec())),
                ]),
            ),
        ])
    };
    let body = msgpack(&Value::Array(vec![Value::Array(vec![
        span(Value::from("flask"), "prod"),
        span(Value::from("flask"), "dev"),
        span(Value::Binary(b"flask".to_vec()), "prod"),
    ])]));
    let traces = decode_v04_ref(&body).unwrap();
    fn meta<'s>(span: &'s SpanSlice<'_>, key: &str) -> &'s str {
        span.meta.get(key).map_or("", |value| value.as_ref())
    }
    let spans = &traces[0];
    let services: Vec<&str> = spans.iter().map(|span| span.service.as_ref()).collect();
    assert_eq!(services, ["flask"; 3]);
    // The same text, and the same bytes of the body: checked once.
    assert!(
        spans
            .iter()
            .all(|span| span.service.as_ptr() == spans[0].service.as_ptr())
    );
    let envs: Vec<&str> = spans.iter().map(|span| meta(span, "env")).collect();
    assert_eq!(envs, ["prod", "dev", "prod"]);
    assert_eq!(meta(&spans[2], "env").as_ptr(), meta(&spans[0], "env").as_ptr());
    // Invalid UTF-8 is repaired every time it comes, never remembered.
    assert!(spans.iter().all(|span| meta(span, "bad") == "a\u{fffd}b"));
}

#[test]
fn v04_is_as_lenient_as_the_agent() {
    let span = map(vec![
        // nil fields keep their zero value.
        ("service", Value::Nil),
        ("meta", Value::Nil),
        // Strings may come as bin; invalid UTF-8 is repaired.
        ("name", Value::Binary(b"flask.\xffrequest".to_vec())),
        // Ids from languages without unsigned integers come negative.
        ("trace_id", Value::from(-1i64)),
        ("span_id", Value::from(3u8)),
        // Times as unsigned integers, metrics as integers.
        ("start", Value::from(START as u64)),
        (
            "metrics",
            map(vec![("x", Value::from(5u8)), ("y", Value::F32(0.5))]),
        ),
        // Unknown fields, however nested, are skipped.
        (
            "future",
            Value::Array(vec![map(vec![("a", Value::Ext(3, vec![1, 2]))])]),
        ),
        ("error", Value::from(1u64)),
    ]);
    let body = msgpack(&Value::Array(vec![
        Value::Array(vec![span, Value::Nil]),
        Value::Nil,
    ]));
    let traces = decode_v04(&body).unwrap();
    let expected = pb::Span {
        name: "flask.\u{fffd}request".into(),
        trace_id: u64::MAX,
        span_id: 3,
        start: START,
        error: 1,
        metrics: HashMap::from([("x".into(), 5.0), ("y".into(), 0.5)]),
        ..pb::Span::default()
    };
    assert_eq!(traces, vec![vec![expected], vec![]]);
}

#[test]
fn v04_refuses_wrong_types_with_the_path() {
    let span = |field: &str, value: Value| {
        msgpack(&Value::Array(vec![Value::Array(vec![
            flask_span_v04(),
            map(vec![(field, value)]),
        ])]))
    };
    check_error(
        decode_v04(&span("duration", Value::from("38"))),
        expect![
            "invalid msgpack v0.4 traces ([0][1].duration, byte 224): expected an integer that fits in int64, found a string"
        ],
    );
    check_error(
        decode_v04(&span("start", Value::from(u64::MAX))),
        expect![
            "invalid msgpack v0.4 traces ([0][1].start, byte 221): expected an integer that fits in int64, found an integer"
        ],
    );
    check_error(
        decode_v04(&span("trace_id", Value::F64(1.5))),
        expect![
            "invalid msgpack v0.4 traces ([0][1].trace_id, byte 224): expected an integer, found a float"
        ],
    );
    check_error(
        decode_v04(&span("meta", Value::Array(vec![]))),
        expect!["invalid msgpack v0.4 traces ([0][1].meta, byte 220): expected a map, found an array"],
    );
    check_error(
        decode_v04(&span("error", Value::from(1u64 << 40))),
        expect![
            "invalid msgpack v0.4 traces ([0][1].error, byte 221): expected an integer that fits in int32, found an integer"
        ],
    );
    check_error(
        decode_v04(&msgpack(&map(vec![]))),
        expect![[r#"invalid msgpack v0.4 traces (top level, byte 0): expected an array, found a map"#]],
    );
}

#[test]
fn truncated_bodies_say_so() {
    let body = msgpack(&Value::Array(vec![Value::Array(vec![flask_span_v04()])]));
    for cut in [0, 1, body.len() / 2, body.len() - 1] {
        let err = decode_v04(&body[..cut]).unwrap_err();
        assert!(err.is_truncated(), "cut at {cut}: {err}");
    }
    let err = decode_v04(&[0x91, 0x91, 0x81, 0xa3, b'x']).unwrap_err();
    assert!(err.is_truncated(), "{err}");
    // A wrong type is not a truncation.
    assert!(!decode_v04(&[0xc3]).unwrap_err().is_truncated());
}

#[test]
fn v04_keeps_meta_struct_links_and_events() {
    let mut span = flask_span();
    span.meta_struct = HashMap::from([("appsec".into(), vec![0x81, 0xa1, b'a', 0x01])]);
    span.span_links = vec![pb::SpanLink {
        trace_id: 9,
        trace_id_high: 1,
        span_id: 10,
        attributes: HashMap::from([("link.name".into(), "retry".into())]),
        tracestate: "dd=s:1".into(),
        flags: 1 << 31,
    }];
    span.span_events = vec![pb::SpanEvent {
        time_unix_nano: 1_700_000_000_000_000_500,
        name: "exception".into(),
        attributes: HashMap::from([
            (
                "message".into(),
                pb::AttributeAnyValue {
                    r#type: 0,
                    string_value: "boom".into(),
                    ..pb::AttributeAnyValue::default()
                },
            ),
            (
                "lines".into(),
                pb::AttributeAnyValue {
                    r#type: 4,
                    array_value: Some(pb::AttributeArray {
                        values: vec![pb::AttributeArrayValue {
                            r#type: 2,
                            int_value: 42,
                            ..pb::AttributeArrayValue::default()
                        }],
                    }),
                    ..pb::AttributeAnyValue::default()
                },
            ),
        ]),
    }];
    let traces = vec![vec![span]];
    assert_eq!(decode_v04(&encode_v04(&traces)).unwrap(), traces);
}

#[test]
fn v05_decodes_the_string_table_format() {
    let table = [
        "",
        "flask",
        "flask.request",
        "GET /",
        "http.status_code",
        "200",
        "env",
        "lab",
        "web",
    ]
    .map(Value::from)
    .to_vec();
    let span = Value::Array(vec![
        Value::from(1),
        Value::from(2),
        Value::from(3),
        Value::from(7u64),
        Value::from(1u64),
        Value::from(0u64),
        Value::from(START),
        Value::from(38_000),
        Value::from(0),
        Value::Map(vec![
            (Value::from(4), Value::from(5)),
            (Value::from(6), Value::from(7)),
        ]),
        Value::Map(vec![]),
        Value::from(8),
    ]);
    let body = msgpack(&Value::Array(vec![
        Value::Array(table),
        Value::Array(vec![Value::Array(vec![span])]),
    ]));
    let mut expected = flask_span();
    expected.metrics.clear();
    assert_eq!(decode_v05(&body).unwrap(), vec![vec![expected]]);
}

#[test]
fn v05_refuses_bad_indexes_and_shapes() {
    let body = |table: Vec<Value>, span: Vec<Value>| {
        msgpack(&Value::Array(vec![
            Value::Array(table),
            Value::Array(vec![Value::Array(vec![Value::Array(span)])]),
        ]))
    };
    let good = || {
        vec![
            Value::from(0),
            Value::from(0),
            Value::from(0),
            Value::from(1),
            Value::from(1),
            Value::from(0),
            Value::from(START),
            Value::from(1),
            Value::from(0),
            Value::Map(vec![]),
            Value::Map(vec![]),
            Value::from(0),
        ]
    };
    let mut out_of_range = good();
    out_of_range[2] = Value::from(5);
    check_error(
        decode_v05(&body(vec![Value::from("")], out_of_range)),
        expect![
            "invalid msgpack v0.5 traces (traces[0][0].resource, byte 8): string index 5 is outside the string table (1 strings)"
        ],
    );
    let mut short = good();
    short.pop();
    check_error(
        decode_v05(&body(vec![Value::from("")], short)),
        expect![
            "invalid msgpack v0.5 traces (traces[0][0], byte 5): a v0.5 span is an array of 12 elements, found 11"
        ],
    );
    check_error(
        decode_v05(&msgpack(&Value::Array(vec![Value::Array(vec![])]))),
        expect![
            "invalid msgpack v0.5 traces (top level, byte 0): a v0.5 payload is [string table, traces], found an array of 1"
        ],
    );
    check_error(
        decode_v05(&body(vec![Value::from(1)], good())),
        expect![[
            r#"invalid msgpack v0.5 traces (string table[0], byte 2): expected a string, found an integer"#
        ]],
    );
}

#[test]
fn v04_json_decodes_the_same_spans() {
    let body = br#"[[{"trace_id":7,"span_id":1,"parent_id":0,"name":"flask.request","resource":"GET /",
        "service":"flask","type":"web","start":1700000000000000000,"duration":38000,"error":0,
        "meta":{"http.status_code":"200","env":"lab"},"metrics":{"_dd.top_level":1,"_sampling_priority_v1":1}}]]"#;
    assert_eq!(decode_v04_json(body).unwrap(), vec![vec![flask_span()]]);
    check_error(
        decode_v04_json(br#"[[{"trace_id":"7"}]]"#),
        expect![[r#"traces[0][0].trace_id: expected an integer"#]],
    );
    // Sent as something else, a non-JSON body is read as msgpack, as the agent does its best.
    let packed = encode_v04(&[vec![flask_span()]]);
    let format = TraceFormat::v04(Some("application/octet-stream"));
    assert_eq!(
        decode_traces(format, Some("application/octet-stream"), &packed).unwrap(),
        vec![vec![flask_span()]]
    );
    assert!(decode_traces(TraceFormat::v04(None), None, &packed).is_err());
    assert_eq!(
        TraceFormat::v04(Some("application/msgpack; charset=x")),
        TraceFormat::V04Msgpack
    );
}

#[test]
fn v07_decodes_a_tracer_payload() {
    let body = msgpack(&map(vec![
        ("container_id", Value::from("c1")),
        ("language_name", Value::from("python")),
        ("tracer_version", Value::from("4.16.0")),
        ("env", Value::from("lab")),
        ("app_version", Value::from("1.0")),
        ("tags", map(vec![("_dd.p.dm", Value::from("-0"))])),
        (
            "chunks",
            Value::Array(vec![
                map(vec![
                    ("priority", Value::from(2)),
                    ("origin", Value::from("synthetics")),
                    ("spans", Value::Array(vec![flask_span_v04()])),
                    ("dropped_trace", Value::from(false)),
                ]),
                Value::Nil,
            ]),
        ),
        ("unknown", Value::from(1)),
    ]));
    let payload = decode_v07(&body).unwrap();
    assert_eq!(
        payload,
        pb::TracerPayload {
            container_id: "c1".into(),
            language_name: "python".into(),
            tracer_version: "4.16.0".into(),
            env: "lab".into(),
            app_version: "1.0".into(),
            tags: HashMap::from([("_dd.p.dm".into(), "-0".into())]),
            chunks: vec![pb::TraceChunk {
                priority: 2,
                origin: "synthetics".into(),
                spans: vec![flask_span()],
                ..pb::TraceChunk::default()
            }],
            ..pb::TracerPayload::default()
        }
    );
}

/// Normalises one span in a trace of its own and shows what changed.
fn normalized(span: pb::Span, lang: &str) -> (pb::Span, SpanRepairs) {
    let mut spans = vec![span];
    let mut repairs = SpanRepairs::default();
    normalize_trace(&mut spans, lang, NOW, &mut repairs).unwrap();
    (spans.remove(0), repairs)
}

#[test]
fn normalisation_repairs_spans_as_the_agent_does() {
    let (span, repairs) = normalized(flask_span(), "python");
    assert_eq!((span, repairs), (flask_span(), SpanRepairs::default()));

    let broken = pb::Span {
        trace_id: 5,
        span_id: 5,
        parent_id: 5,
        service: String::new(),
        name: "!!!".into(),
        resource: String::new(),
        start: 42,
        duration: -3,
        r#type: "t".repeat(150),
        meta: HashMap::from([
            ("env".into(), "My Env!".into()),
            ("http.status_code".into(), "999".into()),
            ("k".repeat(250), "v".repeat(30_000)),
        ]),
        metrics: HashMap::from([("m".repeat(201), 1.0)]),
        ..pb::Span::default()
    };
    let (span, repairs) = normalized(broken, "python");
    assert_eq!(span.service, "unnamed-python-service");
    assert_eq!(span.name, "unnamed_operation");
    assert_eq!(span.resource, "unnamed_operation");
    assert_eq!(span.parent_id, 0);
    assert_eq!((span.start, span.duration), (NOW, 0));
    assert_eq!(span.r#type.len(), 100);
    assert_eq!(span.meta["env"], "my_env");
    assert!(!span.meta.contains_key("http.status_code"));
    let long_key = format!("{}...", "k".repeat(200));
    assert_eq!(span.meta[&long_key], format!("{}...", "v".repeat(25_000)));
    assert_eq!(span.metrics[&format!("{}...", "m".repeat(200))], 1.0);
    assert_eq!(
        repairs,
        SpanRepairs {
            service_empty: 1,
            span_name_invalid: 1,
            resource_empty: 1,
            invalid_duration: 1,
            invalid_start_date: 1,
            type_truncate: 1,
            invalid_http_status_code: 1,
            meta_truncate: 1,
            metrics_truncate: 1,
            ..SpanRepairs::default()
        }
    );

    let long = pb::Span {
        service: "My Service".repeat(20),
        name: "a-b.c".repeat(30),
        resource: "é".repeat(3000),
        ..flask_span()
    };
    let (span, repairs) = normalized(long, "");
    assert_eq!(span.service.len(), 100);
    assert!(
        span.service.starts_with("my_servicemy_service"),
        "{}",
        span.service
    );
    assert!(span.name.starts_with("a_b.ca_b.c"), "{}", span.name);
    assert_eq!(span.resource.len(), 5000);
    assert_eq!(
        (
            repairs.service_truncate,
            repairs.span_name_truncate,
            repairs.resource_truncate
        ),
        (1, 1, 1)
    );
    let (span, _) = normalized(
        pb::Span {
            service: "***".into(),
            ..flask_span()
        },
        "",
    );
    assert_eq!(span.service, "unnamed-service");
}

#[test]
fn normalisation_drops_traces_the_agent_drops() {
    let check = |spans: Vec<pb::Span>, expected: TraceDrop| {
        let mut spans = spans;
        let mut repairs = SpanRepairs::default();
        assert_eq!(normalize_trace(&mut spans, "", NOW, &mut repairs), Err(expected));
        assert_eq!(repairs, SpanRepairs::default());
    };
    check(vec![], TraceDrop::EmptyTrace);
    check(
        vec![pb::Span {
            trace_id: 0,
            ..flask_span()
        }],
        TraceDrop::TraceIdZero,
    );
    check(
        vec![pb::Span {
            span_id: 0,
            ..flask_span()
        }],
        TraceDrop::SpanIdZero,
    );
    check(
        vec![
            flask_span(),
            pb::Span {
                trace_id: 8,
                span_id: 2,
                ..flask_span()
            },
        ],
        TraceDrop::ForeignSpan,
    );
    let mut spans = vec![flask_span(), flask_span()];
    let mut repairs = SpanRepairs::default();
    normalize_trace(&mut spans, "", NOW, &mut repairs).unwrap();
    assert_eq!(repairs.duplicate_span_id, 1);
}

#[test]
fn sketches_merge_and_answer_quantiles() {
    let values: Vec<f64> = (1..=100).map(|v| f64::from(v) * 1_000_000.0).collect();
    let sketch = LatencySketch::of(&values);
    assert_eq!(sketch.count(), 100.0);
    let relative = |got: Option<f64>, want: f64| {
        let got = got.unwrap();
        assert!((got - want).abs() / want < 0.01, "got {got}, want {want}");
    };
    relative(sketch.quantile(0.5), 50_000_000.0);
    relative(sketch.quantile(0.95), 95_000_000.0);
    relative(sketch.quantile(1.0), 100_000_000.0);
    relative(sketch.quantile(0.0), 1_000_000.0);
    assert_eq!(LatencySketch::default().quantile(0.5), None);

    // Encoded, decoded and merged with another half, the distribution is the union.
    let decoded = LatencySketch::decode(&sketch.encode()).unwrap();
    let mut merged = LatencySketch::of(&values[..50]);
    merged.merge(&decoded);
    assert_eq!(merged.count(), 150.0);
    // 1..50 twice, then 51..100: the middle (rank 74.5) is the 75th value, 38.
    relative(merged.quantile(0.5), 38_000_000.0);
    assert_eq!(merged.count_at_most(25_500_000.0), 50.0);
    assert_eq!(LatencySketch::decode(&[]).unwrap().count(), 0.0);
    assert!(LatencySketch::decode(&[0xff, 0xff]).is_err());
}

#[test]
fn sketches_in_other_mappings_are_reindexed() {
    // A 2 % sketch with sparse bins, as another tracer could send it: 10 values at index 100, 5 at 200.
    let gamma: f64 = 1.02 / 0.98;
    let foreign = libdd_ddsketch::pb::DdSketch {
        mapping: Some(libdd_ddsketch::pb::IndexMapping {
            gamma,
            index_offset: 0.0,
            interpolation: 0,
        }),
        positive_values: Some(libdd_ddsketch::pb::Store {
            bin_counts: HashMap::from([(100, 10.0), (200, 5.0)]),
            contiguous_bin_counts: vec![],
            contiguous_bin_index_offset: 0,
        }),
        negative_values: None,
        zero_count: 1.0,
    };
    let sketch = LatencySketch::decode(&prost::Message::encode_to_vec(&foreign)).unwrap();
    assert_eq!(sketch.count(), 16.0);
    let low = gamma.powi(100) * 1.02;
    let got = sketch.quantile(0.5).unwrap();
    assert!((got - low).abs() / low < 0.02, "got {got}, want {low}");
    assert_eq!(sketch.quantile(0.0), Some(0.0));
    let bad = libdd_ddsketch::pb::DdSketch {
        mapping: Some(libdd_ddsketch::pb::IndexMapping {
            gamma: 0.5,
            ..libdd_ddsketch::pb::IndexMapping::default()
        }),
        ..foreign
    };
    assert!(LatencySketch::decode(&prost::Message::encode_to_vec(&bad)).is_err());
}

fn grouped(resource: &str, hits: u64) -> pb::ClientGroupedStats {
    pb::ClientGroupedStats {
        service: "flask".into(),
        name: "flask.request".into(),
        resource: resource.into(),
        http_status_code: 200,
        r#type: "web".into(),
        hits,
        errors: 1,
        duration: hits * 1_000_000,
        ok_summary: LatencySketch::of(&[1e6]).encode(),
        top_level_hits: hits,
        is_trace_root: 1,
        ..pb::ClientGroupedStats::default()
    }
}

#[test]
fn stats_payloads_round_trip_in_both_formats() {
    let client = pb::ClientStatsPayload {
        hostname: "web-1".into(),
        env: "lab".into(),
        version: "1.0".into(),
        lang: "python".into(),
        stats: vec![pb::ClientStatsBucket {
            start: 1_700_000_000_000_000_000,
            duration: 10_000_000_000,
            stats: vec![grouped("GET /", 3), grouped("GET /api/apm", 2)],
            agent_time_shift: 0,
        }],
        ..pb::ClientStatsPayload::default()
    };
    let body = encode_client_stats(&client).unwrap();
    assert_eq!(decode_client_stats(&body).unwrap(), client);
    // The msgpack keys are the Go names, as the trace-agent reads them.
    let keys = match rmpv::decode::read_value(&mut &body[..]).unwrap() {
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect::<Vec<_>>(),
        other => panic!("{other}"),
    };
    assert!(
        keys.contains(&"\"Hostname\"".to_owned()) && keys.contains(&"\"Stats\"".to_owned()),
        "{keys:?}"
    );

    let payload = pb::StatsPayload {
        agent_hostname: "agent".into(),
        agent_env: "lab".into(),
        stats: vec![client],
        agent_version: "7.70.0".into(),
        client_computed: true,
        split_payload: false,
    };
    for format in [StatsFormat::Msgpack, StatsFormat::Protobuf] {
        let body = encode_stats_payload(&payload, format).unwrap();
        assert_eq!(
            decode_stats_payload(&body, format).unwrap(),
            payload,
            "{format:?}"
        );
    }
    assert_eq!(
        StatsFormat::from_content_type(Some("application/x-protobuf")),
        StatsFormat::Protobuf
    );
    assert_eq!(
        StatsFormat::from_content_type(Some("application/msgpack")),
        StatsFormat::Msgpack
    );
    assert_eq!(StatsFormat::from_content_type(None), StatsFormat::Msgpack);
    let err = decode_client_stats(&body[..body.len() / 2]).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid msgpack ClientStatsPayload"),
        "{err}"
    );
}

#[test]
fn agent_payloads_round_trip() {
    let payload = pb::AgentPayload {
        host_name: "agent".into(),
        env: "lab".into(),
        tracer_payloads: vec![pb::TracerPayload {
            language_name: "python".into(),
            chunks: vec![pb::TraceChunk {
                priority: 1,
                spans: vec![flask_span()],
                ..pb::TraceChunk::default()
            }],
            ..pb::TracerPayload::default()
        }],
        agent_version: "7.70.0".into(),
        target_tps: 10.0,
        error_tps: 10.0,
        ..pb::AgentPayload::default()
    };
    assert_eq!(
        decode_agent_payload(&encode_agent_payload(&payload)).unwrap(),
        payload
    );
    let err = decode_agent_payload(&[0x0a, 0xff]).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid protobuf AgentPayload"),
        "{err}"
    );
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z./ _-]{1,12}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
    ]
}

fn arb_span() -> impl Strategy<Value = pb::Span> {
    (
        (arb_text(), arb_text(), arb_text(), arb_text()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<i64>(), any::<i64>(), any::<i32>()),
        prop::collection::hash_map(arb_text(), arb_text(), 0..4),
        prop::collection::hash_map(arb_text(), any::<f64>().prop_filter("NaN", |f| !f.is_nan()), 0..4),
    )
        .prop_map(
            |(
                (service, name, resource, r#type),
                (trace_id, span_id, parent_id),
                (start, duration, error),
                meta,
                metrics,
            )| {
                pb::Span {
                    service,
                    name,
                    resource,
                    r#type,
                    trace_id,
                    span_id,
                    parent_id,
                    start,
                    duration,
                    error,
                    meta,
                    metrics,
                    ..pb::Span::default()
                }
            },
        )
}

/// Every decoder meets `bytes`: each must answer, and never panic.
fn decode_everything(bytes: &[u8]) {
    let _ = decode_v04(bytes);
    let _ = decode_v05(bytes);
    let _ = decode_v07(bytes);
    let _ = decode_v04_json(bytes);
    let _ = decode_client_stats(bytes);
    let _ = decode_stats_payload(bytes, StatsFormat::Msgpack);
    let _ = decode_stats_payload(bytes, StatsFormat::Protobuf);
    let _ = decode_agent_payload(bytes);
    let _ = LatencySketch::decode(bytes).map(|s| s.quantile(0.99));
}

#[test]
fn the_labs_values_are_normal_as_they_are() {
    for service in ["flask", "mysql", "my-app", "web:frontend"] {
        assert!(
            normalize::is_normal_tag(service, normalize::MAX_SERVICE_LEN),
            "{service}"
        );
    }
    for name in [
        "flask.request",
        "flask.dispatch_request",
        "mysql.query",
        "Flask.Request",
    ] {
        assert!(normalize::is_normal_name(name), "{name}");
    }
    for service in ["Flask", "1flask", "flask_", "fl__ask", "fl ask", ""] {
        assert!(
            !normalize::is_normal_tag(service, normalize::MAX_SERVICE_LEN),
            "{service:?}"
        );
    }
    for name in [
        "1request",
        "flask..request",
        "flask._request",
        "flask_",
        "flask request",
        "",
    ] {
        assert!(!normalize::is_normal_name(name), "{name:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn spans_survive_v04_and_v05(traces in prop::collection::vec(prop::collection::vec(arb_span(), 0..4), 0..4)) {
        prop_assert_eq!(decode_v04(&encode_v04(&traces)).unwrap(), traces.clone());
        prop_assert_eq!(decode_v05(&encode_v05(&traces)).unwrap(), traces);
    }

    /// Chunks with repeated ids, missing parents and two services, small (scanned) and large (mapped):
    /// the same spans marked as by libdatadog's `compute_top_level_span`.
    #[test]
    fn top_level_spans_are_libdatadogs(
        links in prop::collection::vec((0u64..12, 0u64..12, any::<bool>()), 0..48),
    ) {
        let spans: Vec<SpanSlice<'static>> = links
            .iter()
            .map(|&(span_id, parent_id, other)| SpanSlice {
                span_id,
                parent_id,
                service: if other { "db".into() } else { "web".into() },
                ..SpanSlice::default()
            })
            .collect();
        let mut ours = spans.clone();
        normalize::compute_top_level(&mut ours);
        let mut theirs = spans;
        libdd_trace_utils::span::trace_utils::compute_top_level_span(&mut theirs);
        let marked = |spans: &[SpanSlice<'_>]| -> Vec<Option<f64>> {
            spans.iter().map(|span| span.metrics.get("_top_level").copied()).collect()
        };
        prop_assert_eq!(marked(&ours), marked(&theirs));
    }

    /// The in-place checks never call a value normal that libdatadog's normalisation would change.
    #[test]
    fn values_called_normal_are_left_alone_by_libdatadog(
        text in prop_oneof![
            "[a-zA-Z0-9:./_ \u{e9}\u{c9}-]{0,12}",
            "[a-z:][a-z0-9:./-]{0,8}(_{1,2}[a-z0-9:./-]{0,8}){0,3}",
            "[a-zA-Z][a-zA-Z0-9]{0,6}([._]{1,2}[a-zA-Z0-9]{0,6}){0,3}",
            "[a-z][a-z0-9.]{90,110}",
            "[a-z][a-z0-9:]{190,210}",
        ],
    ) {
        for max_len in [normalize::MAX_SERVICE_LEN, normalize::MAX_TAG_LEN] {
            if normalize::is_normal_tag(&text, max_len) {
                let mut tag = text.clone();
                libdd_trace_normalization::normalize_utils::normalize_tag(&mut tag);
                prop_assert_eq!(&tag, &text);
            }
        }
        if normalize::is_normal_name(&text) {
            let mut name = text.clone();
            libdd_trace_normalization::normalize_utils::normalize_name(&mut name);
            prop_assert_eq!(&name, &text);
        }
    }

    /// Keys from a small alphabet (many duplicates, many equal signatures): each keeps its last value.
    #[test]
    fn span_maps_keep_the_last_value_of_each_key(keys in prop::collection::vec("[ab]{0,4}", 0..30)) {
        let mut map: libdd_trace_utils::span::v04::VecMap<std::borrow::Cow<'_, str>, usize> = keys
            .iter()
            .enumerate()
            .map(|(index, key)| (std::borrow::Cow::Borrowed(key.as_str()), index))
            .collect();
        super::borrowed::dedup(&mut map);
        let expected: HashMap<&str, usize> =
            keys.iter().enumerate().map(|(index, key)| (key.as_str(), index)).collect();
        let kept: HashMap<&str, usize> = map.iter().map(|(key, index)| (key.as_ref(), *index)).collect();
        prop_assert_eq!(map.len(), expected.len());
        prop_assert_eq!(kept, expected);
    }

    /// Equal text is equal however it is laid out in memory, unequal text never is.
    #[test]
    fn same_text_is_string_equality(a in "[ab]{0,20}", b in "[ab]{0,20}") {
        prop_assert_eq!(same_text(&a, &b), a == b);
        let copy = a.clone();
        prop_assert!(same_text(&a, &copy));
        prop_assert!(same_text(&a, &a));
    }

    #[test]
    fn any_bytes_decode_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_everything(&bytes);
    }

    #[test]
    fn corrupted_bodies_decode_without_panicking(
        traces in prop::collection::vec(prop::collection::vec(arb_span(), 1..3), 1..3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        for body in [encode_v04(&traces), encode_v05(&traces)] {
            let mut corrupted = body.clone();
            for (at, byte) in &edits {
                let at = at.index(corrupted.len());
                corrupted[at] = *byte;
            }
            decode_everything(&corrupted);
            decode_everything(&body[..cut.index(body.len() + 1)]);
        }
    }

    #[test]
    fn declared_lengths_never_reserve_more_than_the_body(
        marker in prop::sample::select(vec![0xdcu8, 0xddu8, 0xdeu8, 0xdfu8, 0xc6u8, 0xdbu8]),
        prefix in prop::sample::select(vec![vec![], vec![0x91u8], vec![0x92u8, 0x90u8]]),
    ) {
        // A huge declared length with no data behind it is refused as truncated.
        let mut body = prefix;
        body.push(marker);
        body.extend([0xff, 0xff, 0xff, 0xff]);
        let err = decode_v04(&body).unwrap_err();
        prop_assert!(err.is_truncated() || err.to_string().contains("expected"), "{}", err);
        decode_everything(&body);
    }
}

#[test]
fn an_agent_payload_from_encoded_tracer_payloads_is_the_same_payload() {
    let tracer = |lang: &str, trace_id: u64| pb::TracerPayload {
        language_name: lang.into(),
        chunks: vec![pb::TraceChunk {
            priority: 1,
            spans: vec![pb::Span {
                trace_id,
                ..flask_span()
            }],
            ..pb::TraceChunk::default()
        }],
        ..pb::TracerPayload::default()
    };
    let whole = pb::AgentPayload {
        host_name: "agent-host".into(),
        env: "lab".into(),
        agent_version: "7.70.0".into(),
        target_tps: 10.0,
        tracer_payloads: vec![tracer("python", 1), tracer("go", 2)],
        ..pb::AgentPayload::default()
    };
    let head = pb::AgentPayload {
        tracer_payloads: Vec::new(),
        ..whole.clone()
    };
    let encoded: Vec<Vec<u8>> = whole.tracer_payloads.iter().map(encode_tracer_payload).collect();
    let assembled = encode_agent_payload_with(&head, &encoded);
    assert_eq!(decode_agent_payload(&assembled).unwrap(), whole);
    assert_eq!(assembled.len(), encode_agent_payload(&whole).len());
}

#[test]
fn the_gzipped_agent_payload_inflates_to_the_same_bytes() {
    let head = pb::AgentPayload {
        host_name: "agent-host".into(),
        env: "lab".into(),
        ..pb::AgentPayload::default()
    };
    let pieces: Vec<Vec<u8>> = (1..=3)
        .map(|trace_id| {
            encode_tracer_payload(&pb::TracerPayload {
                language_name: "python".into(),
                chunks: vec![pb::TraceChunk {
                    spans: vec![pb::Span {
                        trace_id,
                        ..flask_span()
                    }],
                    ..pb::TraceChunk::default()
                }],
                ..pb::TracerPayload::default()
            })
        })
        .collect();
    let mut compressor = PieceCompressor::default();
    let compressed: Vec<GzipPiece> = pieces
        .iter()
        .map(|encoded| tracer_payload_piece(&mut compressor, encoded).unwrap())
        .collect();
    let gzipped = agent_payload_gzip(&mut compressor, &head, &compressed).unwrap();
    // One gzip member: a reader that stops after the first member sees the whole payload.
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut inflated).unwrap();
    assert_eq!(inflated, encode_agent_payload_with(&head, &pieces));
    assert_eq!(decode_agent_payload(&inflated).unwrap().tracer_payloads.len(), 3);
}

#[test]
fn the_borrowed_form_encodes_the_protobuf_prost_writes() {
    let mut rich = flask_span();
    rich.meta_struct = HashMap::from([("appsec".into(), vec![0x81, 0xa1, b'a', 0x01])]);
    rich.span_links = vec![pb::SpanLink {
        trace_id: 9,
        span_id: 10,
        attributes: HashMap::from([("link.name".into(), "retry".into())]),
        flags: 1 << 31,
        ..pb::SpanLink::default()
    }];
    rich.span_events = vec![pb::SpanEvent {
        time_unix_nano: 5,
        name: "exception".into(),
        attributes: HashMap::from([(
            "message".into(),
            pb::AttributeAnyValue {
                r#type: 0,
                string_value: "boom".into(),
                ..pb::AttributeAnyValue::default()
            },
        )]),
    }];
    // Zero and negative values, empty strings and map values: what protobuf leaves out or widens.
    let edges = pb::Span {
        span_id: 2,
        parent_id: 1,
        error: -1,
        duration: 0,
        r#type: String::new(),
        meta: HashMap::from([("empty".into(), String::new()), (String::new(), "no key".into())]),
        metrics: HashMap::from([("zero".into(), 0.0), ("negative".into(), -2.5)]),
        ..flask_span()
    };
    let body = encode_v04(&[vec![rich, edges]]);
    let spans = decode_v04_ref(&body).unwrap().remove(0);
    let mut payload = TracerPayloadRef {
        container_id: "c0ffee".into(),
        language_name: "python".into(),
        tracer_version: "4.16.0".into(),
        env: "lab".into(),
        tags: HashMap::from([("_dd.tags.process".into(), "a:b".into())]),
        chunks: vec![
            TraceChunkRef {
                priority: normalize::PRIORITY_NONE,
                origin: "synthetics".into(),
                spans,
                tags: HashMap::from([("k".into(), "v".into())]),
                dropped_trace: true,
            },
            TraceChunkRef::default(),
        ],
        ..TracerPayloadRef::default()
    };
    encodes_as_prost(&mut payload);
}

/// The one-chunk payload of the v0.4 `body`'s first trace, borrowing from it.
fn payload_of(body: &[u8]) -> TracerPayloadRef<'_> {
    TracerPayloadRef {
        chunks: vec![TraceChunkRef {
            spans: decode_v04_ref(body).unwrap().remove(0),
            ..TraceChunkRef::default()
        }],
        ..TracerPayloadRef::default()
    }
}

/// `payload` written from its borrowed form reads back as its owned message, and takes as many bytes
/// as prost writes (map entries may come in another order; the size says every varint is minimal).
fn encodes_as_prost(payload: &mut TracerPayloadRef<'_>) {
    let encoded = encode_tracer_payload_ref(payload);
    let decoded: pb::TracerPayload = prost::Message::decode(&encoded[..]).unwrap();
    assert_eq!(decoded, payload.to_pb());
    assert_eq!(encoded.len(), encode_tracer_payload(&payload.to_pb()).len());
}

/// Length prefixes are filled in after their spans and chunks: one byte (a tiny span), two, and three (a
/// span over 16 KiB) come out canonical: the message prost reads back, as long as prost writes it.
#[test]
fn spans_and_chunks_of_every_length_prefix_width_encode_as_prost_does() {
    let tiny = pb::Span {
        service: "s".into(),
        span_id: 1,
        ..pb::Span::default()
    };
    let two_bytes = flask_span();
    let three_bytes = pb::Span {
        resource: "x".repeat(20_000),
        ..flask_span()
    };
    for spans in [
        vec![tiny.clone()],
        vec![two_bytes.clone()],
        vec![three_bytes.clone()],
        vec![tiny, two_bytes, three_bytes],
    ] {
        let body = encode_v04(&[spans]);
        encodes_as_prost(&mut payload_of(&body));
    }
}

#[test]
fn a_key_given_twice_keeps_its_last_value_in_both_forms() {
    let span = map(vec![
        ("trace_id", Value::from(1u64)),
        ("span_id", Value::from(1u64)),
        (
            "meta",
            Value::Map(vec![
                (Value::from("env"), Value::from("first")),
                (Value::from("env"), Value::from("last")),
            ]),
        ),
    ]);
    let body = msgpack(&Value::Array(vec![Value::Array(vec![span])]));
    assert_eq!(decode_v04(&body).unwrap()[0][0].meta["env"], "last");
    let mut payload = payload_of(&body);
    let decoded: pb::TracerPayload =
        prost::Message::decode(&encode_tracer_payload_ref(&mut payload)[..]).unwrap();
    assert_eq!(
        decoded.chunks[0].spans[0].meta,
        HashMap::from([("env".into(), "last".into())])
    );
}
