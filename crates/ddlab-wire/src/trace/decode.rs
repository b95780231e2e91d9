//! The tracers' trace bodies: `/v0.4/traces` (msgpack or JSON), `/v0.5/traces` (string table) and
//! `/v0.7/traces` (one `TracerPayload`), decoded into `pb` spans the way the trace-agent decodes them.
//!
//! Unknown span fields are skipped, `nil` fields keep their zero value, a `nil` span is left out (the
//! agent keeps a nil pointer that nothing uses), and bytes after the top-level value are ignored, as the
//! agent ignores them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use libdd_trace_utils::span::SliceData;
use libdd_trace_utils::span::v04::{SpanEvent, SpanLink, VecMap};
use serde_json::Value;

use super::borrowed::{
    SpanSlice, TraceChunkRef, TracerPayloadRef, dedup, event_from_pb, span_from_pb, span_to_pb,
};
use super::msgpack::{Reader, Segment};
use super::pb;
use super::spare;
use crate::WireError;

/// The number of fields of a v0.5 span array.
const V05_SPAN_FIELDS: usize = 12;

/// `/v0.4/traces` (and `/v0.3`) msgpack: an array of traces, each an array of span maps.
pub fn decode_v04(body: &[u8]) -> Result<Vec<Vec<pb::Span>>, WireError> {
    decode_v04_ref(body).map(|traces| to_pb(&traces))
}

/// [`decode_v04`], the spans borrowing their text from `body`.
pub fn decode_v04_ref(body: &[u8]) -> Result<Vec<Vec<SpanSlice<'_>>>, WireError> {
    let mut reader = Reader::new(body, "v0.4 traces");
    let count = reader.array_len()?;
    let mut traces = Vec::with_capacity(reader.capacity(count));
    for index in 0..count {
        let trace = reader.at(Segment::Index(index), |r| {
            if r.try_nil()? {
                return Ok(Vec::new());
            }
            span_list(r)
        })?;
        traces.push(trace);
    }
    Ok(traces)
}

/// `/v0.5/traces`: `[string_table, traces]`, each span a 12-element array of string indexes and values.
pub fn decode_v05(body: &[u8]) -> Result<Vec<Vec<pb::Span>>, WireError> {
    decode_v05_ref(body).map(|traces| to_pb(&traces))
}

/// [`decode_v05`], the spans borrowing their text from `body` (through its string table).
pub fn decode_v05_ref(body: &[u8]) -> Result<Vec<Vec<SpanSlice<'_>>>, WireError> {
    let mut reader = Reader::new(body, "v0.5 traces");
    let outer = reader.array_len()?;
    if outer != 2 {
        return Err(reader.error_at(
            0,
            format!("a v0.5 payload is [string table, traces], found an array of {outer}"),
        ));
    }
    let table = reader.at(Segment::Field("string table"), |r| {
        let len = r.array_len()?;
        let mut table = Vec::with_capacity(r.capacity(len));
        for index in 0..len {
            table.push(r.at(Segment::Index(index), Reader::text)?);
        }
        Ok(table)
    })?;
    reader.at(Segment::Field("traces"), |r| {
        let count = r.array_len()?;
        let mut traces = Vec::with_capacity(r.capacity(count));
        for index in 0..count {
            let trace = r.at(Segment::Index(index), |r| {
                let len = r.array_len()?;
                let mut spans = Vec::with_capacity(r.capacity(len));
                for index in 0..len {
                    // Decoded where it will stay: a span is a few hundred bytes, not worth moving.
                    spans.push(SpanSlice::default());
                    let last = spans.len() - 1;
                    r.at(Segment::Index(index), |r| v05_span(r, &table, &mut spans[last]))?;
                }
                Ok(spans)
            })?;
            traces.push(trace);
        }
        Ok(traces)
    })
}

/// `/v0.7/traces`: one msgpack `TracerPayload` map, its chunks' spans as in v0.4.
pub fn decode_v07(body: &[u8]) -> Result<pb::TracerPayload, WireError> {
    decode_v07_ref(body).map(|payload| payload.to_pb())
}

