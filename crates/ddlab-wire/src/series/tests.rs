//! Series tests: every body shape the intake accepts, every way to get one wrong, and the protobuf
//! field numbers proven against bytes written by hand.

use std::fmt::Write as _;

use expect_test::{Expect, expect};
use prost::Message as _;

use super::proto::{Metadata, MetricPayload, MetricPoint, MetricSeries, MetricType, Origin, Resource};
use super::*;

/// Decodes `body` and shows the batch one series per line, or the error.
fn check(format: SeriesFormat, body: &str, expect: Expect) {
    expect.assert_eq(&render(decode(format, body.as_bytes())));
}

fn check_protobuf(body: &[u8], expect: Expect) {
    expect.assert_eq(&render(decode_v2_protobuf(body)));
}

fn render(result: Result<MetricBatch, WireError>) -> String {
    let batch = match result {
        Ok(batch) => batch,
        Err(err) => return format!("error: {err}"),
    };
    let mut out = String::new();
    for s in &batch.series {
        let _ = write!(out, "{:?} {}", s.kind, s.metric);
        let optional = [
            ("host", s.host.clone()),
            ("device", s.device.clone()),
            ("interval", s.interval.map(|i| i.to_string())),
            ("unit", s.unit.clone()),
            ("source", s.source_type_name.clone()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                let _ = write!(out, " {name}={value}");
            }
        }
        let points: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{}={}", p.timestamp, p.value))
            .collect();
        let _ = writeln!(out, " tags=[{}] points=[{}]", s.tags.join(","), points.join(" "));
    }
    if batch.series.is_empty() {
        out.push_str("(empty batch)\n");
    }
    out
}

#[test]
fn values_are_read_correctly_rounded() {
    // Found by the series_v1_json fuzzer: serde_json's fast float path read this as …615.3, one ULP off,
    // so a value changed on its way through the v1 encoder and back.
    let body = br#"{"series":[{"metric":"m","points":[[1700000000,1844674407371615.0],[1700000010,0.1]]}]}"#;
    let values: Vec<f64> = decode_v1_json(body).unwrap().series[0]
        .points
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(values, [1_844_674_407_371_615.0, 0.1]);
}

