//! APM in the backend, as pure functions the HTTP handlers call: what the trace intake stores
//! ([`spans_of`], [`stats_rows`]), the trace metrics derived from stats ([`metrics`]), the span search
//! syntax ([`search`]), the spans API's answer shape ([`span_json`]) and the service and resource
//! summaries the APM pages show ([`services`], [`resources`]).

pub(crate) mod metrics;
pub(crate) mod search;
pub(crate) mod time;

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ddlab_store::{NewSpan, SpanCursor, StoredSpan, TraceStatsRow};
use ddlab_wire::WireError;
use ddlab_wire::trace::normalize;
use ddlab_wire::trace::pb;
use ddlab_wire::trace::sketch::LatencySketch;
use serde_json::{Map, Value, json};

use metrics::Latency;

/// The spans of an `AgentPayload`, with the env, version and host each one belongs to.
pub(crate) fn spans_of(payload: &pb::AgentPayload) -> Vec<NewSpan> {
    let mut spans = Vec::new();
    for tracer in &payload.tracer_payloads {
        let host = first_set(&[&tracer.hostname, &payload.host_name]);
        for chunk in &tracer.chunks {
            for span in &chunk.spans {
                let meta = |key: &str| span.meta.get(key).map(String::as_str).unwrap_or_default();
                let top_level = ["_top_level", "_dd.top_level"]
                    .iter()
                    .any(|key| span.metrics.get(*key) == Some(&1.0));
                spans.push(NewSpan {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_id: span.parent_id,
                    service: span.service.clone(),
                    name: span.name.clone(),
                    resource: span.resource.clone(),
                    span_type: span.r#type.clone(),
                    env: first_set(&[meta("env"), &tracer.env, &payload.env]),
                    version: first_set(&[meta("version"), &tracer.app_version]),
                    host: host.clone(),
                    start: span.start,
                    duration: span.duration,
                    error: span.error != 0,
                    top_level,
                    meta: span.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    metrics: span.metrics.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                    extra: extra(span),
                });
            }
        }
    }
    spans
}

fn first_set(values: &[&str]) -> String {
    values
        .iter()
        .find(|v| !v.is_empty())
        .map(|v| (*v).to_owned())
        .unwrap_or_default()
}

/// Span links, span events and the keys of `meta_struct`, when the span has any.
fn extra(span: &pb::Span) -> Value {
    let mut extra = Map::new();
    if !span.span_links.is_empty() {
        let links: Vec<Value> = span
            .span_links
            .iter()
            .map(|link| {
                json!({
                    "trace_id": link.trace_id.to_string(),
                    "trace_id_high": link.trace_id_high.to_string(),
                    "span_id": link.span_id.to_string(),
                    "attributes": link.attributes,
                    "tracestate": link.tracestate,
                    "flags": link.flags,
                })
            })
            .collect();
        extra.insert("span_links".to_owned(), Value::from(links));
    }
    if !span.span_events.is_empty() {
        let events: Vec<Value> = span
            .span_events
            .iter()
            .map(|event| {
                let attributes: Map<String, Value> = event
                    .attributes
                    .iter()
                    .map(|(key, value)| (key.clone(), any_value(value)))
                    .collect();
                json!({
                    "time_unix_nano": event.time_unix_nano,
                    "name": event.name,
                    "attributes": attributes,
                })
            })
            .collect();
        extra.insert("span_events".to_owned(), Value::from(events));
    }
    if !span.meta_struct.is_empty() {
        let mut keys: Vec<&String> = span.meta_struct.keys().collect();
        keys.sort();
        extra.insert("meta_struct_keys".to_owned(), json!(keys));
    }
    if extra.is_empty() {
        Value::Null
    } else {
        Value::Object(extra)
    }
}

fn any_value(value: &pb::AttributeAnyValue) -> Value {
    match value.r#type {
        1 => Value::from(value.bool_value),
        2 => Value::from(value.int_value),
        3 => Value::from(value.double_value),
        4 => Value::from(
            value
                .array_value
                .as_ref()
                .map(|array| {
                    array
                        .values
                        .iter()
                        .map(|item| match item.r#type {
                            1 => Value::from(item.bool_value),
                            2 => Value::from(item.int_value),
                            3 => Value::from(item.double_value),
                            _ => Value::from(item.string_value.clone()),
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        ),
        _ => Value::from(value.string_value.clone()),
    }
}

/// The stats rows of a `StatsPayload`, with each bucket's host and env filled from the agent's. A
/// latency summary that is not a DDSketch refuses the payload.
pub(crate) fn stats_rows(payload: &pb::StatsPayload) -> Result<Vec<TraceStatsRow>, WireError> {
    let mut rows = Vec::new();
    for client in &payload.stats {
        let host = first_set(&[&client.hostname, &payload.agent_hostname]);
        let env = normalize::tag(&first_set(&[&client.env, &payload.agent_env]));
        for bucket in &client.stats {
            let start = i64::try_from(bucket.start / 1_000_000_000).unwrap_or(i64::MAX);
            let length = i64::try_from(bucket.duration / 1_000_000_000).unwrap_or(0).max(1);
            for group in &bucket.stats {
                for summary in [&group.ok_summary, &group.error_summary] {
                    LatencySketch::decode(summary)?;
                }
                let name = normalize::span_name(&group.name);
                rows.push(TraceStatsRow {
                    bucket: start,
                    bucket_duration: length,
                    host: host.clone(),
                    env: env.clone(),
                    version: client.version.clone(),
                    service: normalize::service(&group.service, &client.lang),
                    resource: if group.resource.is_empty() {
                        name.clone()
                    } else {
                        group.resource.clone()
                    },
                    name,
                    http_status_code: group.http_status_code,
                    span_type: group.r#type.clone(),
                    hits: group.hits as f64,
                    errors: group.errors as f64,
                    duration: group.duration as f64,
                    top_level_hits: group.top_level_hits as f64,
                    ok_summary: group.ok_summary.clone(),
                    error_summary: group.error_summary.clone(),
                });
            }
        }
    }
    Ok(rows)
}

/// The opaque cursor of the spans API (`meta.page.after`), shaped like Datadog's (base64 of JSON).
pub(crate) fn encode_cursor(cursor: SpanCursor) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "after": [cursor.start, cursor.id] }).to_string())
}

