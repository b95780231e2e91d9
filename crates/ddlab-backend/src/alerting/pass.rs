//! One evaluation pass at `now`: downtimes first (which started, which ended), then every monitor, each
//! written to the store whole with its transitions, events and notifications. Blocking: it runs on the
//! blocking pool.

use std::collections::{BTreeMap, HashMap};

use ddlab_monitor::notify::{HostInfo, MonitorInfo, notice};
use ddlab_monitor::state::{GroupState, Mute, Status, Transition, observe, step};
use ddlab_store::{
    ActivePeriod, EvaluationRecord, GroupRow, HistoryRow, NewEvent, NewNotification, Store, StoreError,
    TransitionEvent,
};
use serde_json::{Map, Value, json};

use super::model::{DowntimeDef, MonitorDef};
use crate::source::StoreSource;

/// How many monitors' evaluations one write transaction holds: large enough that commits are rare, small
/// enough that intake waiting for the writer is not held up for long.
const WRITE_BATCH: usize = 100;

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PassReport {
    pub(crate) now: i64,
    pub(crate) monitors: usize,
    pub(crate) transitions: usize,
    pub(crate) notifications: usize,
    /// Monitors that could not be evaluated, with why.
    pub(crate) errors: Vec<String>,
}

/// A downtime whose muted period ended since the last pass, and how.
struct Ended<'a> {
    downtime: &'a DowntimeDef,
    /// `expired` or `canceled`.
    how: &'static str,
}

/// Runs one pass.
pub(crate) fn run(store: &Store, now: i64, app_url: &str) -> Result<PassReport, StoreError> {
    let mut report = PassReport {
        now,
        ..PassReport::default()
    };
    let downtimes: Vec<DowntimeDef> = store
        .downtimes()?
        .iter()
        .filter_map(|record| match DowntimeDef::from_record(record) {
            Ok(def) => Some(def),
            Err(err) => {
                tracing::warn!(
                    downtime = record.id,
                    error = err,
                    "A stored downtime cannot be read; it is ignored."
                );
                None
            }
        })
        .collect();
    let ended = downtime_lifecycle(store, &downtimes, now, app_url, &mut report)?;
    let hosts: BTreeMap<String, HostInfo> = store
        .hosts(0)?
        .into_iter()
        .map(|h| {
            let tags = h.tags();
            (
                h.name.clone(),
                HostInfo {
                    name: h.name,
                    ip: h.ip,
                    tags,
                },
            )
        })
        .collect();
    // One source for the pass: host tags are read once however many monitors there are. The groups'
    // previous states are read in one query too, and evaluations are written in batches: per-monitor
    // reads and commits would cost more than the monitors' own queries.
    let source = StoreSource::new(store);
    let mut previous_groups: HashMap<i64, Vec<GroupState>> = HashMap::new();
    for (id, row) in store.all_monitor_groups()? {
        previous_groups.entry(id).or_default().push(group_from_row(&row));
    }
    let mut batch: Vec<EvaluationRecord> = Vec::with_capacity(WRITE_BATCH);
    for record in store.monitors()? {
        let def = match MonitorDef::from_stored(record.id, &record.definition) {
            Ok(def) => def,
            Err(err) => {
                report.errors.push(format!("monitor {}: {err}", record.id));
                continue;
            }
        };
        let Some(query) = &def.query else {
            continue;
        };
        report.monitors += 1;
        let previous = previous_groups.remove(&def.id).unwrap_or_default();
        let observations = match observe(query, &def.options, &source, now) {
            Ok(observations) => observations,
            Err(err) => {
                tracing::warn!(monitor = def.id, error = %err, "Monitor evaluation failed; its state is kept.");
                report.errors.push(format!("monitor {}: {err}", def.id));
                continue;
            }
        };
        let mute = |tags: &[String]| mute_for(&def, tags, &downtimes, &ended, now);
        let evaluation = step(query, &def.options, &previous, &observations, now, &mute);
        let mut transitions = Vec::new();
        for transition in &evaluation.transitions {
            let Some(group) = evaluation.groups.iter().find(|g| g.name == transition.group) else {
                continue;
            };
            transitions.push(transition_event(&def, query, transition, group, &hosts, app_url));
        }
        report.transitions += transitions.len();
        report.notifications += transitions.iter().map(|t| t.notifications.len()).sum::<usize>();
        let record = EvaluationRecord {
            monitor_id: def.id,
            definition_modified: record.modified,
            overall_state: evaluation.overall.name().to_owned(),
            groups: evaluation.groups.iter().map(group_to_row).collect(),
            removed: evaluation.removed.clone(),
            transitions,
        };
        batch.push(record);
        if batch.len() == WRITE_BATCH {
            store.record_evaluations(&batch, now)?;
            batch.clear();
        }
    }
    store.record_evaluations(&batch, now)?;
    Ok(report)
}

