//! A known, realistic data set for a fresh lab: the web UI's tests, the screenshots in `docs/img/`
//! (`cargo xtask screenshots`) and anyone who wants to look around before an agent runs
//! (`ddlab-backend --demo`).
//!
//! Everything goes in through the backend's own router as the requests an agent, a tracer and an API client
//! send (series, host metadata, check runs, APM stats and traces, events, the reference solution's monitor
//! and downtimes), so the pages show exactly what real traffic would produce. The values are a fixed
//! function of time, with no randomness: the same `now` gives the same data.
//!
//! History older than the intake's one-hour window is written by moving the backend clock back hour by
//! hour while sending, as the test clock does for the e2e scenarios; the clock is put back afterwards.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context as _, bail};
use axum::body::Body;
use axum::http::Request;
use ddlab_wire::Encoding;
use ddlab_wire::intake::HostMetadata;
use ddlab_wire::trace::sketch::LatencySketch;
use ddlab_wire::trace::{StatsFormat, pb};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::AppState;

/// The exercise's host: it runs the agent, MySQL and the traced Flask app.
pub const DEMO_HOST: &str = "ddlab-vm";
/// The address the reference solution's messages notify.
pub const DEMO_EMAIL: &str = "you@example.com";
/// Hours of history written.
const HISTORY_HOURS: i64 = 24;
/// How long ago the host that stopped reporting sent its last point.
const STOPPED_AGO: i64 = 40 * 60;

/// What was seeded, for the pages that show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// The backend clock's now the data ends at.
    pub now: i64,
    pub points: usize,
    /// The reference `my_metric` monitor.
    pub monitor_id: i64,
    /// The graph snapshot posted in an event, as the exercise's EX-14 asks.
    pub snapshot_url: String,
    /// A trace of the Flask app with a MySQL span.
    pub trace_id: u64,
    /// The reference timeboard and APM + infrastructure dashboard, placeholders filled in.
    pub dashboards: Vec<Value>,
}

/// The lab's hosts: (name, IP, agent tags, whether it still reports).
const HOSTS: &[(&str, &str, &[&str], bool)] = &[
    (DEMO_HOST, "10.0.2.15", &["env:lab", "role:exercise"], true),
    ("web-2", "10.0.2.21", &["env:lab", "role:web"], true),
    ("worker-1", "10.0.2.31", &["env:lab", "role:worker"], false),
];

