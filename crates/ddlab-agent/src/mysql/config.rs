//! The MySQL check's instance configuration (`conf.d/mysql.d/conf.yaml`), read with the integration's keys,
//! defaults and leniency (`config.py`): `username` or the old `user`, `password` or `pass`, `host` or the
//! very old `server`, booleans the way `is_affirmative` reads them.
//!
//! What the integration would only discover when a run crashes (a custom query without `query`, a port that
//! is not a number) is reported here, once, naming the key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::check::SubmissionKind;
use crate::config::Instance;

/// `max_custom_queries` unless set.
pub const DEFAULT_MAX_CUSTOM_QUERIES: usize = 20;
/// `connect_timeout` unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// PyMySQL's upper bound for `connect_timeout`, in seconds.
const MAX_CONNECT_TIMEOUT_SECONDS: f64 = 31_536_000.0;

/// A MySQL instance as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlConfig {
    /// `host` (or `server`). Required unless `defaults_file` is set, even with `sock`.
    pub host: String,
    /// `port`; 0 (the default) means 3306, and the service check then says `port:unix_socket`.
    pub port: u16,
    /// `sock`: connect through this Unix socket instead of TCP.
    pub sock: Option<String>,
    /// `defaults_file`: a my.cnf whose `[client]` section replaces every connection key above.
    pub defaults_file: Option<PathBuf>,
    /// `username` (or the deprecated `user`).
    pub username: String,
    /// `password` (or the deprecated `pass`); empty by default.
    pub password: Password,
    /// `tags`, duplicates removed; `channel:<name>` is added when `options.replication_channel` is set.
    pub tags: Vec<String>,
    /// `connect_timeout` in seconds; default 10.
    pub connect_timeout: Duration,
    /// `dbm` (or `deep_database_monitoring`); default false. Turns on `extra_status_metrics` and
    /// `replication` unless they are set; the DBM payloads themselves are not collected.
    pub dbm: bool,
    /// `disable_generic_tags`; default false. When true the service checks carry no `server:` tag.
    pub disable_generic_tags: bool,
    /// `options`.
    pub options: MysqlOptions,
    /// `additional_status`: more `SHOW STATUS` values to send.
    pub additional_status: Vec<ExtraMetric>,
    /// `additional_variable`: more `SHOW VARIABLES` values to send.
    pub additional_variable: Vec<ExtraMetric>,
    /// `queries` (deprecated): one-value custom queries, at most `max_custom_queries` of them.
    pub queries: Vec<LegacyQuery>,
    /// `max_custom_queries`; default 20.
    pub max_custom_queries: usize,
    /// `custom_queries`: the `QueryManager` format, run at the end of each run.
    pub custom_queries: Vec<CustomQuery>,
    /// Deprecated keys in use, as `(old, new)`: logged once, as the integration does.
    pub deprecated_keys: Vec<(&'static str, &'static str)>,
}

/// `options:`; every flag defaults to false.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MysqlOptions {
    /// `replication` (default: the value of `dbm`): replica status, replica count, and the replication
    /// service checks.
    pub replication: bool,
    /// `replication_channel`: the one channel to report.
    pub replication_channel: Option<String>,
    /// `replication_non_blocking_status`: count replicas from `performance_schema.threads`.
    pub replication_non_blocking_status: bool,
    /// `galera_cluster`: the `mysql.galera.*` metrics.
    pub galera_cluster: bool,
    /// `extra_status_metrics` (default: the value of `dbm`): handler, select, sort, qcache extras…
    pub extra_status_metrics: bool,
    /// `extra_innodb_metrics`: the detailed `mysql.innodb.*` set.
    pub extra_innodb_metrics: bool,
    /// `disable_innodb_metrics`: skip `SHOW ENGINE INNODB STATUS` altogether.
    pub disable_innodb_metrics: bool,
    /// `schema_size_metrics`: `mysql.info.schema.size` per schema.
    pub schema_size_metrics: bool,
    /// `extra_performance_metrics`: per-schema average and 95th percentile query times.
    pub extra_performance_metrics: bool,
}

