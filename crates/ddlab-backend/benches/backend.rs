//! Backend benchmarks, each side by side with its anchor in one run (`cargo xtask bench` runs them):
//!
//! - intake: v2 protobuf + zstd series over HTTP into the store, against a plain bulk insert of the same
//!   rows into the same SQLite schema (goal: throughput ratio ≥ 0.5);
//! - query: `avg:m{*} by {host}` over 100 hosts × 24 h × 10 s points over HTTP, against a plain scan of
//!   those rows averaged into the same buckets (goal: time ratio ≤ 2);
//! - anomalies: `anomalies(…, 'basic'|'agile'|'robust', 2)` over one week of 1-minute data;
//! - dashboard: the web UI's page of the reference timeboard (three widgets: a host's `my_metric`, MySQL CPU
//!   with `anomalies()`, the hourly `rollup(sum, 3600)`) over one day, against running its three queries
//!   through `/api/v1/query` (goal: time ratio ≤ 1.5, rendering must not dominate);
//! - snapshot: `/api/v1/graph/snapshot` of one day of a host's `my_metric` as an 800×400 PNG, beside the
//!   same query alone;
//! - monitors: one evaluation pass over 1,000 metric monitors × 10 groups each (the exercise's monitor
//!   shape: `avg(last_5m):avg:<metric>{*} by {host} > 800`, warning 500, no-data on), against running the
//!   same 1,000 queries over the same windows through the query engine on the same store (goal: time
//!   ratio ≤ 1.5: states, history and notifications must not dominate).
//!
//! `cargo bench --bench backend -- GROUP...` runs only the named groups (`intake`, `query`, `dashboard`,
//! `monitors`). Prints a table and writes the numbers as JSON to the path in `DDLAB_BENCH_JSON` (if set).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ddlab_backend::source::StoreSource;
use ddlab_backend::{AppState, Config, Keys, Secret, router};
use ddlab_monitor::query::MonitorQuery;
use ddlab_monitor::state::{Options, window};
use ddlab_query::{QueryItem, QueryList, Window};
use ddlab_store::{MetricKind, NewSeries, Store};
use ddlab_wire::series::{self, MetricBatch, Point, Series};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const API: &str = "0123456789abcdef0123456789abcdef";
const APP: &str = "0123456789abcdef0123456789abcdef01234567";

/// Intake: payloads × series × points.
const PAYLOADS: usize = 40;
const SERIES_PER_PAYLOAD: usize = 250;
const POINTS_PER_SERIES: usize = 20;
/// Query: hosts × one day of 10 s points.
const HOSTS: usize = 100;
const DAY: i64 = 86_400;
const RUNS: usize = 5;
/// Monitors: monitors × groups (hosts) each, and minutes of 15 s data before now.
const MONITORS: usize = 1_000;
const GROUPS: usize = 10;
const MONITOR_MINUTES: i64 = 15;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `cargo bench --bench backend -- monitors` runs only the named groups (cargo adds `--bench`).
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |group: &str| only.is_empty() || only.iter().any(|o| o == group);
    let mut results = Vec::new();
    if wanted("intake") {
        results.push(runtime.block_on(intake()));
    }
    if wanted("query") {
        results.extend(runtime.block_on(query()));
    }
    if wanted("dashboard") {
        results.extend(runtime.block_on(dashboard()));
    }
    if wanted("monitors") {
        results.extend(runtime.block_on(monitors()));
    }
    println!();
    println!(
        "{:<52} {:>14} {:>14} {:>8} {:>8}",
        "benchmark", "ours", "anchor", "ratio", "goal"
    );
    for r in &results {
        println!(
            "{:<52} {:>14} {:>14} {:>8} {:>8}",
            r["name"].as_str().unwrap(),
            r["ours_display"].as_str().unwrap(),
            r["anchor_display"].as_str().unwrap_or("-"),
            r["ratio"].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}")),
            r["goal"].as_str().unwrap_or("-"),
        );
    }
    if let Ok(path) = std::env::var("DDLAB_BENCH_JSON") {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({ "backend": results })).unwrap(),
        )
        .unwrap();
        println!("\nwrote {path}");
    }
}

