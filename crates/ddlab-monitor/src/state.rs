//! Monitor states: reading a metric monitor's window ([`observe`]) and moving each group's state ([`step`]).
//!
//! One evaluation at `now` has two halves, both pure:
//!
//! 1. [`observe`] evaluates the monitor's expression with `ddlab-query` over the window
//!    `(now - evaluation_delay - window, now - evaluation_delay]` and reduces each group's points with the
//!    time aggregation (`avg`, `sum`, `min`, `max`); `change`/`pct_change` compare with the same window
//!    `shift` earlier; `anomalies()` gives, per point, 1 outside the band (in `direction`) and 0 inside, and
//!    the time aggregation of those over `alert_window` is the value (the fraction of anomalous points).
//! 2. [`step`] turns the observations and the previous group states into new states and [`Transition`]s,
//!    deciding which are notified given the downtimes that mute each group.
//!
//! Rules, from the API reference §5.4–5.5 (and marked where they are our choice):
//!
//! - Thresholds: `value cmp critical` ⇒ Alert, else `value cmp warning` ⇒ Warn, else OK. With
//!   `critical_recovery` an Alert stays until the value passes it (`>`: `value <= critical_recovery`), the
//!   same for Warn with `warning_recovery`.
//! - No Data: with `notify_no_data`, a group whose newest point is `no_data_timeframe` minutes old (default
//!   2 × the window) goes No Data. A group must have had data once; a monitor without any data stays in its
//!   creation state, "No Data", without notifying. Without `notify_no_data` a group keeps its state, and a
//!   group of a multi-alert monitor is dropped after 24 hours without data. `timeout_h` resolves a
//!   triggered group after that many hours without data.
//! - `require_full_window`: the window is cut into buckets (1 min below an hour, 10 min below a day, 1 h
//!   above); a group is evaluated only if the first bucket has data and at most 3 buckets are empty.
//! - `new_group_delay` (seconds): a new group of a multi-alert monitor is Skipped until that long after
//!   it was first seen.
//! - `renotify_interval` (minutes): a group still in one of `renotify_statuses` (default Alert and No Data)
//!   is notified again that long after its last notification, at most `renotify_occurrences` times.
//! - Group names: the group tags joined with `,` (`host:a,env:prod`); an ungrouped monitor has one group,
//!   `*`. Its tags are the literal `key:value` filters of the query scope, plus `host:<h>` when its data
//!   came from exactly one host `h` (our choice, so `{{host.name}}` and `{{host.ip}}` work in the message
//!   of the exercise's ungrouped single-host monitor, and host-scoped downtimes mute it).
//! - Overall state: the most severe group state (Alert > Warn > No Data > OK > Skipped); "No Data" when the
//!   monitor has no group yet.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use ddlab_query::{
    Direction, EvalError, Expr, Function, Matcher, QueryItem, QueryList, RawSeries, Scope, SeriesKind,
    Source, SourceError, Window,
};

use crate::query::{Comparator, MonitorQuery, TimeAggregation};

/// The name of the one group of an ungrouped monitor.
pub const UNGROUPED: &str = "*";
/// A multi-alert group without data for this long is dropped (when `notify_no_data` is off).
pub const GROUP_RETENTION_SECONDS: i64 = 24 * 3600;

/// A monitor's or a group's state, with Datadog's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Status {
    Skipped,
    #[default]
    Ok,
    NoData,
    Warn,
    Alert,
}

/// The thresholds of `options.thresholds`, checked against the query (see `definition`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    pub critical: f64,
    pub warning: Option<f64>,
    pub critical_recovery: Option<f64>,
    pub warning_recovery: Option<f64>,
}

/// The options that drive evaluation, with Datadog's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub thresholds: Thresholds,
    pub notify_no_data: bool,
    /// Minutes; `None` means 2 × the window.
    pub no_data_timeframe: Option<i64>,
    pub require_full_window: bool,
    /// Seconds.
    pub evaluation_delay: i64,
    /// Seconds.
    pub new_group_delay: i64,
    /// Minutes; `None` or 0 means never.
    pub renotify_interval: Option<i64>,
    pub renotify_statuses: Vec<Status>,
    pub renotify_occurrences: Option<u32>,
    /// Hours.
    pub timeout_h: Option<i64>,
    pub include_tags: bool,
}

