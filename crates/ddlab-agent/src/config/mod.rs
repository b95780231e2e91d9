//! The Agent's main configuration file, `datadog.yaml`, with the real Agent's `DD_*` environment overrides.
//!
//! Reading is lenient where the real Agent is lenient (tags as a list or as a scalar, booleans and numbers
//! written as strings) and strict elsewhere: a YAML error names the file, line and column, and a bad `DD_*`
//! value names the variable. Unknown keys are kept out of the typed config and reported as warnings.

pub mod checks;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use checks::{CheckConfig, CheckId, ConfD, Instance, load_confd};
pub use yaml::{Problem, Severity};

/// The name of the main configuration file inside the config root.
pub const MAIN_FILE: &str = "datadog.yaml";

/// Where the real Agent keeps its configuration on Linux; `ddlab-agent run -c DIR` reads another folder.
pub const DEFAULT_CONFIG_ROOT: &str = "/etc/datadog-agent";

/// The IPC token's file name inside `run_path`, unless `auth_token_file_path` says otherwise.
pub const AUTH_TOKEN_FILE: &str = "auth_token";

/// `ddlab_check_timeout` when unset.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the agent reads from `datadog.yaml` and the environment, with the real Agent's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// `api_key` / `DD_API_KEY`; required to forward, so `None` is reported by the forwarder, not here.
    pub api_key: Option<ApiKey>,
    /// `site` / `DD_SITE`; default `datadoghq.com`. Used to derive intake URLs when `dd_url` is unset.
    pub site: String,
    /// `dd_url` / `DD_DD_URL` (wins) or `DD_URL`: the metrics, service check and metadata intake.
    pub dd_url: Option<String>,
    /// `hostname` / `DD_HOSTNAME`; `None` means auto-detect.
    pub hostname: Option<String>,
    /// `tags` / `DD_TAGS`: host tags, sent in host metadata rather than on each series.
    pub tags: Vec<String>,
    /// `extra_tags` / `DD_EXTRA_TAGS`: appended to `tags`.
    pub extra_tags: Vec<String>,
    /// `env` / `DD_ENV`: adds `env:<env>` to the host tags and is the traces' default env.
    pub env: Option<String>,
    /// `apm_config.*`.
    pub apm: ApmConfig,
    /// `use_dogstatsd`, `dogstatsd_*`.
    pub dogstatsd: DogStatsdConfig,
    /// `forwarder_*`.
    pub forwarder: ForwarderConfig,
    /// `check_runners` / `DD_CHECK_RUNNERS`; default 4.
    pub check_runners: u32,
    /// `confd_path` / `DD_CONFD_PATH`; default `<config root>/conf.d`.
    pub confd_path: PathBuf,
    /// `additional_checksd` / `DD_ADDITIONAL_CHECKSD`; default `<config root>/checks.d`.
    pub additional_checksd: PathBuf,
    /// `cmd_port` / `DD_CMD_PORT`: the local IPC port `status` talks to; default 5001.
    pub cmd_port: u16,
    /// `logs_enabled` / `DD_LOGS_ENABLED`; default false (logs are out of the lab's scope).
    pub logs_enabled: bool,
    /// `histogram_aggregates`; default `max median avg count`.
    pub histogram_aggregates: Vec<String>,
    /// `histogram_percentiles`; default `0.95`.
    pub histogram_percentiles: Vec<f64>,
    /// `use_v2_api.series`; default true (protobuf `/api/v2/series`), false selects JSON `/api/v1/series`.
    pub use_v2_api_series: bool,
    /// `serializer_compressor_kind`; default `zstd`.
    pub serializer_compressor_kind: Compressor,
    /// `run_path` / `DD_RUN_PATH`: where the running agent keeps its pid file, IPC token and the Python
    /// host's files. Default `<config root>/run` (the Agent's is `/opt/datadog-agent/run`).
    pub run_path: PathBuf,
    /// `auth_token_file_path` / `DD_AUTH_TOKEN_FILE_PATH`: the token the CLI presents to the IPC endpoint,
    /// written with mode 0600 at start. Default `<run_path>/auth_token`.
    pub auth_token_file_path: PathBuf,
    /// `log_level` / `DD_LOG_LEVEL`; default `info`.
    pub log_level: String,
    /// `log_file` / `DD_LOG_FILE`: a file the agent also logs to; default none (stderr only).
    pub log_file: Option<PathBuf>,
    /// `ddlab_python` / `DDLAB_PYTHON` (lab-only): the interpreter of the Python check host, a virtualenv's
    /// `bin/python` with `crates/ddlab-agent/python/requirements.txt` installed. Default `python3`.
    pub python: Option<PathBuf>,
    /// `ddlab_check_timeout` (lab-only, seconds): how long one check run may take before it is stopped and
    /// reported as an error. Default 30 s. The Agent has no such bound; the lab needs one so a hung check
    /// cannot hold a check runner forever.
    pub check_timeout: Duration,
}

