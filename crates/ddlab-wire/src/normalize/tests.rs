//! Normalisation tests: the name and tag rules case by case, the report, and idempotence.

use expect_test::{Expect, expect};

use super::*;
use crate::series::{MetricKind, Point};

/// Normalises a metric name and shows the result (`-` when the series would be dropped).
fn check_name(name: &str, expect: Expect) {
    expect.assert_eq(&metric_name(name).unwrap_or_else(|| "-".into()));
}

fn check_tag(raw: &str, expect: Expect) {
    expect.assert_eq(&tag(raw).unwrap_or_else(|| "-".into()));
}

#[test]
fn metric_names() {
    check_name("system.cpu.user", expect!["system.cpu.user"]);
    check_name("My.Metric_Name2", expect!["My.Metric_Name2"]);
    check_name("my metric-name/s", expect!["my_metric_name_s"]);
    check_name("café.latency", expect!["caf_.latency"]);
    check_name("日本.queue", expect!["queue"]);
    check_name("_private.metric", expect!["private.metric"]);
    check_name("2xx.responses", expect!["xx.responses"]);
    check_name("..a..b", expect!["a..b"]);
    check_name("1234", expect!["-"]);
    check_name("", expect!["-"]);
    let long = format!("a{}", "b".repeat(300));
    assert_eq!(
        metric_name(&long).map(|n| n.chars().count()),
        Some(MAX_METRIC_NAME)
    );
}

#[test]
fn tags() {
    check_tag("env:dev", expect!["env:dev"]);
    check_tag("Env:Prod", expect!["env:prod"]);
    check_tag("ÉQUIPE:Ünïcode", expect!["équipe:ünïcode"]);
    check_tag("with space", expect!["with space"]);
    check_tag("", expect!["-"]);
    let long = format!("k:{}", "É".repeat(300));
    let cut = tag(&long).unwrap();
    assert_eq!(cut.chars().count(), MAX_TAG);
    assert!(cut.starts_with("k:éé"));
}

#[test]
fn a_batch_and_its_report() {
    let mut renamed = Series::new("My Metric!", MetricKind::Gauge);
    renamed.tags = vec![
        "Env:Dev".into(),
        "env:dev".into(),
        String::new(),
        "team:a".into(),
        "DEVICE:SDA".into(),
    ];
    renamed.device = Some("SDA".into());
    renamed.host = Some("Web-1".into());
    renamed.points = vec![Point {
        timestamp: 1,
        value: 2.0,
    }];
    let dropped = Series::new("404", MetricKind::Count);
    let clean = Series::new("clean.metric", MetricKind::Rate);
    let batch = MetricBatch {
        series: vec![renamed, dropped, clean.clone()],
    };

    let (normalised, report) = series(batch);

    let lines: Vec<String> = report.changes.iter().map(ToString::to_string).collect();
    expect![[r#"
        series[0]: metric "My Metric!" renamed to "My_Metric_"
        series[0]: tag "Env:Dev" rewritten to "env:dev"
        series[0]: tag "env:dev" dropped: it repeats another tag
        series[0]: tag "" dropped: it is empty
        series[0]: tag "DEVICE:SDA" rewritten to "device:sda"
        series[1]: dropped: metric name "404" has no letter to start with"#]]
    .assert_eq(&lines.join("\n"));
    assert_eq!(normalised.series.len(), 2);
    let first = &normalised.series[0];
    assert_eq!(first.metric, "My_Metric_");
    assert_eq!(first.tags, ["env:dev", "team:a", "device:sda"]);
    assert_eq!(first.device.as_deref(), Some("sda"), "the device follows its tag");
    assert_eq!(first.host.as_deref(), Some("Web-1"), "the host is left as sent");
    assert_eq!(normalised.series[1], clean);

    // Normalising again changes nothing.
    let (again, report) = series(normalised.clone());
    assert!(report.is_empty(), "{report:?}");
    assert_eq!(again, normalised);
}
