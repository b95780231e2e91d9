//! The trace-agent's normalisation of received traces (`pkg/trace/agent/normalizer.go` and
//! `truncator.go`), with a count of every repair so the agent can report them.
//!
//! A trace is dropped whole when it is empty, when a span has a zero trace or span id, or when a span
//! belongs to another trace. Everything else is repaired, never dropped:
//!
//! | field | rule |
//! | --- | --- |
//! | service | empty: `unnamed-<lang>-service` (`unnamed-service` without a language); cut to 100 bytes; Datadog's tag rules (libdatadog's normaliser) |
//! | name | empty or nothing valid left: `unnamed_operation`; cut to 100 bytes; metric-name rules |
//! | resource | empty: the name; cut to 5000 bytes |
//! | parent_id | equal to both trace and span id: 0 (a root, in Zipkin's convention) |
//! | duration | negative, or start + duration overflowing: 0 |
//! | start | before 2000-01-01: `now - duration` (or `now`) |
//! | type | cut to 100 bytes |
//! | `meta.env` | Datadog's tag rules |
//! | `meta["http.status_code"]` | removed unless an integer in 100..600 |
//! | meta and metrics keys | longer than 200 bytes: cut, `...` appended |
//! | meta values | longer than 25000 bytes: cut, `...` appended |
//!
//! Time comes in as `now` (Unix nanoseconds): nothing here reads a clock.
//!
//! [`compute_top_level`] marks top-level spans as libdatadog's `compute_top_level_span` does.

use std::borrow::Cow;
use std::collections::HashSet;

use libdd_trace_normalization::normalize_utils::{normalize_name, normalize_tag};
use libdd_trace_utils::span::trace_utils::compute_top_level_span;

use super::borrowed::{SpanSlice, TraceChunkRef, same_text, span_from_pb, span_to_pb};
use super::pb;

/// The longest service, in bytes.
pub const MAX_SERVICE_LEN: usize = 100;
/// The longest span name, in bytes.
pub const MAX_NAME_LEN: usize = 100;
/// The longest span type, in bytes.
pub const MAX_TYPE_LEN: usize = 100;
/// The longest resource, in bytes.
pub const MAX_RESOURCE_LEN: usize = 5000;
/// The longest meta or metrics key, in bytes (before `...` is appended).
pub const MAX_META_KEY_LEN: usize = 200;
/// The longest meta value, in bytes (before `...` is appended).
pub const MAX_META_VALUE_LEN: usize = 25_000;
/// What a span without a usable name is called.
pub const DEFAULT_SPAN_NAME: &str = "unnamed_operation";
/// The service of spans without one, when the tracer's language is unknown.
pub const DEFAULT_SERVICE_NAME: &str = "unnamed-service";
/// 2000-01-01T00:00:00Z in Unix nanoseconds: earlier starts are taken as a unit mistake.
const YEAR_2000_NS: i64 = 946_684_800_000_000_000;
/// The metric the agent sets on the top-level spans it finds.
const TOP_LEVEL: &str = "_top_level";
/// Chunks up to this many spans find parents by scanning; larger ones go through libdatadog's map.
const TOP_LEVEL_SCAN: usize = 32;

/// Marks the top-level spans of one chunk with `_top_level: 1`, as libdatadog's
/// `compute_top_level_span` does: a root, a span whose parent is not in the chunk, or a span whose
/// parent belongs to another service. A chunk of a few spans (what tracers send) finds each parent by a
/// scan rather than through a hash map; as in the map, of spans sharing an id the last one is the parent.
pub fn compute_top_level(spans: &mut [SpanSlice<'_>]) {
    if spans.len() > TOP_LEVEL_SCAN {
        compute_top_level_span(spans);
        return;
    }
    for index in 0..spans.len() {
        let span = &spans[index];
        let top_level = span.parent_id == 0
            || spans
                .iter()
                .rposition(|parent| parent.span_id == span.parent_id)
                .is_none_or(|parent| !same_text(&spans[parent].service, &span.service));
        if top_level {
            spans[index].metrics.insert(Cow::Borrowed(TOP_LEVEL), 1.0);
        }
    }
}

/// Why a trace was dropped, with the trace-agent's reason tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceDrop {
    /// `empty_trace`
    EmptyTrace,
    /// `trace_id_zero`
    TraceIdZero,
    /// `span_id_zero`
    SpanIdZero,
    /// `foreign_span`: a span whose trace id differs from the first span's.
    ForeignSpan,
}

