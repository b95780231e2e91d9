//! In-process tests of the dashboard routes: the real router over a temp-folder store, with the bodies
//! candidates send (the reference solution's fixtures, the exercise's seed-style body, legacy boards).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{AppState, Config, Keys, NotificationConfig, Secret};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// 2030-01-02 12:00 UTC.
const T0: i64 = 1_893_585_600;

struct Lab {
    _dir: tempfile::TempDir,
    state: AppState,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        state_dir: dir.path().join("state"),
        listen: "127.0.0.1:0".parse().unwrap(),
        test_mode: true,
        keys: Some(Keys {
            api_key: Secret::new(API),
            app_key: Secret::new(APP),
        }),
        public_url: Some("http://lab.test".to_owned()),
        notifications: NotificationConfig::default(),
    };
    let state = AppState::open(&config).unwrap();
    state.clock.set(T0);
    Lab { _dir: dir, state }
}

impl Lab {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        app_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("DD-API-KEY", API)
            .header("content-type", "application/json");
        if let Some(app) = app_key {
            request = request.header("DD-APPLICATION-KEY", app);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = crate::http::router(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (status, value)
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(method, uri, body, Some(APP)).await
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }

    /// The status and the one error message of a refused request.
    async fn error(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, String) {
        let (status, value) = self.call(method, uri, body).await;
        assert!(!status.is_success(), "{method} {uri} succeeded: {value}");
        let errors = value["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {value}"));
        assert_eq!(errors.len(), 1, "{value}");
        (status, errors[0].as_str().unwrap().to_owned())
    }
}

/// A fixture of the reference solution with its placeholders filled as the solution's tooling fills them.
fn fixture(text: &str) -> Value {
    serde_json::from_str(&text.replace("$HOST", "lab")).unwrap()
}

fn timeboard() -> Value {
    fixture(include_str!(
        "../../../../../fixtures/solution/api/timeboard.json"
    ))
}

/// Epoch seconds of a `2030-01-02T12:00:00.001000+00:00` timestamp (the test clock moves with real time).
fn epoch(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(text.ends_with("+00:00") && text.len() == 32, "{text}");
    text.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn is_dashboard_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| p.len() == 3 && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
}

#[tokio::test]
async fn the_reference_timeboard_is_created_in_datadogs_shape() {
    let lab = lab();
    let sent = timeboard();
    let created = lab.ok("POST", "/api/v1/dashboard", Some(sent.clone())).await;
    let id = created["id"].as_str().unwrap();
    assert!(is_dashboard_id(id), "{id}");
    assert_eq!(
        created["url"],
        format!("/dashboard/{id}/mymetric-timeboard-ddlab-reference")
    );
    assert_eq!(created["title"], sent["title"]);
    assert_eq!(created["description"], sent["description"]);
    assert_eq!(created["layout_type"], "ordered");
    assert_eq!(created["is_read_only"], false);
    assert_eq!(created["author_handle"], crate::http::CREATOR_HANDLE);
    assert_eq!(created["template_variables"], Value::Null);
    assert_eq!(created["notify_list"], Value::Null);
    assert_eq!(created["restricted_roles"], json!([]));
    assert!((T0..T0 + 5).contains(&epoch(&created["created_at"])), "{created}");
    assert_eq!(created["modified_at"], created["created_at"]);
    assert!(created.get("errors").is_none());
    let widgets = created["widgets"].as_array().unwrap();
    assert_eq!(widgets.len(), 3);
    for (widget, sent) in widgets.iter().zip(sent["widgets"].as_array().unwrap()) {
        // Definitions come back verbatim, each widget with a positive integer id.
        assert_eq!(widget["definition"], sent["definition"]);
        assert!(widget["id"].as_i64().unwrap() > 0, "{widget}");
    }
    assert_eq!(
        widgets[2]["definition"]["requests"][0]["q"],
        "avg:my_metric{host:lab}.rollup(sum, 3600)"
    );

    // The same JSON from GET, and from the store function the web UI renders.
    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/{id}"), None).await,
        created
    );
    let key = id.to_owned();
    let stored = lab.state.store.dashboard_json(&key).unwrap();
    assert_eq!(stored.as_ref(), Some(&created));

    let listed = lab.ok("GET", "/api/v1/dashboard", None).await;
    assert_eq!(
        listed,
        json!({"dashboards": [{
            "id": id, "title": sent["title"], "description": sent["description"],
            "author_handle": crate::http::CREATOR_HANDLE, "created_at": created["created_at"],
            "modified_at": created["modified_at"], "url": created["url"], "layout_type": "ordered",
            "is_read_only": false
        }]})
    );
}