#[test]
fn v1_bodies() {
    let v1 = SeriesFormat::V1Json;
    // The reference example (datadog-api.md §2.1).
    check(
        v1,
        r#"{"series":[
            {"metric":"app.queue.depth","points":[[1700000000, 12.0],[1700000010, 14]],
             "type":"gauge","host":"web-1","tags":["env:dev","team:a"]},
            {"metric":"app.requests","points":[[1700000000, 30]],"type":"count","interval":10,
             "host":"web-1","tags":["env:dev"]}
        ]}"#,
        expect![[r#"
            Gauge app.queue.depth host=web-1 tags=[env:dev,team:a] points=[1700000000=12 1700000010=14]
            Count app.requests host=web-1 interval=10 tags=[env:dev] points=[1700000000=30]
        "#]],
    );
    // What the Agent sends with `use_v2_api.series: false`.
    check(
        v1,
        r#"{"series":[{"metric":"my_metric","points":[[1700000000,858]],"tags":["port:3306"],
            "host":"h1","device":"sda","type":"rate","interval":15,"source_type_name":"System"}]}"#,
        expect![[r#"
            Rate my_metric host=h1 device=sda interval=15 source=System tags=[port:3306,device:sda] points=[1700000000=858]
        "#]],
    );
    // datadogpy and dogshell: explicit nulls everywhere, float timestamps, the local hostname.
    check(
        v1,
        r#"{"series":[{"metric":"dd.test","points":[[1700000000.75, 1.5]],"type":null,"host":"laptop",
            "tags":null,"device":null,"interval":null,"source_type_name":null}]}"#,
        expect![[r#"
            Unspecified dd.test host=laptop tags=[] points=[1700000000=1.5]
        "#]],
    );
    // Old clients: numeric strings for timestamps; `""` is an unspecified type; `device_name`.
    check(
        v1,
        r#"{"series":[{"metric":"legacy","type":"","device_name":"eth0",
            "points":[["1700000000", 1], [" 1700000010.9 ", -2], ["1.7e9", 3]]}]}"#,
        expect![[r#"
            Unspecified legacy device=eth0 tags=[device:eth0] points=[1700000000=1 1700000010=-2 1700000000=3]
        "#]],
    );
    // Null points and points without a value are skipped; huge integers are still numbers.
    check(
        v1,
        r#"{"series":[{"metric":"gaps","points":[null,[1700000000,null],[1700000010,18446744073709551615]]}]}"#,
        expect![[r#"
            Unspecified gaps tags=[] points=[1700000010=18446744073709552000]
        "#]],
    );
    // Unknown fields at every level are ignored; `device` wins over `device_name`; empty host is none.
    check(
        v1,
        r#"{"series":[{"metric":"m","points":[[1,2]],"host":"","device":"sda","device_name":"sdb",
            "extra":{"deep":[1,{"x":null}]},"tags":["device:sda"]}],"status":"ignored","api_key":"x"}"#,
        expect![[r#"
            Unspecified m device=sda tags=[device:sda] points=[1=2]
        "#]],
    );
    check(
        v1,
        r#"{"series":[]}"#,
        expect![[r#"
        (empty batch)
    "#]],
    );
}

#[test]
fn v1_errors() {
    let v1 = SeriesFormat::V1Json;
    let cases = [
        (
            r#"{"series": ["#,
            expect!["error: invalid JSON: EOF while parsing a list at line 1 column 12"],
        ),
        (
            r#"{"series": []} trailing"#,
            expect!["error: invalid JSON: trailing characters at line 1 column 16"],
        ),
        (
            "",
            expect!["error: invalid JSON: EOF while parsing a value at line 1 column 0"],
        ),
        (
            "[]",
            expect![[r#"error: the body must be a JSON object with a "series" list at line 1 column 2"#]],
        ),
        ("{}", expect![[r#"error: missing "series" at line 1 column 2"#]]),
        (
            r#"{"series": {}}"#,
            expect![[r#"error: "series" must be a list at line 1 column 13"#]],
        ),
        (
            r#"{"series": null}"#,
            expect![[r#"error: "series" must be a list at line 1 column 15"#]],
        ),
        (
            r#"{"series": [1]}"#,
            expect!["error: series[0]: must be an object at line 1 column 13"],
        ),
        (
            r#"{"series": [{"points": []}]}"#,
            expect![[r#"error: series[0]: missing "metric" at line 1 column 26"#]],
        ),
        (
            r#"{"series": [{"metric": null, "points": []}]}"#,
            expect![[r#"error: series[0]: missing "metric" at line 1 column 42"#]],
        ),
        (
            r#"{"series": [{"metric": 5, "points": []}]}"#,
            expect![[r#"error: series[0]: "metric" must be a string at line 1 column 24"#]],
        ),
        (
            r#"{"series": [{"metric": "", "points": []}]}"#,
            expect![[r#"error: series[0]: "metric" must not be empty at line 1 column 40"#]],
        ),
        (
            r#"{"series": [{"metric": "m"}]}"#,
            expect![[r#"error: series[0]: missing "points" at line 1 column 27"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": 5}]}"#,
            expect![[r#"error: series[0]: "points" must be a list at line 1 column 39"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": null}]}"#,
            expect![[r#"error: series[0]: "points" must be a list at line 1 column 42"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1]]}]}"#,
            expect!["error: series[0].points[0]: a point must be [timestamp, value] at line 1 column 42"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1, 2, 3]]}]}"#,
            expect!["error: series[0].points[0]: a point must be [timestamp, value] at line 1 column 48"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [{"timestamp": 1, "value": 2}]}]}"#,
            expect!["error: series[0].points[0]: a point must be [timestamp, value] at line 1 column 40"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [5]}]}"#,
            expect!["error: series[0].points[0]: a point must be [timestamp, value] at line 1 column 40"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1, 2], [true, 2]]}]}"#,
            expect!["error: series[0].points[1]: timestamp must be a number at line 1 column 56"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1, 2], ["soon", 2]]}]}"#,
            expect!["error: series[0].points[1]: timestamp must be a number at line 1 column 58"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[null, 2]]}]}"#,
            expect!["error: series[0].points[0]: timestamp must be a number at line 1 column 48"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1e300, 2]]}]}"#,
            expect!["error: series[0].points[0]: timestamp is out of range at line 1 column 49"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1, "2"]]}]}"#,
            expect!["error: series[0].points[0]: value must be a number at line 1 column 47"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [[1, 1e999]]}]}"#,
            expect!["error: invalid JSON: number out of range at line 1 column 48"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "type": "distribution"}]}"#,
            expect![[r#"error: series[0]: "type" must be gauge, count or rate at line 1 column 65"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "type": 3}]}"#,
            expect![[r#"error: series[0]: "type" must be a string at line 1 column 52"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "tags": "env:dev"}]}"#,
            expect![[r#"error: series[0]: "tags" must be a list of strings at line 1 column 59"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "tags": ["a", 1]}]}"#,
            expect!["error: series[0].tags[1]: must be a string at line 1 column 58"],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "interval": -1}]}"#,
            expect![[
                r#"error: series[0]: "interval" must be an integer between 0 and 4294967295 at line 1 column 57"#
            ]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "interval": 1.5}]}"#,
            expect![[
                r#"error: series[0]: "interval" must be an integer between 0 and 4294967295 at line 1 column 58"#
            ]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "interval": "10"}]}"#,
            expect![[
                r#"error: series[0]: "interval" must be an integer between 0 and 4294967295 at line 1 column 59"#
            ]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "host": ["a"]}]}"#,
            expect![[r#"error: series[0]: "host" must be a string at line 1 column 56"#]],
        ),
        (
            r#"{"series": [{"metric": "m", "points": [], "device": 1}]}"#,
            expect![[r#"error: series[0]: "device" must be a string at line 1 column 54"#]],
        ),
    ];
    for (body, expect) in cases {
        check(v1, body, expect);
    }
}

#[test]
fn an_error_names_the_series_and_point_by_index() {
    let body = r#"{"series":[
        {"metric":"a","points":[[1,1]]},
        {"metric":"b","points":[[1,1]]},
        {"metric":"c","points":[[1,1]]},
        {"metric":"d","points":[[1,1],["x",2]]}
    ]}"#;
    check(
        SeriesFormat::V1Json,
        body,
        expect!["error: series[3].points[1]: timestamp must be a number at line 5 column 45"],
    );
    let err = decode_v1_json(body.as_bytes()).unwrap_err();
    assert_eq!(err.message(), "series[3].points[1]: timestamp must be a number");
    assert_eq!(
        err,
        WireError::Invalid {
            message: "series[3].points[1]: timestamp must be a number".into(),
            location: Some(crate::Location { line: 5, column: 45 }),
        }
    );
}

