//! APM data: the spans the agent forwarded, searchable, and the APM stats buckets the trace metrics are
//! derived from.
//!
//! Spans are keyed by (trace id, span id): a span sent twice (a tracer's retry) is stored once, with the
//! last copy's contents and its first row id, so cursors stay valid. Ids are `u64` on the wire and are
//! stored bit for bit in SQLite's signed integers.
//!
//! Stats rows are keyed by bucket and aggregation key; a row that arrives for a stored key is added to it
//! (counts summed, latency summaries merged by the caller's function), and the series derived from the
//! touched groups are appended in the same transaction, so the trace metrics always match the stored stats.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params, params_from_iter};

use crate::series::{AppendReport, NewSeries, append_in};
use crate::{Store, StoreError};

/// One span to store.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewSpan {
    pub trace_id: u64,
    pub span_id: u64,
    pub parent_id: u64,
    pub service: String,
    pub name: String,
    pub resource: String,
    pub span_type: String,
    pub env: String,
    pub version: String,
    pub host: String,
    /// Unix nanoseconds.
    pub start: i64,
    /// Nanoseconds.
    pub duration: i64,
    pub error: bool,
    /// The span is the entry of its service in the trace (`_top_level` or `_dd.top_level`).
    pub top_level: bool,
    pub meta: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, f64>,
    /// Anything else worth showing (span links, span events), as JSON; `null` when there is nothing.
    pub extra: serde_json::Value,
}

/// A stored span.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpan {
    /// The row id: increases with arrival, used by cursors.
    pub id: i64,
    pub span: NewSpan,
    pub received_at: i64,
}

/// Which spans a search wants. Text matches ignore ASCII case.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanFilter {
    All,
    And(Vec<SpanFilter>),
    Or(Vec<SpanFilter>),
    Not(Box<SpanFilter>),
    Field(SpanField, SpanMatch),
}

/// A searchable property of a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanField {
    Service,
    Resource,
    /// The operation name.
    Name,
    Env,
    Version,
    Host,
    Type,
    TraceId,
    SpanId,
    ParentId,
    /// `error` or `ok`.
    Status,
    /// Nanoseconds.
    Duration,
    /// A meta tag or metric by key (`@http.status_code`).
    Attribute(String),
}

/// How a field must match.
#[derive(Debug, Clone, PartialEq)]
pub enum SpanMatch {
    Equals(String),
    /// `*` for any run of characters, `?` for one.
    Wildcard(String),
    /// A numeric range; each bound is `(value, inclusive)`.
    Range {
        low: Option<(f64, bool)>,
        high: Option<(f64, bool)>,
    },
    /// The field has a value (`@key:*`).
    Exists,
}

/// Newest or oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanOrder {
    #[default]
    Newest,
    Oldest,
}

/// Where a page ended: the last span's start and row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanCursor {
    pub start: i64,
    pub id: i64,
}

/// A search: spans starting in `[from, to]` (Unix nanoseconds) that match `filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanQuery {
    pub filter: SpanFilter,
    pub from: i64,
    pub to: i64,
    pub order: SpanOrder,
    /// Continue after this span.
    pub after: Option<SpanCursor>,
    pub limit: usize,
}

/// One page of a search; `next` is set when more spans match.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanPage {
    pub spans: Vec<StoredSpan>,
    pub next: Option<SpanCursor>,
}

/// One APM stats row: a bucket's counts for one aggregation key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceStatsRow {
    /// Bucket start, Unix seconds.
    pub bucket: i64,
    /// Bucket length, seconds.
    pub bucket_duration: i64,
    pub host: String,
    pub env: String,
    pub version: String,
    pub service: String,
    pub name: String,
    pub resource: String,
    /// 0 when the spans had none.
    pub http_status_code: u32,
    pub span_type: String,
    pub hits: f64,
    pub errors: f64,
    /// Total duration, nanoseconds.
    pub duration: f64,
    pub top_level_hits: f64,
    /// DDSketch protobufs of the ok and error spans' durations; empty when none.
    pub ok_summary: Vec<u8>,
    pub error_summary: Vec<u8>,
}

/// Which stats rows to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceStatsFilter {
    /// Buckets starting in `[from, to]`, Unix seconds.
    pub from: i64,
    pub to: i64,
    pub env: Option<String>,
    pub service: Option<String>,
}

/// What a stats ingestion wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TraceStatsReport {
    /// Rows added to (new or merged).
    pub rows: usize,
    /// Groups (bucket, host, env, version, service, name) whose series were derived again.
    pub groups: usize,
    pub series: AppendReport,
}