async fn intake() -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (address, state) = start(dir.path(), false).await;
    let now = state.clock.now();
    let payloads: Vec<(MetricBatch, Vec<u8>)> = (0..PAYLOADS)
        .map(|p| {
            let batch = intake_batch(p, now);
            let body = ddlab_wire::compression::compress(
                ddlab_wire::Encoding::Zstd,
                &series::encode_v2_protobuf(&batch),
            )
            .unwrap();
            (batch, body)
        })
        .collect();
    let points = (PAYLOADS * SERIES_PER_PAYLOAD * POINTS_PER_SERIES) as f64;

    let mut http = Http::connect(address).await;
    let started = Instant::now();
    for (_, body) in &payloads {
        let (status, reply) = http
            .request(
                "POST",
                "/api/v2/series",
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("Content-Encoding", "zstd"),
                ],
                body,
            )
            .await;
        assert_eq!(status, 202, "{reply}");
    }
    let ours = started.elapsed();

    // The anchor: the same rows, the same schema, one transaction per payload, no HTTP, no decoding.
    let plain_dir = tempfile::tempdir().unwrap();
    let path = plain_dir.path().join("plain.db");
    drop(Store::open(&path).unwrap());
    let mut conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    let started = Instant::now();
    for (batch, _) in &payloads {
        let tx = conn.transaction().unwrap();
        {
            let mut insert_series = tx
                .prepare_cached(
                    "INSERT INTO series (metric, host, tags, kind, interval, unit, source_type, first_seen, last_seen)
                     VALUES (?1, ?2, ?3, 3, NULL, NULL, NULL, ?4, ?4)
                     ON CONFLICT (metric, host, tags) DO UPDATE SET last_seen = excluded.last_seen RETURNING id",
                )
                .unwrap();
            let mut insert_point = tx
                .prepare_cached("INSERT OR REPLACE INTO points (series_id, ts, value) VALUES (?1, ?2, ?3)")
                .unwrap();
            for s in &batch.series {
                let tags = serde_json::Value::from(s.tags.clone()).to_string();
                let id: i64 = insert_series
                    .query_row(rusqlite::params![s.metric, s.host, tags, now], |row| row.get(0))
                    .unwrap();
                for p in &s.points {
                    insert_point
                        .execute(rusqlite::params![id, p.timestamp, p.value])
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
    }
    let anchor = started.elapsed();
    let ours_rate = points / ours.as_secs_f64();
    let anchor_rate = points / anchor.as_secs_f64();
    json!({
        "name": format!("intake v2 protobuf+zstd over HTTP ({} points)", points as u64),
        "ours": ours_rate, "ours_display": format!("{:.0} pts/s", ours_rate),
        "anchor": anchor_rate, "anchor_display": format!("{:.0} pts/s", anchor_rate),
        "anchor_name": "plain SQLite bulk insert, same schema",
        "ratio": ours_rate / anchor_rate, "goal": ">= 0.5",
    })
}

fn intake_batch(payload: usize, now: i64) -> MetricBatch {
    let series = (0..SERIES_PER_PAYLOAD)
        .map(|i| {
            let mut s = Series::new(format!("bench.intake.m{}", i % 10), series::MetricKind::Gauge);
            s.host = Some(format!("host-{}", i / 10));
            s.tags = vec![format!("payload:{}", payload % 4), "env:bench".to_owned()];
            s.points = (0..POINTS_PER_SERIES)
                .map(|k| Point {
                    timestamp: now - 3000 + (payload * POINTS_PER_SERIES + k) as i64,
                    value: (i * k) as f64,
                })
                .collect();
            s
        })
        .collect();
    MetricBatch { series }
}

async fn query() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let db = state_dir.join(ddlab_backend::DATABASE_FILE);
    let now = {
        let clock = ddlab_backend::Clock::default();
        clock.now()
    };
    let end = now - now.rem_euclid(3600);
    {
        let store = Store::open(&db).unwrap();
        for host in 0..HOSTS {
            let points: Vec<(i64, f64)> = (0..DAY / 10)
                .map(|k| (end - DAY + k * 10, ((host as i64 * 7 + k) % 100) as f64))
                .collect();
            store
                .append_series(&[stored("bench.query.m", host, points)], end)
                .unwrap();
        }
        // One week of 1-minute data with a daily cycle, for the anomaly models.
        let week: Vec<(i64, f64)> = (0..7 * 1440)
            .map(|k| {
                let hour = (k % 1440) as f64 / 60.0;
                (
                    end - 7 * DAY + k * 60,
                    100.0 + 30.0 * (hour / 24.0 * std::f64::consts::TAU).sin(),
                )
            })
            .collect();
        store
            .append_series(&[stored("bench.anomaly.m", 0, week)], end)
            .unwrap();
    }
    let (address, _state) = start(dir.path(), false).await;
    let mut http = Http::connect(address).await;

    let q = "avg:bench.query.m{*} by {host}";
    let mut interval = 0;
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = http.get_query(q, end - DAY, end - 1).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["series"].as_array().unwrap().len(), HOSTS);
        interval = body["series"][0]["interval"].as_i64().unwrap();
    }
    let ours = median(times);

    // The anchor: read the same rows with one SQL scan and average them into the same buckets.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut stmt = conn
            .prepare_cached(
                "SELECT s.host, p.ts, p.value FROM points p JOIN series s ON s.id = p.series_id
                 WHERE s.metric = ?1 AND p.ts BETWEEN ?2 AND ?3",
            )
            .unwrap();
        let mut buckets: HashMap<(String, i64), (f64, u32)> = HashMap::new();
        let rows = stmt
            .query_map(rusqlite::params!["bench.query.m", end - DAY, end - 1], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, f64>(2)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (host, ts, value) = row.unwrap();
            let bucket = buckets.entry((host, ts - ts.rem_euclid(interval))).or_default();
            bucket.0 += value;
            bucket.1 += 1;
        }
        let averages: Vec<f64> = buckets.values().map(|(sum, n)| sum / f64::from(*n)).collect();
        assert_eq!(averages.len() as i64, HOSTS as i64 * DAY / interval);
        times.push(started.elapsed());
    }
    let anchor = median(times);
    let mut results = vec![json!({
        "name": format!("query avg by host, {HOSTS} hosts x 24 h x 10 s ({interval} s buckets)"),
        "ours": ours.as_secs_f64() * 1000.0, "ours_display": format!("{:.1} ms", ours.as_secs_f64() * 1000.0),
        "anchor": anchor.as_secs_f64() * 1000.0, "anchor_display": format!("{:.1} ms", anchor.as_secs_f64() * 1000.0),
        "anchor_name": "plain SQL scan + bucket averages",
        "ratio": ours.as_secs_f64() / anchor.as_secs_f64(), "goal": "<= 2",
    })];
    for algorithm in ["basic", "agile", "robust"] {
        // agile and robust need three seasons of history: one week holds seven daily ones.
        let q = match algorithm {
            "basic" => "anomalies(avg:bench.anomaly.m{*}, 'basic', 2)".to_owned(),
            other => format!("anomalies(avg:bench.anomaly.m{{*}}, '{other}', 2, seasonality='daily')"),
        };
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let (status, body) = http.get_query(&q, end - DAY, end - 1).await;
            times.push(started.elapsed());
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body["series"].as_array().unwrap().len(),
                3,
                "{q}: the series and its two bands"
            );
        }
        let took = median(times);
        results.push(json!({
            "name": format!("{q}: 1 week of 1-minute data, 24 h shown"),
            "ours": took.as_secs_f64() * 1000.0, "ours_display": format!("{:.1} ms", took.as_secs_f64() * 1000.0),
            "anchor": null, "anchor_display": null, "ratio": null, "goal": null,
        }));
    }
    results
}