/// What one evaluation saw of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub group: String,
    pub tags: Vec<String>,
    /// The reduced value; `None` when the group had points but no value could be computed (a `change`
    /// without data in the earlier window).
    pub value: Option<f64>,
    /// The time of the newest point in the window.
    pub last_point: i64,
    /// Whether the window is full (`require_full_window`).
    pub full_window: bool,
    /// The one host the group's data came from, if it was one.
    pub host: Option<String>,
}

/// Everything remembered about one group between evaluations. Times are epoch seconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupState {
    pub name: String,
    pub tags: Vec<String>,
    pub status: Status,
    pub value: Option<f64>,
    pub first_seen: i64,
    pub last_data: Option<i64>,
    /// When the current (or last) triggered period began.
    pub first_triggered: Option<i64>,
    /// The last move into Alert or Warn.
    pub last_triggered: Option<i64>,
    pub last_notified: Option<i64>,
    pub last_resolved: Option<i64>,
    pub last_nodata: Option<i64>,
    /// Re-notifications sent in the current triggered period.
    pub renotified: u32,
    /// The current triggered period began while a downtime muted the group: its recovery is not notified.
    pub muted_trigger: bool,
    pub host: Option<String>,
}

/// How downtimes bear on one group at this evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mute {
    /// A matching downtime is active.
    pub active: bool,
    /// An active (or just ended) matching downtime has `mute_first_recovery_notification`.
    pub mute_first_recovery: bool,
    /// A matching downtime ended since the last evaluation: notify again if the group is in one of these.
    pub end_states: Vec<Status>,
}

/// Why a transition is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The state changed.
    Changed,
    /// Still triggered after `renotify_interval`.
    Renotify,
    /// A downtime that muted the group ended while it was still triggered.
    DowntimeEnded,
}

/// A group's move from one state to another (or a re-notification), and whether it is notified.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub group: String,
    /// `None` for a group seen for the first time.
    pub from: Option<Status>,
    pub to: Status,
    pub reason: Reason,
    pub value: Option<f64>,
    pub at: i64,
    /// False when a downtime mutes it; the transition is still recorded.
    pub notify: bool,
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub groups: Vec<GroupState>,
    /// Groups that were dropped.
    pub removed: Vec<String>,
    pub transitions: Vec<Transition>,
    pub overall: Status,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Skipped => "Skipped",
            Status::Ok => "OK",
            Status::NoData => "No Data",
            Status::Warn => "Warn",
            Status::Alert => "Alert",
        }
    }

    /// Datadog's names, case-insensitively; `nodata` and `no_data` too.
    pub fn parse(text: &str) -> Option<Status> {
        Some(match text.to_ascii_lowercase().replace(['_', ' '], "").as_str() {
            "skipped" => Status::Skipped,
            "ok" => Status::Ok,
            "nodata" => Status::NoData,
            "warn" | "warning" => Status::Warn,
            "alert" => Status::Alert,
            _ => return None,
        })
    }

    /// Alert, Warn or No Data.
    pub fn is_triggered(self) -> bool {
        matches!(self, Status::Alert | Status::Warn | Status::NoData)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            thresholds: Thresholds::default(),
            notify_no_data: false,
            no_data_timeframe: None,
            require_full_window: false,
            evaluation_delay: 0,
            new_group_delay: 0,
            renotify_interval: None,
            renotify_statuses: vec![Status::Alert, Status::NoData],
            renotify_occurrences: None,
            timeout_h: None,
            include_tags: true,
        }
    }
}

impl Options {
    /// The no-data timeframe in seconds: the option, or 2 × the window.
    pub fn no_data_seconds(&self, query: &MonitorQuery) -> i64 {
        self.no_data_timeframe.map_or_else(
            || 2 * i64::try_from(query.window.as_secs()).unwrap_or(i64::MAX / 4),
            |minutes| minutes.saturating_mul(60),
        )
    }
}