/// [`decode_v07`], the spans borrowing their text from `body`.
pub fn decode_v07_ref(body: &[u8]) -> Result<TracerPayloadRef<'_>, WireError> {
    let mut reader = Reader::new(body, "v0.7 tracer payload");
    let mut payload = TracerPayloadRef::default();
    let fields = reader.map_len()?;
    for _ in 0..fields {
        let key = reader.key()?;
        match key {
            b"container_id" => payload.container_id = field(&mut reader, "container_id", Reader::string)?,
            b"language_name" => payload.language_name = field(&mut reader, "language_name", Reader::string)?,
            b"language_version" => {
                payload.language_version = field(&mut reader, "language_version", Reader::string)?;
            }
            b"tracer_version" => {
                payload.tracer_version = field(&mut reader, "tracer_version", Reader::string)?
            }
            b"runtime_id" => payload.runtime_id = field(&mut reader, "runtime_id", Reader::string)?,
            b"env" => payload.env = field(&mut reader, "env", Reader::string)?,
            b"hostname" => payload.hostname = field(&mut reader, "hostname", Reader::string)?,
            b"app_version" => payload.app_version = field(&mut reader, "app_version", Reader::string)?,
            b"tags" => payload.tags = field(&mut reader, "tags", string_map)?,
            b"chunks" => {
                payload.chunks = reader.at(Segment::Field("chunks"), |r| {
                    if r.try_nil()? {
                        return Ok(Vec::new());
                    }
                    let len = r.array_len()?;
                    let mut chunks = Vec::with_capacity(r.capacity(len));
                    for index in 0..len {
                        if let Some(chunk) = r.at(Segment::Index(index), chunk)? {
                            chunks.push(chunk);
                        }
                    }
                    Ok(chunks)
                })?;
            }
            _ => reader.skip()?,
        }
    }
    Ok(payload)
}

/// `/v0.4/traces` sent as JSON, in the borrowed form (owned: JSON strings are unescaped).
pub fn decode_v04_json_ref<'a>(body: &[u8]) -> Result<Vec<Vec<SpanSlice<'a>>>, WireError> {
    decode_v04_json(body).map(|traces| {
        traces
            .into_iter()
            .map(|spans| spans.into_iter().map(span_from_pb).collect())
            .collect()
    })
}

fn to_pb(traces: &[Vec<SpanSlice<'_>>]) -> Vec<Vec<pb::Span>> {
    traces
        .iter()
        .map(|spans| spans.iter().map(span_to_pb).collect())
        .collect()
}

/// `/v0.4/traces` sent as JSON (`Content-Type: application/json`, `text/json` or none): the same
/// shape as the msgpack form, numbers as JSON numbers.
pub fn decode_v04_json(body: &[u8]) -> Result<Vec<Vec<pb::Span>>, WireError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| WireError::Invalid {
        message: format!("v0.4 traces are not JSON: {err}"),
        location: Some(crate::Location {
            line: err.line(),
            column: err.column(),
        }),
    })?;
    let Value::Array(traces) = value else {
        return Err(WireError::invalid("traces: expected an array of traces"));
    };
    traces
        .iter()
        .enumerate()
        .map(|(t, trace)| match trace {
            Value::Null => Ok(Vec::new()),
            Value::Array(spans) => spans
                .iter()
                .enumerate()
                .filter(|(_, span)| !span.is_null())
                .map(|(s, span)| json_span(span, &format!("traces[{t}][{s}]")))
                .collect(),
            _ => Err(WireError::invalid(format!(
                "traces[{t}]: expected an array of spans"
            ))),
        })
        .collect()
}

fn field<'a, T>(
    reader: &mut Reader<'a>,
    name: &'static str,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, WireError>,
) -> Result<T, WireError> {
    reader.at(Segment::Field(name), read)
}

