//! Check configurations under `conf.d/`, found and read with the Agent 6/7 rules.
//!
//! - `conf.d/<name>.d/*.yaml`: every file is a configuration of check `<name>`;
//! - `conf.d/<name>.yaml`: the flat (Agent 5) layout, still loaded;
//! - `*.yaml.default`: used only when the check has no other configuration;
//! - `auto_conf.yaml` (Autodiscovery templates), `metrics.yaml` (JMX), empty files and anything not ending in
//!   `.yaml`/`.yml` (such as `conf.yaml.example`) are skipped.
//!
//! `min_collection_interval` is read per instance only, as Agent 6/7 does; written under `init_config` it is
//! ignored, and that is reported as a warning saying where it belongs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::yaml::{self, Problem};

/// The interval a check instance runs at unless it sets `min_collection_interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// Every check configuration found under a `conf.d` folder, and what was wrong with the rest.
#[derive(Debug, Clone, Default)]
pub struct ConfD {
    pub checks: Vec<CheckConfig>,
    /// Errors (the file or instance was skipped) and warnings, in file order.
    pub problems: Vec<Problem>,
}

/// One configuration file of one check.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// The check name: the file stem, or the folder name without `.d`.
    pub name: String,
    /// The file it came from, shown as `file:<path>` in `status` and `configcheck`.
    pub source: PathBuf,
    pub init_config: serde_json::Value,
    pub instances: Vec<Instance>,
}

/// One instance of a check: what the scheduler runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: CheckId,
    /// `min_collection_interval`, instance level; [`DEFAULT_INTERVAL`] when absent.
    pub interval: Duration,
    /// `tags`: Python checks add these themselves; native checks get them added.
    pub tags: Vec<String>,
    /// `service`: the one tag the Agent adds to everything the instance sends.
    pub service: Option<String>,
    /// `name`: part of the check ID when set.
    pub name: Option<String>,
    pub empty_default_hostname: bool,
    /// The instance mapping exactly as written, handed to the check.
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// A check ID like the Agent's: `<check>:<16 hex digits>` or `<check>:<instance name>:<16 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(String);

impl CheckId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Finds and reads every check configuration under `dir`. A missing folder is an empty configuration.
pub fn load_confd(dir: &Path) -> ConfD {
    let mut confd = ConfD::default();
    let mut files = candidate_files(dir, &mut confd.problems);
    // A `.yaml.default` counts only when the same check has no other configuration.
    let has_regular: Vec<String> = files
        .iter()
        .filter(|f| !f.is_default)
        .map(|f| f.check.clone())
        .collect();
    files.retain(|f| !f.is_default || !has_regular.contains(&f.check));
    for file in files {
        match std::fs::read_to_string(&file.path) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => {
                if let Some(check) = read_check_file(&file.check, &file.path, &text, &mut confd.problems) {
                    confd.checks.push(check);
                }
            }
            Err(err) => confd
                .problems
                .push(Problem::error(&file.path, None, format!("cannot read: {err}"))),
        }
    }
    confd
}

/// The instance a check runs with when no file configures it (`instances: [{}]`): the core checks, whose
/// configuration the Agent ships as `conf.yaml.default`.
pub fn default_instance(check: &str) -> Instance {
    let raw = serde_json::Map::new();
    Instance {
        id: check_id(check, None, &raw, &serde_json::Value::Null),
        interval: DEFAULT_INTERVAL,
        tags: Vec::new(),
        service: None,
        name: None,
        empty_default_hostname: false,
        raw,
    }
}

