//! ddlab-agent: a stand-in for the Datadog Agent that reads the real Agent's configuration layout and
//! speaks its wire protocol to the lab's backend.
//!
//! ```text
//!  datadog.yaml + DD_* ──▶ config ──▶ runtime::Agent
//!  conf.d ──▶ collector ──(Python host | native mysql | core system checks)──┐
//!  DogStatsD (UDP / Unix socket) ───────────────────────────────────────────┴─▶ aggregator
//!  aggregator ──every 15 s──▶ serializer ──▶ forwarder (retry queue) ──▶ backend (/api/v2/series, /api/v1/check_run, /intake/)
//!  metadata (host tags, IP) ──at start, every 30 min──▶ forwarder
//!  tracers ──/v0.4|/v0.5|/v0.7 traces, /v0.6/stats──▶ trace ──AgentPayload, StatsPayload──▶ forwarder (apm_dd_url)
//!  ipc (127.0.0.1:cmd_port, token) ◀── `ddlab-agent status | health | configcheck`
//! ```
//!
//! Modules: [`config`] (`datadog.yaml`, `conf.d`), [`check`] (the output of a run), [`aggregator`] (the
//! Agent's metric semantics, pure), [`dogstatsd`] (the server), [`python`] (the Python check host),
//! [`mysql`] (the native MySQL check), [`system`] (the core checks), [`collector`] (scheduling and
//! per-check status), [`serializer`] and [`forwarder`] (payloads and their delivery), [`metadata`]
//! (hostname and host metadata), [`status`], [`ipc`] and [`configcheck`] (what the CLI shows),
//! [`runtime`] (the running agent) and [`command`] (`check <name>`). The binary is `src/main.rs`.
//!
//! [`trace`] is the trace receiver (`/v0.4`, `/v0.5`, `/v0.7` traces, `/v0.6/stats`, APM stats towards
//! `/api/v0.2/*`); the runtime starts it when `apm_config.enabled` and sends what it makes through the
//! same forwarder as the metrics, to `apm_config.apm_dd_url`.

pub mod aggregator;
pub mod check;
pub mod collector;
pub mod command;
pub mod config;
pub mod configcheck;
pub mod dogstatsd;
pub mod forwarder;
pub mod ipc;
pub mod metadata;
pub mod mysql;
pub mod python;
pub mod runtime;
pub mod serializer;
pub mod status;
pub mod system;
pub mod trace;
#[cfg(unix)]
mod unix_socket;
