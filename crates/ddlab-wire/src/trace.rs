//! Traces and APM stats: what tracers send the trace-agent, and what the trace-agent sends Datadog.
//!
//! | route | body | here |
//! | --- | --- | --- |
//! | `PUT/POST /v0.4/traces` (tracer → agent) | msgpack array of traces of span maps (or JSON) | [`decode_v04`], [`decode_v04_json`], [`encode_v04`] |
//! | `PUT/POST /v0.5/traces` | msgpack `[string table, traces]`, spans as 12-element arrays | [`decode_v05`], [`encode_v05`] |
//! | `PUT/POST /v0.7/traces` | msgpack `TracerPayload` | [`decode_v07`] |
//! | `PUT/POST /v0.6/stats` | msgpack `ClientStatsPayload` | [`decode_client_stats`], [`encode_client_stats`] |
//! | `POST /api/v0.2/traces` (agent → Datadog) | protobuf `AgentPayload` | [`decode_agent_payload`], [`encode_agent_payload`] |
//! | `POST /api/v0.2/stats` | msgpack (or protobuf) `StatsPayload` | [`decode_stats_payload`], [`encode_stats_payload`] |
//!
//! The message types are libdatadog's ([`pb`], `libdd-trace-protobuf`). Each decoder also has a `_ref`
//! form whose spans borrow their text from the body ([`SpanSlice`], libdatadog's v0.4 span over
//! `Cow<str>`), which the agent's receiver uses: libdatadog's obfuscator and stats concentrator take
//! it directly, and [`encode_tracer_payload_ref`] writes its protobuf without an owned copy. [`normalize`] repairs spans as the trace-agent
//! does; [`sketch`] reads and merges the stats' latency summaries.
//!
//! The msgpack decoders follow the trace-agent's leniency (`nil` as zero values, `bin` as strings,
//! integers of any width, invalid UTF-8 repaired) and are otherwise strict: a wrong type anywhere refuses
//! the body with the path of the value (`traces[0][2].duration`). They never panic and never reserve more
//! memory than the body could fill (property tests in `trace/tests.rs`).

mod borrowed;
mod decode;
mod encode;
mod msgpack;
pub mod normalize;
pub mod sketch;
mod spare;
mod stats;

pub use libdd_trace_protobuf::pb;

pub use borrowed::{
    SpanSlice, TraceChunkRef, TracerPayloadRef, encode_tracer_payload_ref, same_text, span_to_pb,
};
pub use decode::{
    decode_v04, decode_v04_json, decode_v04_json_ref, decode_v04_ref, decode_v05, decode_v05_ref, decode_v07,
    decode_v07_ref,
};
pub use encode::{encode_v04, encode_v05};
pub use spare::{recycle, recycle_spans};
pub use stats::{
    StatsFormat, decode_client_stats, decode_stats_payload, encode_client_stats, encode_stats_payload,
};

use crate::WireError;
use crate::compression::{GzipPiece, PieceCompressor, gzip_join};

/// The largest trace or stats body the trace-agent reads (`apm_config.max_request_bytes`, 25 MiB).
pub const MAX_REQUEST_BYTES: usize = 25 * 1024 * 1024;
/// `/api/v0.2/traces` and `/api/v0.2/stats`: the largest compressed body the backend accepts.
pub const INTAKE_BODY_LIMIT: usize = 10 * 1024 * 1024;
/// `/api/v0.2/traces` and `/api/v0.2/stats`: the largest body once decompressed.
pub const INTAKE_DECOMPRESSED_LIMIT: usize = 50 * 1024 * 1024;

/// The protobuf `AgentPayload` of `/api/v0.2/traces`.
pub fn encode_agent_payload(payload: &pb::AgentPayload) -> Vec<u8> {
    prost::Message::encode_to_vec(payload)
}

/// One protobuf `TracerPayload`, encoded as it is kept until the next `AgentPayload`: a buffer of encoded
/// payloads holds a fraction of the memory of the decoded ones.
pub fn encode_tracer_payload(payload: &pb::TracerPayload) -> Vec<u8> {
    prost::Message::encode_to_vec(payload)
}

/// The protobuf `AgentPayload` of `/api/v0.2/traces` from its other fields (`head`, whose
/// `tracer_payloads` are written first) and tracer payloads already encoded by [`encode_tracer_payload`].
/// The bytes equal [`encode_agent_payload`] of the whole: a repeated message field is its elements, each
/// a length-delimited field 5, in any order among the other fields.
pub fn encode_agent_payload_with(head: &pb::AgentPayload, tracer_payloads: &[Vec<u8>]) -> Vec<u8> {
    let extra: usize = tracer_payloads
        .iter()
        .map(|bytes| {
            prost::encoding::key_len(AGENT_PAYLOAD_TRACER_PAYLOADS)
                + prost::encoding::encoded_len_varint(bytes.len() as u64)
                + bytes.len()
        })
        .sum();
    let mut out = Vec::with_capacity(prost::Message::encoded_len(head) + extra);
    prost::Message::encode_raw(head, &mut out);
    for bytes in tracer_payloads {
        prost::encoding::encode_key(
            AGENT_PAYLOAD_TRACER_PAYLOADS,
            prost::encoding::WireType::LengthDelimited,
            &mut out,
        );
        prost::encoding::encode_varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
    }
    out
}

