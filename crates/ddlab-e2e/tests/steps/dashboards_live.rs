//! Live steps about dashboards: the Timeboard and the APM + infrastructure dashboard created through the
//! API as the candidate's payloads say, their graphs' data, snapshots, and public links.

use std::time::Duration;

use cucumber::{then, when};
use ddlab_e2e::live::Live;
use ddlab_e2e::poll;
use reqwest::Method;
use serde_json::{Value, json};

use ddlab_e2e::dashboards::graph_queries;

use super::live::{ARRIVAL, EVERY, points, tagged_name};
use super::{Lab, fill_live};

/// A dashboard this scenario created: its id, and whether it went through the legacy `/api/v1/dash`.
#[derive(Debug, Clone)]
pub(crate) struct Created {
    pub id: String,
    pub legacy: bool,
    pub title: String,
}

/// Creates a dashboard from one of the solution's payloads, through the endpoint its shape calls for.
async fn create(live: &Live, payload: &Value) -> Created {
    let mut body = payload.clone();
    let legacy = body.get("graphs").is_some();
    let title = tagged_name(live, body["title"].as_str().unwrap_or("dashboard"));
    body["title"] = json!(title);
    if legacy {
        let answer = live
            .api
            .post("/api/v1/dash", &body)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let id = answer["dash"]["id"].to_string();
        Created { id, legacy, title }
    } else {
        let answer = live
            .api
            .post("/api/v1/dashboard", &body)
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let id = answer["id"].as_str().unwrap_or_default().to_owned();
        assert!(
            !id.is_empty(),
            "the dashboard API answered without an id: {answer}"
        );
        Created { id, legacy, title }
    }
}

#[when("the candidate's Timeboard is created through the API")]
async fn create_timeboard(lab: &mut Lab) {
    let payload = lab
        .solution()
        .timeboard
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no {}", ddlab_solution::layout::TIMEBOARD));
    let body = fill_live(lab, payload);
    lab.dashboard = Some(create(lab.live(), &body).await);
}

#[when("the candidate's APM and infrastructure dashboard is created through the API")]
async fn create_apm_dashboard(lab: &mut Lab) {
    let payload = lab
        .solution()
        .apm_dashboard
        .as_ref()
        .unwrap_or_else(|| panic!("the solution has no {}", ddlab_solution::layout::APM_DASHBOARD));
    let body = fill_live(lab, payload);
    lab.dashboard = Some(create(lab.live(), &body).await);
}

impl Lab {
    fn dashboard(&self) -> &Created {
        self.dashboard
            .as_ref()
            .unwrap_or_else(|| panic!("no dashboard was created by an earlier step"))
    }
}

/// The dashboard as the API gives it back.
async fn read_back(live: &Live, created: &Created) -> Value {
    if created.legacy {
        let answer = live
            .api
            .get(&format!("/api/v1/dash/{}", created.id), &[])
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        answer["dash"].clone()
    } else {
        live.api
            .get(&format!("/api/v1/dashboard/{}", created.id), &[])
            .await
            .unwrap_or_else(|err| panic!("{err}"))
    }
}

#[then("the dashboard list shows the Timeboard")]
async fn listed(lab: &mut Lab) {
    let live = lab.live();
    let wanted = lab.dashboard.as_ref().map(|d| d.title.clone());
    let list = live
        .api
        .get("/api/v1/dashboard", &[])
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let titles: Vec<&str> = list["dashboards"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["title"].as_str())
        .collect();
    match wanted {
        Some(title) => assert!(
            titles.contains(&title.as_str()),
            "the dashboard list has no {title:?}; it lists {} dashboards",
            titles.len()
        ),
        None => {
            let timeboard = lab
                .solution()
                .timeboard
                .as_ref()
                .and_then(|p| p.body["title"].as_str().map(str::to_owned))
                .unwrap_or_default();
            assert!(
                titles.iter().any(|t| t.starts_with(&timeboard)),
                "the dashboard list has no dashboard titled {timeboard:?} after the script ran; it lists {titles:?}"
            );
        }
    }
}