/// An array of v0.4 span maps; `nil` spans are left out.
fn span_list<'a>(reader: &mut Reader<'a>) -> Result<Vec<SpanSlice<'a>>, WireError> {
    let len = reader.array_len()?;
    let mut spans = Vec::with_capacity(reader.capacity(len));
    for index in 0..len {
        // Decoded where it will stay: a span is a few hundred bytes, not worth moving.
        spans.push(SpanSlice::default());
        let last = spans.len() - 1;
        let read = reader.at(Segment::Index(index), |r| {
            if r.try_nil()? {
                return Ok(false);
            }
            v04_span(r, &mut spans[last])?;
            Ok(true)
        })?;
        if !read {
            spans.pop();
        }
    }
    Ok(spans)
}

fn chunk<'a>(reader: &mut Reader<'a>) -> Result<Option<TraceChunkRef<'a>>, WireError> {
    if reader.try_nil()? {
        return Ok(None);
    }
    let mut chunk = TraceChunkRef::default();
    let fields = reader.map_len()?;
    for _ in 0..fields {
        match reader.key()? {
            b"priority" => chunk.priority = field(reader, "priority", Reader::i32)?,
            b"origin" => chunk.origin = field(reader, "origin", Reader::text)?,
            b"spans" => {
                chunk.spans = field(reader, "spans", |r| {
                    if r.try_nil()? {
                        return Ok(Vec::new());
                    }
                    span_list(r)
                })?;
            }
            b"tags" => chunk.tags = field(reader, "tags", string_map)?,
            b"dropped_trace" => chunk.dropped_trace = field(reader, "dropped_trace", Reader::bool)?,
            _ => reader.skip()?,
        }
    }
    Ok(Some(chunk))
}

/// One v0.4 span map, into `span` (a default one).
fn v04_span<'a>(reader: &mut Reader<'a>, span: &mut SpanSlice<'a>) -> Result<(), WireError> {
    let fields = reader.map_len()?;
    for _ in 0..fields {
        let key = reader.key()?;
        match key {
            b"service" => span.service = field(reader, "service", Reader::text)?,
            b"name" => span.name = field(reader, "name", Reader::text)?,
            b"resource" => span.resource = field(reader, "resource", Reader::text)?,
            b"type" => span.r#type = field(reader, "type", Reader::text)?,
            b"trace_id" => span.trace_id = u128::from(field(reader, "trace_id", Reader::u64)?),
            b"span_id" => span.span_id = field(reader, "span_id", Reader::u64)?,
            b"parent_id" => span.parent_id = field(reader, "parent_id", Reader::u64)?,
            b"start" => span.start = field(reader, "start", Reader::i64)?,
            b"duration" => span.duration = field(reader, "duration", Reader::i64)?,
            b"error" => span.error = field(reader, "error", Reader::i32)?,
            b"meta" => span.meta = field(reader, "meta", text_map)?,
            b"metrics" => span.metrics = field(reader, "metrics", float_map)?,
            b"meta_struct" => span.meta_struct = field(reader, "meta_struct", bytes_map)?,
            b"span_links" => span.span_links = field(reader, "span_links", span_links)?,
            b"span_events" => {
                span.span_events = field(reader, "span_events", span_events)?
                    .into_iter()
                    .map(event_from_pb)
                    .collect::<Vec<SpanEvent<SliceData<'a>>>>();
            }
            _ => reader.skip()?,
        }
    }
    Ok(())
}