/// One tracer payload of an `AgentPayload`, already encoded by [`encode_tracer_payload`], compressed on
/// its own as a [`GzipPiece`] (with its field key and length), so the agent keeps it compressed until the
/// next `AgentPayload` and compresses on the thread that received it.
pub fn tracer_payload_piece(
    compressor: &mut PieceCompressor,
    encoded: &[u8],
) -> Result<GzipPiece, WireError> {
    let mut prefix = Vec::with_capacity(16);
    prost::encoding::encode_key(
        AGENT_PAYLOAD_TRACER_PAYLOADS,
        prost::encoding::WireType::LengthDelimited,
        &mut prefix,
    );
    prost::encoding::encode_varint(encoded.len() as u64, &mut prefix);
    GzipPiece::compress(compressor, &[&prefix, encoded])
}

/// The gzipped protobuf `AgentPayload` of `/api/v0.2/traces` from its other fields (`head`, whose
/// `tracer_payloads` are written first) and tracer payloads compressed by [`tracer_payload_piece`]: one
/// gzip member, whose content equals [`encode_agent_payload_with`] of the same payloads (a repeated
/// message field is its elements, each a length-delimited field 5, in any order among the other fields).
pub fn agent_payload_gzip(
    compressor: &mut PieceCompressor,
    head: &pb::AgentPayload,
    tracer_payloads: &[GzipPiece],
) -> Result<Vec<u8>, WireError> {
    let head = GzipPiece::compress(compressor, &[&prost::Message::encode_to_vec(head)])?;
    let mut pieces = Vec::with_capacity(tracer_payloads.len() + 1);
    pieces.push(&head);
    pieces.extend(tracer_payloads);
    Ok(gzip_join(&pieces))
}

/// The field number of `AgentPayload.tracerPayloads`.
const AGENT_PAYLOAD_TRACER_PAYLOADS: u32 = 5;

/// Decodes the protobuf `AgentPayload` of `/api/v0.2/traces`.
pub fn decode_agent_payload(body: &[u8]) -> Result<pb::AgentPayload, WireError> {
    prost::Message::decode(body).map_err(|err: prost::DecodeError| WireError::Protobuf {
        message: "AgentPayload",
        reason: err.to_string(),
    })
}

/// Which trace body a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    V04Msgpack,
    V04Json,
    V05,
}

impl TraceFormat {
    /// The format of a `/v0.4/traces` body, from its `Content-Type` as the trace-agent reads it:
    /// `application/msgpack` is msgpack; JSON types, no type or an unparseable one are JSON; any other
    /// type is tried as JSON, then msgpack ([`decode_traces`] does the second try).
    pub fn v04(content_type: Option<&str>) -> Self {
        let media = content_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/msgpack") => TraceFormat::V04Msgpack,
            _ => TraceFormat::V04Json,
        }
    }
}

/// Decodes a `/v0.4` or `/v0.5` body. A v0.4 body announced as neither msgpack nor JSON that is not
/// JSON is read as msgpack, as the trace-agent does "its best".
pub fn decode_traces(
    format: TraceFormat,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Vec<Vec<pb::Span>>, WireError> {
    match format {
        TraceFormat::V04Msgpack => decode_v04(body),
        TraceFormat::V05 => decode_v05(body),
        TraceFormat::V04Json => {
            let declared_json = content_type
                .and_then(|value| value.split(';').next())
                .map(|value| value.trim().to_ascii_lowercase())
                .is_none_or(|media| matches!(media.as_str(), "application/json" | "text/json" | ""));
            match decode_v04_json(body) {
                Err(_) if !declared_json => decode_v04(body),
                other => other,
            }
        }
    }
}

/// [`decode_traces`], the spans borrowing their text from `body` (a JSON body's are owned).
pub fn decode_traces_ref<'a>(
    format: TraceFormat,
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<Vec<Vec<SpanSlice<'a>>>, WireError> {
    match format {
        TraceFormat::V04Msgpack => decode_v04_ref(body),
        TraceFormat::V05 => decode_v05_ref(body),
        TraceFormat::V04Json => {
            let declared_json = content_type
                .and_then(|value| value.split(';').next())
                .map(|value| value.trim().to_ascii_lowercase())
                .is_none_or(|media| matches!(media.as_str(), "application/json" | "text/json" | ""));
            match decode_v04_json_ref(body) {
                Err(_) if !declared_json => decode_v04_ref(body),
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests;
