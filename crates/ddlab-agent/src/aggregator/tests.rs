//! Aggregator tests: DogStatsD buckets, counters' zeros, tag enrichment and timestamped samples; check
//! runs with every submission type, expiry, and the flush of events and service checks.

use expect_test::{Expect, expect};

use ddlab_wire::check_run::CheckStatus;
use ddlab_wire::dogstatsd;

use super::*;
use crate::check::{MetricSubmission, ServiceCheckSubmission, SubmissionKind};

const HOST: &str = "agent-host";

fn aggregator() -> Aggregator {
    Aggregator::new(AggregatorConfig::new(HOST))
}

/// Feeds a DogStatsD datagram at `now`; every line must parse.
fn send(aggregator: &mut Aggregator, datagram: &str, now: f64) {
    for line in dogstatsd::parse(datagram.as_bytes()) {
        let line = line.unwrap_or_else(|err| panic!("test datagram does not parse: {err}"));
        aggregator.add_dogstatsd(line.message, now);
    }
}

/// One line per series: name, type, host, tags, then the optional fields that are set, then the points.
fn render(series: &[Series]) -> String {
    let lines: Vec<String> = series
        .iter()
        .map(|s| {
            let mut line = format!(
                "{} {:?} host={} tags=[{}]",
                s.metric,
                s.kind,
                s.host.as_deref().unwrap_or("-"),
                s.tags.join(",")
            );
            if let Some(interval) = s.interval {
                line.push_str(&format!(" interval={interval}"));
            }
            if let Some(unit) = &s.unit {
                line.push_str(&format!(" unit={unit}"));
            }
            if let Some(source) = &s.source_type_name {
                line.push_str(&format!(" source={source}"));
            }
            if let Some(device) = &s.device {
                line.push_str(&format!(" device={device}"));
            }
            let points: Vec<String> = s
                .points
                .iter()
                .map(|p| format!("{}@{}", p.value, p.timestamp))
                .collect();
            line.push_str(&format!(" [{}]", points.join(" ")));
            line
        })
        .collect();
    lines.join("\n")
}

fn check(flush: &Flush, expect: Expect) {
    expect.assert_eq(&render(&flush.series.series));
}

// ---- DogStatsD ----