impl Transition {
    /// Datadog's word for the transition: `Triggered`, `Warn`, `No Data`, `Recovered`, or the
    /// re-notification forms `Re-Triggered`, `Re-Warn`, `Re-No Data`.
    pub fn name(&self) -> &'static str {
        let again = self.reason == Reason::Renotify;
        match (self.to, again) {
            (Status::Alert, false) => "Triggered",
            (Status::Alert, true) => "Re-Triggered",
            (Status::Warn, false) => "Warn",
            (Status::Warn, true) => "Re-Warn",
            (Status::NoData, false) => "No Data",
            (Status::NoData, true) => "Re-No Data",
            (Status::Ok | Status::Skipped, _) => "Recovered",
        }
    }

    pub fn is_recovery(&self) -> bool {
        self.to == Status::Ok && self.from.is_some_and(Status::is_triggered)
    }
}

/// The window an evaluation at `now` reads: `(end - window, end]` with `end = now - evaluation_delay`.
pub fn window(query: &MonitorQuery, options: &Options, now: i64) -> (i64, i64) {
    let end = now - options.evaluation_delay.max(0);
    let length = i64::try_from(query.window.as_secs()).unwrap_or(i64::MAX / 4);
    if query.cumulative {
        return (cumulative_start(end, length), end);
    }
    (end - length + 1, end)
}

/// Reads the monitor's data at `now`: one observation per group that has points in the window.
pub fn observe(
    query: &MonitorQuery,
    options: &Options,
    source: &dyn Source,
    now: i64,
) -> Result<Vec<Observation>, EvalError> {
    let (from, to) = window(query, options, now);
    let recording = Recording {
        inner: source,
        from,
        to,
        hosts: RefCell::new(BTreeSet::new()),
    };
    let grouped = is_grouped(&query.expression);
    let mut observations = match (&query.change, anomaly_params(&query.expression)) {
        (Some(change), _) => {
            let shift = i64::try_from(change.shift.as_secs()).unwrap_or(i64::MAX / 4);
            let current = reduced(query, &recording, from, to)?;
            let past = reduced(query, &recording, from - shift, to - shift)?;
            current
                .into_iter()
                .map(|mut observation| {
                    let before = past
                        .iter()
                        .find(|p| p.group == observation.group)
                        .and_then(|p| p.value);
                    observation.value = match (observation.value, before) {
                        (Some(now), Some(before)) if change.percent => {
                            (before != 0.0).then(|| (now - before) / before.abs() * 100.0)
                        }
                        (Some(now), Some(before)) => Some(now - before),
                        _ => None,
                    };
                    observation
                })
                .collect()
        }
        (None, Some((direction, alert_window))) => {
            let results = evaluate_expr(&query.expression, &recording, from, to)?;
            let since = alert_window.map_or(from, |seconds| to - seconds + 1).max(from);
            let mut observations = Vec::new();
            for value in results.iter().filter(|r| r.kind == SeriesKind::Value) {
                let band = |kind| {
                    results
                        .iter()
                        .find(|r| r.kind == kind && r.tag_set == value.tag_set)
                        .map(|r| r.points.as_slice())
                        .unwrap_or_default()
                };
                let flags = ddlab_query::outside_band(
                    &value.points,
                    band(SeriesKind::AnomalyLower),
                    band(SeriesKind::AnomalyUpper),
                    direction,
                );
                let in_window: Vec<(i64, f64)> = flags
                    .iter()
                    .filter(|(t, _)| (since..=to).contains(t))
                    .filter_map(|&(t, v)| Some((t, v?)))
                    .collect();
                let data: Vec<(i64, f64)> = value
                    .points
                    .iter()
                    .filter(|(t, _)| (from..=to).contains(t))
                    .filter_map(|&(t, v)| Some((t, v?)))
                    .collect();
                let Some(last_point) = data.iter().map(|&(t, _)| t).max() else {
                    continue;
                };
                observations.push(Observation {
                    group: group_name(&value.tag_set),
                    tags: value.tag_set.clone(),
                    value: reduce(query.time_aggregation, &in_window),
                    last_point,
                    full_window: full_window(&data, from, to),
                    host: None,
                });
            }
            observations
        }
        (None, None) => reduced(query, &recording, from, to)?,
    };
    let literal = literal_tags(&query.expression);
    let single_host = {
        let hosts = recording.hosts.borrow();
        match (hosts.len(), hosts.iter().next()) {
            (1, Some(host)) => Some(host.clone()),
            _ => None,
        }
    };
    for observation in &mut observations {
        let host = observation
            .tags
            .iter()
            .find_map(|t| t.strip_prefix("host:").map(str::to_owned))
            .or_else(|| if grouped { None } else { single_host.clone() });
        if !grouped {
            observation.group = UNGROUPED.to_owned();
            let mut tags = literal.clone();
            if let Some(host) = &host
                && !tags.iter().any(|t| t.starts_with("host:"))
            {
                tags.push(format!("host:{host}"));
            }
            observation.tags = tags;
        } else {
            for tag in &literal {
                if !observation.tags.contains(tag) {
                    observation.tags.push(tag.clone());
                }
            }
        }
        observation.host = host;
    }
    Ok(observations)
}