impl TraceDrop {
    /// The trace-agent's `reason:` tag.
    pub fn reason(self) -> &'static str {
        match self {
            TraceDrop::EmptyTrace => "empty_trace",
            TraceDrop::TraceIdZero => "trace_id_zero",
            TraceDrop::SpanIdZero => "span_id_zero",
            TraceDrop::ForeignSpan => "foreign_span",
        }
    }
}

/// How many spans needed each repair, named after the trace-agent's `SpansMalformed` counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanRepairs {
    pub duplicate_span_id: u64,
    pub service_empty: u64,
    pub service_truncate: u64,
    pub service_invalid: u64,
    pub span_name_empty: u64,
    pub span_name_truncate: u64,
    pub span_name_invalid: u64,
    pub resource_empty: u64,
    pub resource_truncate: u64,
    pub type_truncate: u64,
    pub invalid_start_date: u64,
    pub invalid_duration: u64,
    pub invalid_http_status_code: u64,
    pub meta_truncate: u64,
    pub metrics_truncate: u64,
}

impl SpanRepairs {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &SpanRepairs) {
        self.duplicate_span_id += other.duplicate_span_id;
        self.service_empty += other.service_empty;
        self.service_truncate += other.service_truncate;
        self.service_invalid += other.service_invalid;
        self.span_name_empty += other.span_name_empty;
        self.span_name_truncate += other.span_name_truncate;
        self.span_name_invalid += other.span_name_invalid;
        self.resource_empty += other.resource_empty;
        self.resource_truncate += other.resource_truncate;
        self.type_truncate += other.type_truncate;
        self.invalid_start_date += other.invalid_start_date;
        self.invalid_duration += other.invalid_duration;
        self.invalid_http_status_code += other.invalid_http_status_code;
        self.meta_truncate += other.meta_truncate;
        self.metrics_truncate += other.metrics_truncate;
    }

    /// The total number of repairs.
    pub fn total(&self) -> u64 {
        self.duplicate_span_id
            + self.service_empty
            + self.service_truncate
            + self.service_invalid
            + self.span_name_empty
            + self.span_name_truncate
            + self.span_name_invalid
            + self.resource_empty
            + self.resource_truncate
            + self.type_truncate
            + self.invalid_start_date
            + self.invalid_duration
            + self.invalid_http_status_code
            + self.meta_truncate
            + self.metrics_truncate
    }
}

/// Normalises the spans of one trace in place, counting repairs into `repairs`. `lang` is the tracer's
/// language (`Datadog-Meta-Lang`), used for the fallback service; `now` is Unix nanoseconds.
pub fn normalize_trace(
    spans: &mut [pb::Span],
    lang: &str,
    now: i64,
    repairs: &mut SpanRepairs,
) -> Result<(), TraceDrop> {
    // One implementation, the borrowed one: the spans go through it and back. Structured meta is
    // left alone by normalisation, and an owned span could not lend it, so it waits aside.
    let mut borrowed: Vec<SpanSlice<'_>> = Vec::with_capacity(spans.len());
    let mut meta_structs = Vec::with_capacity(spans.len());
    for span in spans.iter_mut() {
        meta_structs.push(std::mem::take(&mut span.meta_struct));
        borrowed.push(span_from_pb(std::mem::take(span)));
    }
    let result = normalize_trace_ref(&mut borrowed, lang, now, repairs, &mut String::new());
    for ((span, normalized), meta_struct) in spans.iter_mut().zip(&borrowed).zip(meta_structs) {
        *span = span_to_pb(normalized);
        span.meta_struct = meta_struct;
    }
    result
}

