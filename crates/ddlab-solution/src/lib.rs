//! ddlab-solution: a candidate's submission folder, read into types.
//!
//! A solution is laid out like a submission (see `fixtures/README.md`): the Agent's `datadog.yaml`,
//! `conf.d/` and `checks.d/`, `mysql/grants.sql`, the API payloads under `api/`, the instrumented app under
//! `app/` and `answers.md`. [`Solution::load`] reads what is there; missing pieces are `None` so the grader
//! can say which exercise item each one breaks, and a file that is there but unreadable is an error that
//! names it.

pub mod placeholders;
pub mod secrets;

use std::path::{Path, PathBuf};

use ddlab_agent::config::{AgentConfig, ConfD, Loaded, Problem, load_confd};

pub use placeholders::{PlaceholderError, Variables, substitute_json, substitute_text};

/// Where each part of a submission lives, relative to its root.
pub mod layout {
    pub const AGENT_CONFIG: &str = "datadog.yaml";
    pub const CONF_D: &str = "conf.d";
    pub const CHECKS_D: &str = "checks.d";
    pub const GRANTS: &str = "mysql/grants.sql";
    pub const TIMEBOARD: &str = "api/timeboard.json";
    pub const MONITOR: &str = "api/monitor.json";
    pub const DOWNTIMES_PREFIX: &str = "api/downtime";
    pub const APM_DASHBOARD: &str = "api/apm-infra-dashboard.json";
    pub const APP_SOURCE: &str = "app/app.py";
    pub const APP_LAUNCHER: &str = "app/run";
    pub const APP_REQUIREMENTS: &str = "app/requirements.txt";
    pub const ANSWERS: &str = "answers.md";
}

/// A submission, read from disk.
#[derive(Debug, Clone)]
pub struct Solution {
    pub root: PathBuf,
    /// `datadog.yaml` as committed, without any environment applied (the grader judges the file).
    pub agent: Option<Loaded>,
    /// Everything under `conf.d/`, with its problems.
    pub confd: ConfD,
    /// `checks.d/*.py`.
    pub check_sources: Vec<Document>,
    pub grants: Option<Document>,
    pub timeboard: Option<Payload>,
    pub monitor: Option<Payload>,
    /// `api/downtime*.json`, sorted by file name.
    pub downtimes: Vec<Payload>,
    pub apm_dashboard: Option<Payload>,
    pub app_source: Option<Document>,
    pub app_launcher: Option<Document>,
    pub app_requirements: Option<Document>,
    pub answers: Option<Document>,
}

/// A text file of the submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub path: PathBuf,
    pub text: String,
}

/// A JSON payload of the submission, placeholders still in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub path: PathBuf,
    pub body: serde_json::Value,
}

/// Why a submission could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SolutionError {
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Config(Problem),
    #[error("{}: {source}", path.display())]
    Placeholder { path: PathBuf, source: PlaceholderError },
}

impl Solution {
    /// Reads the submission at `root`.
    pub fn load(root: &Path) -> Result<Self, SolutionError> {
        if !root.is_dir() {
            return Err(SolutionError::NotAFolder(root.to_owned()));
        }
        let agent_path = root.join(layout::AGENT_CONFIG);
        let agent = match read_optional(&agent_path)? {
            None => None,
            Some(text) => Some(
                AgentConfig::from_yaml(root, &agent_path, &text, &|_| None).map_err(|err| match err {
                    ddlab_agent::config::ConfigError::Invalid(problem) => SolutionError::Config(problem),
                    other => SolutionError::Config(Problem::error(&agent_path, None, other.to_string())),
                })?,
            ),
        };
        let mut downtimes = Vec::new();
        let api = root.join("api");
        for path in list(&api)? {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with("downtime") && name.ends_with(".json") {
                downtimes.push(read_payload(&path)?);
            }
        }
        let check_sources = list(&root.join(layout::CHECKS_D))?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .map(|p| read_document(&p))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            root: root.to_owned(),
            agent,
            confd: load_confd(&root.join(layout::CONF_D)),
            check_sources,
            grants: optional_document(&root.join(layout::GRANTS))?,
            timeboard: optional_payload(&root.join(layout::TIMEBOARD))?,
            monitor: optional_payload(&root.join(layout::MONITOR))?,
            downtimes,
            apm_dashboard: optional_payload(&root.join(layout::APM_DASHBOARD))?,
            app_source: optional_document(&root.join(layout::APP_SOURCE))?,
            app_launcher: optional_document(&root.join(layout::APP_LAUNCHER))?,
            app_requirements: optional_document(&root.join(layout::APP_REQUIREMENTS))?,
            answers: optional_document(&root.join(layout::ANSWERS))?,
        })
    }

    /// The configuration of check `name` (its first file), if `conf.d` has one.
    pub fn check_config(&self, name: &str) -> Option<&ddlab_agent::config::CheckConfig> {
        self.confd.checks.iter().find(|c| c.name == name)
    }

    /// The Python source of custom check `name` in `checks.d`.
    pub fn check_source(&self, name: &str) -> Option<&Document> {
        self.check_sources
            .iter()
            .find(|d| d.path.file_stem().is_some_and(|s| s == name))
    }

    /// A path relative to the solution root, for messages.
    pub fn relative<'p>(&self, path: &'p Path) -> &'p Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

impl Payload {
    /// The payload with its placeholders filled in; an error names the file and the placeholder.
    pub fn substituted(&self, vars: &Variables) -> Result<serde_json::Value, SolutionError> {
        substitute_json(&self.body, vars).map_err(|source| SolutionError::Placeholder {
            path: self.path.clone(),
            source,
        })
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, SolutionError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SolutionError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

fn read_document(path: &Path) -> Result<Document, SolutionError> {
    std::fs::read_to_string(path)
        .map(|text| Document {
            path: path.to_owned(),
            text,
        })
        .map_err(|source| SolutionError::Read {
            path: path.to_owned(),
            source,
        })
}

fn optional_document(path: &Path) -> Result<Option<Document>, SolutionError> {
    Ok(read_optional(path)?.map(|text| Document {
        path: path.to_owned(),
        text,
    }))
}

fn read_payload(path: &Path) -> Result<Payload, SolutionError> {
    let text = read_document(path)?.text;
    parse_payload(path, &text)
}

fn optional_payload(path: &Path) -> Result<Option<Payload>, SolutionError> {
    read_optional(path)?
        .map(|text| parse_payload(path, &text))
        .transpose()
}

fn parse_payload(path: &Path, text: &str) -> Result<Payload, SolutionError> {
    serde_json::from_str(text)
        .map(|body| Payload {
            path: path.to_owned(),
            body,
        })
        .map_err(|err| {
            // serde_json appends " at line L column C"; the error prints the location itself.
            let message = err.to_string();
            let message = message.split(" at line ").next().unwrap_or_default().to_owned();
            SolutionError::Json {
                path: path.to_owned(),
                line: err.line(),
                column: err.column(),
                message,
            }
        })
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, SolutionError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            Ok(paths)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(SolutionError::Read {
            path: dir.to_owned(),
            source,
        }),
    }
}