/// Seeds the lab's data through the router, ending at the backend clock's now.
pub async fn seed(state: &AppState) -> anyhow::Result<DemoReport> {
    let real_now = state.clock.now();
    let now = real_now - real_now.rem_euclid(60);
    let lab = Lab { state };
    let mut points = 0;
    // Metrics, an hour at a time with the clock at the end of that hour.
    for hour in (0..HISTORY_HOURS).rev() {
        let end = now - hour * 3600;
        state.clock.set(end);
        if hour == HISTORY_HOURS - 1 || hour == 0 {
            for (name, ip, tags, reporting) in HOSTS {
                if *reporting || hour > 0 {
                    lab.intake(&host_metadata(name, ip, tags)).await?;
                }
            }
        }
        let series = hour_of_series(end - 3600 + 1, end, now);
        points += series
            .iter()
            .map(|s| s["points"].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        // Hosts that stopped reporting send their last hour with the clock at the time they stopped, so
        // they are last seen then.
        let (live, stopped): (Vec<Value>, Vec<Value>) = series.into_iter().partition(|s| {
            HOSTS
                .iter()
                .any(|(name, _, _, reporting)| *reporting && s["host"] == *name)
        });
        lab.send("POST", "/api/v1/series", &json!({ "series": live }), false)
            .await?;
        state.clock.set(end.min(now - STOPPED_AGO));
        lab.send("POST", "/api/v1/series", &json!({ "series": stopped }), false)
            .await?;
    }
    state.clock.set(now);
    lab.send(
        "POST",
        "/api/v1/tags/hosts/ddlab-vm",
        &json!({ "tags": ["team:solutions-engineering", "exercise:ddlab"] }),
        true,
    )
    .await?;
    let checks: Vec<Value> = HOSTS
        .iter()
        .filter(|h| h.3)
        .flat_map(|(host, ..)| {
            let mut runs =
                vec![json!({"check": "datadog.agent.up", "host_name": host, "status": 0, "timestamp": now})];
            if *host == DEMO_HOST {
                runs.push(
                    json!({"check": "mysql.can_connect", "host_name": host, "status": 0, "timestamp": now,
                    "tags": ["port:3306", "server:127.0.0.1"]}),
                );
            }
            runs
        })
        .collect();
    lab.send("POST", "/api/v1/check_run", &Value::Array(checks), false)
        .await?;
    lab.send(
        "PUT",
        "/api/v1/metrics/my_metric",
        &json!({"description": "The exercise's custom check: a random value from 0 to 1000, every 45 seconds.",
                "type": "gauge", "short_name": "my metric"}),
        true,
    )
    .await?;
    let trace_id = lab.apm(now).await?;

    // The reference monitor and a multi-alert CPU monitor, evaluated every 5 minutes of the last 2 hours.
    state.clock.set(now - 125 * 60);
    let monitor = fill(
        include_str!("../../../fixtures/solution/api/monitor.json"),
        &HashMap::new(),
    );
    let created = lab.send("POST", "/api/v1/monitor", &monitor, true).await?;
    let monitor_id = created["id"].as_i64().context("the monitor API answered no id")?;
    lab.send(
        "POST",
        "/api/v1/monitor",
        &json!({
            "name": "CPU is high on {{host.name}}", "type": "metric alert",
            "query": "avg(last_5m):avg:system.cpu.user{env:lab} by {host} > 90",
            "message": "{{#is_alert}}CPU at {{value}}% on {{host.name}}.{{/is_alert}} @webhook-ops",
            "tags": ["team:platform"],
            "options": {"thresholds": {"critical": 90, "warning": 75}, "notify_no_data": false},
        }),
        true,
    )
    .await?;
    for step in 0..=24 {
        state.clock.set(now - 120 * 60 + step * 300);
        crate::alerting::evaluate(state).await?;
    }
    state.clock.set(now);
    crate::alerting::evaluate(state).await?;

    // The reference downtimes, scheduled from now.
    let mut values = HashMap::from([("MONITOR_ID".to_owned(), monitor_id.to_string())]);
    values.extend(next_days(now));
    for file in [
        include_str!("../../../fixtures/solution/api/downtime-weekdays.json"),
        include_str!("../../../fixtures/solution/api/downtime-weekend.json"),
    ] {
        lab.send("POST", "/api/v2/downtime", &fill(file, &values), true)
            .await?;
    }

    // Events: a deploy, and the snapshot of the timeboard's first graph sent to the candidate (EX-14).
    lab.send(
        "POST",
        "/api/v1/events",
        &json!({"title": "Deployed flask app 1.4.2", "text": "Rolled out by the release pipeline: 3 routes, ddtrace-run.",
                "date_happened": now - 50 * 60, "tags": ["env:lab", "service:flask"], "alert_type": "success",
                "source_type_name": "my_apps", "host": DEMO_HOST}),
        false,
    )
    .await?;
    let query = format!("avg:my_metric{{host:{DEMO_HOST}}}");
    let snapshot = lab
        .get(&format!(
            "/api/v1/graph/snapshot?metric_query={}&start={}&end={}&title={}",
            encode(&query),
            now - 3600,
            now,
            encode("my_metric over the past hour")
        ))
        .await?;
    let snapshot_url = snapshot["snapshot_url"]
        .as_str()
        .context("no snapshot_url")?
        .to_owned();
    lab.send(
        "POST",
        "/api/v1/events",
        &json!({"title": "my_metric went above 800",
                "text": format!("Snapshot of my_metric on {DEMO_HOST}: {snapshot_url} @{DEMO_EMAIL}"),
                "tags": ["env:lab"], "alert_type": "warning", "source_type_name": "snapshot"}),
        false,
    )
    .await?;
    crate::alerting::deliver(state).await?;
    // Put the clock back where it was, less the seconds seeding took.
    state.clock.advance(-state.clock.offset_seconds());

    let dashboards = [
        include_str!("../../../fixtures/solution/api/timeboard.json"),
        include_str!("../../../fixtures/solution/api/apm-infra-dashboard.json"),
    ]
    .iter()
    .map(|file| fill(file, &HashMap::new()))
    .collect();
    Ok(DemoReport {
        now,
        points,
        monitor_id,
        snapshot_url,
        trace_id,
        dashboards,
    })
}

/// One hour of every host's metrics, `[from, to]`; `now` is where the story ends.
fn hour_of_series(from: i64, to: i64, now: i64) -> Vec<Value> {
    let mut series = Vec::new();
    for (index, (host, _, tags, reporting)) in HOSTS.iter().enumerate() {
        // worker-1 stopped 40 minutes ago.
        let last = if *reporting { to } else { to.min(now - STOPPED_AGO) };
        let minutes: Vec<i64> = (from..=last).filter(|t| t % 60 == 0).collect();
        let seed = index as u64 + 1;
        let metric = |name: &str, kind: &str, times: &[i64], value: &dyn Fn(i64) -> f64| {
            json!({
                "metric": name, "type": kind, "host": host, "tags": tags,
                "points": times.iter().map(|t| json!([t, (value(*t) * 1000.0).round() / 1000.0])).collect::<Vec<_>>(),
            })
        };
        let day = |t: i64| ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
        let base_cpu = [38.0, 22.0, 14.0][index];
        series.push(metric("system.cpu.user", "gauge", &minutes, &|t| {
            (base_cpu + 10.0 * day(t) + 6.0 * noise(seed, t)).clamp(0.5, 99.0)
        }));
        series.push(metric("system.cpu.system", "gauge", &minutes, &|t| {
            (base_cpu / 4.0 + 2.0 * noise(seed + 10, t)).clamp(0.1, 50.0)
        }));
        series.push(metric("system.load.1", "gauge", &minutes, &|t| {
            (base_cpu / 25.0 + 0.4 * day(t) + 0.3 * noise(seed + 20, t)).max(0.0)
        }));
        // my_metric every 45 s: around 300; on the exercise host it climbs past 500, then past 800.
        let every_45: Vec<i64> = (from..=last).filter(|t| t % 45 == 0).collect();
        series.push(metric("my_metric", "gauge", &every_45, &|t| {
            let level = if *host == DEMO_HOST && t > now - 25 * 60 {
                if t > now - 14 * 60 { 880.0 } else { 640.0 }
            } else {
                300.0 + 60.0 * day(t)
            };
            (level + 110.0 * noise(seed + 30, t)).clamp(0.0, 1000.0)
        }));
        if *host == DEMO_HOST {
            // MySQL's CPU time follows the day, with a spike in the last 20 minutes for anomalies().
            series.push(metric("mysql.performance.cpu_time", "gauge", &minutes, &|t| {
                let spike = if t > now - 20 * 60 { 28.0 } else { 0.0 };
                (12.0 + 4.0 * day(t) + 0.8 * noise(41, t) + spike).max(0.0)
            }));
            series.push(metric("mysql.net.connections", "gauge", &minutes, &|t| {
                (14.0 + 3.0 * day(t) + 2.0 * noise(43, t)).round().max(1.0)
            }));
        }
    }
    series
}

/// A fixed, smooth-looking value in -1..1 for each (seed, minute): no randomness, the same every run.
fn noise(seed: u64, t: i64) -> f64 {
    let mut x =
        (t as u64 / 15).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 29;
    (x % 20_001) as f64 / 10_000.0 - 1.0
}

fn host_metadata(name: &str, ip: &str, tags: &[&str]) -> HostMetadata {
    HostMetadata {
        hostname: name.to_owned(),
        host_tags: BTreeMap::from([(
            "system".to_owned(),
            tags.iter().map(|t| (*t).to_owned()).collect(),
        )]),
        ip: Some(ip.to_owned()),
        agent_version: Some("7.70.0".to_owned()),
        agent_flavor: Some("agent".to_owned()),
        os: Some("linux".to_owned()),
        platform: Some("GNU/Linux".to_owned()),
        kernel_release: Some("6.1.0-lab".to_owned()),
        cpu_cores: Some(4),
        ..HostMetadata::default()
    }
}

/// The JSON of a fixture with its placeholders filled in (`$HOST`, `$EMAIL`, `${NAME}`; a whole-string
/// number placeholder becomes a number), as `fixtures/solution/api/apply.py` does.
fn fill(text: &str, values: &HashMap<String, String>) -> Value {
    let mut values = values.clone();
    values.insert("HOST".to_owned(), DEMO_HOST.to_owned());
    values.insert("EMAIL".to_owned(), DEMO_EMAIL.to_owned());
    let mut filled = text.to_owned();
    // Longest names first, so `$HOST` never eats a `$HOSTNAME`.
    let mut names: Vec<&String> = values.keys().collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    for name in names {
        let value = &values[name];
        if value.parse::<f64>().is_ok() {
            filled = filled.replace(&format!("\"${name}\""), value);
        }
        filled = filled
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    serde_json::from_str(&filled).unwrap_or(Value::Null)
}

/// `NEXT_MONDAY` and `NEXT_SATURDAY` (dates in the downtimes' zone, after today), as apply.py defines them.
fn next_days(now: i64) -> Vec<(String, String)> {
    let tz = jiff::tz::TimeZone::get("America/New_York").unwrap_or(jiff::tz::TimeZone::UTC);
    let today = jiff::Timestamp::from_second(now)
        .map(|t| t.to_zoned_datetime(tz).date())
        .unwrap_or_default();
    let next = |weekday: jiff::civil::Weekday| {
        let mut day = today.tomorrow().unwrap_or(today);
        while day.weekday() != weekday {
            day = day.tomorrow().unwrap_or(day);
        }
        day.to_string()
    };
    vec![
        ("NEXT_MONDAY".to_owned(), next(jiff::civil::Weekday::Monday)),
        ("NEXT_SATURDAY".to_owned(), next(jiff::civil::Weekday::Saturday)),
    ]
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Requests through the router, with the lab's keys.
struct Lab<'a> {
    state: &'a AppState,
}

impl Lab<'_> {
    async fn call(&self, request: Request<Body>) -> anyhow::Result<Value> {
        let what = format!("{} {}", request.method(), request.uri());
        let response = crate::router(self.state.clone())
            .oneshot(request)
            .await
            .context("the router failed")?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{what} answered {status}: {body}");
        }
        Ok(body)
    }

    fn request(&self, method: &str, path: &str, app_key: bool) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("DD-API-KEY", self.state.keys.api_key.expose());
        if app_key {
            builder = builder.header("DD-APPLICATION-KEY", self.state.keys.app_key.expose());
        }
        builder
    }

    async fn send(&self, method: &str, path: &str, body: &Value, app_key: bool) -> anyhow::Result<Value> {
        let request = self
            .request(method, path, app_key)
            .header("Content-Type", "application/json")
            .body(Body::from(body.to_string()))?;
        self.call(request).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(self.request("GET", path, true).body(Body::empty())?)
            .await
    }

    async fn intake(&self, host: &HostMetadata) -> anyhow::Result<Value> {
        let body = ddlab_wire::intake::encode_host_metadata(self.state.keys.api_key.expose(), host);
        let request = self
            .request("POST", "/intake/", false)
            .header("Content-Type", "application/json")
            .body(Body::from(body))?;
        self.call(request).await
    }

    async fn gzip(&self, path: &str, content_type: &str, body: &[u8]) -> anyhow::Result<Value> {
        let request = self
            .request("POST", path, false)
            .header("Content-Type", content_type)
            .header("Content-Encoding", "gzip")
            .body(Body::from(ddlab_wire::compression::compress(
                Encoding::Gzip,
                body,
            )?))?;
        self.call(request).await
    }

    /// An hour of the Flask app's APM stats (one bucket a minute) and a few traces; returns a trace id.
    async fn apm(&self, now: i64) -> anyhow::Result<u64> {
        let routes: [(&str, u32, u64, f64); 4] = [
            ("GET /", 200, 24, 4.0),
            ("GET /api/apm", 200, 16, 18.0),
            ("GET /api/trace", 200, 9, 32.0),
            ("GET /api/trace", 500, 1, 55.0),
        ];
        for minute in (1..=60).rev() {
            let bucket = now - minute * 60;
            let groups: Vec<pb::ClientGroupedStats> = routes
                .iter()
                .map(|(resource, status, hits, ms)| {
                    let hits = hits + (noise(7, bucket).abs() * 4.0) as u64;
                    let latencies: Vec<f64> = (0..hits)
                        .map(|i| (ms * (1.0 + 0.4 * noise(i + 3, bucket + i as i64 * 15))).max(0.5) * 1e6)
                        .collect();
                    let errors = if *status >= 500 { hits } else { 0 };
                    let (failed, ok) = latencies.split_at(usize::try_from(errors).unwrap_or(0));
                    pb::ClientGroupedStats {
                        service: "flask".into(),
                        name: "flask.request".into(),
                        resource: (*resource).into(),
                        http_status_code: *status,
                        r#type: "web".into(),
                        hits,
                        errors,
                        duration: latencies.iter().sum::<f64>() as u64,
                        ok_summary: LatencySketch::of(ok).encode(),
                        error_summary: LatencySketch::of(failed).encode(),
                        top_level_hits: hits,
                        ..pb::ClientGroupedStats::default()
                    }
                })
                .collect();
            let payload = pb::StatsPayload {
                agent_hostname: DEMO_HOST.into(),
                agent_env: "lab".into(),
                agent_version: "7.70.0".into(),
                stats: vec![pb::ClientStatsPayload {
                    hostname: DEMO_HOST.into(),
                    env: "lab".into(),
                    version: "1.4.2".into(),
                    stats: vec![pb::ClientStatsBucket {
                        start: u64::try_from(bucket)? * 1_000_000_000,
                        duration: 10_000_000_000,
                        stats: groups,
                        agent_time_shift: 0,
                    }],
                    ..pb::ClientStatsPayload::default()
                }],
                ..pb::StatsPayload::default()
            };
            let body = ddlab_wire::trace::encode_stats_payload(&payload, StatsFormat::Msgpack)?;
            self.gzip("/api/v0.2/stats", "application/msgpack", &body).await?;
        }
        let mut chunks = Vec::new();
        let first_trace = 0x5eed_0000_0000_0001_u64;
        for (i, (resource, status, _, ms)) in routes.iter().enumerate() {
            let trace_id = first_trace + i as u64;
            let start = (now - 300 + i as i64 * 40) * 1_000_000_000;
            let total = (*ms * 1e6) as i64;
            let error = i32::from(*status >= 500);
            let span = |span_id: u64,
                        parent_id: u64,
                        service: &str,
                        name: &str,
                        resource: &str,
                        offset: i64,
                        duration: i64| pb::Span {
                service: service.into(),
                name: name.into(),
                resource: resource.into(),
                trace_id,
                span_id,
                parent_id,
                start: start + offset,
                duration,
                error: if parent_id == 0 { error } else { 0 },
                r#type: if service == "mysql" { "sql" } else { "web" }.into(),
                meta: HashMap::from([
                    ("env".into(), "lab".into()),
                    ("http.method".into(), "GET".into()),
                    ("http.status_code".into(), status.to_string()),
                    ("component".into(), "flask".into()),
                ]),
                metrics: HashMap::from([(
                    "_top_level".into(),
                    if parent_id == 0 || service == "mysql" {
                        1.0
                    } else {
                        0.0
                    },
                )]),
                ..pb::Span::default()
            };
            let root = 1000 * (i as u64 + 1);
            let mut spans = vec![
                span(root, 0, "flask", "flask.request", resource, 0, total),
                span(
                    root + 1,
                    root,
                    "flask",
                    "flask.dispatch_request",
                    resource,
                    total / 10,
                    total * 7 / 10,
                ),
            ];
            if resource.contains("apm") || resource.contains("trace") {
                spans.push(span(
                    root + 2,
                    root + 1,
                    "mysql",
                    "mysql.query",
                    "SELECT * FROM checks WHERE name = ?",
                    total / 5,
                    total * 2 / 5,
                ));
            }
            spans.push(span(
                root + 3,
                root,
                "flask",
                "flask.render",
                "response",
                total * 8 / 10,
                total / 10,
            ));
            chunks.push(pb::TraceChunk {
                priority: 1,
                spans,
                ..pb::TraceChunk::default()
            });
        }
        let payload = pb::AgentPayload {
            host_name: DEMO_HOST.into(),
            env: "lab".into(),
            agent_version: "7.70.0".into(),
            tracer_payloads: vec![pb::TracerPayload {
                language_name: "python".into(),
                env: "lab".into(),
                app_version: "1.4.2".into(),
                chunks,
                ..pb::TracerPayload::default()
            }],
            ..pb::AgentPayload::default()
        };
        self.gzip(
            "/api/v0.2/traces",
            "application/x-protobuf",
            &ddlab_wire::trace::encode_agent_payload(&payload),
        )
        .await?;
        Ok(first_trace + 1)
    }
}