#[tokio::test]
async fn the_apm_dashboard_and_unknown_widget_types_are_kept() {
    let lab = lab();
    let apm = fixture(include_str!(
        "../../../../../fixtures/solution/api/apm-infra-dashboard.json"
    ));
    let created = lab.ok("POST", "/api/v1/dashboard", Some(apm.clone())).await;
    assert_eq!(
        created["widgets"][0]["definition"],
        apm["widgets"][0]["definition"]
    );
    assert_eq!(created["widgets"][3]["definition"]["type"], "query_value");

    let odd = json!({"type": "sparkle_chart", "colours": ["#fff"], "requests": "anything"});
    let body = json!({"title": "Odd", "layout_type": "ordered", "widgets": [{"definition": odd.clone()},
        {"definition": {"type": "group", "layout_type": "ordered", "title": "g", "widgets": [
            {"definition": {"type": "note", "content": "inside"}}, {"definition": odd.clone()}]}}]});
    let created = lab.ok("POST", "/api/v1/dashboard", Some(body)).await;
    assert_eq!(created["widgets"][0]["definition"], odd);
    let nested = created["widgets"][1]["definition"]["widgets"].as_array().unwrap();
    assert_eq!(nested[1]["definition"], odd);
    let ids: Vec<i64> = [
        &created["widgets"][0]["id"],
        &created["widgets"][1]["id"],
        &nested[0]["id"],
        &nested[1]["id"],
    ]
    .iter()
    .map(|v| v.as_i64().unwrap())
    .collect();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "{ids:?}");
}

#[tokio::test]
async fn the_seed_style_body_with_template_variables() {
    let lab = lab();
    // The exercise's seed-style body (reference/exercise.md §E): `is_read_only` and a template variable with
    // the deprecated `default`, referenced as `$host1` in the query.
    let mut body = json!({
        "title": "Seed board", "description": "seed", "layout_type": "ordered", "is_read_only": false,
        "template_variables": [{"name": "host1", "prefix": "host", "default": "precise64"}],
        "widgets": [{"definition": {"type": "timeseries", "title": "m",
            "requests": [{"q": "avg:my_metric{$host1}"}, {"q": "avg:my_metric{host:$host1.value}"}]}}]
    });
    let created = lab.ok("POST", "/api/v1/dashboard", Some(body.clone())).await;
    assert_eq!(created["is_read_only"], false);
    assert_eq!(created["template_variables"], body["template_variables"]);
    // `is_read_only: true` is refused as Datadog refuses it since the attribute's deprecation.
    body["is_read_only"] = json!(true);
    assert_eq!(
        lab.error("POST", "/api/v1/dashboard", Some(body)).await,
        (
            StatusCode::BAD_REQUEST,
            super::validate::READ_ONLY_DEPRECATED.to_owned()
        )
    );
}

