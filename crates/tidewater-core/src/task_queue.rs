//! The task queue's admission rules: which waiting tasks may start now.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use crate::{PoolName, Timestamp, WorkflowName};

/// The limits the queue enforces.
#[derive(Debug, Clone)]
pub struct QueueLimits {
    /// How many tasks may run at once in all.
    pub parallelism: u32,
    /// Slots of each pool declared in `tidewater.toml`.
    pub pools: HashMap<PoolName, u32>,
    /// Per-workflow caps (`max_active_tasks`).
    pub max_active_tasks: HashMap<WorkflowName, u32>,
    /// A waiting task gains one priority point per `aging` waited, so that a steady stream of
    /// higher-priority work cannot starve it forever.
    pub aging: Duration,
}

/// A task waiting for admission.
#[derive(Debug, Clone)]
pub struct Candidate<K> {
    pub key: K,
    pub workflow: WorkflowName,
    pub priority: i32,
    pub pool: Option<PoolName>,
    pub pool_slots: u32,
    pub queued_since: Timestamp,
    /// Breaks ties in arrival order (FIFO).
    pub sequence: u64,
}

/// Why a candidate was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    Parallelism {
        running: u32,
        limit: u32,
    },
    PoolFull {
        pool: PoolName,
        used: u32,
        slots: u32,
        needed: u32,
    },
    /// A task ahead of it waits for the same pool; it keeps the slots it needs.
    PoolReserved {
        pool: PoolName,
    },
    UnknownPool {
        pool: PoolName,
    },
    MaxActiveTasks {
        workflow: WorkflowName,
        limit: u32,
    },
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitReason::Parallelism { running, limit } => {
                write!(f, "parallelism {running}/{limit}")
            }
            WaitReason::PoolFull {
                pool,
                used,
                slots,
                needed,
            } => {
                write!(f, "pool {pool} {used}/{slots} slots (needs {needed})")
            }
            WaitReason::PoolReserved { pool } => {
                write!(f, "pool {pool} reserved for a task ahead in the queue")
            }
            WaitReason::UnknownPool { pool } => write!(f, "pool {pool} is not declared"),
            WaitReason::MaxActiveTasks { workflow, limit } => {
                write!(f, "max_active_tasks {limit} reached for {workflow}")
            }
        }
    }
}

/// Tracks what is running and admits candidates within the limits.
#[derive(Debug)]
pub struct TaskQueue<K> {
    limits: QueueLimits,
    running: HashMap<K, Held>,
    total: u32,
    pool_used: HashMap<PoolName, u32>,
    workflow_active: HashMap<WorkflowName, u32>,
}

#[derive(Debug, Clone)]
struct Held {
    workflow: WorkflowName,
    pool: Option<PoolName>,
    slots: u32,
}

impl<K: Clone + Eq + Hash> TaskQueue<K> {
    pub fn new(limits: QueueLimits) -> Self {
        TaskQueue {
            limits,
            running: HashMap::new(),
            total: 0,
            pool_used: HashMap::new(),
            workflow_active: HashMap::new(),
        }
    }

    pub fn running(&self) -> u32 {
        self.total
    }

    pub fn pool_used(&self, pool: &PoolName) -> u32 {
        self.pool_used.get(pool).copied().unwrap_or(0)
    }

    /// Orders candidates by effective priority (priority plus aging), then arrival, and
    /// admits each that fits. A candidate that does not fit its pool reserves the pool:
    /// no candidate behind it may take that pool's slots, so a task that needs many slots
    /// is not starved by a stream of small ones.
    pub fn admit(&mut self, candidates: &[Candidate<K>], now: Timestamp) -> Admission<K> {
        let mut order: Vec<(i64, &Candidate<K>)> = candidates
            .iter()
            .map(|candidate| (self.effective_priority(candidate, now), candidate))
            .collect();
        order.sort_by(|(a_priority, a), (b_priority, b)| {
            b_priority
                .cmp(a_priority)
                .then(a.queued_since.cmp(&b.queued_since))
                .then(a.sequence.cmp(&b.sequence))
        });
        let mut admitted = Vec::new();
        let mut waiting = Vec::new();
        let mut reserved: Vec<PoolName> = Vec::new();
        for (_, candidate) in order {
            match self.check(candidate, &reserved) {
                Ok(()) => {
                    self.hold(candidate);
                    admitted.push(candidate.key.clone());
                }
                Err(reason) => {
                    if let WaitReason::PoolFull { pool, .. } = &reason {
                        reserved.push(pool.clone());
                    }
                    waiting.push((candidate.key.clone(), reason));
                }
            }
        }
        Admission { admitted, waiting }
    }

    /// Gives back what a finished task held.
    pub fn release(&mut self, key: &K) {
        let Some(held) = self.running.remove(key) else {
            return;
        };
        self.total -= 1;
        if let Some(pool) = &held.pool
            && let Some(used) = self.pool_used.get_mut(pool)
        {
            *used = used.saturating_sub(held.slots);
        }
        if let Some(active) = self.workflow_active.get_mut(&held.workflow) {
            *active = active.saturating_sub(1);
        }
    }

    fn effective_priority(&self, candidate: &Candidate<K>, now: Timestamp) -> i64 {
        let waited = (now - candidate.queued_since).to_std().unwrap_or_default();
        let aging = self.limits.aging.as_millis().max(1);
        i64::from(candidate.priority) + (waited.as_millis() / aging) as i64
    }

