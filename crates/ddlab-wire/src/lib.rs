//! Datadog's wire formats, shared by the lab's agent (which encodes them) and its backend (which decodes
//! them): pure functions over bytes, no IO, no HTTP, no clock.
//!
//! ```text
//!  Content-Encoding ──compression::Encoding──▶ decompress(limit) ──▶ series::decode ──▶ MetricBatch
//!                                                                 ├─▶ check_run::decode ──▶ Vec<CheckRun>
//!                                                                 ├─▶ intake::decode ──▶ Intake (HostMetadata, events)
//!                                                                 └─▶ events::decode ──▶ Event
//!  MetricBatch ──normalize::series──▶ (MetricBatch, Normalized)
//!  DogStatsD datagram ──dogstatsd::parse──▶ Metric | Event | ServiceCheck (per line)
//!  /v0.4, /v0.5, /v0.7 traces ──trace::decode_*──▶ pb spans ──trace::normalize──▶ repaired spans
//!  AgentPayload, StatsPayload ◀──trace::{encode,decode}_*──▶ bytes; okSummary ──trace::sketch──▶ quantiles
//! ```
//!
//! - [`compression`]: `Content-Encoding` parsing, bounded decompression, the agent's compression.
//! - [`series`]: `/api/v1/series` JSON, `/api/v2/series` JSON and protobuf into one [`series::MetricBatch`].
//! - [`normalize`]: Datadog's metric-name and tag rules as a separate step, with a report of changes.
//! - [`check_run`], [`events`], [`intake`]: the other intake bodies.
//! - [`dogstatsd`]: the datagrams clients send to the agent, parsed line by line.
//! - [`trace`]: tracer trace and stats bodies (msgpack v0.4/v0.5/v0.7, `/v0.6/stats`), the agent's
//!   `AgentPayload` and `StatsPayload`, the trace-agent's span normalisation, latency sketches.
//!
//! Decoders accept what Datadog's clients and the Agent send (nulls, numeric strings, unknown fields),
//! are strict about the type of every field they read, and refuse a body whole: they return the full
//! batch or a [`WireError`] whose message names the field path (`series[3].points[1]: timestamp must be
//! a number`). They never panic, whatever the bytes (see the mutation tests).
//!
//! **Invariant:** this is the only crate that knows Datadog's byte formats; the agent and the backend
//! speak in the domain types defined here. **Boundary:** no routes, no status codes, no clock: the
//! caller passes `now` where a rule depends on time ([`events::check_date`]).

pub mod check_run;
pub mod compression;
pub mod dogstatsd;
mod error;
pub mod events;
pub mod intake;
mod json;
pub mod normalize;
pub mod series;
pub mod trace;

pub use compression::Encoding;
pub use error::{Location, WireError};

#[cfg(test)]
mod mutations;
