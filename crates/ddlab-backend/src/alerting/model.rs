//! Monitor and downtime definitions: the JSON the API receives, checked and normalised the way Datadog
//! does it, the JSON kept in the store, and the domain types of `ddlab-monitor` built from it.
//!
//! The store keeps a monitor as its normalised API body (`name`, `type`, `query`, `message`, `tags`,
//! `options`, `priority`), so what the API echoes is what was accepted. A downtime is kept in one shape for
//! both API versions (see [`DowntimeDef`]).

use std::collections::BTreeMap;

use ddlab_monitor::definition::{GivenThresholds, check_thresholds, unknown_names};
use ddlab_monitor::downtime::{DowntimeScope, MonitorTarget};
use ddlab_monitor::query::{MonitorQuery, TimeAggregation};
use ddlab_monitor::schedule::{RecurrenceSpec, Schedule, V1Recurrence};
use ddlab_monitor::state::{Options, Status};
use ddlab_monitor::template::Template;
use ddlab_store::{ActivePeriod, DowntimeRecord};
use serde_json::{Map, Value, json};

/// The monitor types Datadog accepts; only `query alert` (and its alias `metric alert`) is evaluated.
pub(crate) const MONITOR_TYPES: &[&str] = &[
    "composite",
    "event alert",
    "log alert",
    "metric alert",
    "process alert",
    "query alert",
    "rum alert",
    "service check",
    "synthetics alert",
    "trace-analytics alert",
    "slo alert",
    "event-v2 alert",
    "audit alert",
    "ci-pipelines alert",
    "ci-tests alert",
    "error-tracking alert",
    "database-monitoring alert",
    "network-performance alert",
    "cost alert",
];

/// A monitor ready to evaluate.
#[derive(Debug)]
pub(crate) struct MonitorDef {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) query_text: String,
    /// Set for `query alert` monitors.
    pub(crate) query: Option<MonitorQuery>,
    pub(crate) options: Options,
    pub(crate) message: Template,
    /// `options.escalation_message`.
    pub(crate) escalation: Option<Template>,
    pub(crate) tags: Vec<String>,
    pub(crate) priority: Option<u8>,
    /// Legacy mutes: scope (`*` for all) → end (epoch seconds), `None` forever.
    pub(crate) silenced: BTreeMap<String, Option<i64>>,
}

/// A monitor body checked and normalised, with the warnings validation reports.
#[derive(Debug)]
pub(crate) struct Normalised {
    pub(crate) definition: Value,
    pub(crate) warnings: Vec<String>,
}

