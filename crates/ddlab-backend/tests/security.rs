//! Who may call what: every route of the backend's router, walked in-process with no keys, the API key
//! alone, wrong keys and both keys; the web UI on and off loopback; public share pages that show their own
//! dashboard and nothing else; and the test-mode routes, which do not exist outside test mode.
//!
//! axum cannot list a router's routes, so the expected access of each one is the table [`ROUTES`] below,
//! and [`the_table_lists_every_route_of_the_source`] reads every `.route("...")` call of `src/` so that a
//! route added to the router without a line here fails the test.

// Helpers of this test target are test code too: a failing unwrap is a failing test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ddlab_backend::{AppState, Config, Keys, NotificationConfig, Secret, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// Well-formed keys that are not this lab's.
const WRONG_API: &str = "fedcba9876543210fedcba9876543210";
const WRONG_APP: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Intake: the API key alone (Datadog's intake and `/api/v1/validate`).
    ApiKey,
    /// Everything else of the API: the API key and the application key.
    BothKeys,
    /// Test-mode administration: both keys, and only when the backend runs with `--test-mode`.
    TestMode,
    /// A web UI page: open on loopback, behind the application-key login elsewhere.
    Page,
    /// Never asks for anything: the login form, the stylesheet, snapshot PNGs and public share pages, whose
    /// URLs hold unguessable tokens.
    Open,
}

use Access::{ApiKey, BothKeys, Open, Page, TestMode};

