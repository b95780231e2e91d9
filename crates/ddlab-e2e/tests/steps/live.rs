//! The running lab (or organisation) the live scenarios talk to, and the API reads they share.

use std::sync::Arc;
use std::time::Duration;

use cucumber::given;
use ddlab_e2e::live::Live;
use ddlab_e2e::poll;
use serde_json::Value;

use super::Lab;

/// How long a live step waits for data to appear (the agent flushes every 15 s; checks run every 15 to
/// 45 s; the first run of a check needs a little longer).
pub(crate) const ARRIVAL: Duration = Duration::from_secs(150);
/// How often a live step asks again.
pub(crate) const EVERY: Duration = Duration::from_secs(2);

#[given("the lab runs the candidate's solution")]
async fn the_lab(lab: &mut Lab) {
    lab.solution();
    let live = crate::live().await.unwrap_or_else(|err| panic!("{err}"));
    lab.live = Some(live);
}

impl Lab {
    /// The system under test; a `Given the lab runs …` step must come first.
    pub(crate) fn live(&self) -> &Arc<Live> {
        self.live
            .as_ref()
            .unwrap_or_else(|| panic!("no `Given the lab runs the candidate's solution` step ran"))
    }
}

/// The points of `query` between `from` and `to` (epoch seconds), all series together, as (seconds, value).
pub(crate) async fn points(live: &Live, query: &str, from: i64, to: i64) -> Result<Vec<(i64, f64)>, String> {
    let body = live
        .api
        .get(
            "/api/v1/query",
            &[
                ("from", &from.to_string()),
                ("to", &to.to_string()),
                ("query", query),
            ],
        )
        .await
        .map_err(|err| err.to_string())?;
    let mut out = Vec::new();
    for series in body["series"].as_array().into_iter().flatten() {
        for point in series["pointlist"].as_array().into_iter().flatten() {
            if let (Some(ms), Some(value)) = (point[0].as_f64(), point[1].as_f64()) {
                out.push(((ms / 1000.0) as i64, value));
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    Ok(out)
}

/// Waits until `query` has at least `at_least` points in the last `window` seconds.
pub(crate) async fn wait_for_points(
    live: &Live,
    query: &str,
    window: i64,
    at_least: usize,
    limit: Duration,
) -> Vec<(i64, f64)> {
    poll::until(
        &format!("{query} has {at_least} point(s)"),
        limit,
        EVERY,
        || async {
            let now = live.now().await.map_err(|err| err.to_string())?;
            let found = points(live, query, now - window, now).await?;
            if found.len() >= at_least {
                Ok(Some(found))
            } else {
                Err(format!("{} point(s) in the last {window} s", found.len()))
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"))
}

/// The metric names the host reported in the last `window` seconds.
pub(crate) async fn host_metrics(live: &Live, window: i64) -> Result<Vec<String>, String> {
    let now = live.now().await.map_err(|err| err.to_string())?;
    let body = live
        .api
        .get(
            "/api/v1/metrics",
            &[("from", &(now - window).to_string()), ("host", &live.host)],
        )
        .await
        .map_err(|err| err.to_string())?;
    Ok(body["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect())
}

/// Adds this run's id to a name, so what a run creates is told apart from earlier runs'.
pub(crate) fn tagged_name(live: &Live, name: &str) -> String {
    format!("{name} [e2e {}]", live.run)
}
