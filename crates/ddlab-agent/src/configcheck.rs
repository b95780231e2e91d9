//! `configcheck`: every check configuration the agent loaded, with secrets masked, in the Agent's layout.
//!
//! A value is masked (`"********"`) when its key names a secret: it contains `password`, `passwd`,
//! `secret`, `token`, `api_key`, `apikey`, `app_key`, `appkey` or `private_key`, or is `pass` or `pwd`
//! (case-insensitive), at any depth of the instance or `init_config`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::checks::default_instance;
use crate::config::{ConfD, Instance};
use crate::system;

/// What `configcheck` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCheck {
    pub configs: Vec<CheckConfigView>,
    /// Files that could not be loaded, as located messages.
    pub errors: Vec<String>,
}

/// One configuration file, masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckConfigView {
    pub check: String,
    pub provider: String,
    /// `file:<path>`, or `default` for a core check the agent runs without a file.
    pub source: String,
    pub instances: Vec<InstanceView>,
    /// `init_config` as YAML.
    pub init_config: String,
}

/// One instance, masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    pub check_id: String,
    /// The instance as YAML.
    pub config: String,
}

const MASK: &str = "********";

/// The configurations of `confd`, plus the core checks' defaults when `core_checks` is on.
pub fn config_check(confd: &ConfD, core_checks: bool) -> ConfigCheck {
    let mut configs: Vec<CheckConfigView> = confd
        .checks
        .iter()
        .map(|config| CheckConfigView {
            check: config.name.clone(),
            provider: "file".to_owned(),
            source: format!("file:{}", config.source.display()),
            instances: config.instances.iter().map(instance_view).collect(),
            init_config: yaml(&mask(config.init_config.clone())),
        })
        .collect();
    if core_checks {
        for name in system::NAMES {
            if !confd.checks.iter().any(|c| c.name == name) {
                configs.push(CheckConfigView {
                    check: name.to_owned(),
                    provider: "default".to_owned(),
                    source: "default".to_owned(),
                    instances: vec![instance_view(&default_instance(name))],
                    init_config: "{}".to_owned(),
                });
            }
        }
    }
    ConfigCheck {
        configs,
        errors: confd
            .problems
            .iter()
            .filter(|p| p.severity == crate::config::Severity::Error)
            .map(ToString::to_string)
            .collect(),
    }
}

/// The Agent's text: one block per configuration, `~` between instances.
pub fn render(check: &ConfigCheck) -> String {
    let mut out = String::new();
    for config in &check.configs {
        let _ = writeln!(out, "=== {} check ===", config.check);
        let _ = writeln!(out, "Configuration provider: {}", config.provider);
        let _ = writeln!(out, "Configuration source: {}", config.source);
        for (index, instance) in config.instances.iter().enumerate() {
            if index > 0 {
                let _ = writeln!(out, "~");
            }
            let _ = writeln!(out, "Config for instance ID: {}", instance.check_id);
            let _ = writeln!(out, "{}", instance.config.trim_end());
        }
        let _ = writeln!(out, "~");
        let _ = writeln!(out, "Init Config:");
        let _ = writeln!(out, "{}", config.init_config.trim_end());
        let _ = writeln!(out, "===\n");
    }
    if !check.errors.is_empty() {
        let _ = writeln!(out, "=== Configuration errors ===");
        for error in &check.errors {
            let _ = writeln!(out, "{error}");
        }
    }
    out
}

fn instance_view(instance: &Instance) -> InstanceView {
    InstanceView {
        check_id: instance.id.to_string(),
        config: yaml(&mask(Value::Object(instance.raw.clone()))),
    }
}

/// The value with every secret replaced by `********`.
pub fn mask(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if is_secret(&key) && !value.is_null() {
                        Value::String(MASK.to_owned())
                    } else {
                        mask(value)
                    };
                    (key, value)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask).collect()),
        other => other,
    }
}

fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    matches!(key.as_str(), "pass" | "pwd")
        || [
            "password",
            "passwd",
            "secret",
            "token",
            "api_key",
            "apikey",
            "app_key",
            "appkey",
            "private_key",
        ]
        .iter()
        .any(|word| key.contains(word))
}

fn yaml(value: &Value) -> String {
    match value {
        Value::Null => "{}".to_owned(),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        other => serde_saphyr::to_string(other).unwrap_or_else(|_| other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::checks::read_check_file;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let masked = mask(serde_json::json!({
            "host": "127.0.0.1",
            "password": "datadog-lab",
            "options": {"ssl": {"client_secret": "x", "cert": "c"}},
            "queries": [{"API_KEY": "y", "query": "SELECT 1"}],
            "pass": null,
        }));
        assert_eq!(
            masked,
            serde_json::json!({
                "host": "127.0.0.1",
                "password": "********",
                "options": {"ssl": {"client_secret": "********", "cert": "c"}},
                "queries": [{"API_KEY": "********", "query": "SELECT 1"}],
                "pass": null,
            })
        );
    }

    #[test]
    fn the_agents_layout() {
        let mut problems = Vec::new();
        let config = read_check_file(
            "mysql",
            std::path::Path::new("/etc/dd/conf.d/mysql.d/conf.yaml"),
            "init_config: {}\ninstances:\n  - host: 127.0.0.1\n    port: 3306\n    password: datadog-lab\n",
            &mut problems,
        )
        .unwrap();
        let id = config.instances[0].id.to_string();
        let confd = ConfD {
            checks: vec![config],
            problems,
        };
        let text = render(&config_check(&confd, false));
        assert_eq!(
            text,
            format!(
                "=== mysql check ===\nConfiguration provider: file\nConfiguration source: \
                 file:/etc/dd/conf.d/mysql.d/conf.yaml\nConfig for instance ID: {id}\nhost: \"127.0.0.1\"\n\
                 password: \"********\"\nport: 3306\n~\nInit Config:\n{{}}\n===\n\n"
            )
        );
        assert!(!text.contains("datadog-lab"));
        let with_core = config_check(&confd, true);
        assert_eq!(with_core.configs.len(), 1 + system::NAMES.len());
    }
}