/// [`normalize_trace`] on spans that borrow from the body: a field that needs no repair stays
/// borrowed. `scratch` is working space, kept by the caller between calls.
pub fn normalize_trace_ref(
    spans: &mut [SpanSlice<'_>],
    lang: &str,
    now: i64,
    repairs: &mut SpanRepairs,
    scratch: &mut String,
) -> Result<(), TraceDrop> {
    let first = spans.first().ok_or(TraceDrop::EmptyTrace)?.trace_id;
    // The whole trace is checked before any span is touched: a dropped trace counts no repairs.
    for span in spans.iter() {
        if span.trace_id == 0 {
            return Err(TraceDrop::TraceIdZero);
        }
        if span.span_id == 0 {
            return Err(TraceDrop::SpanIdZero);
        }
        if span.trace_id != first {
            return Err(TraceDrop::ForeignSpan);
        }
    }
    repairs.duplicate_span_id += duplicate_span_ids(spans);
    for span in spans.iter_mut() {
        normalize_span(span, lang, now, repairs, scratch);
    }
    Ok(())
}

/// Spans whose id an earlier span of the trace already has.
fn duplicate_span_ids(spans: &[SpanSlice<'_>]) -> u64 {
    // Comparing pairs costs less than hashing for the few spans of most chunks.
    const PAIRWISE: usize = 32;
    if spans.len() <= PAIRWISE {
        return spans
            .iter()
            .enumerate()
            .filter(|(i, span)| spans[..*i].iter().any(|earlier| earlier.span_id == span.span_id))
            .count() as u64;
    }
    let mut ids = HashSet::with_capacity(spans.len());
    spans.iter().filter(|span| !ids.insert(span.span_id)).count() as u64
}

/// Fills a chunk's priority and origin from its root span (index `root`) when the tracer sent none, as
/// older tracers put them on the root's `_sampling_priority_v1` metric and `_dd.origin` meta (the
/// priority of another span when the root has none), as libdatadog's `normalize_chunk` does.
pub fn normalize_chunk(chunk: &mut TraceChunkRef<'_>, root: usize) {
    let Some(root_span) = chunk.spans.get(root) else {
        return;
    };
    if chunk.priority == PRIORITY_NONE {
        let priority = root_span.metrics.get(SAMPLING_PRIORITY).or_else(|| {
            chunk
                .spans
                .iter()
                .find_map(|span| span.metrics.get(SAMPLING_PRIORITY))
        });
        if let Some(priority) = priority {
            chunk.priority = *priority as i32;
        }
    }
    if chunk.origin.is_empty()
        && let Some(origin) = root_span.meta.get(ORIGIN)
    {
        chunk.origin = origin.clone();
    }
}

/// The metric older tracers put a trace's sampling priority in, on its root span.
const SAMPLING_PRIORITY: &str = "_sampling_priority_v1";
/// The meta older tracers put a trace's origin in, on its root span.
const ORIGIN: &str = "_dd.origin";

/// A service as the agent normalises it (see the table above), for stats sent without spans.
pub fn service(text: &str, lang: &str) -> String {
    let mut span = SpanSlice {
        service: Cow::Borrowed(text),
        ..SpanSlice::default()
    };
    normalize_span(
        &mut span,
        lang,
        YEAR_2000_NS,
        &mut SpanRepairs::default(),
        &mut String::new(),
    );
    span.service.into_owned()
}

/// A span name as the agent normalises it, for stats sent without spans.
pub fn span_name(text: &str) -> String {
    let mut name = text.to_owned();
    normalize_name(&mut name);
    name
}

/// The chunk priority that says the tracer made no sampling decision (`PriorityNone`).
pub const PRIORITY_NONE: i32 = i8::MIN as i32;

/// The service a span without a usable one gets.
pub fn fallback_service(lang: &str) -> String {
    if lang.is_empty() {
        DEFAULT_SERVICE_NAME.to_owned()
    } else {
        format!("unnamed-{lang}-service")
    }
}

/// Normalises one span whose ids were already checked.
fn normalize_span(
    span: &mut SpanSlice<'_>,
    lang: &str,
    now: i64,
    repairs: &mut SpanRepairs,
    scratch: &mut String,
) {
    // Almost every span's service, name and env are already normal: they are checked in place, and
    // only copied and normalised (libdatadog's rules on a `String`) when the check fails.
    if span.service.is_empty() {
        repairs.service_empty += 1;
        span.service = Cow::Owned(fallback_service(lang));
    } else if !is_normal_tag(&span.service, MAX_SERVICE_LEN) {
        scratch.clear();
        scratch.push_str(&span.service);
        if scratch.len() > MAX_SERVICE_LEN {
            repairs.service_truncate += 1;
            truncate_utf8(scratch, MAX_SERVICE_LEN);
        }
        // libdatadog's `normalize_service` falls back without the language: its tag rule is used
        // directly, and the agent's fallback applied here.
        normalize_tag(scratch);
        if scratch.is_empty() {
            repairs.service_invalid += 1;
            span.service = Cow::Owned(fallback_service(lang));
        } else {
            replace_if_changed(&mut span.service, scratch);
        }
    }

    if !is_normal_name(&span.name) {
        if span.name.is_empty() {
            repairs.span_name_empty += 1;
        } else if span.name.len() > MAX_NAME_LEN {
            repairs.span_name_truncate += 1;
        }
        let had_name = !span.name.is_empty() && span.name != DEFAULT_SPAN_NAME;
        scratch.clear();
        scratch.push_str(&span.name);
        normalize_name(scratch);
        if had_name && scratch == DEFAULT_SPAN_NAME {
            repairs.span_name_invalid += 1;
        }
        replace_if_changed(&mut span.name, scratch);
    }

    if span.resource.is_empty() {
        repairs.resource_empty += 1;
        span.resource = span.name.clone();
    } else if span.resource.len() > MAX_RESOURCE_LEN {
        repairs.resource_truncate += 1;
        truncate_utf8(span.resource.to_mut(), MAX_RESOURCE_LEN);
    }

    if u128::from(span.parent_id) == span.trace_id && span.parent_id == span.span_id {
        span.parent_id = 0;
    }

    if span.duration < 0 || span.start.checked_add(span.duration).is_none() {
        repairs.invalid_duration += 1;
        span.duration = 0;
    }
    if span.start < YEAR_2000_NS {
        repairs.invalid_start_date += 1;
        span.start = now.saturating_sub(span.duration);
        if span.start < 0 {
            span.start = now;
        }
    }

    if span.r#type.len() > MAX_TYPE_LEN {
        repairs.type_truncate += 1;
        truncate_utf8(span.r#type.to_mut(), MAX_TYPE_LEN);
    }

    if let Some(env) = span
        .meta
        .get_mut("env")
        .filter(|env| !is_normal_tag(env, MAX_TAG_LEN))
    {
        scratch.clear();
        scratch.push_str(env);
        normalize_tag(scratch);
        replace_if_changed(env, scratch);
    }
    if span
        .meta
        .get("http.status_code")
        .is_some_and(|code| !valid_http_status_code(code))
    {
        repairs.invalid_http_status_code += 1;
        span.meta.remove("http.status_code");
    }

    truncate_meta(span, repairs);
}

/// The longest tag, in characters, that libdatadog's `normalize_tag` leaves whole.
pub(crate) const MAX_TAG_LEN: usize = 200;

/// Whether libdatadog's `normalize_tag` leaves `tag` as it is, cut at `max_len` bytes: ASCII that
/// starts with a letter or `:`, holds only lowercase letters, digits and `:./-_`, with no `_` doubled
/// or last. A `false` only means the full normalisation runs (it also accepts other text unchanged).
pub(crate) fn is_normal_tag(tag: &str, max_len: usize) -> bool {
    let bytes = tag.as_bytes();
    let plain = |b: u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b':' | b'.' | b'/' | b'-');
    bytes.len() <= max_len
        && matches!(bytes.first(), Some(b'a'..=b'z' | b':'))
        && bytes.last() != Some(&b'_')
        && bytes.iter().all(|&b| plain(b) || b == b'_')
        && !tag.contains("__")
}

/// Whether libdatadog's `normalize_name` leaves `name` as it is: ASCII of at most [`MAX_NAME_LEN`]
/// bytes that starts with a letter, holds only letters, digits, `.` and `_`, never two of `._` in a
/// row, and does not end with `_`.
pub(crate) fn is_normal_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let separator = |b: u8| b == b'.' || b == b'_';
    bytes.len() <= MAX_NAME_LEN
        && bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.last() != Some(&b'_')
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || separator(b))
        && !bytes
            .windows(2)
            .any(|pair| separator(pair[0]) && separator(pair[1]))
}