#[test]
fn v2_json_bodies() {
    let v2 = SeriesFormat::V2Json;
    // The reference example (datadog-api.md §2.2).
    check(
        v2,
        r#"{"series":[
            {"metric":"app.queue.depth","type":3,
             "points":[{"timestamp":1700000000,"value":12.0}],
             "resources":[{"type":"host","name":"web-1"}],
             "tags":["env:dev"],"unit":"item","interval":0}
        ]}"#,
        expect![[r#"
            Gauge app.queue.depth host=web-1 unit=item tags=[env:dev] points=[1700000000=12]
        "#]],
    );
    // What datadog-api-client-python sends: every type code, metadata, several resources.
    check(
        v2,
        r#"{"series":[
            {"metric":"c","type":1,"interval":10,"points":[{"timestamp":1,"value":1}],
             "resources":[{"type":"service","name":"web"},{"type":"host","name":"h1"},
                          {"type":"host","name":"h2"},{"type":"device","name":"sda"}],
             "metadata":{"origin":{"metric_type":1,"product":2,"service":3}},"source_type_name":"api"},
            {"metric":"r","type":2,"points":[]},
            {"metric":"u","type":0,"points":[]},
            {"metric":"n","type":null,"points":[],"resources":null,"tags":null,"unit":null}
        ]}"#,
        expect![[r#"
            Count c host=h1 device=sda interval=10 source=api tags=[device:sda] points=[1=1]
            Rate r tags=[] points=[]
            Unspecified u tags=[] points=[]
            Unspecified n tags=[] points=[]
        "#]],
    );
    // Points without a value are skipped; float and string timestamps are read as in v1.
    check(
        v2,
        r#"{"series":[{"metric":"m","points":[{"timestamp":1},{"timestamp":2,"value":null},null,
            {"timestamp":3.9,"value":3},{"timestamp":"4","value":4,"extra":true}]}]}"#,
        expect![[r#"
            Unspecified m tags=[] points=[3=3 4=4]
        "#]],
    );
}

