//! `dogstatsd-restart`: the agent restarted (SIGTERM, then started again) during a DogStatsD flood.
//!
//! Every datagram sent must be accounted for: read by an agent (`packets`), dropped by the kernel on an
//! agent's full socket buffer (`udp_kernel_drops` in `status`, read from `/proc/net/udp`), or sent while
//! no agent listened (the kernel's `Udp: NoPorts` counter, which is system-wide, so it bounds what
//! went there from above). Every sample an agent read must reach the backend: each incarnation tags its
//! samples (`dogstatsd_tags`), and the backend's sum per incarnation must equal what that agent read.
//! The first agent's final counters come from its log (`DogStatsD stopped`), written at its last flush.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::Lab;
use super::lab::{
    AgentProcess, AgentSetup, DogStatsdSender, Outcome, ScenarioLab, free_udp_port, now_ms, number, until,
};

/// Datagrams sent every millisecond (the interval's resolution caps the rate below 1000 ticks/s).
const PER_TICK: usize = 20;
/// Flood before the restart, and after the new agent listens.
const BEFORE: Duration = Duration::from_secs(8);
const AFTER: Duration = Duration::from_secs(10);
const METRIC: &str = "chaos.flood";

/// What an agent's log says DogStatsD did, at its stop.
#[derive(Debug, Default, Clone, Copy)]
struct Final {
    packets: u64,
    metric_samples: u64,
    kernel_drops: u64,
    drained: u64,
}