/// An `additional_status` / `additional_variable` item: `{name, metric_name, type}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraMetric {
    pub name: String,
    pub metric_name: String,
    pub kind: SubmissionKind,
}

/// A deprecated `queries` item: `{query, metric, field, type, tags}`.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyQuery {
    pub query: String,
    pub metric: String,
    pub field: String,
    /// `rate` submits a rate; anything else a gauge.
    pub kind: SubmissionKind,
    pub tags: Vec<String>,
}

/// A `custom_queries` item: `{query, columns: [{name, type}], tags}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomQuery {
    pub query: String,
    /// One per result column, in order; `None` for a column written `{}` (ignored).
    pub columns: Vec<Option<CustomColumn>>,
    pub tags: Vec<String>,
}

/// What a custom query does with one result column.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomColumn {
    pub name: String,
    pub kind: ColumnKind,
}

/// A column's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// The value becomes the tag `<name>:<value>` on the row's metrics.
    Tag,
    /// The value is submitted as metric `<name>` of this kind.
    Metric(SubmissionKind),
}

/// A password. Its `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The password itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// A MySQL instance that cannot run as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check_id}: {key}: {reason}")]
pub struct ConfigError {
    /// The instance's check ID, `mysql:<digest>`.
    pub check_id: String,
    /// The key to fix, as a path: `port`, `custom_queries[0].columns[1].type`.
    pub key: String,
    pub reason: String,
}

impl MysqlConfig {
    /// Reads one `instances:` item of the mysql check.
    pub fn from_instance(instance: &Instance) -> Result<Self, ConfigError> {
        let reader = Reader {
            check_id: instance.id.as_str(),
        };
        reader.config(instance)
    }
}

struct Reader<'a> {
    check_id: &'a str,
}