/// Checks a create body (or an update merged onto the stored definition) and normalises it: `metric alert`
/// becomes `query alert`, thresholds become floats without nulls, defaults are added to `options`, a
/// missing name is generated. Errors are Datadog's messages.
pub(crate) fn normalise_monitor(body: &Value) -> Result<Normalised, String> {
    let object = body
        .as_object()
        .ok_or_else(|| "Invalid monitor: the body must be a JSON object".to_owned())?;
    let kind = match object.get("type") {
        Some(Value::String(kind)) if MONITOR_TYPES.contains(&kind.as_str()) => kind.clone(),
        Some(Value::String(kind)) => return Err(format!("Invalid monitor type: '{kind}'")),
        Some(_) | None => return Err("The value provided for parameter 'type' is invalid".to_owned()),
    };
    let query_text = match object.get("query") {
        Some(Value::String(query)) if !query.trim().is_empty() => query.trim().to_owned(),
        _ => return Err("The value provided for parameter 'query' is invalid".to_owned()),
    };
    let evaluated = matches!(kind.as_str(), "metric alert" | "query alert");
    let kind = if evaluated { "query alert".to_owned() } else { kind };
    let message_text = match object.get("message") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(message)) => message.clone(),
        Some(_) => return Err("The value provided for parameter 'message' is invalid".to_owned()),
    };
    let template = Template::parse(&message_text)
        .map_err(|err| format!("The value provided for parameter 'message' is invalid: {err}"))?;
    let tags = string_list(object.get("tags"), "tags")?;
    let priority = match object.get("priority") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|p| (1..=5).contains(p))
                .ok_or_else(|| "Priority must be an integer from 1 to 5 or null".to_owned())?,
        ),
    };
    let mut options = match object.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(options)) => options.clone(),
        Some(_) => return Err("The value provided for parameter 'options' is invalid".to_owned()),
    };
    let mut warnings = Vec::new();
    let query = if evaluated {
        let query = MonitorQuery::parse(&query_text)
            .map_err(|err| format!("The value provided for parameter 'query' is invalid: {err}"))?;
        let given = match options.get("thresholds") {
            None | Some(Value::Null) => None,
            Some(Value::Object(thresholds)) => Some(given_thresholds(thresholds)?),
            Some(_) => return Err("Non-numeric threshold value.".to_owned()),
        };
        let checked = check_thresholds(&query, given.as_ref())?;
        let mut thresholds = Map::new();
        thresholds.insert("critical".to_owned(), json!(checked.critical));
        for (key, value) in [
            ("warning", checked.warning),
            ("critical_recovery", checked.critical_recovery),
            ("warning_recovery", checked.warning_recovery),
        ] {
            if let Some(value) = value {
                thresholds.insert(key.to_owned(), json!(value));
            }
        }
        options.insert("thresholds".to_owned(), Value::Object(thresholds));
        for name in unknown_names(&template, &query) {
            warnings.push(format!(
                "The message uses {{{{{name}}}}}, which this monitor does not fill: it renders empty"
            ));
        }
        Some(query)
    } else {
        None
    };
    for (key, default) in [
        ("notify_no_data", json!(false)),
        ("notify_audit", json!(false)),
        ("include_tags", json!(true)),
        ("new_host_delay", json!(300)),
        ("silenced", json!({})),
    ] {
        options.entry(key.to_owned()).or_insert(default);
    }
    check_options(&options)?;
    if let Some(escalation) = options.get("escalation_message").and_then(Value::as_str) {
        Template::parse(escalation).map_err(|err| {
            format!("The value provided for parameter 'options.escalation_message' is invalid: {err}")
        })?;
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => query.as_ref().map_or_else(|| query_text.clone(), generated_name),
    };
    let mut definition = Map::new();
    definition.insert("name".to_owned(), json!(name));
    definition.insert("type".to_owned(), json!(kind));
    definition.insert("query".to_owned(), json!(query_text));
    definition.insert("message".to_owned(), json!(message_text));
    definition.insert("tags".to_owned(), json!(tags));
    definition.insert("options".to_owned(), Value::Object(options));
    definition.insert("priority".to_owned(), json!(priority));
    definition.insert(
        "restricted_roles".to_owned(),
        object.get("restricted_roles").cloned().unwrap_or(Value::Null),
    );
    Ok(Normalised {
        definition: Value::Object(definition),
        warnings,
    })
}

