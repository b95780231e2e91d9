//! The one way the integration tests wait: re-probe on a steady tick until the probe yields a value, within
//! a deadline that fails the test with what was awaited.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

/// How often a probe runs.
const TICK: Duration = Duration::from_millis(100);

/// Awaits `probe` until it yields `Some`. After `deadline`, panics with `what()`, which is only built then
/// (so it can show the last state seen).
pub async fn until<T>(
    deadline: Duration,
    what: impl FnOnce() -> String,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let attempts = async {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(value) = probe().await {
                return value;
            }
        }
    };
    match tokio::time::timeout(deadline, attempts).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {deadline:?} waiting for {}", what()),
    }
}
