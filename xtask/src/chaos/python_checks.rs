//! `python-checks`: custom checks that raise, hang (sleeping, and spinning with the GIL held) and kill
//! their interpreter, beside a well-behaved one, in one agent. The agent must keep running, report each
//! failure in `status` (state, message, traceback, the Python host's restarts, one per hang or crash,
//! and the checks it isolated in a process of their own), and the well-behaved Python check and the
//! core checks must keep running on schedule without errors.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::Lab;
use super::lab::{AgentProcess, AgentSetup, Outcome, ScenarioLab, check, number, until};

/// `ddlab_check_timeout`, seconds: how long one run may take.
const TIMEOUT: u64 = 3;
/// How long the checks are watched once each has run.
const WATCH: Duration = Duration::from_secs(40);
/// The misbehaving checks, a piece of the error message each must report, and how `status` must count
/// its runs: (timeouts, crashes) per run.
const FAULTY: [(&str, &str, (u64, u64)); 4] = [
    ("chaos_raise", "chaos_raise fails on purpose", (0, 0)),
    ("chaos_hang", "did not finish within", (1, 0)),
    ("chaos_spin", "did not answer in time", (1, 0)),
    ("chaos_crash", "exited", (0, 1)),
];
const HEALTHY: &str = "chaos_ok";