#[then(expr = "the Timeboard read back from the API has {int} graphs")]
async fn graph_count(lab: &mut Lab, expected: usize) {
    let dashboard = read_back(lab.live(), lab.dashboard()).await;
    let graphs = graph_queries(&dashboard);
    assert_eq!(
        graphs.len(),
        expected,
        "the Timeboard has {} graphs with queries: {:?}",
        graphs.len(),
        graphs.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
}

#[then("every graph of the Timeboard returns data over the past 5 minutes")]
async fn graphs_have_data(lab: &mut Lab) {
    let live = lab.live();
    let dashboard = read_back(live, lab.dashboard()).await;
    for (title, queries) in graph_queries(&dashboard) {
        for query in queries {
            poll::until(&format!("graph {title:?}: {query}"), ARRIVAL, EVERY, || async {
                let now = live.now().await.map_err(|err| err.to_string())?;
                let found = points(live, &query, now - 300, now).await?;
                if found.is_empty() {
                    Err("no points over the past 5 minutes".to_owned())
                } else {
                    Ok(Some(()))
                }
            })
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        }
    }
}

#[then("the anomaly graph returns the metric with its upper and lower bounds")]
async fn anomaly_band(lab: &mut Lab) {
    let live = lab.live();
    let dashboard = read_back(live, lab.dashboard()).await;
    let query = graph_queries(&dashboard)
        .into_iter()
        .flat_map(|(_, q)| q)
        .find(|q| q.contains("anomalies("))
        .unwrap_or_else(|| panic!("no graph of the Timeboard applies anomalies()"));
    poll::until(&format!("the band of {query}"), ARRIVAL, EVERY, || async {
        let now = live.now().await.map_err(|err| err.to_string())?;
        let body = live
            .api
            .get(
                "/api/v1/query",
                &[
                    ("from", &(now - 3600).to_string()),
                    ("to", &now.to_string()),
                    ("query", &query),
                ],
            )
            .await
            .map_err(|err| err.to_string())?;
        let names: Vec<&str> = body["series"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["pointlist"].as_array().is_some_and(|p| !p.is_empty()))
            .filter_map(|s| s["display_name"].as_str())
            .collect();
        let band = names.iter().any(|n| n.ends_with(" lower")) && names.iter().any(|n| n.ends_with(" upper"));
        if band && names.len() >= 3 {
            Ok(Some(()))
        } else {
            Err(format!("series {names:?}"))
        }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}"));
}

#[when("a snapshot is taken of the Timeboard's first graph over the past hour")]
async fn snapshot(lab: &mut Lab) {
    let live = lab.live();
    let dashboard = read_back(live, lab.dashboard()).await;
    let (title, queries) = graph_queries(&dashboard)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the Timeboard has no graph with a query"));
    let now = live.now().await.unwrap_or_else(|err| panic!("{err}"));
    let answer = live
        .api
        .get(
            "/api/v1/graph/snapshot",
            &[
                ("metric_query", &queries[0]),
                ("start", &(now - 3600).to_string()),
                ("end", &now.to_string()),
                ("title", &title),
            ],
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let url = answer["snapshot_url"]
        .as_str()
        .unwrap_or_else(|| panic!("the snapshot API answered without a snapshot_url: {answer}"));
    lab.snapshot_url = Some(url.to_owned());
}

#[when("an event with the snapshot and an @-mention of the candidate is posted")]
async fn snapshot_event(lab: &mut Lab) {
    let live = lab.live();
    let url = lab
        .snapshot_url
        .clone()
        .unwrap_or_else(|| panic!("no snapshot was taken"));
    let title = tagged_name(live, "Snapshot of my_metric");
    let body = json!({
        "title": title,
        "text": format!("Here is the graph: {url} @{}", live.email),
        "tags": ["exercise:ddlab"],
    });
    live.api
        .post("/api/v1/events", &body)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    lab.event_title = Some(title);
}

#[then("the candidate receives an e-mail with the snapshot's link")]
async fn snapshot_mail(lab: &mut Lab) {
    let url = lab.snapshot_url.clone().unwrap_or_default();
    let title = lab.event_title.clone().unwrap_or_default();
    let mail = super::mail::wait_for_mail(lab.live(), |m| m.subject.contains(&title)).await;
    assert!(
        mail.body.contains(&url),
        "the e-mail {:?} does not carry the snapshot link {url}:\n{}",
        mail.subject,
        mail.body
    );
}

#[then("the snapshot's link opens a PNG image without keys")]
async fn snapshot_png(lab: &mut Lab) {
    let live = lab.live();
    let url = lab.snapshot_url.clone().unwrap_or_default();
    let png = poll::until(
        "the snapshot PNG",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async {
            let answer = live
                .api
                .send(Method::GET, &url, &[], None, false)
                .await
                .map_err(|err| err.to_string())?;
            if answer.status.is_success() {
                Ok(Some(answer))
            } else {
                Err(format!("{} {}", answer.status, answer.text()))
            }
        },
    )
    .await
    .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        png.body.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{url} is not a PNG image (content type {:?})",
        png.content_type
    );
}

#[then("the dashboard's APM widgets and its infrastructure widgets both return data")]
async fn apm_and_infra(lab: &mut Lab) {
    let live = lab.live();
    let dashboard = read_back(live, lab.dashboard()).await;
    let queries: Vec<String> = graph_queries(&dashboard)
        .into_iter()
        .flat_map(|(_, q)| q)
        .collect();
    let (apm, infra): (Vec<&String>, Vec<&String>) = queries.iter().partition(|q| q.contains("trace."));
    assert!(
        !apm.is_empty(),
        "no widget of the dashboard queries a trace.* metric"
    );
    assert!(
        !infra.is_empty(),
        "no widget of the dashboard queries a host or database metric"
    );
    for group in [apm, infra] {
        poll::until(&format!("data for one of {group:?}"), ARRIVAL, EVERY, || async {
            let now = live.now().await.map_err(|err| err.to_string())?;
            for query in &group {
                if !points(live, query, now - 900, now).await?.is_empty() {
                    return Ok(Some(()));
                }
            }
            Err("no points over the past 15 minutes".to_owned())
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    }
}

#[then("a public link to the dashboard opens without keys")]
async fn public_link(lab: &mut Lab) {
    let live = lab.live();
    let created = lab.dashboard().clone();
    let id = if created.legacy {
        read_back(live, &created).await["new_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        created.id.clone()
    };
    let share = live
        .api
        .post(
            "/api/v1/dashboard/public",
            &json!({
                "dashboard_id": id,
                "dashboard_type": "custom_timeboard",
                "share_type": "open",
                "global_time": {"live_span": "1h"},
            }),
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let url = share["public_url"]
        .as_str()
        .unwrap_or_else(|| panic!("the share answered without a public_url: {share}"));
    let page = live
        .api
        .send(Method::GET, url, &[], None, false)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        page.status.is_success(),
        "{url} answered {} without keys",
        page.status
    );
    let html = page.text();
    assert!(
        html.contains(&format!("e2e {}", live.run)),
        "the public page {url} does not show the dashboard's title {:?}",
        created.title
    );
    let private = live
        .api
        .send(Method::GET, &format!("/api/v1/dashboard/{id}"), &[], None, false)
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(
        private.status == reqwest::StatusCode::FORBIDDEN
            || private.status == reqwest::StatusCode::UNAUTHORIZED,
        "the dashboard's API answered {} without keys",
        private.status
    );
}