impl MonitorDef {
    /// The domain form of a stored (normalised) definition.
    pub(crate) fn from_stored(id: i64, definition: &Value) -> Result<MonitorDef, String> {
        let text = |key: &str| definition[key].as_str().unwrap_or_default().to_owned();
        let kind = text("type");
        let query_text = text("query");
        let query = if kind == "query alert" {
            Some(MonitorQuery::parse(&query_text).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let message =
            Template::parse(definition["message"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
        let o = &definition["options"];
        let number = |v: &Value| v.as_f64();
        let int = |key: &str| o[key].as_f64().map(|v| v as i64);
        let thresholds = &o["thresholds"];
        let options = Options {
            thresholds: ddlab_monitor::state::Thresholds {
                critical: number(&thresholds["critical"])
                    .or_else(|| query.as_ref().map(|q| q.threshold))
                    .unwrap_or_default(),
                warning: number(&thresholds["warning"]),
                critical_recovery: number(&thresholds["critical_recovery"]),
                warning_recovery: number(&thresholds["warning_recovery"]),
            },
            notify_no_data: o["notify_no_data"].as_bool().unwrap_or(false),
            no_data_timeframe: int("no_data_timeframe"),
            require_full_window: o["require_full_window"].as_bool().unwrap_or(false),
            evaluation_delay: int("evaluation_delay").unwrap_or(0),
            new_group_delay: int("new_group_delay")
                .or_else(|| int("new_host_delay"))
                .unwrap_or(0),
            renotify_interval: int("renotify_interval"),
            renotify_statuses: match o["renotify_statuses"].as_array() {
                Some(list) => list.iter().filter_map(|s| Status::parse(s.as_str()?)).collect(),
                None => vec![Status::Alert, Status::NoData],
            },
            renotify_occurrences: o["renotify_occurrences"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok()),
            timeout_h: int("timeout_h"),
            include_tags: o["include_tags"].as_bool().unwrap_or(true),
        };
        let silenced = o["silenced"]
            .as_object()
            .map(|map| {
                map.iter()
                    .map(|(scope, end)| (scope.clone(), end.as_f64().map(|e| e as i64)))
                    .collect()
            })
            .unwrap_or_default();
        let escalation = match o["escalation_message"].as_str().filter(|m| !m.trim().is_empty()) {
            Some(text) => Some(Template::parse(text).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(MonitorDef {
            id,
            escalation,
            name: text("name"),
            query_text,
            query,
            options,
            message,
            tags: string_list(definition.get("tags"), "tags").unwrap_or_default(),
            priority: definition["priority"].as_u64().and_then(|p| u8::try_from(p).ok()),
            silenced,
        })
    }
}

/// `**my_metric** over **host:lab** was **> 800.0** on average during the **last 5m**.`
fn generated_name(query: &MonitorQuery) -> String {
    let scope = query
        .expression
        .queries()
        .first()
        .map_or_else(|| "*".to_owned(), |q| q.scope.to_string());
    let how = match query.time_aggregation {
        TimeAggregation::Avg => "on average",
        TimeAggregation::Sum => "in total",
        TimeAggregation::Max => "at least once",
        TimeAggregation::Min => "at all times",
        TimeAggregation::Percentile(_) => "at the percentile",
    };
    format!(
        "**{}** over **{scope}** was **{} {}** {how} during the **{}**.",
        query.metrics().join(", "),
        query.comparator,
        ddlab_monitor::definition::py_float(query.threshold),
        query.window_text.replace('_', " ")
    )
}

fn given_thresholds(thresholds: &Map<String, Value>) -> Result<GivenThresholds, String> {
    let read = |key: &str| -> Result<Option<f64>, String> {
        match thresholds.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            // Clients that send thresholds as strings get them read as numbers when they are numbers.
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(|| "Non-numeric threshold value.".to_owned()),
            Some(_) => Err("Non-numeric threshold value.".to_owned()),
        }
    };
    Ok(GivenThresholds {
        critical: read("critical")?,
        warning: read("warning")?,
        critical_recovery: read("critical_recovery")?,
        warning_recovery: read("warning_recovery")?,
    })
}

/// Options with a known meaning must have the right type.
fn check_options(options: &Map<String, Value>) -> Result<(), String> {
    for key in [
        "notify_no_data",
        "require_full_window",
        "include_tags",
        "notify_audit",
        "locked",
    ] {
        if let Some(value) = options.get(key)
            && !value.is_boolean()
            && !value.is_null()
        {
            return Err(format!(
                "The value provided for parameter 'options.{key}' is invalid: expected a boolean"
            ));
        }
    }
    for (key, max) in [
        ("no_data_timeframe", 1_440_000.0),
        ("evaluation_delay", 86_400.0),
        ("new_group_delay", 86_400.0),
        ("new_host_delay", 86_400.0),
        ("renotify_interval", 1_440_000.0),
        ("renotify_occurrences", 1_000_000.0),
        ("timeout_h", 24.0),
    ] {
        if let Some(value) = options.get(key)
            && !value.is_null()
            && !value.as_f64().is_some_and(|v| (0.0..=max).contains(&v))
        {
            return Err(format!(
                "The value provided for parameter 'options.{key}' is invalid: expected a number from 0 to {max}"
            ));
        }
    }
    if let Some(value) = options.get("silenced")
        && !value.is_object()
    {
        return Err("The value provided for parameter 'options.silenced' is invalid".to_owned());
    }
    Ok(())
}

pub(crate) fn string_list(value: Option<&Value>, name: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    format!("The value provided for parameter '{name}' is invalid: expected strings")
                })
            })
            .collect(),
        Some(_) => Err(format!(
            "The value provided for parameter '{name}' is invalid: expected a list of strings"
        )),
    }
}

