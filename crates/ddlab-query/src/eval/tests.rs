//! Evaluation on small synthetic data.

use std::fmt::Write as _;

use expect_test::{Expect, expect};

use super::*;
use crate::{parse, parse_formula};

/// An in-memory store: `(metric, series)` pairs.
struct Store(Vec<(&'static str, RawSeries)>);

impl Source for Store {
    fn fetch(&self, metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError> {
        if metric == "broken" {
            return Err(SourceError::new("database is locked"));
        }
        Ok(self
            .0
            .iter()
            .filter(|(name, series)| *name == metric && series.matches(scope))
            .map(|(_, series)| RawSeries {
                points: series
                    .points
                    .iter()
                    .copied()
                    .filter(|(t, _)| (from..=to).contains(t))
                    .collect(),
                ..series.clone()
            })
            .filter(|series| !series.points.is_empty())
            .collect())
    }
}

fn raw(
    kind: MetricKind,
    host: Option<&str>,
    tags: &[&str],
    points: impl IntoIterator<Item = (i64, f64)>,
) -> RawSeries {
    RawSeries {
        tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        host: host.map(str::to_owned),
        kind,
        interval: (kind != MetricKind::Gauge).then_some(10),
        points: points.into_iter().collect(),
    }
}

fn gauge(host: &str, points: impl IntoIterator<Item = (i64, f64)>) -> RawSeries {
    raw(MetricKind::Gauge, Some(host), &[], points)
}

fn store() -> Store {
    let mut series = vec![
        ("my_metric", gauge("h", [(1000, 1.0), (1015, 2.0), (1030, 3.0)])),
        ("my_metric", gauge("other", [(1000, 50.0)])),
        ("load", gauge("h", (0..120).map(|i| (i * 60, 2.0)))),
        ("gappy", gauge("h", [(3660, 1.0), (3720, 2.0), (3900, 4.0)])),
        ("ramp", gauge("h", (0..120).map(|i| (i * 60, i as f64)))),
        (
            "requests",
            raw(MetricKind::Count, Some("h"), &[], (0..6).map(|i| (i * 10, 5.0))),
        ),
        (
            "rate_m",
            raw(MetricKind::Rate, Some("h"), &[], [(0, 0.5), (10, 1.5)]),
        ),
        ("system.cpu.user", gauge("a", [(0, 10.0), (20, 20.0)])),
        ("system.cpu.user", gauge("b", [(0, 30.0), (10, 40.0)])),
        ("system.cpu.idle", gauge("a", [(0, 50.0), (10, 0.0)])),
        ("system.cpu.idle", gauge("c", [(0, 10.0)])),
        (
            "latency",
            raw(
                MetricKind::Gauge,
                None,
                &["env:prod"],
                [(0, 1.0), (0, 2.0), (0, 3.0)],
            ),
        ),
        (
            "latency",
            raw(MetricKind::Gauge, None, &["env:prod"], [(0, 4.0), (0, 100.0)]),
        ),
    ];
    let hits = |host: &str, resource: &'static str, env: &'static str, points: [(i64, f64); 2]| {
        let tags = ["service:flask", env, resource];
        (
            "trace.flask.request.hits",
            raw(MetricKind::Count, Some(host), &tags, points),
        )
    };
    series.extend([
        hits("a", "resource_name:get_/", "env:lab", [(0, 1.0), (10, 2.0)]),
        hits("b", "resource_name:get_/", "env:lab", [(0, 3.0), (10, 4.0)]),
        hits(
            "a",
            "resource_name:get_/api/apm",
            "env:lab",
            [(0, 7.0), (20, 1.0)],
        ),
        hits("a", "resource_name:get_/", "env:prod", [(0, 100.0), (10, 100.0)]),
        (
            "trace.flask.request.hits",
            raw(
                MetricKind::Count,
                Some("a"),
                &["service:flask", "env:lab"],
                [(0, 9.0)],
            ),
        ),
    ]);
    series.extend((1..=6).map(|n| ("cpu", gauge(&format!("h{n}"), [(0, f64::from(n)), (10, 1.0)]))));
    // About 100, one point a minute for two hours, with a spike at 7020.
    let flat = (0..120).map(|i| {
        (
            i * 60,
            if i == 117 {
                160.0
            } else {
                100.0 + f64::from((i * 7 % 5) as u8)
            },
        )
    });
    series.push(("flat", gauge("h", flat)));
    // An hourly wave for five hours, one point a minute, with a spike at 4h15m.
    let wave = (0..300).map(|i: i64| {
        let t = i * 60;
        let phase = (t % 3600) as f64 / 3600.0 * std::f64::consts::TAU;
        let value = 50.0 + 20.0 * phase.sin() + f64::from((i * 7 % 5) as u8) / 4.0;
        (t, if t == 15_300 { value + 40.0 } else { value })
    });
    series.push(("wave", gauge("h", wave)));
    Store(series)
}

fn window(from: i64, to: i64) -> Window {
    Window {
        from,
        to,
        interval: None,
    }
}

fn check(query: &str, window: Window, expect: Expect) {
    let list = parse(query).unwrap_or_else(|error| panic!("{error}"));
    let results = evaluate(&list, &store(), window).unwrap_or_else(|error| panic!("{query}: {error}"));
    expect.assert_eq(&render(&results));
}

fn render(results: &[SeriesResult]) -> String {
    let mut text = String::new();
    for r in results {
        let aggr = r.aggr.map_or("null".to_owned(), |a| a.to_string());
        let _ = writeln!(
            text,
            "#{} {:?} {} | {} | aggr={aggr} interval={} scope={} tags={:?}",
            r.query_index, r.kind, r.metric, r.display_name, r.interval, r.scope, r.tag_set
        );
        let points: Vec<String> = r
            .points
            .iter()
            .map(|(t, v)| {
                v.map_or(format!("{t}=null"), |v| {
                    format!("{t}={}", (v * 1e4).round() / 1e4)
                })
            })
            .collect();
        let _ = writeln!(text, "  {}\n  {}", r.expression, points.join(" "));
    }
    text
}

#[test]
fn a_plain_gauge_is_sparse() {
    check(
        "avg:my_metric{host:h}",
        window(1000, 1300),
        expect![[r#"
            #0 Value my_metric | my_metric | aggr=avg interval=1 scope=host:h tags=[]
              avg:my_metric{host:h}
              1000=1 1015=2 1030=3
        "#]],
    );
    check(
        "my_metric{*}",
        window(1000, 1300),
        expect![[r#"
            #0 Value my_metric | my_metric | aggr=null interval=1 scope=* tags=[]
              my_metric{*}
              1000=25.5 1015=2 1030=3
        "#]],
    );
    check("avg:my_metric{host:nobody}", window(1000, 1300), expect![""]);
    check("avg:my_metric{host:h}", window(2000, 2300), expect![""]);
}

#[test]
fn rollup_buckets_are_aligned_to_unix_time() {
    // A 5-minute window inside one hour still gets that whole hour's bucket.
    check(
        "avg:load{host:h}.rollup(sum, 3600)",
        window(3700, 4000),
        expect![[r#"
            #0 Value load | load | aggr=avg interval=3600 scope=host:h tags=[]
              avg:load{host:h}.rollup(sum, 3600)
              3600=120
        "#]],
    );
    check(
        "avg:gappy{host:h}.rollup(sum, 60), avg:gappy{host:h}, avg:gappy{host:h}.rollup(count, 30)",
        window(3700, 4000),
        expect![[r#"
            #0 Value gappy | gappy | aggr=avg interval=60 scope=host:h tags=[]
              avg:gappy{host:h}.rollup(sum, 60)
              3660=1 3720=2 3780=null 3840=null 3900=4 3960=null
            #1 Value gappy | gappy | aggr=avg interval=1 scope=host:h tags=[]
              avg:gappy{host:h}
              3720=2 3900=4
            #2 Value gappy | gappy | aggr=avg interval=30 scope=host:h tags=[]
              avg:gappy{host:h}.rollup(count, 30)
              3690=null 3720=1 3750=null 3780=null 3810=null 3840=null 3870=null 3900=1 3930=null 3960=null 3990=null
        "#]],
    );
    // A rollup shorter than the automatic interval is raised to it.
    let results = evaluate(
        &parse("avg:load{host:h}.rollup(avg, 10)").unwrap(),
        &store(),
        window(0, 7200),
    )
    .unwrap();
    assert_eq!((results[0].interval, results[0].points.len()), (30, 241));
}

#[test]
fn counts_as_count_and_as_rate() {
    let every = |seconds| Window {
        from: 0,
        to: 59,
        interval: Some(seconds),
    };
    check(
        "sum:requests{*}.as_count(), sum:requests{*}.as_rate(), sum:requests{*}, sum:requests{*}.rollup(max).as_rate()",
        every(20),
        expect![[r#"
            #0 Value requests | requests | aggr=sum interval=20 scope=* tags=[]
              sum:requests{*}.as_count()
              0=10 20=10 40=10
            #1 Value requests | requests | aggr=sum interval=20 scope=* tags=[]
              sum:requests{*}.as_rate()
              0=0.5 20=0.5 40=0.5
            #2 Value requests | requests | aggr=sum interval=20 scope=* tags=[]
              sum:requests{*}
              0=10 20=10 40=10
            #3 Value requests | requests | aggr=sum interval=20 scope=* tags=[]
              sum:requests{*}.as_rate().rollup(max)
              0=0.25 20=0.25 40=0.25
        "#]],
    );
    // A bucket finer than the 10 s submission interval is normalised by the submission interval.
    check(
        "sum:requests{*}.as_rate()",
        every(5),
        expect![[r#"
            #0 Value requests | requests | aggr=sum interval=5 scope=* tags=[]
              sum:requests{*}.as_rate()
              0=0.5 10=0.5 20=0.5 30=0.5 40=0.5 50=0.5
        "#]],
    );
    check(
        "avg:rate_m{*}, avg:rate_m{*}.as_count(), avg:rate_m{*}.as_rate()",
        every(20),
        expect![[r#"
            #0 Value rate_m | rate_m | aggr=avg interval=20 scope=* tags=[]
              avg:rate_m{*}
              0=1
            #1 Value rate_m | rate_m | aggr=avg interval=20 scope=* tags=[]
              avg:rate_m{*}.as_count()
              0=20
            #2 Value rate_m | rate_m | aggr=avg interval=20 scope=* tags=[]
              avg:rate_m{*}.as_rate()
              0=2
        "#]],
    );
}

#[test]
fn grouping() {
    check(
        "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
        window(0, 300),
        expect![[r#"
            #0 Value trace.flask.request.hits | trace.flask.request.hits | aggr=sum interval=1 scope=service:flask,env:lab,resource_name:get_/ tags=["resource_name:get_/"]
              sum:trace.flask.request.hits{service:flask,env:lab,resource_name:get_/}.as_count()
              0=4 10=6
            #0 Value trace.flask.request.hits | trace.flask.request.hits | aggr=sum interval=1 scope=service:flask,env:lab,resource_name:get_/api/apm tags=["resource_name:get_/api/apm"]
              sum:trace.flask.request.hits{service:flask,env:lab,resource_name:get_/api/apm}.as_count()
              0=7 20=1
        "#]],
    );
    check(
        "avg:trace.flask.request.hits{env:lab} by {resource_name,host}",
        window(0, 300),
        expect![[r#"
            #0 Value trace.flask.request.hits | trace.flask.request.hits | aggr=avg interval=1 scope=env:lab,resource_name:get_/,host:a tags=["resource_name:get_/", "host:a"]
              avg:trace.flask.request.hits{env:lab,resource_name:get_/,host:a}
              0=1 10=2
            #0 Value trace.flask.request.hits | trace.flask.request.hits | aggr=avg interval=1 scope=env:lab,resource_name:get_/,host:b tags=["resource_name:get_/", "host:b"]
              avg:trace.flask.request.hits{env:lab,resource_name:get_/,host:b}
              0=3 10=4
            #0 Value trace.flask.request.hits | trace.flask.request.hits | aggr=avg interval=1 scope=env:lab,resource_name:get_/api/apm,host:a tags=["resource_name:get_/api/apm", "host:a"]
              avg:trace.flask.request.hits{env:lab,resource_name:get_/api/apm,host:a}
              0=7 20=1
        "#]],
    );
    check(
        "avg:system.cpu.user{*} by {host}",
        window(0, 300),
        expect![[r#"
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a}
              0=10 20=20
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:b tags=["host:b"]
              avg:system.cpu.user{host:b}
              0=30 10=40
        "#]],
    );
}

#[test]
fn space_aggregation_aligns_series() {
    // host a reports at 0 and 20, host b at 0 and 10: a is interpolated at 10, b cannot be at 20.
    check(
        "avg:system.cpu.user{*}, sum:system.cpu.user{*}, sum:system.cpu.user{*}.fill(null), max:system.cpu.user{*}, count:system.cpu.user{*}, min:system.cpu.user{host:a OR host:b}",
        window(0, 300),
        expect![[r#"
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=* tags=[]
              avg:system.cpu.user{*}
              0=20 10=27.5 20=20
            #1 Value system.cpu.user | system.cpu.user | aggr=sum interval=1 scope=* tags=[]
              sum:system.cpu.user{*}
              0=40 10=55 20=20
            #2 Value system.cpu.user | system.cpu.user | aggr=sum interval=1 scope=* tags=[]
              sum:system.cpu.user{*}.fill(null)
              0=40 10=40 20=20
            #3 Value system.cpu.user | system.cpu.user | aggr=max interval=1 scope=* tags=[]
              max:system.cpu.user{*}
              0=30 10=40 20=20
            #4 Value system.cpu.user | system.cpu.user | aggr=count interval=1 scope=* tags=[]
              count:system.cpu.user{*}
              0=2 10=2 20=1
            #5 Value system.cpu.user | system.cpu.user | aggr=min interval=1 scope=host:a OR host:b tags=[]
              min:system.cpu.user{host:a OR host:b}
              0=10 10=15 20=20
        "#]],
    );
    check(
        "avg:system.cpu.user{host:a}.fill(zero, 20), avg:system.cpu.user{host:a}.fill(last), avg:system.cpu.user{host:a}.fill(linear, 10)",
        window(0, 30),
        expect![[r#"
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=[]
              avg:system.cpu.user{host:a}.fill(zero, 20)
              0=10 1=0 2=0 3=0 4=0 5=0 6=0 7=0 8=0 9=0 10=0 11=0 12=0 13=0 14=0 15=0 16=0 17=0 18=0 19=0 20=20
            #1 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=[]
              avg:system.cpu.user{host:a}.fill(last)
              0=10 1=10 2=10 3=10 4=10 5=10 6=10 7=10 8=10 9=10 10=10 11=10 12=10 13=10 14=10 15=10 16=10 17=10 18=10 19=10 20=20
            #2 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=[]
              avg:system.cpu.user{host:a}.fill(linear, 10)
              0=10 20=20
        "#]],
    );
    // Percentiles pool every stored point of the bucket.
    check(
        "p50:latency{env:prod}, p99:latency{*}, avg:latency{*}",
        window(0, 60),
        expect![[r#"
            #0 Value latency | latency | aggr=p50 interval=1 scope=env:prod tags=[]
              p50:latency{env:prod}
              0=3
            #1 Value latency | latency | aggr=p99 interval=1 scope=* tags=[]
              p99:latency{*}
              0=96.16
            #2 Value latency | latency | aggr=avg interval=1 scope=* tags=[]
              avg:latency{*}
              0=27
        "#]],
    );
}

#[test]
fn arithmetic_joins_groups_and_leaves_holes() {
    check(
        "avg:system.cpu.user{*} by {host} / avg:system.cpu.idle{*} by {host} * 100",
        window(0, 300),
        expect![[r#"
            #0 Value (system.cpu.user / system.cpu.idle * 100) | (system.cpu.user / system.cpu.idle * 100) | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a} / avg:system.cpu.idle{host:a} * 100
              0=20 10=null 20=null
        "#]],
    );
    check(
        "sum:system.cpu.user{*} by {host} / sum:system.cpu.user{*}",
        window(0, 300),
        expect![[r#"
            #0 Value (system.cpu.user / system.cpu.user) | (system.cpu.user / system.cpu.user) | aggr=sum interval=1 scope=host:a tags=["host:a"]
              sum:system.cpu.user{host:a} / sum:system.cpu.user{*}
              0=0.25 10=null 20=1
            #0 Value (system.cpu.user / system.cpu.user) | (system.cpu.user / system.cpu.user) | aggr=sum interval=1 scope=host:b tags=["host:b"]
              sum:system.cpu.user{host:b} / sum:system.cpu.user{*}
              0=0.75 10=0.7273 20=null
        "#]],
    );
    check(
        "avg:my_metric{host:h} * 2 + 1, 100 - avg:my_metric{host:h}, -avg:my_metric{host:h} / (2 - 2)",
        window(1000, 1300),
        expect![[r#"
            #0 Value (my_metric * 2 + 1) | (my_metric * 2 + 1) | aggr=avg interval=1 scope=host:h tags=[]
              avg:my_metric{host:h} * 2 + 1
              1000=3 1015=5 1030=7
            #1 Value (100 - my_metric) | (100 - my_metric) | aggr=avg interval=1 scope=host:h tags=[]
              100 - avg:my_metric{host:h}
              1000=99 1015=98 1030=97
            #2 Value (-my_metric / (2 - 2)) | (-my_metric / (2 - 2)) | aggr=avg interval=1 scope=host:h tags=[]
              -avg:my_metric{host:h} / (2 - 2)
              1000=null 1015=null 1030=null
        "#]],
    );
    // Counts align as zero: a bucket one side lacks is 0, not a hole.
    check(
        "sum:trace.flask.request.hits{resource_name:get_/api/apm}.as_count() - sum:trace.flask.request.hits{resource_name:get_/,env:lab}.as_count()",
        window(0, 300),
        expect![[r#"
            #0 Value (trace.flask.request.hits - trace.flask.request.hits) | (trace.flask.request.hits - trace.flask.request.hits) | aggr=sum interval=1 scope=resource_name:get_/api/apm tags=[]
              sum:trace.flask.request.hits{resource_name:get_/api/apm}.as_count() - sum:trace.flask.request.hits{resource_name:get_/,env:lab}.as_count()
              0=3 10=-6 20=1
        "#]],
    );
}

#[test]
fn functions_and_timeshift() {
    check(
        "timeshift(avg:ramp{*}, -3600), hour_before(avg:ramp{*}), avg:ramp{*}",
        window(3600, 3900),
        expect![[r#"
            #0 Value ramp | timeshift(ramp, -3600) | aggr=avg interval=1 scope=* tags=[]
              timeshift(avg:ramp{*}, -3600)
              3600=0 3660=1 3720=2 3780=3 3840=4 3900=5
            #1 Value ramp | hour_before(ramp) | aggr=avg interval=1 scope=* tags=[]
              hour_before(avg:ramp{*})
              3600=0 3660=1 3720=2 3780=3 3840=4 3900=5
            #2 Value ramp | ramp | aggr=avg interval=1 scope=* tags=[]
              avg:ramp{*}
              3600=60 3660=61 3720=62 3780=63 3840=64 3900=65
        "#]],
    );
    check(
        "avg:ramp{*} - hour_before(avg:ramp{*}), cumsum(timeshift(avg:ramp{*}, 60))",
        window(3600, 3780),
        expect![[r#"
            #0 Value (ramp - hour_before(ramp)) | (ramp - hour_before(ramp)) | aggr=avg interval=1 scope=* tags=[]
              avg:ramp{*} - hour_before(avg:ramp{*})
              3600=60 3660=60 3720=60 3780=60
            #1 Value ramp | cumsum(timeshift(ramp, 60)) | aggr=avg interval=1 scope=* tags=[]
              cumsum(timeshift(avg:ramp{*}, 60))
              3600=61 3660=123 3720=186 3780=250
        "#]],
    );
    check(
        "per_second(sum:requests{*}.as_count()), per_minute(sum:requests{*}.as_count())",
        Window {
            from: 0,
            to: 59,
            interval: Some(20),
        },
        expect![[r#"
            #0 Value requests | per_second(requests) | aggr=sum interval=20 scope=* tags=[]
              per_second(sum:requests{*}.as_count())
              0=0.5 20=0.5 40=0.5
            #1 Value requests | per_minute(requests) | aggr=sum interval=20 scope=* tags=[]
              per_minute(sum:requests{*}.as_count())
              0=30 20=30 40=30
        "#]],
    );
    check(
        "default_zero(avg:my_metric{host:h})",
        window(1000, 1004),
        expect![[r#"
            #0 Value my_metric | default_zero(my_metric) | aggr=avg interval=1 scope=host:h tags=[]
              default_zero(avg:my_metric{host:h})
              1000=1 1001=0 1002=0 1003=0 1004=0
        "#]],
    );
}

#[test]
fn top_keeps_the_best_series() {
    check(
        "top(avg:cpu{*} by {host}, 5, 'max', 'desc')",
        window(0, 60),
        expect![[r#"
            #0 Value cpu | top(cpu, 5, 'max', 'desc') | aggr=avg interval=1 scope=host:h6 tags=["host:h6"]
              top(avg:cpu{host:h6}, 5, 'max', 'desc')
              0=6 10=1
            #0 Value cpu | top(cpu, 5, 'max', 'desc') | aggr=avg interval=1 scope=host:h5 tags=["host:h5"]
              top(avg:cpu{host:h5}, 5, 'max', 'desc')
              0=5 10=1
            #0 Value cpu | top(cpu, 5, 'max', 'desc') | aggr=avg interval=1 scope=host:h4 tags=["host:h4"]
              top(avg:cpu{host:h4}, 5, 'max', 'desc')
              0=4 10=1
            #0 Value cpu | top(cpu, 5, 'max', 'desc') | aggr=avg interval=1 scope=host:h3 tags=["host:h3"]
              top(avg:cpu{host:h3}, 5, 'max', 'desc')
              0=3 10=1
            #0 Value cpu | top(cpu, 5, 'max', 'desc') | aggr=avg interval=1 scope=host:h2 tags=["host:h2"]
              top(avg:cpu{host:h2}, 5, 'max', 'desc')
              0=2 10=1
        "#]],
    );
    let bottom = evaluate(
        &parse("bottom5_mean(avg:cpu{*} by {host})").unwrap(),
        &store(),
        window(0, 60),
    )
    .unwrap();
    let hosts: Vec<&str> = bottom.iter().map(|r| r.tag_set[0].as_str()).collect();
    assert_eq!(hosts, ["host:h1", "host:h2", "host:h3", "host:h4", "host:h5"]);
}

#[test]
fn anomalies_add_a_band_per_series() {
    check(
        "anomalies(avg:flat{*}, 'basic', 2)",
        window(6900, 7140),
        expect![[r#"
            #0 Value flat | flat | aggr=avg interval=1 scope=* tags=[]
              anomalies(avg:flat{*}, 'basic', 2)
              6900=100 6960=102 7020=160 7080=101 7140=103
            #0 AnomalyLower flat | flat lower | aggr=avg interval=1 scope=* tags=[]
              anomalies(avg:flat{*}, 'basic', 2)
              6900=99.0348 6960=99.0348 7020=99.0348 7080=99.0348 7140=99.0348
            #0 AnomalyUpper flat | flat upper | aggr=avg interval=1 scope=* tags=[]
              anomalies(avg:flat{*}, 'basic', 2)
              6900=104.9652 6960=104.9652 7020=104.9652 7080=106.8 7140=106.8
        "#]],
    );
    // Seasonal algorithms need three seasons: two hours of data give no hourly band yet.
    check(
        "anomalies(avg:flat{*}, 'agile', 2, seasonality='hourly')",
        window(7020, 7140),
        expect![[r#"
            #0 Value flat | flat | aggr=avg interval=2 scope=* tags=[]
              anomalies(avg:flat{*}, 'agile', 2, seasonality='hourly')
              7020=160 7080=101 7140=103
            #0 AnomalyLower flat | flat lower | aggr=avg interval=2 scope=* tags=[]
              anomalies(avg:flat{*}, 'agile', 2, seasonality='hourly')
              7020=null 7080=null 7140=null
            #0 AnomalyUpper flat | flat upper | aggr=avg interval=2 scope=* tags=[]
              anomalies(avg:flat{*}, 'agile', 2, seasonality='hourly')
              7020=null 7080=null 7140=null
        "#]],
    );
    let results = evaluate(
        &parse("anomalies(avg:flat{*}, 'basic', 2)").unwrap(),
        &store(),
        window(6900, 7140),
    )
    .unwrap();
    let flags = crate::outside_band(
        &results[0].points,
        &results[1].points,
        &results[2].points,
        crate::Direction::Both,
    );
    assert_eq!(
        flags,
        [
            (6900, Some(0.0)),
            (6960, Some(0.0)),
            (7020, Some(1.0)),
            (7080, Some(0.0)),
            (7140, Some(0.0))
        ]
    );
}

#[test]
fn seasonal_anomalies_read_their_history() {
    // The window holds half an hour; the evaluator reads the four hours before it as well.
    for algorithm in ["agile", "robust"] {
        let query = format!("anomalies(avg:wave{{*}}, '{algorithm}', 3, seasonality='hourly')");
        let results = evaluate(&parse(&query).unwrap(), &store(), window(14_400, 16_200)).unwrap();
        let kinds: Vec<SeriesKind> = results.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                SeriesKind::Value,
                SeriesKind::AnomalyLower,
                SeriesKind::AnomalyUpper
            ]
        );
        assert_eq!((results[0].interval, results[0].points.len()), (10, 31));
        let flags = crate::outside_band(
            &results[0].points,
            &results[1].points,
            &results[2].points,
            crate::Direction::Both,
        );
        let flagged: Vec<i64> = flags
            .iter()
            .filter(|(_, flag)| *flag == Some(1.0))
            .map(|&(t, _)| t)
            .collect();
        assert_eq!(flagged, [15_300], "{algorithm}");
        assert!(
            flags.iter().all(|(_, flag)| flag.is_some()),
            "{algorithm}: every point has a band"
        );
    }
}

#[test]
fn several_queries_keep_their_index() {
    check(
        "avg:my_metric{host:h}, avg:my_metric{host:other}, avg:my_metric{host:nobody}, avg:my_metric{*}",
        window(1000, 1010),
        expect![[r#"
            #0 Value my_metric | my_metric | aggr=avg interval=1 scope=host:h tags=[]
              avg:my_metric{host:h}
              1000=1
            #1 Value my_metric | my_metric | aggr=avg interval=1 scope=host:other tags=[]
              avg:my_metric{host:other}
              1000=50
            #3 Value my_metric | my_metric | aggr=avg interval=1 scope=* tags=[]
              avg:my_metric{*}
              1000=25.5
        "#]],
    );
}

fn check_formulas(formulas: &[(&str, Option<Limit>)], expect: Expect) {
    let named = |name: &str, query: &str| NamedQuery {
        name: name.to_owned(),
        expr: parse(query).unwrap().items.remove(0).expr,
    };
    let queries = [
        named("a", "avg:system.cpu.user{*} by {host}"),
        named("b", "avg:system.cpu.idle{*} by {host}"),
    ];
    let formulas: Vec<Formula> = formulas
        .iter()
        .map(|&(text, limit)| Formula {
            expr: parse_formula(text, &["a", "b"]).unwrap(),
            limit,
        })
        .collect();
    let results = evaluate_formulas(&queries, &formulas, &store(), window(0, 300)).unwrap();
    expect.assert_eq(&render(&results));
}

#[test]
fn v2_formulas() {
    check_formulas(
        &[("a * 1000", None), ("(a / b) * 100", None)],
        expect![[r#"
            #0 Value (system.cpu.user * 1000) | (system.cpu.user * 1000) | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a} * 1000
              0=10000 20=20000
            #0 Value (system.cpu.user * 1000) | (system.cpu.user * 1000) | aggr=avg interval=1 scope=host:b tags=["host:b"]
              avg:system.cpu.user{host:b} * 1000
              0=30000 10=40000
            #1 Value (system.cpu.user / system.cpu.idle * 100) | (system.cpu.user / system.cpu.idle * 100) | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a} / avg:system.cpu.idle{host:a} * 100
              0=20 10=null 20=null
        "#]],
    );
    check_formulas(
        &[
            (
                "a",
                Some(Limit {
                    count: 1,
                    order: TopOrder::Desc,
                }),
            ),
            (
                "a",
                Some(Limit {
                    count: 1,
                    order: TopOrder::Asc,
                }),
            ),
        ],
        expect![[r#"
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:b tags=["host:b"]
              avg:system.cpu.user{host:b}
              0=30 10=40
            #1 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a}
              0=10 20=20
        "#]],
    );
    check_formulas(
        &[],
        expect![[r#"
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.user{host:a}
              0=10 20=20
            #0 Value system.cpu.user | system.cpu.user | aggr=avg interval=1 scope=host:b tags=["host:b"]
              avg:system.cpu.user{host:b}
              0=30 10=40
            #1 Value system.cpu.idle | system.cpu.idle | aggr=avg interval=1 scope=host:a tags=["host:a"]
              avg:system.cpu.idle{host:a}
              0=50 10=0
            #1 Value system.cpu.idle | system.cpu.idle | aggr=avg interval=1 scope=host:c tags=["host:c"]
              avg:system.cpu.idle{host:c}
              0=10
        "#]],
    );
}

#[test]
fn errors() {
    let list = parse("avg:my_metric{*}").unwrap();
    let error = evaluate(&list, &store(), window(10, 5)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid time window: from 10 and to 5 must be in order and within 2^40 seconds of the epoch"
    );
    assert!(matches!(
        evaluate(&list, &store(), window(0, i64::MAX)),
        Err(EvalError::InvalidWindow { .. })
    ));
    let error = evaluate(&parse("abs(broken{*})").unwrap(), &store(), window(0, 10)).unwrap_err();
    assert_eq!(error.to_string(), "reading series failed: database is locked");
    let formula = [Formula {
        expr: parse_formula("a + 1", &["a"]).unwrap(),
        limit: None,
    }];
    let error = evaluate_formulas(&[], &formula, &store(), window(0, 10)).unwrap_err();
    assert_eq!(error.to_string(), "formula refers to unknown query 'a'");
    let manual = QueryList {
        items: vec![crate::QueryItem {
            query_index: 0,
            expr: Expr::Call {
                func: Function::Abs,
                args: vec![Expr::Number(1.0)],
            },
        }],
    };
    let error = evaluate(&manual, &store(), window(0, 10)).unwrap_err();
    assert_eq!(error.to_string(), "invalid expression `1`: it reads no metric");
}

/// Evaluating any query that parses never panics, and results keep their shape: points sorted inside
/// the window, bands on the value's timestamps.
#[test]
fn mutated_queries_evaluate_without_panicking() {
    let store = store();
    let mut evaluated = 0;
    for seed in crate::parse::tests::SEEDS
        .iter()
        .chain(&["anomalies(avg:flat{*}, 'robust', 2, seasonality='hourly')"])
    {
        for text in crate::parse::tests::mutations(seed).iter().step_by(3) {
            let Ok(list) = parse(text) else { continue };
            for window in [
                window(0, 7200),
                window(3700, 4000),
                Window {
                    from: -5,
                    to: -5,
                    interval: Some(7),
                },
            ] {
                let Ok(results) = evaluate(&list, &store, window) else {
                    continue;
                };
                evaluated += 1;
                for result in &results {
                    let grid = Grid::new(window.from, window.to, result.interval);
                    assert!(
                        result.points.windows(2).all(|w| w[0].0 < w[1].0),
                        "{text}: unsorted"
                    );
                    assert!(
                        result.points.iter().all(|&(t, _)| grid.contains(t)),
                        "{text}: outside the window"
                    );
                }
                let lowers = results
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.kind == SeriesKind::AnomalyLower);
                for (index, lower) in lowers {
                    let times = |r: &SeriesResult| r.points.iter().map(|&(t, _)| t).collect::<Vec<_>>();
                    let (value, upper) = (&results[index - 1], &results[index + 1]);
                    assert_eq!(
                        (value.kind, upper.kind),
                        (SeriesKind::Value, SeriesKind::AnomalyUpper),
                        "{text}"
                    );
                    assert_eq!(times(value), times(lower), "{text}");
                    assert_eq!(times(value), times(upper), "{text}");
                }
            }
        }
    }
    assert!(evaluated > 1000, "only {evaluated} evaluations");
}