/// The dashboard and snapshot benchmarks: one day of 15 s data for ten hosts, two days of MySQL CPU.
async fn dashboard() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let now = ddlab_backend::Clock::default().now();
    let end = now - now.rem_euclid(3600);
    {
        let store = Store::open(&state_dir.join(ddlab_backend::DATABASE_FILE)).unwrap();
        for host in 0..10 {
            let points: Vec<(i64, f64)> = (0..DAY / 15)
                .map(|k| (end - DAY + k * 15, ((host as i64 * 31 + k * 17) % 1000) as f64))
                .collect();
            store
                .append_series(&[stored("my_metric", host, points)], end)
                .unwrap();
        }
        let mysql: Vec<(i64, f64)> = (0..2 * DAY / 15)
            .map(|k| {
                let phase = (k % 5760) as f64 / 5760.0 * std::f64::consts::TAU;
                (
                    end - 2 * DAY + k * 15,
                    12.0 + 4.0 * phase.sin() + (k % 7) as f64 * 0.1,
                )
            })
            .collect();
        store
            .append_series(&[stored("mysql.performance.cpu_time", 0, mysql)], end)
            .unwrap();
    }
    let (address, _state) = start(dir.path(), false).await;
    let mut http = Http::connect(address).await;
    let queries = [
        "avg:my_metric{host:host-0}",
        "anomalies(avg:mysql.performance.cpu_time{host:host-0}, 'basic', 2)",
        "avg:my_metric{host:host-0}.rollup(sum, 3600)",
    ];
    let titles = [
        "my_metric on host-0",
        "MySQL CPU time with anomaly band",
        "my_metric per hour",
    ];
    let widgets: Vec<Value> = queries
        .iter()
        .zip(titles)
        .enumerate()
        .map(|(i, (q, title))| {
            json!({"definition": {"type": "timeseries", "title": title,
                "requests": [{"q": q, "display_type": if i == 2 { "bars" } else { "line" }}]}})
        })
        .collect();
    let board = json!({"title": "bench", "layout_type": "ordered", "widgets": widgets}).to_string();
    let (from, to) = (end - DAY, end - 1);
    let page = format!(
        "/dashboard/preview?json={}&from_ts={}&to_ts={}",
        encode(&board),
        from * 1000,
        to * 1000
    );
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = http.request("GET", &page, &[], &[]).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{body}");
        for title in titles {
            assert!(body.contains(title), "the page lacks {title}");
        }
        assert!(body.contains("<path class=\"band\""), "no anomaly band");
    }
    let ours = median(times);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        for q in queries {
            let (status, body) = http.get_query(q, from, to).await;
            assert_eq!(status, 200, "{body}");
            assert!(
                !body["series"].as_array().unwrap().is_empty(),
                "{q} found no data"
            );
        }
        times.push(started.elapsed());
    }
    let anchor = median(times);

    let snapshot = format!(
        "/api/v1/graph/snapshot?metric_query={}&start={from}&end={to}&width=800&height=400",
        encode(queries[0])
    );
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = http.request("GET", &snapshot, &[], &[]).await;
        times.push(started.elapsed());
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("/snapshot/view/"), "{body}");
    }
    let snapshot_time = median(times);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let (status, body) = http.get_query(queries[0], from, to).await;
        assert_eq!(status, 200, "{body}");
        times.push(started.elapsed());
    }
    let query_time = median(times);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    vec![
        json!({
            "name": "dashboard page, 3 widgets over 24 h (anomalies, rollup bars)",
            "ours": ms(ours), "ours_display": format!("{:.1} ms", ms(ours)),
            "anchor": ms(anchor), "anchor_display": format!("{:.1} ms", ms(anchor)),
            "anchor_name": "its three queries through /api/v1/query",
            "ratio": ours.as_secs_f64() / anchor.as_secs_f64(), "goal": "<= 1.5",
        }),
        json!({
            "name": "graph snapshot PNG 800x400, 24 h of 15 s data",
            "ours": ms(snapshot_time), "ours_display": format!("{:.1} ms", ms(snapshot_time)),
            "anchor": ms(query_time), "anchor_display": format!("{:.1} ms", ms(query_time)),
            "anchor_name": "the same query through /api/v1/query",
            "ratio": snapshot_time.as_secs_f64() / query_time.as_secs_f64(), "goal": null,
        }),
    ]
}

