//! What `status` and `health` report: the running agent's state as one serializable value (the
//! `status --json` shape, served over IPC), and its text rendering in the Agent's layout.
//!
//! `status --json` prints [`AgentStatus`]:
//!
//! ```text
//! { version, ddlab_version, pid, started_at, now, hostname, host_tags, log_level, python_version,
//!   paths: { config_file, confd_path, additional_checksd, run_path, auth_token_file, log_file },
//!   config_warnings: [..],
//!   collector: { running_checks: [CheckStats..], loading_errors, config_errors, config_warnings, python, runners },
//!   aggregator: { checks_metric_samples, dogstatsd_metric_samples, series_flushed, service_checks_flushed,
//!                 events_flushed, flushes, last_flush_at, dogstatsd_contexts, check_contexts, .. },
//!   forwarder: { endpoint, api_key: { state, message, ending },
//!                transactions: { success, success_by_endpoint, errors, retried, dropped_http,
//!                                dropped_retry_queue_full, dropped_on_shutdown, dropped_by_endpoint, .. },
//!                retry_queue: {..}, last_error },
//!   host_metadata: { sent, last_sent_at, ip },
//!   dogstatsd: { enabled, udp, socket, error, packets, bytes, metric_samples, events, service_checks,
//!                parse_errors, last_parse_error, udp_kernel_drops, drained_at_stop, .. },
//!   apm: { enabled, running, error, receiver, socket, endpoint, default_env,
//!          tracers: [{ lang, lang_version, interpreter, tracer_version, endpoint, payloads, traces, spans,
//!                      bytes, services: { <service>: { traces, spans } } }],
//!          endpoints: { "/v0.5/traces": { requests, payloads_accepted, bytes, traces, spans,
//!                       decoding_errors, too_large, refused, traces_dropped } },
//!          traces_received, spans_received, spans_kept, traces_dropped: {..}, spans_repaired,
//!          client_stats_buckets, client_stats_groups, client_dropped_p0_traces, client_dropped_p0_spans,
//!          rate_by_service: { "service:,env:": 1.0 }, writer: {..}, last_error } }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::collector::{CheckStats, CollectorStatus, RunState};
use crate::dogstatsd::DogStatsdStats;
use crate::forwarder::{ApiKeyState, ForwarderStats};
use crate::trace::{DroppedTraces, EndpointStats, ReceiverStats, TracerKey, TracerStats};

/// The whole `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The Agent version imitated (`datadog.agent.running` carries it as `version:`).
    pub version: String,
    /// This program's version.
    pub ddlab_version: String,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: i64,
    /// When this status was taken, Unix milliseconds.
    pub now_ms: i64,
    pub hostname: String,
    pub host_tags: Vec<String>,
    pub log_level: String,
    /// The Python check host's interpreter version, when it runs.
    pub python_version: Option<String>,
    pub paths: Paths,
    /// `datadog.yaml` warnings (unknown keys…), as located messages.
    pub config_warnings: Vec<String>,
    pub collector: CollectorStatus,
    pub aggregator: AggregatorSection,
    pub forwarder: ForwarderStats,
    pub host_metadata: HostMetadataSection,
    pub dogstatsd: DogStatsdSection,
    pub apm: ApmSection,
}

/// Where things are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paths {
    pub config_file: PathBuf,
    pub confd_path: PathBuf,
    pub additional_checksd: PathBuf,
    pub run_path: PathBuf,
    pub auth_token_file: PathBuf,
    pub log_file: Option<PathBuf>,
}

/// The *Aggregator* section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorSection {
    pub checks_metric_samples: u64,
    pub checks_non_finite_dropped: u64,
    pub dogstatsd_metric_samples: u64,
    pub dogstatsd_discarded: u64,
    pub series_flushed: u64,
    pub service_checks_flushed: u64,
    pub events_flushed: u64,
    /// Flushes since start.
    pub flushes: u64,
    /// Unix seconds.
    pub last_flush_at: Option<i64>,
    pub dogstatsd_contexts: u64,
    pub check_contexts: u64,
}