/// Moves every group one evaluation forward. `mute` tells how downtimes bear on a group (by its tags).
pub fn step(
    query: &MonitorQuery,
    options: &Options,
    previous: &[GroupState],
    observations: &[Observation],
    now: i64,
    mute: &dyn Fn(&[String]) -> Mute,
) -> Evaluation {
    let grouped = is_grouped(&query.expression);
    let (_, end) = window(query, options, now);
    let mut groups = Vec::new();
    let mut removed = Vec::new();
    let mut transitions = Vec::new();
    let mut names: Vec<&str> = observations.iter().map(|o| o.group.as_str()).collect();
    for state in previous {
        if !names.contains(&state.name.as_str()) {
            names.push(&state.name);
        }
    }
    for name in names {
        let before = previous.iter().find(|s| s.name == name);
        let seen = observations.iter().find(|o| o.group == name);
        let mut state = before.cloned().unwrap_or_else(|| GroupState {
            name: name.to_owned(),
            first_seen: now,
            status: Status::Ok,
            ..GroupState::default()
        });
        let from = before.map(|s| s.status);
        let mut to = state.status;
        if let Some(observation) = seen {
            state.tags = observation.tags.clone();
            state.host = observation.host.clone().or(state.host);
            state.last_data = Some(
                state
                    .last_data
                    .map_or(observation.last_point, |t| t.max(observation.last_point)),
            );
            let too_new = grouped && now - state.first_seen < options.new_group_delay;
            let partial = options.require_full_window && !observation.full_window;
            match observation.value {
                // Not evaluated: a new group keeps Skipped, a known one its state.
                _ if too_new || partial => {
                    to = if before.is_none() {
                        Status::Skipped
                    } else {
                        state.status
                    };
                }
                Some(value) => {
                    state.value = Some(value);
                    to = threshold_status(query.comparator, &options.thresholds, state.status, value);
                }
                None if from.is_none() => to = Status::Skipped,
                None => {}
            }
        } else {
            let silent_for = state.last_data.map(|t| end - t);
            let timeout = options.timeout_h.map(|h| h.saturating_mul(3600));
            match silent_for {
                Some(silent) if options.notify_no_data && silent >= options.no_data_seconds(query) => {
                    to = Status::NoData;
                }
                Some(silent)
                    if timeout.is_some_and(|t| silent >= t)
                        && matches!(state.status, Status::Alert | Status::Warn) =>
                {
                    to = Status::Ok;
                }
                Some(silent) if !options.notify_no_data && grouped && silent >= GROUP_RETENTION_SECONDS => {
                    removed.push(state.name.clone());
                    continue;
                }
                _ => {}
            }
        }
        let mute = mute(&state.tags);
        let old = from.unwrap_or(Status::Ok);
        let changed = old != to
            && !(matches!(old, Status::Ok | Status::Skipped) && matches!(to, Status::Ok | Status::Skipped));
        if changed {
            let mut transition = Transition {
                group: state.name.clone(),
                from,
                to,
                reason: Reason::Changed,
                value: state.value,
                at: now,
                notify: true,
            };
            let out_of_ok = matches!(old, Status::Ok | Status::Skipped);
            if to.is_triggered() {
                if out_of_ok {
                    state.first_triggered = Some(now);
                    state.renotified = 0;
                    state.muted_trigger = mute.active;
                }
                if matches!(to, Status::Alert | Status::Warn) {
                    state.last_triggered = Some(now);
                } else {
                    state.last_nodata = Some(now);
                }
                transition.notify = !mute.active;
                if transition.notify {
                    state.muted_trigger = false;
                }
            } else {
                state.last_resolved = Some(now);
                // A recovery is notified unless its trigger was muted, or a downtime asks to mute it.
                transition.notify = !(state.muted_trigger || mute.active && mute.mute_first_recovery);
                state.muted_trigger = false;
                state.renotified = 0;
            }
            if transition.notify {
                state.last_notified = Some(now);
            }
            transitions.push(transition);
        } else if to.is_triggered() && !mute.active {
            let renotify_due = options
                .renotify_interval
                .filter(|&m| m > 0)
                .is_some_and(|minutes| {
                    options.renotify_statuses.contains(&to)
                        && options
                            .renotify_occurrences
                            .is_none_or(|max| state.renotified < max)
                        && state.last_notified.is_none_or(|t| now - t >= minutes * 60)
                });
            let downtime_ended = mute.end_states.contains(&to);
            if downtime_ended || renotify_due {
                transitions.push(Transition {
                    group: state.name.clone(),
                    from,
                    to,
                    reason: if downtime_ended {
                        Reason::DowntimeEnded
                    } else {
                        Reason::Renotify
                    },
                    value: state.value,
                    at: now,
                    notify: true,
                });
                if !downtime_ended {
                    state.renotified += 1;
                }
                state.muted_trigger = false;
                state.last_notified = Some(now);
            }
        }
        state.status = to;
        groups.push(state);
    }
    // Skipped sorts lowest: the overall state is Skipped only when every group is.
    let overall = groups.iter().map(|g| g.status).max().unwrap_or(Status::NoData);
    Evaluation {
        groups,
        removed,
        transitions,
        overall,
    }
}

