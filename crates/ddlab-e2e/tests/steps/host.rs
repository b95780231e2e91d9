//! Live steps about what the agent reports for the host: system metrics, host tags, the MySQL
//! integration's metrics and the custom check's my_metric.

use std::time::Duration;

use cucumber::then;
use ddlab_e2e::poll;
use serde_json::Value;

use super::Lab;
use super::live::{ARRIVAL, EVERY, host_metrics, points, wait_for_points};

#[then(expr = "the host reports the metric {string}")]
async fn reports_metric(lab: &mut Lab, metric: String) {
    let live = lab.live();
    let query = format!("avg:{metric}{{host:{}}}", live.host);
    wait_for_points(live, &query, 600, 1, ARRIVAL).await;
}

#[then(expr = "the host reports a metric whose name starts with {string}")]
async fn reports_prefix(lab: &mut Lab, prefix: String) {
    let live = lab.live();
    poll::until(
        &format!("a {prefix}* metric from host {}", live.host),
        ARRIVAL,
        EVERY,
        || async {
            let names = host_metrics(live, 600).await?;
            if names.iter().any(|n| n.starts_with(&prefix)) {
                Ok(Some(()))
            } else {
                Err(format!(
                    "the host reported {} metrics, none starting with {prefix}",
                    names.len()
                ))
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

#[then("the host is listed with every host tag of the Agent configuration")]
async fn host_tags(lab: &mut Lab) {
    let expected = lab
        .solution()
        .agent
        .as_ref()
        .map(|a| a.config.host_tags())
        .unwrap_or_default();
    assert!(!expected.is_empty(), "datadog.yaml gives the host no tags");
    let live = lab.live();
    poll::until(
        &format!("host {} with tags {expected:?}", live.host),
        ARRIVAL,
        EVERY,
        || async {
            let body = live
                .api
                .get("/api/v1/hosts", &[("filter", &live.host)])
                .await
                .map_err(|err| err.to_string())?;
            let host = body["host_list"].as_array().into_iter().flatten().find(|h| {
                h["host_name"].as_str() == Some(live.host.as_str())
                    || h["name"].as_str() == Some(live.host.as_str())
            });
            let Some(host) = host else {
                return Err(format!("the host list has no host {}", live.host));
            };
            let tags: Vec<&str> = host["tags_by_source"]
                .as_object()
                .into_iter()
                .flat_map(|sources| sources.values())
                .flat_map(|tags| tags.as_array().into_iter().flatten())
                .filter_map(Value::as_str)
                .collect();
            let missing: Vec<&String> = expected.iter().filter(|t| !tags.contains(&t.as_str())).collect();
            if missing.is_empty() {
                Ok(Some(()))
            } else {
                Err(format!("the host's tags are {tags:?}; missing {missing:?}"))
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

#[then(expr = "every point of {string} on the host lies between {int} and {int}")]
async fn points_within(lab: &mut Lab, metric: String, low: i64, high: i64) {
    let live = lab.live();
    // Raw points: one bucket per point over a short window.
    let now = live.now().await.unwrap_or_else(|err| panic!("{err}"));
    let query = format!("max:{metric}{{host:{}}}.rollup(max, 1)", live.host);
    let found = points(live, &query, now - 900, now)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        !found.is_empty(),
        "no {metric} points from host {} in the last 15 minutes",
        live.host
    );
    let outside: Vec<f64> = found
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| *v < low as f64 || *v > high as f64 || v.fract() != 0.0)
        .collect();
    assert!(
        outside.is_empty(),
        "{metric} has values outside the whole numbers {low}..={high}: {outside:?} (of {} points)",
        found.len()
    );
}

#[then(expr = "the metric {string} is a gauge")]
async fn is_gauge(lab: &mut Lab, metric: String) {
    let live = lab.live();
    let body = live
        .api
        .get(&format!("/api/v1/metrics/{metric}"), &[])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        body["type"].as_str(),
        Some("gauge"),
        "{metric} is declared as {}; submit it with self.gauge(...)",
        body["type"]
    );
}

#[then(expr = "consecutive points of {string} on the host are {int} to {int} seconds apart")]
async fn interval(lab: &mut Lab, metric: String, low: i64, high: i64) {
    let live = lab.live();
    let query = format!("max:{metric}{{host:{}}}.rollup(max, 1)", live.host);
    // Three points give two gaps; the check's first run is at start-up, then one per interval.
    let limit = Duration::from_secs(u64::try_from(high).unwrap_or(60) * 3 + 60);
    let found = wait_for_points(live, &query, 600, 3, limit).await;
    let recent = &found[found.len() - 3..];
    let gaps: Vec<i64> = recent.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(
        gaps.iter().all(|g| (low..=high).contains(g)),
        "{metric} arrives every {gaps:?} s; put `min_collection_interval: 45` under the instance in conf.d"
    );
}
