//! Tests of span storage and search, and of stats ingestion with derived series.

use super::*;
use crate::MetricKind;
use crate::testing::store;

const T0: i64 = 1_700_000_000_000_000_000;

fn span(trace_id: u64, span_id: u64, offset_ms: i64) -> NewSpan {
    NewSpan {
        trace_id,
        span_id,
        parent_id: 0,
        service: "flask".into(),
        name: "flask.request".into(),
        resource: "GET /".into(),
        span_type: "web".into(),
        env: "lab".into(),
        version: "1.0".into(),
        host: "web-1".into(),
        start: T0 + offset_ms * 1_000_000,
        duration: 2_000_000,
        error: false,
        top_level: true,
        meta: BTreeMap::from([("http.status_code".into(), "200".into())]),
        metrics: BTreeMap::from([("_dd.top_level".into(), 1.0)]),
        extra: serde_json::Value::Null,
    }
}

/// The spans, as `trace_id/span_id`, a query finds (one page of up to 100).
fn find(store: &Store, filter: SpanFilter) -> Vec<String> {
    let page = store
        .search_spans(&SpanQuery {
            filter,
            from: T0,
            to: T0 + 10_000_000_000,
            order: SpanOrder::Oldest,
            after: None,
            limit: 100,
        })
        .unwrap();
    page.spans
        .iter()
        .map(|s| format!("{}/{}", s.span.trace_id, s.span.span_id))
        .collect()
}

fn field(field: SpanField, matcher: SpanMatch) -> SpanFilter {
    SpanFilter::Field(field, matcher)
}

fn equals(text: &str) -> SpanMatch {
    SpanMatch::Equals(text.into())
}

#[test]
fn spans_are_stored_once_and_read_back_whole() {
    let (_dir, store) = store();
    let mut first = span(u64::MAX, 1, 0);
    first.meta.insert("http.url".into(), "http://x/".into());
    first.metrics.insert("odd".into(), f64::NAN);
    first.extra = serde_json::json!({"span_links": [{"trace_id": "9"}]});
    store.insert_spans(&[first.clone(), span(5, 2, 1)], 100).unwrap();
    let id = store.trace_spans(u64::MAX).unwrap()[0].id;
    // A retried span replaces the stored one and keeps its row.
    first.resource = "GET /again".into();
    store.insert_spans(&[first.clone()], 200).unwrap();
    let stored = store.trace_spans(u64::MAX).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].id, stored[0].received_at), (id, 200));
    assert_eq!(stored[0].span.resource, "GET /again");
    assert!(stored[0].span.metrics["odd"].is_nan());
    let mut expected = first;
    expected.metrics.remove("odd");
    let mut got = stored[0].span.clone();
    got.metrics.remove("odd");
    assert_eq!(got, expected);
    assert_eq!(store.trace_spans(77).unwrap(), []);
}

#[test]
fn search_filters_by_fields_attributes_and_time() {
    let (_dir, store) = store();
    let mut error = span(1, 11, 10);
    error.error = true;
    error.resource = "GET /api/trace".into();
    error.duration = 900_000_000;
    error.meta.insert("http.status_code".into(), "500".into());
    let mut other = span(2, 21, 20);
    other.service = "mysql".into();
    other.name = "mysql.query".into();
    other.resource = "SELECT 1".into();
    other.metrics.insert("db.rows".into(), 42.0);
    let mut late = span(3, 31, 20_000);
    late.resource = "GET /late".into();
    store
        .insert_spans(&[span(1, 10, 0), error, other, late], 1)
        .unwrap();

    assert_eq!(find(&store, SpanFilter::All), ["1/10", "1/11", "2/21"]);
    assert_eq!(
        find(&store, field(SpanField::Service, equals("FLASK"))),
        ["1/10", "1/11"]
    );
    assert_eq!(
        find(&store, field(SpanField::Resource, equals("get /api/trace"))),
        ["1/11"]
    );
    assert_eq!(
        find(
            &store,
            field(SpanField::Resource, SpanMatch::Wildcard("GET /api*".into()))
        ),
        ["1/11"]
    );
    assert_eq!(
        find(
            &store,
            field(SpanField::Resource, SpanMatch::Wildcard("SELECT_1".into()))
        ),
        Vec::<String>::new()
    );
    assert_eq!(find(&store, field(SpanField::Status, equals("error"))), ["1/11"]);
    assert_eq!(
        find(&store, field(SpanField::Status, equals("ok"))),
        ["1/10", "2/21"]
    );
    let slow = SpanMatch::Range {
        low: Some((100_000_000.0, false)),
        high: None,
    };
    assert_eq!(find(&store, field(SpanField::Duration, slow)), ["1/11"]);
    assert_eq!(
        find(
            &store,
            field(SpanField::Attribute("http.status_code".into()), equals("500"))
        ),
        ["1/11"]
    );
    let server_errors = SpanMatch::Range {
        low: Some((500.0, true)),
        high: Some((599.0, true)),
    };
    assert_eq!(
        find(
            &store,
            field(SpanField::Attribute("http.status_code".into()), server_errors)
        ),
        ["1/11"]
    );
    assert_eq!(
        find(
            &store,
            field(SpanField::Attribute("db.rows".into()), equals("42"))
        ),
        ["2/21"]
    );
    assert_eq!(
        find(
            &store,
            field(SpanField::Attribute("db.rows".into()), SpanMatch::Exists)
        ),
        ["2/21"]
    );
    assert_eq!(
        find(
            &store,
            field(SpanField::Attribute("it's".into()), SpanMatch::Exists)
        ),
        Vec::<String>::new()
    );
    assert_eq!(find(&store, field(SpanField::TraceId, equals("2"))), ["2/21"]);
    assert_eq!(
        find(&store, field(SpanField::TraceId, equals("x"))),
        Vec::<String>::new()
    );
    assert_eq!(
        find(
            &store,
            SpanFilter::And(vec![
                field(SpanField::Service, equals("flask")),
                SpanFilter::Not(Box::new(field(SpanField::Status, equals("error")))),
            ])
        ),
        ["1/10"]
    );
    assert_eq!(
        find(
            &store,
            SpanFilter::Or(vec![
                field(SpanField::Service, equals("mysql")),
                field(SpanField::Resource, equals("GET /")),
            ])
        ),
        ["1/10", "2/21"]
    );
    assert_eq!(find(&store, SpanFilter::Or(vec![])), Vec::<String>::new());
}