/// The state a value puts a group in, given its previous state (for recovery thresholds).
pub fn threshold_status(
    comparator: Comparator,
    thresholds: &Thresholds,
    previous: Status,
    value: f64,
) -> Status {
    let holds = |threshold: f64| comparator.holds(value, threshold);
    // Recovered from `threshold` by `recovery`: the value is back on the far side of the recovery threshold.
    let recovered = |recovery: f64| match comparator {
        Comparator::Above => value <= recovery,
        Comparator::AboveOrEqual => value < recovery,
        Comparator::Below => value >= recovery,
        Comparator::BelowOrEqual => value > recovery,
        Comparator::Equal | Comparator::NotEqual => true,
    };
    if holds(thresholds.critical) {
        return Status::Alert;
    }
    if previous == Status::Alert
        && let Some(recovery) = thresholds.critical_recovery
        && !recovered(recovery)
    {
        return Status::Alert;
    }
    if let Some(warning) = thresholds.warning {
        if holds(warning) {
            return Status::Warn;
        }
        if matches!(previous, Status::Warn | Status::Alert)
            && let Some(recovery) = thresholds.warning_recovery
            && !recovered(recovery)
        {
            return Status::Warn;
        }
    }
    Status::Ok
}

/// The name of a group from its tags.
pub fn group_name(tag_set: &[String]) -> String {
    if tag_set.is_empty() {
        UNGROUPED.to_owned()
    } else {
        tag_set.join(",")
    }
}

/// Whether the expression has a `by {…}` (a multi-alert monitor).
pub fn is_grouped(expr: &Expr) -> bool {
    expr.queries().iter().any(|q| !q.group_by.is_empty())
}

