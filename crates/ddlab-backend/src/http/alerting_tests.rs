//! In-process tests of the monitor, downtime and notification routes: real handlers, a temp-folder store,
//! loopback servers only where a channel needs one.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::{AppState, Config, Keys, NotificationConfig, Secret};

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";
/// Wednesday 2030-01-02 12:00 UTC (07:00 in New York).
const T0: i64 = 1_893_585_600;

struct Lab {
    dir: tempfile::TempDir,
    state: AppState,
}

fn lab_with(notifications: NotificationConfig) -> Lab {
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
        notifications,
    };
    let state = AppState::open(&config).unwrap();
    state.clock.set(T0);
    Lab { dir, state }
}

fn lab() -> Lab {
    lab_with(NotificationConfig::default())
}

impl Lab {
    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("DD-API-KEY", API)
            .header("DD-APPLICATION-KEY", APP)
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = super::router(self.state.clone()).oneshot(request).await.unwrap();
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

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }

    async fn error(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, String) {
        let (status, value) = self.call(method, uri, body).await;
        assert!(!status.is_success(), "{method} {uri} succeeded: {value}");
        (status, value["errors"][0].as_str().unwrap_or_default().to_owned())
    }

    async fn post_metric(&self, host: &str, from: i64, to: i64, value: f64) {
        let points: Vec<Value> = (from..to).step_by(45).map(|t| json!([t, value])).collect();
        let body = json!({"series": [{"metric": "my_metric", "points": points, "host": host}]});
        self.ok("POST", "/api/v1/series", Some(body)).await;
    }

    async fn evaluate(&self) -> Value {
        self.ok("POST", "/ddlab/test/monitors/evaluate", None).await
    }

    async fn notifications(&self) -> Vec<Value> {
        let mut list = self.ok("GET", "/ddlab/notifications", None).await["notifications"]
            .as_array()
            .unwrap()
            .clone();
        list.reverse();
        list
    }
}

/// A fixture of the reference solution with its placeholders filled.
fn fixture(text: &str, monitor_id: i64) -> Value {
    let text = text
        .replace("$HOST", "lab")
        .replace("$EMAIL", "candidate@example.com")
        .replace("\"$MONITOR_ID\"", &monitor_id.to_string())
        // The Monday and Saturday after T0, as the solution's tooling computes them.
        .replace("${NEXT_MONDAY}", "2030-01-07")
        .replace("${NEXT_SATURDAY}", "2030-01-05");
    serde_json::from_str(&text).unwrap()
}

fn exercise_monitor() -> Value {
    fixture(include_str!("../../../../fixtures/solution/api/monitor.json"), 0)
}

