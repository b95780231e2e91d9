//! Encoders of the tracers' bodies, `/v0.4/traces` and `/v0.5/traces`, written the way ddtrace writes
//! them: for tests, benchmarks and anything in the lab that plays a tracer.

use std::collections::HashMap;
use std::convert::Infallible;

use rmp::encode::{ByteBuf, ValueWriteError};

use super::pb;

/// `/v0.4/traces`: an array of traces, each an array of span maps.
pub fn encode_v04(traces: &[Vec<pb::Span>]) -> Vec<u8> {
    let mut out = Writer::default();
    out.array(traces.len());
    for trace in traces {
        out.array(trace.len());
        for span in trace {
            v04_span(&mut out, span);
        }
    }
    out.into_vec()
}

/// `/v0.5/traces`: `[string_table, traces]`, with `""` first in the table as tracers put it.
pub fn encode_v05(traces: &[Vec<pb::Span>]) -> Vec<u8> {
    let mut table = StringTable::default();
    table.index("");
    let mut body = Writer::default();
    body.array(traces.len());
    for trace in traces {
        body.array(trace.len());
        for span in trace {
            body.array(12);
            body.uint(table.index(&span.service));
            body.uint(table.index(&span.name));
            body.uint(table.index(&span.resource));
            body.uint(span.trace_id);
            body.uint(span.span_id);
            body.uint(span.parent_id);
            body.sint(span.start);
            body.sint(span.duration);
            body.sint(i64::from(span.error));
            body.map(span.meta.len());
            for (key, value) in sorted(&span.meta) {
                body.uint(table.index(key));
                body.uint(table.index(value));
            }
            body.map(span.metrics.len());
            for (key, value) in sorted(&span.metrics) {
                body.uint(table.index(key));
                body.f64(*value);
            }
            body.uint(table.index(&span.r#type));
        }
    }
    let mut out = Writer::default();
    out.array(2);
    out.array(table.strings.len());
    for string in &table.strings {
        out.str(string);
    }
    let mut bytes = out.into_vec();
    bytes.extend(body.into_vec());
    bytes
}

fn v04_span(out: &mut Writer, span: &pb::Span) {
    let mut fields = 12;
    fields += usize::from(!span.meta_struct.is_empty());
    fields += usize::from(!span.span_links.is_empty());
    fields += usize::from(!span.span_events.is_empty());
    out.map(fields);
    out.str("service");
    out.str(&span.service);
    out.str("name");
    out.str(&span.name);
    out.str("resource");
    out.str(&span.resource);
    out.str("trace_id");
    out.uint(span.trace_id);
    out.str("span_id");
    out.uint(span.span_id);
    out.str("parent_id");
    out.uint(span.parent_id);
    out.str("start");
    out.sint(span.start);
    out.str("duration");
    out.sint(span.duration);
    out.str("error");
    out.sint(i64::from(span.error));
    out.str("meta");
    out.map(span.meta.len());
    for (key, value) in sorted(&span.meta) {
        out.str(key);
        out.str(value);
    }
    out.str("metrics");
    out.map(span.metrics.len());
    for (key, value) in sorted(&span.metrics) {
        out.str(key);
        out.f64(*value);
    }
    out.str("type");
    out.str(&span.r#type);
    if !span.meta_struct.is_empty() {
        out.str("meta_struct");
        out.map(span.meta_struct.len());
        for (key, value) in sorted(&span.meta_struct) {
            out.str(key);
            out.bin(value);
        }
    }
    if !span.span_links.is_empty() {
        out.str("span_links");
        out.array(span.span_links.len());
        for link in &span.span_links {
            out.map(6);
            out.str("trace_id");
            out.uint(link.trace_id);
            out.str("trace_id_high");
            out.uint(link.trace_id_high);
            out.str("span_id");
            out.uint(link.span_id);
            out.str("attributes");
            out.map(link.attributes.len());
            for (key, value) in sorted(&link.attributes) {
                out.str(key);
                out.str(value);
            }
            out.str("tracestate");
            out.str(&link.tracestate);
            out.str("flags");
            out.uint(u64::from(link.flags));
        }
    }
    if !span.span_events.is_empty() {
        out.str("span_events");
        out.array(span.span_events.len());
        for event in &span.span_events {
            out.map(3);
            out.str("time_unix_nano");
            out.uint(event.time_unix_nano);
            out.str("name");
            out.str(&event.name);
            out.str("attributes");
            out.map(event.attributes.len());
            for (key, value) in sorted(&event.attributes) {
                out.str(key);
                any_value(out, value);
            }
        }
    }
}

fn any_value(out: &mut Writer, value: &pb::AttributeAnyValue) {
    out.map(6);
    out.str("type");
    out.sint(i64::from(value.r#type));
    out.str("string_value");
    out.str(&value.string_value);
    out.str("bool_value");
    out.bool(value.bool_value);
    out.str("int_value");
    out.sint(value.int_value);
    out.str("double_value");
    out.f64(value.double_value);
    out.str("array_value");
    match &value.array_value {
        None => out.nil(),
        Some(array) => {
            out.map(1);
            out.str("values");
            out.array(array.values.len());
            for item in &array.values {
                out.map(5);
                out.str("type");
                out.sint(i64::from(item.r#type));
                out.str("string_value");
                out.str(&item.string_value);
                out.str("bool_value");
                out.bool(item.bool_value);
                out.str("int_value");
                out.sint(item.int_value);
                out.str("double_value");
                out.f64(item.double_value);
            }
        }
    }
}

/// Map entries in key order, so equal spans encode to equal bytes.
fn sorted<V>(map: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The v0.5 string table: each distinct string once, in order of first use.
#[derive(Default)]
struct StringTable {
    strings: Vec<String>,
    indexes: HashMap<String, u64>,
}

impl StringTable {
    fn index(&mut self, text: &str) -> u64 {
        if let Some(&index) = self.indexes.get(text) {
            return index;
        }
        let index = self.strings.len() as u64;
        self.strings.push(text.to_owned());
        self.indexes.insert(text.to_owned(), index);
        index
    }
}

/// msgpack into memory, where writes cannot fail.
#[derive(Default)]
struct Writer(ByteBuf);

impl Writer {
    fn into_vec(self) -> Vec<u8> {
        self.0.into_vec()
    }

    fn array(&mut self, len: usize) {
        absorb(rmp::encode::write_array_len(&mut self.0, length(len)));
    }

    fn map(&mut self, len: usize) {
        absorb(rmp::encode::write_map_len(&mut self.0, length(len)));
    }

    fn str(&mut self, text: &str) {
        absorb(rmp::encode::write_str(&mut self.0, text));
    }

    fn bin(&mut self, bytes: &[u8]) {
        absorb(rmp::encode::write_bin(&mut self.0, bytes));
    }

    fn uint(&mut self, value: u64) {
        absorb(rmp::encode::write_uint(&mut self.0, value));
    }

    fn sint(&mut self, value: i64) {
        absorb(rmp::encode::write_sint(&mut self.0, value));
    }

    fn f64(&mut self, value: f64) {
        absorb(rmp::encode::write_f64(&mut self.0, value));
    }

    fn bool(&mut self, value: bool) {
        match rmp::encode::write_bool(&mut self.0, value) {
            Ok(()) => {}
            Err(never) => match never {},
        }
    }

    fn nil(&mut self) {
        match rmp::encode::write_nil(&mut self.0) {
            Ok(()) => {}
            Err(never) => match never {},
        }
    }
}

/// A msgpack length; no body this crate writes comes near 2^32 elements.
fn length(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn absorb<T>(result: Result<T, ValueWriteError<Infallible>>) {
    match result {
        Ok(_) => {}
        Err(ValueWriteError::InvalidMarkerWrite(never) | ValueWriteError::InvalidDataWrite(never)) => {
            match never {}
        }
    }
}