pub(crate) fn decode_cursor(text: &str) -> Option<SpanCursor> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let after = value.get("after")?.as_array()?;
    Some(SpanCursor {
        start: after.first()?.as_i64()?,
        id: after.get(1)?.as_i64()?,
    })
}

/// One span as the spans API answers it: ids as decimal strings, span tags and metrics under `custom`
/// (split on dots into objects), the duration in nanoseconds.
pub(crate) fn span_json(stored: &StoredSpan) -> Value {
    let span = &stored.span;
    let mut custom = Map::new();
    for (key, value) in &span.meta {
        insert_path(&mut custom, key, Value::from(value.clone()));
    }
    for (key, value) in &span.metrics {
        let number = serde_json::Number::from_f64(*value).map_or(Value::Null, Value::Number);
        insert_path(&mut custom, key, number);
    }
    custom.insert("duration".to_owned(), Value::from(span.duration));
    let mut tags = Vec::new();
    for (key, value) in [
        ("env", &span.env),
        ("service", &span.service),
        ("version", &span.version),
        ("host", &span.host),
    ] {
        if !value.is_empty() {
            tags.push(normalize::tag(&format!("{key}:{value}")));
        }
    }
    let mut id = span.trace_id.to_be_bytes().to_vec();
    id.extend(span.span_id.to_be_bytes());
    json!({
        "id": URL_SAFE_NO_PAD.encode(id),
        "type": "spans",
        "attributes": {
            "service": span.service,
            "resource_name": span.resource,
            "operation_name": span.name,
            "env": span.env,
            "version": span.version,
            "host": span.host,
            "type": span.span_type,
            "trace_id": span.trace_id.to_string(),
            "span_id": span.span_id.to_string(),
            "parent_id": span.parent_id.to_string(),
            "start_timestamp": time::iso_ms(span.start),
            "end_timestamp": time::iso_ms(span.start.saturating_add(span.duration)),
            "status": if span.error { "error" } else { "ok" },
            "tags": tags,
            "resource_hash": resource_hash(&span.resource),
            "ingestion_reason": "auto",
            "retained_by": "retention_filter",
            "single_span": false,
            "custom": custom,
            "attributes": {},
        }
    })
}

/// Inserts `value` at the dotted `key` (`http.status_code` → `{"http": {"status_code": ...}}`). Nothing
/// is lost when keys collide: a key whose path crosses a value stays flat (`x.y` next to `x`), and a
/// value whose place holds an object goes into that object under the empty key (`a` after `a.b`).
fn insert_path(object: &mut Map<String, Value>, key: &str, value: Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    if parts.iter().any(|part| part.is_empty()) || !path_is_free(object, parents) {
        object.insert(key.to_owned(), value);
        return;
    }
    let mut current = object;
    for part in parents {
        let entry = current
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        current = match entry {
            Value::Object(next) => next,
            // `path_is_free` saw an object or nothing here.
            _ => return,
        };
    }
    match current.get_mut(*last) {
        Some(Value::Object(inner)) => {
            inner.insert(String::new(), value);
        }
        _ => {
            current.insert((*last).to_owned(), value);
        }
    }
}

/// Whether every parent on the path is an object or absent.
fn path_is_free(object: &Map<String, Value>, parents: &[&str]) -> bool {
    let mut current = object;
    for part in parents {
        match current.get(*part) {
            None => return true,
            Some(Value::Object(next)) => current = next,
            Some(_) => return false,
        }
    }
    true
}