/// `apm_config.*`: the trace receiver and where traces are forwarded.
#[derive(Debug, Clone, PartialEq)]
pub struct ApmConfig {
    /// `apm_config.enabled` / `DD_APM_ENABLED`; default true.
    pub enabled: bool,
    /// `apm_config.receiver_port` / `DD_APM_RECEIVER_PORT`; default 8126, 0 disables the TCP receiver.
    pub receiver_port: u16,
    /// `apm_config.receiver_socket` / `DD_APM_RECEIVER_SOCKET`: a Unix socket for traces.
    pub receiver_socket: Option<PathBuf>,
    /// `apm_config.apm_non_local_traffic` / `DD_APM_NON_LOCAL_TRAFFIC`; false binds 127.0.0.1 only.
    pub non_local_traffic: bool,
    /// `apm_config.apm_dd_url` / `DD_APM_DD_URL`: the trace intake; `dd_url` does not redirect APM.
    pub dd_url: Option<String>,
    /// `apm_config.env` / `DD_APM_ENV`: first in the env fallback chain for traces.
    pub env: Option<String>,
    /// `apm_config.decoders` / `DD_APM_DECODERS`: trace payloads decoded and processed at once; `None`
    /// (or 0) is the default, one per CPU (see `TraceReceiverConfig::decoders` for why not the
    /// trace-agent's half).
    pub decoders: Option<usize>,
    /// `apm_config.decoder_timeout` / `DD_APM_DECODER_TIMEOUT`, in milliseconds: how long a payload waits
    /// for a decoder before it is answered 429; default 1000.
    pub decoder_timeout: Duration,
    /// `apm_config.max_payload_size` / `DD_APM_MAX_PAYLOAD_SIZE`: the largest trace body read, in bytes;
    /// default 25 MiB.
    pub max_payload_size: usize,
}

/// `use_dogstatsd` and `dogstatsd_*`.
#[derive(Debug, Clone, PartialEq)]
pub struct DogStatsdConfig {
    /// `use_dogstatsd` / `DD_USE_DOGSTATSD`; default true.
    pub enabled: bool,
    /// `dogstatsd_port` / `DD_DOGSTATSD_PORT`; default 8125, 0 closes UDP.
    pub port: u16,
    /// `dogstatsd_socket` / `DD_DOGSTATSD_SOCKET`: a Unix datagram socket.
    pub socket: Option<PathBuf>,
    /// `dogstatsd_non_local_traffic` / `DD_DOGSTATSD_NON_LOCAL_TRAFFIC`; default false.
    pub non_local_traffic: bool,
    /// `dogstatsd_buffer_size` / `DD_DOGSTATSD_BUFFER_SIZE`: the largest datagram read; default 8192.
    pub buffer_size: usize,
    /// `dogstatsd_tags` / `DD_DOGSTATSD_TAGS` (space-separated): added to every DogStatsD metric, event
    /// and service check; default none.
    pub tags: Vec<String>,
    /// `dogstatsd_expiry_seconds` / `DD_DOGSTATSD_EXPIRY_SECONDS`: how long an idle counter keeps
    /// reporting 0; default 300.
    pub expiry_seconds: f64,
}

/// `forwarder_*`: timeouts and the bounded retry queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwarderConfig {
    /// `forwarder_timeout`; default 20 s.
    pub timeout: Duration,
    /// `forwarder_retry_queue_payloads_max_size`; default 15 MiB.
    pub retry_queue_max_bytes: usize,
    /// `forwarder_backoff_base`; default 2 s.
    pub backoff_base: Duration,
    /// `forwarder_backoff_max`; default 64 s.
    pub backoff_max: Duration,
}

