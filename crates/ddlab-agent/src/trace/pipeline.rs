//! What happens to a decoded tracer payload, in the trace-agent's order: normalise each chunk, find its
//! root and fill its priority, compute top-level spans when the tracer did not, obfuscate, compute APM
//! stats on every chunk (unless the tracer computed them), sample, and buffer what is kept for the next
//! `AgentPayload`. Stats leave every flush as one `StatsPayload`.
//!
//! Obfuscation is libdatadog's port of the trace-agent's obfuscator with its defaults: the resource of
//! `sql` and `cassandra` spans loses its literals (`SELECT * FROM users WHERE id = ?`, MySQL's dialect
//! when `db.type` says so) and is copied to `sql.query`; `redis` resources keep only their commands.
//! Stats group on the obfuscated resource, so a query with different literals is one resource; the
//! resources of tracer-computed stats get the same treatment.
//!
//! Sampling is the trace-agent's with unlimited rates: chunks the tracer kept (priority > 0) or made no
//! decision on are kept, a `PRIORITY_AUTO_DROP` chunk is kept only when a span has an error (the error
//! sampler), and from any other dropped chunk only the spans picked by single-span sampling
//! (`_dd.span_sampling.mechanism`) are kept, in a chunk marked `dropped_trace`.
//!
//! A request takes the shared lock twice: once to add all its spans to the concentrators, once to
//! append its kept payload to the buffer, encoded and already compressed on the request's own thread
//! (a gzip piece, see `ddlab_wire::compression::GzipPiece`). The flush task joins the pieces into one
//! gzip body and hands it to the [`TraceSink`], outside the lock.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ddlab_wire::compression::{GzipPiece, PieceCompressor};
use ddlab_wire::trace::normalize::{
    self, PRIORITY_NONE, SpanRepairs, TraceDrop, compute_top_level, normalize_trace_ref,
};
use ddlab_wire::trace::{
    SpanSlice, StatsFormat, TraceChunkRef, TracerPayloadRef, agent_payload_gzip, encode_stats_payload,
    encode_tracer_payload_ref, pb, same_text, tracer_payload_piece,
};
use libdd_trace_obfuscation::obfuscate::{obfuscate_resource_for_stats, obfuscate_v04_span};
use libdd_trace_obfuscation::obfuscation_config::ObfuscationConfig;
use libdd_trace_stats::span_concentrator::SpanConcentrator;
use libdd_trace_utils::span::trace_utils::get_root_span_index;
use tokio::sync::{Notify, watch};

use super::sink::{ApmPayload, ApmPayloadKind, TraceSink};
use super::{Clock, ReceiverStats};

/// The metric single-span sampling sets on the spans it keeps.
const SPAN_SAMPLING_MECHANISM: &str = "_dd.span_sampling.mechanism";
/// The trace-agent's default target rates, reported in every `AgentPayload`.
const TARGET_TPS: f64 = 10.0;
const ERROR_TPS: f64 = 10.0;

/// What the pipeline needs from the receiver's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) hostname: String,
    pub(crate) default_env: String,
    pub(crate) agent_version: String,
    pub(crate) bucket: Duration,
    pub(crate) span_kinds: Vec<String>,
    pub(crate) trace_buffer_bytes: usize,
}

/// A decoded request, its spans borrowing from the body, with what its headers said.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    pub(crate) payload: TracerPayloadRef<'a>,
    /// `Datadog-Client-Computed-Top-Level`: the tracer marked top-level spans itself.
    pub(crate) client_computed_top_level: bool,
    /// `Datadog-Client-Computed-Stats`: the tracer sends `/v0.6/stats`; no stats are computed here.
    pub(crate) client_computed_stats: bool,
    /// `Datadog-Client-Dropped-P0-Traces` and `-Spans`.
    pub(crate) client_dropped_p0_traces: u64,
    pub(crate) client_dropped_p0_spans: u64,
}

/// The stats of one tracer context: the payload-level part of the trace-agent's aggregation key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PayloadKey {
    hostname: String,
    env: String,
    version: String,
    container_id: String,
}

/// A [`PayloadKey`] borrowed from the chunk it was found in.
#[derive(Debug, Clone, Copy)]
struct PayloadKeyRef<'k> {
    hostname: &'k str,
    env: &'k str,
    version: &'k str,
    container_id: &'k str,
}