/// How downtimes and legacy mutes bear on one group of one monitor.
fn mute_for(
    def: &MonitorDef,
    tags: &[String],
    downtimes: &[DowntimeDef],
    ended: &[Ended<'_>],
    now: i64,
) -> Mute {
    let mut mute = Mute::default();
    for downtime in downtimes {
        if downtime.active_at(now).is_some() && downtime.applies(def, tags) {
            mute.active = true;
            mute.mute_first_recovery |= downtime.mute_first_recovery;
        }
    }
    for (scope, end) in &def.silenced {
        let in_scope = scope == "*" || scope.split(',').all(|item| tags.iter().any(|t| t == item.trim()));
        if in_scope && end.is_none_or(|end| end > now) {
            mute.active = true;
        }
    }
    for end in ended {
        if end.downtime.applies(def, tags) && end.downtime.notify_end_types.iter().any(|t| t == end.how) {
            mute.end_states
                .extend(end.downtime.notify_end_states.iter().copied());
        }
    }
    mute
}

/// Notes downtimes that started or ended since the last pass, notifies their handles, and returns the
/// ended ones (for the monitors' end-of-downtime notifications).
fn downtime_lifecycle<'a>(
    store: &Store,
    downtimes: &'a [DowntimeDef],
    now: i64,
    app_url: &str,
    report: &mut PassReport,
) -> Result<Vec<Ended<'a>>, StoreError> {
    let mut ended = Vec::new();
    for downtime in downtimes {
        let current = downtime.active_at(now).map(|o| ActivePeriod {
            start: o.start,
            end: o.end,
        });
        let previous = downtime.active;
        if previous.map(|p| p.start) == current.map(|c| c.start) {
            continue;
        }
        if previous.is_some() {
            let how = if downtime.canceled.is_some() {
                "canceled"
            } else {
                "expired"
            };
            ended.push(Ended { downtime, how });
            // A cancellation was announced when it happened.
            if how == "expired" {
                report.notifications += announce(store, downtime, "ended", now, app_url)?;
            }
        }
        if current.is_some() {
            report.notifications += announce(store, downtime, "started", now, app_url)?;
        }
        store.set_downtime_active(downtime.id, current)?;
    }
    Ok(ended)
}

/// Stores a downtime lifecycle event (`scheduled`, `started`, `ended`, `canceled`) with a notification to
/// each handle of the downtime's message. Returns how many notifications were recorded.
pub(crate) fn announce(
    store: &Store,
    downtime: &DowntimeDef,
    what: &str,
    now: i64,
    app_url: &str,
) -> Result<usize, StoreError> {
    let title = format!(
        "Downtime {what}: {} (scope {})",
        downtime.target_text(),
        downtime.scope
    );
    let zone = downtime.schedule.zone().map_or("UTC", |z| z.name());
    let next: Vec<String> = downtime
        .schedule
        .occurrences(now, 3)
        .iter()
        .map(|o| {
            let show = |t: i64| {
                downtime
                    .schedule
                    .zone()
                    .map_or_else(|| ddlab_monitor::notify::format_utc(t), |z| z.format(t))
            };
            match o.end {
                Some(end) => format!("  {} to {}", show(o.start), show(end)),
                None => format!("  {} onwards", show(o.start)),
            }
        })
        .collect();
    let mut body = downtime.message.trim().to_owned();
    body.push_str(&format!(
        "\n\nDowntime {} ({}) {what}. It mutes {} where the scope {} holds.",
        downtime.id,
        downtime.uuid,
        downtime.target_text(),
        downtime.scope
    ));
    if next.is_empty() {
        body.push_str("\nNo occurrence is left.");
    } else {
        body.push_str(&format!("\nNext muted periods ({zone}):\n{}", next.join("\n")));
    }
    body.push_str(&format!("\n\n{app_url}/monitors/downtimes?id={}", downtime.id));
    let notifications: Vec<NewNotification> = ddlab_monitor::mentions::mentions(&downtime.message)
        .into_iter()
        .map(|handle| NewNotification {
            origin: "downtime".to_owned(),
            origin_id: Some(downtime.id),
            handle,
            subject: title.clone(),
            body: body.clone(),
        })
        .collect();
    let event = NewEvent {
        title: title.clone(),
        text: body,
        date_happened: now,
        priority: "normal".to_owned(),
        tags: vec!["audit".to_owned(), format!("downtime_id:{}", downtime.id)],
        alert_type: "info".to_owned(),
        source_type_name: Some("Downtime".to_owned()),
        event_type: Some("downtime".to_owned()),
        aggregation_key: Some(format!("downtime-{}", downtime.id)),
        ..NewEvent::default()
    };
    let count = notifications.len();
    store.insert_event(&event, &notifications, now)?;
    Ok(count)
}