#[tokio::test]
async fn monitors_are_created_read_updated_and_deleted_in_datadogs_shape() {
    let lab = lab();
    let created = lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["type"], "query alert");
    assert_eq!(created["name"], "my_metric is high on lab");
    assert_eq!(created["multi"], false);
    assert_eq!(created["overall_state"], "No Data");
    assert_eq!(created["overall_state_modified"], Value::Null);
    assert_eq!(created["deleted"], Value::Null);
    assert!((T0..T0 + 5).contains(&(created["created_at"].as_i64().unwrap() / 1000)));
    let options = &created["options"];
    assert_eq!(
        options["thresholds"],
        json!({"critical": 800.0, "warning": 500.0})
    );
    assert_eq!(options["notify_no_data"], true);
    assert_eq!(options["no_data_timeframe"], 10);
    assert_eq!(options["new_host_delay"], 300);
    assert_eq!(options["silenced"], json!({}));
    assert!(created["created"].as_str().unwrap().ends_with("+00:00"));

    assert_eq!(
        lab.ok("GET", &format!("/api/v1/monitor/{id}"), None).await["name"],
        created["name"]
    );
    let list = lab
        .ok(
            "GET",
            "/api/v1/monitor?name=HIGH&monitor_tags=exercise:ddlab",
            None,
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = lab.ok("GET", "/api/v1/monitor?tags=host:lab", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = lab
        .ok("GET", "/api/v1/monitor?monitor_tags=team:none", None)
        .await;
    assert_eq!(list, json!([]));

    // Mute, then update: options are replaced whole, silenced survives, name stays.
    lab.ok(
        "POST",
        &format!("/api/v1/monitor/{id}/mute"),
        Some(json!({"scope": "host:lab"})),
    )
    .await;
    let updated = lab
        .ok(
            "PUT",
            &format!("/api/v1/monitor/{id}"),
            Some(json!({"options": {"thresholds": {"critical": 800, "critical_recovery": 700}}})),
        )
        .await;
    assert_eq!(updated["name"], "my_metric is high on lab");
    assert_eq!(
        updated["options"]["thresholds"],
        json!({"critical": 800.0, "critical_recovery": 700.0})
    );
    assert_eq!(
        updated["options"]["notify_no_data"], false,
        "options not sent are gone"
    );
    assert_eq!(updated["options"]["silenced"], json!({"host:lab": null}));
    let unmuted = lab
        .ok(
            "POST",
            &format!("/api/v1/monitor/{id}/unmute"),
            Some(json!({"all_scopes": true})),
        )
        .await;
    assert_eq!(unmuted["options"]["silenced"], json!({}));

    assert_eq!(
        lab.ok(
            "GET",
            &format!("/api/v1/monitor/can_delete?monitor_ids={id}"),
            None
        )
        .await,
        json!({"data": {"ok": [id]}, "errors": null})
    );
    assert_eq!(
        lab.ok("DELETE", &format!("/api/v1/monitor/{id}"), None).await,
        json!({"deleted_monitor_id": id})
    );
    assert_eq!(
        lab.error("GET", &format!("/api/v1/monitor/{id}"), None).await,
        (StatusCode::NOT_FOUND, "Monitor not found".to_owned())
    );
    assert_eq!(
        lab.error("DELETE", &format!("/api/v1/monitor/{id}"), None).await,
        (StatusCode::NOT_FOUND, "Monitor not found".to_owned())
    );
    let (status, body) = lab
        .call(
            "GET",
            &format!("/api/v1/monitor/can_delete?monitor_ids={id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["errors"][id.to_string()], json!(["Monitor not found"]));
}

#[tokio::test]
async fn bad_monitors_get_datadogs_messages_with_positions() {
    let lab = lab();
    let with = |change: Value| {
        let mut body = exercise_monitor();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            with(json!({"options": {"thresholds": {"critical": 90}}})),
            "Alert threshold (90.0) does not match that used in the query (800.0).",
        ),
        (
            with(json!({"options": {"thresholds": {"critical": 800, "warning": 900}}})),
            "Warning threshold (900.0) must be less than the alert threshold (800.0) with > comparison.",
        ),
        (
            with(json!({"options": {"thresholds": {"critical": "eight hundred"}}})),
            "Non-numeric threshold value.",
        ),
        (
            with(json!({"query": "avg(last_5m):avg:my_metric{host:lab} >"})),
            "The value provided for parameter 'query' is invalid: invalid monitor query at character 39: the threshold \"\" is not a number",
        ),
        (
            with(json!({"message": "{{#is_alert}}x{{/is_warning}}"})),
            "The value provided for parameter 'message' is invalid: line 1, column 15: {{/is_warning}} does not close {{#is_alert}} opened at line 1, column 1",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            lab.error("POST", "/api/v1/monitor", Some(body.clone())).await,
            (StatusCode::BAD_REQUEST, message.to_owned())
        );
        assert_eq!(
            lab.error("POST", "/api/v1/monitor/validate", Some(body)).await,
            (StatusCode::BAD_REQUEST, message.to_owned())
        );
    }
    assert_eq!(
        lab.ok("POST", "/api/v1/monitor/validate", Some(exercise_monitor()))
            .await,
        json!({})
    );
    let warned = lab
        .ok(
            "POST",
            "/api/v1/monitor/validate",
            Some(with(json!({"message": "{{vaule}} @a@b.c"}))),
        )
        .await;
    assert_eq!(
        warned,
        json!({"warnings": ["The message uses {{vaule}}, which this monitor does not fill: it renders empty"]})
    );
    let id = lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        lab.ok(
            "POST",
            &format!("/api/v1/monitor/{id}/validate"),
            Some(json!({"name": "renamed"}))
        )
        .await,
        json!({})
    );
    assert_eq!(
        lab.error("POST", "/api/v1/monitor", Some(json!("not an object")))
            .await,
        (
            StatusCode::BAD_REQUEST,
            "Invalid monitor: the body must be a JSON object".to_owned()
        )
    );
}

#[tokio::test]
async fn passes_carry_group_states_forward_and_start_over_after_an_update() {
    let lab = lab();
    let mut grouped = exercise_monitor();
    grouped["query"] = json!("avg(last_5m):avg:my_metric{*} by {host} > 800");
    grouped["options"]["new_group_delay"] = json!(0);
    let id = lab.ok("POST", "/api/v1/monitor", Some(grouped.clone())).await["id"]
        .as_i64()
        .unwrap();
    let alert_since = |monitor: &Value| monitor["state"]["groups"]["host:lab"]["last_triggered_ts"].clone();
    lab.post_metric("lab", T0 - 300, T0 + 1, 900.0).await;
    lab.evaluate().await;
    // The second pass starts from the first one's states (kept between passes): still in Alert since T0.
    lab.state.clock.set(T0 + 60);
    lab.post_metric("lab", T0 + 1, T0 + 61, 900.0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["transitions"], 0, "{report}");
    let monitor = lab
        .ok("GET", &format!("/api/v1/monitor/{id}?group_states=all"), None)
        .await;
    assert_eq!(alert_since(&monitor), T0);
    // An update starts the groups over: the next pass triggers again, at its own time.
    grouped["options"]["thresholds"]["critical"] = json!(850.0);
    grouped["query"] = json!("avg(last_5m):avg:my_metric{*} by {host} > 850");
    lab.ok("PUT", &format!("/api/v1/monitor/{id}"), Some(grouped))
        .await;
    lab.state.clock.set(T0 + 120);
    lab.post_metric("lab", T0 + 61, T0 + 121, 900.0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["transitions"], 1, "{report}");
    let monitor = lab
        .ok("GET", &format!("/api/v1/monitor/{id}?group_states=all"), None)
        .await;
    assert_eq!(alert_since(&monitor), T0 + 120);
    // A deleted monitor leaves nothing behind for later passes.
    lab.ok("DELETE", &format!("/api/v1/monitor/{id}"), None).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["monitors"], 0, "{report}");
}