impl Reader<'_> {
    fn error(&self, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            check_id: self.check_id.to_owned(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn config(&self, instance: &Instance) -> Result<MysqlConfig, ConfigError> {
        let raw = &instance.raw;
        let mut deprecated_keys = Vec::new();
        let host = self.first_string(raw, &["host", "server"])?.unwrap_or_default();
        let username = self.first_string(raw, &["username", "user"])?.unwrap_or_default();
        if present(raw, "user") {
            deprecated_keys.push(("user", "username"));
        }
        let password = self.first_string(raw, &["password", "pass"])?.unwrap_or_default();
        if present(raw, "pass") {
            deprecated_keys.push(("pass", "password"));
        }
        let sock = self.string(raw, "sock")?.filter(|s| !s.is_empty());
        let defaults_file = self
            .string(raw, "defaults_file")?
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        if defaults_file.is_none() {
            if host.is_empty() {
                return Err(self.error(
                    "host",
                    "missing: the check needs `host` and `username`, or a `defaults_file` \
                     (the integration says \"Mysql host and user or a defaults_file are needed.\")",
                ));
            }
            if username.is_empty() {
                return Err(self.error(
                    "username",
                    "missing: the check needs `host` and `username`, or a `defaults_file` \
                     (the integration says \"Mysql host and user or a defaults_file are needed.\")",
                ));
            }
        }
        let port = match raw.get("port") {
            None | Some(Value::Null) => 0,
            Some(value) => integer(value)
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    self.error(
                        "port",
                        format!("must be a port number from 0 to 65535, got {value}"),
                    )
                })?,
        };
        let connect_timeout = match raw.get("connect_timeout") {
            None | Some(Value::Null) => DEFAULT_CONNECT_TIMEOUT,
            Some(value) => number(value)
                .filter(|s| *s > 0.0 && *s <= MAX_CONNECT_TIMEOUT_SECONDS)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    self.error(
                        "connect_timeout",
                        format!("must be a number of seconds above 0 and at most 31536000, got {value}"),
                    )
                })?,
        };
        if let Some(ssl) = raw.get("ssl").filter(|v| !is_empty(v)) {
            return Err(self.error(
                "ssl",
                format!(
                    "TLS connections are not supported by ddlab-agent's MySQL check; \
                     remove the key (got {ssl})"
                ),
            ));
        }
        let dbm = affirmative(raw.get("dbm").or_else(|| raw.get("deep_database_monitoring")));
        let options = self.options(raw.get("options"), dbm)?;
        let mut tags = Vec::new();
        for tag in &instance.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        if let Some(channel) = &options.replication_channel {
            tags.push(format!("channel:{channel}"));
        }
        let max_custom_queries = match raw.get("max_custom_queries") {
            None | Some(Value::Null) => DEFAULT_MAX_CUSTOM_QUERIES,
            Some(value) => integer(value)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    self.error(
                        "max_custom_queries",
                        format!("must be a whole number, got {value}"),
                    )
                })?,
        };
        Ok(MysqlConfig {
            host,
            port,
            sock,
            defaults_file,
            username,
            password: Password(password),
            tags,
            connect_timeout,
            dbm,
            disable_generic_tags: affirmative(raw.get("disable_generic_tags")),
            options,
            additional_status: self.extra_metrics(raw, "additional_status")?,
            additional_variable: self.extra_metrics(raw, "additional_variable")?,
            queries: self.legacy_queries(raw)?,
            max_custom_queries,
            custom_queries: self.custom_queries(raw)?,
            deprecated_keys,
        })
    }

    fn options(&self, value: Option<&Value>, dbm: bool) -> Result<MysqlOptions, ConfigError> {
        let empty = Map::new();
        let options = match value {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(map)) => map,
            Some(other) => return Err(self.error("options", format!("must be a mapping, got {other}"))),
        };
        let flag = |key: &str| affirmative(options.get(key));
        let flag_or = |key: &str, default: bool| match options.get(key) {
            None => default,
            value => affirmative(value),
        };
        Ok(MysqlOptions {
            replication: flag_or("replication", dbm),
            replication_channel: self
                .string(options, "replication_channel")
                .map_err(|e| self.error(format!("options.{}", e.key), e.reason))?
                .filter(|s| !s.is_empty()),
            replication_non_blocking_status: flag("replication_non_blocking_status"),
            galera_cluster: flag("galera_cluster"),
            extra_status_metrics: flag_or("extra_status_metrics", dbm),
            extra_innodb_metrics: flag("extra_innodb_metrics"),
            disable_innodb_metrics: flag("disable_innodb_metrics"),
            schema_size_metrics: flag("schema_size_metrics"),
            extra_performance_metrics: flag("extra_performance_metrics"),
        })
    }

    fn extra_metrics(&self, raw: &Map<String, Value>, key: &str) -> Result<Vec<ExtraMetric>, ConfigError> {
        let mut out = Vec::new();
        for (index, item) in self.list_of_maps(raw, key)?.into_iter().enumerate() {
            let at = |field: &str| format!("{key}[{index}].{field}");
            let required = |field: &str| {
                self.string(item, field)
                    .map_err(|e| self.error(at(field), e.reason))?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| self.error(at(field), "missing"))
            };
            let name = required("name")?;
            let metric_name = required("metric_name")?;
            let kind_text = required("type")?;
            let kind =
                metric_kind(&kind_text, &["gauge", "rate", "count", "monotonic_count"]).ok_or_else(|| {
                    self.error(
                        at("type"),
                        format!("must be one of gauge, rate, count, monotonic_count, got {kind_text:?}"),
                    )
                })?;
            out.push(ExtraMetric {
                name,
                metric_name,
                kind,
            });
        }
        Ok(out)
    }

    fn legacy_queries(&self, raw: &Map<String, Value>) -> Result<Vec<LegacyQuery>, ConfigError> {
        let mut out = Vec::new();
        for (index, item) in self.list_of_maps(raw, "queries")?.into_iter().enumerate() {
            let at = |field: &str| format!("queries[{index}].{field}");
            let required = |field: &str| {
                self.string(item, field)
                    .map_err(|e| self.error(at(field), e.reason))?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| self.error(at(field), "missing"))
            };
            let kind = match required("type")?.as_str() {
                "rate" => SubmissionKind::Rate,
                _ => SubmissionKind::Gauge,
            };
            out.push(LegacyQuery {
                query: required("query")?,
                metric: required("metric")?,
                field: required("field")?,
                kind,
                tags: self.tags(item, &at("tags"))?,
            });
        }
        Ok(out)
    }

    fn custom_queries(&self, raw: &Map<String, Value>) -> Result<Vec<CustomQuery>, ConfigError> {
        let mut out = Vec::new();
        for (index, item) in self.list_of_maps(raw, "custom_queries")?.into_iter().enumerate() {
            let at = |field: &str| format!("custom_queries[{index}].{field}");
            let query = self
                .string(item, "query")
                .map_err(|e| self.error(at("query"), e.reason))?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.error(at("query"), "missing"))?;
            let columns_value = match item.get("columns") {
                Some(Value::Array(columns)) if !columns.is_empty() => columns,
                Some(Value::Array(_)) | None | Some(Value::Null) => {
                    return Err(self.error(at("columns"), "missing: list one {name, type} per result column"));
                }
                Some(other) => return Err(self.error(at("columns"), format!("must be a list, got {other}"))),
            };
            let mut columns = Vec::new();
            for (column_index, column) in columns_value.iter().enumerate() {
                let col_at = |field: &str| format!("custom_queries[{index}].columns[{column_index}]{field}");
                let column = match column {
                    Value::Object(map) if map.is_empty() => {
                        columns.push(None);
                        continue;
                    }
                    Value::Null => {
                        columns.push(None);
                        continue;
                    }
                    Value::Object(map) => map,
                    other => return Err(self.error(col_at(""), format!("must be a mapping, got {other}"))),
                };
                let name = self
                    .string(column, "name")
                    .map_err(|e| self.error(col_at(".name"), e.reason))?
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| self.error(col_at(".name"), "missing"))?;
                let kind_text = self
                    .string(column, "type")
                    .map_err(|e| self.error(col_at(".type"), e.reason))?
                    .ok_or_else(|| self.error(col_at(".type"), "missing"))?;
                let kind = if kind_text == "tag" {
                    ColumnKind::Tag
                } else {
                    metric_kind(
                        &kind_text,
                        &["gauge", "count", "monotonic_count", "rate", "histogram", "historate"],
                    )
                    .map(ColumnKind::Metric)
                    .ok_or_else(|| {
                        self.error(
                            col_at(".type"),
                            format!(
                                "must be one of tag, gauge, count, monotonic_count, rate, histogram, historate, \
                                 got {kind_text:?}"
                            ),
                        )
                    })?
                };
                columns.push(Some(CustomColumn { name, kind }));
            }
            out.push(CustomQuery {
                query,
                columns,
                tags: self.tags(item, &at("tags"))?,
            });
        }
        Ok(out)
    }

    fn list_of_maps<'m>(
        &self,
        raw: &'m Map<String, Value>,
        key: &str,
    ) -> Result<Vec<&'m Map<String, Value>>, ConfigError> {
        match raw.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::Object(map) => Ok(map),
                    other => Err(self.error(
                        format!("{key}[{index}]"),
                        format!("must be a mapping, got {other}"),
                    )),
                })
                .collect(),
            Some(other) => Err(self.error(key, format!("must be a list, got {other}"))),
        }
    }

    fn tags(&self, map: &Map<String, Value>, at: &str) -> Result<Vec<String>, ConfigError> {
        match map.get("tags") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.iter().map(scalar_text).collect()),
            Some(other) => Err(self.error(at, format!("must be a list, got {other}"))),
        }
    }

    /// A scalar as text (Python's `str()` of a number or boolean), or `None` when absent or null.
    fn string(&self, map: &Map<String, Value>, key: &str) -> Result<Option<String>, ConfigError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(_) | Value::Object(_)) => {
                Err(self.error(key, format!("must be a single value, got {}", map[key])))
            }
            Some(value) => Ok(Some(scalar_text(value))),
        }
    }

    /// The first of `keys` that is set, as `instance.get('a', instance.get('b'))` reads it.
    fn first_string(&self, map: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>, ConfigError> {
        for key in keys {
            if map.contains_key(*key) {
                return self.string(map, key);
            }
        }
        Ok(None)
    }
}

