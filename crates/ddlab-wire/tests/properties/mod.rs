//! What the fuzzer checks of the intake decoders, on any bytes: shared by the `series_*`, `trace_*` and
//! `dogstatsd` fuzz targets (`fuzz/src/lib.rs` compiles this file) and `tests/fuzz_inputs.rs`, which runs
//! every committed input.
//!
//! A property that does not hold panics with what went wrong; otherwise the function returns a one-line
//! summary of the outcome, which the regression test compares with its snapshot.

use ddlab_wire::WireError;
use ddlab_wire::dogstatsd::{self, Message};
use ddlab_wire::series::{self, MetricBatch};
use ddlab_wire::trace::{self, pb};

/// `/api/v1/series` JSON: a batch that keeps the [`series::Series`] invariants and comes back the same
/// through the v1 encoder, or an error.
pub fn series_v1_json(bytes: &[u8]) -> String {
    match series::decode_v1_json(bytes) {
        Ok(batch) => {
            check_batch(&batch);
            let again = series::decode_v1_json(&series::encode_v1_json(&batch))
                .unwrap_or_else(|err| panic!("the v1 encoding of a decoded batch does not decode: {err}"));
            assert_eq!(
                as_stored(&again),
                as_stored(&batch),
                "a batch changes through the v1 encoder"
            );
            summary(&batch)
        }
        Err(err) => error(&err),
    }
}

/// `/api/v2/series` JSON: a batch that keeps the invariants and comes back the same through the
/// protobuf encoder (the two v2 bodies carry the same fields), or an error.
pub fn series_v2_json(bytes: &[u8]) -> String {
    match series::decode_v2_json(bytes) {
        Ok(batch) => {
            check_batch(&batch);
            check_protobuf_round_trip(&batch);
            summary(&batch)
        }
        Err(err) => error(&err),
    }
}

/// `/api/v2/series` protobuf: a batch that keeps the invariants and comes back the same through the
/// protobuf encoder, or an error.
pub fn series_v2_protobuf(bytes: &[u8]) -> String {
    match series::decode_v2_protobuf(bytes) {
        Ok(batch) => {
            check_batch(&batch);
            check_protobuf_round_trip(&batch);
            summary(&batch)
        }
        Err(err) => error(&err),
    }
}

/// `/v0.4/traces` msgpack: traces whose v0.4 encoding decodes to traces with the same encoding (the
/// encoder sorts maps, so equal bytes mean equal spans, NaN metrics included), or an error.
pub fn trace_v04(bytes: &[u8]) -> String {
    match trace::decode_v04(bytes) {
        Ok(traces) => {
            let encoded = trace::encode_v04(&traces);
            let again = trace::decode_v04(&encoded)
                .unwrap_or_else(|err| panic!("the v0.4 encoding of decoded traces does not decode: {err}"));
            assert!(
                trace::encode_v04(&again) == encoded,
                "traces change through the v0.4 encoder:\n{traces:?}\n{again:?}"
            );
            trace_summary(&traces)
        }
        Err(err) => error(&err),
    }
}

/// `/v0.5/traces`: traces whose v0.5 encoding (a fresh string table) decodes to traces with the same
/// encoding, or an error.
pub fn trace_v05(bytes: &[u8]) -> String {
    match trace::decode_v05(bytes) {
        Ok(traces) => {
            let encoded = trace::encode_v05(&traces);
            let again = trace::decode_v05(&encoded)
                .unwrap_or_else(|err| panic!("the v0.5 encoding of decoded traces does not decode: {err}"));
            assert!(
                trace::encode_v05(&again) == encoded,
                "traces change through the v0.5 encoder:\n{traces:?}\n{again:?}"
            );
            trace_summary(&traces)
        }
        Err(err) => error(&err),
    }
}