/// How series payloads are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressor {
    /// `zstd` (Agent 7.71 and later).
    Zstd,
    /// `zlib` (older agents), sent as `Content-Encoding: deflate`.
    Zlib,
}

/// An API key. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// The result of reading the configuration: the config plus what deserves a warning.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: AgentConfig,
    pub warnings: Vec<Problem>,
}

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(Problem),
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Env {
        var: &'static str,
        value: String,
        reason: String,
    },
}

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

impl AgentConfig {
    /// Reads `<root>/datadog.yaml`, then applies the environment (`env` looks a variable up).
    pub fn load(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
        let path = root.join(MAIN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::from_yaml(root, &path, &text, env)
    }

    /// Parses `text` (the contents of `path`) and applies the environment.
    pub fn from_yaml(
        root: &Path,
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigError> {
        let raw: RawConfig = yaml::parse(path, text).map_err(ConfigError::Invalid)?;
        let mut warnings = Vec::new();
        for key in raw.unknown.keys() {
            warnings.push(Problem::warning(
                path,
                yaml::line_of_key(text, key),
                format!("unknown key '{key}' is ignored by ddlab-agent"),
            ));
        }
        if let Some(apm) = &raw.apm_config {
            for key in apm.unknown.keys() {
                warnings.push(Problem::warning(
                    path,
                    yaml::line_of_key(text, key),
                    format!("unknown key 'apm_config.{key}' is ignored by ddlab-agent"),
                ));
            }
        }
        let mut config = raw.into_config(root);
        config.apply_env(env)?;
        Ok(Loaded { config, warnings })
    }

    /// Host tags as sent in host metadata: `tags`, then `extra_tags`, then `env:<env>` if not already there.
    pub fn host_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self.tags.iter().chain(&self.extra_tags).cloned().collect();
        if let Some(env) = &self.env {
            let tag = format!("env:{env}");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Base URL of the metrics intake: `dd_url`, else `https://app.<site>`.
    pub fn metrics_url(&self) -> String {
        match &self.dd_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://app.{}", self.site),
        }
    }

    /// Base URL of the trace intake: `apm_config.apm_dd_url`, else `https://trace.agent.<site>`.
    pub fn traces_url(&self) -> String {
        match &self.apm.dd_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("https://trace.agent.{}", self.site),
        }
    }

    /// The env traces get when the tracer sends none: `apm_config.env`, then `env`, then an `env:` host tag.
    pub fn traces_env(&self) -> Option<String> {
        self.apm.env.clone().or_else(|| self.env.clone()).or_else(|| {
            self.tags
                .iter()
                .find_map(|tag| tag.strip_prefix("env:").map(str::to_owned))
        })
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |var: &str| env(var).filter(|value| !value.is_empty());
        if let Some(v) = get("DD_API_KEY") {
            self.api_key = Some(ApiKey::new(v.trim()));
        }
        if let Some(v) = get("DD_SITE") {
            self.site = v;
        }
        if let Some(v) = get("DD_DD_URL").or_else(|| get("DD_URL")) {
            self.dd_url = Some(v);
        }
        if let Some(v) = get("DD_HOSTNAME") {
            self.hostname = Some(v);
        }
        if let Some(v) = get("DD_TAGS") {
            self.tags = split_tags(&v);
        }
        if let Some(v) = get("DD_EXTRA_TAGS") {
            self.extra_tags = split_tags(&v);
        }
        if let Some(v) = get("DD_ENV") {
            self.env = Some(v);
        }
        if let Some(v) = get("DD_APM_ENABLED") {
            self.apm.enabled = env_parse("DD_APM_ENABLED", &v, parse_bool)?;
        }
        if let Some((var, v)) = first_set(&get, &["DD_APM_RECEIVER_PORT", "DD_RECEIVER_PORT"]) {
            self.apm.receiver_port = env_parse(var, &v, parse_number)?;
        }
        if let Some(v) = get("DD_APM_RECEIVER_SOCKET") {
            self.apm.receiver_socket = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DD_APM_NON_LOCAL_TRAFFIC") {
            self.apm.non_local_traffic = env_parse("DD_APM_NON_LOCAL_TRAFFIC", &v, parse_bool)?;
        }
        if let Some(v) = get("DD_APM_DD_URL") {
            self.apm.dd_url = Some(v);
        }
        if let Some(v) = get("DD_APM_ENV") {
            self.apm.env = Some(v);
        }
        if let Some(v) = get("DD_APM_DECODERS") {
            self.apm.decoders = Some(env_parse("DD_APM_DECODERS", &v, parse_number)?).filter(|&n| n > 0);
        }
        if let Some(v) = get("DD_APM_DECODER_TIMEOUT") {
            self.apm.decoder_timeout =
                Duration::from_millis(env_parse("DD_APM_DECODER_TIMEOUT", &v, parse_number)?);
        }
        if let Some(v) = get("DD_APM_MAX_PAYLOAD_SIZE") {
            self.apm.max_payload_size = env_parse("DD_APM_MAX_PAYLOAD_SIZE", &v, parse_number)?;
        }
        if let Some(v) = get("DD_USE_DOGSTATSD") {
            self.dogstatsd.enabled = env_parse("DD_USE_DOGSTATSD", &v, parse_bool)?;
        }
        if let Some(v) = get("DD_DOGSTATSD_PORT") {
            self.dogstatsd.port = env_parse("DD_DOGSTATSD_PORT", &v, parse_number)?;
        }
        if let Some(v) = get("DD_DOGSTATSD_SOCKET") {
            self.dogstatsd.socket = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DD_DOGSTATSD_NON_LOCAL_TRAFFIC") {
            self.dogstatsd.non_local_traffic = env_parse("DD_DOGSTATSD_NON_LOCAL_TRAFFIC", &v, parse_bool)?;
        }
        if let Some(v) = get("DD_DOGSTATSD_BUFFER_SIZE") {
            self.dogstatsd.buffer_size = env_parse("DD_DOGSTATSD_BUFFER_SIZE", &v, parse_number)?;
        }
        if let Some(v) = get("DD_DOGSTATSD_TAGS") {
            self.dogstatsd.tags = split_tags(&v);
        }
        if let Some(v) = get("DD_DOGSTATSD_EXPIRY_SECONDS") {
            self.dogstatsd.expiry_seconds = env_parse("DD_DOGSTATSD_EXPIRY_SECONDS", &v, parse_seconds)?;
        }
        if let Some(v) = get("DD_RUN_PATH") {
            let default_token = self.run_path.join(AUTH_TOKEN_FILE);
            self.run_path = PathBuf::from(v);
            if self.auth_token_file_path == default_token {
                self.auth_token_file_path = self.run_path.join(AUTH_TOKEN_FILE);
            }
        }
        if let Some(v) = get("DD_AUTH_TOKEN_FILE_PATH") {
            self.auth_token_file_path = PathBuf::from(v);
        }
        if let Some(v) = get("DD_LOG_LEVEL") {
            self.log_level = v.trim().to_ascii_lowercase();
        }
        if let Some(v) = get("DD_LOG_FILE") {
            self.log_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DDLAB_PYTHON") {
            self.python = Some(PathBuf::from(v));
        }
        if let Some(v) = get("DD_CHECK_RUNNERS") {
            self.check_runners = env_parse("DD_CHECK_RUNNERS", &v, parse_number)?;
        }
        if let Some(v) = get("DD_CONFD_PATH") {
            self.confd_path = PathBuf::from(v);
        }
        if let Some(v) = get("DD_ADDITIONAL_CHECKSD") {
            self.additional_checksd = PathBuf::from(v);
        }
        if let Some(v) = get("DD_CMD_PORT") {
            self.cmd_port = env_parse("DD_CMD_PORT", &v, parse_number)?;
        }
        if let Some(v) = get("DD_LOGS_ENABLED") {
            self.logs_enabled = env_parse("DD_LOGS_ENABLED", &v, parse_bool)?;
        }
        if let Some(v) = get("DD_FORWARDER_TIMEOUT") {
            self.forwarder.timeout =
                Duration::from_secs(env_parse("DD_FORWARDER_TIMEOUT", &v, parse_number)?);
        }
        if let Some(v) = get("DD_FORWARDER_RETRY_QUEUE_PAYLOADS_MAX_SIZE") {
            self.forwarder.retry_queue_max_bytes =
                env_parse("DD_FORWARDER_RETRY_QUEUE_PAYLOADS_MAX_SIZE", &v, parse_number)?;
        }
        if let Some(v) = get("DD_FORWARDER_BACKOFF_BASE") {
            self.forwarder.backoff_base =
                Duration::from_secs(env_parse("DD_FORWARDER_BACKOFF_BASE", &v, parse_number)?);
        }
        if let Some(v) = get("DD_FORWARDER_BACKOFF_MAX") {
            self.forwarder.backoff_max =
                Duration::from_secs(env_parse("DD_FORWARDER_BACKOFF_MAX", &v, parse_number)?);
        }
        if let Some(v) = get("DD_USE_V2_API_SERIES") {
            self.use_v2_api_series = env_parse("DD_USE_V2_API_SERIES", &v, parse_bool)?;
        }
        if let Some(v) = get("DD_SERIALIZER_COMPRESSOR_KIND") {
            self.serializer_compressor_kind =
                env_parse("DD_SERIALIZER_COMPRESSOR_KIND", &v, parse_compressor)?;
        }
        if let Some(v) = get("DD_HISTOGRAM_AGGREGATES") {
            self.histogram_aggregates = v.split_whitespace().map(str::to_owned).collect();
        }
        if let Some(v) = get("DD_HISTOGRAM_PERCENTILES") {
            self.histogram_percentiles = v
                .split_whitespace()
                .map(|p| env_parse("DD_HISTOGRAM_PERCENTILES", p, parse_number))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }
}

/// Splits a scalar tag list the way the Agent's readers end up doing: on whitespace and commas, trimmed.
pub fn split_tags(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn first_set(get: &dyn Fn(&str) -> Option<String>, vars: &[&'static str]) -> Option<(&'static str, String)> {
    vars.iter().find_map(|var| get(var).map(|value| (*var, value)))
}

fn env_parse<T>(
    var: &'static str,
    value: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    parse(value.trim()).map_err(|reason| ConfigError::Env {
        var,
        value: value.to_owned(),
        reason,
    })
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

fn parse_number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse().map_err(|_| "expected a number".to_owned())
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| "expected a number of seconds".to_owned())
}

fn parse_compressor(text: &str) -> Result<Compressor, String> {
    match text {
        "zstd" => Ok(Compressor::Zstd),
        "zlib" | "deflate" => Ok(Compressor::Zlib),
        _ => Err("expected zstd or zlib".to_owned()),
    }
}

/// `datadog.yaml` as written: every key optional, unknown keys collected for warnings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawConfig {
    api_key: Option<String>,
    site: Option<String>,
    dd_url: Option<String>,
    hostname: Option<String>,
    tags: Option<yaml::Tags>,
    extra_tags: Option<yaml::Tags>,
    env: Option<String>,
    apm_config: Option<RawApm>,
    use_dogstatsd: Option<yaml::Bool>,
    dogstatsd_port: Option<yaml::Number<u16>>,
    dogstatsd_socket: Option<String>,
    dogstatsd_non_local_traffic: Option<yaml::Bool>,
    dogstatsd_buffer_size: Option<yaml::Number<usize>>,
    dogstatsd_tags: Option<yaml::Tags>,
    dogstatsd_expiry_seconds: Option<yaml::Number<f64>>,
    run_path: Option<String>,
    auth_token_file_path: Option<String>,
    log_level: Option<String>,
    log_file: Option<String>,
    ddlab_python: Option<String>,
    ddlab_check_timeout: Option<yaml::Number<f64>>,
    check_runners: Option<yaml::Number<u32>>,
    confd_path: Option<String>,
    additional_checksd: Option<String>,
    cmd_port: Option<yaml::Number<u16>>,
    logs_enabled: Option<yaml::Bool>,
    forwarder_timeout: Option<yaml::Number<u64>>,
    forwarder_retry_queue_payloads_max_size: Option<yaml::Number<usize>>,
    forwarder_backoff_base: Option<yaml::Number<u64>>,
    forwarder_backoff_max: Option<yaml::Number<u64>>,
    histogram_aggregates: Option<Vec<String>>,
    histogram_percentiles: Option<Vec<yaml::Number<f64>>>,
    use_v2_api: Option<RawUseV2>,
    serializer_compressor_kind: Option<String>,
    // Keys the real Agent knows that ddlab accepts silently because they do not change what the lab does.
    expvar_port: Option<serde_json::Value>,
    process_config: Option<serde_json::Value>,
    logs_config: Option<serde_json::Value>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawApm {
    enabled: Option<yaml::Bool>,
    receiver_port: Option<yaml::Number<u16>>,
    receiver_socket: Option<String>,
    apm_non_local_traffic: Option<yaml::Bool>,
    apm_dd_url: Option<String>,
    env: Option<String>,
    decoders: Option<yaml::Number<usize>>,
    decoder_timeout: Option<yaml::Number<u64>>,
    max_payload_size: Option<yaml::Number<usize>>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawUseV2 {
    series: Option<yaml::Bool>,
}

impl RawConfig {
    fn into_config(self, root: &Path) -> AgentConfig {
        let apm = self.apm_config.unwrap_or_default();
        let run_path = self
            .run_path
            .filter(|p| !p.is_empty())
            .map_or_else(|| root.join("run"), PathBuf::from);
        let compressor = match self.serializer_compressor_kind.as_deref() {
            Some("zlib" | "deflate") => Compressor::Zlib,
            _ => Compressor::Zstd,
        };
        AgentConfig {
            api_key: self.api_key.map(|key| ApiKey::new(key.trim())),
            site: self.site.unwrap_or_else(|| "datadoghq.com".to_owned()),
            dd_url: self.dd_url,
            hostname: self.hostname.filter(|h| !h.is_empty()),
            tags: self.tags.map(|t| t.0).unwrap_or_default(),
            extra_tags: self.extra_tags.map(|t| t.0).unwrap_or_default(),
            env: self.env.filter(|e| !e.is_empty()),
            apm: ApmConfig {
                enabled: apm.enabled.is_none_or(|b| b.0),
                receiver_port: apm.receiver_port.map_or(8126, |n| n.0),
                receiver_socket: apm.receiver_socket.filter(|s| !s.is_empty()).map(PathBuf::from),
                non_local_traffic: apm.apm_non_local_traffic.is_some_and(|b| b.0),
                dd_url: apm.apm_dd_url,
                env: apm.env,
                decoders: apm.decoders.map(|n| n.0).filter(|&n| n > 0),
                decoder_timeout: Duration::from_millis(apm.decoder_timeout.map_or(1000, |n| n.0)),
                max_payload_size: apm
                    .max_payload_size
                    .map_or(ddlab_wire::trace::MAX_REQUEST_BYTES, |n| n.0),
            },
            dogstatsd: DogStatsdConfig {
                enabled: self.use_dogstatsd.is_none_or(|b| b.0),
                port: self.dogstatsd_port.map_or(8125, |n| n.0),
                socket: self.dogstatsd_socket.filter(|s| !s.is_empty()).map(PathBuf::from),
                non_local_traffic: self.dogstatsd_non_local_traffic.is_some_and(|b| b.0),
                buffer_size: self.dogstatsd_buffer_size.map_or(8192, |n| n.0),
                tags: self.dogstatsd_tags.map(|t| t.0).unwrap_or_default(),
                expiry_seconds: self.dogstatsd_expiry_seconds.map_or(300.0, |n| n.0).max(0.0),
            },
            forwarder: ForwarderConfig {
                timeout: Duration::from_secs(self.forwarder_timeout.map_or(20, |n| n.0)),
                retry_queue_max_bytes: self
                    .forwarder_retry_queue_payloads_max_size
                    .map_or(15 * 1024 * 1024, |n| n.0),
                backoff_base: Duration::from_secs(self.forwarder_backoff_base.map_or(2, |n| n.0)),
                backoff_max: Duration::from_secs(self.forwarder_backoff_max.map_or(64, |n| n.0)),
            },
            check_runners: self.check_runners.map_or(4, |n| n.0),
            confd_path: self.confd_path.map_or_else(|| root.join("conf.d"), PathBuf::from),
            additional_checksd: self
                .additional_checksd
                .map_or_else(|| root.join("checks.d"), PathBuf::from),
            cmd_port: self.cmd_port.map_or(5001, |n| n.0),
            logs_enabled: self.logs_enabled.is_some_and(|b| b.0),
            histogram_aggregates: self
                .histogram_aggregates
                .unwrap_or_else(|| ["max", "median", "avg", "count"].map(str::to_owned).to_vec()),
            histogram_percentiles: self
                .histogram_percentiles
                .map_or_else(|| vec![0.95], |ps| ps.into_iter().map(|n| n.0).collect()),
            use_v2_api_series: self.use_v2_api.and_then(|u| u.series).is_none_or(|b| b.0),
            serializer_compressor_kind: compressor,
            auth_token_file_path: self
                .auth_token_file_path
                .filter(|p| !p.is_empty())
                .map_or_else(|| run_path.join(AUTH_TOKEN_FILE), PathBuf::from),
            run_path,
            log_level: self
                .log_level
                .filter(|l| !l.trim().is_empty())
                .map_or_else(|| "info".to_owned(), |l| l.trim().to_ascii_lowercase()),
            log_file: self.log_file.filter(|f| !f.is_empty()).map(PathBuf::from),
            python: self.ddlab_python.filter(|p| !p.is_empty()).map(PathBuf::from),
            check_timeout: self
                .ddlab_check_timeout
                .map(|n| n.0)
                // Like any other value that is not a positive number of seconds, one past what a
                // `Duration` holds (`1e30`) or rounding to zero leaves the default.
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|timeout| !timeout.is_zero())
                .unwrap_or(DEFAULT_CHECK_TIMEOUT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        AgentConfig::from_yaml(
            Path::new("/etc/dd"),
            Path::new("/etc/dd/datadog.yaml"),
            text,
            &|var| env.get(var).cloned(),
        )
    }

    #[test]
    fn defaults_match_the_real_agent() {
        let config = load("", &[]).unwrap().config;
        assert_eq!(config.site, "datadoghq.com");
        assert!(config.apm.enabled);
        assert_eq!(config.apm.receiver_port, 8126);
        assert_eq!(config.dogstatsd.port, 8125);
        assert_eq!(config.check_runners, 4);
        assert_eq!(config.confd_path, PathBuf::from("/etc/dd/conf.d"));
        assert_eq!(config.forwarder.retry_queue_max_bytes, 15 * 1024 * 1024);
        assert!(config.use_v2_api_series);
        assert_eq!(config.metrics_url(), "https://app.datadoghq.com");
        assert_eq!(config.traces_url(), "https://trace.agent.datadoghq.com");
    }

    #[test]
    fn a_check_timeout_past_a_duration_is_the_default() {
        // 1e30 s made `Duration::from_secs_f64` panic while the configuration was read.
        for text in ["ddlab_check_timeout: 1e30\n", "ddlab_check_timeout: 1e-300\n"] {
            let config = load(text, &[]).unwrap().config;
            assert_eq!(config.check_timeout, DEFAULT_CHECK_TIMEOUT, "{text}");
        }
    }

    #[test]
    fn lab_and_run_keys() {
        let config = load("", &[]).unwrap().config;
        assert_eq!(config.run_path, PathBuf::from("/etc/dd/run"));
        assert_eq!(
            config.auth_token_file_path,
            PathBuf::from("/etc/dd/run/auth_token")
        );
        assert_eq!(config.log_level, "info");
        assert_eq!(config.check_timeout, DEFAULT_CHECK_TIMEOUT);
        assert_eq!(config.dogstatsd.expiry_seconds, 300.0);
        assert_eq!(config.python, None);

        let config = load(
            "run_path: /var/run/lab\nlog_level: DEBUG\nddlab_python: /venv/bin/python\n\
             ddlab_check_timeout: 5\ndogstatsd_tags: [team:se]\ndogstatsd_expiry_seconds: 60\n",
            &[],
        )
        .unwrap();
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        let config = config.config;
        assert_eq!(
            config.auth_token_file_path,
            PathBuf::from("/var/run/lab/auth_token")
        );
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.python, Some(PathBuf::from("/venv/bin/python")));
        assert_eq!(config.check_timeout, Duration::from_secs(5));
        assert_eq!(config.dogstatsd.tags, ["team:se"]);
        assert_eq!(config.dogstatsd.expiry_seconds, 60.0);

        let config = load(
            "",
            &[
                ("DD_RUN_PATH", "/srv/run"),
                ("DD_DOGSTATSD_TAGS", "a:b c:d"),
                ("DDLAB_PYTHON", "/env/python"),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(config.auth_token_file_path, PathBuf::from("/srv/run/auth_token"));
        assert_eq!(config.dogstatsd.tags, ["a:b", "c:d"]);
        assert_eq!(config.python, Some(PathBuf::from("/env/python")));
    }

    #[test]
    fn tags_as_list_or_scalar() {
        let list = load("tags:\n  - env:dev\n  - role:db\n  - exercise\n", &[])
            .unwrap()
            .config;
        assert_eq!(list.tags, ["env:dev", "role:db", "exercise"]);
        let scalar = load("tags: env:dev, role:db\n", &[]).unwrap().config;
        assert_eq!(scalar.tags, ["env:dev", "role:db"]);
    }

    #[test]
    fn env_beats_file() {
        let config = load(
            "hostname: file-host\ntags: [a:b]\napm_config:\n  enabled: false\n",
            &[
                ("DD_HOSTNAME", "env-host"),
                ("DD_TAGS", "x:y z:w"),
                ("DD_APM_ENABLED", "true"),
            ],
        )
        .unwrap()
        .config;
        assert_eq!(config.hostname.as_deref(), Some("env-host"));
        assert_eq!(config.tags, ["x:y", "z:w"]);
        assert!(config.apm.enabled);
    }

    #[test]
    fn dd_dd_url_wins_over_dd_url() {
        let config = load("", &[("DD_URL", "http://a"), ("DD_DD_URL", "http://b/")])
            .unwrap()
            .config;
        assert_eq!(config.metrics_url(), "http://b");
    }

    #[test]
    fn host_tags_add_env_once() {
        let config = load("tags: [role:db]\nenv: lab\n", &[]).unwrap().config;
        assert_eq!(config.host_tags(), ["role:db", "env:lab"]);
        assert_eq!(config.traces_env().as_deref(), Some("lab"));
    }

    #[test]
    fn api_key_is_never_printed() {
        let config = load("api_key: abcdef0123456789\n", &[]).unwrap().config;
        assert!(!format!("{config:?}").contains("abcdef"));
        assert_eq!(
            config.api_key.map(|k| k.expose().to_owned()).as_deref(),
            Some("abcdef0123456789")
        );
    }

    #[test]
    fn yaml_error_names_file_line_and_column() {
        let err = load("tags:\n  - env:dev\n - role:db\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/dd/datadog.yaml:3:2: while parsing a block mapping, did not find expected key"
        );
    }

    #[test]
    fn trace_receiver_limits_from_file_and_env() {
        let defaults = load("", &[]).unwrap().config;
        assert_eq!(defaults.apm.decoders, None);
        assert_eq!(defaults.apm.decoder_timeout, Duration::from_secs(1));
        assert_eq!(defaults.apm.max_payload_size, 25 * 1024 * 1024);
        let file = "apm_config:\n  decoders: 3\n  decoder_timeout: 250\n  max_payload_size: 1000\n";
        let from_file = load(file, &[]).unwrap();
        assert!(from_file.warnings.is_empty(), "{:?}", from_file.warnings);
        assert_eq!(from_file.config.apm.decoders, Some(3));
        assert_eq!(from_file.config.apm.decoder_timeout, Duration::from_millis(250));
        assert_eq!(from_file.config.apm.max_payload_size, 1000);
        let from_env = load(
            file,
            &[("DD_APM_DECODERS", "0"), ("DD_APM_MAX_PAYLOAD_SIZE", "2000")],
        )
        .unwrap()
        .config;
        // 0 asks for the default, as in the trace-agent.
        assert_eq!(from_env.apm.decoders, None);
        assert_eq!(from_env.apm.max_payload_size, 2000);
        let err = load("", &[("DD_APM_DECODER_TIMEOUT", "soon")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DD_APM_DECODER_TIMEOUT=\"soon\" is invalid: expected a number"
        );
        let err = load("apm_config:\n  decoders: many\n", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/dd/datadog.yaml:2:3: 'decoders': invalid value: string \"many\", expected a number in range"
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let err = load("", &[("DD_DOGSTATSD_PORT", "eighty")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable DD_DOGSTATSD_PORT=\"eighty\" is invalid: expected a number"
        );
    }

    #[test]
    fn unknown_keys_are_warned_about_with_their_line() {
        let loaded = load("api_key: x\nfrobnicate: 1\napm_config:\n  colour: red\n", &[]).unwrap();
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "/etc/dd/datadog.yaml:2: warning: unknown key 'frobnicate' is ignored by ddlab-agent",
                "/etc/dd/datadog.yaml:4: warning: unknown key 'apm_config.colour' is ignored by ddlab-agent",
            ]
        );
    }
}