#[tokio::test]
async fn validation_errors_name_the_widget_and_field() {
    let lab = lab();
    let mut bad_query = timeboard();
    bad_query["widgets"][1]["definition"]["requests"][0]["q"] =
        json!("anomalies(avg:mysql.performance.cpu_time{host:lab}, basic, 2)");
    let cases = [
        (
            json!({"layout_type": "ordered", "widgets": []}),
            "'title' is a required property",
        ),
        (
            json!({"title": "t", "layout_type": "free", "widgets": [{"definition": {"type": "note", "content": "x"}}]}),
            "Invalid widget at position 0. Error: 'layout' is a required property",
        ),
        (
            bad_query,
            "Invalid query in widget at position 1. Error: unable to parse anomalies(avg:mysql.performance.cpu_time{host:lab}, basic, 2): Rule 'scope_expr' didn't match at ', 2)' (line 1, column 58).",
        ),
        (
            json!({"title": "t", "layout_type": "ordered", "widgets": [], "template_variables": "env"}),
            "'template_variables' is invalid",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            lab.error("POST", "/api/v1/dashboard", Some(body)).await,
            (StatusCode::BAD_REQUEST, expected.to_owned())
        );
    }
    let (status, message) = lab.error("POST", "/api/v1/dashboard", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.starts_with("Invalid JSON in the request body"),
        "{message}"
    );
    // Both keys are needed.
    let (status, body) = lab.send("GET", "/api/v1/dashboard", None, None).await;
    assert_eq!(
        (status, body),
        (StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]}))
    );
}

#[tokio::test]
async fn put_replaces_the_whole_dashboard_and_keeps_its_identity() {
    let lab = lab();
    let created = lab.ok("POST", "/api/v1/dashboard", Some(timeboard())).await;
    let id = created["id"].as_str().unwrap();
    let kept_widget = created["widgets"][0].clone();
    lab.state.clock.set(T0 + 60);
    let replacement = json!({
        "title": "Renamed_Board 2", "layout_type": "ordered", "reflow_type": "auto", "tags": ["team:se"],
        "widgets": [kept_widget.clone(), {"definition": {"type": "note", "content": "new"}}]
    });
    let updated = lab
        .ok("PUT", &format!("/api/v1/dashboard/{id}"), Some(replacement))
        .await;
    assert_eq!(updated["id"], id);
    assert_eq!(updated["url"], format!("/dashboard/{id}/renamedboard-2"));
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(
        (T0 + 60..T0 + 65).contains(&epoch(&updated["modified_at"])),
        "{updated}"
    );
    // Full replacement: the description is gone, the widget list is what was sent, ids kept where sent.
    assert_eq!(updated["description"], Value::Null);
    assert_eq!(updated["widgets"].as_array().unwrap().len(), 2);
    assert_eq!(updated["widgets"][0], kept_widget);
    assert_eq!(updated["reflow_type"], "auto");
    assert_eq!(updated["tags"], json!(["team:se"]));
    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/{id}"), None).await,
        updated
    );

    let free = json!({"title": "x", "layout_type": "free", "widgets": []});
    assert_eq!(
        lab.error("PUT", &format!("/api/v1/dashboard/{id}"), Some(free))
            .await,
        (
            StatusCode::BAD_REQUEST,
            "'layout_type' cannot be changed (from 'ordered' to 'free'): create a new dashboard instead"
                .to_owned()
        )
    );
    assert_eq!(
        lab.error("PUT", "/api/v1/dashboard/abc-def-ghi", Some(timeboard()))
            .await,
        (
            StatusCode::NOT_FOUND,
            "Dashboard with ID abc-def-ghi not found".to_owned()
        )
    );
}

