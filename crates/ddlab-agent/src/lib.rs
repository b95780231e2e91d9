//! ddlab-agent: a stand-in for the Datadog Agent that reads the real Agent's configuration layout.
//!
//! So far: the configuration layer (`datadog.yaml` with `DD_*` overrides, the check configurations
//! under `conf.d/`), the check-output contract, and the Python check host that runs checks.d and
//! installed integrations. The collector, DogStatsD, the trace receiver and the forwarder build on them.

pub mod check;
pub mod config;
pub mod python;