    fn check(&self, candidate: &Candidate<K>, reserved: &[PoolName]) -> Result<(), WaitReason> {
        if self.total >= self.limits.parallelism {
            return Err(WaitReason::Parallelism {
                running: self.total,
                limit: self.limits.parallelism,
            });
        }
        if let Some(&limit) = self.limits.max_active_tasks.get(&candidate.workflow) {
            let active = self
                .workflow_active
                .get(&candidate.workflow)
                .copied()
                .unwrap_or(0);
            if active >= limit {
                return Err(WaitReason::MaxActiveTasks {
                    workflow: candidate.workflow.clone(),
                    limit,
                });
            }
        }
        if let Some(pool) = &candidate.pool {
            let Some(&slots) = self.limits.pools.get(pool) else {
                return Err(WaitReason::UnknownPool { pool: pool.clone() });
            };
            if reserved.contains(pool) {
                return Err(WaitReason::PoolReserved { pool: pool.clone() });
            }
            let used = self.pool_used(pool);
            if used + candidate.pool_slots > slots {
                return Err(WaitReason::PoolFull {
                    pool: pool.clone(),
                    used,
                    slots,
                    needed: candidate.pool_slots,
                });
            }
        }
        Ok(())
    }

    fn hold(&mut self, candidate: &Candidate<K>) {
        self.total += 1;
        if let Some(pool) = &candidate.pool {
            *self.pool_used.entry(pool.clone()).or_insert(0) += candidate.pool_slots;
        }
        *self
            .workflow_active
            .entry(candidate.workflow.clone())
            .or_insert(0) += 1;
        self.running.insert(
            candidate.key.clone(),
            Held {
                workflow: candidate.workflow.clone(),
                pool: candidate.pool.clone(),
                slots: candidate.pool_slots,
            },
        );
    }
}

/// The result of one admission round.
#[derive(Debug)]
pub struct Admission<K> {
    pub admitted: Vec<K>,
    pub waiting: Vec<(K, WaitReason)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(seconds: i64) -> Timestamp {
        chrono::Utc
            .timestamp_opt(1_700_000_000 + seconds, 0)
            .single()
            .expect("valid")
    }

    fn limits(parallelism: u32, pool_slots: u32) -> QueueLimits {
        QueueLimits {
            parallelism,
            pools: HashMap::from([(PoolName::new("api"), pool_slots)]),
            max_active_tasks: HashMap::new(),
            aging: Duration::from_secs(60),
        }
    }

    fn candidate(key: u64, priority: i32, slots: u32, since: i64) -> Candidate<u64> {
        Candidate {
            key,
            workflow: WorkflowName::new("w"),
            priority,
            pool: Some(PoolName::new("api")),
            pool_slots: slots,
            queued_since: at(since),
            sequence: key,
        }
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut queue = TaskQueue::new(limits(2, 10));
        let admission = queue.admit(
            &[
                candidate(1, 0, 1, 0),
                candidate(2, 5, 1, 1),
                candidate(3, 0, 1, 2),
            ],
            at(3),
        );
        assert_eq!(admission.admitted, vec![2, 1]);
        assert!(matches!(
            admission.waiting[0].1,
            WaitReason::Parallelism { .. }
        ));
    }

    #[test]
    fn a_task_needing_many_slots_reserves_its_pool() {
        let mut queue = TaskQueue::new(limits(10, 4));
        queue.admit(&[candidate(1, 0, 2, 0)], at(0));
        // 2 of 4 slots used: the 4-slot task waits and small ones behind it may not jump in.
        let admission = queue.admit(&[candidate(2, 0, 4, 1), candidate(3, 0, 1, 2)], at(2));
        assert!(admission.admitted.is_empty());
        assert_eq!(
            admission.waiting[1].1,
            WaitReason::PoolReserved {
                pool: PoolName::new("api")
            }
        );
        queue.release(&1);
        assert_eq!(
            queue
                .admit(&[candidate(2, 0, 4, 1), candidate(3, 0, 1, 2)], at(3))
                .admitted,
            vec![2]
        );
    }

    proptest! {
        /// Whatever arrives and finishes, a pool never holds more than its slots and the
        /// queue never runs more than its parallelism.
        #[test]
        fn limits_are_never_exceeded(ops in proptest::collection::vec((0u8..3, 1u32..4, -5i32..5), 1..200)) {
            let mut queue = TaskQueue::new(limits(3, 5));
            let mut waiting: Vec<Candidate<u64>> = Vec::new();
            let mut running: Vec<u64> = Vec::new();
            for (step, (op, slots, priority)) in ops.into_iter().enumerate() {
                let now = at(step as i64);
                match op {
                    0 | 1 => waiting.push(candidate(step as u64, priority, slots, step as i64)),
                    _ => if let Some(key) = running.pop() { queue.release(&key); },
                }
                let admission = queue.admit(&waiting, now);
                waiting.retain(|c| !admission.admitted.contains(&c.key));
                running.extend(admission.admitted);
                prop_assert!(queue.running() <= 3);
                prop_assert!(queue.pool_used(&PoolName::new("api")) <= 5);
            }
        }

        /// A low-priority task admitted in the end even when higher-priority work keeps coming.
        #[test]
        fn aging_prevents_starvation(high in 1i32..50) {
            let mut queue = TaskQueue::new(limits(1, 5));
            let low = candidate(0, 0, 1, 0);
            let mut minute = 0;
            let mut admitted_low = false;
            while minute < 1000 && !admitted_low {
                // A fresh high-priority task arrives every minute; one slot frees each minute.
                let fresh = candidate(1000 + minute as u64, high, 1, minute * 60);
                let admission = queue.admit(&[low.clone(), fresh], at(minute * 60));
                for key in admission.admitted {
                    if key == 0 { admitted_low = true; }
                    queue.release(&key);
                }
                minute += 1;
            }
            prop_assert!(admitted_low);
        }
    }
}
