//! `backend-outage`: the backend stopped for 60 s while two agents run and receive DogStatsD traffic.
//!
//! Agent A has the default retry queue (`forwarder_retry_queue_payloads_max_size`, 15 MiB): nothing may
//! be lost. Agent B has a queue too small for the outage: it must drop payloads, and `status` must count
//! them exactly. Every flush of an agent sends exactly one series payload, holding its
//! `datadog.agent.running` point stamped with the flush time, so the points the backend holds are checked
//! against `status`: flushes − series payloads dropped = points found, for both agents. A's DogStatsD
//! counter must add up in the backend to every datagram sent to it.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::Lab;
use super::lab::{
    AgentProcess, AgentSetup, DogStatsdSender, Outcome, ScenarioLab, free_udp_port, number, until,
};

/// Agent B's retry queue bound, in bytes: about three of the agents' payloads (600 to 700 bytes
/// compressed), so a minute's outage (eight to ten payloads) overflows it.
const SMALL_QUEUE_BYTES: u64 = 2048;
/// DogStatsD datagrams per second to each agent.
const DATAGRAMS_PER_SECOND: usize = 20;
/// The counter both agents receive.
const COUNTER: &str = "chaos.outage.count";

/// One of the two agents.
struct Subject {
    name: &'static str,
    hostname: String,
    agent: AgentProcess,
    /// The peak retry queue during the outage: (payloads, bytes).
    peak_queue: (u64, u64),
}