/// Merges two latency summaries (DDSketch protobufs) into one.
pub type MergeSummaries<'a> = &'a dyn Fn(&[u8], &[u8]) -> Vec<u8>;
/// The series of one group, from all its stored rows.
pub type DeriveSeries<'a> = &'a dyn Fn(&[TraceStatsRow]) -> Vec<NewSeries>;

const SPAN_COLUMNS: &str =
    "id, trace_id, span_id, parent_id, service, name, resource, type, env, version, host,
     start, duration, error, top_level, meta, metrics, extra, received_at";

impl Store {
    /// Stores spans in one transaction; a span already stored (same trace and span id) is replaced.
    pub fn insert_spans(&self, spans: &[NewSpan], now: i64) -> Result<usize, StoreError> {
        let writer = self.writer()?;
        let tx = writer.conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO spans (trace_id, span_id, parent_id, service, name, resource, type, env, version,
                    host, start, duration, error, top_level, meta, metrics, extra, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                 ON CONFLICT (trace_id, span_id) DO UPDATE SET
                    parent_id = excluded.parent_id, service = excluded.service, name = excluded.name,
                    resource = excluded.resource, type = excluded.type, env = excluded.env,
                    version = excluded.version, host = excluded.host, start = excluded.start,
                    duration = excluded.duration, error = excluded.error, top_level = excluded.top_level,
                    meta = excluded.meta, metrics = excluded.metrics, extra = excluded.extra,
                    received_at = excluded.received_at",
            )?;
            for span in spans {
                let extra = (!span.extra.is_null()).then(|| span.extra.to_string());
                insert.execute(params![
                    id_to_sql(span.trace_id),
                    id_to_sql(span.span_id),
                    id_to_sql(span.parent_id),
                    span.service,
                    span.name,
                    span.resource,
                    span.span_type,
                    span.env,
                    span.version,
                    span.host,
                    span.start,
                    span.duration,
                    span.error,
                    span.top_level,
                    serde_json::to_string(&span.meta).unwrap_or_else(|_| "{}".to_owned()),
                    metrics_json(&span.metrics),
                    extra,
                    now,
                ])?;
            }
        }
        tx.commit()?;
        Ok(spans.len())
    }

    /// One page of the spans matching `query`.
    pub fn search_spans(&self, query: &SpanQuery) -> Result<SpanPage, StoreError> {
        let mut sql = format!("SELECT {SPAN_COLUMNS} FROM spans WHERE start >= ? AND start <= ?");
        let mut values: Vec<SqlValue> = vec![query.from.into(), query.to.into()];
        sql.push_str(" AND ");
        filter_sql(&query.filter, &mut sql, &mut values);
        let (compare, direction) = match query.order {
            SpanOrder::Newest => ("<", "DESC"),
            SpanOrder::Oldest => (">", "ASC"),
        };
        if let Some(after) = query.after {
            sql.push_str(&format!(
                " AND (start {compare} ? OR (start = ? AND id {compare} ?))"
            ));
            values.extend([after.start.into(), after.start.into(), after.id.into()]);
        }
        sql.push_str(&format!(" ORDER BY start {direction}, id {direction} LIMIT ?"));
        let limit = query.limit.max(1);
        // One more than asked says whether a next page exists.
        values.push(i64::try_from(limit + 1).unwrap_or(i64::MAX).into());
        self.read(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let mut spans = stmt
                .query_map(params_from_iter(values.iter()), span_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let next = if spans.len() > limit {
                spans.truncate(limit);
                spans.last().map(|last| SpanCursor {
                    start: last.span.start,
                    id: last.id,
                })
            } else {
                None
            };
            Ok(SpanPage { spans, next })
        })
    }

    /// Every stored span of a trace, by start time.
    pub fn trace_spans(&self, trace_id: u64) -> Result<Vec<StoredSpan>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SPAN_COLUMNS} FROM spans WHERE trace_id = ?1 ORDER BY start, id"
            ))?;
            let spans = stmt
                .query_map([id_to_sql(trace_id)], span_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(spans)
        })
    }

    /// Adds stats rows to the stored buckets and appends the series `derive` makes of every touched
    /// group, all in one transaction. `merge` combines a stored latency summary with an incoming one.
    pub fn ingest_trace_stats(
        &self,
        rows: &[TraceStatsRow],
        merge: MergeSummaries<'_>,
        derive: DeriveSeries<'_>,
        now: i64,
    ) -> Result<TraceStatsReport, StoreError> {
        let mut writer = self.writer()?;
        let writer = &mut *writer;
        let tx = writer.conn.unchecked_transaction()?;
        let mut groups: BTreeSet<(i64, String, String, String, String, String)> = BTreeSet::new();
        {
            let mut find = tx.prepare_cached(
                "SELECT hits, errors, duration, top_level_hits, ok_summary, error_summary, bucket_duration
                 FROM trace_stats WHERE bucket = ?1 AND host = ?2 AND env = ?3 AND version = ?4
                   AND service = ?5 AND name = ?6 AND resource = ?7 AND http_status_code = ?8 AND type = ?9",
            )?;
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO trace_stats (bucket, host, env, version, service, name, resource,
                    http_status_code, type, bucket_duration, hits, errors, duration, top_level_hits,
                    ok_summary, error_summary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            for row in rows {
                let key = params![
                    row.bucket,
                    row.host,
                    row.env,
                    row.version,
                    row.service,
                    row.name,
                    row.resource,
                    row.http_status_code,
                    row.span_type
                ];
                type Stored = (f64, f64, f64, f64, Vec<u8>, Vec<u8>, i64);
                let stored: Option<Stored> = find
                    .query_row(key, |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ))
                    })
                    .optional()?;
                let merged = match stored {
                    None => row.clone(),
                    Some((hits, errors, duration, top_level_hits, ok, error, bucket_duration)) => {
                        TraceStatsRow {
                            hits: hits + row.hits,
                            errors: errors + row.errors,
                            duration: duration + row.duration,
                            top_level_hits: top_level_hits + row.top_level_hits,
                            ok_summary: merge(&ok, &row.ok_summary),
                            error_summary: merge(&error, &row.error_summary),
                            bucket_duration: bucket_duration.max(row.bucket_duration),
                            ..row.clone()
                        }
                    }
                };
                upsert.execute(params![
                    merged.bucket,
                    merged.host,
                    merged.env,
                    merged.version,
                    merged.service,
                    merged.name,
                    merged.resource,
                    merged.http_status_code,
                    merged.span_type,
                    merged.bucket_duration,
                    merged.hits,
                    merged.errors,
                    merged.duration,
                    merged.top_level_hits,
                    merged.ok_summary,
                    merged.error_summary,
                ])?;
                groups.insert((
                    row.bucket,
                    row.host.clone(),
                    row.env.clone(),
                    row.version.clone(),
                    row.service.clone(),
                    row.name.clone(),
                ));
            }
        }
        let mut series = Vec::new();
        {
            let mut group_rows = tx.prepare_cached(&format!(
                "SELECT {STATS_COLUMNS} FROM trace_stats WHERE bucket = ?1 AND host = ?2 AND env = ?3
                   AND version = ?4 AND service = ?5 AND name = ?6 ORDER BY resource, http_status_code, type"
            ))?;
            for (bucket, host, env, version, service, name) in &groups {
                let rows = group_rows
                    .query_map(params![bucket, host, env, version, service, name], stats_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                series.extend(derive(&rows));
            }
        }
        let mut created = Vec::new();
        let appended = append_in(&tx, &writer.series_ids, &series, now, &mut created)?;
        tx.commit()?;
        writer.series_ids.extend(created);
        Ok(TraceStatsReport {
            rows: rows.len(),
            groups: groups.len(),
            series: appended,
        })
    }

    /// The stored stats rows matching `filter`, by bucket.
    pub fn trace_stats(&self, filter: &TraceStatsFilter) -> Result<Vec<TraceStatsRow>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STATS_COLUMNS} FROM trace_stats WHERE bucket BETWEEN ?1 AND ?2
                   AND (?3 IS NULL OR env = ?3) AND (?4 IS NULL OR service = ?4)
                 ORDER BY bucket, service, name, resource"
            ))?;
            let rows = stmt
                .query_map(
                    params![filter.from, filter.to, filter.env, filter.service],
                    stats_from_row,
                )?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }
}

