//! Traces that borrow their text from the request body: what the trace receiver decodes into, so a
//! payload's strings are read in place instead of copied into a `String` each (a v0.4 span holds a
//! dozen). Spans are libdatadog's v0.4 span over `Cow<str>` ([`SpanSlice`]), whose normaliser,
//! obfuscator, top-level rule and stats concentrator take them directly; a value that has to change
//! (a repaired name, an obfuscated query) becomes owned, the rest stays borrowed.
//!
//! [`encode_tracer_payload_ref`] writes the protobuf `TracerPayload` of [`TracerPayloadRef`] straight
//! from the borrowed form: the same message prost writes for [`TracerPayloadRef::to_pb`] (map entries
//! in another order, which protobuf does not fix).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::Hash;

use libdd_trace_utils::span::v04::{AttributeAnyValue, AttributeArrayValue, SpanEvent, SpanLink, VecMap};
use libdd_trace_utils::span::{SliceData, TraceData};
use prost::encoding::{WireType, encode_varint, encoded_len_varint, key_len};

use super::pb;

pub use libdd_trace_utils::span::v04::SpanSlice;

/// A trace chunk whose spans borrow from the body.
#[derive(Debug, Clone, Default)]
pub struct TraceChunkRef<'a> {
    pub priority: i32,
    pub origin: Cow<'a, str>,
    pub spans: Vec<SpanSlice<'a>>,
    pub tags: HashMap<String, String>,
    pub dropped_trace: bool,
}

/// A tracer payload whose spans borrow from the body; the payload's own fields are few and owned.
#[derive(Debug, Clone, Default)]
pub struct TracerPayloadRef<'a> {
    pub container_id: String,
    pub language_name: String,
    pub language_version: String,
    pub tracer_version: String,
    pub runtime_id: String,
    pub chunks: Vec<TraceChunkRef<'a>>,
    pub tags: HashMap<String, String>,
    pub env: String,
    pub hostname: String,
    pub app_version: String,
}

impl TracerPayloadRef<'_> {
    /// The owned protobuf message.
    pub fn to_pb(&self) -> pb::TracerPayload {
        pb::TracerPayload {
            container_id: self.container_id.clone(),
            language_name: self.language_name.clone(),
            language_version: self.language_version.clone(),
            tracer_version: self.tracer_version.clone(),
            runtime_id: self.runtime_id.clone(),
            chunks: self.chunks.iter().map(TraceChunkRef::to_pb).collect(),
            tags: self.tags.clone(),
            env: self.env.clone(),
            hostname: self.hostname.clone(),
            app_version: self.app_version.clone(),
            container_debug: None,
        }
    }
}

impl TraceChunkRef<'_> {
    /// The owned protobuf message.
    pub fn to_pb(&self) -> pb::TraceChunk {
        pb::TraceChunk {
            priority: self.priority,
            origin: self.origin.clone().into_owned(),
            spans: self.spans.iter().map(span_to_pb).collect(),
            tags: self.tags.clone(),
            dropped_trace: self.dropped_trace,
        }
    }
}

/// The owned protobuf span of `span`; of keys given twice, the last value.
pub fn span_to_pb(span: &SpanSlice<'_>) -> pb::Span {
    pb::Span {
        service: span.service.to_string(),
        name: span.name.to_string(),
        resource: span.resource.to_string(),
        trace_id: span.trace_id as u64,
        span_id: span.span_id,
        parent_id: span.parent_id,
        start: span.start,
        duration: span.duration,
        error: span.error,
        meta: span
            .meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        metrics: span.metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        r#type: span.r#type.to_string(),
        meta_struct: span
            .meta_struct
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
        span_links: span.span_links.iter().map(link_to_pb).collect(),
        span_events: span.span_events.iter().map(event_to_pb).collect(),
    }
}

/// An owned span in the borrowed form, without its `meta_struct`: the one field whose bytes an owned
/// span could not lend. Its callers have none (JSON bodies) or keep it aside (normalisation).
pub(crate) fn span_from_pb<'a>(span: pb::Span) -> SpanSlice<'a> {
    let mut meta: VecMap<Cow<'a, str>, Cow<'a, str>> = span
        .meta
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
        .collect();
    meta.mark_deduped();
    let mut metrics: VecMap<Cow<'a, str>, f64> = span
        .metrics
        .into_iter()
        .map(|(k, v)| (Cow::Owned(k), v))
        .collect();
    metrics.mark_deduped();
    SpanSlice {
        service: Cow::Owned(span.service),
        name: Cow::Owned(span.name),
        resource: Cow::Owned(span.resource),
        r#type: Cow::Owned(span.r#type),
        trace_id: u128::from(span.trace_id),
        span_id: span.span_id,
        parent_id: span.parent_id,
        start: span.start,
        duration: span.duration,
        error: span.error,
        meta,
        metrics,
        meta_struct: VecMap::new(),
        span_links: span.span_links.into_iter().map(link_from_pb).collect(),
        span_events: span.span_events.into_iter().map(event_from_pb).collect(),
    }
}

