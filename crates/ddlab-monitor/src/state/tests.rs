//! State machine tests with fixed `now` and fixed series.

use ddlab_query::{MetricKind, RawSeries, Scope, Source, SourceError};

use super::*;
use crate::query::MonitorQuery;

/// Series held in memory.
struct Fixed(Vec<RawSeries>);

impl Source for Fixed {
    fn fetch(&self, _metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError> {
        Ok(self
            .0
            .iter()
            .filter(|s| s.matches(scope))
            .map(|s| RawSeries {
                points: s
                    .points
                    .iter()
                    .copied()
                    .filter(|(t, _)| (from..=to).contains(t))
                    .collect(),
                ..s.clone()
            })
            .collect())
    }
}

fn series(host: &str, points: Vec<(i64, f64)>) -> RawSeries {
    RawSeries {
        tags: vec!["env:lab".to_owned()],
        host: Some(host.to_owned()),
        kind: MetricKind::Gauge,
        interval: None,
        points,
    }
}

/// One point every 45 s from `from` (inclusive) to `to` (exclusive), all `value`.
fn every_45s(from: i64, to: i64, value: f64) -> Vec<(i64, f64)> {
    (from..to).step_by(45).map(|t| (t, value)).collect()
}

fn exercise() -> (MonitorQuery, Options) {
    let query = MonitorQuery::parse("avg(last_5m):avg:my_metric{host:lab} > 800").unwrap();
    let options = Options {
        thresholds: Thresholds {
            critical: 800.0,
            warning: Some(500.0),
            ..Thresholds::default()
        },
        notify_no_data: true,
        no_data_timeframe: Some(10),
        new_group_delay: 60,
        ..Options::default()
    };
    (query, options)
}

fn no_mute(_: &[String]) -> Mute {
    Mute::default()
}

/// Runs one evaluation and returns the new states and the transitions as `from->to(notify)` strings.
fn run(
    query: &MonitorQuery,
    options: &Options,
    data: &[RawSeries],
    previous: &[GroupState],
    now: i64,
    mute: &dyn Fn(&[String]) -> Mute,
) -> (Vec<GroupState>, Vec<String>, Status) {
    let observations = observe(query, options, &Fixed(data.to_vec()), now).unwrap();
    let evaluation = step(query, options, previous, &observations, now, mute);
    let transitions = evaluation
        .transitions
        .iter()
        .map(|t| {
            format!(
                "{}:{}->{}{}",
                t.group,
                t.from.map_or("new", Status::name),
                t.name(),
                if t.notify { "" } else { " (muted)" }
            )
        })
        .collect();
    (evaluation.groups, transitions, evaluation.overall)
}

const T0: i64 = 1_900_000_000;

#[test]
fn the_exercise_monitor_goes_ok_warn_alert_no_data_and_recovers() {
    let (query, options) = exercise();
    let mut points = every_45s(T0 - 600, T0, 100.0);
    let (groups, transitions, overall) = run(
        &query,
        &options,
        &[series("lab", points.clone())],
        &[],
        T0,
        &no_mute,
    );
    assert_eq!(transitions, Vec::<String>::new());
    assert_eq!(overall, Status::Ok);
    assert_eq!(groups[0].name, "*");
    assert_eq!(groups[0].tags, ["host:lab"]);
    assert_eq!(groups[0].host.as_deref(), Some("lab"));
    assert_eq!(groups[0].value, Some(100.0));

    // Five minutes of 600: the average passes 500, not 800.
    let t1 = T0 + 300;
    points.extend(every_45s(T0, t1, 600.0));
    let (groups, transitions, overall) = run(
        &query,
        &options,
        &[series("lab", points.clone())],
        &groups,
        t1,
        &no_mute,
    );
    assert_eq!(transitions, ["*:OK->Warn"]);
    assert_eq!(overall, Status::Warn);
    assert_eq!(groups[0].value, Some(600.0));
    assert_eq!(groups[0].first_triggered, Some(t1));

    let t2 = t1 + 300;
    points.extend(every_45s(t1, t2, 900.0));
    let (groups, transitions, _) = run(
        &query,
        &options,
        &[series("lab", points.clone())],
        &groups,
        t2,
        &no_mute,
    );
    assert_eq!(transitions, ["*:Warn->Triggered"]);
    assert_eq!(groups[0].first_triggered, Some(t1), "one triggered period");

    // The data stops. Five minutes later the window is empty but the state holds; at ten, No Data.
    let last = points.last().unwrap().0;
    let (groups, transitions, overall) = run(
        &query,
        &options,
        &[series("lab", points.clone())],
        &groups,
        last + 400,
        &no_mute,
    );
    assert_eq!((transitions, overall), (vec![], Status::Alert));
    let (groups, transitions, overall) = run(
        &query,
        &options,
        &[series("lab", points.clone())],
        &groups,
        last + 600,
        &no_mute,
    );
    assert_eq!(
        (transitions, overall),
        (vec!["*:Alert->No Data".to_owned()], Status::NoData)
    );
    assert_eq!(groups[0].last_nodata, Some(last + 600));

    let t3 = last + 900;
    points.extend(every_45s(last + 700, t3, 100.0));
    let (groups, transitions, overall) =
        run(&query, &options, &[series("lab", points)], &groups, t3, &no_mute);
    assert_eq!(
        (transitions, overall),
        (vec!["*:No Data->Recovered".to_owned()], Status::Ok)
    );
    assert_eq!(groups[0].last_resolved, Some(t3));
}

#[test]
fn a_monitor_that_never_had_data_stays_in_no_data_silently() {
    let (query, options) = exercise();
    let (groups, transitions, overall) = run(&query, &options, &[], &[], T0, &no_mute);
    assert_eq!((groups.len(), transitions.len(), overall), (0, 0, Status::NoData));
}

#[test]
fn thresholds_with_every_comparator_and_recovery() {
    let t = |critical, warning, critical_recovery, warning_recovery| Thresholds {
        critical,
        warning,
        critical_recovery,
        warning_recovery,
    };
    use Comparator::*;
    use Status::*;
    let cases = [
        (Above, t(800.0, Some(500.0), None, None), Ok, 801.0, Alert),
        (Above, t(800.0, Some(500.0), None, None), Ok, 800.0, Warn),
        (AboveOrEqual, t(800.0, Some(500.0), None, None), Ok, 800.0, Alert),
        (Above, t(800.0, Some(500.0), None, None), Alert, 500.0, Ok),
        (Below, t(10.0, Some(20.0), None, None), Ok, 9.0, Alert),
        (Below, t(10.0, Some(20.0), None, None), Ok, 15.0, Warn),
        (BelowOrEqual, t(10.0, Some(20.0), None, None), Ok, 20.0, Warn),
        (Below, t(10.0, Some(20.0), None, None), Ok, 20.0, Ok),
        (Equal, t(0.0, None, None, None), Ok, 0.0, Alert),
        (NotEqual, t(0.0, None, None, None), Ok, 0.0, Ok),
        // Hysteresis: an Alert above 800 recovers only at or below 700.
        (Above, t(800.0, None, Some(700.0), None), Alert, 750.0, Alert),
        (Above, t(800.0, None, Some(700.0), None), Alert, 700.0, Ok),
        (Above, t(800.0, None, Some(700.0), None), Ok, 750.0, Ok),
        (
            AboveOrEqual,
            t(800.0, None, Some(700.0), None),
            Alert,
            700.0,
            Alert,
        ),
        (
            Above,
            t(800.0, Some(500.0), Some(700.0), Some(400.0)),
            Alert,
            600.0,
            Warn,
        ),
        (
            Above,
            t(800.0, Some(500.0), Some(700.0), Some(400.0)),
            Warn,
            450.0,
            Warn,
        ),
        (
            Above,
            t(800.0, Some(500.0), Some(700.0), Some(400.0)),
            Warn,
            400.0,
            Ok,
        ),
        (Below, t(10.0, None, Some(15.0), None), Alert, 12.0, Alert),
        (Below, t(10.0, None, Some(15.0), None), Alert, 15.0, Ok),
        (BelowOrEqual, t(10.0, None, Some(15.0), None), Alert, 15.0, Alert),
    ];
    for (comparator, thresholds, previous, value, expected) in cases {
        assert_eq!(
            threshold_status(comparator, &thresholds, previous, value),
            expected,
            "{comparator} {thresholds:?} from {previous} at {value}"
        );
    }
}

#[test]
fn time_aggregations_reduce_the_window() {
    let data = [series(
        "lab",
        vec![(T0 - 200, 100.0), (T0 - 100, 900.0), (T0, 200.0)],
    )];
    let value = |q: &str| {
        let query = MonitorQuery::parse(q).unwrap();
        observe(&query, &Options::default(), &Fixed(data.to_vec()), T0).unwrap()[0].value
    };
    assert_eq!(value("avg(last_5m):avg:my_metric{*} > 1"), Some(400.0));
    assert_eq!(value("sum(last_5m):avg:my_metric{*} > 1"), Some(1200.0));
    assert_eq!(value("min(last_5m):avg:my_metric{*} > 1"), Some(100.0));
    assert_eq!(value("max(last_5m):avg:my_metric{*} > 1"), Some(900.0));
    assert_eq!(value("max(last_2m):avg:my_metric{*} > 1"), Some(900.0));
    assert_eq!(value("max(last_1m):avg:my_metric{*} > 1"), Some(200.0));
}

#[test]
fn change_and_pct_change_compare_with_an_earlier_window() {
    let data = [series("lab", vec![(T0 - 3600, 100.0), (T0 - 60, 150.0)])];
    let value = |q: &str| {
        let query = MonitorQuery::parse(q).unwrap();
        observe(&query, &Options::default(), &Fixed(data.to_vec()), T0).unwrap()[0].value
    };
    assert_eq!(
        value("change(avg(last_5m),last_1h):avg:my_metric{*} > 10"),
        Some(50.0)
    );
    assert_eq!(
        value("pct_change(avg(last_5m),last_1h):avg:my_metric{*} > 10"),
        Some(50.0)
    );
    assert_eq!(value("change(avg(last_5m),last_30m):avg:my_metric{*} > 10"), None);
}

#[test]
fn evaluation_delay_shifts_the_window_back() {
    let query = MonitorQuery::parse("max(last_1m):avg:my_metric{*} > 1").unwrap();
    let data = [series("lab", vec![(T0 - 200, 5.0), (T0 - 10, 7.0)])];
    let options = Options {
        evaluation_delay: 180,
        ..Options::default()
    };
    let seen = observe(&query, &options, &Fixed(data.to_vec()), T0).unwrap();
    assert_eq!(seen[0].value, Some(5.0));
    assert_eq!(window(&query, &options, T0), (T0 - 239, T0 - 180));
}

#[test]
fn multi_alert_groups_wait_for_new_group_delay_and_are_named_by_tags() {
    let query = MonitorQuery::parse("avg(last_5m):avg:my_metric{env:lab} by {host} > 800").unwrap();
    let options = Options {
        thresholds: Thresholds {
            critical: 800.0,
            ..Thresholds::default()
        },
        new_group_delay: 120,
        ..Options::default()
    };
    let data = [
        series("a", every_45s(T0 - 600, T0 + 600, 900.0)),
        series("b", every_45s(T0 - 600, T0 + 600, 100.0)),
    ];
    let (groups, transitions, overall) = run(&query, &options, &data, &[], T0, &no_mute);
    assert_eq!(transitions, Vec::<String>::new());
    assert_eq!(overall, Status::Skipped);
    assert_eq!(groups[0].name, "host:a");
    assert_eq!(groups[0].tags, ["host:a", "env:lab"]);
    let (groups, transitions, overall) = run(&query, &options, &data, &groups, T0 + 60, &no_mute);
    assert_eq!((transitions.len(), overall), (0, Status::Skipped));
    let (_, transitions, overall) = run(&query, &options, &data, &groups, T0 + 120, &no_mute);
    assert_eq!(transitions, ["host:a:Skipped->Triggered"]);
    assert_eq!(overall, Status::Alert);
}

#[test]
fn groups_without_data_are_dropped_after_a_day_without_notify_no_data() {
    let query = MonitorQuery::parse("avg(last_5m):avg:my_metric{*} by {host} > 800").unwrap();
    let options = Options {
        thresholds: Thresholds {
            critical: 800.0,
            ..Thresholds::default()
        },
        ..Options::default()
    };
    let data = [series("a", every_45s(T0 - 300, T0, 900.0))];
    let (groups, transitions, _) = run(&query, &options, &data, &[], T0, &no_mute);
    assert_eq!(transitions, ["host:a:new->Triggered"]);
    let (groups, transitions, overall) = run(&query, &options, &data, &groups, T0 + 3600, &no_mute);
    assert_eq!(
        (transitions.len(), overall),
        (0, Status::Alert),
        "keeps its state"
    );
    let observations = observe(&query, &options, &Fixed(data.to_vec()), T0 + 90_000).unwrap();
    let evaluation = step(&query, &options, &groups, &observations, T0 + 90_000, &no_mute);
    assert_eq!(evaluation.removed, ["host:a"]);
    assert_eq!(evaluation.overall, Status::NoData);
}

#[test]
fn require_full_window_skips_a_partial_window() {
    let (query, mut options) = exercise();
    options.require_full_window = true;
    // Data only in the last two minutes of the window: the first bucket is empty.
    let data = [series("lab", every_45s(T0 - 120, T0 + 1, 900.0))];
    let (groups, transitions, overall) = run(&query, &options, &data, &[], T0, &no_mute);
    assert_eq!((transitions.len(), overall), (0, Status::Skipped));
    let data = [series("lab", every_45s(T0 - 299, T0 + 1, 900.0))];
    let (_, transitions, _) = run(&query, &options, &data, &groups, T0, &no_mute);
    assert_eq!(transitions, ["*:Skipped->Triggered"]);
}

#[test]
fn renotify_interval_repeats_alerts_up_to_renotify_occurrences() {
    let (query, mut options) = exercise();
    options.renotify_interval = Some(10);
    options.renotify_occurrences = Some(1);
    let data = [series("lab", every_45s(T0 - 300, T0 + 3600, 900.0))];
    let (groups, transitions, _) = run(&query, &options, &data, &[], T0, &no_mute);
    assert_eq!(transitions, ["*:new->Triggered"]);
    let (groups, transitions, _) = run(&query, &options, &data, &groups, T0 + 540, &no_mute);
    assert!(transitions.is_empty());
    let (groups, transitions, _) = run(&query, &options, &data, &groups, T0 + 600, &no_mute);
    assert_eq!(transitions, ["*:Alert->Re-Triggered"]);
    let (_, transitions, _) = run(&query, &options, &data, &groups, T0 + 1200, &no_mute);
    assert!(transitions.is_empty(), "renotify_occurrences reached");
}

#[test]
fn downtimes_mute_transitions_out_of_ok_and_the_recovery_that_follows() {
    let (query, options) = exercise();
    let muted = |_: &[String]| Mute {
        active: true,
        ..Mute::default()
    };
    let high = [series("lab", every_45s(T0 - 300, T0 + 1, 900.0))];
    let (groups, transitions, _) = run(&query, &options, &high, &[], T0, &no_mute);
    let ok_groups = {
        let low = [series("lab", every_45s(T0 - 300, T0 + 1, 100.0))];
        run(&query, &options, &low, &[], T0, &no_mute).0
    };
    assert_eq!(transitions, ["*:new->Triggered"]);
    // Triggered while muted: recorded, not notified; nor is its recovery after the downtime.
    let (muted_groups, transitions, _) = run(&query, &options, &high, &ok_groups, T0, &muted);
    assert_eq!(transitions, ["*:OK->Triggered (muted)"]);
    assert!(muted_groups[0].muted_trigger);
    let low = [series("lab", every_45s(T0 - 300, T0 + 601, 100.0))];
    let (_, transitions, _) = run(&query, &options, &low, &muted_groups, T0 + 600, &no_mute);
    assert_eq!(transitions, ["*:Alert->Recovered (muted)"]);
    // Triggered before the downtime: the recovery during it is notified, unless the downtime says not to.
    let (_, transitions, _) = run(&query, &options, &low, &groups, T0 + 600, &muted);
    assert_eq!(transitions, ["*:Alert->Recovered"]);
    let mute_recovery = |_: &[String]| Mute {
        active: true,
        mute_first_recovery: true,
        ..Mute::default()
    };
    let (_, transitions, _) = run(&query, &options, &low, &groups, T0 + 600, &mute_recovery);
    assert_eq!(transitions, ["*:Alert->Recovered (muted)"]);
    // When the downtime ends with the group still triggered, the state is notified again.
    let ended = |_: &[String]| Mute {
        end_states: vec![Status::Alert, Status::Warn, Status::NoData],
        ..Mute::default()
    };
    let high_later = [series("lab", every_45s(T0 - 300, T0 + 601, 900.0))];
    let observations = observe(&query, &options, &Fixed(high_later.to_vec()), T0 + 600).unwrap();
    let evaluation = step(&query, &options, &muted_groups, &observations, T0 + 600, &ended);
    assert_eq!(evaluation.transitions.len(), 1);
    assert_eq!(evaluation.transitions[0].reason, Reason::DowntimeEnded);
    assert_eq!(evaluation.transitions[0].name(), "Triggered");
    assert!(!evaluation.groups[0].muted_trigger);
}

#[test]
fn timeout_h_resolves_a_silent_triggered_group() {
    let (query, mut options) = exercise();
    options.notify_no_data = false;
    options.timeout_h = Some(1);
    let data = [series("lab", every_45s(T0 - 300, T0 + 1, 900.0))];
    let (groups, _, _) = run(&query, &options, &data, &[], T0, &no_mute);
    let (groups, transitions, _) = run(&query, &options, &data, &groups, T0 + 1800, &no_mute);
    assert!(transitions.is_empty());
    let (_, transitions, _) = run(&query, &options, &data, &groups, T0 + 3600, &no_mute);
    assert_eq!(transitions, ["*:Alert->Recovered"]);
}

#[test]
fn anomaly_monitors_average_the_points_outside_the_band() {
    let query = MonitorQuery::parse(
        "avg(last_1h):anomalies(avg:my_metric{*}, 'basic', 2, direction='above', alert_window='last_5m') >= 0.5",
    )
    .unwrap();
    // A steady series with a little noise, then five minutes far above it.
    let mut points: Vec<(i64, f64)> = (0..240)
        .map(|i| {
            (
                T0 - 7200 + i * 20,
                100.0 + f64::from(i32::try_from(i % 5).unwrap()),
            )
        })
        .collect();
    points.extend((0..15).map(|i| (T0 - 280 + i * 20, 500.0)));
    let data = [series("lab", points)];
    let seen = observe(&query, &Options::default(), &Fixed(data.to_vec()), T0).unwrap();
    let value = seen[0].value.unwrap();
    // The first spike points leave the band; once they fill the model's window they are the new normal.
    assert!(value > 0.0 && value < 1.0, "fraction of anomalous points {value}");
    let below = MonitorQuery::parse(
        "avg(last_1h):anomalies(avg:my_metric{*}, 'basic', 2, direction='below', alert_window='last_5m') >= 0.5",
    )
    .unwrap();
    let seen = observe(&below, &Options::default(), &Fixed(data.to_vec()), T0).unwrap();
    assert_eq!(
        seen[0].value,
        Some(0.0),
        "a spike upwards is not an anomaly below"
    );
    let calm: Vec<(i64, f64)> = (0..360)
        .map(|i| {
            (
                T0 - 7200 + i * 20,
                100.0 + f64::from(i32::try_from(i % 5).unwrap()),
            )
        })
        .collect();
    let seen = observe(&query, &Options::default(), &Fixed(vec![series("lab", calm)]), T0).unwrap();
    assert_eq!(seen[0].value, Some(0.0));
}

#[test]
fn an_ungrouped_monitor_over_several_hosts_names_no_host() {
    let query = MonitorQuery::parse("avg(last_5m):avg:my_metric{*} > 800").unwrap();
    let data = [
        series("a", every_45s(T0 - 300, T0, 1.0)),
        series("b", every_45s(T0 - 300, T0, 3.0)),
    ];
    let seen = observe(&query, &Options::default(), &Fixed(data.to_vec()), T0).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].host.as_deref(), seen[0].tags.len()), (None, 0));
    let one = [series("a", every_45s(T0 - 300, T0, 1.0))];
    let seen = observe(&query, &Options::default(), &Fixed(one.to_vec()), T0).unwrap();
    assert_eq!(seen[0].tags, ["host:a"]);
}