fn present(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !is_empty(v))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) => false,
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

/// `datadog_checks.base.is_affirmative`: `yes true 1 y on` (any case) for text, truthiness otherwise.
fn affirmative(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => matches!(s.to_lowercase().as_str(), "yes" | "true" | "1" | "y" | "on"),
        Some(other) => !is_empty(other) && other.as_f64() != Some(0.0),
    }
}

/// Python's `int(x)` for a YAML number or numeric text.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn metric_kind(text: &str, allowed: &[&str]) -> Option<SubmissionKind> {
    if !allowed.contains(&text) {
        return None;
    }
    Some(match text {
        "gauge" => SubmissionKind::Gauge,
        "rate" => SubmissionKind::Rate,
        "count" => SubmissionKind::Count,
        "monotonic_count" => SubmissionKind::MonotonicCount,
        "histogram" => SubmissionKind::Histogram,
        "historate" => SubmissionKind::Historate,
        _ => return None,
    })
}

/// The `[client]` section of a `defaults_file`, as PyMySQL reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ClientDefaults {
    pub(crate) user: Option<String>,
    pub(crate) password: Option<Password>,
    pub(crate) host: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) socket: Option<String>,
}

/// Parses my.cnf text: `[client]` keys, values optionally quoted; other sections are ignored.
pub(crate) fn parse_defaults_file(text: &str) -> Result<ClientDefaults, String> {
    let mut out = ClientDefaults::default();
    let mut in_client = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = section.trim() == "client";
            continue;
        }
        if !in_client {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key.trim(), value.trim()),
            None => (line, ""),
        };
        let value = strip_quotes(value).to_owned();
        match key {
            "user" => out.user = Some(value),
            "password" => out.password = Some(Password(value)),
            "host" => out.host = Some(value),
            "socket" => out.socket = Some(value),
            "port" => {
                out.port =
                    Some(value.parse().map_err(|_| {
                        format!("line {}: port must be a port number, got {value:?}", index + 1)
                    })?);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn strip_quotes(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::checks::read_check_file;

    fn instance(yaml: &str) -> Instance {
        let mut problems = Vec::new();
        let check = read_check_file(
            "mysql",
            Path::new("conf.d/mysql.d/conf.yaml"),
            yaml,
            &mut problems,
        )
        .unwrap_or_else(|| panic!("{problems:?}"));
        check.instances.into_iter().next().unwrap()
    }

    fn error(yaml: &str) -> String {
        let instance = instance(yaml);
        let err = MysqlConfig::from_instance(&instance).unwrap_err();
        err.to_string().replacen(instance.id.as_str(), "ID", 1)
    }

    #[test]
    fn the_reference_solution() {
        let text = include_str!("../../../../fixtures/solution/conf.d/mysql.d/conf.yaml");
        let config = MysqlConfig::from_instance(&instance(text)).unwrap();
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 3306);
        assert_eq!(config.username, "datadog");
        assert_eq!(config.password.expose(), "datadog-lab");
        assert_eq!(config.tags, ["db:mysql", "exercise:ddlab"]);
        assert_eq!(config.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(
            config.options,
            MysqlOptions {
                extra_status_metrics: true,
                extra_innodb_metrics: true,
                extra_performance_metrics: true,
                ..MysqlOptions::default()
            }
        );
        assert!(config.deprecated_keys.is_empty());
        assert!(!format!("{config:?}").contains("datadog-lab"));
    }

    #[test]
    fn exercise_era_keys() {
        let config = MysqlConfig::from_instance(&instance(
            "instances:\n  - server: localhost\n    user: datadog\n    pass: 1234\n    port: '3307'\n    \
             options:\n      replication: 'yes'\n      replication_channel: ch1\n    tags: [a:b, a:b]\n",
        ))
        .unwrap();
        assert_eq!(config.host, "localhost");
        assert_eq!(config.username, "datadog");
        assert_eq!(config.password.expose(), "1234");
        assert_eq!(config.port, 3307);
        assert!(config.options.replication);
        assert_eq!(config.tags, ["a:b", "channel:ch1"]);
        assert_eq!(
            config.deprecated_keys,
            [("user", "username"), ("pass", "password")]
        );
    }

    #[test]
    fn dbm_turns_on_extra_status_and_replication_unless_set() {
        let config = MysqlConfig::from_instance(&instance(
            "instances:\n  - {host: h, username: u, dbm: true, options: {replication: false}}\n",
        ))
        .unwrap();
        assert!(config.options.extra_status_metrics);
        assert!(!config.options.replication);
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            error("instances:\n  - username: datadog\n"),
            "ID: host: missing: the check needs `host` and `username`, or a `defaults_file` (the integration \
             says \"Mysql host and user or a defaults_file are needed.\")"
        );
        assert_eq!(
            error("instances:\n  - {host: h, username: u, port: db}\n"),
            "ID: port: must be a port number from 0 to 65535, got \"db\""
        );
        assert_eq!(
            error("instances:\n  - {host: h, username: u, connect_timeout: 0}\n"),
            "ID: connect_timeout: must be a number of seconds above 0 and at most 31536000, got 0"
        );
        assert_eq!(
            error("instances:\n  - {host: h, username: u, options: [replication]}\n"),
            "ID: options: must be a mapping, got [\"replication\"]"
        );
        assert_eq!(
            error(
                "instances:\n  - {host: h, username: u, custom_queries: [{query: SELECT 1, columns: [{name: a, type: gauges}]}]}\n"
            ),
            "ID: custom_queries[0].columns[0].type: must be one of tag, gauge, count, monotonic_count, rate, \
             histogram, historate, got \"gauges\""
        );
        assert_eq!(
            error(
                "instances:\n  - {host: h, username: u, custom_queries: [{columns: [{name: a, type: gauge}]}]}\n"
            ),
            "ID: custom_queries[0].query: missing"
        );
        assert_eq!(
            error(
                "instances:\n  - {host: h, username: u, additional_status: [{name: Uptime, type: gauge}]}\n"
            ),
            "ID: additional_status[0].metric_name: missing"
        );
        assert_eq!(
            error("instances:\n  - {host: h, username: u, ssl: {ca: /ca.pem}}\n"),
            "ID: ssl: TLS connections are not supported by ddlab-agent's MySQL check; remove the key \
             (got {\"ca\":\"/ca.pem\"})"
        );
    }

    #[test]
    fn custom_queries() {
        let config = MysqlConfig::from_instance(&instance(
            "instances:\n  - host: h\n    username: u\n    custom_queries:\n      - query: SELECT a, b, c FROM t\n        \
             columns:\n          - {name: t.a, type: gauge}\n          - {}\n          - {name: kind, type: tag}\n        \
             tags: [q:1]\n",
        ))
        .unwrap();
        assert_eq!(
            config.custom_queries,
            [CustomQuery {
                query: "SELECT a, b, c FROM t".into(),
                columns: vec![
                    Some(CustomColumn {
                        name: "t.a".into(),
                        kind: ColumnKind::Metric(SubmissionKind::Gauge)
                    }),
                    None,
                    Some(CustomColumn {
                        name: "kind".into(),
                        kind: ColumnKind::Tag
                    }),
                ],
                tags: vec!["q:1".into()],
            }]
        );
    }

    #[test]
    fn defaults_file() {
        let parsed = parse_defaults_file(
            "[mysqld]\nport = 1\n[client]\nuser = datadog\npassword = \"s3cret\"\nport=3307\nsocket=/run/mysqld.sock\n",
        )
        .unwrap();
        assert_eq!(
            parsed,
            ClientDefaults {
                user: Some("datadog".into()),
                password: Some(Password::new("s3cret")),
                host: None,
                port: Some(3307),
                socket: Some("/run/mysqld.sock".into()),
            }
        );
        assert_eq!(
            parse_defaults_file("[client]\nport = x\n").unwrap_err(),
            "line 2: port must be a port number, got \"x\""
        );
    }
}