/// Host metadata sending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMetadataSection {
    /// Payloads handed to the forwarder.
    pub sent: u64,
    /// Unix seconds.
    pub last_sent_at: Option<i64>,
    /// The IP reported as gohai `network.ipaddress`.
    pub ip: Option<String>,
}

/// The *DogStatsD* section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DogStatsdSection {
    /// `use_dogstatsd`.
    pub enabled: bool,
    /// The bound UDP address.
    pub udp: Option<String>,
    pub socket: Option<PathBuf>,
    /// Why the server is not running, when it is enabled and is not.
    pub error: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub metric_samples: u64,
    pub events: u64,
    pub service_checks: u64,
    pub parse_errors: u64,
    pub last_parse_error: Option<String>,
    pub ignored_fields: u64,
    pub receive_errors: u64,
    /// Datagrams the kernel dropped on the UDP socket (receive buffer full).
    #[serde(default)]
    pub udp_kernel_drops: u64,
    /// Datagrams read at shutdown, after the sockets stopped taking new ones.
    #[serde(default)]
    pub drained_at_stop: u64,
}

/// The *APM Agent* section: the trace receiver and what it sent. Counts are since the agent started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApmSection {
    /// `apm_config.enabled`, and a port or socket to listen on.
    pub enabled: bool,
    pub running: bool,
    /// Why the receiver is not running, when it is enabled and is not.
    pub error: Option<String>,
    /// The bound TCP address (`apm_config.receiver_port`).
    pub receiver: Option<String>,
    /// `apm_config.receiver_socket`.
    pub socket: Option<PathBuf>,
    /// Where traces and stats go: `apm_config.apm_dd_url`.
    pub endpoint: String,
    /// The env of traces that name none.
    pub default_env: String,
    /// Accepted trace payloads by tracer and endpoint, with their services.
    pub tracers: Vec<ApmTracer>,
    /// By route: requests, what was accepted, and what was refused (400, 413, 429).
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Traces and spans that passed normalisation.
    pub traces_received: u64,
    pub spans_received: u64,
    /// Spans kept by sampling, bound for the intake.
    pub spans_kept: u64,
    pub traces_dropped: DroppedTraces,
    /// Spans the trace-agent's normalisation repaired.
    pub spans_repaired: u64,
    /// The tracers' own stats (`/v0.6/stats`).
    pub client_stats_buckets: u64,
    pub client_stats_groups: u64,
    /// What tracers said they dropped before sending.
    pub client_dropped_p0_traces: u64,
    pub client_dropped_p0_spans: u64,
    /// The sampling rates tracers are answered with.
    pub rate_by_service: BTreeMap<String, f64>,
    pub writer: ApmWriter,
    /// The last refused or lost payload.
    pub last_error: Option<String>,
}

/// One tracer on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApmTracer {
    #[serde(flatten)]
    pub key: TracerKey,
    #[serde(flatten)]
    pub stats: TracerStats,
}

/// What the receiver handed to the forwarder (which counts the deliveries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApmWriter {
    pub trace_payloads: u64,
    pub traces: u64,
    pub spans: u64,
    /// Compressed bytes.
    pub trace_bytes: u64,
    pub stats_payloads: u64,
    pub stats_buckets: u64,
    pub stats_bytes: u64,
    /// Payloads that could not be encoded or compressed.
    pub lost: u64,
}

/// `health`: the Agent's component names, healthy or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub healthy: Vec<String>,
    /// `name: why` for each unhealthy component.
    pub unhealthy: Vec<String>,
}

impl DogStatsdSection {
    /// The counters of a running server.
    pub fn with_stats(mut self, stats: &DogStatsdStats) -> Self {
        self.packets = stats.packets;
        self.bytes = stats.bytes;
        self.metric_samples = stats.metric_samples;
        self.events = stats.events;
        self.service_checks = stats.service_checks;
        self.parse_errors = stats.parse_errors;
        self.last_parse_error.clone_from(&stats.last_error);
        self.ignored_fields = stats.ignored_fields;
        self.receive_errors = stats.receive_errors;
        self.udp_kernel_drops = stats.udp_kernel_drops;
        self.drained_at_stop = stats.drained_at_stop;
        self
    }
}