/// Puts `normalized` in `field` when it differs, so a field already normal stays borrowed.
fn replace_if_changed(field: &mut Cow<'_, str>, normalized: &str) {
    if field.as_ref() != normalized {
        *field = Cow::Owned(normalized.to_owned());
    }
}

/// The agent's truncator for meta and metrics.
fn truncate_meta(span: &mut SpanSlice<'_>, repairs: &mut SpanRepairs) {
    let long_meta = |key: &str, value: &str| key.len() > MAX_META_KEY_LEN || value.len() > MAX_META_VALUE_LEN;
    if span.meta.iter().any(|(key, value)| long_meta(key, value)) {
        span.meta.dedup();
        let entries: Vec<_> = span.meta.drain(..).collect();
        for (mut key, mut value) in entries {
            if long_meta(&key, &value) {
                cut_marked(&mut key, MAX_META_KEY_LEN);
                cut_marked(&mut value, MAX_META_VALUE_LEN);
                repairs.meta_truncate += 1;
            }
            span.meta.insert(key, value);
        }
        // A cut key may now equal another: the last one wins, as in a map.
        span.meta.dedup();
    }
    if span.metrics.iter().any(|(key, _)| key.len() > MAX_META_KEY_LEN) {
        span.metrics.dedup();
        let entries: Vec<_> = span.metrics.drain(..).collect();
        for (mut key, value) in entries {
            if cut_marked(&mut key, MAX_META_KEY_LEN) {
                repairs.metrics_truncate += 1;
            }
            span.metrics.insert(key, value);
        }
        span.metrics.dedup();
    }
}

/// Cuts `text` to `max` bytes and appends `...` when it is longer, as the trace-agent's truncator marks
/// a cut key or value; whether it was cut.
fn cut_marked(text: &mut Cow<'_, str>, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let text = text.to_mut();
    truncate_utf8(text, max);
    text.push_str("...");
    true
}

/// An HTTP status code the agent keeps: an integer from 100 to 599.
pub fn valid_http_status_code(code: &str) -> bool {
    code.parse::<i64>().is_ok_and(|code| (100..600).contains(&code))
}

/// Cuts `text` to at most `max` bytes without splitting a character.
pub fn truncate_utf8(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// Datadog's tag normalisation (lowercase, `[a-z0-9_:./-]`, runs of `_` merged, at most 200 characters),
/// as the trace-agent applies it to `env` and the backend to trace metric tags.
pub fn tag(text: &str) -> String {
    let mut tag = text.to_owned();
    normalize_tag(&mut tag);
    tag
}