fn link_from_pb<'a>(link: pb::SpanLink) -> SpanLink<SliceData<'a>> {
    SpanLink {
        trace_id: link.trace_id,
        trace_id_high: link.trace_id_high,
        span_id: link.span_id,
        attributes: link
            .attributes
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
            .collect(),
        tracestate: Cow::Owned(link.tracestate),
        flags: link.flags,
    }
}

fn link_to_pb<T: TraceData>(link: &SpanLink<T>) -> pb::SpanLink {
    pb::SpanLink {
        trace_id: link.trace_id,
        trace_id_high: link.trace_id_high,
        span_id: link.span_id,
        attributes: link
            .attributes
            .iter()
            .map(|(k, v)| (text(k).to_owned(), text(v).to_owned()))
            .collect(),
        tracestate: text(&link.tracestate).to_owned(),
        flags: link.flags,
    }
}

pub(crate) fn event_from_pb<'a>(event: pb::SpanEvent) -> SpanEvent<SliceData<'a>> {
    SpanEvent {
        time_unix_nano: event.time_unix_nano,
        name: Cow::Owned(event.name),
        attributes: event
            .attributes
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k), any_value_from_pb(v)))
            .collect(),
    }
}

fn event_to_pb<T: TraceData>(event: &SpanEvent<T>) -> pb::SpanEvent {
    pb::SpanEvent {
        time_unix_nano: event.time_unix_nano,
        name: text(&event.name).to_owned(),
        attributes: event
            .attributes
            .iter()
            .map(|(k, v)| (text(k).to_owned(), any_value_to_pb(v)))
            .collect(),
    }
}

/// The protobuf attribute types (`AttributeAnyValue.type`).
const STRING_VALUE: i32 = 0;
const BOOL_VALUE: i32 = 1;
const INT_VALUE: i32 = 2;
const DOUBLE_VALUE: i32 = 3;
const ARRAY_VALUE: i32 = 4;

/// A span event attribute by its declared type; a type the protocol does not define reads as its string.
fn any_value_from_pb<'a>(value: pb::AttributeAnyValue) -> AttributeAnyValue<SliceData<'a>> {
    if value.r#type == ARRAY_VALUE {
        let values = value.array_value.map(|array| array.values).unwrap_or_default();
        return AttributeAnyValue::Array(
            values
                .into_iter()
                .map(|v| {
                    array_value_from_pb(
                        v.r#type,
                        v.string_value,
                        v.bool_value,
                        v.int_value,
                        v.double_value,
                    )
                })
                .collect(),
        );
    }
    AttributeAnyValue::SingleValue(array_value_from_pb(
        value.r#type,
        value.string_value,
        value.bool_value,
        value.int_value,
        value.double_value,
    ))
}

fn array_value_from_pb<'a>(
    kind: i32,
    string: String,
    boolean: bool,
    int: i64,
    double: f64,
) -> AttributeArrayValue<SliceData<'a>> {
    match kind {
        BOOL_VALUE => AttributeArrayValue::Boolean(boolean),
        INT_VALUE => AttributeArrayValue::Integer(int),
        DOUBLE_VALUE => AttributeArrayValue::Double(double),
        _ => AttributeArrayValue::String(Cow::Owned(string)),
    }
}

fn any_value_to_pb<T: TraceData>(value: &AttributeAnyValue<T>) -> pb::AttributeAnyValue {
    match value {
        AttributeAnyValue::SingleValue(single) => {
            let v = array_value_to_pb(single);
            pb::AttributeAnyValue {
                r#type: v.r#type,
                string_value: v.string_value,
                bool_value: v.bool_value,
                int_value: v.int_value,
                double_value: v.double_value,
                array_value: None,
            }
        }
        AttributeAnyValue::Array(values) => pb::AttributeAnyValue {
            r#type: ARRAY_VALUE,
            array_value: Some(pb::AttributeArray {
                values: values.iter().map(array_value_to_pb).collect(),
            }),
            ..pb::AttributeAnyValue::default()
        },
    }
}

fn array_value_to_pb<T: TraceData>(value: &AttributeArrayValue<T>) -> pb::AttributeArrayValue {
    match value {
        AttributeArrayValue::String(s) => pb::AttributeArrayValue {
            r#type: STRING_VALUE,
            string_value: text(s).to_owned(),
            ..pb::AttributeArrayValue::default()
        },
        AttributeArrayValue::Boolean(b) => pb::AttributeArrayValue {
            r#type: BOOL_VALUE,
            bool_value: *b,
            ..pb::AttributeArrayValue::default()
        },
        AttributeArrayValue::Integer(i) => pb::AttributeArrayValue {
            r#type: INT_VALUE,
            int_value: *i,
            ..pb::AttributeArrayValue::default()
        },
        AttributeArrayValue::Double(d) => pb::AttributeArrayValue {
            r#type: DOUBLE_VALUE,
            double_value: *d,
            ..pb::AttributeArrayValue::default()
        },
    }
}