/// One v0.5 span: `[service, name, resource, trace_id, span_id, parent_id, start, duration, error,
/// {meta}, {metrics}, type]`, strings as indexes into `table`.
fn v05_span<'a>(
    reader: &mut Reader<'a>,
    table: &[Cow<'a, str>],
    span: &mut SpanSlice<'a>,
) -> Result<(), WireError> {
    let start = reader.position();
    let len = reader.array_len()?;
    if len != V05_SPAN_FIELDS {
        return Err(reader.error_at(
            start,
            format!("a v0.5 span is an array of {V05_SPAN_FIELDS} elements, found {len}"),
        ));
    }
    let text = |r: &mut Reader<'a>| -> Result<Cow<'a, str>, WireError> {
        let start = r.position();
        let index = r.u32()?;
        usize::try_from(index)
            .ok()
            .and_then(|i| table.get(i))
            .cloned()
            .ok_or_else(|| {
                r.error_at(
                    start,
                    format!(
                        "string index {index} is outside the string table ({} strings)",
                        table.len()
                    ),
                )
            })
    };
    span.service = field(reader, "service", text)?;
    span.name = field(reader, "name", text)?;
    span.resource = field(reader, "resource", text)?;
    span.trace_id = u128::from(field(reader, "trace_id", Reader::u64)?);
    span.span_id = field(reader, "span_id", Reader::u64)?;
    span.parent_id = field(reader, "parent_id", Reader::u64)?;
    span.start = field(reader, "start", Reader::i64)?;
    span.duration = field(reader, "duration", Reader::i64)?;
    span.error = field(reader, "error", Reader::i32)?;
    span.meta = field(reader, "meta", |r| {
        let len = r.map_len()?;
        let mut meta = spare::meta(r.capacity(len));
        for _ in 0..len {
            let key = text(r)?;
            let value = text(r)?;
            meta.insert(key, value);
        }
        Ok(deduped(meta))
    })?;
    span.metrics = field(reader, "metrics", |r| {
        let len = r.map_len()?;
        let mut metrics = spare::metrics(r.capacity(len));
        for _ in 0..len {
            let key = text(r)?;
            let value = r.f64()?;
            metrics.insert(key, value);
        }
        Ok(deduped(metrics))
    })?;
    span.r#type = field(reader, "type", text)?;
    Ok(())
}

/// `map` with the last value of every key given twice, marked as such.
fn deduped<K: Eq + Hash + std::borrow::Borrow<str>, V>(mut map: VecMap<K, V>) -> VecMap<K, V> {
    dedup(&mut map);
    map
}

/// A span map keyed by borrowed strings, each value read by `value`, in a map `empty` makes with room
/// for the entries; a `nil` map is empty.
fn vec_map<'a, V>(
    reader: &mut Reader<'a>,
    empty: impl FnOnce(usize) -> VecMap<Cow<'a, str>, V>,
    value: impl Fn(&mut Reader<'a>) -> Result<V, WireError>,
) -> Result<VecMap<Cow<'a, str>, V>, WireError> {
    if reader.try_nil()? {
        return Ok(VecMap::new());
    }
    let len = reader.map_len()?;
    let mut map = empty(reader.capacity(len));
    for _ in 0..len {
        let key = reader.text()?;
        map.insert(key, value(reader)?);
    }
    Ok(deduped(map))
}

/// A map of strings, borrowed (`meta`).
fn text_map<'a>(reader: &mut Reader<'a>) -> Result<VecMap<Cow<'a, str>, Cow<'a, str>>, WireError> {
    vec_map(reader, spare::meta, Reader::text)
}

/// A map of strings, owned (payload and chunk tags); a `nil` map is empty.
fn string_map(reader: &mut Reader<'_>) -> Result<HashMap<String, String>, WireError> {
    if reader.try_nil()? {
        return Ok(HashMap::new());
    }
    let len = reader.map_len()?;
    let mut map = HashMap::with_capacity(reader.capacity(len));
    for _ in 0..len {
        let key = reader.string()?;
        let value = reader.string()?;
        map.insert(key, value);
    }
    Ok(map)
}

fn float_map<'a>(reader: &mut Reader<'a>) -> Result<VecMap<Cow<'a, str>, f64>, WireError> {
    vec_map(reader, spare::metrics, Reader::f64)
}

fn bytes_map<'a>(reader: &mut Reader<'a>) -> Result<VecMap<Cow<'a, str>, &'a [u8]>, WireError> {
    vec_map(reader, VecMap::with_capacity, Reader::byte_slice)
}