pub(crate) async fn run(lab: &Lab, out: &mut Outcome, outage: Duration) -> anyhow::Result<()> {
    let mut scenario = ScenarioLab::start(lab, "backend-outage")?;
    let api = &scenario.api;
    // Points are read from 30 s before the agents start: a DogStatsD bucket is stamped with the start of
    // its 10-second window, before the first sample in it.
    let started = super::lab::now_ms() / 1000;

    let mut subjects = Vec::new();
    let mut ports = Vec::new();
    for (name, extra) in [
        ("a", String::new()),
        (
            "b",
            format!("forwarder_retry_queue_payloads_max_size: {SMALL_QUEUE_BYTES}\n"),
        ),
    ] {
        let port = free_udp_port()?;
        let hostname = format!("chaos-outage-{name}");
        let root = scenario.configure_agent(
            &format!("agent-{name}"),
            &AgentSetup {
                dogstatsd_port: port,
                extra,
                ..scenario.agent_setup(&hostname)
            },
        )?;
        let agent = AgentProcess::start(&lab.agent_binary, &root, &[]).await?;
        ports.push(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        subjects.push(Subject {
            name,
            hostname,
            agent,
            peak_queue: (0, 0),
        });
    }
    let sender = DogStatsdSender::start(
        ports,
        format!("{COUNTER}:1|c"),
        DATAGRAMS_PER_SECOND / 10,
        Duration::from_millis(100),
    );

    // The outage starts once both agents have delivered a flush.
    for subject in &subjects {
        until(
            Duration::from_secs(60),
            Duration::from_millis(500),
            "a first delivered flush",
            async || {
                let status = subject.agent.status().await?;
                Ok(
                    (number(&status["forwarder"]["transactions"]["success_by_endpoint"]["series_v2"]) > 0)
                        .then_some(()),
                )
            },
        )
        .await
        .with_context(|| format!("agent {}", subject.name))?;
    }
    let stop_took = tokio::task::block_in_place(|| scenario.backend.stop())?;
    let down_at = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    while down_at.elapsed() < outage {
        ticks.tick().await;
        for subject in &mut subjects {
            let status = subject.agent.status().await.with_context(|| {
                format!(
                    "agent {} stopped answering during the backend's outage",
                    subject.name
                )
            })?;
            let queue = &status["forwarder"]["retry_queue"];
            subject.peak_queue.0 = subject.peak_queue.0.max(number(&queue["payloads"]));
            subject.peak_queue.1 = subject.peak_queue.1.max(number(&queue["bytes"]));
        }
    }
    let outage_seconds = down_at.elapsed().as_secs_f64();
    tokio::task::block_in_place(|| scenario.backend.restart())?;
    let up_at = Instant::now();

    // Recovery: each agent's retry queue drains.
    let mut drained_after = Vec::new();
    for subject in &subjects {
        until(
            Duration::from_secs(120),
            Duration::from_millis(250),
            "the retry queue to drain",
            async || {
                let status = subject.agent.status().await?;
                let t = &status["forwarder"]["transactions"];
                let empty = number(&status["forwarder"]["retry_queue"]["payloads"]) == 0;
                Ok((empty && number(&t["errors"]) > 0 && number(&t["retried"]) > 0).then_some(()))
            },
        )
        .await
        .with_context(|| format!("agent {} after the backend came back", subject.name))?;
        drained_after.push(up_at.elapsed().as_secs_f64());
    }
    let sent = sender.finish().await?;

    out.figure("outage, s", round(outage_seconds));
    out.figure("backend stop (SIGTERM) took, ms", stop_took.as_millis() as u64);
    for (index, subject) in subjects.iter_mut().enumerate() {
        // Settled: every flush so far delivered or dropped, nothing held.
        let status = until(
            Duration::from_secs(60),
            Duration::from_millis(250),
            "every flush accounted for",
            async || {
                let status = subject.agent.status().await?;
                let t = &status["forwarder"]["transactions"];
                let accounted = number(&t["success_by_endpoint"]["series_v2"])
                    + number(&t["dropped_by_endpoint"]["series_v2"]);
                let flushes = number(&status["aggregator"]["flushes"]);
                let empty = number(&status["forwarder"]["retry_queue"]["payloads"]) == 0;
                Ok((empty && accounted == flushes).then_some(status))
            },
        )
        .await
        .with_context(|| format!("agent {}", subject.name))?;
        let t = &status["forwarder"]["transactions"];
        let flushes = number(&status["aggregator"]["flushes"]);
        let last_flush = status["aggregator"]["last_flush_at"].as_i64().unwrap_or(0);
        let dropped_series = number(&t["dropped_by_endpoint"]["series_v2"]);
        let dropped_total = number(&t["dropped_http"])
            + number(&t["dropped_retry_queue_full"])
            + number(&t["dropped_on_shutdown"]);
        let by_endpoint: u64 = t["dropped_by_endpoint"]
            .as_object()
            .map_or(0, |m| m.values().map(number).sum());
        let running = api
            .points(
                &format!("max:datadog.agent.running{{host:{}}}", subject.hostname),
                started - 30,
                last_flush,
            )
            .await?;
        let found = running.values().map(|points| points.len() as u64).sum::<u64>();
        let name = subject.name;
        out.figure(
            &format!("{name}: retry queue bound, bytes"),
            number(&status["forwarder"]["retry_queue"]["max_bytes"]),
        );
        out.figure(
            &format!("{name}: retry queue peak, payloads"),
            subject.peak_queue.0,
        );
        out.figure(&format!("{name}: retry queue peak, bytes"), subject.peak_queue.1);
        out.figure(&format!("{name}: failed attempts"), number(&t["errors"]));
        out.figure(&format!("{name}: retried"), number(&t["retried"]));
        out.figure(
            &format!("{name}: drained, s after restart"),
            round(drained_after[index]),
        );
        out.figure(&format!("{name}: flushes"), flushes);
        out.figure(&format!("{name}: payloads dropped (status)"), dropped_total);
        out.figure(
            &format!("{name}: dropped by endpoint (status)"),
            t["dropped_by_endpoint"].clone(),
        );
        out.figure(&format!("{name}: flush points found"), found);
        out.expect(found + dropped_series == flushes, || {
            format!(
                "agent {name}: {flushes} flushes, {dropped_series} series payloads counted as dropped, but {found} \
                 flushes' points in the backend"
            )
        });
        out.expect(by_endpoint == dropped_total, || {
            format!("agent {name}: dropped_by_endpoint adds up to {by_endpoint}, the drop counts to {dropped_total}")
        });
        let received = number(&status["dogstatsd"]["packets"]);
        out.figure(&format!("{name}: DogStatsD datagrams sent"), sent[index]);
        out.figure(&format!("{name}: DogStatsD datagrams received"), received);
        if index == 0 {
            out.expect(dropped_total == 0, || {
                format!("agent a (default retry queue) dropped {dropped_total} payloads during a {outage_seconds:.0} s outage")
            });
        } else {
            out.expect(dropped_series > 0, || {
                format!(
                    "agent b's retry queue ({SMALL_QUEUE_BYTES} bytes) never overflowed: the outage did not test the \
                     bound"
                )
            });
        }
        out.expect(received == sent[index], || {
            format!(
                "agent {name} received {received} of {} datagrams on loopback",
                sent[index]
            )
        });
    }

    // The agents stop (a last flush of every open bucket), then the counters are summed in the backend.
    for subject in &mut subjects {
        subject
            .agent
            .stop()
            .await
            .with_context(|| format!("agent {}", subject.name))?;
    }
    let end = super::lab::now_ms() / 1000 + 5;
    for (index, subject) in subjects.iter().enumerate() {
        let stored = super::lab::dogstatsd_count(
            api,
            &format!("{COUNTER}{{host:{}}}", subject.hostname),
            started - 30,
            end,
        )
        .await?;
        let name = subject.name;
        out.figure(&format!("{name}: DogStatsD count stored"), stored);
        if index == 0 {
            out.expect(stored == sent[index], || {
                format!(
                    "agent a: {} counter increments sent, {stored} in the backend",
                    sent[index]
                )
            });
        } else {
            out.figure(
                &format!("{name}: counts lost with dropped payloads"),
                sent[index].saturating_sub(stored),
            );
        }
    }
    Ok(())
}

fn round(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}
