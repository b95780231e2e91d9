//! What a transition says: the event title (`[Triggered on {host:a}] name`), the rendered message, the
//! handles it notifies and the `$VARIABLES` a webhook payload can use.
//!
//! The message is rendered per transition with Datadog's conditions (`is_alert` is true for a move into
//! Alert, `is_recovery` for a move back to OK, `is_alert_to_warning`, `is_renotify`, …) and variables.
//! Handles are read from the *rendered* text, so a handle inside `{{#is_alert}}` is notified only on
//! alerts. Host variables: `{{host.name}}` is the group's `host` tag, or, for an ungrouped monitor whose
//! data came from one host, that host (see `state`); `{{host.ip}}` is the IP the host's agent reported in
//! its host metadata, given by the caller in [`HostInfo`].

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::mentions::mentions;
use crate::query::MonitorQuery;
use crate::state::{GroupState, Options, Reason, Status, Transition, UNGROUPED};
use crate::template::{Context, Template};

/// The monitor a notice is about.
#[derive(Debug, Clone, Copy)]
pub struct MonitorInfo<'a> {
    pub id: i64,
    pub name: &'a str,
    pub query_text: &'a str,
    pub query: &'a MonitorQuery,
    pub options: &'a Options,
    /// 1 (highest) to 5.
    pub priority: Option<u8>,
    pub tags: &'a [String],
    pub message: &'a Template,
    /// `options.escalation_message`, appended to re-notifications.
    pub escalation: Option<&'a Template>,
}

/// What the backend knows of a host from its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostInfo {
    pub name: String,
    pub ip: Option<String>,
    pub tags: Vec<String>,
}

/// A rendered transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The event title, also the e-mail subject.
    pub title: String,
    /// The rendered message.
    pub text: String,
    /// Variables and conditions the message uses that had no value.
    pub unknown: Vec<String>,
    /// The handles in the rendered text, without `@`.
    pub handles: Vec<String>,
    /// The event's `alert_type`: `error`, `warning` or `success`.
    pub alert_type: &'static str,
    /// `Triggered`, `Warn`, `No Data`, `Recovered`, `Re-Triggered`, …
    pub transition: &'static str,
    /// Webhook payload variables (`ALERT_TRANSITION`, `EVENT_TITLE`, …), without `$`.
    pub variables: BTreeMap<String, String>,
}

/// Renders the notice of one transition of one group.
pub fn notice(
    monitor: &MonitorInfo<'_>,
    transition: &Transition,
    group: &GroupState,
    host: Option<&HostInfo>,
) -> Notice {
    let context = Message {
        monitor,
        transition,
        group,
        host,
    };
    let mut rendered = monitor.message.render(&context);
    if transition.reason == Reason::Renotify
        && let Some(escalation) = monitor.escalation
    {
        let more = escalation.render(&context);
        rendered.text.push_str("\n\n");
        rendered.text.push_str(&more.text);
        rendered.unknown.extend(more.unknown);
    }
    let title = title(monitor, transition, group);
    let alert_type = match transition.to {
        Status::Alert => "error",
        Status::Warn | Status::NoData => "warning",
        Status::Ok | Status::Skipped => "success",
    };
    let text = rendered.text.trim().to_owned();
    let mut variables = BTreeMap::new();
    let mut set = |key: &str, value: String| {
        variables.insert(key.to_owned(), value);
    };
    set("ALERT_ID", monitor.id.to_string());
    set("ALERT_TITLE", monitor.name.to_owned());
    set("ALERT_TRANSITION", transition.name().to_owned());
    set("ALERT_TYPE", alert_type.to_owned());
    set("ALERT_STATUS", transition.to.name().to_owned());
    set("ALERT_QUERY", monitor.query_text.to_owned());
    set("ALERT_METRIC", monitor.query.metrics().join(","));
    set(
        "ALERT_SCOPE",
        if group.name == UNGROUPED {
            String::new()
        } else {
            group.name.clone()
        },
    );
    set(
        "ALERT_PRIORITY",
        monitor.priority.map(|p| format!("P{p}")).unwrap_or_default(),
    );
    set(
        "ALERT_CYCLE_KEY",
        format!("{}-{}", monitor.id, group.first_triggered.unwrap_or(0)),
    );
    set("AGGREG_KEY", monitor.id.to_string());
    set("EVENT_TITLE", title.clone());
    set("EVENT_MSG", text.clone());
    set("EVENT_TYPE", "query_alert_monitor".to_owned());
    set("DATE", (transition.at * 1000).to_string());
    set("LAST_UPDATED", (transition.at * 1000).to_string());
    set("HOSTNAME", host.map(|h| h.name.clone()).unwrap_or_default());
    set("TAGS", group.tags.join(","));
    set("TRIGGER_TIME", (transition.at * 1000).to_string());
    set("VALUE", group.value.map(format_number).unwrap_or_default());
    Notice {
        handles: mentions(&text),
        title,
        text,
        unknown: rendered.unknown,
        alert_type,
        transition: transition.name(),
        variables,
    }
}