pub(crate) async fn run(lab: &Lab, out: &mut Outcome) -> anyhow::Result<()> {
    let python = lab.python()?;
    let scenario = ScenarioLab::start(lab, "python-checks")?;
    let root = scenario.configure_agent(
        "agent",
        &AgentSetup {
            python: Some(python),
            extra: format!("ddlab_check_timeout: {TIMEOUT}\n"),
            ..scenario.agent_setup("chaos-python")
        },
    )?;
    lab.install_check(&root, HEALTHY)?;
    for (name, _, _) in FAULTY {
        lab.install_check(&root, name)?;
    }
    let mut agent = AgentProcess::start(&lab.agent_binary, &root, &[]).await?;
    let pid = agent.pid();

    let first = until(
        Duration::from_secs(120),
        Duration::from_millis(250),
        "a run of every chaos check",
        async || {
            let status = agent.status().await?;
            let all_ran = FAULTY
                .iter()
                .map(|(name, _, _)| *name)
                .chain([HEALTHY])
                .all(|name| check(&status, name).is_some_and(|c| number(&c["total_runs"]) > 0));
            Ok(all_ran.then_some(status))
        },
    )
    .await?;

    // Watch the well-behaved check's runs: the longest time between two consecutive ones (seen when a
    // status read finds exactly one more run than the last), and how fast the agent answers meanwhile.
    let watch_started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let run_of = |status: &Value| {
        check(status, HEALTHY).map_or((0, 0), |c| {
            (
                number(&c["total_runs"]),
                c["last_run_at_ms"].as_i64().unwrap_or(0),
            )
        })
    };
    let mut last = run_of(&first);
    let mut longest_gap = 0;
    let mut slowest_status = Duration::ZERO;
    let mut status = first.clone();
    while watch_started.elapsed() < WATCH {
        ticks.tick().await;
        let asked = Instant::now();
        status = agent
            .status()
            .await
            .context("the agent stopped answering while its checks misbehaved")?;
        slowest_status = slowest_status.max(asked.elapsed());
        let now = run_of(&status);
        if now.0 == last.0 + 1 {
            longest_gap = longest_gap.max(now.1 - last.1);
        }
        last = now;
    }
    let watched = watch_started.elapsed().as_secs_f64();

    out.expect(
        agent.running() && status["pid"].as_u64() == Some(u64::from(pid)),
        || "the agent process did not survive its checks".to_owned(),
    );
    let restarts = number(&status["collector"]["python"]["restarts"]);
    // Every restart is explained by a run that status counts as timed out or crashed, in any check.
    let cut_short: u64 = status["collector"]["running_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| number(&c["total_timeouts"]) + number(&c["total_crashes"]))
        .sum();
    let mut reported = BTreeMap::new();
    for (name, expected, (timeouts_per_run, crashes_per_run)) in FAULTY {
        let Some(stats) = check(&status, name) else {
            out.failures.push(format!("{name} is missing from status"));
            continue;
        };
        let runs = number(&stats["total_runs"]);
        let errors = number(&stats["total_errors"]);
        let timeouts = number(&stats["total_timeouts"]);
        let crashes = number(&stats["total_crashes"]);
        let message = stats["last_error"]["message"].as_str().unwrap_or_default();
        reported.insert(
            name,
            json!({"runs": runs, "errors": errors, "timeouts": timeouts, "crashes": crashes,
                   "state": stats["state"], "message": message}),
        );
        out.expect(stats["state"] == "ERROR" && errors == runs && runs > 0, || {
            format!("{name}: state {}, {errors} errors in {runs} runs", stats["state"])
        });
        out.expect(
            (timeouts, crashes) == (runs * timeouts_per_run, runs * crashes_per_run),
            || format!("{name}: status counts {timeouts} timeouts and {crashes} crashes in {runs} runs"),
        );
        out.expect(message.contains(expected), || {
            format!("{name}: status says {message:?}, expected {expected:?}")
        });
    }
    let raise = check(&status, "chaos_raise").map_or(Value::Null, |c| c["last_error"]["traceback"].clone());
    out.expect(raise.as_str().is_some_and(|t| t.contains("RuntimeError")), || {
        format!("chaos_raise: no traceback with the exception in status: {raise}")
    });
    out.figure("check timeout, s", TIMEOUT);
    out.figure("watched, s", (watched * 10.0).round() / 10.0);
    out.figure("faulty checks in status", json!(reported));
    out.figure("python host restarts (status)", restarts);
    out.figure("runs timed out or crashed (status)", cut_short);
    out.expect(restarts == cut_short, || {
        format!("{restarts} restarts of the Python check host for {cut_short} runs timed out or crashed")
    });
    let isolated: Vec<String> = status["collector"]["python"]["isolated"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["check_id"].as_str()?.split(':').next().map(str::to_owned))
        .collect();
    out.figure("isolated in a process of their own (status)", json!(isolated));
    let mut expected_isolated = vec!["chaos_crash", "chaos_hang", "chaos_spin"];
    let mut sorted = isolated.clone();
    sorted.sort();
    expected_isolated.sort_unstable();
    out.expect(sorted == expected_isolated, || {
        format!("status lists {isolated:?} as isolated, expected {expected_isolated:?}")
    });

    // The well-behaved checks.
    let healthy = check(&status, HEALTHY).cloned().unwrap_or(Value::Null);
    let before = check(&first, HEALTHY).cloned().unwrap_or(Value::Null);
    let runs = number(&healthy["total_runs"]) - number(&before["total_runs"]);
    let interval = healthy["interval_seconds"].as_f64().unwrap_or(2.0);
    let due = (watched / interval).floor() as u64;
    let skipped = number(&healthy["skipped_runs"]) - number(&before["skipped_runs"]);
    out.figure("chaos_ok runs while watched", runs);
    out.figure("chaos_ok runs due while watched", due);
    out.figure("chaos_ok slots skipped while watched", skipped);
    out.figure(
        "chaos_ok longest gap between consecutive runs, ms",
        longest_gap as u64,
    );
    out.figure(
        "slowest status answer while watched, ms",
        slowest_status.as_millis() as u64,
    );
    out.expect(
        healthy["state"] == "OK" && number(&healthy["total_errors"]) == 0,
        || {
            format!(
                "chaos_ok: state {}, error {}",
                healthy["state"], healthy["last_error"]
            )
        },
    );
    // On schedule: every slot but possibly the one cut by the end of the watch.
    out.expect(runs + 1 >= due && skipped == 0, || {
        format!("chaos_ok ran {runs} times of {due} due ({skipped} slots skipped) while the other checks misbehaved")
    });
    let mut core = BTreeMap::new();
    for stats in status["collector"]["running_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if stats["loader"] != "core" {
            continue;
        }
        let name = stats["name"].as_str().unwrap_or_default();
        core.insert(name.to_owned(), number(&stats["total_runs"]));
        out.expect(number(&stats["total_errors"]) == 0, || {
            format!("core check {name} failed: {}", stats["last_error"])
        });
    }
    out.figure("core check runs", json!(core));

    let took = agent.stop().await?;
    out.figure("agent stop (SIGTERM until exit), ms", took.as_millis() as u64);
    Ok(())
}