#[test]
fn v2_json_errors() {
    let v2 = SeriesFormat::V2Json;
    let cases = [
        (
            r#"{"series":[{"metric":"m","points":[],"type":4}]}"#,
            expect![[
                r#"error: series[0]: "type" must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge) at line 1 column 46"#
            ]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"type":"gauge"}]}"#,
            expect![[
                r#"error: series[0]: "type" must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge) at line 1 column 52"#
            ]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[[1,2]]}]}"#,
            expect![[
                r#"error: series[0].points[0]: a point must be an object with "timestamp" and "value" at line 1 column 36"#
            ]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[{"value":2}]}]}"#,
            expect![[r#"error: series[0].points[0]: missing "timestamp" at line 1 column 46"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[{"timestamp":null,"value":2}]}]}"#,
            expect![[r#"error: series[0].points[0]: "timestamp" must be a number at line 1 column 63"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[{"timestamp":1,"value":"2"}]}]}"#,
            expect![[r#"error: series[0].points[0]: "value" must be a number at line 1 column 62"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"resources":{"type":"host"}}]}"#,
            expect![[r#"error: series[0]: "resources" must be a list at line 1 column 50"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"resources":[{"type":"host"}]}]}"#,
            expect![[r#"error: series[0].resources[0]: missing "name" at line 1 column 65"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"resources":[{"name":"h"}]}]}"#,
            expect![[r#"error: series[0].resources[0]: missing "type" at line 1 column 62"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"resources":[{"type":1,"name":"h"}]}]}"#,
            expect![[r#"error: series[0].resources[0]: "type" must be a string at line 1 column 59"#]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"resources":["host:h"]}]}"#,
            expect![[
                r#"error: series[0].resources[0]: a resource must be an object with "type" and "name" at line 1 column 58"#
            ]],
        ),
        (
            r#"{"series":[{"metric":"m","points":[],"unit":5}]}"#,
            expect![[r#"error: series[0]: "unit" must be a string at line 1 column 46"#]],
        ),
    ];
    for (body, expect) in cases {
        check(v2, body, expect);
    }
}

/// A series as the Agent sends it, built with prost from the message structs.
fn agent_payload() -> MetricPayload {
    MetricPayload {
        series: vec![
            MetricSeries {
                resources: vec![
                    Resource {
                        r#type: "host".into(),
                        name: "web-1".into(),
                    },
                    Resource {
                        r#type: "device".into(),
                        name: "sda".into(),
                    },
                ],
                metric: "system.io.r_s".into(),
                tags: vec!["env:dev".into()],
                points: vec![
                    MetricPoint {
                        value: 1.25,
                        timestamp: 1_700_000_000,
                    },
                    MetricPoint {
                        value: f64::NAN,
                        timestamp: 1_700_000_015,
                    },
                ],
                r#type: MetricType::Gauge as i32,
                unit: String::new(),
                source_type_name: "System".into(),
                interval: 0,
                metadata: Some(Metadata {
                    origin: Some(Origin {
                        origin_product: 10,
                        origin_category: 11,
                        origin_service: 0,
                    }),
                }),
            },
            MetricSeries {
                resources: vec![Resource {
                    r#type: "host".into(),
                    name: "web-1".into(),
                }],
                metric: "mysql.performance.queries".into(),
                points: vec![MetricPoint {
                    value: 42.0,
                    timestamp: 1_700_000_000,
                }],
                r#type: MetricType::Rate as i32,
                interval: 15,
                unit: "query".into(),
                ..MetricSeries::default()
            },
        ],
    }
}

#[test]
fn protobuf_as_the_agent_builds_it() {
    check_protobuf(
        &agent_payload().encode_to_vec(),
        expect![[r#"
            Gauge system.io.r_s host=web-1 device=sda source=System tags=[env:dev,device:sda] points=[1700000000=1.25]
            Rate mysql.performance.queries host=web-1 interval=15 unit=query tags=[] points=[1700000000=42]
        "#]],
    );
}

/// One tiny series written byte by byte, in the order the Agent's streaming encoder writes fields
/// (timestamp before value, resources first, metadata last), including `Origin` field 3, which the
/// public schema reserves but the Agent writes for unindexed metrics.
#[test]
fn protobuf_field_numbers_by_hand() {
    #[rustfmt::skip]
    let bytes: &[u8] = &[
        0x0a, 0x37,                                     // MetricPayload.series (1, LEN 55)
          0x0a, 0x09,                                   //   resources (1, LEN 9)
            0x0a, 0x04, b'h', b'o', b's', b't',         //     type (1) = "host"
            0x12, 0x01, b'h',                           //     name (2) = "h"
          0x12, 0x01, b'm',                             //   metric (2) = "m"
          0x1a, 0x03, b'a', b':', b'b',                 //   tags (3) = "a:b"
          0x28, 0x03,                                   //   type (5, VARINT) = 3 GAUGE
          0x3a, 0x01, b's',                             //   source_type_name (7) = "s"
          0x40, 0x0a,                                   //   interval (8, VARINT) = 10
          0x22, 0x0f,                                   //   points (4, LEN 15)
            0x10, 0x80, 0xe2, 0xcf, 0xaa, 0x06,         //     timestamp (2, VARINT) = 1700000000
            0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,         //     value (1, I64) = 1.5
          0x4a, 0x0a,                                   //   metadata (9, LEN 10)
            0x0a, 0x08,                                 //     origin (1, LEN 8)
              0x18, 0x09,                               //       reserved field 3 = 9
              0x20, 0x0a,                               //       origin_product (4) = 10
              0x28, 0x0b,                               //       origin_category (5) = 11
              0x30, 0x0c,                               //       origin_service (6) = 12
    ];
    check_protobuf(
        bytes,
        expect![[r#"
            Gauge m host=h interval=10 source=s tags=[a:b] points=[1700000000=1.5]
        "#]],
    );
    let decoded = MetricPayload::decode(bytes).unwrap();
    assert_eq!(
        decoded.series[0].metadata,
        Some(Metadata {
            origin: Some(Origin {
                origin_product: 10,
                origin_category: 11,
                origin_service: 12,
            })
        })
    );
}

#[test]
fn protobuf_encoding_is_the_agents() {
    let mut series = Series::new("m", MetricKind::Gauge);
    series.host = Some("h".into());
    series.tags = vec!["a:b".into(), "device:sda".into()];
    series.device = Some("sda".into());
    series.interval = Some(10);
    series.source_type_name = Some("s".into());
    series.points = vec![Point {
        timestamp: 1_700_000_000,
        value: 1.5,
    }];
    let batch = MetricBatch { series: vec![series] };
    let bytes = encode_v2_protobuf(&batch);
    // prost writes fields in field-number order; the device travels as a resource, not as a tag.
    expect![[r#"
        0a 3a 0a 09 0a 04 68 6f 73 74 12 01 68 0a 0d 0a
        06 64 65 76 69 63 65 12 03 73 64 61 12 01 6d 1a
        03 61 3a 62 22 0f 09 00 00 00 00 00 00 f8 3f 10
        80 e2 cf aa 06 28 03 3a 01 73 40 0a"#]]
    .assert_eq(&hex(&bytes));
    assert_eq!(decode_v2_protobuf(&bytes), Ok(batch));
}

#[test]
fn protobuf_errors() {
    check_protobuf(
        b"\x0a\x05\x12\x10m",
        expect![
            "error: invalid protobuf MetricPayload: failed to decode Protobuf message: MetricPayload.series: buffer underflow"
        ],
    );
    check_protobuf(
        b"\xff\xff\xff",
        expect!["error: invalid protobuf MetricPayload: failed to decode Protobuf message: invalid varint"],
    );
    let mut payload = agent_payload();
    payload.series[1].metric = String::new();
    check_protobuf(
        &payload.encode_to_vec(),
        expect![[r#"error: series[1]: missing "metric""#]],
    );
    let mut payload = agent_payload();
    payload.series[0].r#type = 7;
    check_protobuf(
        &payload.encode_to_vec(),
        expect![[r#"error: series[0]: "type" must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)"#]],
    );
    let mut payload = agent_payload();
    payload.series[1].interval = -15;
    check_protobuf(
        &payload.encode_to_vec(),
        expect![[r#"error: series[1]: "interval" must be an integer between 0 and 4294967295"#]],
    );
    check_protobuf(
        b"",
        expect![[r#"
        (empty batch)
    "#]],
    );
}

#[test]
fn round_trips() {
    let mut gauge = Series::new("app.queue.depth", MetricKind::Gauge);
    gauge.host = Some("web-1".into());
    gauge.tags = vec!["env:dev".into(), "device:sda".into()];
    gauge.device = Some("sda".into());
    gauge.source_type_name = Some("System".into());
    gauge.points = vec![
        Point {
            timestamp: 1_700_000_000,
            value: 12.5,
        },
        Point {
            timestamp: -5,
            value: -0.25,
        },
    ];
    let mut count = Series::new("app.requests", MetricKind::Count);
    count.interval = Some(10);
    count.points = vec![Point {
        timestamp: 1_700_000_000,
        value: 3.0,
    }];
    let unspecified = Series::new("bare", MetricKind::Unspecified);
    let batch = MetricBatch {
        series: vec![gauge, count, unspecified],
    };
    assert_eq!(decode_v2_protobuf(&encode_v2_protobuf(&batch)), Ok(batch.clone()));
    assert_eq!(decode_v1_json(&encode_v1_json(&batch)), Ok(batch.clone()));
    expect![[r#"{"series":[{"device":"sda","host":"web-1","metric":"app.queue.depth","points":[[1700000000,12.5],[-5,-0.25]],"source_type_name":"System","tags":["env:dev"],"type":"gauge"},{"interval":10,"metric":"app.requests","points":[[1700000000,3.0]],"tags":[],"type":"count"},{"metric":"bare","points":[],"tags":[]}]}"#]]
        .assert_eq(&String::from_utf8_lossy(&encode_v1_json(&batch)));
}

#[test]
fn formats_and_limits() {
    assert_eq!(
        SeriesFormat::v2(Some("application/x-protobuf")),
        SeriesFormat::V2Protobuf
    );
    assert_eq!(
        SeriesFormat::v2(Some("Application/X-Protobuf; charset=binary")),
        SeriesFormat::V2Protobuf
    );
    assert_eq!(SeriesFormat::v2(Some("application/json")), SeriesFormat::V2Json);
    assert_eq!(SeriesFormat::v2(None), SeriesFormat::V2Json);
    assert_eq!(SeriesFormat::V1Json.body_limit(), 3_200_000);
    assert_eq!(SeriesFormat::V1Json.decompressed_limit(), 62_914_560);
    assert_eq!(SeriesFormat::V2Protobuf.body_limit(), 512_000);
    assert_eq!(SeriesFormat::V2Json.decompressed_limit(), 5_242_880);
    for kind in [
        MetricKind::Unspecified,
        MetricKind::Count,
        MetricKind::Rate,
        MetricKind::Gauge,
    ] {
        assert_eq!(MetricKind::from_v2_code(i64::from(kind.v2_code())), Some(kind));
        assert_eq!(MetricKind::from_v1_name(kind.v1_name().unwrap_or("")), Some(kind));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}