/// The monitor benchmark: 1,000 monitors, each over its own metric reported by 10 hosts, whose values put
/// groups in OK, Warn and Alert so the first pass records transitions, events and notifications.
async fn monitors() -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let (address, state) = start(dir.path(), true).await;
    let now = state.clock.now();
    // Hosts 0–6 stay under 500 (OK), 7–8 between 500 and 800 (Warn), 9 above 800 (Alert).
    let level = |m: usize, host: usize| {
        let base = match host {
            0..=6 => 100.0 + host as f64 * 50.0,
            7 | 8 => 650.0,
            _ => 900.0,
        };
        base + (m % 7) as f64
    };
    let series_at = |times: &[i64]| -> Vec<NewSeries> {
        (0..MONITORS)
            .flat_map(|m| {
                (0..GROUPS).map(move |host| {
                    let points = times.iter().map(|&t| (t, level(m, host))).collect();
                    stored(&format!("bench.monitor.m{m}"), host, points)
                })
            })
            .collect()
    };
    let history: Vec<i64> = (0..MONITOR_MINUTES * 4)
        .map(|k| now - MONITOR_MINUTES * 60 + k * 15)
        .collect();
    for chunk in series_at(&history).chunks(1_000) {
        state.store.append_series(chunk, now).unwrap();
    }
    let mut http = Http::connect(address).await;
    let queries: Vec<String> = (0..MONITORS)
        .map(|m| format!("avg(last_5m):avg:bench.monitor.m{m}{{*}} by {{host}} > 800"))
        .collect();
    for (m, query) in queries.iter().enumerate() {
        let body = json!({
            "name": format!("bench monitor {m}"), "type": "metric alert", "query": query,
            "message": "{{#is_alert}}{{host.name}} is at {{value}}{{/is_alert}} @ops@example.com",
            "options": {"thresholds": {"critical": 800, "warning": 500}, "notify_no_data": true,
                        "no_data_timeframe": 10, "new_host_delay": 0},
        })
        .to_string();
        let (status, answer) = http
            .request(
                "POST",
                "/api/v1/monitor",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    let pass = async |http: &mut Http| {
        let started = Instant::now();
        let (status, answer) = http
            .request("POST", "/ddlab/test/monitors/evaluate", &[], &[])
            .await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{answer}");
        let report: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(report["evaluation"]["monitors"], MONITORS, "{answer}");
        assert_eq!(report["evaluation"]["errors"], json!([]), "{answer}");
        (took, report)
    };
    // The first pass finds every group new (the hosts are new too: `new_host_delay` is 0 so they are
    // evaluated at once): 3 of each monitor's 10 groups leave OK.
    let (first, report) = pass(&mut http).await;
    assert_eq!(report["evaluation"]["transitions"], MONITORS * 3, "{report}");
    // The first pass's notifications are delivered (written to the outbox) before the steady passes, so
    // the evaluation route's delivery half has nothing to do while they are timed.
    let mut drained = false;
    for _ in 0..MONITORS {
        let (status, answer) = http
            .request("POST", "/ddlab/test/notifications/deliver", &[], &[])
            .await;
        assert_eq!(status, 200, "{answer}");
        let delivery: Value = serde_json::from_str(&answer).unwrap();
        if delivery["delivery"] == json!({"sent": 0, "recorded": 0, "retrying": 0, "failed": 0}) {
            drained = true;
            break;
        }
    }
    assert!(drained, "the first pass's notifications were not all delivered");

    // Steady passes, each followed by its anchor: the same queries over the same windows through the
    // query engine, one source for all, on the same store in the same state (cache, WAL) as the pass.
    let parsed: Vec<MonitorQuery> = queries.iter().map(|q| MonitorQuery::parse(q).unwrap()).collect();
    let options = Options::default();
    let (mut passes, mut anchors) = (Vec::with_capacity(RUNS), Vec::with_capacity(RUNS));
    for _ in 0..RUNS {
        // New data before each pass, as between the passes of a running backend: every group's value
        // and last data point move, so every group's state is written again.
        let at = state.clock.now();
        for chunk in series_at(&[at]).chunks(1_000) {
            state.store.append_series(chunk, at).unwrap();
        }
        let (took, report) = pass(&mut http).await;
        assert_eq!(report["evaluation"]["transitions"], 0, "{report}");
        passes.push(took);
        let store = std::sync::Arc::clone(&state.store);
        let parsed = parsed.clone();
        let options = options.clone();
        let now = state.clock.now();
        let (took, series) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let source = StoreSource::new(&store);
            let mut series = 0;
            for query in &parsed {
                let (from, to) = window(query, &options, now);
                let list = QueryList {
                    items: vec![QueryItem {
                        query_index: 0,
                        expr: query.expression.clone(),
                    }],
                };
                series += ddlab_query::evaluate(
                    &list,
                    &source,
                    Window {
                        from,
                        to,
                        interval: None,
                    },
                )
                .unwrap()
                .len();
            }
            (started.elapsed(), series)
        })
        .await
        .unwrap();
        assert_eq!(series, MONITORS * GROUPS);
        anchors.push(took);
    }
    let steady = median(passes);
    let anchor = median(anchors);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let name = format!("monitor evaluation pass, {MONITORS} monitors x {GROUPS} groups");
    vec![
        json!({
            "name": format!("{name}, steady (no transitions)"),
            "ours": ms(steady), "ours_display": format!("{:.0} ms", ms(steady)),
            "anchor": ms(anchor), "anchor_display": format!("{:.0} ms", ms(anchor)),
            "anchor_name": "its 1,000 queries through the query engine, same store and windows",
            "ratio": steady.as_secs_f64() / anchor.as_secs_f64(), "goal": "<= 1.5",
        }),
        json!({
            "name": format!("{name}, first (3,000 transitions, events, notifications)"),
            "ours": ms(first), "ours_display": format!("{:.0} ms", ms(first)),
            "anchor": ms(anchor), "anchor_display": format!("{:.0} ms", ms(anchor)),
            "anchor_name": "its 1,000 queries through the query engine, same store and windows",
            "ratio": first.as_secs_f64() / anchor.as_secs_f64(), "goal": null,
        }),
    ]
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn stored(metric: &str, host: usize, points: Vec<(i64, f64)>) -> NewSeries {
    NewSeries {
        metric: metric.to_owned(),
        host: Some(format!("host-{host}")),
        tags: vec!["env:bench".to_owned()],
        kind: MetricKind::Gauge,
        interval: None,
        unit: None,
        source_type: None,
        points,
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn start(dir: &std::path::Path, test_mode: bool) -> (std::net::SocketAddr, AppState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = Config {
        state_dir: dir.join("state"),
        listen: address,
        test_mode,
        keys: Some(Keys {
            api_key: Secret::new(API),
            app_key: Secret::new(APP),
        }),
        public_url: None,
        notifications: Default::default(),
    };
    let state = AppState::open(&config).unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, state)
}

/// A minimal HTTP/1.1 keep-alive client: enough for the benchmark, no pooling or TLS to measure.
struct Http {
    stream: BufReader<TcpStream>,
}

impl Http {
    async fn connect(address: std::net::SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream: BufReader::new(stream),
        }
    }

    async fn get_query(&mut self, q: &str, from: i64, to: i64) -> (u16, Value) {
        let path = format!("/api/v1/query?from={from}&to={to}&query={}", encode(q));
        let (status, body) = self.request("GET", &path, &[], &[]).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nDD-API-KEY: {API}\r\nDD-APPLICATION-KEY: {APP}\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (name, value) = trimmed.split_once(':').unwrap();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.trim().parse::<usize>().unwrap()),
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let mut bytes = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..size]);
            }
        } else {
            bytes.resize(length.unwrap_or(0), 0);
            self.stream.read_exact(&mut bytes).await.unwrap();
        }
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}