pub(crate) async fn run(lab: &Lab, out: &mut Outcome) -> anyhow::Result<()> {
    let scenario = ScenarioLab::start(lab, "dogstatsd-restart")?;
    let api = &scenario.api;
    let port = free_udp_port()?;
    let root = scenario.configure_agent(
        "agent",
        &AgentSetup {
            dogstatsd_port: port,
            ..scenario.agent_setup("chaos-flood")
        },
    )?;
    // Points are read from 30 s before the agent starts: a DogStatsD bucket is stamped with the start of
    // its 10-second window, before the first sample in it.
    let started = now_ms() / 1000;
    let mut agent = AgentProcess::start(
        &lab.agent_binary,
        &root,
        &[("DD_DOGSTATSD_TAGS", "incarnation:1")],
    )
    .await?;
    let udp_before = kernel_udp()?;
    let flood_started = Instant::now();
    let sender = DogStatsdSender::start(
        vec![std::net::SocketAddr::from(([127, 0, 0, 1], port))],
        format!("{METRIC}:1|c"),
        PER_TICK,
        Duration::from_millis(1),
    );
    until(
        BEFORE + Duration::from_secs(30),
        Duration::from_millis(250),
        "the flood's first datagrams",
        async || {
            let status = agent.status().await?;
            Ok(
                (number(&status["dogstatsd"]["packets"]) > 0 && flood_started.elapsed() >= BEFORE)
                    .then_some(()),
            )
        },
    )
    .await?;

    let restart = Instant::now();
    let stop_took = agent.stop().await.context("the first agent")?;
    agent
        .restart_with(&[("DD_DOGSTATSD_TAGS", "incarnation:2")])
        .await
        .context("the second agent")?;
    let down = restart.elapsed();
    let resumed = Instant::now();
    until(
        AFTER + Duration::from_secs(30),
        Duration::from_millis(250),
        "the second agent reading the flood",
        async || {
            let status = agent.status().await?;
            Ok((number(&status["dogstatsd"]["packets"]) > 0 && resumed.elapsed() >= AFTER).then_some(()))
        },
    )
    .await?;
    let sent = sender.finish().await?.iter().sum::<u64>();
    let flood_seconds = flood_started.elapsed().as_secs_f64();
    // What is still queued is read before the stop (or drained by it).
    let mut last = u64::MAX;
    until(
        Duration::from_secs(30),
        Duration::from_millis(300),
        "the second agent to read what is queued",
        async || {
            let packets = number(&agent.status().await?["dogstatsd"]["packets"]);
            let settled = packets == last;
            last = packets;
            Ok(settled.then_some(()))
        },
    )
    .await?;
    let second_status = agent.status().await?;
    agent.stop().await.context("the second agent")?;
    let udp_after = kernel_udp()?;

    let finals = finals(&agent.log())?;
    let [first, second] = finals[..] else {
        bail!(
            "expected the log of two agent runs to say `DogStatsD stopped`, found {}",
            finals.len()
        );
    };
    let read = first.packets + second.packets;
    let kernel_drops = first.kernel_drops + second.kernel_drops;
    let no_port = udp_after.0.saturating_sub(udp_before.0);
    let unaccounted = sent as i64 - read as i64 - kernel_drops as i64;
    let end = now_ms() / 1000 + 5;
    let mut stored = Vec::new();
    for incarnation in [1, 2] {
        let scope = format!("{METRIC}{{host:chaos-flood,incarnation:{incarnation}}}");
        stored.push(super::lab::dogstatsd_count(api, &scope, started - 30, end).await?);
    }

    out.figure("flood, s", (flood_seconds * 10.0).round() / 10.0);
    out.figure("datagrams sent", sent);
    out.figure(
        "datagrams per second",
        (sent as f64 / flood_seconds).round() as u64,
    );
    out.figure(
        "agent stop (SIGTERM until exit), ms",
        stop_took.as_millis() as u64,
    );
    out.figure("no agent listening (stop + start), ms", down.as_millis() as u64);
    out.figure("agent 1: datagrams read", first.packets);
    out.figure("agent 1: read at stop (drained)", first.drained);
    out.figure("agent 1: kernel drops (status)", first.kernel_drops);
    out.figure("agent 1: samples", first.metric_samples);
    out.figure("agent 1: samples in the backend", stored[0]);
    out.figure("agent 2: datagrams read", second.packets);
    out.figure("agent 2: read at stop (drained)", second.drained);
    out.figure("agent 2: kernel drops (status)", second.kernel_drops);
    out.figure("agent 2: samples", second.metric_samples);
    out.figure("agent 2: samples in the backend", stored[1]);
    out.figure(
        "sent while no agent listened (sent - read - kernel drops)",
        unaccounted,
    );
    out.figure("kernel Udp NoPorts delta (system-wide)", no_port);
    out.figure(
        "kernel Udp RcvbufErrors delta (system-wide)",
        udp_after.1.saturating_sub(udp_before.1),
    );
    out.expect(
        number(&second_status["dogstatsd"]["packets"]) == second.packets,
        || {
            format!(
                "the second agent's status said {} datagrams, its log {} at its stop",
                second_status["dogstatsd"]["packets"], second.packets
            )
        },
    );
    out.expect(second.packets > 0, || {
        "the restarted agent read nothing".to_owned()
    });
    out.expect(stored[0] == first.metric_samples, || {
        format!(
            "agent 1 read {} samples, the backend holds {}",
            first.metric_samples, stored[0]
        )
    });
    out.expect(stored[1] == second.metric_samples, || {
        format!(
            "agent 2 read {} samples, the backend holds {}",
            second.metric_samples, stored[1]
        )
    });
    out.expect(unaccounted >= 0 && unaccounted as u64 <= no_port, || {
        format!(
            "{unaccounted} datagrams were neither read, nor dropped by a full socket buffer, nor refused for want of \
             a listener ({no_port} NoPorts): lost silently"
        )
    });
    Ok(())
}

/// The `DogStatsD stopped` lines of an agent's log, oldest first.
fn finals(log: &str) -> anyhow::Result<Vec<Final>> {
    let mut found = Vec::new();
    for line in log.lines().filter(|l| l.contains("DogStatsD stopped")) {
        let field = |name: &str| -> anyhow::Result<u64> {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
                .and_then(|value| value.parse().ok())
                .with_context(|| format!("no {name}= in the log line {line:?}"))
        };
        found.push(Final {
            packets: field("packets")?,
            metric_samples: field("metric_samples")?,
            kernel_drops: field("udp_kernel_drops")?,
            drained: field("drained_at_stop")?,
        });
    }
    Ok(found)
}

/// The kernel's `Udp: NoPorts` and `RcvbufErrors` counters (`/proc/net/snmp`).
fn kernel_udp() -> anyhow::Result<(u64, u64)> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").context("cannot read /proc/net/snmp")?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        bail!("/proc/net/snmp has no Udp lines");
    };
    let value = |wanted: &str| -> anyhow::Result<u64> {
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(name, _)| *name == wanted)
            .and_then(|(_, value)| value.parse().ok())
            .with_context(|| format!("/proc/net/snmp has no Udp {wanted}"))
    };
    Ok((value("NoPorts")?, value("RcvbufErrors")?))
}