#[test]
fn counts_are_summed_per_bucket_and_sent_as_a_rate_over_ten_seconds() {
    let mut agg = aggregator();
    send(&mut agg, "page.views:1|c\npage.views:2|c|@0.5", 1000.0);
    send(&mut agg, "page.views:3|c", 1009.9);
    send(&mut agg, "page.views:10|c", 1010.0);
    assert_eq!(agg.flush(1009.99).series.series, [], "bucket 1000 is still open");
    check(
        &agg.flush(1010.0),
        expect![[r#"page.views Rate host=agent-host tags=[] interval=10 [0.8@1000]"#]],
    );
    check(
        &agg.flush(1020.0),
        expect![[r#"page.views Rate host=agent-host tags=[] interval=10 [1@1010]"#]],
    );
}

#[test]
fn gauges_keep_the_last_value_and_sets_count_distinct_members() {
    let mut agg = aggregator();
    send(
        &mut agg,
        "fuel:3|g\nfuel:7:5|g|@0.1\nusers:alice|s\nusers:bob|s|@0.5\nusers:alice|s",
        1003.0,
    );
    check(
        &agg.flush(1015.0),
        expect![[r#"
            fuel Gauge host=agent-host tags=[] interval=10 [5@1000]
            users Gauge host=agent-host tags=[] interval=10 [2@1000]"#]],
    );
}

#[test]
fn histograms_flush_the_configured_aggregates_with_sample_rates_as_weights() {
    let mut agg = aggregator();
    send(&mut agg, "latency:1:2:3:4:5:6:7:8:9:10|h", 1000.0);
    send(&mut agg, "sampled:1|h|@0.5\nsampled:100|h|@0.25", 1000.0);
    check(
        &agg.flush(1010.0),
        expect![[r#"
            latency.95percentile Gauge host=agent-host tags=[] interval=10 [10@1000]
            latency.avg Gauge host=agent-host tags=[] interval=10 [5.5@1000]
            latency.count Rate host=agent-host tags=[] interval=10 [1@1000]
            latency.max Gauge host=agent-host tags=[] interval=10 [10@1000]
            latency.median Gauge host=agent-host tags=[] interval=10 [5@1000]
            sampled.95percentile Gauge host=agent-host tags=[] interval=10 [100@1000]
            sampled.avg Gauge host=agent-host tags=[] interval=10 [67@1000]
            sampled.count Rate host=agent-host tags=[] interval=10 [0.6@1000]
            sampled.max Gauge host=agent-host tags=[] interval=10 [100@1000]
            sampled.median Gauge host=agent-host tags=[] interval=10 [100@1000]"#]],
    );
}

#[test]
fn configured_aggregates_and_percentiles_replace_the_defaults() {
    let (histogram, warnings) = HistogramConfig::parse(
        &["min".into(), "sum".into(), "p99".into(), "min".into()],
        &[0.5, 0.99],
    );
    assert_eq!(
        warnings,
        ["histogram_aggregates: 'p99' is not one of max, min, median, avg, sum, count; skipped"]
    );
    let mut agg = Aggregator::new(AggregatorConfig {
        histogram,
        ..AggregatorConfig::new(HOST)
    });
    send(&mut agg, "t:4:1:3:2|ms", 1000.0);
    check(
        &agg.flush(1010.0),
        expect![[r#"
            t.50percentile Gauge host=agent-host tags=[] interval=10 unit=millisecond [2@1000]
            t.99percentile Gauge host=agent-host tags=[] interval=10 unit=millisecond [4@1000]
            t.min Gauge host=agent-host tags=[] interval=10 unit=millisecond [1@1000]
            t.sum Gauge host=agent-host tags=[] interval=10 unit=millisecond [10@1000]"#]],
    );
}

#[test]
fn timers_carry_milliseconds_except_on_their_count_and_distributions_flush_like_histograms() {
    let mut agg = aggregator();
    send(&mut agg, "req:10:30|ms\nsize:2:4|d", 1000.0);
    check(
        &agg.flush(1010.0),
        expect![[r#"
            req.95percentile Gauge host=agent-host tags=[] interval=10 unit=millisecond [30@1000]
            req.avg Gauge host=agent-host tags=[] interval=10 unit=millisecond [20@1000]
            req.count Rate host=agent-host tags=[] interval=10 [0.2@1000]
            req.max Gauge host=agent-host tags=[] interval=10 unit=millisecond [30@1000]
            req.median Gauge host=agent-host tags=[] interval=10 unit=millisecond [10@1000]
            size.95percentile Gauge host=agent-host tags=[] interval=10 [4@1000]
            size.avg Gauge host=agent-host tags=[] interval=10 [3@1000]
            size.count Rate host=agent-host tags=[] interval=10 [0.2@1000]
            size.max Gauge host=agent-host tags=[] interval=10 [4@1000]
            size.median Gauge host=agent-host tags=[] interval=10 [2@1000]"#]],
    );
}

#[test]
fn one_series_per_context_with_a_point_per_closed_bucket() {
    let mut agg = aggregator();
    send(&mut agg, "temp:1|g|#b,a,a", 1000.0);
    send(&mut agg, "temp:2|g|#a,b", 1012.0);
    send(&mut agg, "temp:3|g|#a", 1012.0);
    send(&mut agg, "temp:4|g|#a,b", 1021.0);
    check(
        &agg.flush(1025.0),
        expect![[r#"
            temp Gauge host=agent-host tags=[a] interval=10 [3@1010]
            temp Gauge host=agent-host tags=[a,b] interval=10 [1@1000 2@1010]"#]],
    );
    check(
        &agg.flush_all(1026.0),
        expect![[r#"temp Gauge host=agent-host tags=[a,b] interval=10 [4@1020]"#]],
    );
}

#[test]
fn the_same_name_as_a_gauge_and_a_count_is_two_series() {
    let mut agg = aggregator();
    send(&mut agg, "x:5|g\nx:5|c", 1000.0);
    check(
        &agg.flush(1010.0),
        expect![[r#"
            x Rate host=agent-host tags=[] interval=10 [0.5@1000]
            x Gauge host=agent-host tags=[] interval=10 [5@1000]"#]],
    );
}

#[test]
fn an_idle_counter_reports_zero_until_it_expires() {
    let mut agg = aggregator();
    send(&mut agg, "jobs:20|c", 1000.0);
    check(
        &agg.flush(1010.0),
        expect![[r#"jobs Rate host=agent-host tags=[] interval=10 [2@1000]"#]],
    );
    // Nothing arrives: each flush that passes a bucket sends a zero for it.
    check(
        &agg.flush(1020.0),
        expect![[r#"jobs Rate host=agent-host tags=[] interval=10 [0@1010]"#]],
    );
    assert_eq!(agg.flush(1025.0).series.series, [], "no new bucket has closed");
    // With other traffic, the zero is added to every closed bucket.
    send(&mut agg, "other:1|g", 1030.0);
    send(&mut agg, "other:2|g", 1040.0);
    check(
        &agg.flush(1050.0),
        expect![[r#"
            jobs Rate host=agent-host tags=[] interval=10 [0@1030 0@1040]
            other Gauge host=agent-host tags=[] interval=10 [1@1030 2@1040]"#]],
    );
    // The last zero is for the bucket that starts before 300 s have passed since the last sample.
    check(
        &agg.flush(1300.0),
        expect![[r#"jobs Rate host=agent-host tags=[] interval=10 [0@1290]"#]],
    );
    assert_eq!(agg.dogstatsd_contexts(), 1);
    assert_eq!(agg.flush(1310.0).series.series, []);
    assert_eq!(agg.dogstatsd_contexts(), 0);
    assert_eq!(agg.flush(1320.0).series.series, []);
}

#[test]
fn host_tags_pick_the_host_origin_tags_go_and_dogstatsd_tags_are_added() {
    let mut agg = Aggregator::new(AggregatorConfig {
        dogstatsd_tags: vec!["team:lab".into()],
        ..AggregatorConfig::new(HOST)
    });
    send(
        &mut agg,
        "a:1|g|#host:web-1,env:dev\nb:1|g|#host:,env:dev\n\
         c:1|g|#dd.internal.entity_id:pod-1,dd.internal.card:high,env:dev",
        1000.0,
    );
    check(
        &agg.flush(1010.0),
        expect![[r#"
            a Gauge host=web-1 tags=[env:dev,team:lab] interval=10 [1@1000]
            b Gauge host=- tags=[env:dev,team:lab] interval=10 [1@1000]
            c Gauge host=agent-host tags=[env:dev,team:lab] interval=10 [1@1000]"#]],
    );
}

#[test]
fn timestamped_samples_skip_the_buckets() {
    let mut agg = aggregator();
    send(
        &mut agg,
        "g:5|g|T1600000000\nc:20:40|c|@0.5|#x|T1600000000\nh:1|h|T1600000000\ns:a|s|T1600000000",
        1000.0,
    );
    assert_eq!(agg.stats().dogstatsd_discarded, 2);
    assert_eq!(agg.stats().dogstatsd_samples, 5);
    check(
        &agg.flush(1001.0),
        expect![[r#"
            c Rate host=agent-host tags=[x] interval=10 [2@1600000000 4@1600000000]
            g Gauge host=agent-host tags=[] interval=10 [5@1600000000]"#]],
    );
}

#[test]
fn messages_built_in_code_lose_non_finite_values_and_bad_sample_rates() {
    let metric = |name: &str, sample, sample_rate| {
        Message::Metric(dogstatsd::Metric {
            name: name.into(),
            sample,
            sample_rate,
            tags: vec![],
            container: None,
            timestamp: None,
        })
    };
    let mut agg = aggregator();
    agg.add_dogstatsd(
        metric("nan", dogstatsd::Sample::Gauge(vec![f64::NAN]), 1.0),
        1000.0,
    );
    agg.add_dogstatsd(
        metric("c", dogstatsd::Sample::Count(vec![5.0, f64::INFINITY]), 0.0),
        1000.0,
    );
    agg.add_dogstatsd(metric("h", dogstatsd::Sample::Histogram(vec![2.0]), 7.0), 1000.0);
    let mut flush = agg.flush(1010.0).series.series;
    flush.retain(|s| !s.metric.starts_with("h.") || s.metric == "h.count");
    check(
        &Flush {
            series: MetricBatch { series: flush },
            ..Flush::default()
        },
        expect![[r#"
            c Rate host=agent-host tags=[] interval=10 [0.5@1000]
            h.count Rate host=agent-host tags=[] interval=10 [0.1@1000]"#]],
    );
}

#[test]
fn dogstatsd_events_and_service_checks_get_a_host_time_and_the_extra_tags() {
    let mut agg = Aggregator::new(AggregatorConfig {
        dogstatsd_tags: vec!["team:lab".into()],
        ..AggregatorConfig::new(HOST)
    });
    send(
        &mut agg,
        "_e{2,2}:t1|x1\n_e{2,2}:t2|x2|h:from-field|#host:from-tag\n_e{2,2}:t3|x3|d:5|#host:from-tag,a\n\
         _sc|sc1|0\n_sc|sc2|1|h:from-field|#host:from-tag\n_sc|sc3|2|d:5|#host:,a",
        1234.5,
    );
    let flush = agg.flush(1235.0);
    type Row<Host> = (String, Host, Option<i64>, Vec<String>);
    let events: Vec<Row<Option<String>>> = flush
        .events
        .into_iter()
        .map(|e| (e.title, e.host, e.date_happened, e.tags))
        .collect();
    assert_eq!(
        events,
        [
            (
                "t1".into(),
                Some(HOST.into()),
                Some(1234),
                vec!["team:lab".into()]
            ),
            (
                "t2".into(),
                Some("from-field".into()),
                Some(1234),
                vec!["team:lab".into()]
            ),
            (
                "t3".into(),
                Some("from-tag".into()),
                Some(5),
                vec!["a".into(), "team:lab".into()]
            ),
        ]
    );
    let checks: Vec<Row<String>> = flush
        .service_checks
        .into_iter()
        .map(|c| (c.check, c.host_name, c.timestamp, c.tags))
        .collect();
    assert_eq!(
        checks,
        [
            ("sc1".into(), HOST.into(), Some(1234), vec!["team:lab".into()]),
            (
                "sc2".into(),
                "from-field".into(),
                Some(1234),
                vec!["team:lab".into()]
            ),
            (
                "sc3".into(),
                String::new(),
                Some(5),
                vec!["a".into(), "team:lab".into()]
            ),
        ]
    );
    let again = agg.flush(1236.0);
    assert!(again.events.is_empty() && again.service_checks.is_empty());
}

// ---- checks ----

fn submit(kind: SubmissionKind, name: &str, value: f64, tags: &[&str]) -> MetricSubmission {
    MetricSubmission {
        kind,
        name: name.into(),
        value,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        hostname: None,
        flush_first_value: false,
    }
}

fn run(agg: &mut Aggregator, metrics: Vec<MetricSubmission>, now: f64) {
    let output = CheckOutput {
        metrics,
        ..CheckOutput::default()
    };
    agg.commit_check_run("my_check:abc", &output, now);
}

/// Runs a check at each time with the submissions given, flushing after each run; one line per run.
fn runs(agg: &mut Aggregator, steps: Vec<(f64, Vec<MetricSubmission>)>) -> String {
    let mut shown = Vec::new();
    for (now, metrics) in steps {
        run(agg, metrics, now);
        let series = agg.flush(now).series.series;
        shown.push(format!("t={now}: {}", render(&series).replace('\n', " | ")));
    }
    shown.join("\n")
}

#[test]
fn gauge_count_and_counter_per_run() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    run(
        &mut agg,
        vec![
            submit(Gauge, "g", 1.0, &["b", "a"]),
            submit(Gauge, "g", 2.0, &["a", "b", "a"]),
            submit(Count, "n", 3.0, &[]),
            submit(Count, "n", 4.0, &[]),
            submit(Counter, "inc", 1.0, &[]),
            submit(Counter, "inc", -3.0, &[]),
        ],
        1000.5,
    );
    check(
        &agg.flush(1001.0),
        expect![[r#"
            g Gauge host=agent-host tags=[a,b] source=System [2@1000]
            inc Rate host=agent-host tags=[] source=System [-2@1000]
            n Count host=agent-host tags=[] source=System [7@1000]"#]],
    );
    assert_eq!(agg.flush(1002.0).series.series, [], "nothing new was committed");
}

#[test]
fn rate_is_computed_between_runs_and_negative_rates_are_dropped() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    let shown = runs(
        &mut agg,
        vec![
            (0.0, vec![submit(Rate, "r", 10.0, &[])]),
            (15.0, vec![submit(Rate, "r", 40.0, &[])]),
            (30.0, vec![submit(Rate, "r", 10.0, &[])]),
            (
                45.0,
                vec![submit(Rate, "r", 99.0, &[]), submit(Rate, "r", 25.0, &[])],
            ),
        ],
    );
    expect![[r#"
        t=0: 
        t=15: r Gauge host=agent-host tags=[] source=System [2@15]
        t=30: 
        t=45: r Gauge host=agent-host tags=[] source=System [1@45]"#]]
    .assert_eq(&shown);
}

#[test]
fn monotonic_count_sends_increases_and_treats_a_decrease_as_a_reset() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    let shown = runs(
        &mut agg,
        vec![
            (0.0, vec![submit(MonotonicCount, "m", 10.0, &[])]),
            (15.0, vec![submit(MonotonicCount, "m", 15.0, &[])]),
            (30.0, vec![submit(MonotonicCount, "m", 12.0, &[])]),
            (45.0, vec![submit(MonotonicCount, "m", 20.0, &[])]),
            (
                60.0,
                vec![
                    submit(MonotonicCount, "m", 22.0, &[]),
                    submit(MonotonicCount, "m", 21.0, &[]),
                    submit(MonotonicCount, "m", 25.0, &[]),
                ],
            ),
        ],
    );
    expect![[r#"
        t=0: 
        t=15: m Count host=agent-host tags=[] source=System [5@15]
        t=30: m Count host=agent-host tags=[] source=System [0@30]
        t=45: m Count host=agent-host tags=[] source=System [8@45]
        t=60: m Count host=agent-host tags=[] source=System [6@60]"#]]
    .assert_eq(&shown);
}

#[test]
fn monotonic_count_with_flush_first_value_sends_the_first_value_and_values_after_a_reset() {
    use SubmissionKind::*;
    let first = |value| MetricSubmission {
        flush_first_value: true,
        ..submit(MonotonicCount, "m", value, &[])
    };
    let mut agg = aggregator();
    let shown = runs(
        &mut agg,
        vec![
            (0.0, vec![first(10.0)]),
            (15.0, vec![first(15.0)]),
            (30.0, vec![first(4.0)]),
        ],
    );
    expect![[r#"
        t=0: m Count host=agent-host tags=[] source=System [10@0]
        t=15: m Count host=agent-host tags=[] source=System [5@15]
        t=30: m Count host=agent-host tags=[] source=System [4@30]"#]]
    .assert_eq(&shown);
}

#[test]
fn check_histograms_count_samples_per_run() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    run(
        &mut agg,
        vec![
            submit(Histogram, "h", 3.0, &[]),
            submit(Histogram, "h", 1.0, &[]),
            submit(Histogram, "h", 2.0, &[]),
        ],
        100.0,
    );
    check(
        &agg.flush(100.0),
        expect![[r#"
            h.95percentile Gauge host=agent-host tags=[] source=System [3@100]
            h.avg Gauge host=agent-host tags=[] source=System [2@100]
            h.count Rate host=agent-host tags=[] source=System [3@100]
            h.max Gauge host=agent-host tags=[] source=System [3@100]
            h.median Gauge host=agent-host tags=[] source=System [2@100]"#]],
    );
}

#[test]
fn historate_is_a_histogram_of_per_run_rates() {
    use SubmissionKind::*;
    let config = AggregatorConfig {
        histogram: HistogramConfig {
            aggregates: vec![Aggregate::Max, Aggregate::Count],
            percentiles: vec![],
        },
        ..AggregatorConfig::new(HOST)
    };
    let mut agg = Aggregator::new(config);
    let shown = runs(
        &mut agg,
        vec![
            (0.0, vec![submit(Historate, "hr", 0.0, &[])]),
            (15.0, vec![submit(Historate, "hr", 30.0, &[])]),
            (30.0, vec![submit(Historate, "hr", 30.0, &[])]),
        ],
    );
    expect![[r#"
        t=0: 
        t=15: hr.count Rate host=agent-host tags=[] source=System [1@15] | hr.max Gauge host=agent-host tags=[] source=System [2@15]
        t=30: hr.count Rate host=agent-host tags=[] source=System [1@30] | hr.max Gauge host=agent-host tags=[] source=System [0@30]"#]]
    .assert_eq(&shown);
}

#[test]
fn several_runs_between_flushes_make_one_series_with_several_points() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    run(&mut agg, vec![submit(Gauge, "g", 1.0, &[])], 10.0);
    run(&mut agg, vec![submit(Gauge, "g", 2.0, &[])], 20.0);
    check(
        &agg.flush(25.0),
        expect![[r#"g Gauge host=agent-host tags=[] source=System [1@10 2@20]"#]],
    );
}

#[test]
fn hostnames_devices_and_non_finite_values() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    let on = |host: &str, value| MetricSubmission {
        hostname: Some(host.into()),
        ..submit(Gauge, "g", value, &["device:sda1"])
    };
    run(
        &mut agg,
        vec![
            on("db-1", 1.0),
            on("", 2.0),
            submit(Gauge, "nan", f64::NAN, &[]),
            submit(Count, "inf", f64::INFINITY, &[]),
        ],
        10.0,
    );
    assert_eq!(agg.stats().check_samples, 2);
    assert_eq!(agg.stats().check_non_finite, 2);
    check(
        &agg.flush(10.0),
        expect![[r#"
            g Gauge host=agent-host tags=[device:sda1] source=System device=sda1 [2@10]
            g Gauge host=db-1 tags=[device:sda1] source=System device=sda1 [1@10]"#]],
    );
}

#[test]
fn an_expired_rate_keeps_its_previous_value_for_the_stateful_timeout() {
    use SubmissionKind::*;
    let scenario = |stateful_expiry: f64| {
        let mut agg = Aggregator::new(AggregatorConfig {
            check_stateful_expiry_seconds: stateful_expiry,
            ..AggregatorConfig::new(HOST)
        });
        runs(
            &mut agg,
            vec![
                (0.0, vec![submit(Rate, "r", 0.0, &[])]),
                (15.0, vec![submit(Rate, "r", 15.0, &[])]),
                (30.0, vec![]),
                (45.0, vec![]),
                (60.0, vec![]),
                (75.0, vec![submit(Rate, "r", 75.0, &[])]),
                (90.0, vec![submit(Rate, "r", 90.0, &[])]),
            ],
        )
    };
    // Expired at t=45 (two runs without it); kept 25 h: t=75 computes against t=15.
    expect![[r#"
        t=0: 
        t=15: r Gauge host=agent-host tags=[] source=System [1@15]
        t=30: 
        t=45: 
        t=60: 
        t=75: r Gauge host=agent-host tags=[] source=System [1@75]
        t=90: r Gauge host=agent-host tags=[] source=System [1@90]"#]]
    .assert_eq(&scenario(25.0 * 3600.0));
    // Kept 10 s only: gone by t=60, so t=75 is a first run again.
    expect![[r#"
        t=0: 
        t=15: r Gauge host=agent-host tags=[] source=System [1@15]
        t=30: 
        t=45: 
        t=60: 
        t=75: 
        t=90: r Gauge host=agent-host tags=[] source=System [1@90]"#]]
    .assert_eq(&scenario(10.0));
}

#[test]
fn a_stateless_context_expires_after_two_runs_without_it() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    run(&mut agg, vec![submit(Gauge, "g", 1.0, &[])], 0.0);
    run(&mut agg, vec![], 15.0);
    assert_eq!(agg.check_contexts(), 1);
    run(&mut agg, vec![], 30.0);
    assert_eq!(agg.check_contexts(), 0);
}

#[test]
fn check_service_checks_and_events_are_flushed_with_a_host_and_time() {
    let mut agg = aggregator();
    let output = CheckOutput {
        service_checks: vec![
            ServiceCheckSubmission {
                name: "mysql.can_connect".into(),
                status: CheckStatus::Critical,
                tags: vec!["port:3306".into()],
                hostname: None,
                message: Some("Access denied".into()),
            },
            ServiceCheckSubmission {
                name: "other".into(),
                status: CheckStatus::Ok,
                tags: vec![],
                hostname: Some("db-1".into()),
                message: None,
            },
        ],
        events: vec![Event {
            title: "t".into(),
            text: "x".into(),
            date_happened: None,
            priority: Default::default(),
            host: None,
            tags: vec![],
            alert_type: Default::default(),
            aggregation_key: None,
            source_type_name: Some("mysql".into()),
            related_event_id: None,
            device_name: None,
            event_type: None,
        }],
        ..CheckOutput::default()
    };
    agg.commit_check_run("mysql:1", &output, 1700.9);
    let flush = agg.flush(1701.0);
    assert_eq!(
        flush.service_checks,
        [
            CheckRun {
                check: "mysql.can_connect".into(),
                host_name: HOST.into(),
                status: CheckStatus::Critical,
                timestamp: Some(1700),
                message: Some("Access denied".into()),
                tags: vec!["port:3306".into()],
            },
            CheckRun {
                check: "other".into(),
                host_name: "db-1".into(),
                status: CheckStatus::Ok,
                timestamp: Some(1700),
                message: None,
                tags: vec![],
            },
        ]
    );
    assert_eq!(flush.events.len(), 1);
    assert_eq!(flush.events[0].host.as_deref(), Some(HOST));
    assert_eq!(flush.events[0].date_happened, Some(1700));
    assert_eq!(agg.stats().service_checks_flushed, 2);
    assert_eq!(agg.stats().events_flushed, 1);
}

#[test]
fn a_forgotten_check_still_flushes_what_it_committed() {
    use SubmissionKind::*;
    let mut agg = aggregator();
    run(&mut agg, vec![submit(Gauge, "g", 1.0, &[])], 10.0);
    agg.forget_check("my_check:abc");
    assert!(agg.checks.is_empty());
    check(
        &agg.flush(15.0),
        expect![[r#"g Gauge host=agent-host tags=[] source=System [1@10]"#]],
    );
    assert_eq!(agg.flush(30.0).series.series, []);
}

#[test]
fn the_handle_shares_one_aggregator() {
    let handle = AggregatorHandle::new(aggregator());
    let other = handle.clone();
    send(&mut other.lock(), "x:1|g", 1000.0);
    check(
        &handle.flush(1010.0),
        expect![[r#"x Gauge host=agent-host tags=[] interval=10 [1@1000]"#]],
    );
    assert_eq!(other.lock().stats().series_flushed, 1);
}

// ---- configuration ----

#[test]
fn histogram_settings_are_read_like_the_agent_reads_them() {
    let (config, warnings) = HistogramConfig::parse(
        &["max".into(), "bogus".into(), "min".into(), "max".into()],
        &[0.95, 0.5, 1.5, 0.29, 0.0, 1.0, 0.5],
    );
    assert_eq!(config.aggregates, [Aggregate::Max, Aggregate::Min]);
    assert_eq!(config.percentiles, [29, 50, 95, 100]);
    assert_eq!(
        warnings,
        [
            "histogram_aggregates: 'bogus' is not one of max, min, median, avg, sum, count; skipped",
            "histogram_percentiles: 1.5 is not a fraction between 0.01 and 1 (0.95 is the 95th percentile); skipped",
            "histogram_percentiles: 0 is not a fraction between 0.01 and 1 (0.95 is the 95th percentile); skipped",
        ]
    );
}

#[test]
fn the_agent_config_defaults_give_the_agent_histograms() {
    let loaded = AgentConfig::from_yaml(
        std::path::Path::new("/etc/dd"),
        std::path::Path::new("/etc/dd/datadog.yaml"),
        "",
        &|_| None,
    )
    .expect("empty config loads");
    let (config, warnings) = AggregatorConfig::from_agent_config(&loaded.config, "h");
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(config, AggregatorConfig::new("h"));
    assert_eq!(
        config.histogram.aggregates,
        [
            Aggregate::Max,
            Aggregate::Median,
            Aggregate::Avg,
            Aggregate::Count
        ]
    );
    assert_eq!(config.histogram.percentiles, [95]);
}
