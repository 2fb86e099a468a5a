//! Which queued runs may start: the one rule behind the service that starts them and
//! `tidewater queue` that explains why the others wait.
//!
//! Runs wait in queues: a backfill's runs in their backfill's queue under its own cap, every
//! other run in its workflow's queue under `max_active_runs`. A backfill's runs do not count
//! against their workflow's cap, so that a long backfill does not hold back scheduled runs.
//! Within a queue runs start oldest interval first (a reverse backfill's newest first), then
//! by id in the same direction: later intervals often build on earlier ones, and a backfill
//! should fill its range from one end, not at random.
//!
//! Only the first `max_active_runs` queued runs of a queue, in that order, can ever start in
//! one turn, so a caller reads just those ([`RunQueue::heads_needed`]): deciding costs the
//! same for a queue of ten runs and one of ten thousand.

use std::fmt;

use crate::{BackfillId, BackfillOrder, RunId, RunLimit, Timestamp, WorkflowName};

/// The queue a queued run waits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunQueueKey {
    /// Runs that belong to no backfill (scheduled, triggered, manual), under the workflow's
    /// `max_active_runs`.
    Workflow(WorkflowName),
    Backfill(BackfillId),
}

impl RunQueueKey {
    /// The queue of a run of `workflow` that belongs to `backfill`, if any.
    pub fn of(workflow: &WorkflowName, backfill: Option<BackfillId>) -> RunQueueKey {
        match backfill {
            Some(backfill) => RunQueueKey::Backfill(backfill),
            None => RunQueueKey::Workflow(workflow.clone()),
        }
    }
}

impl fmt::Display for RunQueueKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunQueueKey::Workflow(workflow) => write!(f, "workflow {workflow}"),
            RunQueueKey::Backfill(backfill) => write!(f, "backfill {backfill}"),
        }
    }
}

/// A queued run, as the rule needs to see it; `key` is the caller's handle on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun<K> {
    pub key: K,
    pub id: RunId,
    /// The start of the run's data interval (its logical date).
    pub interval_start: Timestamp,
}

/// One queue: its cap, and its queued runs that no live process executes. The runs may come
/// in any order and need only include the first [`RunQueue::heads_needed`] in start order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQueue<K> {
    pub key: RunQueueKey,
    pub limit: RunLimit,
    pub order: BackfillOrder,
    pub queued: Vec<QueuedRun<K>>,
}

/// What [`RunQueue::admit`] decided, each part in start order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission<K> {
    /// May start now.
    pub starting: Vec<K>,
    /// Wait for the cap.
    pub waiting: Vec<K>,
}

impl<K: Clone> RunQueue<K> {
    /// How many queued runs of a queue with this cap, in start order, a caller must give.
    pub fn heads_needed(max_active_runs: u32) -> u32 {
        max_active_runs.max(1)
    }

    /// The queued runs that may start now, and those that wait for the cap.
    pub fn admit(&self) -> Admission<K> {
        let mut in_order: Vec<&QueuedRun<K>> = self.queued.iter().collect();
        in_order.sort_by_key(|run| start_order(self.order, run.interval_start, run.id));
        let room = self.limit.room() as usize;
        let (starting, waiting) = in_order.split_at(room.min(in_order.len()));
        Admission {
            starting: starting.iter().map(|run| run.key.clone()).collect(),
            waiting: waiting.iter().map(|run| run.key.clone()).collect(),
        }
    }
}

/// The sort key of a queued run within its queue: smaller starts first. Newest first also
/// breaks ties newest (highest id) first, so that each order is one index read backwards or
/// forwards. A store that reads the head of a queue orders it the same way (its conformance
/// suite checks that).
pub fn start_order(order: BackfillOrder, interval_start: Timestamp, id: RunId) -> (i64, i64) {
    // Microseconds, as the store keeps them. Negating cannot overflow: no timestamp or id is
    // near i64::MIN.
    let micros = interval_start.timestamp_micros();
    match order {
        BackfillOrder::OldestFirst => (micros, id.0),
        BackfillOrder::NewestFirst => (-micros, -id.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn run(id: i64, day: u32) -> QueuedRun<i64> {
        QueuedRun {
            key: id,
            id: RunId(id),
            interval_start: chrono::Utc
                .with_ymd_and_hms(2026, 1, day, 0, 0, 0)
                .single()
                .expect("valid"),
        }
    }

    fn queue(order: BackfillOrder, max_active_runs: u32, active: u32) -> RunQueue<i64> {
        RunQueue {
            key: RunQueueKey::Backfill(BackfillId(1)),
            limit: RunLimit {
                max_active_runs,
                active,
            },
            order,
            queued: vec![run(1, 9), run(2, 3), run(3, 5), run(4, 1)],
        }
    }

    #[test]
    fn the_oldest_intervals_start_first_within_the_cap() {
        let admission = queue(BackfillOrder::OldestFirst, 3, 1).admit();
        assert_eq!(admission.starting, vec![4, 2]);
        assert_eq!(admission.waiting, vec![3, 1]);
    }

    #[test]
    fn a_reverse_backfill_starts_its_newest_intervals_first() {
        let admission = queue(BackfillOrder::NewestFirst, 2, 0).admit();
        assert_eq!(admission.starting, vec![1, 3]);
    }

    #[test]
    fn nothing_starts_while_the_cap_is_reached_or_exceeded() {
        for active in [3, 5] {
            let admission = queue(BackfillOrder::OldestFirst, 3, active).admit();
            assert!(admission.starting.is_empty());
            assert_eq!(admission.waiting.len(), 4);
        }
    }

    #[test]
    fn runs_of_the_same_interval_start_by_id_in_the_queue_order() {
        let mut queue = queue(BackfillOrder::OldestFirst, 2, 0);
        queue.queued = vec![run(7, 2), run(3, 2), run(5, 2)];
        assert_eq!(queue.admit().starting, vec![3, 5]);
        queue.order = BackfillOrder::NewestFirst;
        assert_eq!(queue.admit().starting, vec![7, 5]);
    }
}
