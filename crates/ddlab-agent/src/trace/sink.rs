//! What the trace receiver hands on: finished intake payloads for `apm_dd_url`, and the contract of
//! whoever takes them (the agent's forwarder, or a test).

use std::fmt;

/// Which trace intake route a payload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApmPayloadKind {
    /// `POST /api/v0.2/traces`: a gzipped protobuf `AgentPayload`.
    Traces,
    /// `POST /api/v0.2/stats`: a gzipped msgpack `StatsPayload`.
    Stats,
}

impl ApmPayloadKind {
    /// The route under `apm_dd_url`.
    pub fn path(self) -> &'static str {
        match self {
            ApmPayloadKind::Traces => "/api/v0.2/traces",
            ApmPayloadKind::Stats => "/api/v0.2/stats",
        }
    }
}

/// One request for the trace intake: the body, compressed, and the headers that describe it. The
/// forwarder adds what every request carries (`DD-Api-Key`, `User-Agent`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApmPayload {
    pub kind: ApmPayloadKind,
    /// `Content-Type`, `Content-Encoding` and, for traces, `X-Datadog-Reported-Languages`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl ApmPayload {
    /// The route under `apm_dd_url`.
    pub fn path(&self) -> &'static str {
        self.kind.path()
    }

    /// The value of `name` (compared without case), if the payload carries it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Debug for ApmPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApmPayload")
            .field("path", &self.path())
            .field("headers", &self.headers)
            .field("bytes", &self.body.len())
            .finish()
    }
}

/// Takes the receiver's payloads towards the intake.
///
/// `submit` is called from the receiver's tasks and from the blocking pool, and must not block: queue
/// the payload (the forwarder's bounded retry queue) and return. Whatever the sink cannot keep is its to
/// drop and count; the receiver does not wait for delivery.
pub trait TraceSink: Send + Sync + 'static {
    fn submit(&self, payload: ApmPayload);
}