const STATS_COLUMNS: &str = "bucket, bucket_duration, host, env, version, service, name, resource,
     http_status_code, type, hits, errors, duration, top_level_hits, ok_summary, error_summary";

fn stats_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<TraceStatsRow> {
    Ok(TraceStatsRow {
        bucket: row.get(0)?,
        bucket_duration: row.get(1)?,
        host: row.get(2)?,
        env: row.get(3)?,
        version: row.get(4)?,
        service: row.get(5)?,
        name: row.get(6)?,
        resource: row.get(7)?,
        http_status_code: row.get(8)?,
        span_type: row.get(9)?,
        hits: row.get(10)?,
        errors: row.get(11)?,
        duration: row.get(12)?,
        top_level_hits: row.get(13)?,
        ok_summary: row.get(14)?,
        error_summary: row.get(15)?,
    })
}

fn span_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSpan> {
    let meta: String = row.get(15)?;
    let metrics: String = row.get(16)?;
    let extra: Option<String> = row.get(17)?;
    Ok(StoredSpan {
        id: row.get(0)?,
        span: NewSpan {
            trace_id: id_from_sql(row.get(1)?),
            span_id: id_from_sql(row.get(2)?),
            parent_id: id_from_sql(row.get(3)?),
            service: row.get(4)?,
            name: row.get(5)?,
            resource: row.get(6)?,
            span_type: row.get(7)?,
            env: row.get(8)?,
            version: row.get(9)?,
            host: row.get(10)?,
            start: row.get(11)?,
            duration: row.get(12)?,
            error: row.get(13)?,
            top_level: row.get(14)?,
            meta: serde_json::from_str(&meta).unwrap_or_default(),
            metrics: metrics_from_json(&metrics),
            extra: extra
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(serde_json::Value::Null),
        },
        received_at: row.get(18)?,
    })
}

