//! ddlab-agent: a stand-in for the Datadog Agent that reads the real Agent's configuration layout.
//!
//! Only the configuration layer exists so far: `datadog.yaml` with `DD_*` overrides, and the check
//! configurations under `conf.d/`. The collector, DogStatsD, the trace receiver and the forwarder build on it.

pub mod check;
pub mod config;
