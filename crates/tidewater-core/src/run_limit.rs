//! `max_active_runs`: which of a workflow's queued runs may start.

use crate::Timestamp;

/// A workflow's `max_active_runs` and how many of its runs are active (running) now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimit {
    pub max_active_runs: u32,
    pub active: u32,
}

/// A run waiting for its workflow's `max_active_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun<K> {
    pub key: K,
    /// The start of the run's data interval (its logical date).
    pub interval_start: Timestamp,
}

impl RunLimit {
    /// The queued runs that may start now, oldest interval first, as many as the limit
    /// leaves room for. Runs with the same interval start keep the order given.
    ///
    /// Oldest first because later intervals often build on earlier ones (cumulative
    /// tables), and because a backfill should fill its range from one end, not at random.
    pub fn runs_to_start<K: Clone>(&self, queued: &[QueuedRun<K>]) -> Vec<K> {
        let room = self.max_active_runs.saturating_sub(self.active) as usize;
        let mut oldest_first: Vec<&QueuedRun<K>> = queued.iter().collect();
        oldest_first.sort_by_key(|run| run.interval_start);
        oldest_first
            .into_iter()
            .take(room)
            .map(|run| run.key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(key: u32, day: u32) -> QueuedRun<u32> {
        QueuedRun {
            key,
            interval_start: chrono::Utc
                .with_ymd_and_hms(2026, 1, day, 0, 0, 0)
                .single()
                .expect("valid"),
        }
    }

    #[test]
    fn the_oldest_intervals_start_first_within_the_limit() {
        let limit = RunLimit {
            max_active_runs: 3,
            active: 1,
        };
        let queued = [run(1, 9), run(2, 3), run(3, 5), run(4, 1)];
        assert_eq!(limit.runs_to_start(&queued), vec![4, 2]);
    }

    #[test]
    fn nothing_starts_while_the_limit_is_reached_or_exceeded() {
        let queued = [run(1, 1)];
        for active in [2, 5] {
            let limit = RunLimit {
                max_active_runs: 2,
                active,
            };
            assert!(limit.runs_to_start(&queued).is_empty());
        }
    }

    #[test]
    fn runs_of_the_same_interval_keep_their_queue_order() {
        let limit = RunLimit {
            max_active_runs: 2,
            active: 0,
        };
        let queued = [run(7, 2), run(3, 2), run(1, 2)];
        assert_eq!(limit.runs_to_start(&queued), vec![7, 3]);
    }
}