impl ApmSection {
    /// The counters of a running receiver.
    pub fn with_stats(mut self, stats: &ReceiverStats) -> Self {
        self.tracers = stats
            .tracers
            .iter()
            .map(|(key, stats)| ApmTracer {
                key: key.clone(),
                stats: stats.clone(),
            })
            .collect();
        self.endpoints.clone_from(&stats.endpoints);
        self.traces_received = stats.traces_received;
        self.spans_received = stats.spans_received;
        self.spans_kept = stats.spans_kept;
        self.traces_dropped = stats.traces_dropped;
        self.spans_repaired = stats.spans_repaired.total();
        self.client_stats_buckets = stats.client_stats_buckets;
        self.client_stats_groups = stats.client_stats_groups;
        self.client_dropped_p0_traces = stats.client_dropped_p0_traces;
        self.client_dropped_p0_spans = stats.client_dropped_p0_spans;
        self.writer = ApmWriter {
            trace_payloads: stats.trace_payloads_sent,
            traces: stats.traces_sent,
            spans: stats.spans_sent,
            trace_bytes: stats.trace_bytes_sent,
            stats_payloads: stats.stats_payloads_sent,
            stats_buckets: stats.stats_buckets_sent,
            stats_bytes: stats.stats_bytes_sent,
            lost: stats.payloads_lost,
        };
        self.last_error.clone_from(&stats.last_error);
        self
    }
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.unhealthy.is_empty()
    }

    /// The Agent's `health` output.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verdict = if self.is_healthy() { "PASS" } else { "FAIL" };
        let _ = writeln!(out, "Agent health: {verdict}");
        let _ = writeln!(out, "=== {} healthy components ===", self.healthy.len());
        let _ = writeln!(out, "{}", self.healthy.join(", "));
        if !self.unhealthy.is_empty() {
            let _ = writeln!(out, "=== {} unhealthy components ===", self.unhealthy.len());
            let _ = writeln!(out, "{}", self.unhealthy.join(", "));
        }
        out
    }
}

/// `status` as text, section by section in the Agent's layout.
pub fn render(status: &AgentStatus) -> String {
    let mut out = String::new();
    header(&mut out, &format!("Agent (v{})", status.version));
    let _ = writeln!(out, "  Status date: {}", date_ms(status.now_ms));
    let _ = writeln!(out, "  Agent start: {}", date_ms(status.started_at * 1000));
    let _ = writeln!(out, "  Pid: {}", status.pid);
    let _ = writeln!(
        out,
        "  Python Version: {}",
        status
            .python_version
            .as_deref()
            .unwrap_or("n/a (no Python check host)")
    );
    let _ = writeln!(
        out,
        "  Agent flavor: agent (ddlab-agent {})",
        status.ddlab_version
    );
    let _ = writeln!(out, "  Log Level: {}", status.log_level);
    out.push('\n');
    subheader(&mut out, "Paths", 2);
    let paths = &status.paths;
    let _ = writeln!(out, "    Config File: {}", paths.config_file.display());
    let _ = writeln!(out, "    conf.d: {}", paths.confd_path.display());
    let _ = writeln!(out, "    checks.d: {}", paths.additional_checksd.display());
    let _ = writeln!(out, "    Run Path: {}", paths.run_path.display());
    let _ = writeln!(out, "    Auth Token: {}", paths.auth_token_file.display());
    if let Some(log_file) = &paths.log_file {
        let _ = writeln!(out, "    Log File: {}", log_file.display());
    }
    out.push('\n');
    subheader(&mut out, "Hostnames", 2);
    let _ = writeln!(out, "    hostname: {}", status.hostname);
    let _ = writeln!(out, "    host tags: {}", status.host_tags.join(", "));
    if !status.config_warnings.is_empty() {
        out.push('\n');
        subheader(&mut out, "Config Warnings", 2);
        for warning in &status.config_warnings {
            let _ = writeln!(out, "    {warning}");
        }
    }
    out.push('\n');
    collector(&mut out, &status.collector);
    forwarder(&mut out, &status.forwarder, &status.host_metadata);
    aggregator(&mut out, &status.aggregator);
    dogstatsd(&mut out, &status.dogstatsd);
    apm(&mut out, &status.apm);
    out
}