#[tokio::test]
async fn delete_then_404_and_bulk_delete_and_restore() {
    let lab = lab();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = lab.ok("POST", "/api/v1/dashboard", Some(timeboard())).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        lab.ok("DELETE", &format!("/api/v1/dashboard/{}", ids[0]), None)
            .await,
        json!({"deleted_dashboard_id": ids[0]})
    );
    let gone = (
        StatusCode::NOT_FOUND,
        format!("Dashboard with ID {} not found", ids[0]),
    );
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dashboard/{}", ids[0]), None)
            .await,
        gone
    );
    assert_eq!(
        lab.error("DELETE", &format!("/api/v1/dashboard/{}", ids[0]), None)
            .await,
        gone
    );

    let bulk = |ids: &[&String]| json!({"data": ids.iter().map(|id| json!({"id": id, "type": "dashboard"})).collect::<Vec<_>>()});
    // All or nothing: one deleted id among live ones refuses the whole batch.
    let (status, message) = lab
        .error("DELETE", "/api/v1/dashboard", Some(bulk(&[&ids[1], &ids[0]])))
        .await;
    assert_eq!((status, message), gone);
    assert_eq!(
        lab.call("DELETE", "/api/v1/dashboard", Some(bulk(&[&ids[1], &ids[2]])))
            .await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        lab.ok("GET", "/api/v1/dashboard", None).await,
        json!({"dashboards": []})
    );
    let deleted = lab
        .ok(
            "GET",
            "/api/v1/dashboard?filter[deleted]=true&count=2&start=1",
            None,
        )
        .await;
    let listed: Vec<&str> = deleted["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[1].as_str(), ids[2].as_str()]);

    assert_eq!(
        lab.call("PATCH", "/api/v1/dashboard", Some(bulk(&[&ids[0], &ids[2]])))
            .await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/{}", ids[0]), None)
            .await["id"],
        ids[0]
    );
    assert_eq!(
        lab.ok("GET", "/api/v1/dashboard", None).await["dashboards"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        lab.error(
            "DELETE",
            "/api/v1/dashboard",
            Some(json!({"data": [{"id": ids[0], "type": "dash"}]}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            "data[0]: 'type' must be 'dashboard'".to_owned()
        )
    );
}

#[tokio::test]
async fn legacy_timeboards_share_the_store_and_echo_their_shape() {
    let lab = lab();
    let graphs = json!([
        {"title": "my_metric", "definition": {"viz": "timeseries", "requests": [{"q": "avg:my_metric{host:lab}", "type": "line"}], "events": []}},
        {"title": "rollup", "definition": {"viz": "timeseries", "requests": [{"q": "avg:my_metric{host:lab}.rollup(sum, 3600)", "type": "bars"}]}}
    ]);
    let body = json!({"title": "Legacy board", "description": "d", "graphs": graphs, "template_variables": [], "read_only": false});
    let created = lab.ok("POST", "/api/v1/dash", Some(body)).await;
    let dash = &created["dash"];
    let legacy_id = dash["id"].as_i64().unwrap();
    let new_id = dash["new_id"].as_str().unwrap();
    assert!(is_dashboard_id(new_id));
    assert_eq!(dash["graphs"], graphs);
    assert_eq!(dash["template_variables"], Value::Null);
    assert_eq!(dash["read_only"], false);
    assert_eq!(dash["created_by"]["handle"], crate::http::CREATOR_HANDLE);
    assert_eq!(created["url"], format!("/dash/{legacy_id}/legacy-board"));
    assert_eq!(created["resource"], format!("/api/v1/dash/{legacy_id}"));

    // The same board through the v1 API, by either id, with the graphs as widget definitions.
    let v1 = lab.ok("GET", &format!("/api/v1/dashboard/{new_id}"), None).await;
    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/{legacy_id}"), None)
            .await,
        v1
    );
    assert_eq!(v1["layout_type"], "ordered");
    assert_eq!(
        v1["widgets"][1]["definition"],
        json!({"type": "timeseries", "title": "rollup", "requests": [{"q": "avg:my_metric{host:lab}.rollup(sum, 3600)", "display_type": "bars"}]})
    );
    let listed = lab.ok("GET", "/api/v1/dash", None).await;
    assert_eq!(listed["dashes"][0]["id"], legacy_id.to_string());
    assert_eq!(
        listed["dashes"][0]["resource"],
        format!("/api/v1/dash/{legacy_id}")
    );

    // A legacy PUT replaces; a v1 PUT is then answered in the legacy shape by the reverse conversion.
    let replaced = lab
        .ok(
            "PUT",
            &format!("/api/v1/dash/{legacy_id}"),
            Some(json!({"title": "Legacy 2", "graphs": [graphs[0].clone()]})),
        )
        .await;
    assert_eq!(replaced["dash"]["graphs"], json!([graphs[0].clone()]));
    assert_eq!(replaced["dash"]["description"], Value::Null);
    let v1_body = json!({"title": "From v1", "layout_type": "ordered", "widgets": [{"definition":
        {"type": "timeseries", "title": "t", "requests": [{"q": "avg:m{*}", "display_type": "area"}]}}]});
    lab.ok("PUT", &format!("/api/v1/dashboard/{new_id}"), Some(v1_body))
        .await;
    let read = lab.ok("GET", &format!("/api/v1/dash/{legacy_id}"), None).await;
    assert_eq!(
        read["dash"]["graphs"],
        json!([{"title": "t", "definition": {"viz": "timeseries", "requests": [{"q": "avg:m{*}", "type": "area"}]}}])
    );

    let bad = json!({"title": "x", "graphs": [{"title": "g", "definition": {"viz": "timeseries", "requests": [{"q": "avg:m{"}]}}]});
    let (status, message) = lab.error("POST", "/api/v1/dash", Some(bad)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.starts_with("Invalid query in graph at position 0. Error: unable to parse avg:m{"),
        "{message}"
    );

    assert_eq!(
        lab.call("DELETE", &format!("/api/v1/dash/{legacy_id}"), None)
            .await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dashboard/{legacy_id}"), None)
            .await,
        (
            StatusCode::NOT_FOUND,
            format!("Dashboard with ID {legacy_id} not found")
        )
    );
}

#[tokio::test]
async fn legacy_screenboards_share_and_revoke() {
    let lab = lab();
    let widgets = json!([
        {"type": "timeseries", "x": 1, "y": 1, "width": 40, "height": 15, "tile_def": {"viz": "timeseries", "requests": [{"q": "avg:m{*}"}]}},
        {"type": "note", "x": 42, "y": 1, "width": 20, "height": 10, "text": "hello"}
    ]);
    let body = json!({"board_title": "Screen", "width": 1024, "height": 768, "widgets": widgets});
    let created = lab.ok("POST", "/api/v1/screen", Some(body)).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["board_title"], "Screen");
    assert_eq!(created["widgets"], widgets);
    assert_eq!(
        (created["width"].clone(), created["height"].clone()),
        (json!(1024), json!(768))
    );
    assert!(created.get("created_by").is_none());
    let read = lab.ok("GET", &format!("/api/v1/screen/{id}"), None).await;
    assert_eq!(read["created_by"]["handle"], crate::http::CREATOR_HANDLE);
    let new_id = created["new_id"].as_str().unwrap();
    let v1 = lab.ok("GET", &format!("/api/v1/dashboard/{new_id}"), None).await;
    assert_eq!(v1["layout_type"], "free");
    assert_eq!(
        v1["widgets"][1]["layout"],
        json!({"x": 42, "y": 1, "width": 20, "height": 10})
    );
    assert_eq!(
        v1["widgets"][1]["definition"],
        json!({"type": "note", "content": "hello"})
    );
    assert_eq!(
        lab.ok("GET", "/api/v1/screen", None).await["screenboards"][0]["id"],
        id
    );
    // A screenboard is not a timeboard.
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dash/{id}"), None).await.0,
        StatusCode::NOT_FOUND
    );

    let shared = lab
        .ok("POST", &format!("/api/v1/screen/share/{id}"), Some(json!({})))
        .await;
    assert_eq!(shared["board_id"], id);
    let url = shared["public_url"].as_str().unwrap();
    let token = url.strip_prefix("http://lab.test/sb/").unwrap();
    let again = lab
        .ok("POST", &format!("/api/v1/screen/share/{id}"), Some(json!({})))
        .await;
    assert_eq!(again["public_url"], url);
    let (share, dashboard) = lab.state.store.shared_dashboard(token).unwrap().unwrap();
    assert_eq!(
        (share.dashboard_id.as_str(), dashboard["title"].as_str()),
        (new_id, Some("Screen"))
    );
    assert_eq!(
        lab.ok("GET", "/api/v1/dashboard?filter[shared]=true", None).await["dashboards"][0]["id"],
        new_id
    );
    assert_eq!(
        lab.call("DELETE", &format!("/api/v1/screen/share/{id}"), None)
            .await,
        (StatusCode::OK, Value::Null)
    );
    assert_eq!(lab.state.store.shared_dashboard(token).unwrap(), None);
    assert_eq!(
        lab.call("DELETE", &format!("/api/v1/screen/{id}"), None).await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        lab.ok("GET", "/api/v1/screen", None).await,
        json!({"screenboards": []})
    );
}