/// Span metrics as a JSON object; values JSON cannot hold (NaN, infinities) are kept as strings.
fn metrics_json(metrics: &BTreeMap<String, f64>) -> String {
    let object: serde_json::Map<String, serde_json::Value> = metrics
        .iter()
        .map(|(key, &value)| {
            let value = serde_json::Number::from_f64(value).map_or_else(
                || serde_json::Value::from(value.to_string()),
                serde_json::Value::Number,
            );
            (key.clone(), value)
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

fn metrics_from_json(text: &str) -> BTreeMap<String, f64> {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str(text) else {
        return BTreeMap::new();
    };
    object
        .into_iter()
        .filter_map(|(key, value)| {
            let number = match value {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            }?;
            Some((key, number))
        })
        .collect()
}

/// A `u64` id as SQLite stores it: the same 64 bits, signed.
fn id_to_sql(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

fn id_from_sql(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

/// Appends the SQL of `filter` to `sql`, with its parameters in `values`.
fn filter_sql(filter: &SpanFilter, sql: &mut String, values: &mut Vec<SqlValue>) {
    match filter {
        SpanFilter::All => sql.push('1'),
        SpanFilter::And(parts) | SpanFilter::Or(parts) if parts.is_empty() => {
            sql.push_str(if matches!(filter, SpanFilter::And(_)) {
                "1"
            } else {
                "0"
            });
        }
        SpanFilter::And(parts) | SpanFilter::Or(parts) => {
            let joiner = if matches!(filter, SpanFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            for (index, part) in parts.iter().enumerate() {
                if index > 0 {
                    sql.push_str(joiner);
                }
                filter_sql(part, sql, values);
            }
            sql.push(')');
        }
        SpanFilter::Not(inner) => {
            sql.push_str("NOT (");
            filter_sql(inner, sql, values);
            sql.push(')');
        }
        SpanFilter::Field(field, matcher) => field_sql(field, matcher, sql, values),
    }
}

fn field_sql(field: &SpanField, matcher: &SpanMatch, sql: &mut String, values: &mut Vec<SqlValue>) {
    let column = match field {
        SpanField::Service => "service",
        SpanField::Resource => "resource",
        SpanField::Name => "name",
        SpanField::Env => "env",
        SpanField::Version => "version",
        SpanField::Host => "host",
        SpanField::Type => "type",
        SpanField::TraceId | SpanField::SpanId | SpanField::ParentId => {
            return id_sql(field, matcher, sql, values);
        }
        SpanField::Status => {
            return match matcher {
                SpanMatch::Equals(text) | SpanMatch::Wildcard(text) => {
                    let error = text.eq_ignore_ascii_case("error");
                    let ok = text.eq_ignore_ascii_case("ok");
                    sql.push_str(match (error, ok) {
                        (true, _) => "error = 1",
                        (_, true) => "error = 0",
                        _ => "0",
                    });
                }
                SpanMatch::Exists => sql.push('1'),
                SpanMatch::Range { .. } => sql.push('0'),
            };
        }
        SpanField::Duration => {
            return number_sql("duration", matcher, sql, values);
        }
        SpanField::Attribute(key) => return attribute_sql(key, matcher, sql, values),
    };
    match matcher {
        SpanMatch::Equals(text) => {
            sql.push_str(&format!("{column} = ? COLLATE NOCASE"));
            values.push(text.clone().into());
        }
        SpanMatch::Wildcard(pattern) => {
            sql.push_str(&format!("{column} LIKE ? ESCAPE '\\'"));
            values.push(like_pattern(pattern).into());
        }
        SpanMatch::Exists => sql.push_str(&format!("{column} <> ''")),
        SpanMatch::Range { .. } => number_sql(&format!("CAST({column} AS REAL)"), matcher, sql, values),
    }
}

fn id_sql(field: &SpanField, matcher: &SpanMatch, sql: &mut String, values: &mut Vec<SqlValue>) {
    let column = match field {
        SpanField::TraceId => "trace_id",
        SpanField::SpanId => "span_id",
        _ => "parent_id",
    };
    match matcher {
        SpanMatch::Equals(text) => match text.trim().parse::<u64>() {
            Ok(id) => {
                sql.push_str(&format!("{column} = ?"));
                values.push(id_to_sql(id).into());
            }
            Err(_) => sql.push('0'),
        },
        SpanMatch::Exists => sql.push('1'),
        SpanMatch::Wildcard(_) | SpanMatch::Range { .. } => sql.push('0'),
    }
}

fn number_sql(expression: &str, matcher: &SpanMatch, sql: &mut String, values: &mut Vec<SqlValue>) {
    match matcher {
        SpanMatch::Equals(text) => match text.trim().parse::<f64>() {
            Ok(number) => {
                sql.push_str(&format!("{expression} = ?"));
                values.push(number.into());
            }
            Err(_) => sql.push('0'),
        },
        SpanMatch::Range { low, high } => {
            sql.push('(');
            sql.push_str(&format!("{expression} IS NOT NULL"));
            if let Some((value, inclusive)) = low {
                sql.push_str(&format!(
                    " AND {expression} {} ?",
                    if *inclusive { ">=" } else { ">" }
                ));
                values.push((*value).into());
            }
            if let Some((value, inclusive)) = high {
                sql.push_str(&format!(
                    " AND {expression} {} ?",
                    if *inclusive { "<=" } else { "<" }
                ));
                values.push((*value).into());
            }
            sql.push(')');
        }
        SpanMatch::Exists => sql.push_str(&format!("{expression} IS NOT NULL")),
        SpanMatch::Wildcard(_) => sql.push('0'),
    }
}

/// A meta tag or a metric: text matches go to meta, numeric ones to both (meta values that read as
/// numbers, such as `http.status_code`, compare as numbers).
fn attribute_sql(key: &str, matcher: &SpanMatch, sql: &mut String, values: &mut Vec<SqlValue>) {
    // The path is a quoted SQL literal, not a parameter: the expressions below repeat it.
    let path = json_path_literal(key);
    let meta = format!("json_extract(meta, {path})");
    let metric = format!("json_extract(metrics, {path})");
    // A meta value as a number, when all of it reads as one.
    let meta_number = format!(
        "(CASE WHEN {meta} <> '' AND trim({meta}, '0123456789.-+eE') = '' THEN CAST({meta} AS REAL) END)"
    );
    match matcher {
        SpanMatch::Equals(text) => {
            sql.push_str(&format!("({meta} = ? COLLATE NOCASE"));
            values.push(text.clone().into());
            if let Ok(number) = text.trim().parse::<f64>() {
                sql.push_str(&format!(" OR {metric} = ? OR {meta_number} = ?"));
                values.push(number.into());
                values.push(number.into());
            }
            sql.push(')');
        }
        SpanMatch::Wildcard(pattern) => {
            sql.push_str(&format!("{meta} LIKE ? ESCAPE '\\'"));
            values.push(like_pattern(pattern).into());
        }
        SpanMatch::Exists => sql.push_str(&format!("({meta} IS NOT NULL OR {metric} IS NOT NULL)")),
        SpanMatch::Range { .. } => {
            sql.push('(');
            number_sql(&metric, matcher, sql, values);
            sql.push_str(" OR ");
            number_sql(&meta_number, matcher, sql, values);
            sql.push(')');
        }
    }
}

/// A SQL string literal of the JSON path naming one top-level key, which may hold dots
/// (`'$."http.status_code"'`). Double quotes cannot be part of a key; single quotes are doubled.
fn json_path_literal(key: &str) -> String {
    format!("'$.\"{}\"'", key.replace('"', "").replace('\'', "''"))
}

/// A search wildcard as a LIKE pattern: `*` any run, `?` one character, the rest literal.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests;
