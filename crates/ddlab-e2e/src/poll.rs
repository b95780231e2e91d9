//! Bounded polling: the scenarios wait for something to become true by asking again at an interval, up to
//! a limit, and fail with the last thing they saw. No scenario sleeps to synchronise.

use std::future::Future;
use std::time::Duration;

/// Asks `probe` every `every` until it answers `Ok(Some(value))`, for at most `limit`.
///
/// `Ok(None)` means "not yet" and `Err(seen)` "not yet, and this is what I saw"; the last `seen` is in
/// the error when the limit passes, so the failure explains itself.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut probe: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::from("nothing yet");
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match probe().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(seen) => last = seen,
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{what}: still not true after {} s; last seen: {last}",
                limit.as_secs()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_ready_value() {
        let mut calls = 0;
        let value = until(
            "three calls",
            Duration::from_secs(10),
            Duration::from_secs(1),
            || {
                calls += 1;
                let ready = calls >= 3;
                async move { Ok(ready.then_some(calls)) }
            },
        )
        .await;
        assert_eq!(value, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_with_the_last_observation() {
        let err = until::<(), _, _>(
            "never",
            Duration::from_secs(5),
            Duration::from_secs(1),
            || async { Err("value 7".to_owned()) },
        )
        .await
        .unwrap_err();
        assert!(err.contains("never: still not true after 5 s"), "{err}");
        assert!(err.ends_with("last seen: value 7"), "{err}");
    }
}
