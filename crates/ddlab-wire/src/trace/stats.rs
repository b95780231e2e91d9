//! APM stats bodies: the tracers' `ClientStatsPayload` on `/v0.6/stats` (msgpack) and the agent's
//! `StatsPayload` on `/api/v0.2/stats` (msgpack as the trace-agent sends it, protobuf accepted too), with
//! the Go field names (`Hits`, `OkSummary`, ...) on the msgpack wire.

use super::pb;
use crate::WireError;

/// How a `StatsPayload` body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsFormat {
    /// `application/msgpack`: what the trace-agent sends.
    Msgpack,
    /// `application/x-protobuf`.
    Protobuf,
}

impl StatsFormat {
    /// The format a `Content-Type` names: protobuf when it says so, msgpack otherwise.
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let media = content_type
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/x-protobuf" | "application/protobuf") => StatsFormat::Protobuf,
            _ => StatsFormat::Msgpack,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            StatsFormat::Msgpack => "application/msgpack",
            StatsFormat::Protobuf => "application/x-protobuf",
        }
    }
}

/// `/v0.6/stats`: one tracer's stats, msgpack.
pub fn decode_client_stats(body: &[u8]) -> Result<pb::ClientStatsPayload, WireError> {
    rmp_serde::from_slice(body).map_err(|err| msgpack_error("ClientStatsPayload", &err))
}

/// A tracer's `/v0.6/stats` body, as libdatadog's tracers write it.
pub fn encode_client_stats(payload: &pb::ClientStatsPayload) -> Result<Vec<u8>, WireError> {
    rmp_serde::to_vec_named(payload)
        .map_err(|err| WireError::invalid(format!("cannot encode a ClientStatsPayload: {err}")))
}

/// `/api/v0.2/stats`: the agent's stats, in either format.
pub fn decode_stats_payload(body: &[u8], format: StatsFormat) -> Result<pb::StatsPayload, WireError> {
    match format {
        StatsFormat::Msgpack => {
            rmp_serde::from_slice(body).map_err(|err| msgpack_error("StatsPayload", &err))
        }
        StatsFormat::Protobuf => {
            prost::Message::decode(body).map_err(|err: prost::DecodeError| WireError::Protobuf {
                message: "StatsPayload",
                reason: err.to_string(),
            })
        }
    }
}

/// The agent's `/api/v0.2/stats` body in `format`.
pub fn encode_stats_payload(payload: &pb::StatsPayload, format: StatsFormat) -> Result<Vec<u8>, WireError> {
    match format {
        StatsFormat::Msgpack => rmp_serde::to_vec_named(payload)
            .map_err(|err| WireError::invalid(format!("cannot encode a StatsPayload: {err}"))),
        StatsFormat::Protobuf => Ok(prost::Message::encode_to_vec(payload)),
    }
}

fn msgpack_error(message: &'static str, err: &rmp_serde::decode::Error) -> WireError {
    let truncated = matches!(
        err,
        rmp_serde::decode::Error::InvalidMarkerRead(io) | rmp_serde::decode::Error::InvalidDataRead(io)
            if io.kind() == std::io::ErrorKind::UnexpectedEof
    );
    WireError::Msgpack {
        message,
        path: String::new(),
        offset: None,
        reason: err.to_string(),
        truncated,
    }
}
