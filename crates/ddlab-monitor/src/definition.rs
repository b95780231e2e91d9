//! Monitor definitions checked the way Datadog checks them: thresholds against the query (with its
//! validation messages), and the message template's conditions and variables.

use crate::query::{Comparator, MonitorQuery};
use crate::state::Thresholds;
use crate::template::{Node, Template};

/// `options.thresholds` as given, each number already read (absent or `null` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GivenThresholds {
    pub critical: Option<f64>,
    pub warning: Option<f64>,
    pub critical_recovery: Option<f64>,
    pub warning_recovery: Option<f64>,
}

/// The variables Datadog documents for metric monitor messages (besides group tags).
pub const VARIABLES: &[&str] = &[
    "value",
    "threshold",
    "warn_threshold",
    "ok_threshold",
    "comparator",
    "first_triggered_at",
    "first_triggered_at_epoch",
    "last_triggered_at",
    "last_triggered_at_epoch",
    "triggered_duration_sec",
    "host.name",
    "host.ip",
    "local_time",
    "override_priority",
];

/// Checks the thresholds against the query; `given` is `None` when `options.thresholds` is absent, and the
/// critical threshold is then the query's. Messages are Datadog's (API reference §5.6).
pub fn check_thresholds(query: &MonitorQuery, given: Option<&GivenThresholds>) -> Result<Thresholds, String> {
    let Some(given) = given else {
        return Ok(Thresholds {
            critical: query.threshold,
            ..Thresholds::default()
        });
    };
    let Some(critical) = given.critical else {
        return Err("Alert status is required.".to_owned());
    };
    if critical != query.threshold {
        return Err(format!(
            "Alert threshold ({}) does not match that used in the query ({}).",
            py_float(critical),
            py_float(query.threshold)
        ));
    }
    let comparator = query.comparator;
    if let Some(warning) = given.warning {
        let wrong_side = match comparator {
            Comparator::Above | Comparator::AboveOrEqual => warning >= critical,
            Comparator::Below | Comparator::BelowOrEqual => warning <= critical,
            Comparator::Equal | Comparator::NotEqual => false,
        };
        if wrong_side {
            let relation = match comparator {
                Comparator::Above | Comparator::AboveOrEqual => "less",
                _ => "greater",
            };
            return Err(format!(
                "Warning threshold ({}) must be {relation} than the alert threshold ({}) with {comparator} comparison.",
                py_float(warning),
                py_float(critical)
            ));
        }
    }
    // A value that is both in alert and past the recovery threshold would flap between the two.
    let overlaps = |threshold: f64, recovery: f64| match comparator {
        Comparator::Above => recovery >= threshold,
        Comparator::AboveOrEqual => recovery > threshold,
        Comparator::Below => recovery <= threshold,
        Comparator::BelowOrEqual => recovery < threshold,
        Comparator::Equal | Comparator::NotEqual => false,
    };
    if let Some(recovery) = given.critical_recovery
        && overlaps(critical, recovery)
    {
        return Err(
            "alert and alert recovery criteria are such that the monitor can be simultaneously in alert and alert recovery states"
                .to_owned(),
        );
    }
    if let Some(recovery) = given.warning_recovery {
        let Some(warning) = given.warning else {
            return Err("Warning recovery threshold requires a warning threshold.".to_owned());
        };
        if overlaps(warning, recovery) {
            return Err(
                "warning and warning recovery criteria are such that the monitor can be simultaneously in warning and warning recovery states"
                    .to_owned(),
            );
        }
    }
    Ok(Thresholds {
        critical,
        warning: given.warning,
        critical_recovery: given.critical_recovery,
        warning_recovery: given.warning_recovery,
    })
}

/// The variables and conditions of a message that Datadog would not fill for this query: they render empty
/// (or false). Group tags are known when the query groups by their key or names them in its scope.
pub fn unknown_names(template: &Template, query: &MonitorQuery) -> Vec<String> {
    let mut keys: Vec<String> = vec!["host".to_owned()];
    for q in query.expression.queries() {
        keys.extend(q.group_by.iter().cloned());
    }
    for tag in crate::state::literal_tags(&query.expression) {
        if let Some((key, _)) = tag.split_once(':') {
            keys.push(key.to_owned());
        }
    }
    let mut unknown = template.unknown_conditions();
    collect_unknown(template.nodes(), &keys, &mut unknown);
    unknown
}