fn span_links<'a>(reader: &mut Reader<'a>) -> Result<Vec<SpanLink<SliceData<'a>>>, WireError> {
    if reader.try_nil()? {
        return Ok(Vec::new());
    }
    let len = reader.array_len()?;
    let mut links = Vec::with_capacity(reader.capacity(len));
    for index in 0..len {
        links.push(reader.at(Segment::Index(index), |r| {
            let mut link = SpanLink::default();
            let fields = r.map_len()?;
            for _ in 0..fields {
                match r.key()? {
                    b"trace_id" => link.trace_id = field(r, "trace_id", Reader::u64)?,
                    b"trace_id_high" => link.trace_id_high = field(r, "trace_id_high", Reader::u64)?,
                    b"span_id" => link.span_id = field(r, "span_id", Reader::u64)?,
                    b"attributes" => {
                        link.attributes = field(r, "attributes", |r| {
                            if r.try_nil()? {
                                return Ok(HashMap::new());
                            }
                            let len = r.map_len()?;
                            let mut map = HashMap::with_capacity(r.capacity(len));
                            for _ in 0..len {
                                let key = r.text()?;
                                let value = r.text()?;
                                map.insert(key, value);
                            }
                            Ok(map)
                        })?;
                    }
                    b"tracestate" => link.tracestate = field(r, "tracestate", Reader::text)?,
                    b"flags" => link.flags = field(r, "flags", Reader::u32)?,
                    _ => r.skip()?,
                }
            }
            Ok(link)
        })?);
    }
    Ok(links)
}

fn span_events(reader: &mut Reader<'_>) -> Result<Vec<pb::SpanEvent>, WireError> {
    if reader.try_nil()? {
        return Ok(Vec::new());
    }
    let len = reader.array_len()?;
    let mut events = Vec::with_capacity(reader.capacity(len));
    for index in 0..len {
        events.push(reader.at(Segment::Index(index), |r| {
            let mut event = pb::SpanEvent::default();
            let fields = r.map_len()?;
            for _ in 0..fields {
                match r.key()? {
                    b"time_unix_nano" => event.time_unix_nano = field(r, "time_unix_nano", Reader::u64)?,
                    b"name" => event.name = field(r, "name", Reader::string)?,
                    b"attributes" => {
                        event.attributes = field(r, "attributes", |r| {
                            if r.try_nil()? {
                                return Ok(HashMap::new());
                            }
                            let len = r.map_len()?;
                            let mut attributes = HashMap::with_capacity(r.capacity(len));
                            for _ in 0..len {
                                let key = r.string()?;
                                let value = any_value(r)?;
                                attributes.insert(key, value);
                            }
                            Ok(attributes)
                        })?;
                    }
                    _ => r.skip()?,
                }
            }
            Ok(event)
        })?);
    }
    Ok(events)
}

/// A span event attribute: `{type, string_value | bool_value | int_value | double_value | array_value}`.
fn any_value(reader: &mut Reader<'_>) -> Result<pb::AttributeAnyValue, WireError> {
    let mut value = pb::AttributeAnyValue::default();
    let fields = reader.map_len()?;
    for _ in 0..fields {
        match reader.key()? {
            b"type" => value.r#type = field(reader, "type", Reader::i32)?,
            b"string_value" => value.string_value = field(reader, "string_value", Reader::string)?,
            b"bool_value" => value.bool_value = field(reader, "bool_value", Reader::bool)?,
            b"int_value" => value.int_value = field(reader, "int_value", Reader::i64)?,
            b"double_value" => value.double_value = field(reader, "double_value", Reader::f64)?,
            b"array_value" => {
                value.array_value = field(reader, "array_value", |r| {
                    if r.try_nil()? {
                        return Ok(None);
                    }
                    let mut array = pb::AttributeArray::default();
                    let fields = r.map_len()?;
                    for _ in 0..fields {
                        match r.key()? {
                            b"values" => {
                                let len = r.array_len()?;
                                array.values = Vec::with_capacity(r.capacity(len));
                                for index in 0..len {
                                    array.values.push(r.at(Segment::Index(index), array_value)?);
                                }
                            }
                            _ => r.skip()?,
                        }
                    }
                    Ok(Some(array))
                })?;
            }
            _ => reader.skip()?,
        }
    }
    Ok(value)
}