#[tokio::test]
async fn search_and_group_search_see_evaluated_states() {
    let lab = lab();
    let mut grouped = exercise_monitor();
    grouped["name"] = json!("by host");
    grouped["query"] = json!("avg(last_5m):avg:my_metric{*} by {host} > 800");
    grouped["options"]["new_group_delay"] = json!(0);
    let grouped_id = lab.ok("POST", "/api/v1/monitor", Some(grouped)).await["id"]
        .as_i64()
        .unwrap();
    lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await;
    lab.post_metric("lab", T0 - 300, T0 + 1, 900.0).await;
    lab.post_metric("web", T0 - 300, T0 + 1, 100.0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["monitors"], 2, "{report}");

    let found = lab
        .ok("GET", "/api/v1/monitor/search?query=status:alert", None)
        .await;
    assert_eq!(found["metadata"]["total_count"], 2);
    assert_eq!(found["counts"]["status"], json!([{"name": "Alert", "count": 2}]));
    assert_eq!(found["monitors"][0]["name"], "by host", "sorted by name");
    assert_eq!(found["monitors"][0]["classification"], "metric");
    assert_eq!(
        found["monitors"][1]["notifications"],
        json!([{"handle": "candidate@example.com", "name": "candidate"}])
    );
    let found = lab
        .ok(
            "GET",
            "/api/v1/monitor/search?query=tag:%22exercise:ddlab%22%20by%20host",
            None,
        )
        .await;
    assert_eq!(found["metadata"]["total_count"], 1);
    assert_eq!(
        lab.error("GET", "/api/v1/monitor/search?query=status:notastatus", None)
            .await,
        (
            StatusCode::BAD_REQUEST,
            "Query parsing error: 'notastatus' is not a valid monitor status".to_owned()
        )
    );

    let groups = lab
        .ok("GET", "/api/v1/monitor/groups/search?query=status:ok", None)
        .await;
    assert_eq!(groups["metadata"]["total_count"], 1);
    assert_eq!(groups["groups"][0]["group"], "host:web");
    assert_eq!(groups["groups"][0]["monitor_id"], grouped_id);
    let groups = lab
        .ok("GET", "/api/v1/monitor/groups/search?query=status:alert", None)
        .await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host:lab", "total"]);

    let monitor = lab
        .ok(
            "GET",
            &format!("/api/v1/monitor/{grouped_id}?group_states=alert"),
            None,
        )
        .await;
    assert_eq!(monitor["multi"], true);
    assert_eq!(monitor["overall_state"], "Alert");
    let groups = monitor["state"]["groups"].as_object().unwrap();
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["host:lab"]);
    assert_eq!(groups["host:lab"]["last_triggered_ts"], T0);
}