/// A downtime ready to apply. The stored JSON (one shape for both API versions):
///
/// ```text
/// {"api": "v1"|"v2", "scope_v1": ["k:v", ...] (v1) | "scope": "<event-search string>" (v2),
///  "monitor_id": 123|null, "monitor_tags": ["k:v"]|null, "message": "..."|null, "display_timezone": "UTC",
///  "schedule": {"type": "once", "start": s, "end": s|null}
///            | {"type": "v1", "start": s, "end": s, "timezone": tz, "recurrence": {...v1 recurrence...}}
///            | {"type": "rrule", "timezone": tz, "recurrences": [{"rrule", "start", "duration"}]},
///  "mute_first_recovery_notification": bool, "notify_end_states": [...], "notify_end_types": [...],
///  "updated": bool}
/// ```
#[derive(Debug)]
pub(crate) struct DowntimeDef {
    pub(crate) id: i64,
    pub(crate) uuid: String,
    pub(crate) definition: Value,
    pub(crate) scope: DowntimeScope,
    pub(crate) target: MonitorTarget,
    pub(crate) schedule: Schedule,
    pub(crate) message: String,
    pub(crate) mute_first_recovery: bool,
    pub(crate) notify_end_states: Vec<Status>,
    pub(crate) notify_end_types: Vec<String>,
    pub(crate) created: i64,
    pub(crate) modified: i64,
    pub(crate) canceled: Option<i64>,
    pub(crate) active: Option<ActivePeriod>,
}

impl DowntimeDef {
    pub(crate) fn from_record(record: &DowntimeRecord) -> Result<DowntimeDef, String> {
        let d = &record.definition;
        let scope = match d.get("scope_v1") {
            Some(Value::Array(_)) => DowntimeScope::v1(&string_list(d.get("scope_v1"), "scope")?),
            _ => DowntimeScope::v2(d["scope"].as_str().unwrap_or("*")),
        }
        .map_err(|e| e.to_string())?;
        let target = match d["monitor_id"].as_i64() {
            Some(id) => MonitorTarget::Id(id),
            None => MonitorTarget::Tags(
                string_list(d.get("monitor_tags"), "monitor_tags")
                    .ok()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| vec!["*".to_owned()]),
            ),
        };
        let schedule = schedule_of(&d["schedule"], record.created).map_err(|e| e.to_string())?;
        Ok(DowntimeDef {
            id: record.id,
            uuid: record.uuid.clone(),
            definition: d.clone(),
            scope,
            target,
            schedule,
            message: d["message"].as_str().unwrap_or_default().to_owned(),
            mute_first_recovery: d["mute_first_recovery_notification"].as_bool().unwrap_or(false),
            notify_end_states: d["notify_end_states"]
                .as_array()
                .map(|l| l.iter().filter_map(|s| Status::parse(s.as_str()?)).collect())
                .unwrap_or_default(),
            notify_end_types: string_list(d.get("notify_end_types"), "notify_end_types").unwrap_or_default(),
            created: record.created,
            modified: record.modified,
            canceled: record.canceled,
            active: record.active,
        })
    }

    /// Whether the downtime mutes this group of this monitor (targeting and scope; not time).
    pub(crate) fn applies(&self, monitor: &MonitorDef, group_tags: &[String]) -> bool {
        self.target.matches(monitor.id, &monitor.tags) && self.scope.matches(group_tags)
    }

    /// The muted period in progress at `now`, unless canceled.
    pub(crate) fn active_at(&self, now: i64) -> Option<ddlab_monitor::schedule::Occurrence> {
        if self.canceled.is_some_and(|c| c <= now) {
            return None;
        }
        self.schedule.active_at(now)
    }

    /// `scheduled`, `active`, `ended` or `canceled` at `now`.
    pub(crate) fn status(&self, now: i64) -> String {
        if self.canceled.is_some() {
            return "canceled".to_owned();
        }
        self.schedule.phase(now).to_string()
    }

    /// What the downtime targets, for people: `monitor 12`, `monitors tagged team:a`, `all monitors`.
    pub(crate) fn target_text(&self) -> String {
        match &self.target {
            MonitorTarget::Id(id) => format!("monitor {id}"),
            MonitorTarget::Tags(tags) if tags.iter().all(|t| t == "*") => "all monitors".to_owned(),
            MonitorTarget::Tags(tags) => format!("monitors tagged {}", tags.join(", ")),
        }
    }
}