/// Every route of the router: method, path as written in the source, and the access it needs.
const ROUTES: &[(&str, &str, Access)] = &[
    // Intake (http/mod.rs): what the agent and the tracers send.
    ("POST", "/api/v1/series", ApiKey),
    ("POST", "/api/v2/series", ApiKey),
    ("POST", "/api/beta/sketches", ApiKey),
    ("POST", "/api/v1/check_run", ApiKey),
    ("POST", "/intake/", ApiKey),
    ("POST", "/api/v0.2/traces", ApiKey),
    ("POST", "/api/v0.2/stats", ApiKey),
    ("POST", "/api/v1/events", ApiKey),
    ("GET", "/api/v1/validate", ApiKey),
    // Reads and configuration (http/mod.rs).
    ("GET", "/api/v1/query", BothKeys),
    ("POST", "/api/v2/query/timeseries", BothKeys),
    ("GET", "/api/v1/events", BothKeys),
    ("GET", "/api/v1/events/{id}", BothKeys),
    ("GET", "/api/v1/metrics", BothKeys),
    ("GET", "/api/v1/metrics/{name}", BothKeys),
    ("PUT", "/api/v1/metrics/{name}", BothKeys),
    ("GET", "/api/v1/search", BothKeys),
    ("GET", "/api/v1/hosts", BothKeys),
    ("GET", "/api/v1/hosts/totals", BothKeys),
    ("GET", "/api/v1/tags/hosts", BothKeys),
    ("GET", "/api/v1/tags/hosts/{host}", BothKeys),
    ("POST", "/api/v1/tags/hosts/{host}", BothKeys),
    ("PUT", "/api/v1/tags/hosts/{host}", BothKeys),
    ("DELETE", "/api/v1/tags/hosts/{host}", BothKeys),
    ("POST", "/api/v2/spans/events/search", BothKeys),
    ("GET", "/api/v2/spans/events", BothKeys),
    ("GET", "/ddlab/intake", BothKeys),
    ("GET", "/ddlab/apm/services", BothKeys),
    ("GET", "/ddlab/apm/services/{service}/resources", BothKeys),
    ("GET", "/ddlab/apm/traces/{trace_id}", BothKeys),
    ("GET", "/api/v1/graph/snapshot", BothKeys),
    ("GET", "/api/v1/graph/snapshot_status/{*path}", BothKeys),
    // Monitors, downtimes, notifications (http/mod.rs, alerting_routes).
    ("GET", "/api/v1/monitor", BothKeys),
    ("POST", "/api/v1/monitor", BothKeys),
    ("POST", "/api/v1/monitor/validate", BothKeys),
    ("GET", "/api/v1/monitor/can_delete", BothKeys),
    ("GET", "/api/v1/monitor/search", BothKeys),
    ("GET", "/api/v1/monitor/groups/search", BothKeys),
    ("POST", "/api/v1/monitor/mute_all", BothKeys),
    ("POST", "/api/v1/monitor/unmute_all", BothKeys),
    ("GET", "/api/v1/monitor/{id}", BothKeys),
    ("PUT", "/api/v1/monitor/{id}", BothKeys),
    ("DELETE", "/api/v1/monitor/{id}", BothKeys),
    ("POST", "/api/v1/monitor/{id}/validate", BothKeys),
    ("POST", "/api/v1/monitor/{id}/mute", BothKeys),
    ("POST", "/api/v1/monitor/{id}/unmute", BothKeys),
    ("GET", "/api/v1/monitor/{id}/downtimes", BothKeys),
    ("GET", "/api/v2/monitor/{id}/downtime_matches", BothKeys),
    ("GET", "/api/v1/downtime", BothKeys),
    ("POST", "/api/v1/downtime", BothKeys),
    ("POST", "/api/v1/downtime/cancel/by_scope", BothKeys),
    ("GET", "/api/v1/downtime/{id}", BothKeys),
    ("PUT", "/api/v1/downtime/{id}", BothKeys),
    ("DELETE", "/api/v1/downtime/{id}", BothKeys),
    ("GET", "/api/v2/downtime", BothKeys),
    ("POST", "/api/v2/downtime", BothKeys),
    ("GET", "/api/v2/downtime/{id}", BothKeys),
    ("PATCH", "/api/v2/downtime/{id}", BothKeys),
    ("DELETE", "/api/v2/downtime/{id}", BothKeys),
    ("GET", "/ddlab/notifications", BothKeys),
    // Dashboards, share links, lists, legacy boards (http/dashboards.rs).
    ("GET", "/api/v1/dashboard", BothKeys),
    ("POST", "/api/v1/dashboard", BothKeys),
    ("DELETE", "/api/v1/dashboard", BothKeys),
    ("PATCH", "/api/v1/dashboard", BothKeys),
    ("GET", "/api/v1/dashboard/{id}", BothKeys),
    ("PUT", "/api/v1/dashboard/{id}", BothKeys),
    ("DELETE", "/api/v1/dashboard/{id}", BothKeys),
    ("POST", "/api/v1/dashboard/public", BothKeys),
    ("GET", "/api/v1/dashboard/public/{token}", BothKeys),
    ("PUT", "/api/v1/dashboard/public/{token}", BothKeys),
    ("DELETE", "/api/v1/dashboard/public/{token}", BothKeys),
    ("GET", "/api/v1/dashboard/public/{token}/invitation", BothKeys),
    ("POST", "/api/v1/dashboard/public/{token}/invitation", BothKeys),
    ("DELETE", "/api/v1/dashboard/public/{token}/invitation", BothKeys),
    ("GET", "/api/v1/dashboard/lists/manual", BothKeys),
    ("POST", "/api/v1/dashboard/lists/manual", BothKeys),
    ("GET", "/api/v1/dashboard/lists/manual/{id}", BothKeys),
    ("PUT", "/api/v1/dashboard/lists/manual/{id}", BothKeys),
    ("DELETE", "/api/v1/dashboard/lists/manual/{id}", BothKeys),
    ("GET", "/api/v2/dashboard/lists/manual/{id}/dashboards", BothKeys),
    ("POST", "/api/v2/dashboard/lists/manual/{id}/dashboards", BothKeys),
    ("PUT", "/api/v2/dashboard/lists/manual/{id}/dashboards", BothKeys),
    (
        "DELETE",
        "/api/v2/dashboard/lists/manual/{id}/dashboards",
        BothKeys,
    ),
    ("GET", "/api/v1/dash", BothKeys),
    ("POST", "/api/v1/dash", BothKeys),
    ("GET", "/api/v1/dash/{id}", BothKeys),
    ("PUT", "/api/v1/dash/{id}", BothKeys),
    ("DELETE", "/api/v1/dash/{id}", BothKeys),
    ("GET", "/api/v1/screen", BothKeys),
    ("POST", "/api/v1/screen", BothKeys),
    ("GET", "/api/v1/screen/{id}", BothKeys),
    ("PUT", "/api/v1/screen/{id}", BothKeys),
    ("DELETE", "/api/v1/screen/{id}", BothKeys),
    ("POST", "/api/v1/screen/share/{id}", BothKeys),
    ("DELETE", "/api/v1/screen/share/{id}", BothKeys),
    // Test mode only (http/mod.rs).
    ("GET", "/ddlab/test/clock", TestMode),
    ("POST", "/ddlab/test/clock", TestMode),
    ("POST", "/ddlab/test/monitors/evaluate", TestMode),
    ("POST", "/ddlab/test/notifications/deliver", TestMode),
    // The web UI (ui/mod.rs).
    ("GET", "/", Page),
    ("GET", "/infrastructure/map", Page),
    ("GET", "/metric/explorer", Page),
    ("GET", "/dashboard/preview", Page),
    ("GET", "/dashboard/lists", Page),
    ("GET", "/dashboard/{id}", Page),
    ("GET", "/dashboard/{id}/{slug}", Page),
    ("GET", "/event/stream", Page),
    ("GET", "/event/event", Page),
    ("GET", "/monitors/manage", Page),
    ("GET", "/monitors/downtimes", Page),
    ("GET", "/monitors/{id}", Page),
    ("GET", "/lab/notifications", Page),
    ("GET", "/lab/intake", Page),
    ("GET", "/apm/services", Page),
    ("GET", "/apm/services/{service}", Page),
    ("GET", "/apm/trace/{trace_id}", Page),
    ("POST", "/logout", Page),
    ("GET", "/login", Open),
    ("POST", "/login", Open),
    ("GET", "/static/ddlab.css", Open),
    ("GET", "/snapshot/view/{*path}", Open),
    ("GET", "/sb/{token}", Open),
];