/// A stable 64-bit FNV-1a hash of a resource, as hex (Datadog's `resource_hash` is an opaque hash).
fn resource_hash(resource: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in resource.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// One trace of stored spans, for the trace view: spans by start with every field.
pub(crate) fn trace_json(trace_id: u64, spans: &[StoredSpan]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|stored| {
            let span = &stored.span;
            json!({
                "trace_id": span.trace_id.to_string(),
                "span_id": span.span_id.to_string(),
                "parent_id": span.parent_id.to_string(),
                "service": span.service,
                "name": span.name,
                "resource": span.resource,
                "type": span.span_type,
                "env": span.env,
                "version": span.version,
                "host": span.host,
                "start": span.start,
                "duration": span.duration,
                "error": span.error,
                "top_level": span.top_level,
                "meta": span.meta,
                "metrics": span.metrics.iter().map(|(k, v)| {
                    (k.clone(), serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number))
                }).collect::<Map<String, Value>>(),
                "extra": span.extra,
            })
        })
        .collect();
    json!({ "trace_id": trace_id.to_string(), "spans": spans })
}

/// Counts and latency of some stats rows.
#[derive(Debug, Default)]
struct Summary {
    hits: f64,
    errors: f64,
    duration: f64,
    top_level_hits: f64,
    latency: Latency,
}

impl Summary {
    fn add(&mut self, row: &TraceStatsRow) {
        self.hits += row.hits;
        self.errors += row.errors;
        self.duration += row.duration;
        self.top_level_hits += row.top_level_hits;
        self.latency.add(row);
    }

    fn json(&self) -> Value {
        let seconds = |ns: Option<f64>| ns.map(|ns| ns / 1e9);
        json!({
            "hits": self.hits,
            "errors": self.errors,
            "error_rate": if self.hits > 0.0 { self.errors / self.hits } else { 0.0 },
            "duration": {
                "total": self.duration / 1e9,
                "avg": (self.hits > 0.0).then(|| self.duration / self.hits / 1e9),
                "p50": seconds(self.latency.all.quantile(0.5)),
                "p95": seconds(self.latency.all.quantile(0.95)),
                "p99": seconds(self.latency.all.quantile(0.99)),
                "max": seconds(self.latency.all.quantile(1.0)),
            },
            "apdex": self.latency.apdex(),
        })
    }
}

/// The services seen in `rows`, each with its operations (the span names that enter it, top-level) and
/// the totals of its main operation (the one with the most top-level hits), for the services page.
pub(crate) fn services(rows: &[TraceStatsRow]) -> Value {
    // (service, env) → operation → summary of its rows and its span type.
    type Operations<'a> = BTreeMap<&'a str, (Summary, String)>;
    let mut services: BTreeMap<(&str, &str), Operations<'_>> = BTreeMap::new();
    for row in rows {
        let (summary, span_type) = services
            .entry((row.service.as_str(), row.env.as_str()))
            .or_default()
            .entry(row.name.as_str())
            .or_default();
        summary.add(row);
        if span_type.is_empty() {
            span_type.clone_from(&row.span_type);
        }
    }
    let list: Vec<Value> = services
        .iter()
        .filter_map(|((service, env), operations)| {
            let entries: Vec<(&&str, &(Summary, String))> = operations
                .iter()
                .filter(|(_, (summary, _))| summary.top_level_hits > 0.0)
                .collect();
            let (main, (summary, span_type)) = entries
                .iter()
                .max_by(|a, b| a.1.0.top_level_hits.total_cmp(&b.1.0.top_level_hits))
                .copied()?;
            let operations: Vec<Value> = entries
                .iter()
                .map(|(name, (summary, span_type))| {
                    let mut value = summary.json();
                    value["name"] = Value::from(**name);
                    value["type"] = Value::from(span_type.clone());
                    value
                })
                .collect();
            let mut value = summary.json();
            value["service"] = Value::from(*service);
            value["env"] = Value::from(*env);
            value["operation"] = Value::from(*main);
            value["type"] = Value::from(span_type.clone());
            value["operations"] = Value::from(operations);
            Some(value)
        })
        .collect();
    Value::from(list)
}

/// The resources of one operation of a service in `rows`, busiest first, for the service page.
pub(crate) fn resources(rows: &[TraceStatsRow], operation: &str) -> Value {
    let mut resources: BTreeMap<&str, Summary> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.name == operation) {
        resources.entry(row.resource.as_str()).or_default().add(row);
    }
    let mut list: Vec<(&str, Summary)> = resources.into_iter().collect();
    list.sort_by(|a, b| b.1.hits.total_cmp(&a.1.hits).then(a.0.cmp(b.0)));
    Value::from(
        list.into_iter()
            .map(|(resource, summary)| {
                let mut value = summary.json();
                value["resource"] = Value::from(resource);
                value
            })
            .collect::<Vec<_>>(),
    )
}

/// The operation of `service` with the most top-level hits in `rows`.
pub(crate) fn main_operation(rows: &[TraceStatsRow]) -> Option<String> {
    let mut operations: BTreeMap<&str, f64> = BTreeMap::new();
    for row in rows {
        *operations.entry(row.name.as_str()).or_default() += row.top_level_hits;
    }
    operations
        .into_iter()
        .filter(|(_, hits)| *hits > 0.0)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name.to_owned())
}

#[cfg(test)]
mod tests;