/// The event, history row and notifications of one transition.
fn transition_event(
    def: &MonitorDef,
    query: &ddlab_monitor::query::MonitorQuery,
    transition: &Transition,
    group: &GroupState,
    hosts: &BTreeMap<String, HostInfo>,
    app_url: &str,
) -> TransitionEvent {
    let host = group
        .host
        .as_deref()
        .and_then(|h| hosts.get(h))
        .cloned()
        .or_else(|| {
            group.host.as_ref().map(|name| HostInfo {
                name: name.clone(),
                ..HostInfo::default()
            })
        });
    let info = MonitorInfo {
        id: def.id,
        name: &def.name,
        query_text: &def.query_text,
        query,
        options: &def.options,
        priority: def.priority,
        tags: &def.tags,
        message: &def.message,
        escalation: def.escalation.as_ref(),
    };
    let notice = notice(&info, transition, group, host.as_ref());
    let link = format!("{app_url}/monitors/{}", def.id);
    let value = group
        .value
        .map(ddlab_monitor::notify::format_number)
        .unwrap_or_else(|| "none".to_owned());
    let footer = format!(
        "Monitor: {} ({link})\nQuery: {}\nValue: {value}\nGroup: {}\nState: {} at {}",
        def.name,
        def.query_text,
        if group.name == ddlab_monitor::state::UNGROUPED {
            "all"
        } else {
            &group.name
        },
        transition.to.name(),
        ddlab_monitor::notify::format_utc(transition.at),
    );
    let body = format!("{}\n\n--\n{footer}\n", notice.text);
    let mut variables: Map<String, Value> = notice
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    for (key, value) in [
        ("LINK", link.clone()),
        ("ORG_ID", crate::http::ORG_ID.to_string()),
        ("ORG_NAME", "ddlab".to_owned()),
        ("USER", crate::http::CREATOR_HANDLE.to_owned()),
        ("USERNAME", crate::http::CREATOR_HANDLE.to_owned()),
        ("ID", format!("{}-{}", def.id, transition.at)),
    ] {
        variables.insert(key.to_owned(), json!(value));
    }
    let variables = Value::Object(variables);
    let notifications = if transition.notify {
        notice
            .handles
            .iter()
            .map(|handle| {
                (
                    NewNotification {
                        origin: "monitor".to_owned(),
                        origin_id: Some(def.id),
                        handle: handle.clone(),
                        subject: notice.title.clone(),
                        body: body.clone(),
                    },
                    variables.clone(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut tags = vec!["monitor".to_owned()];
    tags.extend(group.tags.iter().cloned());
    tags.extend(def.tags.iter().cloned());
    if !transition.notify {
        tags.push("muted".to_owned());
    }
    TransitionEvent {
        history: HistoryRow {
            group: group.name.clone(),
            ts: transition.at,
            from_status: transition.from.map(|s| s.name().to_owned()),
            to_status: transition.to.name().to_owned(),
            value: group.value,
            notified: transition.notify && !notice.handles.is_empty(),
            event_id: None,
        },
        event: NewEvent {
            title: notice.title.clone(),
            text: format!(
                "%%% \n{}\n\n[Monitor Status]({link}) · Query: `{}`\n %%%",
                notice.text, def.query_text
            ),
            date_happened: transition.at,
            priority: "normal".to_owned(),
            host: group.host.clone(),
            tags,
            alert_type: notice.alert_type.to_owned(),
            aggregation_key: Some(def.id.to_string()),
            source_type_name: Some("Monitor Alert".to_owned()),
            event_type: Some("query_alert_monitor".to_owned()),
            ..NewEvent::default()
        },
        notifications,
    }
}

pub(crate) fn group_to_row(group: &GroupState) -> GroupRow {
    GroupRow {
        name: group.name.clone(),
        status: group.status.name().to_owned(),
        state: json!({
            "tags": group.tags,
            "value": group.value,
            "first_seen": group.first_seen,
            "last_data": group.last_data,
            "first_triggered": group.first_triggered,
            "last_triggered": group.last_triggered,
            "last_notified": group.last_notified,
            "last_resolved": group.last_resolved,
            "last_nodata": group.last_nodata,
            "renotified": group.renotified,
            "muted_trigger": group.muted_trigger,
            "host": group.host,
        }),
    }
}

pub(crate) fn group_from_row(row: &GroupRow) -> GroupState {
    let s = &row.state;
    let int = |key: &str| s[key].as_i64();
    GroupState {
        name: row.name.clone(),
        tags: super::model::string_list(s.get("tags"), "tags").unwrap_or_default(),
        status: Status::parse(&row.status).unwrap_or(Status::Ok),
        value: s["value"].as_f64(),
        first_seen: int("first_seen").unwrap_or(0),
        last_data: int("last_data"),
        first_triggered: int("first_triggered"),
        last_triggered: int("last_triggered"),
        last_notified: int("last_notified"),
        last_resolved: int("last_resolved"),
        last_nodata: int("last_nodata"),
        renotified: s["renotified"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        muted_trigger: s["muted_trigger"].as_bool().unwrap_or(false),
        host: s["host"].as_str().map(str::to_owned),
    }
}