/// The literal positive `key:value` filters of the expression's scopes (no wildcards, no variables).
pub fn literal_tags(expr: &Expr) -> Vec<String> {
    let mut tags = Vec::new();
    for query in expr.queries() {
        if let Scope::List(filters) = &query.scope {
            for filter in filters {
                if let (false, Matcher::Tag { key, value }) = (filter.negated, &filter.matcher)
                    && !value.as_str().contains('*')
                {
                    let tag = format!("{key}:{}", value.as_str());
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
            }
        }
    }
    tags
}

/// `anomalies(...)` at the top of the expression: its direction and alert window (seconds).
fn anomaly_params(expr: &Expr) -> Option<(Direction, Option<i64>)> {
    match expr {
        Expr::Call {
            func: Function::Anomalies(params),
            ..
        } => Some((
            params.direction(),
            params
                .alert_window
                .map(|w| i64::try_from(w.seconds()).unwrap_or(i64::MAX / 4)),
        )),
        _ => None,
    }
}

fn evaluate_expr(
    expr: &Expr,
    source: &dyn Source,
    from: i64,
    to: i64,
) -> Result<Vec<ddlab_query::SeriesResult>, EvalError> {
    let list = QueryList {
        items: vec![QueryItem {
            query_index: 0,
            expr: expr.clone(),
        }],
    };
    ddlab_query::evaluate(
        &list,
        source,
        Window {
            from,
            to,
            interval: None,
        },
    )
}

/// The plain form: each group's points in `[from, to]` reduced with the time aggregation.
fn reduced(
    query: &MonitorQuery,
    source: &dyn Source,
    from: i64,
    to: i64,
) -> Result<Vec<Observation>, EvalError> {
    let results = evaluate_expr(&query.expression, source, from, to)?;
    let mut observations = Vec::new();
    for result in results.iter().filter(|r| r.kind == SeriesKind::Value) {
        let points: Vec<(i64, f64)> = result
            .points
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .filter_map(|&(t, v)| Some((t, v?)))
            .collect();
        let Some(last_point) = points.iter().map(|&(t, _)| t).max() else {
            continue;
        };
        observations.push(Observation {
            group: group_name(&result.tag_set),
            tags: result.tag_set.clone(),
            value: reduce(query.time_aggregation, &points),
            last_point,
            full_window: full_window(&points, from, to),
            host: None,
        });
    }
    Ok(observations)
}

fn reduce(aggregation: TimeAggregation, points: &[(i64, f64)]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let values = points.iter().map(|&(_, v)| v);
    Some(match aggregation {
        TimeAggregation::Avg => values.sum::<f64>() / points.len() as f64,
        TimeAggregation::Sum => values.sum(),
        TimeAggregation::Min => values.fold(f64::INFINITY, f64::min),
        TimeAggregation::Max => values.fold(f64::NEG_INFINITY, f64::max),
        TimeAggregation::Percentile(p) => {
            let mut sorted: Vec<f64> = values.collect();
            sorted.sort_by(f64::total_cmp);
            let rank = (p.clamp(0.0, 1.0) * (sorted.len() - 1) as f64).round() as usize;
            sorted[rank.min(sorted.len() - 1)]
        }
    })
}

/// Datadog's full-window rule: data in the first bucket and at most 3 empty buckets.
fn full_window(points: &[(i64, f64)], from: i64, to: i64) -> bool {
    let length = to - from + 1;
    let bucket = if length < 3600 {
        60
    } else if length < 86_400 {
        600
    } else {
        3600
    };
    let count = ((length + bucket - 1) / bucket).max(1);
    let mut filled = vec![false; usize::try_from(count).unwrap_or(1)];
    for &(t, _) in points {
        if let Ok(index) = usize::try_from((t - from) / bucket)
            && let Some(slot) = filled.get_mut(index)
        {
            *slot = true;
        }
    }
    let empty = filled.iter().filter(|f| !**f).count();
    filled.first().copied().unwrap_or(false) && empty <= 3
}

/// The start of the current hour, day, week (Monday) or 30-day month in UTC, for `current_*` windows.
fn cumulative_start(end: i64, length: i64) -> i64 {
    match length {
        3600 => end - end.rem_euclid(3600),
        86_400 => end - end.rem_euclid(86_400),
        // 1970-01-01 was a Thursday: Mondays are 4 days later modulo a week.
        604_800 => end - (end - 4 * 86_400).rem_euclid(604_800),
        _ => {
            let day = end - end.rem_euclid(86_400);
            let ts = jiff::Timestamp::from_second(day).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let date = jiff::tz::TimeZone::UTC.to_datetime(ts).date();
            let first = date.first_of_month().at(0, 0, 0, 0);
            jiff::tz::TimeZone::UTC
                .to_timestamp(first)
                .map_or(day, jiff::Timestamp::as_second)
        }
    }
}

/// A source that notes the hosts of the series with points inside the monitor window.
struct Recording<'a> {
    inner: &'a dyn Source,
    from: i64,
    to: i64,
    hosts: RefCell<BTreeSet<String>>,
}

impl Source for Recording<'_> {
    fn fetch(&self, metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError> {
        let series = self.inner.fetch(metric, scope, from, to)?;
        let mut hosts = self.hosts.borrow_mut();
        for s in &series {
            if let Some(host) = &s.host
                && s.points.iter().any(|(t, _)| (self.from..=self.to).contains(t))
            {
                hosts.insert(host.clone());
            }
        }
        Ok(series)
    }
}

#[cfg(test)]
mod tests;