#[test]
fn pages_follow_the_cursor_in_both_orders() {
    let (_dir, store) = store();
    // Two spans share a start: the row id orders them.
    let spans: Vec<NewSpan> = (1..=5)
        .map(|i| span(i, i, i64::try_from(i / 2).unwrap()))
        .collect();
    store.insert_spans(&spans, 1).unwrap();
    for (order, expected) in [
        (SpanOrder::Oldest, vec![1, 2, 3, 4, 5]),
        (SpanOrder::Newest, vec![5, 4, 3, 2, 1]),
    ] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .search_spans(&SpanQuery {
                    filter: SpanFilter::All,
                    from: T0,
                    to: T0 + 1_000_000_000,
                    order,
                    after,
                    limit: 2,
                })
                .unwrap();
            seen.extend(page.spans.iter().map(|s| s.span.trace_id));
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
            assert!(seen.len() <= 5, "{seen:?}");
        }
        assert_eq!(seen, expected, "{order:?}");
    }
}

fn row(resource: &str, hits: f64, summary: &[u8]) -> TraceStatsRow {
    TraceStatsRow {
        bucket: 1_700_000_000,
        bucket_duration: 10,
        host: "web-1".into(),
        env: "lab".into(),
        version: "1.0".into(),
        service: "flask".into(),
        name: "flask.request".into(),
        resource: resource.into(),
        http_status_code: 200,
        span_type: "web".into(),
        hits,
        errors: 1.0,
        duration: hits * 1e6,
        top_level_hits: hits,
        ok_summary: summary.to_vec(),
        error_summary: Vec::new(),
    }
}

#[test]
fn stats_add_up_and_derive_series_in_the_same_transaction() {
    let (_dir, store) = store();
    let merge = |a: &[u8], b: &[u8]| [a, b].concat();
    // One series per group: the hits of all its rows, at the bucket, tagged with the row count.
    let derive = |rows: &[TraceStatsRow]| {
        vec![NewSeries {
            metric: format!("trace.{}.hits", rows[0].name),
            host: Some(rows[0].host.clone()),
            tags: vec![format!("rows:{}", rows.len())],
            kind: MetricKind::Count,
            interval: Some(10),
            unit: None,
            source_type: None,
            points: vec![(rows[0].bucket, rows.iter().map(|r| r.hits).sum())],
        }]
    };
    let report = store
        .ingest_trace_stats(
            &[row("GET /", 3.0, b"a"), row("GET /api", 2.0, b"b")],
            &merge,
            &derive,
            5,
        )
        .unwrap();
    assert_eq!((report.rows, report.groups, report.series.points), (2, 1, 1));
    // The same key again adds to the stored row and merges its summary.
    store
        .ingest_trace_stats(&[row("GET /", 4.0, b"c")], &merge, &derive, 6)
        .unwrap();
    let rows = store
        .trace_stats(&TraceStatsFilter {
            from: 0,
            to: 2_000_000_000,
            env: Some("lab".into()),
            service: None,
        })
        .unwrap();
    let summary: Vec<(String, f64, f64, Vec<u8>)> = rows
        .iter()
        .map(|r| (r.resource.clone(), r.hits, r.errors, r.ok_summary.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("GET /".to_owned(), 7.0, 2.0, b"ac".to_vec()),
            ("GET /api".to_owned(), 2.0, 1.0, b"b".to_vec())
        ]
    );
    let series = store
        .series_for("trace.flask.request.hits", 0, 2_000_000_000)
        .unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].points, [(1_700_000_000, 9.0)]);
    assert_eq!(series[0].tags, ["rows:2"]);
    let other_env = TraceStatsFilter {
        from: 0,
        to: 2_000_000_000,
        env: Some("prod".into()),
        service: None,
    };
    assert_eq!(store.trace_stats(&other_env).unwrap(), []);
}