fn array_value(reader: &mut Reader<'_>) -> Result<pb::AttributeArrayValue, WireError> {
    let mut value = pb::AttributeArrayValue::default();
    let fields = reader.map_len()?;
    for _ in 0..fields {
        match reader.key()? {
            b"type" => value.r#type = field(reader, "type", Reader::i32)?,
            b"string_value" => value.string_value = field(reader, "string_value", Reader::string)?,
            b"bool_value" => value.bool_value = field(reader, "bool_value", Reader::bool)?,
            b"int_value" => value.int_value = field(reader, "int_value", Reader::i64)?,
            b"double_value" => value.double_value = field(reader, "double_value", Reader::f64)?,
            _ => reader.skip()?,
        }
    }
    Ok(value)
}

/// One JSON span object, with the msgpack form's leniency (`null` is the zero value).
fn json_span(value: &Value, path: &str) -> Result<pb::Span, WireError> {
    let Value::Object(fields) = value else {
        return Err(WireError::invalid(format!("{path}: expected a span object")));
    };
    let mut span = pb::Span::default();
    for (key, value) in fields {
        let at = |name: &str| format!("{path}.{name}");
        match key.as_str() {
            "service" => span.service = json_string(value, &at("service"))?,
            "name" => span.name = json_string(value, &at("name"))?,
            "resource" => span.resource = json_string(value, &at("resource"))?,
            "type" => span.r#type = json_string(value, &at("type"))?,
            "trace_id" => span.trace_id = json_u64(value, &at("trace_id"))?,
            "span_id" => span.span_id = json_u64(value, &at("span_id"))?,
            "parent_id" => span.parent_id = json_u64(value, &at("parent_id"))?,
            "start" => span.start = json_i64(value, &at("start"))?,
            "duration" => span.duration = json_i64(value, &at("duration"))?,
            "error" => {
                span.error = i32::try_from(json_i64(value, &at("error"))?)
                    .map_err(|_| WireError::invalid(format!("{}: must fit in int32", at("error"))))?;
            }
            "meta" => {
                span.meta = json_object(value, &at("meta"))?
                    .map(|(k, v)| Ok((k.clone(), json_string(v, &format!("{}.{k}", at("meta")))?)))
                    .collect::<Result<_, WireError>>()?;
            }
            "metrics" => {
                span.metrics = json_object(value, &at("metrics"))?
                    .map(|(k, v)| {
                        let path = format!("{}.{k}", at("metrics"));
                        let number = match v {
                            Value::Null => 0.0,
                            Value::Number(n) => n.as_f64().unwrap_or(0.0),
                            _ => return Err(WireError::invalid(format!("{path}: expected a number"))),
                        };
                        Ok((k.clone(), number))
                    })
                    .collect::<Result<_, WireError>>()?;
            }
            _ => {}
        }
    }
    Ok(span)
}

fn json_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<Box<dyn Iterator<Item = (&'a String, &'a Value)> + 'a>, WireError> {
    match value {
        Value::Null => Ok(Box::new(std::iter::empty())),
        Value::Object(map) => Ok(Box::new(map.iter())),
        _ => Err(WireError::invalid(format!("{path}: expected an object"))),
    }
}

fn json_string(value: &Value, path: &str) -> Result<String, WireError> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(text) => Ok(text.clone()),
        _ => Err(WireError::invalid(format!("{path}: expected a string"))),
    }
}

fn json_u64(value: &Value, path: &str) -> Result<u64, WireError> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_i64().map(|i| i as u64))
            .ok_or_else(|| WireError::invalid(format!("{path}: expected an unsigned integer"))),
        _ => Err(WireError::invalid(format!("{path}: expected an integer"))),
    }
}

fn json_i64(value: &Value, path: &str) -> Result<i64, WireError> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| WireError::invalid(format!("{path}: expected an integer that fits in int64"))),
        _ => Err(WireError::invalid(format!("{path}: expected an integer"))),
    }
}
