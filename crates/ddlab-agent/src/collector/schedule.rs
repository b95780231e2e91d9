//! When each check instance is due: pure, driven by the time elapsed since the collector started.
//!
//! The Agent's rule: a new check runs at once, then every `min_collection_interval`, "at most every N
//! seconds". A slot that passes while the previous run is still going is skipped, not queued, so a slow
//! check never runs twice back to back to catch up; the slots stay on the original grid (start + k × N).

use std::time::Duration;

/// The next slot of every scheduled instance.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    interval: Duration,
    next: Duration,
}

/// What [`Schedule::due`] found for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The instance's index, in the order it was added.
    pub index: usize,
    /// Slots that passed without a run since the last call (a process that was suspended, or a tick
    /// that came late); the run that is due now counts once.
    pub missed: u64,
}

impl Schedule {
    /// Adds an instance that is due at `elapsed` (now, for a new check), then every `interval`.
    /// Returns its index. A zero interval is treated as one second.
    pub fn add(&mut self, interval: Duration, elapsed: Duration) -> usize {
        self.entries.push(Entry {
            interval: interval.max(Duration::from_secs(1)),
            next: elapsed,
        });
        self.entries.len() - 1
    }

    /// The instances due at `elapsed`, each moved to its first slot after `elapsed`.
    pub fn due(&mut self, elapsed: Duration) -> Vec<Due> {
        let mut due = Vec::new();
        for (index, entry) in self.entries.iter_mut().enumerate() {
            if entry.next > elapsed {
                continue;
            }
            let behind = (elapsed - entry.next).as_nanos() / entry.interval.as_nanos();
            let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
            entry.next += entry.interval * steps;
            due.push(Due {
                index,
                missed: u64::try_from(behind).unwrap_or(u64::MAX),
            });
        }
        due
    }

    /// The earliest next slot, as time since the start; `None` when nothing is scheduled.
    pub fn next_due(&self) -> Option<Duration> {
        self.entries.iter().map(|e| e.next).min()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// Runs the schedule tick by tick from 0 to `until` seconds (inclusive), stepping one second at a
    /// time, and returns when each instance ran.
    fn runs(schedule: &mut Schedule, until: u64) -> Vec<Vec<u64>> {
        let mut seen = vec![Vec::new(); schedule.len()];
        for t in 0..=until {
            for due in schedule.due(S * u32::try_from(t).unwrap()) {
                seen[due.index].push(t);
            }
        }
        seen
    }

    #[test]
    fn new_checks_run_at_once_then_every_interval() {
        let mut schedule = Schedule::default();
        schedule.add(Duration::from_secs(15), Duration::ZERO);
        schedule.add(Duration::from_secs(45), Duration::ZERO);
        assert_eq!(
            runs(&mut schedule, 100),
            [vec![0, 15, 30, 45, 60, 75, 90], vec![0, 45, 90]]
        );
        assert_eq!(schedule.next_due(), Some(Duration::from_secs(105)));
    }

    #[test]
    fn a_late_tick_skips_missed_slots_and_keeps_the_grid() {
        let mut schedule = Schedule::default();
        schedule.add(Duration::from_secs(10), Duration::ZERO);
        assert_eq!(schedule.due(Duration::ZERO), [Due { index: 0, missed: 0 }]);
        assert_eq!(schedule.due(Duration::from_secs(9)), []);
        // Woken at 35 s: the slots at 10, 20 and 30 s passed; one run now, the next on the grid at 40 s.
        assert_eq!(
            schedule.due(Duration::from_secs(35)),
            [Due { index: 0, missed: 2 }]
        );
        assert_eq!(schedule.next_due(), Some(Duration::from_secs(40)));
    }

    #[test]
    fn instances_added_later_start_when_added() {
        let mut schedule = Schedule::default();
        schedule.add(Duration::from_secs(15), Duration::ZERO);
        assert_eq!(schedule.due(Duration::ZERO).len(), 1);
        let late = schedule.add(Duration::from_secs(15), Duration::from_secs(7));
        assert_eq!(schedule.next_due(), Some(Duration::from_secs(7)));
        assert_eq!(
            schedule.due(Duration::from_secs(7)),
            [Due {
                index: late,
                missed: 0
            }]
        );
        assert_eq!(schedule.next_due(), Some(Duration::from_secs(15)));
    }

    #[test]
    fn zero_interval_is_one_second() {
        let mut schedule = Schedule::default();
        schedule.add(Duration::ZERO, Duration::ZERO);
        assert_eq!(runs(&mut schedule, 3), [vec![0, 1, 2, 3]]);
    }

    #[test]
    fn empty_schedule_has_no_next_slot() {
        let schedule = Schedule::default();
        assert!(schedule.is_empty());
        assert_eq!(schedule.next_due(), None);
    }
}