/// A DogStatsD datagram: every line is a message or an error naming its line; a message written back
/// with the client encoder parses to the same message, with nothing ignored.
pub fn dogstatsd(bytes: &[u8]) -> String {
    let lines = bytes.split(|b| *b == b'\n').count();
    let mut outcomes = Vec::new();
    for result in dogstatsd::parse(bytes) {
        match result {
            Ok(line) => {
                check_message(&line.message);
                let encoded = dogstatsd::encode(&line.message);
                match dogstatsd::parse_line(1, encoded.as_bytes()) {
                    Ok(again) => {
                        assert_eq!(
                            again.message, line.message,
                            "{encoded:?} does not parse back to the message it encodes"
                        );
                        assert!(
                            again.ignored.is_empty(),
                            "{encoded:?} is an encoded message, but parsing ignores {:?}",
                            again.ignored
                        );
                    }
                    Err(err) => panic!(
                        "{encoded:?}, the encoding of {:?}, does not parse: {err}",
                        line.message
                    ),
                }
                outcomes.push(match line.message {
                    Message::Metric(_) => "metric",
                    Message::Event(_) => "event",
                    Message::ServiceCheck(_) => "service check",
                });
            }
            Err(err) => {
                assert!(
                    (1..=lines).contains(&err.line),
                    "error line {} outside the datagram's {lines} lines: {err}",
                    err.line
                );
                outcomes.push("error");
            }
        }
    }
    if outcomes.is_empty() {
        "no lines".to_owned()
    } else {
        outcomes.join(", ")
    }
}

/// What the parser promises of every message: names present, values finite, rates in (0, 1].
fn check_message(message: &Message) {
    match message {
        Message::Metric(metric) => {
            assert!(!metric.name.is_empty(), "a metric without a name: {metric:?}");
            assert!(
                metric.sample.values().iter().all(|v| v.is_finite()),
                "a metric with a value that is not finite: {metric:?}"
            );
            assert!(
                metric.sample_rate > 0.0 && metric.sample_rate <= 1.0,
                "a sample rate outside (0, 1]: {metric:?}"
            );
            assert!(metric.sample.count() >= 1, "a metric without values: {metric:?}");
            assert!(
                metric.tags.iter().all(|t| !t.is_empty()),
                "an empty tag is kept: {metric:?}"
            );
        }
        Message::Event(event) => assert!(!event.title.is_empty(), "an event without a title: {event:?}"),
        Message::ServiceCheck(check) => {
            assert!(
                !check.name.is_empty(),
                "a service check without a name: {check:?}"
            )
        }
    }
}

/// The [`series::Series`] invariants: a name, finite values, no empty host or device, the device also
/// a tag.
fn check_batch(batch: &MetricBatch) {
    for series in &batch.series {
        assert!(!series.metric.is_empty(), "a series without a name: {series:?}");
        assert!(
            series.points.iter().all(|p| p.value.is_finite()),
            "a point that is not finite: {series:?}"
        );
        assert!(
            series.host.as_deref() != Some("") && series.device.as_deref() != Some(""),
            "an empty host or device: {series:?}"
        );
        if let Some(device) = &series.device {
            assert!(
                series.tags.contains(&format!("device:{device}")),
                "the device is not a tag: {series:?}"
            );
        }
        assert_ne!(
            series.interval,
            Some(0),
            "an interval of 0 is no interval: {series:?}"
        );
    }
}

fn check_protobuf_round_trip(batch: &MetricBatch) {
    let again = series::decode_v2_protobuf(&series::encode_v2_protobuf(batch))
        .unwrap_or_else(|err| panic!("the protobuf encoding of a decoded batch does not decode: {err}"));
    assert_eq!(
        as_stored(&again),
        as_stored(batch),
        "a batch changes through the protobuf encoder"
    );
}

/// The batch as the store keys it: each series' tags sorted and deduplicated. The encoders send the
/// device once, as the Agent does, so a `device:` tag also listed among the tags comes back last, once;
/// Datadog treats tags as a set, and so does the store (`ddlab-store`'s series identity).
fn as_stored(batch: &MetricBatch) -> MetricBatch {
    let mut batch = batch.clone();
    for series in &mut batch.series {
        series.tags.sort();
        series.tags.dedup();
    }
    batch
}

fn summary(batch: &MetricBatch) -> String {
    let points: usize = batch.series.iter().map(|s| s.points.len()).sum();
    format!("ok {} series, {points} points", batch.series.len())
}

fn trace_summary(traces: &[Vec<pb::Span>]) -> String {
    let spans: usize = traces.iter().map(Vec::len).sum();
    format!("ok {} traces, {spans} spans", traces.len())
}

fn error(err: &WireError) -> String {
    let message = err.to_string();
    assert!(!message.is_empty(), "an error without a message: {err:?}");
    format!("error {message}")
}