/// One instance's block under *Running Checks*, as `status` and `check` print it.
pub fn render_check(out: &mut String, check: &CheckStats) {
    let title = match &check.version {
        Some(version) => format!("{} ({version})", check.name),
        None => check.name.clone(),
    };
    let _ = writeln!(out, "    {title}");
    let _ = writeln!(out, "    {}", "-".repeat(title.chars().count()));
    let _ = writeln!(
        out,
        "      Instance ID: {} [{}]",
        check.check_id,
        check.state.name()
    );
    let _ = writeln!(out, "      Configuration Source: {}", check.source);
    let _ = writeln!(out, "      Total Runs: {}", check.total_runs);
    let counts = |name: &str, c: &crate::collector::RunCounts| {
        format!("      {name}: Last Run: {}, Total: {}", c.last_run, c.total)
    };
    let _ = writeln!(out, "{}", counts("Metric Samples", &check.metric_samples));
    let _ = writeln!(out, "{}", counts("Events", &check.events));
    let _ = writeln!(out, "{}", counts("Service Checks", &check.service_checks));
    let _ = writeln!(
        out,
        "      Average Execution Time : {}ms",
        check.average_execution_ms
    );
    let _ = writeln!(
        out,
        "      Last Execution Date : {}",
        optional_date(check.last_run_at_ms)
    );
    let _ = writeln!(
        out,
        "      Last Successful Execution Date : {}",
        optional_date(check.last_successful_run_at_ms)
    );
    if check.total_timeouts + check.total_crashes > 0 {
        let _ = writeln!(
            out,
            "      Timeouts: {}, Crashes (process restarted): {}",
            check.total_timeouts, check.total_crashes
        );
    }
    if check.skipped_runs > 0 {
        let _ = writeln!(
            out,
            "      Skipped Runs (previous run still going): {}",
            check.skipped_runs
        );
    }
    if !check.metadata.is_empty() {
        let _ = writeln!(out, "      metadata:");
        for (key, value) in &check.metadata {
            let _ = writeln!(out, "        {key}: {value}");
        }
    }
    if check.state == RunState::Warning || !check.warnings.is_empty() {
        for warning in &check.warnings {
            let _ = writeln!(out, "      Warning: {warning}");
        }
    }
    if let Some(error) = &check.last_error {
        let _ = writeln!(out, "      Error: {}", error.message);
        for line in error.traceback.lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
    out.push('\n');
}

fn collector(out: &mut String, status: &CollectorStatus) {
    header(out, "Collector");
    subheader(out, "Running Checks", 2);
    out.push('\n');
    if status.running_checks.is_empty() {
        let _ = writeln!(out, "    No checks have run yet.\n");
    }
    for check in &status.running_checks {
        render_check(out, check);
    }
    if !status.config_errors.is_empty() {
        subheader(out, "Config Errors", 2);
        for problem in &status.config_errors {
            let _ = writeln!(out, "    {}", located(problem));
        }
        out.push('\n');
    }
    if !status.config_warnings.is_empty() {
        subheader(out, "Config Warnings", 2);
        for problem in &status.config_warnings {
            let _ = writeln!(out, "    {}", located(problem));
        }
        out.push('\n');
    }
    if !status.loading_errors.is_empty() {
        subheader(out, "Loading Errors", 2);
        for error in &status.loading_errors {
            let _ = writeln!(out, "    {}", error.check);
            let _ = writeln!(out, "    {}", "-".repeat(error.check.chars().count()));
            let _ = writeln!(out, "      Instance ID: {}", error.check_id);
            let _ = writeln!(out, "      Configuration Source: {}", error.source);
            let _ = writeln!(out, "      Error: {}", error.error);
            for line in error.traceback.lines() {
                let _ = writeln!(out, "      {line}");
            }
            out.push('\n');
        }
    }
    if let Some(python) = &status.python {
        subheader(out, "Python Check Host", 2);
        let _ = writeln!(
            out,
            "    Interpreter: {} ({})",
            python.executable.display(),
            python.version
        );
        let _ = writeln!(
            out,
            "    datadog-checks-base: {}",
            python
                .base_version
                .as_deref()
                .or(python.base_error.as_deref())
                .unwrap_or("unknown")
        );
        let _ = writeln!(out, "    Pid: {}, Restarts: {}", python.pid, python.restarts);
        for isolated in &python.isolated {
            let _ = writeln!(
                out,
                "    Isolated in a process of its own: {} ({})",
                isolated.check_id, isolated.reason
            );
        }
        out.push('\n');
    }
}

fn forwarder(out: &mut String, stats: &ForwarderStats, metadata: &HostMetadataSection) {
    header(out, "Forwarder");
    subheader(out, "Transactions", 2);
    let t = &stats.transactions;
    let _ = writeln!(out, "    Endpoint: {}", stats.endpoint);
    for (endpoint, count) in &t.success_by_endpoint {
        let _ = writeln!(out, "    {endpoint}: {count}");
    }
    let _ = writeln!(out, "    Success: {} ({} bytes)", t.success, t.success_bytes);
    let _ = writeln!(out, "    Errors (retried): {}", t.errors);
    let _ = writeln!(out, "    Retried: {}", t.retried);
    let _ = writeln!(out, "    Dropped (HTTP 4xx): {}", t.dropped_http);
    let _ = writeln!(
        out,
        "    Dropped (retry queue full): {} ({} bytes)",
        t.dropped_retry_queue_full, t.dropped_retry_queue_full_bytes
    );
    let _ = writeln!(out, "    Dropped (on shutdown): {}", t.dropped_on_shutdown);
    if !t.dropped_by_endpoint.is_empty() {
        let dropped: Vec<String> = t
            .dropped_by_endpoint
            .iter()
            .map(|(endpoint, count)| format!("{endpoint}: {count}"))
            .collect();
        let _ = writeln!(out, "    Dropped by endpoint: {}", dropped.join(", "));
    }
    if !t.http_errors_by_code.is_empty() {
        let codes: Vec<String> = t
            .http_errors_by_code
            .iter()
            .map(|(code, count)| format!("{code}: {count}"))
            .collect();
        let _ = writeln!(out, "    HTTP Errors: {}", codes.join(", "));
    }
    let q = &stats.retry_queue;
    let _ = writeln!(
        out,
        "    Retry Queue: {} payloads, {} of {} bytes",
        q.payloads, q.bytes, q.max_bytes
    );
    if let Some(error) = &stats.last_error {
        let _ = writeln!(out, "    Last Error: {error}");
    }
    out.push('\n');
    subheader(out, "API Keys status", 2);
    let key = &stats.api_key;
    let ending = key.ending.as_deref().unwrap_or("");
    let verdict = match key.state {
        ApiKeyState::Valid => "API Key valid".to_owned(),
        ApiKeyState::Invalid => "API Key invalid".to_owned(),
        ApiKeyState::Unchecked => "not checked yet".to_owned(),
        ApiKeyState::Unreachable => "could not be checked".to_owned(),
        ApiKeyState::Missing => "no API key configured".to_owned(),
    };
    let _ = writeln!(out, "    API key ending with {ending}: {verdict}");
    if let Some(message) = &key.message {
        let _ = writeln!(out, "      {message}");
    }
    out.push('\n');
    subheader(out, "Host Metadata", 2);
    let _ = writeln!(out, "    Payloads Sent: {}", metadata.sent);
    let _ = writeln!(
        out,
        "    Last Sent: {}",
        optional_date(metadata.last_sent_at.map(|s| s * 1000))
    );
    let _ = writeln!(
        out,
        "    IP Address: {}",
        metadata.ip.as_deref().unwrap_or("unknown")
    );
    out.push('\n');
}

fn aggregator(out: &mut String, a: &AggregatorSection) {
    header(out, "Aggregator");
    let _ = writeln!(out, "  Checks Metric Sample: {}", a.checks_metric_samples);
    let _ = writeln!(out, "  Dogstatsd Metric Sample: {}", a.dogstatsd_metric_samples);
    let _ = writeln!(out, "  Events Flushed: {}", a.events_flushed);
    let _ = writeln!(out, "  Number Of Flushes: {}", a.flushes);
    let _ = writeln!(out, "  Series Flushed: {}", a.series_flushed);
    let _ = writeln!(out, "  Service Checks Flushed: {}", a.service_checks_flushed);
    let _ = writeln!(
        out,
        "  Contexts: {} checks, {} DogStatsD",
        a.check_contexts, a.dogstatsd_contexts
    );
    let _ = writeln!(
        out,
        "  Last Flush: {}",
        optional_date(a.last_flush_at.map(|s| s * 1000))
    );
    out.push('\n');
}

fn dogstatsd(out: &mut String, d: &DogStatsdSection) {
    header(out, "DogStatsD");
    if !d.enabled {
        let _ = writeln!(
            out,
            "  Not enabled (use_dogstatsd: false, or dogstatsd_port: 0 without dogstatsd_socket)\n"
        );
        return;
    }
    if let Some(error) = &d.error {
        let _ = writeln!(out, "  Not running: {error}\n");
        return;
    }
    if let Some(udp) = &d.udp {
        let _ = writeln!(out, "  Listening on UDP {udp}");
    }
    if let Some(socket) = &d.socket {
        let _ = writeln!(out, "  Listening on {}", socket.display());
    }
    let _ = writeln!(out, "  Packets: {}", d.packets);
    let _ = writeln!(out, "  Bytes: {}", d.bytes);
    let _ = writeln!(out, "  Metric Samples: {}", d.metric_samples);
    let _ = writeln!(out, "  Event Packets: {}", d.events);
    let _ = writeln!(out, "  Service Check Packets: {}", d.service_checks);
    let _ = writeln!(out, "  Parse Errors: {}", d.parse_errors);
    if let Some(error) = &d.last_parse_error {
        let _ = writeln!(out, "  Last Parse Error: {error}");
    }
    let _ = writeln!(out, "  Ignored Fields: {}", d.ignored_fields);
    let _ = writeln!(out, "  Receive Errors: {}", d.receive_errors);
    if d.udp.is_some() {
        let _ = writeln!(
            out,
            "  UDP Packets Dropped By The Kernel (receive buffer full): {}",
            d.udp_kernel_drops
        );
    }
    out.push('\n');
}

fn apm(out: &mut String, a: &ApmSection) {
    header(out, "APM Agent");
    if !a.enabled {
        let _ = writeln!(
            out,
            "  Not enabled (apm_config.enabled: false, or receiver_port: 0 without receiver_socket)\n"
        );
        return;
    }
    if !a.running {
        let _ = writeln!(out, "  Status: Not running");
        if let Some(error) = &a.error {
            let _ = writeln!(out, "  Error: {error}");
        }
        out.push('\n');
        return;
    }
    let _ = writeln!(out, "  Status: Running");
    if let Some(receiver) = &a.receiver {
        let _ = writeln!(out, "  Receiver: {receiver}");
    }
    if let Some(socket) = &a.socket {
        let _ = writeln!(out, "  UDS receiver: {}", socket.display());
    }
    let _ = writeln!(out, "  Endpoint: {}", a.endpoint);
    let _ = writeln!(out, "  Default env: {}", a.default_env);
    out.push('\n');
    subheader(out, "Receiver (since start)", 2);
    if a.tracers.is_empty() {
        let _ = writeln!(out, "    No traces received yet.");
    }
    for tracer in &a.tracers {
        let key = &tracer.key;
        let from = if key.lang.is_empty() {
            "unknown clients".to_owned()
        } else {
            format!(
                "{} {} ({}), client {}",
                key.lang, key.lang_version, key.interpreter, key.tracer_version
            )
        };
        let _ = writeln!(out, "    From {from}, on {}", key.endpoint);
        let t = &tracer.stats;
        let _ = writeln!(
            out,
            "      Traces received: {} ({} bytes, {} payloads)",
            t.traces, t.bytes, t.payloads
        );
        let _ = writeln!(out, "      Spans received: {}", t.spans);
        for (service, counts) in &t.services {
            let _ = writeln!(
                out,
                "      Service '{service}': {} traces, {} spans",
                counts.traces, counts.spans
            );
        }
    }
    let refused: Vec<String> = a
        .endpoints
        .iter()
        .filter(|(_, e)| e.decoding_errors + e.too_large + e.refused > 0)
        .map(|(route, e)| {
            format!(
                "{route}: {} malformed (400), {} too large (413), {} refused (429), {} traces dropped",
                e.decoding_errors, e.too_large, e.refused, e.traces_dropped
            )
        })
        .collect();
    for line in &refused {
        let _ = writeln!(out, "    WARNING: payloads refused on {line}");
    }
    let d = &a.traces_dropped;
    let _ = writeln!(
        out,
        "    Traces after normalisation: {} ({} spans), {} spans kept",
        a.traces_received, a.spans_received, a.spans_kept
    );
    let _ = writeln!(
        out,
        "    Traces dropped: {} sampled out, {} empty, {} trace id 0, {} span id 0, {} foreign span",
        d.sampled_out, d.empty_trace, d.trace_id_zero, d.span_id_zero, d.foreign_span
    );
    let _ = writeln!(out, "    Spans repaired: {}", a.spans_repaired);
    if a.client_stats_buckets > 0 {
        let _ = writeln!(
            out,
            "    Tracer-computed stats: {} buckets, {} groups",
            a.client_stats_buckets, a.client_stats_groups
        );
    }
    if a.client_dropped_p0_traces + a.client_dropped_p0_spans > 0 {
        let _ = writeln!(
            out,
            "    Dropped by tracers (P0): {} traces, {} spans",
            a.client_dropped_p0_traces, a.client_dropped_p0_spans
        );
    }
    for (key, rate) in &a.rate_by_service {
        if key == "service:,env:" {
            let _ = writeln!(out, "    Default priority sampling rate: {:.1}%", rate * 100.0);
        } else {
            let _ = writeln!(
                out,
                "    Priority sampling rate for '{key}': {:.1}%",
                rate * 100.0
            );
        }
    }
    out.push('\n');
    subheader(out, "Writer (since start)", 2);
    let w = &a.writer;
    let _ = writeln!(
        out,
        "    Traces: {} payloads, {} traces, {} spans, {} bytes",
        w.trace_payloads, w.traces, w.spans, w.trace_bytes
    );
    let _ = writeln!(
        out,
        "    Stats: {} payloads, {} stats buckets, {} bytes",
        w.stats_payloads, w.stats_buckets, w.stats_bytes
    );
    if w.lost > 0 {
        let _ = writeln!(out, "    WARNING: {} payloads could not be encoded", w.lost);
    }
    if let Some(error) = &a.last_error {
        let _ = writeln!(out, "    Last Error: {error}");
    }
    out.push('\n');
}

fn located(problem: &crate::collector::ConfigProblem) -> String {
    let mut text = problem.path.display().to_string();
    if let Some(line) = problem.line {
        let _ = write!(text, ":{line}");
        if let Some(column) = problem.column {
            let _ = write!(text, ":{column}");
        }
    }
    format!("{text}: {}", problem.message)
}

fn header(out: &mut String, title: &str) {
    let rule = "=".repeat(title.chars().count());
    let _ = writeln!(out, "{rule}\n{title}\n{rule}\n");
}

fn subheader(out: &mut String, title: &str, indent: usize) {
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{title}\n{pad}{}", "=".repeat(title.chars().count()));
}

fn optional_date(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), date_ms)
}

/// `2024-05-11 09:35:41 UTC (1715420141000)`, as the Agent prints dates.
pub fn date_ms(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC ({ms})",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
pub(crate) mod tests;
