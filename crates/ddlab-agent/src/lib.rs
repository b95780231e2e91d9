//! ddlab-agent: a stand-in for the Datadog Agent that reads the real Agent's configuration layout.
//!
//! So far: the configuration layer (`datadog.yaml` with `DD_*` overrides, the check configurations under
//! `conf.d/`), the check-output contract, the aggregator (the Agent's metric semantics, pure), the DogStatsD
//! server feeding it, the Python check host that runs checks.d and installed integrations, and the native
//! MySQL check, and the trace receiver (traces and APM stats from tracers, towards the trace intake).
//! The collector and the forwarder build on them.

pub mod aggregator;
pub mod check;
pub mod config;
pub mod dogstatsd;
pub mod mysql;
pub mod python;
pub mod trace;
