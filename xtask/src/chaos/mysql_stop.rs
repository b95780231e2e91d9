//! `mysql-stop`: the MySQL server stopped under a running agent. `mysql.can_connect` must turn CRITICAL
//! at the check's next run (within one `min_collection_interval`), the other checks (the core checks and
//! a Python check) must keep running without errors, and after the server is started again the next
//! run must be OK. Times are read from the agent's `status` (each run's end, `last_run_at_ms`) and from
//! the service checks the backend received (its intake log).

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use super::Lab;
use super::lab::{
    AgentProcess, AgentSetup, Api, Mariadb, Outcome, ScenarioLab, check, now_ms, number, until,
};

/// The MySQL check's `min_collection_interval`, seconds.
const INTERVAL: u64 = 5;
/// Runs of the MySQL check that must fail before the server is started again.
const FAILED_RUNS: u64 = 3;
/// The Python check that runs beside it (fixtures/chaos).
const PYTHON_CHECK: &str = "chaos_ok";

pub(crate) async fn run(lab: &Lab, out: &mut Outcome) -> anyhow::Result<()> {
    let python = lab.python()?;
    let scenario = ScenarioLab::start(lab, "mysql-stop")?;
    let api = &scenario.api;
    let mariadb = tokio::task::block_in_place(|| Mariadb::start(&lab.root, &scenario.dir.join("mysql")))?;
    let root = scenario.configure_agent(
        "agent",
        &AgentSetup {
            python: Some(python),
            ..scenario.agent_setup("chaos-mysql")
        },
    )?;
    std::fs::create_dir_all(root.join("conf.d/mysql.d"))?;
    std::fs::write(
        root.join("conf.d/mysql.d/conf.yaml"),
        format!(
            "init_config: {{}}\ninstances:\n  - host: 127.0.0.1\n    port: {}\n    username: datadog\n    \
             password: datadog-lab\n    min_collection_interval: {INTERVAL}\n    tags: [chaos:mysql]\n",
            mariadb.server.port
        ),
    )?;
    lab.install_check(&root, PYTHON_CHECK)?;
    let agent = AgentProcess::start(&lab.agent_binary, &root, &[]).await?;

    let healthy = until(
        Duration::from_secs(90),
        Duration::from_millis(250),
        "mysql and chaos_ok OK",
        async || {
            let status = agent.status().await?;
            let ok = |name: &str| {
                check(&status, name).is_some_and(|c| c["state"] == "OK" && number(&c["total_runs"]) > 0)
            };
            Ok((ok("mysql") && ok(PYTHON_CHECK)).then_some(status))
        },
    )
    .await?;

    let stop_began = now_ms();
    tokio::task::block_in_place(|| mariadb.stop());
    let stopped = now_ms();
    out.figure(
        "mysql stop (SIGTERM until exit), ms",
        (stopped - stop_began) as u64,
    );
    let errors_before = runs_ending_in(&healthy, "ERROR");
    let critical_run = first_run_ending_in(&agent, "ERROR", errors_before, INTERVAL).await?;
    let critical_at_backend = service_check_after(api, stopped / 1000, "CRITICAL").await?;
    // A status read that came late may have missed the first failed run; the backend has its time
    // (to the second) from the service check it sent.
    let to_critical = critical_run.unwrap_or(critical_at_backend.stamped * 1000) - stopped;
    out.figure("check interval, s", INTERVAL);
    out.figure("stop to CRITICAL (agent), ms", to_critical.max(0) as u64);
    out.expect(to_critical <= (INTERVAL * 1000 + 1000) as i64, || {
        format!("mysql.can_connect turned CRITICAL {to_critical} ms after the stop, more than one interval ({INTERVAL} s)")
    });
    out.figure(
        "stop to CRITICAL in the backend, ms",
        (critical_at_backend.received * 1000 - stopped).max(0) as u64,
    );

    // The server stays down for a few more runs; everything else must go on as before.
    let down = until(
        Duration::from_secs(INTERVAL * (FAILED_RUNS + 2)),
        Duration::from_millis(250),
        "more failed runs of the mysql check",
        async || {
            let status = agent.status().await?;
            let failing = check(&status, "mysql").is_some_and(|c| {
                c["state"] == "ERROR"
                    && number(&c["total_errors"]) >= FAILED_RUNS
                    && c["last_error"]["message"].as_str().is_some_and(|m| !m.is_empty())
            });
            Ok(failing.then_some(status))
        },
    )
    .await?;
    let down_for_ms = now_ms() - stopped;
    out.figure("mysql down, s", (down_for_ms as f64 / 100.0).round() / 10.0);
    out.figure(
        "mysql check error",
        check(&down, "mysql").map_or(Value::Null, |c| c["last_error"]["message"].clone()),
    );
    let mut others = serde_json::Map::new();
    for before in healthy["collector"]["running_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = before["name"].as_str().unwrap_or_default();
        if name == "mysql" {
            continue;
        }
        let Some(after) = check(&down, name) else {
            out.failures.push(format!("check {name} is gone from status"));
            continue;
        };
        let runs = number(&after["total_runs"]) - number(&before["total_runs"]);
        let errors = number(&after["total_errors"]) - number(&before["total_errors"]);
        let interval = after["interval_seconds"].as_f64().unwrap_or(15.0);
        // Runs due in the window, less one for the slot at either end.
        let due = ((down_for_ms as f64 / 1000.0) / interval).floor() as u64;
        others.insert(name.to_owned(), json!({"runs": runs, "errors": errors}));
        out.expect(errors == 0 && after["state"] != "ERROR", || {
            format!(
                "check {name} failed while MySQL was down: {}",
                after["last_error"]["message"]
            )
        });
        out.expect(runs + 1 >= due, || {
            format!("check {name} ran {runs} times in {down_for_ms} ms with a {interval} s interval")
        });
    }
    out.figure("other checks while mysql was down", Value::Object(others));

    tokio::task::block_in_place(|| mariadb.restart())?;
    let up = now_ms();
    let ok_run = first_run_ending_in(&agent, "OK", runs_ending_in(&down, "OK"), INTERVAL).await?;
    let ok_at_backend = service_check_after(api, up / 1000, "OK").await?;
    let to_recover = ok_run.unwrap_or(ok_at_backend.stamped * 1000) - up;
    out.figure("restart to OK (agent), ms", to_recover.max(0) as u64);
    out.expect(to_recover <= (INTERVAL * 1000 + 1000) as i64, || {
        format!("mysql.can_connect was OK again {to_recover} ms after the server came back, more than one interval")
    });
    out.figure(
        "restart to OK in the backend, ms",
        (ok_at_backend.received * 1000 - up).max(0) as u64,
    );
    Ok(())
}

