//! One evaluation pass at `now`: downtimes first (which started, which ended), then every monitor, each
//! written to the store whole with its transitions, events and notifications. Blocking: it runs on the
//! blocking pool.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use ddlab_monitor::notify::{HostInfo, MonitorInfo, notice};
use ddlab_monitor::state::{GroupState, Mute, Status, Transition, observe, step};
use ddlab_store::{
    ActivePeriod, EvaluationRecord, GroupRow, HistoryRow, MonitorRecord, NewEvent, NewNotification, Store,
    StoreError, TransitionEvent,
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

/// Runs one pass. `cache` is what the previous pass kept; the pass updates it for the next.
pub(crate) fn run(
    store: &Store,
    now: i64,
    app_url: &str,
    cache: &mut PassCache,
) -> Result<PassReport, StoreError> {
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
    // previous states come from the last pass's cache (or, for monitors it does not hold, from one read of
    // every group), and evaluations are written in batches: per-monitor reads and commits would cost more
    // than the monitors' own queries.
    let source = StoreSource::new(store);
    let versions = store.monitor_versions()?;
    cache.retain(|id, cached| {
        versions
            .iter()
            .any(|&(v, modified)| v == *id && modified == cached.modified)
    });
    let mut misses: HashMap<i64, (MonitorRecord, Vec<GroupState>)> = HashMap::new();
    if versions.iter().any(|(id, _)| !cache.contains_key(id)) {
        for record in store.monitors()? {
            if !cache.contains_key(&record.id) {
                misses.insert(record.id, (record, Vec::new()));
            }
        }
        for (id, row) in store.all_monitor_groups()? {
            if let Some((_, groups)) = misses.get_mut(&id) {
                groups.push(group_from_row(&row));
            }
        }
    }
    let mut batch: Vec<EvaluationRecord> = Vec::with_capacity(WRITE_BATCH);
    let mut written: Vec<(i64, Cached)> = Vec::with_capacity(WRITE_BATCH);
    for (id, record_modified) in versions {
        let (def, previous) = match (cache.remove(&id), misses.remove(&id)) {
            (Some(cached), _) => (cached.def, cached.groups),
            (None, Some((record, groups))) => match MonitorDef::from_stored(id, &record.definition) {
                Ok(def) => (def, groups),
                Err(err) => {
                    report.errors.push(format!("monitor {id}: {err}"));
                    continue;
                }
            },
            // Created after the versions were read: the next pass has it.
            (None, None) => continue,
        };
        let Some(query) = &def.query else {
            cache.insert(
                id,
                Cached {
                    modified: record_modified,
                    def,
                    groups: previous,
                },
            );
            continue;
        };
        report.monitors += 1;
        let observations = match observe(query, &def.options, &source, now) {
            Ok(observations) => observations,
            Err(err) => {
                tracing::warn!(monitor = def.id, error = %err, "Monitor evaluation failed; its state is kept.");
                report.errors.push(format!("monitor {}: {err}", def.id));
                cache.insert(
                    id,
                    Cached {
                        modified: record_modified,
                        def,
                        groups: previous,
                    },
                );
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
            definition_modified: record_modified,
            overall_state: evaluation.overall.name().to_owned(),
            groups: evaluation.groups.iter().map(group_to_row).collect(),
            removed: evaluation.removed.clone(),
            transitions,
        };
        batch.push(record);
        written.push((
            id,
            Cached {
                modified: record_modified,
                def,
                groups: evaluation.groups,
            },
        ));
        if batch.len() == WRITE_BATCH {
            write_batch(store, &mut batch, &mut written, cache, now)?;
        }
    }
    write_batch(store, &mut batch, &mut written, cache, now)?;
    Ok(report)
}

/// A monitor's parsed definition and its groups as the last pass wrote them, while its definition is
/// unchanged.
#[derive(Debug)]
pub(crate) struct Cached {
    /// The definition's `modified` the entry was made under.
    modified: i64,
    def: MonitorDef,
    groups: Vec<GroupState>,
}

/// What a pass keeps for the next one: each monitor's definition and group states. The store stays the
/// truth: an entry is used only while the monitor's `modified` is unchanged, and only a write that the
/// store accepted makes one.
pub(crate) type PassCache = HashMap<i64, Cached>;

/// Writes a batch of evaluations and keeps, for the next pass, the groups of those the store accepted.
fn write_batch(
    store: &Store,
    batch: &mut Vec<EvaluationRecord>,
    written: &mut Vec<(i64, Cached)>,
    cache: &mut PassCache,
    now: i64,
) -> Result<(), StoreError> {
    let accepted = store.record_evaluations(batch, now)?;
    for ((id, cached), accepted) in written.drain(..).zip(accepted) {
        if accepted {
            cache.insert(id, cached);
        }
    }
    batch.clear();
    Ok(())
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

/// A group's state as the `state` column keeps it (everything but its name and status), written and read
/// with serde: a pass reads and writes one per group, and typed (de)serialisation is several times
/// cheaper than going through `serde_json::Value`. Empty fields are left out: every pass rewrites every
/// group, and the bytes written are most of what that costs.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub(crate) struct StoredGroup<'a> {
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) tags: Cow<'a, [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    pub(crate) first_seen: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_data: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_triggered: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_triggered: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_notified: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_resolved: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_nodata: Option<i64>,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) renotified: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) muted_trigger: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) host: Option<Cow<'a, str>>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StoredGroup<'static> {
    /// Reads a stored state; an unreadable one (written by hand, or by a future version) counts as empty
    /// rather than stopping the monitor's evaluation.
    pub(crate) fn parse(text: &str) -> StoredGroup<'static> {
        serde_json::from_str(text).unwrap_or_default()
    }
}

pub(crate) fn group_to_row(group: &GroupState) -> GroupRow {
    let stored = StoredGroup {
        tags: Cow::Borrowed(&group.tags),
        value: group.value,
        first_seen: group.first_seen,
        last_data: group.last_data,
        first_triggered: group.first_triggered,
        last_triggered: group.last_triggered,
        last_notified: group.last_notified,
        last_resolved: group.last_resolved,
        last_nodata: group.last_nodata,
        renotified: group.renotified,
        muted_trigger: group.muted_trigger,
        host: group.host.as_deref().map(Cow::Borrowed),
    };
    GroupRow {
        name: group.name.clone(),
        status: group.status.name().to_owned(),
        // Serialising plain numbers, strings and lists cannot fail.
        state: serde_json::to_string(&stored).unwrap_or_default(),
    }
}

pub(crate) fn group_from_row(row: &GroupRow) -> GroupState {
    let stored = StoredGroup::parse(&row.state);
    GroupState {
        name: row.name.clone(),
        tags: stored.tags.into_owned(),
        status: Status::parse(&row.status).unwrap_or(Status::Ok),
        value: stored.value,
        first_seen: stored.first_seen,
        last_data: stored.last_data,
        first_triggered: stored.first_triggered,
        last_triggered: stored.last_triggered,
        last_notified: stored.last_notified,
        last_resolved: stored.last_resolved,
        last_nodata: stored.last_nodata,
        renotified: stored.renotified,
        muted_trigger: stored.muted_trigger,
        host: stored.host.map(Cow::into_owned),
    }
}