fn collect_unknown(nodes: &[Node], keys: &[String], unknown: &mut Vec<String>) {
    for node in nodes {
        match node {
            Node::Variable { path, .. } => {
                if !known_variable(path, keys) && !unknown.contains(path) {
                    unknown.push(path.clone());
                }
            }
            Node::Section { then, otherwise, .. } => {
                collect_unknown(then, keys, unknown);
                collect_unknown(otherwise, keys, unknown);
            }
            Node::Text(_) => {}
        }
    }
}

fn known_variable(path: &str, keys: &[String]) -> bool {
    if VARIABLES.contains(&path) {
        return true;
    }
    let Some(key) = path.strip_suffix(".name") else {
        return false;
    };
    let key = key
        .strip_prefix('[')
        .and_then(|k| k.strip_suffix(']'))
        .unwrap_or(key);
    keys.iter().any(|k| k == key)
}

/// A number as Python prints a float (`800.0`, `0.5`), as Datadog's messages show thresholds.
pub fn py_float(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, given: Option<GivenThresholds>) -> Result<Thresholds, String> {
        check_thresholds(&MonitorQuery::parse(query).unwrap(), given.as_ref())
    }

    fn given(critical: Option<f64>, warning: Option<f64>) -> GivenThresholds {
        GivenThresholds {
            critical,
            warning,
            ..GivenThresholds::default()
        }
    }

    #[test]
    fn datadogs_threshold_messages() {
        let q = "avg(last_5m):avg:my_metric{*} > 800";
        assert_eq!(
            check(q, Some(given(Some(800.0), Some(500.0)))),
            Ok(Thresholds {
                critical: 800.0,
                warning: Some(500.0),
                ..Thresholds::default()
            })
        );
        assert_eq!(check(q, None).unwrap().critical, 800.0);
        assert_eq!(
            check("avg(last_5m):avg:m{*} > 200", Some(given(Some(90.0), None))),
            Err("Alert threshold (90.0) does not match that used in the query (200.0).".to_owned())
        );
        assert_eq!(
            check("avg(last_5m):avg:m{*} > 20", Some(given(Some(20.0), Some(50.0)))),
            Err(
                "Warning threshold (50.0) must be less than the alert threshold (20.0) with > comparison."
                    .to_owned()
            )
        );
        assert_eq!(
            check("avg(last_5m):avg:m{*} < 20", Some(given(Some(20.0), Some(10.5)))),
            Err(
                "Warning threshold (10.5) must be greater than the alert threshold (20.0) with < comparison."
                    .to_owned()
            )
        );
        assert_eq!(
            check(q, Some(given(None, Some(500.0)))),
            Err("Alert status is required.".to_owned())
        );
        let recovery = GivenThresholds {
            critical: Some(800.0),
            critical_recovery: Some(800.0),
            ..GivenThresholds::default()
        };
        assert_eq!(
            check(q, Some(recovery)),
            Err("alert and alert recovery criteria are such that the monitor can be simultaneously in alert and alert recovery states".to_owned())
        );
        let recovery = GivenThresholds {
            critical: Some(800.0),
            critical_recovery: Some(700.0),
            warning: Some(500.0),
            warning_recovery: Some(400.0),
        };
        assert_eq!(check(q, Some(recovery)).unwrap().warning_recovery, Some(400.0));
    }

    #[test]
    fn unknown_variables_are_named() {
        let query =
            MonitorQuery::parse("avg(last_5m):avg:my_metric{host:lab,env:prod} by {service} > 800").unwrap();
        let template = Template::parse(
            "{{#is_alert}}{{value}} {{host.ip}} {{service.name}} {{[env].name}} {{vaule}} {{team.name}}{{/is_alert}}{{#is_alret}}x{{/is_alret}}",
        )
        .unwrap();
        assert_eq!(
            unknown_names(&template, &query),
            ["is_alret", "vaule", "team.name"]
        );
    }

    #[test]
    fn python_float_text() {
        assert_eq!(py_float(800.0), "800.0");
        assert_eq!(py_float(0.25), "0.25");
        assert_eq!(py_float(-3.0), "-3.0");
    }
}