/// The mysql check's runs so far that ended in `state` (`ERROR`, or `OK` for the others).
fn runs_ending_in(status: &Value, state: &str) -> u64 {
    check(status, "mysql").map_or(0, |mysql| {
        let errors = number(&mysql["total_errors"]);
        if state == "ERROR" {
            errors
        } else {
            number(&mysql["total_runs"]) - errors
        }
    })
}

/// Waits for the mysql check's first run in `state` after the `before` it had; returns when that run
/// ended (Unix ms), or `None` when a late status read found a later run already (its time is then
/// taken from the backend).
async fn first_run_ending_in(
    agent: &AgentProcess,
    state: &str,
    before: u64,
    interval: u64,
) -> anyhow::Result<Option<i64>> {
    until(
        Duration::from_secs(interval * 2 + 10),
        Duration::from_millis(100),
        &format!("a mysql check run in state {state}"),
        async || {
            let status = agent.status().await?;
            let Some(mysql) = check(&status, "mysql") else {
                return Ok(None);
            };
            let count = runs_ending_in(&status, state);
            Ok(if count <= before {
                None
            } else if count == before + 1 && mysql["state"] == state {
                Some(mysql["last_run_at_ms"].as_i64())
            } else {
                Some(None)
            })
        },
    )
    .await
    .context("the mysql check")
}

/// A service check the backend received.
#[derive(Debug, Clone, Copy)]
struct Received {
    /// When the backend received it, Unix seconds.
    received: i64,
    /// Its own timestamp (the run's time), Unix seconds.
    stamped: i64,
}

/// Waits until the backend's intake log holds a `mysql.can_connect` in `status` stamped at or after
/// `since` (Unix seconds); returns the first.
async fn service_check_after(api: &Api, since: i64, status: &str) -> anyhow::Result<Received> {
    until(
        Duration::from_secs(60),
        Duration::from_millis(250),
        &format!("mysql.can_connect {status} in the backend"),
        async || {
            // Oldest first: the first payload that carried the change.
            for payload in api.intake_log("/api/v1/check_run", 100).await?.into_iter().rev() {
                let stamped = payload["payload"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|run| {
                        let stamped = run["timestamp"].as_i64()?;
                        (run["check"] == "mysql.can_connect" && run["status"] == status && stamped >= since)
                            .then_some(stamped)
                    });
                if let (Some(stamped), Some(received)) = (stamped, payload["received_at"].as_i64()) {
                    return Ok(Some(Received { received, stamped }));
                }
            }
            Ok(None)
        },
    )
    .await
}
