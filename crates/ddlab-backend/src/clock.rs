//! The backend's one time source: the system clock, shifted by an offset that only test mode may move.
//!
//! Exercise steps span hours (a 3600 s rollup, 10-minute no-data windows, weekday-evening downtimes); tests
//! must not wait for them. In test mode the harness moves this clock through the admin API.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as the backend sees it.
#[derive(Debug, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock.
    offset_ms: AtomicI64,
}

impl Clock {
    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        i64::try_from(system)
            .unwrap_or(i64::MAX)
            .saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Now, in epoch seconds.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (or back) by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::Relaxed);
    }

    /// Sets the clock so that now is `epoch_seconds`.
    pub fn set(&self, epoch_seconds: i64) {
        let current = self.now_ms() - self.offset_ms.load(Ordering::Relaxed);
        self.offset_ms
            .store(epoch_seconds.saturating_mul(1000) - current, Ordering::Relaxed);
    }

    pub fn offset_seconds(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_set() {
        let clock = Clock::default();
        let start = clock.now();
        clock.advance(3600);
        assert!((clock.now() - start - 3600).abs() <= 1);
        clock.set(1_700_000_000);
        assert!((clock.now() - 1_700_000_000).abs() <= 1);
    }
}