/// `[P2] [Triggered on {host:a}] name`; without groups (or with `include_tags: false`) `[Triggered] name`.
pub fn title(monitor: &MonitorInfo<'_>, transition: &Transition, group: &GroupState) -> String {
    let priority = monitor.priority.map(|p| format!("[P{p}] ")).unwrap_or_default();
    let on = if monitor.options.include_tags && group.name != UNGROUPED {
        format!(" on {{{}}}", group.name)
    } else {
        String::new()
    };
    format!("{priority}[{}{on}] {}", transition.name(), monitor.name)
}

/// Numbers as messages show them: integers without a fraction, others with at most 4 decimals.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `2024-10-10 16:40:30 UTC`.
pub fn format_utc(epoch: i64) -> String {
    Timestamp::from_second(epoch)
        .map(|ts| ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

struct Message<'a> {
    monitor: &'a MonitorInfo<'a>,
    transition: &'a Transition,
    group: &'a GroupState,
    host: Option<&'a HostInfo>,
}

impl Message<'_> {
    fn epoch_of(&self, name: &str) -> Option<i64> {
        match name {
            "first_triggered_at" => self.group.first_triggered,
            "last_triggered_at" => self.group.last_triggered.or(self.group.first_triggered),
            _ => None,
        }
    }

    fn tag_value(&self, key: &str) -> Option<String> {
        let host_tags = self.host.map(|h| h.tags.as_slice()).unwrap_or_default();
        self.group
            .tags
            .iter()
            .chain(host_tags)
            .find_map(|tag| tag.strip_prefix(key)?.strip_prefix(':').map(str::to_owned))
    }
}