impl PayloadKeyRef<'_> {
    fn is(&self, key: &PayloadKey) -> bool {
        same_text(self.hostname, &key.hostname)
            && same_text(self.env, &key.env)
            && same_text(self.version, &key.version)
            && same_text(self.container_id, &key.container_id)
    }

    fn to_owned(self) -> PayloadKey {
        PayloadKey {
            hostname: self.hostname.to_owned(),
            env: self.env.to_owned(),
            version: self.version.to_owned(),
            container_id: self.container_id.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    concentrators: HashMap<PayloadKey, SpanConcentrator>,
    /// Kept tracer payloads, encoded and compressed (a small fraction of their decoded size), with what
    /// they hold; `buffered_bytes` counts them encoded, before compression.
    buffer: Vec<GzipPiece>,
    buffered_bytes: usize,
    buffered_traces: u64,
    buffered_spans: u64,
    languages: BTreeSet<String>,
}

pub(crate) struct Pipeline {
    settings: Settings,
    obfuscation: ObfuscationConfig,
    sink: Arc<dyn TraceSink>,
    clock: Clock,
    stats: Arc<watch::Sender<ReceiverStats>>,
    state: Mutex<State>,
    flush_wanted: Notify,
    /// Compression state for the threads that compress at once, kept for reuse.
    compressors: Mutex<Vec<PieceCompressor>>,
    sql_cache: Mutex<SqlCache>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What one chunk became.
enum Sampled<'a> {
    Kept(TraceChunkRef<'a>),
    /// Dropped; the spans single-span sampling picked, if any, survive in a `dropped_trace` chunk.
    Dropped(Option<TraceChunkRef<'a>>),
}

impl Pipeline {
    pub(crate) fn new(
        settings: Settings,
        sink: Arc<dyn TraceSink>,
        clock: Clock,
        stats: Arc<watch::Sender<ReceiverStats>>,
    ) -> Self {
        Pipeline {
            settings,
            obfuscation: ObfuscationConfig::default(),
            sink,
            clock,
            stats,
            state: Mutex::new(State::default()),
            flush_wanted: Notify::new(),
            compressors: Mutex::new(Vec::new()),
            sql_cache: Mutex::new(SqlCache::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves counts that are still worth keeping.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Processes one request's traces; what it did, for the receiver's counters. A buffer that passes
    /// `trace_buffer_bytes` is not sent from here: the flush task is woken ([`Pipeline::flush_wanted`]),
    /// so compressing it never delays the answer to this request.
    pub(crate) fn process(&self, incoming: Incoming<'_>) -> Processed {
        let now = (self.clock)();
        let now_ns = unix_nanos(now);
        let mut payload = incoming.payload;
        if !payload.env.is_empty() {
            payload.env = normalize::tag(&payload.env);
        }
        let lang = payload.language_name.clone();
        let mut processed = Processed {
            client_dropped_p0_traces: incoming.client_dropped_p0_traces,
            client_dropped_p0_spans: incoming.client_dropped_p0_spans,
            ..Processed::default()
        };
        let mut chunks = Vec::with_capacity(payload.chunks.len());
        // The distinct stats contexts of the payload's chunks: almost always one, so each chunk's is
        // looked up borrowed and owned only when new.
        let mut keys: Vec<PayloadKey> = Vec::new();
        let mut scratch = String::new();
        for mut chunk in std::mem::take(&mut payload.chunks) {
            if let Err(drop) = normalize_trace_ref(
                &mut chunk.spans,
                &lang,
                now_ns,
                &mut processed.repairs,
                &mut scratch,
            ) {
                processed.drop(drop);
                continue;
            }
            let root = get_root_span_index(&chunk.spans).unwrap_or(0);
            normalize::normalize_chunk(&mut chunk, root);
            if !incoming.client_computed_top_level {
                compute_top_level(&mut chunk.spans);
            }
            for span in &mut chunk.spans {
                self.obfuscate(span);
            }
            let found = self.payload_key(&payload, &chunk, root);
            let key = match keys.iter().position(|key| found.is(key)) {
                Some(index) => index,
                None => {
                    keys.push(found.to_owned());
                    keys.len() - 1
                }
            };
            if payload.env.is_empty() {
                payload.env.clone_from(&keys[key].env);
            }
            if payload.hostname.is_empty() {
                payload.hostname.clone_from(&keys[key].hostname);
            }
            processed.traces += 1;
            processed.spans += chunk.spans.len() as u64;
            chunks.push((key, chunk));
        }
        if !incoming.client_computed_stats && !chunks.is_empty() {
            // Stats see every chunk, before sampling; one lock for the whole payload, and one lookup
            // per context (its chunks almost always share one) rather than per chunk.
            let mut state = self.lock();
            for (index, key) in keys.into_iter().enumerate() {
                let concentrator = state.concentrators.entry(key).or_insert_with(|| {
                    SpanConcentrator::new(
                        self.settings.bucket,
                        now,
                        self.settings.span_kinds.clone(),
                        Vec::new(),
                        None,
                        Vec::new(),
                    )
                });
                for (_, chunk) in chunks.iter().filter(|(of, _)| *of == index) {
                    add_spans(concentrator, &chunk.spans);
                }
            }
        }
        let mut kept = Vec::with_capacity(chunks.len());
        for (_, chunk) in chunks {
            match sample(chunk) {
                Sampled::Kept(chunk) => {
                    processed.kept_spans += chunk.spans.len() as u64;
                    kept.push(chunk);
                }
                Sampled::Dropped(survivors) => {
                    processed.sampled_out += 1;
                    if let Some(chunk) = survivors {
                        processed.kept_spans += chunk.spans.len() as u64;
                        kept.push(chunk);
                    }
                }
            }
        }
        let kept_traces = kept.len() as u64;
        payload.chunks = kept;
        if payload.chunks.is_empty() {
            return processed;
        }
        let encoded = encode_tracer_payload_ref(&mut payload);
        // The spans' maps are kept for the next payload this thread decodes.
        ddlab_wire::trace::recycle(payload);
        // Compressed here, on the thread that received the payload: the buffer then holds a fraction
        // of the bytes, and a flush only joins the pieces.
        let piece = self.with_compressor(|compressor| tracer_payload_piece(compressor, &encoded));
        let piece = match piece {
            Ok(piece) => piece,
            Err(err) => {
                self.lost(format!("cannot compress a payload for /api/v0.2/traces: {err}"));
                return processed;
            }
        };
        let full = {
            let mut state = self.lock();
            if !lang.is_empty() {
                state.languages.insert(lang);
            }
            state.buffered_bytes += encoded.len();
            state.buffered_traces += kept_traces;
            state.buffered_spans += processed.kept_spans;
            state.buffer.push(piece);
            state.buffered_bytes >= self.settings.trace_buffer_bytes
        };
        if full {
            self.flush_wanted.notify_one();
        }
        processed
    }

    /// Runs `compress` with a compressor from the pool, returned to it after.
    fn with_compressor<T>(&self, compress: impl FnOnce(&mut PieceCompressor) -> T) -> T {
        let taken = self
            .compressors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let mut compressor = taken.unwrap_or_default();
        let result = compress(&mut compressor);
        self.compressors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(compressor);
        result
    }

    /// Obfuscates `span` with the trace-agent's defaults. SQL is the costly part, and an application
    /// sends the same few queries over and over: their results are kept, as the trace-agent's
    /// obfuscation cache keeps them (`apm_config.obfuscation.cache`, 5 MB by default).
    fn obfuscate(&self, span: &mut SpanSlice<'_>) {
        let sql = matches!(span.r#type.as_ref(), "sql" | "cassandra") && !span.resource.is_empty();
        if !sql {
            obfuscate_v04_span(span, &self.obfuscation);
            return;
        }
        let dbms = span
            .meta
            .get(DB_TYPE)
            .map(|dbms| dbms.to_string())
            .unwrap_or_default();
        let cached = self.sql_cache().get(&dbms, &span.resource);
        match cached {
            Some(obfuscated) => {
                // Everything else the obfuscator does to the span (credit cards in meta, span events),
                // with the type set aside so it does not obfuscate the query again; then the query,
                // in the obfuscator's order: the resource, and a copy in `sql.query`.
                let kind = std::mem::take(&mut span.r#type);
                obfuscate_v04_span(span, &self.obfuscation);
                span.r#type = kind;
                span.resource = Cow::Owned(obfuscated.clone());
                span.meta.insert(Cow::Borrowed(SQL_QUERY), Cow::Owned(obfuscated));
            }
            None => {
                let query = span.resource.to_string();
                obfuscate_v04_span(span, &self.obfuscation);
                self.sql_cache().insert(dbms, query, span.resource.to_string());
            }
        }
    }

    fn sql_cache(&self) -> MutexGuard<'_, SqlCache> {
        // A panic elsewhere while holding the lock leaves entries that are still right.
        self.sql_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Woken when the trace buffer passes `trace_buffer_bytes`: the flush task sends it then, without
    /// waiting for its interval.
    pub(crate) fn flush_wanted(&self) -> &Notify {
        &self.flush_wanted
    }

    /// The env, version, hostname and container of a chunk, with the trace-agent's fallbacks.
    fn payload_key<'k>(
        &'k self,
        payload: &'k TracerPayloadRef<'_>,
        chunk: &'k TraceChunkRef<'_>,
        root: usize,
    ) -> PayloadKeyRef<'k> {
        let root = chunk.spans.get(root);
        let meta = |key: &str| -> Option<&'k str> {
            root.and_then(|span| span.meta.get(key))
                .map(|value| value.as_ref())
                .filter(|value| !value.is_empty())
        };
        let env = meta("env")
            .or_else(|| {
                chunk
                    .spans
                    .iter()
                    .find_map(|span| span.meta.get("env").filter(|env| !env.is_empty()))
                    .map(|env| env.as_ref())
            })
            .or_else(|| (!payload.env.is_empty()).then_some(payload.env.as_str()))
            .unwrap_or(&self.settings.default_env);
        let version = meta("version").unwrap_or(&payload.app_version);
        let hostname = if payload.hostname.is_empty() {
            meta("_dd.hostname").unwrap_or_default()
        } else {
            &payload.hostname
        };
        PayloadKeyRef {
            hostname,
            env,
            version,
            container_id: &payload.container_id,
        }
    }

    /// A tracer's own stats (`/v0.6/stats`), normalised and sent on as they are.
    pub(crate) fn client_stats(&self, mut payload: pb::ClientStatsPayload, lang: &str, tracer_version: &str) {
        payload.env = if payload.env.is_empty() {
            self.settings.default_env.clone()
        } else {
            normalize::tag(&payload.env)
        };
        if payload.lang.is_empty() {
            payload.lang = lang.to_owned();
        }
        if payload.tracer_version.is_empty() {
            payload.tracer_version = tracer_version.to_owned();
        }
        let mut groups = 0u64;
        for bucket in &mut payload.stats {
            for group in &mut bucket.stats {
                group.service = normalize::service(&group.service, &payload.lang);
                group.name = normalize::span_name(&group.name);
                if group.resource.is_empty() {
                    group.resource = group.name.clone();
                }
                let dbms = (!group.db_type.is_empty()).then_some(group.db_type.as_str());
                if let Some(obfuscated) =
                    obfuscate_resource_for_stats(&group.r#type, &group.resource, dbms, &self.obfuscation.sql)
                {
                    group.resource = obfuscated;
                }
                groups += 1;
            }
        }
        let buckets = payload.stats.len() as u64;
        self.stats.send_modify(|stats| {
            stats.client_stats_buckets += buckets;
            stats.client_stats_groups += groups;
        });
        self.send_stats(vec![payload], true);
    }

    /// Sends what the trace buffer holds.
    pub(crate) fn flush_traces(&self) {
        let buffered = take_buffer(&mut self.lock());
        self.send_traces(buffered);
    }

    /// Sends the stats of every closed bucket, or of every bucket when `force`d (at shutdown).
    pub(crate) fn flush_stats(&self, force: bool) {
        let now = (self.clock)();
        let payloads: Vec<pb::ClientStatsPayload> = {
            let mut state = self.lock();
            let mut payloads = Vec::new();
            for (key, concentrator) in &mut state.concentrators {
                let buckets = concentrator.flush(now, force).all_buckets();
                if buckets.is_empty() {
                    continue;
                }
                payloads.push(pb::ClientStatsPayload {
                    hostname: key.hostname.clone(),
                    env: key.env.clone(),
                    version: key.version.clone(),
                    container_id: key.container_id.clone(),
                    stats: buckets,
                    ..pb::ClientStatsPayload::default()
                });
            }
            if force {
                // Every bucket is out: the contexts start afresh with their next span.
                state.concentrators.clear();
            }
            payloads
        };
        self.send_stats(payloads, false);
    }

    fn send_traces(&self, buffered: Buffered) {
        if buffered.payloads.is_empty() {
            return;
        }
        let (traces, spans) = (buffered.traces, buffered.spans);
        let head = pb::AgentPayload {
            host_name: self.settings.hostname.clone(),
            env: self.settings.default_env.clone(),
            agent_version: self.settings.agent_version.clone(),
            target_tps: TARGET_TPS,
            error_tps: ERROR_TPS,
            ..pb::AgentPayload::default()
        };
        let mut headers = vec![("Content-Type", "application/x-protobuf".to_owned())];
        if !buffered.languages.is_empty() {
            let joined: Vec<&str> = buffered.languages.iter().map(String::as_str).collect();
            headers.push(("X-Datadog-Reported-Languages", joined.join("|")));
        }
        let compressed =
            self.with_compressor(|compressor| agent_payload_gzip(compressor, &head, &buffered.payloads));
        drop(buffered.payloads);
        if let Some(bytes) = self.submit_compressed(ApmPayloadKind::Traces, headers, compressed) {
            self.stats.send_modify(|stats| {
                stats.trace_payloads_sent += 1;
                stats.traces_sent += traces;
                stats.spans_sent += spans;
                stats.trace_bytes_sent += bytes;
            });
        }
    }

    fn send_stats(&self, stats: Vec<pb::ClientStatsPayload>, client_computed: bool) {
        if stats.is_empty() {
            return;
        }
        let buckets: u64 = stats.iter().map(|p| p.stats.len() as u64).sum();
        let payload = pb::StatsPayload {
            agent_hostname: self.settings.hostname.clone(),
            agent_env: self.settings.default_env.clone(),
            stats,
            agent_version: self.settings.agent_version.clone(),
            client_computed,
            split_payload: false,
        };
        let body = match encode_stats_payload(&payload, StatsFormat::Msgpack) {
            Ok(body) => body,
            Err(err) => {
                self.lost(format!("cannot encode APM stats: {err}"));
                return;
            }
        };
        let headers = vec![("Content-Type", StatsFormat::Msgpack.content_type().to_owned())];
        if let Some(bytes) = self.submit(ApmPayloadKind::Stats, headers, &body) {
            self.stats.send_modify(|stats| {
                stats.stats_payloads_sent += 1;
                stats.stats_buckets_sent += buckets;
                stats.stats_bytes_sent += bytes;
            });
        }
    }

    /// Compresses `body` as the trace-agent does (gzip, fastest level) and hands it to the sink; the
    /// compressed size when it went.
    fn submit(&self, kind: ApmPayloadKind, headers: Vec<(&'static str, String)>, body: &[u8]) -> Option<u64> {
        self.submit_compressed(kind, headers, ddlab_wire::compression::gzip_fast(body))
    }

    /// Hands a gzipped payload to the sink; its size when it went.
    fn submit_compressed(
        &self,
        kind: ApmPayloadKind,
        mut headers: Vec<(&'static str, String)>,
        compressed: Result<Vec<u8>, ddlab_wire::WireError>,
    ) -> Option<u64> {
        match compressed {
            Ok(compressed) => {
                headers.push(("Content-Encoding", "gzip".to_owned()));
                let bytes = compressed.len() as u64;
                self.sink.submit(ApmPayload {
                    kind,
                    headers,
                    body: compressed,
                });
                Some(bytes)
            }
            Err(err) => {
                self.lost(format!("cannot compress a payload for {}: {err}", kind.path()));
                None
            }
        }
    }

    fn lost(&self, message: String) {
        tracing::error!(error = %message, "An APM payload was lost.");
        self.stats.send_modify(|stats| {
            stats.payloads_lost += 1;
            stats.last_error = Some(message);
        });
    }
}

/// The meta naming a query's database, which picks the SQL dialect.
const DB_TYPE: &str = "db.type";
/// The meta the obfuscator copies an obfuscated query into.
const SQL_QUERY: &str = "sql.query";
/// How many bytes of queries and their obfuscated forms the cache keeps (the trace-agent's
/// `apm_config.obfuscation.cache.max_size` default); when full it starts afresh.
const SQL_CACHE_BYTES: usize = 5_000_000;

/// Obfuscated SQL by database type and query.
#[derive(Debug, Default)]
struct SqlCache {
    by_dbms: HashMap<String, HashMap<String, String>>,
    bytes: usize,
}

impl SqlCache {
    fn get(&self, dbms: &str, query: &str) -> Option<String> {
        self.by_dbms.get(dbms)?.get(query).cloned()
    }

    fn insert(&mut self, dbms: String, query: String, obfuscated: String) {
        let size = dbms.len() + query.len() + obfuscated.len();
        if self.bytes + size > SQL_CACHE_BYTES {
            self.by_dbms.clear();
            self.bytes = 0;
        }
        if size > SQL_CACHE_BYTES {
            return;
        }
        self.bytes += size;
        self.by_dbms.entry(dbms).or_default().insert(query, obfuscated);
    }
}

/// What processing one request did: [`Processed::record`] adds it to the receiver's counters.
#[derive(Debug, Default)]
pub(crate) struct Processed {
    traces: u64,
    spans: u64,
    kept_spans: u64,
    sampled_out: u64,
    dropped: super::DroppedTraces,
    repairs: SpanRepairs,
    client_dropped_p0_traces: u64,
    client_dropped_p0_spans: u64,
}

impl Processed {
    fn drop(&mut self, reason: TraceDrop) {
        match reason {
            TraceDrop::EmptyTrace => self.dropped.empty_trace += 1,
            TraceDrop::TraceIdZero => self.dropped.trace_id_zero += 1,
            TraceDrop::SpanIdZero => self.dropped.span_id_zero += 1,
            TraceDrop::ForeignSpan => self.dropped.foreign_span += 1,
        }
    }

    /// Adds these counts to `stats`.
    pub(crate) fn record(&self, stats: &mut ReceiverStats) {
        stats.traces_received += self.traces;
        stats.spans_received += self.spans;
        stats.spans_kept += self.kept_spans;
        stats.traces_dropped.add(&self.dropped);
        stats.traces_dropped.sampled_out += self.sampled_out;
        stats.spans_repaired.add(&self.repairs);
        stats.client_dropped_p0_traces += self.client_dropped_p0_traces;
        stats.client_dropped_p0_spans += self.client_dropped_p0_spans;
    }
}

/// What the trace buffer held, taken for one `AgentPayload`.
struct Buffered {
    payloads: Vec<GzipPiece>,
    traces: u64,
    spans: u64,
    languages: BTreeSet<String>,
}

fn take_buffer(state: &mut State) -> Buffered {
    state.buffered_bytes = 0;
    Buffered {
        payloads: std::mem::take(&mut state.buffer),
        traces: std::mem::take(&mut state.buffered_traces),
        spans: std::mem::take(&mut state.buffered_spans),
        languages: std::mem::take(&mut state.languages),
    }
}

fn add_spans(concentrator: &mut SpanConcentrator, spans: &[SpanSlice<'_>]) {
    for span in spans {
        concentrator.add_span(span);
    }
}

/// The trace-agent's samplers, with no rate limits.
fn sample(chunk: TraceChunkRef<'_>) -> Sampled<'_> {
    let keep = chunk.priority == PRIORITY_NONE
        || chunk.priority > 0
        || (chunk.priority == 0 && chunk.spans.iter().any(|span| span.error != 0));
    if keep {
        return Sampled::Kept(chunk);
    }
    let picked: Vec<SpanSlice<'_>> = chunk
        .spans
        .iter()
        .filter(|span| span.metrics.contains_key(SPAN_SAMPLING_MECHANISM))
        .cloned()
        .collect();
    if picked.is_empty() {
        return Sampled::Dropped(None);
    }
    Sampled::Dropped(Some(TraceChunkRef {
        spans: picked,
        dropped_trace: true,
        ..chunk
    }))
}

/// Unix nanoseconds of `time` (0 before the epoch, saturating far after it).
pub(crate) fn unix_nanos(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
