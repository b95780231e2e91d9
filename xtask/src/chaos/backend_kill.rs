//! `backend-kill`: `kill -9` the backend during sustained intake and restart it, three times; every
//! point the backend acknowledged with a 2xx must be queryable afterwards, and every request's points
//! must be stored whole or not at all.
//!
//! Clients post `/api/v2/series` at a steady rate, each request ten gauges (`chaos.kill.p0..p9`, tagged
//! `client:<n>`) with one point at `base + seq` whose value is `seq`, so every point names the request
//! that carried it. After the runs, `/api/v1/query` over 300-second windows (one-second buckets)
//! returns every stored point.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::time::MissedTickBehavior;

use super::Lab;
use super::lab::{API_KEY, Api, Outcome, ScenarioLab, until};

/// Concurrent intake clients.
const CLIENTS: usize = 8;
/// Gauges per request.
const SERIES: usize = 10;
/// Each client's pace: one request per tick.
const TICK: Duration = Duration::from_millis(25);
/// Kills (each followed by a restart).
const KILLS: usize = 3;
/// Acknowledged requests between two kills (and after the last restart).
const ACKS_BETWEEN_KILLS: usize = 1000;
/// The longest a phase may take to see its acknowledgements.
const PHASE_LIMIT: Duration = Duration::from_secs(60);
/// The intake accepts points up to an hour old: requests stop before their points would age out.
const MAX_SEQ: i64 = 3000;

/// What one client saw: the sequence numbers acknowledged with a 2xx, and those that failed.
#[derive(Debug, Default)]
struct Seen {
    acked: BTreeSet<i64>,
    failed: BTreeSet<i64>,
    errors: BTreeMap<String, u64>,
}

pub(crate) async fn run(lab: &Lab, out: &mut Outcome) -> anyhow::Result<()> {
    let mut scenario = ScenarioLab::start(lab, "backend-kill")?;
    let api = &scenario.api;
    let base = super::lab::now_ms() / 1000 - 3400;
    let seen: Vec<Arc<Mutex<Seen>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut clients = tokio::task::JoinSet::new();
    for (client, seen) in seen.iter().enumerate() {
        clients.spawn(intake_client(
            api.clone(),
            client,
            base,
            Arc::clone(seen),
            stop_rx.clone(),
        ));
    }
    let acked = || {
        seen.iter()
            .map(|s| s.lock().map_or(0, |s| s.acked.len()))
            .sum::<usize>()
    };

    let mut restarts_ms = Vec::new();
    let mut acked_at_kill = Vec::new();
    for _ in 0..KILLS {
        let target = acked() + ACKS_BETWEEN_KILLS;
        until(
            PHASE_LIMIT,
            Duration::from_millis(50),
            "acknowledged intake requests",
            async || Ok((acked() >= target).then_some(())),
        )
        .await?;
        acked_at_kill.push(acked());
        tokio::task::block_in_place(|| scenario.backend.kill())?;
        let down = Instant::now();
        tokio::task::block_in_place(|| scenario.backend.restart())?;
        restarts_ms.push(down.elapsed().as_millis() as u64);
    }
    let target = acked() + ACKS_BETWEEN_KILLS;
    until(
        PHASE_LIMIT,
        Duration::from_millis(50),
        "acknowledged intake requests after the last restart",
        async || Ok((acked() >= target).then_some(())),
    )
    .await?;
    let _ = stop_tx.send(true);
    while let Some(joined) = clients.join_next().await {
        joined.context("an intake client panicked")?;
    }

    // Every client's acknowledged and failed requests, then what the backend holds.
    let mut acked_requests = 0;
    let mut failed_requests = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut max_seq = 0;
    let seen: Vec<Seen> = seen
        .iter()
        .map(|s| std::mem::take(&mut *s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)))
        .collect();
    for client in &seen {
        acked_requests += client.acked.len();
        failed_requests += client.failed.len();
        max_seq = max_seq.max(client.acked.last().copied().unwrap_or(0));
        max_seq = max_seq.max(client.failed.last().copied().unwrap_or(0));
        for (kind, count) in &client.errors {
            *errors.entry(kind.clone()).or_default() += count;
        }
    }
    let stored = stored_points(api, base, max_seq).await?;
    let mut missing = Vec::new();
    let mut partial = 0;
    let mut failed_but_stored = 0;
    for (client, requests) in seen.iter().enumerate() {
        for &seq in &requests.acked {
            let found = (0..SERIES)
                .filter(|&p| stored.contains(&(client, p, seq)))
                .count();
            if found < SERIES {
                missing.push(format!("client {client} seq {seq}: {found} of {SERIES} points"));
            }
        }
        for &seq in &requests.failed {
            match (0..SERIES)
                .filter(|&p| stored.contains(&(client, p, seq)))
                .count()
            {
                0 => {}
                n if n == SERIES => failed_but_stored += 1,
                _ => partial += 1,
            }
        }
    }
    out.figure("kills", KILLS as u64);
    out.figure("acknowledged requests", acked_requests as u64);
    out.figure("acknowledged points", (acked_requests * SERIES) as u64);
    out.figure(
        "acknowledged points found",
        (acked_requests * SERIES - missing.len() * SERIES) as u64,
    );
    out.figure("acknowledged requests missing", missing.len() as u64);
    out.figure(
        "failed requests (backend down or killed mid-request)",
        failed_requests as u64,
    );
    out.figure("failed requests stored anyway", failed_but_stored as u64);
    out.figure("requests stored in part", partial as u64);
    out.figure("restart to listening, ms", json!(restarts_ms));
    out.figure("acknowledged before each kill", json!(acked_at_kill));
    out.figure("client errors", json!(errors));
    out.expect(missing.is_empty(), || {
        format!(
            "{} acknowledged requests are not (wholly) queryable after kill -9, e.g. {}",
            missing.len(),
            missing.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        )
    });
    out.expect(partial == 0, || format!("{partial} requests were stored in part"));
    out.expect(failed_requests > 0, || {
        "no request failed: the kills did not happen during intake".to_owned()
    });
    Ok(())
}

