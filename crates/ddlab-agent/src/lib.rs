//! ddlab-agent: a stand-in for the Datadog Agent that reads the real Agent's configuration layout.
//!
//! What exists so far: the configuration layer (`datadog.yaml` with `DD_*` overrides, and the check
//! configurations under `conf.d/`), the check-output contract, and the native MySQL check. The collector,
//! DogStatsD, the trace receiver and the forwarder build on them.

pub mod check;
pub mod config;
pub mod mysql;