impl Context for Message<'_> {
    fn condition(&self, name: &str, args: &[String]) -> Option<bool> {
        let t = self.transition;
        let from = t.from.unwrap_or(Status::Ok);
        let recovery = t.is_recovery();
        Some(match name {
            "is_alert" => t.to == Status::Alert,
            "is_warning" => t.to == Status::Warn,
            "is_no_data" => t.to == Status::NoData,
            "is_recovery" => recovery,
            "is_alert_recovery" => recovery && from == Status::Alert,
            "is_warning_recovery" => recovery && from == Status::Warn,
            "is_no_data_recovery" => recovery && from == Status::NoData,
            "is_alert_to_warning" => from == Status::Alert && t.to == Status::Warn,
            "is_warning_to_alert" => from == Status::Warn && t.to == Status::Alert,
            "is_unknown" => false,
            "is_renotify" => t.reason == Reason::Renotify,
            "is_priority" => {
                let wanted = args.first()?.trim_start_matches(['P', 'p']);
                self.monitor.priority.is_some_and(|p| p.to_string() == wanted)
            }
            "is_match" | "is_exact_match" => {
                let (variable, needles) = args.split_first()?;
                let value = self.variable(variable, &[]).unwrap_or_default();
                needles.iter().any(|needle| {
                    if needle.is_empty() {
                        !value.is_empty()
                    } else if name == "is_match" {
                        value.contains(needle.as_str())
                    } else {
                        value == *needle
                    }
                })
            }
            _ => return None,
        })
    }

    fn variable(&self, path: &str, args: &[String]) -> Option<String> {
        let thresholds = &self.monitor.options.thresholds;
        let epoch_ms = |epoch: Option<i64>| epoch.map(|e| (e * 1000).to_string()).unwrap_or_default();
        Some(match path {
            "value" => self.group.value.map(format_number).unwrap_or_default(),
            "threshold" => format_number(thresholds.critical),
            "warn_threshold" => thresholds.warning.map(format_number).unwrap_or_default(),
            "ok_threshold" | "unknown_threshold" => String::new(),
            "critical_recovery" => thresholds
                .critical_recovery
                .map(format_number)
                .unwrap_or_default(),
            "warning_recovery" => thresholds.warning_recovery.map(format_number).unwrap_or_default(),
            "comparator" => self.monitor.query.comparator.symbol().to_owned(),
            "first_triggered_at" | "last_triggered_at" => {
                self.epoch_of(path).map(format_utc).unwrap_or_default()
            }
            "first_triggered_at_epoch" => epoch_ms(self.group.first_triggered),
            "last_triggered_at_epoch" => epoch_ms(self.epoch_of("last_triggered_at")),
            "triggered_duration_sec" => self
                .group
                .first_triggered
                .filter(|_| self.transition.to.is_triggered() || self.transition.is_recovery())
                .map(|t| (self.transition.at - t).to_string())
                .unwrap_or_default(),
            "host.name" => self
                .host
                .map(|h| h.name.clone())
                .or_else(|| self.group.host.clone())
                .unwrap_or_default(),
            "host.ip" => self.host.and_then(|h| h.ip.clone()).unwrap_or_default(),
            "local_time" => {
                let (variable, zone) = (args.first()?, args.get(1)?);
                let epoch = self.epoch_of(variable)?;
                let tz = TimeZone::get(zone).ok()?;
                Timestamp::from_second(epoch)
                    .ok()?
                    .to_zoned_datetime(tz)
                    .strftime("%Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            }
            "override_priority" => String::new(),
            _ => {
                let key = path.strip_suffix(".name")?;
                let key = key
                    .strip_prefix('[')
                    .and_then(|k| k.strip_suffix(']'))
                    .unwrap_or(key);
                self.tag_value(key)?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::state::Thresholds;

    /// The reference solution's message (fixtures/solution/api/monitor.json) with its placeholders filled.
    const EXERCISE_MESSAGE: &str = "{{#is_alert}}ALERT: my_metric averaged {{value}} over the last 5 minutes on {{host.name}} (IP {{host.ip}}), above the alert threshold of {{threshold}}.{{/is_alert}}\n{{#is_warning}}WARNING: my_metric averaged {{value}} over the last 5 minutes, above the warning threshold of {{warn_threshold}}.{{/is_warning}}\n{{#is_no_data}}NO DATA: my_metric has not reported for 10 minutes. Check that the Agent and the my_metric check are running.{{/is_no_data}}\n{{#is_recovery}}RECOVERED: my_metric is back below its thresholds ({{value}}).{{/is_recovery}}\n\nNotify: @me@example.com";

    fn render(from: Option<Status>, to: Status, reason: Reason, value: f64) -> Notice {
        let query = MonitorQuery::parse("avg(last_5m):avg:my_metric{host:lab} > 800").unwrap();
        let options = Options {
            thresholds: Thresholds {
                critical: 800.0,
                warning: Some(500.0),
                ..Thresholds::default()
            },
            ..Options::default()
        };
        let template = Template::parse(EXERCISE_MESSAGE).unwrap();
        let monitor = MonitorInfo {
            id: 42,
            name: "my_metric is high on lab",
            query_text: "avg(last_5m):avg:my_metric{host:lab} > 800",
            query: &query,
            options: &options,
            priority: None,
            tags: &[],
            message: &template,
            escalation: None,
        };
        let group = GroupState {
            name: "*".to_owned(),
            tags: vec!["host:lab".to_owned()],
            status: to,
            value: Some(value),
            first_triggered: Some(1_900_000_000),
            last_triggered: Some(1_900_000_300),
            host: Some("lab".to_owned()),
            ..GroupState::default()
        };
        let transition = Transition {
            group: "*".to_owned(),
            from,
            to,
            reason,
            value: Some(value),
            at: 1_900_000_600,
            notify: true,
        };
        let host = HostInfo {
            name: "lab".to_owned(),
            ip: Some("10.0.2.15".to_owned()),
            tags: vec!["env:lab".to_owned()],
        };
        notice(&monitor, &transition, &group, Some(&host))
    }

    #[test]
    fn the_exercise_message_per_state() {
        let alert = render(Some(Status::Warn), Status::Alert, Reason::Changed, 912.5);
        assert_eq!(alert.title, "[Triggered] my_metric is high on lab");
        expect![[r#"
            ALERT: my_metric averaged 912.5 over the last 5 minutes on lab (IP 10.0.2.15), above the alert threshold of 800.




            Notify: @me@example.com"#]]
        .assert_eq(&alert.text);
        assert_eq!(alert.handles, ["me@example.com"]);
        assert_eq!(alert.alert_type, "error");
        assert_eq!(alert.unknown, Vec::<String>::new());
        let warn = render(Some(Status::Ok), Status::Warn, Reason::Changed, 600.0);
        assert_eq!(warn.title, "[Warn] my_metric is high on lab");
        assert!(warn.text.starts_with(
            "WARNING: my_metric averaged 600 over the last 5 minutes, above the warning threshold of 500."
        ));
        let no_data = render(Some(Status::Alert), Status::NoData, Reason::Changed, 912.5);
        assert_eq!(no_data.title, "[No Data] my_metric is high on lab");
        assert!(
            no_data
                .text
                .starts_with("NO DATA: my_metric has not reported for 10 minutes.")
        );
        let recovered = render(Some(Status::NoData), Status::Ok, Reason::Changed, 100.0);
        assert_eq!(recovered.title, "[Recovered] my_metric is high on lab");
        assert!(
            recovered
                .text
                .starts_with("RECOVERED: my_metric is back below its thresholds (100).")
        );
        assert_eq!(recovered.alert_type, "success");
        assert_eq!(recovered.variables["ALERT_TRANSITION"], "Recovered");
        let again = render(Some(Status::Alert), Status::Alert, Reason::Renotify, 900.0);
        assert_eq!(again.title, "[Re-Triggered] my_metric is high on lab");
    }

    #[test]
    fn grouped_titles_priorities_and_variables() {
        let query = MonitorQuery::parse("avg(last_5m):avg:m{*} by {host,env} > 1").unwrap();
        let options = Options::default();
        let template = Template::parse(
            "{{env.name}} {{[host].name}} {{comparator}} {{#is_match \"env.name\" \"pro\"}}prod{{/is_match}} {{#is_exact_match \"env.name\" \"pro\"}}exact{{/is_exact_match}}{{#is_priority 'P2'}} P2{{/is_priority}} {{local_time 'last_triggered_at' 'Asia/Tokyo'}} {{triggered_duration_sec}}",
        )
        .unwrap();
        let monitor = MonitorInfo {
            id: 1,
            name: "m",
            query_text: "",
            query: &query,
            options: &options,
            priority: Some(2),
            tags: &[],
            message: &template,
            escalation: None,
        };
        let group = GroupState {
            name: "host:a,env:prod".to_owned(),
            tags: vec!["host:a".to_owned(), "env:prod".to_owned()],
            first_triggered: Some(0),
            last_triggered: Some(0),
            ..GroupState::default()
        };
        let transition = Transition {
            group: group.name.clone(),
            from: Some(Status::Ok),
            to: Status::Alert,
            reason: Reason::Changed,
            value: None,
            at: 90,
            notify: true,
        };
        let n = notice(&monitor, &transition, &group, None);
        assert_eq!(n.title, "[P2] [Triggered on {host:a,env:prod}] m");
        assert_eq!(n.text, "prod a &gt; prod  P2 1970-01-01 09:00:00 JST 90");
    }

    #[test]
    fn renotifications_append_the_escalation_message() {
        let query = MonitorQuery::parse("avg(last_5m):avg:m{*} > 1").unwrap();
        let options = Options::default();
        let template = Template::parse("{{#is_renotify}}still {{/is_renotify}}high").unwrap();
        let escalation = Template::parse("Escalating to @oncall@example.com").unwrap();
        let monitor = MonitorInfo {
            id: 1,
            name: "m",
            query_text: "",
            query: &query,
            options: &options,
            priority: None,
            tags: &[],
            message: &template,
            escalation: Some(&escalation),
        };
        let group = GroupState {
            name: "*".to_owned(),
            ..GroupState::default()
        };
        let mut transition = Transition {
            group: "*".to_owned(),
            from: Some(Status::Alert),
            to: Status::Alert,
            reason: Reason::Renotify,
            value: None,
            at: 0,
            notify: true,
        };
        let again = notice(&monitor, &transition, &group, None);
        assert_eq!(again.text, "still high\n\nEscalating to @oncall@example.com");
        assert_eq!(again.handles, ["oncall@example.com"]);
        transition.reason = Reason::Changed;
        assert_eq!(notice(&monitor, &transition, &group, None).text, "high");
    }

    #[test]
    fn numbers() {
        assert_eq!(format_number(800.0), "800");
        assert_eq!(format_number(912.456_78), "912.4568");
        assert_eq!(format_number(0.5), "0.5");
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
    }
}