/// Parses one check configuration file; problems are pushed, and `None` means nothing loadable.
pub fn read_check_file(
    check: &str,
    path: &Path,
    text: &str,
    problems: &mut Vec<Problem>,
) -> Option<CheckConfig> {
    let raw: RawCheckFile = match yaml::parse(path, text) {
        Ok(raw) => raw,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    let init_config = raw.init_config.unwrap_or(serde_json::Value::Null);
    if init_config.get("min_collection_interval").is_some() {
        problems.push(Problem::warning(
            path,
            yaml::line_of_key(text, "min_collection_interval"),
            "min_collection_interval under init_config is ignored by Agent 6/7; \
             set it on each item of instances: instead",
        ));
    }
    let mut instances = Vec::new();
    for (index, value) in raw.instances.unwrap_or_default().into_iter().enumerate() {
        match instance(check, index, value, &init_config) {
            Ok(instance) => instances.push(instance),
            Err(message) => problems.push(Problem::error(path, None, message)),
        }
    }
    if instances.is_empty() {
        problems.push(Problem::error(
            path,
            None,
            "Configuration file contains no valid instances",
        ));
        return None;
    }
    Some(CheckConfig {
        name: check.to_owned(),
        source: path.to_owned(),
        init_config,
        instances,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawCheckFile {
    init_config: Option<serde_json::Value>,
    instances: Option<Vec<serde_json::Value>>,
    #[serde(flatten)]
    _other: BTreeMap<String, serde_json::Value>,
}

struct CandidateFile {
    check: String,
    path: PathBuf,
    is_default: bool,
}

fn candidate_files(dir: &Path, problems: &mut Vec<Problem>) -> Vec<CandidateFile> {
    let mut found = Vec::new();
    for entry in sorted_entries(dir, problems) {
        let name = file_name(&entry);
        if entry.is_dir() {
            if let Some(check) = name.strip_suffix(".d") {
                for inner in sorted_entries(&entry, problems) {
                    if inner.is_file() {
                        push_candidate(&mut found, check, &inner);
                    }
                }
            }
        } else if let Some(check) = config_stem(&name).filter(|_| entry.is_file()) {
            push_candidate(&mut found, check, &entry);
        }
    }
    found
}

fn push_candidate(found: &mut Vec<CandidateFile>, check: &str, path: &Path) {
    let name = file_name(path);
    if matches!(name.as_str(), "auto_conf.yaml" | "metrics.yaml") || config_stem(&name).is_none() {
        return;
    }
    let is_default = name.ends_with(".default");
    found.push(CandidateFile {
        check: check.to_owned(),
        path: path.to_owned(),
        is_default,
    });
}

/// The stem of a configuration file name, or `None` if the Agent would not read it.
fn config_stem(name: &str) -> Option<&str> {
    let name = name.strip_suffix(".default").unwrap_or(name);
    name.strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .filter(|s| !s.is_empty())
}

fn sorted_entries(dir: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            paths
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => {
            problems.push(Problem::error(dir, None, format!("cannot list: {err}")));
            Vec::new()
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn instance(
    check: &str,
    index: usize,
    value: serde_json::Value,
    init_config: &serde_json::Value,
) -> Result<Instance, String> {
    let raw = match value {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        other => return Err(format!("instance #{index} is not a mapping: {other}")),
    };
    let interval = match raw.get("min_collection_interval") {
        None | Some(serde_json::Value::Null) => DEFAULT_INTERVAL,
        Some(value) => interval(value).ok_or_else(|| {
            format!(
                "instance #{index}: min_collection_interval must be a positive number of seconds, got {value}"
            )
        })?,
    };
    let tags = match raw.get("tags") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|t| match t {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => return Err(format!("instance #{index}: tags must be a list, got {other}")),
    };
    let service = raw.get("service").and_then(|s| s.as_str()).map(str::to_owned);
    let name = raw
        .get("name")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let empty_default_hostname = raw
        .get("empty_default_hostname")
        .and_then(|b| b.as_bool())
        .unwrap_or(false);
    let id = check_id(check, name.as_deref(), &raw, init_config);
    Ok(Instance {
        id,
        interval,
        tags,
        service,
        name,
        empty_default_hostname,
        raw,
    })
}

fn interval(value: &serde_json::Value) -> Option<Duration> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    // `try_`: a number of seconds past what a `Duration` holds (`1e30`) is refused, not a panic; one so
    // small it rounds to zero would run the check in a busy loop, so it is refused too.
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|interval| !interval.is_zero())
}

/// FNV-1a over the instance and init_config as canonical JSON: stable across runs, different per instance.
fn check_id(
    check: &str,
    name: Option<&str>,
    instance: &serde_json::Map<String, serde_json::Value>,
    init_config: &serde_json::Value,
) -> CheckId {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    // serde_json's map is ordered by key, so the text is canonical.
    let text = format!("{}{}", serde_json::Value::Object(instance.clone()), init_config);
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    CheckId(match name {
        Some(name) => format!("{check}:{name}:{hash:016x}"),
        None => format!("{check}:{hash:016x}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Option<CheckConfig>, Vec<String>) {
        let mut problems = Vec::new();
        let check = read_check_file(
            "my_metric",
            Path::new("conf.d/my_metric.yaml"),
            text,
            &mut problems,
        );
        (check, problems.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn intervals_past_a_duration_or_rounding_to_zero_are_refused() {
        // 1e30 s made `Duration::from_secs_f64` panic, which stopped the agent at start.
        let (check, problems) = read(
            "instances:\n  - min_collection_interval: 1e30\n  - min_collection_interval: 1e-300\n  - {}\n",
        );
        assert_eq!(check.unwrap().instances.len(), 1);
        assert_eq!(
            problems,
            [
                "conf.d/my_metric.yaml: instance #0: min_collection_interval must be a positive number of \
                 seconds, got 1e+30",
                "conf.d/my_metric.yaml: instance #1: min_collection_interval must be a positive number of \
                 seconds, got 1e-300",
            ]
        );
    }

    #[test]
    fn instance_level_interval() {
        let (check, problems) = read("init_config:\ninstances:\n  - min_collection_interval: 45\n");
        let check = check.unwrap();
        assert_eq!(check.instances[0].interval, Duration::from_secs(45));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn init_config_interval_is_ignored_with_a_warning() {
        let (check, problems) = read("init_config:\n  min_collection_interval: 45\ninstances:\n  - {}\n");
        assert_eq!(check.unwrap().instances[0].interval, DEFAULT_INTERVAL);
        assert_eq!(
            problems,
            [
                "conf.d/my_metric.yaml:2: warning: min_collection_interval under init_config is ignored by \
              Agent 6/7; set it on each item of instances: instead"
            ]
        );
    }

    #[test]
    fn no_instances_is_a_config_error() {
        let (check, problems) = read("init_config:\n");
        assert_eq!(check, None);
        assert_eq!(
            problems,
            ["conf.d/my_metric.yaml: Configuration file contains no valid instances"]
        );
    }

    #[test]
    fn bad_interval_names_the_instance() {
        let (_, problems) = read("instances:\n  - min_collection_interval: soon\n");
        assert_eq!(
            problems[0],
            "conf.d/my_metric.yaml: instance #0: min_collection_interval must be a positive number of \
             seconds, got \"soon\""
        );
    }

    #[test]
    fn check_ids_are_stable_and_distinct() {
        let (a, _) = read("instances:\n  - min_collection_interval: 45\n  - min_collection_interval: 30\n");
        let a = a.unwrap();
        let (again, _) = read("instances:\n  - min_collection_interval: 45\n");
        assert_ne!(a.instances[0].id, a.instances[1].id);
        assert_eq!(a.instances[0].id, again.unwrap().instances[0].id);
        let id = a.instances[0].id.as_str();
        assert!(
            id.starts_with("my_metric:") && id.len() == "my_metric:".len() + 16,
            "{id}"
        );
    }

    #[test]
    fn discovery_follows_the_agent_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("my_metric.yaml", "instances: [{min_collection_interval: 45}]\n");
        write("mysql.d/conf.yaml", "instances: [{host: 127.0.0.1}]\n");
        write("mysql.d/conf.yaml.example", "instances: [{host: example}]\n");
        write("mysql.d/conf.yaml.default", "instances: [{host: default}]\n");
        write("disk.d/conf.yaml.default", "instances: [{}]\n");
        write("redis.d/auto_conf.yaml", "instances: [{}]\n");
        write("empty.d/conf.yaml", "");
        write("broken.d/conf.yaml", "instances:\n  - a: [\n");
        let confd = load_confd(root);
        let loaded: Vec<(String, String)> = confd
            .checks
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    c.source.strip_prefix(root).unwrap().display().to_string(),
                )
            })
            .collect();
        assert_eq!(
            loaded,
            [
                ("disk".to_owned(), "disk.d/conf.yaml.default".to_owned()),
                ("my_metric".to_owned(), "my_metric.yaml".to_owned()),
                ("mysql".to_owned(), "mysql.d/conf.yaml".to_owned()),
            ]
        );
        assert_eq!(confd.problems.len(), 1, "{:?}", confd.problems);
        assert!(confd.problems[0].path.ends_with("broken.d/conf.yaml"));
        assert!(confd.problems[0].line.is_some());
    }
}
