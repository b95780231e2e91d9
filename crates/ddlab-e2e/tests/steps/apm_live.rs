//! Live steps about APM: requests to the candidate's app, their spans in the backend, the service and
//! resources they make, and the trace metrics computed from them.

use std::collections::BTreeSet;
use std::time::Duration;

use cucumber::{then, when};
use ddlab_e2e::live::Live;
use ddlab_e2e::poll;
use serde_json::{Value, json};

use super::Lab;
use super::live::{ARRIVAL, EVERY, points};

/// Requests a scenario made, told apart from the traffic generator's by a query-string marker.
#[derive(Debug, Clone)]
pub(crate) struct Requests {
    pub marker: String,
    pub routes: Vec<String>,
    pub each: usize,
    /// When the first request went out (the backend's clock), seconds.
    pub since: i64,
    /// What the spans said, once they arrived: the service and the resources.
    pub service: Option<String>,
    pub operation: Option<String>,
}

#[when(expr = "each of the app's routes {string}, {string} and {string} is requested {int} times")]
async fn request(lab: &mut Lab, a: String, b: String, c: String, each: usize) {
    let live = lab.live().clone();
    let app = live.lab("the candidate's app").app_url.clone();
    let marker = format!("e2e-{}-{}", live.run, super::sequence());
    let since = live.now().await.unwrap_or_else(|err| panic!("{err}"));
    let http = reqwest::Client::new();
    let routes = vec![a, b, c];
    for route in &routes {
        for _ in 0..each {
            let url = format!("{app}{route}?ddlab={marker}");
            let response = http
                .get(&url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap_or_else(|err| panic!("GET {url}: {err}"));
            assert!(
                response.status().is_success(),
                "GET {url} answered {}",
                response.status()
            );
        }
    }
    lab.requests = Some(Requests {
        marker,
        routes,
        each,
        since,
        service: None,
        operation: None,
    });
}

/// The root spans carrying `marker` in their URL, once there are `expected` of them.
async fn marked_spans(live: &Live, requests: &Requests) -> Vec<Value> {
    let expected = requests.each * requests.routes.len();
    poll::until(
        &format!("{expected} spans of the requests marked {}", requests.marker),
        ARRIVAL,
        EVERY,
        || async {
            let body = json!({"data": {"type": "search_request", "attributes": {
                "filter": {
                    "query": format!("@http.url:*{}*", requests.marker),
                    "from": ((requests.since - 60) * 1000).to_string(),
                    "to": "now",
                },
                "page": {"limit": 1000},
            }}});
            let answer = live
                .api
                .post("/api/v2/spans/events/search", &body)
                .await
                .map_err(|err| err.to_string())?;
            let roots: Vec<Value> = answer["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["attributes"]["parent_id"].as_str() == Some("0"))
                .cloned()
                .collect();
            if roots.len() >= expected {
                Ok(Some(roots))
            } else {
                Err(format!("{} root spans so far", roots.len()))
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"))
}

fn requests(lab: &Lab) -> Requests {
    lab.requests
        .clone()
        .unwrap_or_else(|| panic!("no requests were made to the app by an earlier step"))
}

#[then("the spans of those requests reach the backend under one service")]
async fn one_service(lab: &mut Lab) {
    let mut made = requests(lab);
    let spans = marked_spans(lab.live(), &made).await;
    let expected = made.each * made.routes.len();
    assert_eq!(
        spans.len(),
        expected,
        "{expected} requests were made, but {} root spans carry their marker: is the app instrumented twice (ddtrace-run and the middleware)?",
        spans.len()
    );
    let services: BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| s["attributes"]["service"].as_str())
        .collect();
    assert_eq!(
        services.len(),
        1,
        "the requests' spans belong to the services {services:?}"
    );
    made.service = services.first().map(|s| (*s).to_owned());
    made.operation = spans[0]["attributes"]["operation_name"]
        .as_str()
        .map(str::to_owned);
    lab.requests = Some(made);
}

#[then(expr = "that service has the resources {string}, {string} and {string}")]
async fn resources(lab: &mut Lab, a: String, b: String, c: String) {
    let made = requests(lab);
    let spans = marked_spans(lab.live(), &made).await;
    let found: BTreeSet<&str> = spans
        .iter()
        .filter_map(|s| s["attributes"]["resource_name"].as_str())
        .collect();
    let wanted: BTreeSet<&str> = [a.as_str(), b.as_str(), c.as_str()].into();
    assert_eq!(found, wanted, "the requests' spans have the resources {found:?}");
    for resource in &wanted {
        let count = spans
            .iter()
            .filter(|s| s["attributes"]["resource_name"].as_str() == Some(resource))
            .count();
        assert_eq!(
            count, made.each,
            "{count} spans of {resource}, {} requests were made",
            made.each
        );
    }
}

#[then(expr = "the service's {string} trace metric counts every one of those requests")]
async fn trace_metric(lab: &mut Lab, suffix: String) {
    let live = lab.live().clone();
    let mut made = requests(lab);
    if made.service.is_none() {
        one_service(lab).await;
        made = requests(lab);
    }
    let service = made.service.clone().unwrap_or_default();
    // `trace.<operation>.<suffix>`: the operation is the root span's name (`flask.request`).
    let operation = made.operation.clone().unwrap_or_default();
    let metric = format!("trace.{operation}.{suffix}");
    let expected = (made.each * made.routes.len()) as f64;
    let query = format!("sum:{metric}{{service:{service}}}.as_count()");
    poll::until(&format!("{query} ≥ {expected}"), ARRIVAL, EVERY, || async {
        let now = live.now().await.map_err(|err| err.to_string())?;
        let found = points(&live, &query, made.since - 20, now).await?;
        let total: f64 = found.iter().map(|(_, v)| v).sum();
        if total >= expected {
            Ok(Some(()))
        } else {
            Err(format!("{total} hits since the requests began"))
        }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}