#[tokio::test]
async fn shared_dashboards_with_tokens_invitations_and_revocation() {
    let lab = lab();
    let created = lab.ok("POST", "/api/v1/dashboard", Some(timeboard())).await;
    let id = created["id"].as_str().unwrap();
    let request = json!({"dashboard_id": id, "dashboard_type": "custom_timeboard", "share_type": "open",
        "global_time": {"live_span": "1h"}});
    let share = lab
        .ok("POST", "/api/v1/dashboard/public", Some(request.clone()))
        .await;
    let token = share["token"].as_str().unwrap().to_owned();
    let (head, tail) = token.split_once('-').unwrap();
    assert_eq!(head.len(), 16);
    assert!(head.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_eq!(tail.len(), 32);
    assert!(tail.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(share["public_url"], format!("http://lab.test/sb/{token}"));
    assert_eq!(share["title"], created["title"]);
    assert_eq!(share["status"], "active");
    assert_eq!(share["global_time"], json!({"live_span": "1h"}));
    assert_eq!(share["author"]["handle"], crate::http::CREATOR_HANDLE);
    let second = lab.ok("POST", "/api/v1/dashboard/public", Some(request)).await;
    assert_ne!(second["token"], share["token"]);

    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/public/{token}"), None)
            .await,
        share
    );
    let updated = lab
        .ok("PUT", &format!("/api/v1/dashboard/public/{token}"),
            Some(json!({"global_time": {"live_span": "4h"}, "share_type": "invite", "share_list": ["a@example.com"]})))
        .await;
    assert_eq!(updated["global_time"], json!({"live_span": "4h"}));
    assert_eq!(updated["share_list"], json!(["a@example.com"]));
    assert_eq!(updated["invitees"][0]["email"], "a@example.com");

    let invite =
        json!({"data": [{"type": "public_dashboard_invitation", "attributes": {"email": "b@example.com"}}]});
    let sent = lab
        .ok(
            "POST",
            &format!("/api/v1/dashboard/public/{token}/invitation"),
            Some(invite.clone()),
        )
        .await;
    assert_eq!(sent["data"][0]["attributes"]["email"], "b@example.com");
    assert_eq!(sent["data"][0]["attributes"]["share_token"], token.as_str());
    let listed = lab
        .ok(
            "GET",
            &format!("/api/v1/dashboard/public/{token}/invitation"),
            None,
        )
        .await;
    assert_eq!(listed["meta"]["page"]["total_count"], 1);
    assert_eq!(
        lab.call(
            "DELETE",
            &format!("/api/v1/dashboard/public/{token}/invitation"),
            Some(invite)
        )
        .await,
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let after = lab
        .ok("GET", &format!("/api/v1/dashboard/public/{token}"), None)
        .await;
    assert_eq!(after["share_list"], json!(["a@example.com"]));

    let errors = [
        (
            json!({"dashboard_id": id, "dashboard_type": "custom_screenboard"}),
            (
                StatusCode::NOT_FOUND,
                format!("custom_screenboard {id} not found"),
            ),
        ),
        (
            json!({"dashboard_id": "abc-123-def", "dashboard_type": "custom_timeboard"}),
            (
                StatusCode::NOT_FOUND,
                "custom_timeboard abc-123-def not found".to_owned(),
            ),
        ),
        (
            json!({"dashboard_id": id, "dashboard_type": "custom_timeboard", "global_time": {"live_span": "5m"}}),
            (
                StatusCode::BAD_REQUEST,
                "'global_time.live_span' must be one of 15m, 1h, 4h, 1d, 2d, 1w, 1mo, 3mo, got \"5m\""
                    .to_owned(),
            ),
        ),
        (
            json!({"dashboard_id": id, "dashboard_type": "custom_timeboard", "share_type": "invite"}),
            (
                StatusCode::BAD_REQUEST,
                "'share_list' must name at least one e-mail address when share_type is 'invite'".to_owned(),
            ),
        ),
    ];
    for (body, expected) in errors {
        assert_eq!(
            lab.error("POST", "/api/v1/dashboard/public", Some(body)).await,
            expected
        );
    }

    assert_eq!(
        lab.ok("DELETE", &format!("/api/v1/dashboard/public/{token}"), None)
            .await,
        json!({"deleted_public_dashboard_token": token})
    );
    let gone = (
        StatusCode::NOT_FOUND,
        format!("Shared dashboard with token {token} not found"),
    );
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dashboard/public/{token}"), None)
            .await,
        gone
    );
    assert_eq!(lab.state.store.shared_dashboard(&token).unwrap(), None);
    // Deleting the dashboard takes its other link down with it.
    let other = second["token"].as_str().unwrap().to_owned();
    lab.ok("DELETE", &format!("/api/v1/dashboard/{id}"), None).await;
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dashboard/public/{other}"), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dashboard_lists_and_their_items() {
    let lab = lab();
    let board = lab.ok("POST", "/api/v1/dashboard", Some(timeboard())).await;
    let screen = lab
        .ok(
            "POST",
            "/api/v1/dashboard",
            Some(json!({"title": "S", "layout_type": "free", "widgets": []})),
        )
        .await;
    let list = lab
        .ok(
            "POST",
            "/api/v1/dashboard/lists/manual",
            Some(json!({"name": "Exercise"})),
        )
        .await;
    let id = list["id"].as_i64().unwrap();
    assert_eq!(list["name"], "Exercise");
    assert_eq!(list["type"], "manual_dashboard_list");
    assert_eq!(list["dashboard_count"], 0);
    assert_eq!(list["author"]["handle"], crate::http::CREATOR_HANDLE);

    let items_uri = format!("/api/v2/dashboard/lists/manual/{id}/dashboards");
    let add = json!({"dashboards": [{"id": board["id"], "type": "custom_timeboard"}, {"id": screen["id"], "type": "custom_screenboard"}]});
    assert_eq!(
        lab.ok("POST", &items_uri, Some(add.clone())).await,
        json!({"added_dashboards_to_list": add["dashboards"]})
    );
    let items = lab.ok("GET", &items_uri, None).await;
    assert_eq!(items["total"], 2);
    assert_eq!(items["dashboards"][0]["id"], board["id"]);
    assert_eq!(items["dashboards"][0]["url"], board["url"]);
    assert_eq!(items["dashboards"][1]["type"], "custom_screenboard");
    assert_eq!(
        lab.ok("GET", &format!("/api/v1/dashboard/lists/manual/{id}"), None)
            .await["dashboard_count"],
        2
    );

    let wrong_type = json!({"dashboards": [{"id": board["id"], "type": "custom_screenboard"}]});
    assert_eq!(
        lab.error("POST", &items_uri, Some(wrong_type)).await,
        (
            StatusCode::BAD_REQUEST,
            format!(
                "dashboards[0]: dashboard {} is a custom_timeboard, not a custom_screenboard",
                board["id"].as_str().unwrap()
            )
        )
    );
    let only_screen = json!({"dashboards": [{"id": screen["id"], "type": "custom_screenboard"}]});
    assert_eq!(
        lab.ok("PUT", &items_uri, Some(only_screen.clone())).await,
        json!({"dashboards": only_screen["dashboards"]})
    );
    assert_eq!(lab.ok("GET", &items_uri, None).await["total"], 1);
    assert_eq!(
        lab.ok("DELETE", &items_uri, Some(add)).await,
        json!({"deleted_dashboards_from_list": only_screen["dashboards"]})
    );

    let renamed = lab
        .ok(
            "PUT",
            &format!("/api/v1/dashboard/lists/manual/{id}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(
        lab.ok("GET", "/api/v1/dashboard/lists/manual", None).await["dashboard_lists"][0]["name"],
        "Renamed"
    );
    assert_eq!(
        lab.ok("DELETE", &format!("/api/v1/dashboard/lists/manual/{id}"), None)
            .await,
        json!({"deleted_dashboard_list_id": id})
    );
    assert_eq!(
        lab.error("GET", &format!("/api/v1/dashboard/lists/manual/{id}"), None)
            .await,
        (StatusCode::NOT_FOUND, format!("Dashboard list {id} not found"))
    );
}