#[tokio::test]
async fn the_exercise_downtimes_schedule_notify_and_show_in_both_versions() {
    let lab = lab();
    let monitor_id = lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await["id"]
        .as_i64()
        .unwrap();
    let weekdays = fixture(
        include_str!("../../../../fixtures/solution/api/downtime-weekdays.json"),
        monitor_id,
    );
    let created = lab.ok("POST", "/api/v2/downtime", Some(weekdays)).await;
    let data = &created["data"];
    let uuid = data["id"].as_str().unwrap().to_owned();
    let attributes = &data["attributes"];
    assert_eq!(attributes["status"], "scheduled");
    assert_eq!(
        attributes["monitor_identifier"],
        json!({"monitor_id": monitor_id})
    );
    assert_eq!(attributes["scope"], "host:lab");
    assert_eq!(
        attributes["schedule"]["recurrences"],
        json!([{"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2030-01-07T19:00"}])
    );
    // Monday 2030-01-07 19:00 New York is 2030-01-08 00:00 UTC; the period ends Tuesday 09:00 (14:00 UTC).
    assert_eq!(
        attributes["schedule"]["current_downtime"],
        json!({"start": "2030-01-08T00:00:00.000000+00:00", "end": "2030-01-08T14:00:00.000000+00:00"})
    );
    assert_eq!(attributes["notify_end_types"], json!(["expired", "canceled"]));
    assert_eq!(
        data["relationships"]["monitor"]["data"],
        json!({"type": "monitors", "id": monitor_id.to_string()})
    );

    let weekend = fixture(
        include_str!("../../../../fixtures/solution/api/downtime-weekend.json"),
        monitor_id,
    );
    // A recurring start in the past is refused, as Datadog does.
    let mut past = weekend.clone();
    past["data"]["attributes"]["schedule"]["recurrences"][0]["start"] = json!("2029-12-29T00:00");
    assert_eq!(
        lab.error("POST", "/api/v2/downtime", Some(past)).await,
        (
            StatusCode::BAD_REQUEST,
            "Scheduled downtime start cannot be in the past".to_owned()
        )
    );
    let created = lab.ok("POST", "/api/v2/downtime", Some(weekend)).await;
    // Saturday 00:00 New York (05:00 UTC) to Monday 09:00 (14:00 UTC).
    assert_eq!(
        created["data"]["attributes"]["schedule"]["current_downtime"],
        json!({"start": "2030-01-05T05:00:00.000000+00:00", "end": "2030-01-07T14:00:00.000000+00:00"})
    );

    // EX-24c: each creation notified the handle in the downtime's message.
    let notes = lab.notifications().await;
    assert_eq!(notes.len(), 2);
    assert!(
        notes
            .iter()
            .all(|n| n["handle"] == "candidate@example.com" && n["origin"] == "downtime")
    );
    assert_eq!(
        notes[0]["subject"],
        format!("Downtime scheduled: monitor {monitor_id} (scope host:lab)")
    );
    assert!(
        notes[0]["body"]
            .as_str()
            .unwrap()
            .contains("2030-01-07T19:00:00-05:00 to 2030-01-08T09:00:00-05:00")
    );
    // Without SMTP they become .eml files in the outbox.
    let delivered = lab.ok("POST", "/ddlab/test/notifications/deliver", None).await;
    assert_eq!(delivered["delivery"]["sent"], 2);
    let outbox: PathBuf = lab.dir.path().join("state").join(crate::OUTBOX_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    let eml = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        eml.contains(&format!(
            "Subject: Downtime scheduled: monitor {monitor_id} (scope host:lab)"
        )),
        "{eml}"
    );
    assert!(eml.contains("To: candidate@example.com"), "{eml}");

    // The same downtimes through v1, and the monitor's matching downtimes.
    let v1 = lab.ok("GET", "/api/v1/downtime", None).await;
    assert_eq!(v1.as_array().unwrap().len(), 2);
    assert_eq!(v1[0]["scope"], json!(["host:lab"]));
    assert_eq!(v1[0]["monitor_id"], monitor_id);
    assert_eq!(v1[0]["start"], 1_894_060_800);
    assert_eq!(v1[0]["timezone"], "America/New_York");
    assert_eq!(v1[0]["recurrence"]["rrule"], "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR");
    assert_eq!(v1[0]["downtime_type"], 1);
    assert_eq!(v1[0]["status"], "scheduled");
    let monitor = lab
        .ok(
            "GET",
            &format!("/api/v1/monitor/{monitor_id}?with_downtimes=true"),
            None,
        )
        .await;
    assert_eq!(monitor["matching_downtimes"].as_array().unwrap().len(), 2);
    let matches = lab
        .ok(
            "GET",
            &format!("/api/v2/monitor/{monitor_id}/downtime_matches"),
            None,
        )
        .await;
    assert_eq!(matches["meta"]["page"]["total_filtered_count"], 2);

    // Patch, errors, cancel.
    let patched = lab
        .ok(
            "PATCH",
            &format!("/api/v2/downtime/{uuid}"),
            Some(json!({"data": {"id": uuid, "type": "downtime", "attributes": {"message": "quiet @ops@example.com"}}})),
        )
        .await;
    assert_eq!(patched["data"]["attributes"]["message"], "quiet @ops@example.com");
    assert_eq!(
        patched["data"]["attributes"]["schedule"]["timezone"],
        "America/New_York"
    );
    assert_eq!(
        lab.error(
            "PATCH",
            &format!("/api/v2/downtime/{uuid}"),
            Some(json!({"data": {"type": "downtime", "attributes": {"invalid_field": 1}}}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            "Additional properties are not allowed ('invalid_field' was unexpected)".to_owned()
        )
    );
    assert_eq!(
        lab.error("GET", "/api/v2/downtime/12", None).await,
        (
            StatusCode::BAD_REQUEST,
            "Invalid URL param: downtime_id must be an uuid".to_owned()
        )
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        lab.error("GET", &format!("/api/v2/downtime/{unknown}"), None)
            .await,
        (StatusCode::NOT_FOUND, "Downtime not found".to_owned())
    );
    let mismatch = json!({"data": {"type": "downtime", "attributes": {
        "scope": "*", "monitor_identifier": {"monitor_tags": ["*"]}, "display_timezone": "UTC",
        "schedule": {"timezone": "Europe/Berlin", "recurrences": [{"rrule": "FREQ=DAILY", "duration": "1h", "start": "2030-02-01T00:00"}]}}}});
    assert_eq!(
        lab.error("POST", "/api/v2/downtime", Some(mismatch)).await,
        (
            StatusCode::BAD_REQUEST,
            "timezone must match display_timezone".to_owned()
        )
    );
    let bad_scope = json!({"data": {"type": "downtime", "attributes": {"scope": "prod", "monitor_identifier": {"monitor_tags": ["*"]}}}});
    assert_eq!(
        lab.error("POST", "/api/v2/downtime", Some(bad_scope)).await,
        (StatusCode::BAD_REQUEST, "All values must have a key".to_owned())
    );
    let (status, body) = lab
        .call("DELETE", &format!("/api/v2/downtime/{uuid}"), None)
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(
        lab.call("DELETE", &format!("/api/v2/downtime/{uuid}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let canceled = lab.ok("GET", &format!("/api/v2/downtime/{uuid}"), None).await;
    assert_eq!(canceled["data"]["attributes"]["status"], "canceled");
    assert!(canceled["data"]["attributes"]["canceled"].is_string());
    let notes = lab.notifications().await;
    assert_eq!(
        notes.last().unwrap()["subject"],
        format!("Downtime canceled: monitor {monitor_id} (scope host:lab)")
    );
    assert_eq!(notes.last().unwrap()["handle"], "ops@example.com");
    let listed = lab.ok("GET", "/api/v2/downtime?page[limit]=1", None).await;
    assert_eq!(listed["meta"]["page"]["total_filtered_count"], 2);
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn v1_downtimes_recur_by_week_days_and_cancel_by_scope() {
    let lab = lab();
    // Monday 2030-01-07 19:00 New York, 14 hours, weekdays (the API reference's v1 example).
    let body = json!({
        "scope": "env:prod", "timezone": "America/New_York", "start": 1_894_060_800, "end": 1_894_111_200,
        "message": "weekday nights @ops@example.com",
        "recurrence": {"type": "weeks", "period": 1, "week_days": ["Mon", "Tue", "Wed", "Thu", "Fri"]},
    });
    let created = lab.ok("POST", "/api/v1/downtime", Some(body.clone())).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["scope"], json!(["env:prod"]));
    assert_eq!(created["monitor_tags"], json!(["*"]));
    assert_eq!(created["downtime_type"], 2);
    assert_eq!(
        created["recurrence"]["week_days"],
        json!(["Mon", "Tue", "Wed", "Thu", "Fri"])
    );
    assert_eq!(created["notify_end_types"], json!(["expired"]));
    assert_eq!(created["notify_end_states"], json!(["alert", "no data", "warn"]));
    assert_eq!(
        (created["active"].clone(), created["disabled"].clone()),
        (json!(false), json!(false))
    );
    let v2 = lab
        .ok(
            "GET",
            &format!("/api/v2/downtime/{}", created["uuid"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        v2["data"]["attributes"]["schedule"]["recurrences"],
        json!([{"rrule": "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2030-01-07T19:00"}])
    );
    assert_eq!(v2["data"]["attributes"]["scope"], "env:prod");

    let updated = lab
        .ok(
            "PUT",
            &format!("/api/v1/downtime/{id}"),
            Some(json!({"message": "changed"})),
        )
        .await;
    assert_eq!(
        (updated["message"].clone(), updated["updater_id"].clone()),
        (json!("changed"), json!(1))
    );
    assert_eq!(updated["recurrence"]["type"], "weeks");

    let mut bad = body.clone();
    bad["recurrence"]["week_days"] = json!(["mon"]);
    assert_eq!(
        lab.error("POST", "/api/v1/downtime", Some(bad)).await,
        (
            StatusCode::BAD_REQUEST,
            "Invalid set of days in week_days. Be sure that the first letter is capitalized.".to_owned()
        )
    );
    let mut bad = body.clone();
    bad["recurrence"] = json!({"type": "hours", "period": 1});
    assert_eq!(
        lab.error("POST", "/api/v1/downtime", Some(bad)).await,
        (StatusCode::BAD_REQUEST, "Invalid recurrence type".to_owned())
    );
    let mut bad = body.clone();
    bad["start"] = json!(T0 - 86_400);
    bad["end"] = json!(T0 - 3600);
    assert_eq!(
        lab.error("POST", "/api/v1/downtime", Some(bad)).await,
        (
            StatusCode::BAD_REQUEST,
            "Scheduled downtime start cannot be in the past".to_owned()
        )
    );
    // datadogpy and dogshell send the scope as a string, and times as strings.
    let one_time = lab
        .ok(
            "POST",
            "/api/v1/downtime",
            Some(json!({"scope": "env:prod", "start": T0.to_string(), "end": null})),
        )
        .await;
    assert_eq!(one_time["status"], "active");
    assert_eq!(one_time["end"], Value::Null);
    // datadogpy sends Python's `True`.
    let current = lab.ok("GET", "/api/v1/downtime?current_only=True", None).await;
    assert_eq!(current.as_array().unwrap().len(), 1);

    let all = lab.ok("POST", "/api/v1/monitor/mute_all", None).await;
    assert_eq!(
        (all["scope"].clone(), all["monitor_tags"].clone()),
        (json!(["*"]), json!(["*"]))
    );
    assert_eq!(all["active"], true);
    let (status, _) = lab.call("POST", "/api/v1/monitor/unmute_all", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let all = lab
        .ok("GET", &format!("/api/v1/downtime/{}", all["id"]), None)
        .await;
    assert_eq!(all["status"], "canceled");
    let cancelled = lab
        .ok(
            "POST",
            "/api/v1/downtime/cancel/by_scope",
            Some(json!({"scope": "env:prod"})),
        )
        .await;
    assert_eq!(cancelled["cancelled_ids"].as_array().unwrap().len(), 2);
    assert_eq!(
        lab.error(
            "POST",
            "/api/v1/downtime/cancel/by_scope",
            Some(json!({"scope": "env:prod"}))
        )
        .await,
        (StatusCode::NOT_FOUND, "No downtimes found".to_owned())
    );
    let (status, _) = lab.call("DELETE", &format!("/api/v1/downtime/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = lab.ok("GET", &format!("/api/v1/downtime/{id}"), None).await;
    assert_eq!(
        (got["disabled"].clone(), got["active"].clone()),
        (json!(true), json!(false))
    );
    assert!(got["canceled"].is_i64());
    assert_eq!(
        lab.error("GET", "/api/v1/downtime/999", None).await,
        (StatusCode::NOT_FOUND, "Downtime not found".to_owned())
    );
}

#[tokio::test]
async fn an_active_downtime_mutes_the_monitor_and_its_end_notifies_the_state_still_triggered() {
    let lab = lab();
    let monitor_id = lab.ok("POST", "/api/v1/monitor", Some(exercise_monitor())).await["id"]
        .as_i64()
        .unwrap();
    let downtime = json!({"data": {"type": "downtime", "attributes": {
        "scope": "host:lab", "monitor_identifier": {"monitor_id": monitor_id},
        "message": "maintenance @ops@example.com",
        "schedule": {"end": "2030-01-02T12:30:00+00:00"},
    }}});
    let created = lab.ok("POST", "/api/v2/downtime", Some(downtime)).await;
    assert_eq!(created["data"]["attributes"]["status"], "active");
    lab.post_metric("lab", T0 - 300, T0 + 1, 900.0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["evaluation"]["transitions"], 1, "{report}");
    let notes = lab.notifications().await;
    let subjects: Vec<&str> = notes.iter().map(|n| n["subject"].as_str().unwrap()).collect();
    // The downtime started (its handle is told); the alert during it notifies nobody.
    assert_eq!(subjects, ["Downtime started: monitor 1 (scope host:lab)"]);
    let events = lab
        .ok(
            "GET",
            &format!("/api/v1/events?start={}&end={}&tags=muted", T0 - 10, T0 + 10),
            None,
        )
        .await;
    assert_eq!(
        events["events"][0]["title"],
        "[Triggered] my_metric is high on lab"
    );

    // 31 minutes later the downtime has ended with the monitor still in Alert: both are told.
    lab.state.clock.set(T0 + 1860);
    lab.post_metric("lab", T0 + 1560, T0 + 1861, 900.0).await;
    lab.evaluate().await;
    let notes = lab.notifications().await;
    let sent: Vec<(&str, &str)> = notes
        .iter()
        .map(|n| (n["handle"].as_str().unwrap(), n["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sent,
        [
            ("ops@example.com", "Downtime started: monitor 1 (scope host:lab)"),
            ("ops@example.com", "Downtime ended: monitor 1 (scope host:lab)"),
            ("candidate@example.com", "[Triggered] my_metric is high on lab"),
        ]
    );
    assert!(
        notes[2]["body"]
            .as_str()
            .unwrap()
            .starts_with("ALERT: my_metric averaged 900")
    );
    let downtime = lab.ok("GET", "/api/v1/downtime", None).await;
    assert_eq!(downtime[0]["status"], "ended");
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_and_recorded() {
    // A port nobody listens on: the connection is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let lab = lab_with(NotificationConfig {
        smtp: Some(format!("127.0.0.1:{port}")),
        ..NotificationConfig::default()
    });
    let event = json!({"title": "Deploy", "text": "done @dev@example.com @slack-ops @webhook-nowhere"});
    lab.ok("POST", "/api/v1/events", Some(event)).await;
    let report = lab.ok("POST", "/ddlab/test/notifications/deliver", None).await;
    assert_eq!(
        report["delivery"],
        json!({"sent": 0, "recorded": 1, "retrying": 1, "failed": 1})
    );
    let notes = lab.notifications().await;
    let email = &notes[0];
    assert_eq!(
        (email["state"].clone(), email["attempts"].clone()),
        (json!("retrying"), json!(1))
    );
    assert_eq!(email["next_attempt"], T0 + 30);
    assert!(
        email["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("smtp 127.0.0.1:{port}"))
    );
    assert_eq!(notes[1]["state"], "recorded");
    assert_eq!(notes[1]["next_attempt"], Value::Null);
    assert_eq!(notes[2]["state"], "failed");
    assert_eq!(
        notes[2]["detail"],
        "no webhook named \"nowhere\": start the backend with --webhooks FILE"
    );
    // Not due yet: nothing happens; then 30, 60, 120, 240 s apart, and given up after the fifth attempt.
    let report = lab.ok("POST", "/ddlab/test/notifications/deliver", None).await;
    assert_eq!(report["delivery"]["retrying"], 0);
    let mut now = T0;
    for (wait, attempts) in [(30, 2), (60, 3), (120, 4)] {
        now += wait;
        lab.state.clock.set(now);
        lab.ok("POST", "/ddlab/test/notifications/deliver", None).await;
        let email = &lab.notifications().await[0];
        assert_eq!(
            (email["state"].clone(), email["attempts"].clone()),
            (json!("retrying"), json!(attempts))
        );
    }
    lab.state.clock.set(now + 240);
    lab.ok("POST", "/ddlab/test/notifications/deliver", None).await;
    let email = &lab.notifications().await[0];
    assert_eq!(
        (email["state"].clone(), email["attempts"].clone()),
        (json!("failed"), json!(5))
    );
    assert!(
        email["detail"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 5 attempts")
    );
    assert_eq!(email["next_attempt"], Value::Null);
}

#[tokio::test]
async fn webhooks_post_datadogs_payload_with_variables() {
    use tokio::sync::mpsc;
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Value)>();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let token = headers
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((token, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move {
        let _ = axum::serve(listener, receiver).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhooks.json");
    std::fs::write(
        &file,
        json!({"webhooks": [
            {"name": "ops", "url": format!("http://127.0.0.1:{port}/hook"),
             "payload": "{\"title\": \"$EVENT_TITLE\", \"transition\": \"$ALERT_TRANSITION\", \"id\": \"$ALERT_ID\", \"host\": \"$HOSTNAME\"}",
             "custom_headers": "{\"X-Token\": \"secret-$ALERT_ID\"}"},
        ]})
        .to_string(),
    )
    .unwrap();
    let lab = lab_with(NotificationConfig {
        webhooks: Some(file),
        ..NotificationConfig::default()
    });
    let mut monitor = exercise_monitor();
    monitor["message"] = json!("{{#is_alert}}high @webhook-ops{{/is_alert}}");
    let id = lab.ok("POST", "/api/v1/monitor", Some(monitor)).await["id"]
        .as_i64()
        .unwrap();
    lab.post_metric("lab", T0 - 300, T0 + 1, 900.0).await;
    let report = lab.evaluate().await;
    assert_eq!(report["delivery"]["sent"], 1, "{report}");
    let (token, body) = rx.try_recv().unwrap();
    assert_eq!(token, format!("secret-{id}"));
    assert_eq!(
        body,
        json!({"title": "[Triggered] my_metric is high on lab", "transition": "Triggered", "id": id.to_string(), "host": "lab"})
    );
    assert_eq!(lab.notifications().await[0]["detail"], "webhook ops: HTTP 200");
}