/// The schedule of a stored downtime. A recurrence without a local start began when the downtime was created.
pub(crate) fn schedule_of(
    schedule: &Value,
    created: i64,
) -> Result<Schedule, ddlab_monitor::schedule::ScheduleError> {
    let int = |v: &Value| v.as_i64();
    match schedule["type"].as_str() {
        Some("v1") => {
            let r = &schedule["recurrence"];
            let recurrence = V1Recurrence {
                kind: r["type"].as_str().unwrap_or_default().to_owned(),
                period: int(&r["period"]),
                week_days: r["week_days"]
                    .as_array()
                    .map(|l| l.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect()),
                until_date: int(&r["until_date"]),
                until_occurrences: int(&r["until_occurrences"]),
                rrule: r["rrule"].as_str().map(str::to_owned),
            };
            Schedule::v1(
                int(&schedule["start"]).unwrap_or(created),
                int(&schedule["end"]),
                schedule["timezone"].as_str().unwrap_or("UTC"),
                Some(&recurrence),
            )
        }
        Some("rrule") => {
            let timezone = schedule["timezone"].as_str().unwrap_or("UTC");
            let zone = ddlab_monitor::schedule::Zone::get(timezone)?;
            let specs: Vec<RecurrenceSpec> = schedule["recurrences"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|r| RecurrenceSpec {
                            rrule: r["rrule"].as_str().unwrap_or_default().to_owned(),
                            start: match r["start"].as_str() {
                                Some(start) => start.to_owned(),
                                None => zone
                                    .local(created)
                                    .map(|l| l.strftime("%Y-%m-%dT%H:%M:%S").to_string())
                                    .unwrap_or_default(),
                            },
                            duration: r["duration"].as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Schedule::recurring(timezone, &specs)
        }
        _ => Schedule::once(int(&schedule["start"]).unwrap_or(created), int(&schedule["end"])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_fills_defaults_and_checks_thresholds() {
        let body = json!({
            "type": "metric alert",
            "query": "avg(last_5m):avg:my_metric{host:lab} > 800",
            "options": {"thresholds": {"critical": 800, "warning": "500", "ok": null}},
        });
        let normalised = normalise_monitor(&body).unwrap();
        let d = &normalised.definition;
        assert_eq!(d["type"], "query alert");
        assert_eq!(
            d["name"],
            "**my_metric** over **host:lab** was **> 800.0** on average during the **last 5m**."
        );
        assert_eq!(
            d["options"]["thresholds"],
            json!({"critical": 800.0, "warning": 500.0})
        );
        assert_eq!(d["options"]["new_host_delay"], 300);
        assert_eq!(d["message"], "");
        let def = MonitorDef::from_stored(1, d).unwrap();
        assert_eq!(def.options.new_group_delay, 300);
        assert_eq!(def.options.thresholds.warning, Some(500.0));

        let err = |body: Value| normalise_monitor(&body).unwrap_err();
        assert_eq!(
            err(
                json!({"type": "metric alert", "query": "avg(last_5m):avg:m{*} > 800", "options": {"thresholds": {"critical": "high"}}})
            ),
            "Non-numeric threshold value."
        );
        assert_eq!(
            err(json!({"type": "metric alert", "query": "avg(last_5m):avg:m{*}"})),
            "The value provided for parameter 'query' is invalid: invalid monitor query at character 22: expected a comparator (>, >=, <, <=, ==, !=) and a threshold"
        );
        assert_eq!(
            err(
                json!({"type": "metric alert", "query": "avg(last_5m):avg:m{*} > 1", "message": "{{#is_alert}}x"})
            ),
            "The value provided for parameter 'message' is invalid: line 1, column 1: {{#is_alert}} is never closed: add {{/is_alert}}"
        );
        assert_eq!(
            err(
                json!({"type": "metric alert", "query": "avg(last_5m):avg:m{*} > 1", "options": {"evaluation_delay": -5}})
            ),
            "The value provided for parameter 'options.evaluation_delay' is invalid: expected a number from 0 to 86400"
        );
        assert_eq!(
            err(json!({"type": "nonsense", "query": "x"})),
            "Invalid monitor type: 'nonsense'"
        );
        let warned = normalise_monitor(
            &json!({"type": "metric alert", "query": "avg(last_5m):avg:m{*} > 1", "message": "{{vaule}}"}),
        )
        .unwrap();
        assert_eq!(
            warned.warnings,
            ["The message uses {{vaule}}, which this monitor does not fill: it renders empty"]
        );
    }
}