/// Whether `a` and `b` hold the same text. Spans compare many short strings (keys, service names)
/// that are often the very same bytes (a v0.5 string table entry): those are equal at once, and short
/// ones are compared with two loads each instead of a call to libc's `memcmp`.
#[inline]
pub fn same_text(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

/// [`same_text`] for bytes.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if std::ptr::eq(a, b) {
        return true;
    }
    let n = a.len();
    let word = |bytes: &[u8], at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let half = |bytes: &[u8], at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    match n {
        0..=3 => a == b,
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// A cheap fingerprint of `bytes`: their length and first, middle and last bytes. Equal text has equal
/// signatures; different signatures are different text.
#[inline]
pub(crate) fn text_signature(bytes: &[u8]) -> u64 {
    let byte = |at: usize| u64::from(bytes.get(at).copied().unwrap_or(0));
    (bytes.len() as u64) << 24
        | byte(0) << 16
        | byte(bytes.len() / 2) << 8
        | byte(bytes.len().wrapping_sub(1))
}

/// Keeps the last value of every key given twice in `map`, and marks it so. A span's maps hold a few
/// keys: comparing pairs costs less than the hashing of `VecMap::dedup`, up to a point. The pairs
/// compare a short signature of each key first (its length and three of its bytes), read once; only
/// keys with the same signature are compared whole.
pub(crate) fn dedup<K: Eq + Hash + std::borrow::Borrow<str>, V>(map: &mut VecMap<K, V>) {
    const PAIRWISE: usize = 24;
    if map.is_deduped() {
        return;
    }
    let duplicated = map.len() > PAIRWISE || {
        let mut signatures = [0u64; PAIRWISE];
        for (signature, (key, _)) in signatures.iter_mut().zip(map.iter()) {
            *signature = text_signature(key.borrow().as_bytes());
        }
        let signatures = &signatures[..map.len()];
        let keys = map.iter().as_slice();
        (1..signatures.len()).any(|i| {
            (0..i)
                .any(|j| signatures[i] == signatures[j] && same_text(keys[i].0.borrow(), keys[j].0.borrow()))
        })
    };
    if duplicated {
        map.dedup();
    } else {
        map.mark_deduped();
    }
}

fn text<T: std::borrow::Borrow<str>>(value: &T) -> &str {
    value.borrow()
}

// ---------------------------------------------------------------------------------------------------
// Protobuf, written from the borrowed form
// ---------------------------------------------------------------------------------------------------

/// The protobuf `TracerPayload` of `payload`. Maps given a key twice keep its last value, as the
/// decoders (and a `HashMap`) do.
pub fn encode_tracer_payload_ref(payload: &mut TracerPayloadRef<'_>) -> Vec<u8> {
    for chunk in &mut payload.chunks {
        for span in &mut chunk.spans {
            dedup(&mut span.meta);
            dedup(&mut span.metrics);
            dedup(&mut span.meta_struct);
        }
    }
    let payload = &*payload;
    // Spans are written once, their length prefixes filled in after (see `nested`); the buffer starts
    // at a typical span's size so it seldom grows.
    let spans: usize = payload.chunks.iter().map(|chunk| chunk.spans.len()).sum();
    let mut out = Vec::with_capacity(256 + spans * TYPICAL_SPAN_BYTES);
    string_field(1, payload.container_id.as_bytes(), &mut out);
    string_field(2, payload.language_name.as_bytes(), &mut out);
    string_field(3, payload.language_version.as_bytes(), &mut out);
    string_field(4, payload.tracer_version.as_bytes(), &mut out);
    string_field(5, payload.runtime_id.as_bytes(), &mut out);
    for chunk in &payload.chunks {
        nested(6, &mut out, |out| write_chunk(chunk, out));
    }
    for (k, v) in &payload.tags {
        string_entry(7, k.as_bytes(), v.as_bytes(), &mut out);
    }
    string_field(8, payload.env.as_bytes(), &mut out);
    string_field(9, payload.hostname.as_bytes(), &mut out);
    string_field(10, payload.app_version.as_bytes(), &mut out);
    out
}

fn write_chunk(chunk: &TraceChunkRef<'_>, out: &mut Vec<u8>) {
    int_field(1, i64::from(chunk.priority), out);
    string_field(2, chunk.origin.as_bytes(), out);
    for span in &chunk.spans {
        nested(3, out, |out| write_span(span, out));
    }
    for (k, v) in &chunk.tags {
        string_entry(4, k.as_bytes(), v.as_bytes(), out);
    }
    if chunk.dropped_trace {
        put_key(5, WireType::Varint, out);
        out.push(1);
    }
}

fn write_span(span: &SpanSlice<'_>, out: &mut Vec<u8>) {
    string_field(1, span.service.as_bytes(), out);
    string_field(2, span.name.as_bytes(), out);
    string_field(3, span.resource.as_bytes(), out);
    uint_field(4, span.trace_id as u64, out);
    uint_field(5, span.span_id, out);
    uint_field(6, span.parent_id, out);
    int_field(7, span.start, out);
    int_field(8, span.duration, out);
    int_field(9, i64::from(span.error), out);
    for (k, v) in span.meta.iter() {
        string_entry(10, k.as_bytes(), v.as_bytes(), out);
    }
    for (k, v) in span.metrics.iter() {
        double_entry(11, k.as_bytes(), *v, out);
    }
    string_field(12, span.r#type.as_bytes(), out);
    for (k, v) in span.meta_struct.iter() {
        string_entry(13, k.as_bytes(), v, out);
    }
    if !span.span_links.is_empty() || !span.span_events.is_empty() {
        // Links and events are rare: written through their protobuf messages.
        for link in &span.span_links {
            prost::encoding::message::encode(14, &link_to_pb(link), out);
        }
        for event in &span.span_events {
            prost::encoding::message::encode(15, &event_to_pb(event), out);
        }
    }
}

/// A varint: one byte below 128 (every key here, and most lengths) without prost's general loop.
#[inline]
fn put_varint(value: u64, out: &mut Vec<u8>) {
    if value < 0x80 {
        out.push(value as u8);
    } else {
        encode_varint(value, out);
    }
}

/// A field's key: its tag and wire type.
#[inline]
fn put_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    put_varint(u64::from(tag << 3 | wire_type as u32), out);
}

/// A span of the lab's traces takes a few hundred bytes encoded: the first guess of the buffer's size.
const TYPICAL_SPAN_BYTES: usize = 320;

/// Writes a length-delimited field whose body `write` appends, the length written in front after it:
/// two bytes are set aside (a span, or a chunk of a few spans, takes 128 B to 16 KiB), and the body is
/// moved in the rare case its length takes one byte or more than two. The encoding stays canonical.
fn nested(tag: u32, out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    const SET_ASIDE: usize = 2;
    put_key(tag, WireType::LengthDelimited, out);
    let at = out.len();
    out.extend_from_slice(&[0; SET_ASIDE]);
    write(out);
    let len = out.len() - at - SET_ASIDE;
    let width = encoded_len_varint(len as u64);
    if width < SET_ASIDE {
        out.copy_within(at + SET_ASIDE.., at + width);
        out.truncate(at + width + len);
    } else if width > SET_ASIDE {
        out.resize(at + width + len, 0);
        out.copy_within(at + SET_ASIDE..at + SET_ASIDE + len, at + width);
    }
    encode_varint(len as u64, &mut &mut out[at..at + width]);
}

/// A length-delimited field's key and length.
fn message_header(tag: u32, len: usize, out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(len as u64, out);
}

fn message_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A string or bytes field; proto3 leaves out the empty value.
fn string_field(tag: u32, value: &[u8], out: &mut Vec<u8>) {
    if value.is_empty() {
        return;
    }
    message_header(tag, value.len(), out);
    out.extend_from_slice(value);
}

fn string_len(tag: u32, value: &[u8]) -> usize {
    if value.is_empty() {
        0
    } else {
        message_len(tag, value.len())
    }
}

/// An int32 or int64 field: negative values take ten bytes, as protobuf sign-extends them.
fn int_field(tag: u32, value: i64, out: &mut Vec<u8>) {
    uint_field(tag, value as u64, out);
}

fn uint_field(tag: u32, value: u64, out: &mut Vec<u8>) {
    if value == 0 {
        return;
    }
    put_key(tag, WireType::Varint, out);
    put_varint(value, out);
}

/// A `map<string, string>` (or `map<string, bytes>`) entry: a message of key 1 and value 2, each left
/// out when empty, as prost writes them.
fn string_entry(tag: u32, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    message_header(tag, string_len(1, key) + string_len(2, value), out);
    string_field(1, key, out);
    string_field(2, value, out);
}

/// A `map<string, double>` entry; a zero value is left out, as prost writes it.
fn double_entry(tag: u32, key: &[u8], value: f64, out: &mut Vec<u8>) {
    message_header(tag, string_len(1, key) + double_len(value), out);
    string_field(1, key, out);
    if value != 0.0 {
        put_key(2, WireType::SixtyFourBit, out);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

fn double_len(value: f64) -> usize {
    if value == 0.0 { 0 } else { 9 }
}