/// One client: a request per tick until told to stop; a request that fails is not sent again (the
/// next one carries the next sequence number).
async fn intake_client(
    api: Api,
    client: usize,
    base: i64,
    seen: Arc<Mutex<Seen>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut seq = 0;
    while seq < MAX_SEQ {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        seq += 1;
        let series: Vec<Value> = (0..SERIES)
            .map(|p| {
                json!({"metric": format!("chaos.kill.p{p}"), "type": 3,
                       "points": [{"timestamp": base + seq, "value": seq}],
                       "resources": [{"type": "host", "name": "chaos-kill"}],
                       "tags": [format!("client:{client}")]})
            })
            .collect();
        let sent = api
            .http()
            .post(format!("{}/api/v2/series", api.base()))
            .header("DD-API-KEY", API_KEY)
            .timeout(Duration::from_secs(10))
            .json(&json!({ "series": series }))
            .send()
            .await;
        let error = match sent {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
            Err(err) if err.is_connect() => Some("connection refused".to_owned()),
            Err(err) if err.is_timeout() => Some("timeout".to_owned()),
            Err(_) => Some("connection lost mid-request".to_owned()),
        };
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match error {
            None => {
                seen.acked.insert(seq);
            }
            Some(kind) => {
                seen.failed.insert(seq);
                *seen.errors.entry(kind).or_default() += 1;
            }
        }
    }
}

/// Every stored (client, series, seq), read back through `/api/v1/query` in 300-second windows (the
/// automatic interval is then one second, so no point is rolled up with another).
async fn stored_points(api: &Api, base: i64, max_seq: i64) -> anyhow::Result<BTreeSet<(usize, usize, i64)>> {
    let mut stored = BTreeSet::new();
    for p in 0..SERIES {
        let mut from = base + 1;
        while from <= base + max_seq {
            let to = from + 299;
            let query = format!("max:chaos.kill.p{p}{{*}} by {{client}}");
            for (scope, points) in api.query(&query, from, to).await? {
                let Some(client) = scope
                    .split(',')
                    .find_map(|tag| tag.strip_prefix("client:"))
                    .and_then(|c| c.parse::<usize>().ok())
                else {
                    continue;
                };
                for (ts, value) in points {
                    // A point's value is its sequence number; any other value at that second is not ours.
                    if value as i64 == ts - base {
                        stored.insert((client, p, ts - base));
                    }
                }
            }
            from = to + 1;
        }
    }
    Ok(stored)
}