/// The HTTP methods axum's `routing` functions stand for.
const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "any",
];

#[test]
fn the_table_lists_every_route_of_the_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut in_source = BTreeSet::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (method, path) in routes_in(&text) {
            in_source.insert((method, path));
        }
    }
    assert!(
        in_source.len() > 50,
        "reading the router's source found only {in_source:?}: the parser below no longer understands it"
    );
    let in_table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let missing: Vec<String> = in_source
        .difference(&in_table)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes in crates/ddlab-backend/src without a line in ROUTES (crates/ddlab-backend/tests/security.rs); \
         add each with the keys it needs: {missing:#?}"
    );
    let stale: Vec<String> = in_table
        .difference(&in_source)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "ROUTES in crates/ddlab-backend/tests/security.rs lists routes the source no longer has: {stale:#?}"
    );
}

#[test]
fn the_route_reader_understands_the_router_source() {
    let source = r#"
        Router::new()
            .route("/a", get(x::get).post(x::post))
            .route(
                "/b/{id}",
                get(legacy::get_dash)
                    .delete(legacy::delete_dash),
            )
            .route("/", get(|| async { Redirect::to("/elsewhere(") }))
            .route("/logout", axum::routing::post(auth::logout))
            // .route("/commented-out", get(x::gone))
            .route("/c", post(x::c)) // a note with a "quote" and a '"'
            // .route("/after-a-quote-character", get(x::gone))
            .route_layer(from_fn_with_state(state.clone(), auth::api_key));
    "#;
    let found: Vec<(String, String)> = routes_in(source);
    let expected: Vec<(String, String)> = [
        ("GET", "/a"),
        ("POST", "/a"),
        ("GET", "/b/{id}"),
        ("DELETE", "/b/{id}"),
        ("GET", "/"),
        ("POST", "/logout"),
        ("POST", "/c"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn every_api_route_asks_for_the_keys_datadog_asks_for() {
    let lab = Lab::open("127.0.0.1:8480", false);
    let mut wrong = Vec::new();
    for &(method, path, access) in ROUTES.iter().filter(|r| matches!(r.2, ApiKey | BothKeys)) {
        let uri = concrete(path);
        let answers = [
            ("no keys", None, None),
            ("the API key alone", Some(API), None),
            ("a wrong API key", Some(WRONG_API), Some(APP)),
            ("a wrong application key", Some(API), Some(WRONG_APP)),
            ("both keys", Some(API), Some(APP)),
        ];
        for (what, api, app) in answers {
            // `/api/v1/validate` names a missing key (`validate_says_which_api_key_is_missing_or_wrong`).
            if path == "/api/v1/validate" && api.is_none() {
                continue;
            }
            let answer = lab.call(method, &uri, &keys(api, app)).await;
            let allowed = match access {
                ApiKey => api == Some(API),
                _ => api == Some(API) && app == Some(APP),
            };
            if let Some(problem) = judge(&answer, allowed) {
                wrong.push(format!("{method} {uri} with {what}: {problem}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn keys_in_the_query_string_count_as_in_the_headers() {
    let lab = Lab::open("127.0.0.1:8480", false);
    let both = format!("/api/v1/monitor?api_key={API}&application_key={APP}");
    assert_eq!(lab.call("GET", &both, &[]).await.status, StatusCode::OK);
    let api_only = format!("/api/v1/monitor?api_key={API}");
    let answer = lab.call("GET", &api_only, &[]).await;
    assert_eq!(
        (answer.status, answer.json()),
        (StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]}))
    );
    let intake = format!("/api/v1/series?api_key={API}");
    let answer = lab.send("POST", &intake, &[], Some(&json!({"series": []}))).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text());
}

#[tokio::test]
async fn validate_says_which_api_key_is_missing_or_wrong() {
    let lab = Lab::open("127.0.0.1:8480", false);
    let missing = lab.call("GET", "/api/v1/validate", &[]).await;
    assert_eq!(
        (missing.status, missing.json()),
        (StatusCode::FORBIDDEN, json!({"errors": ["API key required"]}))
    );
    let wrong = lab
        .call("GET", "/api/v1/validate", &keys(Some(WRONG_API), None))
        .await;
    assert_eq!(
        (wrong.status, wrong.json()),
        (StatusCode::FORBIDDEN, json!({"errors": ["Forbidden"]}))
    );
}

#[tokio::test]
async fn test_mode_routes_exist_only_in_test_mode() {
    let normal = Lab::open("127.0.0.1:8480", false);
    let testing = Lab::open("127.0.0.1:8480", true);
    let mut wrong = Vec::new();
    for &(method, path, _) in ROUTES.iter().filter(|r| r.2 == TestMode) {
        for (what, api, app) in [("no keys", None, None), ("both keys", Some(API), Some(APP))] {
            let answer = normal.call(method, path, &keys(api, app)).await;
            if !answer.is_unknown_route() {
                wrong.push(format!(
                    "{method} {path} with {what}, outside test mode: {} {}",
                    answer.status,
                    answer.start()
                ));
            }
        }
        for (what, api, app) in [
            ("no keys", None, None),
            ("the API key alone", Some(API), None),
            ("a wrong application key", Some(API), Some(WRONG_APP)),
            ("both keys", Some(API), Some(APP)),
        ] {
            let answer = testing.call(method, path, &keys(api, app)).await;
            let allowed = api == Some(API) && app == Some(APP);
            if let Some(problem) = judge(&answer, allowed) {
                wrong.push(format!("{method} {path} with {what}, in test mode: {problem}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn on_loopback_the_ui_is_open() {
    let lab = Lab::open("127.0.0.1:8480", false);
    let mut wrong = Vec::new();
    for &(method, path, _) in ROUTES.iter().filter(|r| matches!(r.2, Page | Open)) {
        let uri = concrete(path);
        let answer = lab.call(method, &uri, &[]).await;
        if let Some(problem) = page_problem(&answer, true) {
            wrong.push(format!("{method} {uri}: {problem}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn off_loopback_pages_ask_for_the_application_key_once() {
    let lab = Lab::open("192.0.2.10:8480", false);
    let mut wrong = Vec::new();
    for &(method, path, access) in ROUTES.iter().filter(|r| matches!(r.2, Page | Open)) {
        let uri = concrete(path);
        let answer = lab.call(method, &uri, &[]).await;
        if let Some(problem) = page_problem(&answer, access == Open) {
            wrong.push(format!("{method} {uri} without a session: {problem}"));
        }
        // The API's keys in headers are not a login to the UI.
        let answer = lab.call(method, &uri, &keys(Some(API), Some(APP))).await;
        if let Some(problem) = page_problem(&answer, access == Open) {
            wrong.push(format!("{method} {uri} with API keys in headers: {problem}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    let refused = lab.login(API).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "the API key is not the application key"
    );
    assert!(refused.headers.get(header::SET_COOKIE).is_none());
    let session = lab.session().await;
    for &(method, path, _) in ROUTES.iter().filter(|r| r.2 == Page) {
        let uri = concrete(path);
        let answer = lab.call(method, &uri, &[("cookie", session.as_str())]).await;
        if let Some(problem) = page_problem(&answer, true) {
            wrong.push(format!("{method} {uri} with a session: {problem}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn a_share_token_shows_its_own_dashboard_and_nothing_else() {
    let lab = Lab::open("192.0.2.10:8480", false);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let series = json!({"series": [
        {"metric": "board.a.metric", "points": [[now, 111.125]], "host": "host-a", "type": "gauge"},
        {"metric": "board.b.metric", "points": [[now, 7654.321]], "host": "host-b", "type": "gauge"},
    ]});
    let posted = lab
        .send("POST", "/api/v1/series", &keys(Some(API), None), Some(&series))
        .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.text());

    let board = |name: &str, metric: &str| {
        json!({
            "title": format!("Board {name} title"),
            "layout_type": "ordered",
            "template_variables": [{"name": "host", "prefix": "host", "default": "*"}],
            "widgets": [{"definition": {
                "type": "query_value",
                "title": format!("Widget of board {name}"),
                "autoscale": false,
                "precision": 3,
                "requests": [{"q": format!("avg:{metric}{{$host}}"), "aggregator": "last"}],
            }}],
        })
    };
    let a = lab.create_dashboard(&board("A", "board.a.metric")).await;
    let b = lab.create_dashboard(&board("B", "board.b.metric")).await;
    let token_a = lab.share(&a).await;
    let token_b = lab.share(&b).await;

    // Board B's own page shows its title, widget and value: what board A's token must not reveal.
    let page_b = lab.call("GET", &format!("/sb/{token_b}"), &[]).await;
    assert_eq!(page_b.status, StatusCode::OK, "{}", page_b.text());
    let secrets_of_b = ["Board B title", "Widget of board B", "7654.321"];
    for secret in secrets_of_b {
        assert!(
            page_b.text().contains(secret),
            "board B's page lacks {secret:?}: {}",
            page_b.text()
        );
    }
    // The private page offers every host the lab has seen as a template variable value; a share page
    // must not list the hosts of data its dashboard does not show.
    let private_a = lab
        .call(
            "GET",
            &format!("/dashboard/{}", a["id"].as_str().unwrap()),
            &[("cookie", &lab.session().await)],
        )
        .await;
    assert!(private_a.text().contains(">host-b<"), "{}", private_a.text());
    let shared_a = lab.call("GET", &format!("/sb/{token_a}"), &[]).await;
    assert!(
        !shared_a.text().contains("host-b"),
        "board A's share lists host-b: {}",
        shared_a.text()
    );

    let b_json: String =
        form_urlencoded::byte_serialize(board("B", "board.b.metric").to_string().as_bytes()).collect();
    for params in [
        String::new(),
        "?tpl_var_host=host-b".to_owned(),
        "?tpl_var_host=*".to_owned(),
        format!("?json={b_json}"),
        format!("?dashboard_id={}", b["id"].as_str().unwrap()),
        "?live_span=1w".to_owned(),
    ] {
        let uri = format!("/sb/{token_a}{params}");
        let page_a = lab.call("GET", &uri, &[]).await;
        assert_eq!(page_a.status, StatusCode::OK, "{uri}: {}", page_a.text());
        assert!(
            page_a.text().contains("Widget of board A"),
            "{uri}: {}",
            page_a.text()
        );
        for secret in secrets_of_b {
            assert!(
                !page_a.text().contains(secret),
                "{uri} (board A's share) reveals {secret:?} of board B: {}",
                page_a.text()
            );
        }
    }
    assert!(
        lab.call("GET", &format!("/sb/{token_a}"), &[])
            .await
            .text()
            .contains("111.125"),
        "board A's share shows board A's value"
    );
    // A dashboard id is not a share token, and a token opens nothing else of the UI.
    for uri in [
        format!("/sb/{}", b["id"].as_str().unwrap()),
        format!("/sb/{}", token_a.to_uppercase()),
        format!("/sb/{token_a}x"),
    ] {
        let answer = lab.call("GET", &uri, &[]).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{uri}: {}", answer.text());
    }
    let private = lab
        .call("GET", &format!("/dashboard/{}", b["id"].as_str().unwrap()), &[])
        .await;
    assert!(
        private.is_login_redirect(),
        "{} {}",
        private.status,
        private.text()
    );
}

#[tokio::test]
async fn every_file_of_the_state_folder_is_its_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    // A state folder made by hand with the usual umask is narrowed at start.
    std::fs::create_dir(&state_dir).unwrap();
    std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = Config {
        state_dir: state_dir.clone(),
        listen: "127.0.0.1:8480".parse().unwrap(),
        test_mode: true,
        keys: None,
        public_url: None,
        notifications: NotificationConfig::default(),
    };
    let state = AppState::open(&config).unwrap();
    let (api, app) = (
        state.keys.api_key.expose().to_owned(),
        state.keys.app_key.expose().to_owned(),
    );
    let lab = Lab {
        _dir: dir,
        router: router(state),
    };
    let both = keys(Some(&api), Some(&app));
    // Every kind of file the backend writes: the keys and database (at start), an e-mail in the outbox,
    // a graph snapshot.
    let event = json!({"title": "Deploy", "text": "done @dev@example.com"});
    let posted = lab.send("POST", "/api/v1/events", &both, Some(&event)).await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.text());
    let delivered = lab
        .send("POST", "/ddlab/test/notifications/deliver", &both, None)
        .await;
    assert_eq!(delivered.json()["delivery"]["sent"], 1, "{}", delivered.text());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let snapshot = format!(
        "/api/v1/graph/snapshot?metric_query=avg:system.load.1{{*}}&start={}&end={now}",
        now - 3600
    );
    let answer = lab.call("GET", &snapshot, &both).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    let mut seen = Vec::new();
    let mut wide = Vec::new();
    let mut pending = vec![state_dir.clone()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let expected = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != expected {
            wide.push(format!("{} is {mode:o}, expected {expected:o}", path.display()));
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        let relative = path.strip_prefix(&state_dir).unwrap().display().to_string();
        seen.push(relative);
    }
    assert!(wide.is_empty(), "{wide:#?}");
    for expected in [
        "keys.json",
        "ddlab.db",
        "ddlab.db-wal",
        "outbox/00000001.eml",
        "snapshots",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "the state folder has no {expected}, so its mode went unchecked: {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|s| s.starts_with("snapshots/") && s.ends_with(".png")),
        "no snapshot PNG: {seen:?}"
    );
}

/// One backend state in a temp folder, answering through its router in-process.
struct Lab {
    _dir: tempfile::TempDir,
    router: Router,
}

/// One answer, whatever its status.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Lab {
    /// A backend as if listening on `listen` (nothing is bound: the address only decides whether the UI
    /// needs a login).
    fn open(listen: &str, test_mode: bool) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: dir.path().join("state"),
            listen: listen.parse().unwrap(),
            test_mode,
            keys: Some(Keys {
                api_key: Secret::new(API),
                app_key: Secret::new(APP),
            }),
            public_url: None,
            notifications: NotificationConfig::default(),
        };
        let state = AppState::open(&config).unwrap();
        Lab {
            _dir: dir,
            router: router(state),
        }
    }

    /// A call with an empty JSON object as the body of writes, so that only the keys decide the answer.
    async fn call(&self, method: &str, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let body = matches!(method, "POST" | "PUT" | "PATCH").then(|| json!({}));
        self.send(method, uri, headers, body.as_ref()).await
    }

    async fn send(&self, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn login(&self, key: &str) -> Answer {
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("app_key={key}&next=/monitors/manage")))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        Answer {
            status,
            headers,
            body: Vec::new(),
        }
    }

    /// A UI session, logged in with the application key: the `name=value` pair of its cookie.
    async fn session(&self) -> String {
        let answer = self.login(APP).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    }

    async fn create_dashboard(&self, body: &Value) -> Value {
        let answer = self
            .send(
                "POST",
                "/api/v1/dashboard",
                &keys(Some(API), Some(APP)),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.json()
    }

    /// Shares `dashboard` and returns its token.
    async fn share(&self, dashboard: &Value) -> String {
        let request = json!({"dashboard_id": dashboard["id"], "dashboard_type": "custom_timeboard",
            "share_type": "open", "global_time": {"live_span": "1h"}});
        let answer = self
            .send(
                "POST",
                "/api/v1/dashboard/public",
                &keys(Some(API), Some(APP)),
                Some(&request),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        answer.json()["token"].as_str().unwrap().to_owned()
    }
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body's start, for failure messages that stay readable.
    fn start(&self) -> String {
        self.text().chars().take(300).collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The router's fallback: a route it does not have.
    fn is_unknown_route(&self) -> bool {
        self.status == StatusCode::NOT_FOUND && self.json() == json!({"errors": ["Not Found"]})
    }

    /// The UI's answer to a page asked for without a session: the login form, remembering the page.
    fn is_login_redirect(&self) -> bool {
        self.status == StatusCode::SEE_OTHER
            && self
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .is_some_and(|l| l.starts_with("/login?next="))
    }
}

/// What is wrong with an API answer, if anything: a refusal must be Datadog's 403 `{"errors":["Forbidden"]}`;
/// an allowed call must reach its handler (no 401/403, not the router's "no such route", not 405).
fn judge(answer: &Answer, allowed: bool) -> Option<String> {
    let shown = || format!("{} {}", answer.status, answer.start());
    if allowed {
        let refused = matches!(answer.status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED);
        let absent = answer.is_unknown_route() || answer.status == StatusCode::METHOD_NOT_ALLOWED;
        (refused || absent).then(|| format!("expected the handler's answer, got {}", shown()))
    } else {
        let forbidden =
            answer.status == StatusCode::FORBIDDEN && answer.json() == json!({"errors": ["Forbidden"]});
        (!forbidden).then(|| format!("expected 403 {{\"errors\":[\"Forbidden\"]}}, got {}", shown()))
    }
}

/// What is wrong with a UI answer, if anything: an `open` one reaches its handler (no login redirect, no
/// missing route); a closed one is the login redirect.
fn page_problem(answer: &Answer, open: bool) -> Option<String> {
    let shown = || {
        let location = answer.headers.get(header::LOCATION);
        format!("{} {location:?} {}", answer.status, answer.start())
    };
    if open {
        let absent = answer.is_unknown_route() || answer.status == StatusCode::METHOD_NOT_ALLOWED;
        let refused = answer.is_login_redirect()
            || matches!(answer.status, StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED);
        (absent || refused).then(|| format!("expected the page, got {}", shown()))
    } else {
        (!answer.is_login_redirect()).then(|| format!("expected the login redirect, got {}", shown()))
    }
}

/// Request headers carrying the given keys.
fn keys<'a>(api: Option<&'a str>, app: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
    let mut headers = Vec::new();
    if let Some(key) = api {
        headers.push(("DD-API-KEY", key));
    }
    if let Some(key) = app {
        headers.push(("DD-APPLICATION-KEY", key));
    }
    headers
}

/// A request path for a route: each `{param}` replaced by a plausible value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{*path}" => "dd-snapshots-lab/org_1/2024-05-01/0123456789abcdef0123456789abcdef.png",
            "{name}" => "system.cpu.user",
            "{host}" => "some-host",
            "{service}" => "web",
            "{token}" => "abcdefghijklmnop-0123456789abcdef0123456789abcdef",
            "{slug}" => "some-board",
            s if s.starts_with('{') => "12345",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `.rs` file under `dir` but test files (`tests.rs`, `*_tests.rs`), whose routers are test servers.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".rs") && name != "tests.rs" && !name.ends_with("_tests.rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The `(METHOD, path)` pairs of every `.route("path", get(..).post(..))` call in `source`, in order, up to
/// its first `#[cfg(test)]` (inline test modules build routers of their own).
fn routes_in(source: &str) -> Vec<(String, String)> {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    // A quote as a character literal does not open a string.
    let source = without_comments(&source.replace(r#"'"'"#, "'_'").replace(r#"'\"'"#, "'_'"));
    let mut found = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let (arguments, after) = balanced(rest);
        rest = after;
        let Some(path) = arguments
            .trim_start()
            .strip_prefix('"')
            .and_then(|p| p.split('"').next())
        else {
            continue;
        };
        let mut methods = Vec::new();
        let code = without_strings(arguments);
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &code[start..i];
                let called = bytes.get(i) == Some(&b'(');
                let qualified = code[..start].ends_with("::") && !code[..start].ends_with("routing::");
                if called && !qualified && METHODS.contains(&word) {
                    methods.push(word.to_ascii_uppercase());
                }
            } else {
                i += 1;
            }
        }
        for method in methods {
            found.push((method, path.to_owned()));
        }
    }
    found
}

/// Splits `text` (just after an opening parenthesis) at its matching closing one, skipping string literals.
fn balanced(text: &str) -> (&str, &str) {
    let mut depth = 1usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (&text[..i], &text[i + 1..]);
                }
            }
            _ => {}
        }
    }
    (text, "")
}

/// `code` without its `//` comments (a route in a comment is not served), string literals kept whole.
fn without_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            out.push(c);
            continue;
        }
        if c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    out.push('\n');
                    break;
                }
            }
            continue;
        }
        in_string = c == '"';
        out.push(c);
    }
    out
}

/// `code` with the contents of its string literals blanked, so text inside them is never read as code.
fn without_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in code.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_string = false;
                    out.push('"');
                    continue;
                }
                _ => {}
            }
            out.push(' ');
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}
