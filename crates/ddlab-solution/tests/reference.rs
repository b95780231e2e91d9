//! The reference solution in `fixtures/solution` still says exactly what the exercise asks for.
//!
//! These are pinned values, not grading: a wrong edit of the reference answer must fail here first.

// A test that cannot read its fixture should fail loudly, with the error in the panic.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ddlab_solution::{Solution, Variables};
use serde_json::{Value, json};

fn reference() -> Solution {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/solution");
    Solution::load(&root).unwrap()
}

fn vars() -> Variables {
    [
        ("HOST", "lab-host"),
        ("EMAIL", "candidate@ddlab.test"),
        ("MONITOR_ID", "42"),
        ("NEXT_MONDAY", "2026-11-30"),
        ("NEXT_SATURDAY", "2026-12-05"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn agent_config_has_list_tags_and_apm() {
    let solution = reference();
    let loaded = solution.agent.unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.tags, ["env:lab", "role:database", "exercise:ddlab"]);
    assert!(loaded.config.apm.enabled);
    assert_eq!(loaded.config.apm.receiver_port, 8126);
    assert!(
        loaded.config.api_key.is_none(),
        "the API key comes from DD_API_KEY, never from the file"
    );
}

#[test]
fn custom_check_runs_every_45_seconds() {
    let solution = reference();
    assert!(
        solution.confd.problems.is_empty(),
        "{:?}",
        solution.confd.problems
    );
    let check = solution.check_config("my_metric").unwrap();
    let intervals: Vec<Duration> = check.instances.iter().map(|i| i.interval).collect();
    assert_eq!(intervals, [Duration::from_secs(45)]);
    let source = &solution.check_source("my_metric").unwrap().text;
    assert!(
        source.contains("self.gauge('my_metric', random.randint(0, 1000)"),
        "{source}"
    );
    assert!(
        !source.contains("sleep"),
        "the interval must live in YAML, not in the code"
    );
}

#[test]
fn mysql_check_uses_the_monitoring_user() {
    let solution = reference();
    let mysql = solution.check_config("mysql").unwrap();
    let instance = &mysql.instances[0].raw;
    assert_eq!(instance["host"], "127.0.0.1");
    assert_eq!(instance["username"], "datadog");
    let grants = &solution.grants.unwrap().text;
    for grant in [
        "GRANT REPLICATION CLIENT /*M!100509 , SLAVE MONITOR */ ON *.* TO 'datadog'@'127.0.0.1';",
        "GRANT PROCESS ON *.* TO 'datadog'@'127.0.0.1';",
        "GRANT SELECT ON performance_schema.* TO 'datadog'@'127.0.0.1';",
        "ALTER USER 'datadog'@'127.0.0.1' IDENTIFIED BY 'datadog-lab' WITH MAX_USER_CONNECTIONS 5;",
    ] {
        assert!(grants.lines().any(|line| line == grant), "missing: {grant}");
    }
}

#[test]
fn timeboard_has_the_three_graphs() {
    let body = reference().timeboard.unwrap().substituted(&vars()).unwrap();
    assert_eq!(body["layout_type"], "ordered");
    let queries: Vec<&Value> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["definition"]["requests"][0]["q"])
        .collect();
    assert_eq!(
        queries,
        [
            "avg:my_metric{host:lab-host}",
            "anomalies(avg:mysql.performance.cpu_time{host:lab-host}, 'basic', 2)",
            "avg:my_metric{host:lab-host}.rollup(sum, 3600)",
        ]
    );
}

#[test]
fn monitor_matches_the_exercise_numbers() {
    let body = reference().monitor.unwrap().substituted(&vars()).unwrap();
    assert_eq!(body["type"], "metric alert");
    assert_eq!(body["query"], "avg(last_5m):avg:my_metric{host:lab-host} > 800");
    let options = &body["options"];
    assert_eq!(options["thresholds"], json!({"critical": 800, "warning": 500}));
    assert_eq!(options["notify_no_data"], true);
    assert_eq!(options["no_data_timeframe"], 10);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("@candidate@ddlab.test"));
    let alert = block(message, "is_alert");
    assert!(
        alert.contains("{{value}}") && alert.contains("{{host.ip}}"),
        "{alert}"
    );
    for state in ["is_warning", "is_no_data"] {
        assert!(!block(message, state).is_empty(), "{state}");
    }
}

#[test]
fn downtimes_cover_weekday_nights_and_the_whole_weekend() {
    let downtimes = reference().downtimes;
    let bodies: Vec<Value> = downtimes
        .iter()
        .map(|d| d.substituted(&vars()).unwrap())
        .collect();
    let schedule = |body: &Value| {
        let attributes = &body["data"]["attributes"];
        assert_eq!(attributes["monitor_identifier"], json!({"monitor_id": 42}));
        assert_eq!(attributes["display_timezone"], "America/New_York");
        assert!(
            attributes["message"]
                .as_str()
                .unwrap()
                .contains("@candidate@ddlab.test")
        );
        assert_eq!(attributes["schedule"]["timezone"], "America/New_York");
        attributes["schedule"]["recurrences"].clone()
    };
    assert_eq!(
        bodies.iter().map(schedule).collect::<Vec<_>>(),
        [
            json!([{"rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "duration": "14h", "start": "2026-11-30T19:00"}]),
            json!([{"rrule": "FREQ=WEEKLY;BYDAY=SA", "duration": "57h", "start": "2026-12-05T00:00"}]),
        ]
    );
}

#[test]
fn app_serves_the_three_routes_on_5050_under_ddtrace_run_only() {
    let solution = reference();
    let app = &solution.app_source.unwrap().text;
    for route in [
        "@app.route('/')",
        "@app.route('/api/apm')",
        "@app.route('/api/trace')",
    ] {
        assert!(app.lines().any(|line| line == route), "missing route {route}");
    }
    assert!(app.contains("app.run(host='0.0.0.0', port='5050')"));
    assert!(
        !app.contains("ddtrace") && !app.contains("TraceMiddleware"),
        "one instrumentation method only"
    );
    let launcher = &solution.app_launcher.unwrap().text;
    assert!(
        launcher
            .lines()
            .any(|line| line == "exec ddtrace-run python app.py")
    );
}

#[test]
fn apm_dashboard_mixes_apm_and_infrastructure_metrics() {
    let body = reference().apm_dashboard.unwrap().substituted(&vars()).unwrap();
    let text = body.to_string();
    assert!(text.contains("trace.flask.request.hits"));
    assert!(text.contains("system.cpu.user{host:lab-host}") || text.contains("mysql.performance"));
}

#[test]
fn answers_cover_every_item() {
    let answers = reference().answers.unwrap().text;
    let missing: Vec<String> = (1..=30)
        .map(|n| format!("EX-{n}"))
        .filter(|id| !mentions(&answers, id))
        .collect();
    assert!(missing.is_empty(), "answers.md does not answer {missing:?}");
}

/// Whether `id` appears as a whole token (so EX-1 is not found inside EX-10).
fn mentions(text: &str, id: &str) -> bool {
    text.match_indices(id)
        .any(|(at, _)| !text[at + id.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The text between `{{#name}}` and `{{/name}}`, empty if the block is absent.
fn block<'m>(message: &'m str, name: &str) -> &'m str {
    let open = format!("{{{{#{name}}}}}");
    let close = format!("{{{{/{name}}}}}");
    message
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map_or("", |(inside, _)| inside)
}
