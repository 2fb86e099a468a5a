//! The task queue's admission rules: which waiting tasks may start now.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use crate::rate_limit::StartWindow;
use crate::{PoolName, RateLimit, Timestamp, WorkflowName};

/// The limits the queue enforces.
///
/// `Default` is there so that callers can name only the limits they set
/// (`QueueLimits { parallelism: 4, ..QueueLimits::default() }`); note that its parallelism
/// of 0 admits nothing.
#[derive(Debug, Clone, Default)]
pub struct QueueLimits {
    /// How many tasks may run at once in all.
    pub parallelism: u32,
    /// Slots of each pool declared in `tidewater.toml`.
    pub pools: HashMap<PoolName, u32>,
    /// Rates of the pools that have one (`rate = "30/min"`). A rate applies only to a pool
    /// declared in `pools`; a candidate naming an undeclared pool waits as `UnknownPool`.
    pub pool_rates: HashMap<PoolName, RateLimit>,
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
        /// Slots held, those of other servers included.
        used: u32,
        slots: u32,
        needed: u32,
        /// Of `used`, the slots other servers sharing the store hold.
        elsewhere: u32,
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
        /// Tasks of the workflow that other servers sharing the store run.
        elsewhere: u32,
    },
    /// The pool started as many tasks as its rate allows within the last window; a start at
    /// `until` is within the rate again.
    RateLimited {
        pool: PoolName,
        until: Timestamp,
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
                elsewhere: 0,
            } => {
                write!(f, "pool {pool} {used}/{slots} slots (needs {needed})")
            }
            WaitReason::PoolFull {
                pool,
                used,
                slots,
                needed,
                elsewhere,
            } => {
                write!(
                    f,
                    "pool {pool} {used}/{slots} slots (needs {needed}; {elsewhere} on other servers)"
                )
            }
            WaitReason::PoolReserved { pool } => {
                write!(f, "pool {pool} reserved for a task ahead in the queue")
            }
            WaitReason::UnknownPool { pool } => write!(f, "pool {pool} is not declared"),
            WaitReason::MaxActiveTasks {
                workflow,
                limit,
                elsewhere: 0,
            } => {
                write!(f, "max_active_tasks {limit} reached for {workflow}")
            }
            WaitReason::MaxActiveTasks {
                workflow,
                limit,
                elsewhere,
            } => {
                write!(
                    f,
                    "max_active_tasks {limit} reached for {workflow} ({elsewhere} on other servers)"
                )
            }
            WaitReason::RateLimited { pool, until } => {
                let until = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                write!(f, "rate limit {pool} until {until}")
            }
        }
    }
}

/// Tracks what is running and admits candidates within the limits.
///
/// Rate limits are kept by this queue alone: two queues guarding the same pool each allow
/// the full rate, so one queue must see every start of a rate-limited pool (a restarted
/// queue learns earlier starts through [`TaskQueue::record_start`]).
///
/// Queues of several servers sharing a store each admit within their own view, then confirm
/// in the store; what a refusal teaches (slots and tasks other servers hold, a rate window
/// the store counts) is told back through [`TaskQueue::give_back`] so that this queue's
/// wait reasons say it and it does not admit the same task again at once. That knowledge
/// ages: [`TaskQueue::forget_elsewhere`] drops it before a retry, since another server's
/// release reaches no queue here.
#[derive(Debug)]
pub struct TaskQueue<K> {
    limits: QueueLimits,
    running: HashMap<K, Held>,
    total: u32,
    pool_used: HashMap<PoolName, u32>,
    workflow_active: HashMap<WorkflowName, u32>,
    /// The recent starts of each pool with a rate.
    start_windows: HashMap<PoolName, StartWindow>,
    /// Pools that held back a candidate by their rate in the last `admit`: only their
    /// windows need a timer, since everything else waits for a release.
    rate_blocked: Vec<PoolName>,
    /// What other servers sharing the store hold, as their last refusal said.
    elsewhere: Elsewhere,
}

/// What other queues hold of the limits this queue shares with them through a store.
#[derive(Debug, Default)]
struct Elsewhere {
    pool_slots: HashMap<PoolName, u32>,
    workflow_tasks: HashMap<WorkflowName, u32>,
    /// A pool's rate as the store counts it: no start before this instant.
    rate_until: HashMap<PoolName, Timestamp>,
}

/// What the store said when it refused a task that this queue admitted (see
/// [`TaskQueue::give_back`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldElsewhere {
    /// The store counts `held` slots of the pool held, `by_others` of them by other servers.
    PoolSlots {
        pool: PoolName,
        held: u32,
        by_others: u32,
    },
    /// The store counts `active` tasks of the workflow, `by_others` of them other servers'.
    WorkflowTasks {
        workflow: WorkflowName,
        active: u32,
        by_others: u32,
    },
    /// The pool's rate, counted over every server, allows no start before `until`.
    RateUntil { pool: PoolName, until: Timestamp },
}

#[derive(Debug, Clone)]
struct Held {
    workflow: WorkflowName,
    pool: Option<PoolName>,
    slots: u32,
    /// When it was admitted: the start its pool's window counts.
    admitted_at: Timestamp,
}

impl<K: Clone + Eq + Hash> TaskQueue<K> {
    pub fn new(limits: QueueLimits) -> Self {
        let start_windows = limits
            .pool_rates
            .iter()
            .map(|(pool, &rate)| (pool.clone(), StartWindow::new(rate)))
            .collect();
        TaskQueue {
            limits,
            running: HashMap::new(),
            total: 0,
            pool_used: HashMap::new(),
            workflow_active: HashMap::new(),
            start_windows,
            rate_blocked: Vec::new(),
            elsewhere: Elsewhere::default(),
        }
    }

    pub fn limits(&self) -> &QueueLimits {
        &self.limits
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
    ///
    /// Every admitted candidate counts as one start of its pool at `now` against the pool's
    /// rate, whatever its `pool_slots`. A candidate held back by the rate reserves nothing:
    /// the rate holds back every candidate of its pool alike until the window moves on.
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
        self.rate_blocked.clear();
        for (_, candidate) in order {
            match self.check(candidate, &reserved, now) {
                Ok(()) => {
                    self.hold(candidate, now);
                    admitted.push(candidate.key.clone());
                }
                Err(reason) => {
                    match &reason {
                        WaitReason::PoolFull { pool, .. } => reserved.push(pool.clone()),
                        WaitReason::RateLimited { pool, .. }
                            if !self.rate_blocked.contains(pool) =>
                        {
                            self.rate_blocked.push(pool.clone());
                        }
                        _ => {}
                    }
                    waiting.push((candidate.key.clone(), reason));
                }
            }
        }
        Admission { admitted, waiting }
    }

    /// When to call `admit` again for the candidates that the last `admit` held back by a
    /// rate: the earliest instant one of them may start, never before `now`. `None` when no
    /// candidate waits for a rate; the other reasons to wait end with a `release`, which
    /// the caller sees anyway.
    pub fn next_wake(&self, now: Timestamp) -> Option<Timestamp> {
        self.rate_blocked
            .iter()
            .map(|pool| {
                self.rate_available_at(pool)
                    .map_or(now, |until| until.max(now))
            })
            .min()
    }

    /// When `pool`'s rate lets a task start, by this queue's window and what the store said.
    fn rate_available_at(&self, pool: &PoolName) -> Option<Timestamp> {
        let window = self
            .start_windows
            .get(pool)
            .and_then(|window| window.available_at());
        let store = self.elsewhere.rate_until.get(pool).copied();
        window.max(store)
    }

    /// Gives back the place of a task this queue admitted but the store shared with other
    /// servers refused, counting what the refusal said is held elsewhere: the task is not
    /// admitted again until [`TaskQueue::forget_elsewhere`] (or, for a rate, the `until`
    /// passing). Its start is not counted against this queue's rate window either: it did
    /// not start.
    pub fn give_back(&mut self, key: &K, held: HeldElsewhere) {
        if let Some(entry) = self.running.get(key)
            && let Some(pool) = &entry.pool
            && let Some(window) = self.start_windows.get_mut(pool)
        {
            window.forget(entry.admitted_at);
        }
        self.release(key);
        // What the store counts beyond this queue is held elsewhere, whoever the store says
        // holds it: counting less would admit the task again at once, to be refused again.
        match held {
            HeldElsewhere::PoolSlots {
                pool,
                held,
                by_others,
            } => {
                let uncounted = held.saturating_sub(self.pool_used(&pool));
                self.elsewhere
                    .pool_slots
                    .insert(pool, by_others.max(uncounted));
            }
            HeldElsewhere::WorkflowTasks {
                workflow,
                active,
                by_others,
            } => {
                let here = self.workflow_active.get(&workflow).copied().unwrap_or(0);
                let uncounted = active.saturating_sub(here);
                self.elsewhere
                    .workflow_tasks
                    .insert(workflow, by_others.max(uncounted));
            }
            HeldElsewhere::RateUntil { pool, until } => {
                self.elsewhere.rate_until.insert(pool, until);
            }
        }
    }

    /// Forgets the slots and tasks other servers held at their last refusal, so that the
    /// next `admit` tries again (the store refuses again if they still hold them). A rate's
    /// `until` is kept: it ends by itself.
    pub fn forget_elsewhere(&mut self) {
        self.elsewhere.pool_slots.clear();
        self.elsewhere.workflow_tasks.clear();
    }

    /// Counts what other queues sharing the store hold now (pool slots, tasks of capped
    /// workflows), replacing what it counted before: for a replay that knows every queue's
    /// holds, such as `tidewater queue` over several servers' runs.
    pub fn hold_elsewhere(
        &mut self,
        pool_slots: HashMap<PoolName, u32>,
        workflow_tasks: HashMap<WorkflowName, u32>,
    ) {
        self.elsewhere.pool_slots = pool_slots;
        self.elsewhere.workflow_tasks = workflow_tasks;
    }

    /// How many admitted tasks of `workflow` this queue holds.
    pub fn workflow_active(&self, workflow: &WorkflowName) -> u32 {
        self.workflow_active.get(workflow).copied().unwrap_or(0)
    }

    /// Whether this queue counts slots or tasks of other servers, which only a retry after
    /// [`TaskQueue::forget_elsewhere`] can learn were released.
    pub fn counts_elsewhere(&self) -> bool {
        self.elsewhere.pool_slots.values().any(|&slots| slots > 0)
            || self
                .elsewhere
                .workflow_tasks
                .values()
                .any(|&tasks| tasks > 0)
    }

    /// Counts a start of `pool` at `started_at` that this queue did not admit itself, such
    /// as an attempt that started before a restart (read back from the store), so that a
    /// restart does not grant a fresh rate. Holds no slot; does nothing for a pool without
    /// a rate.
    pub fn record_start(&mut self, pool: &PoolName, started_at: Timestamp) {
        if let Some(window) = self.start_windows.get_mut(pool) {
            window.record(started_at);
        }
    }

    /// Whether `key` holds a place in the queue (admitted and not released yet).
    pub fn holds(&self, key: &K) -> bool {
        self.running.contains_key(key)
    }

    /// Sets or removes a workflow's `max_active_tasks`, for a queue shared by the runs of
    /// workflows that come and go.
    pub fn set_max_active_tasks(&mut self, workflow: &WorkflowName, limit: Option<u32>) {
        match limit {
            Some(limit) => {
                self.limits.max_active_tasks.insert(workflow.clone(), limit);
            }
            None => {
                self.limits.max_active_tasks.remove(workflow);
            }
        }
    }

    /// Counts a task that already runs (started at `started_at`, admitted by another queue
    /// or before a restart) as holding its place, without checking any limit: to explain
    /// what waits behind it.
    pub fn occupy(&mut self, running: &Candidate<K>, started_at: Timestamp) {
        self.hold(running, started_at);
    }

    /// Gives back what every task matching `which` held.
    pub fn release_all(&mut self, which: impl Fn(&K) -> bool) {
        let keys: Vec<K> = self
            .running
            .keys()
            .filter(|key| which(key))
            .cloned()
            .collect();
        for key in keys {
            self.release(&key);
        }
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

    fn check(
        &self,
        candidate: &Candidate<K>,
        reserved: &[PoolName],
        now: Timestamp,
    ) -> Result<(), WaitReason> {
        if self.total >= self.limits.parallelism {
            return Err(WaitReason::Parallelism {
                running: self.total,
                limit: self.limits.parallelism,
            });
        }
        if let Some(&limit) = self.limits.max_active_tasks.get(&candidate.workflow) {
            let elsewhere = self
                .elsewhere
                .workflow_tasks
                .get(&candidate.workflow)
                .copied()
                .unwrap_or(0);
            let active = self
                .workflow_active
                .get(&candidate.workflow)
                .copied()
                .unwrap_or(0);
            if active + elsewhere >= limit {
                return Err(WaitReason::MaxActiveTasks {
                    workflow: candidate.workflow.clone(),
                    limit,
                    elsewhere,
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
            let elsewhere = self.elsewhere.pool_slots.get(pool).copied().unwrap_or(0);
            let used = self.pool_used(pool) + elsewhere;
            if used + candidate.pool_slots > slots {
                return Err(WaitReason::PoolFull {
                    pool: pool.clone(),
                    used,
                    slots,
                    needed: candidate.pool_slots,
                    elsewhere,
                });
            }
            let rate_limited = |until| WaitReason::RateLimited {
                pool: pool.clone(),
                until,
            };
            if let Some(window) = self.start_windows.get(pool) {
                window.check(now).map_err(rate_limited)?;
            }
            if let Some(&until) = self.elsewhere.rate_until.get(pool)
                && until > now
            {
                return Err(rate_limited(until));
            }
        }
        Ok(())
    }

    fn hold(&mut self, candidate: &Candidate<K>, now: Timestamp) {
        self.total += 1;
        if let Some(pool) = &candidate.pool {
            *self.pool_used.entry(pool.clone()).or_insert(0) += candidate.pool_slots;
            if let Some(window) = self.start_windows.get_mut(pool) {
                window.record(now);
            }
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
                admitted_at: now,
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
            pool_rates: HashMap::new(),
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

    fn rated(parallelism: u32, pool_slots: u32, rate: &str) -> QueueLimits {
        QueueLimits {
            pool_rates: HashMap::from([(
                PoolName::new("api"),
                rate.parse().expect("a valid rate"),
            )]),
            ..limits(parallelism, pool_slots)
        }
    }

    fn keys(admission: &Admission<u64>) -> Vec<u64> {
        admission.admitted.clone()
    }

    #[test]
    fn a_pool_starts_no_more_than_its_rate_within_a_window() {
        let mut queue = TaskQueue::new(rated(100, 100, "3/min"));
        let backlog: Vec<Candidate<u64>> = (0..10).map(|key| candidate(key, 0, 1, 0)).collect();
        let first = queue.admit(&backlog, at(0));
        assert_eq!(keys(&first), vec![0, 1, 2]);
        let until = WaitReason::RateLimited {
            pool: PoolName::new("api"),
            until: at(60),
        };
        assert!(first.waiting.iter().all(|(_, reason)| *reason == until));
        // Finishing tasks frees slots, not starts.
        for key in 0..3 {
            queue.release(&key);
        }
        assert!(queue.admit(&backlog[3..], at(59)).admitted.is_empty());
        assert_eq!(keys(&queue.admit(&backlog[3..], at(60))), vec![3, 4, 5]);
    }

    #[test]
    fn the_window_slides_with_each_start_rather_than_resetting_per_unit() {
        let mut queue = TaskQueue::new(rated(100, 100, "2/min"));
        queue.admit(&[candidate(1, 0, 1, 0)], at(0));
        queue.admit(&[candidate(2, 0, 1, 50)], at(50));
        // A fixed per-minute counter would allow a start at 60; the window still holds 50.
        let admission = queue.admit(&[candidate(3, 0, 1, 55), candidate(4, 0, 1, 55)], at(60));
        assert_eq!(keys(&admission), vec![3]);
        assert_eq!(
            admission.waiting,
            vec![(
                4,
                WaitReason::RateLimited {
                    pool: PoolName::new("api"),
                    until: at(110)
                }
            )]
        );
    }

    #[test]
    fn next_wake_is_when_the_first_rate_blocked_candidate_may_start() {
        let mut queue = TaskQueue::new(rated(100, 100, "1/h"));
        assert_eq!(queue.next_wake(at(0)), None);
        queue.admit(&[candidate(1, 0, 1, 0), candidate(2, 0, 1, 0)], at(0));
        assert_eq!(queue.next_wake(at(10)), Some(at(3600)));
        // Asked late, it says "now" rather than a time in the past.
        assert_eq!(queue.next_wake(at(4000)), Some(at(4000)));
        assert_eq!(
            keys(&queue.admit(&[candidate(2, 0, 1, 0)], at(3600))),
            vec![2]
        );
        assert_eq!(queue.next_wake(at(3600)), None);
    }

    #[test]
    fn candidates_waiting_only_for_slots_need_no_wake() {
        let mut queue = TaskQueue::new(rated(100, 1, "10/min"));
        let admission = queue.admit(&[candidate(1, 0, 1, 0), candidate(2, 0, 1, 0)], at(0));
        assert!(matches!(
            admission.waiting[0].1,
            WaitReason::PoolFull { .. }
        ));
        assert_eq!(queue.next_wake(at(0)), None);
    }

    #[test]
    fn a_rate_counts_starts_whatever_their_slots() {
        let mut queue = TaskQueue::new(rated(100, 10, "2/min"));
        let admission = queue.admit(
            &[
                candidate(1, 0, 4, 0),
                candidate(2, 0, 1, 0),
                candidate(3, 0, 1, 0),
            ],
            at(0),
        );
        assert_eq!(keys(&admission), vec![1, 2]);
        assert_eq!(queue.pool_used(&PoolName::new("api")), 5);
    }

    #[test]
    fn a_rate_limited_pool_does_not_hold_back_other_work() {
        let mut queue = TaskQueue::new(rated(100, 10, "1/min"));
        let mut unpooled = candidate(3, 0, 1, 0);
        unpooled.pool = None;
        let admission = queue.admit(
            &[candidate(1, 0, 1, 0), candidate(2, 0, 1, 0), unpooled],
            at(0),
        );
        assert_eq!(keys(&admission), vec![1, 3]);
    }

    #[test]
    fn starts_recorded_before_a_restart_count_against_the_rate() {
        // Regression guard: a restarted queue must not grant a fresh window of starts.
        let mut queue = TaskQueue::new(rated(100, 100, "2/min"));
        queue.record_start(&PoolName::new("api"), at(-30));
        queue.record_start(&PoolName::new("api"), at(-10));
        let admission = queue.admit(&[candidate(1, 0, 1, 0)], at(0));
        assert!(admission.admitted.is_empty());
        assert_eq!(queue.next_wake(at(0)), Some(at(30)));
        // Recording a start of a pool without a rate changes nothing.
        queue.record_start(&PoolName::new("other"), at(0));
        assert_eq!(queue.running(), 0);
    }

    #[test]
    fn a_task_refused_by_the_store_waits_for_what_other_servers_hold() {
        let mut queue = TaskQueue::new(rated(100, 2, "10/min"));
        assert_eq!(keys(&queue.admit(&[candidate(1, 0, 1, 0)], at(0))), vec![1]);
        // The store says another server holds both slots: the task gives its place back.
        queue.give_back(
            &1,
            HeldElsewhere::PoolSlots {
                pool: PoolName::new("api"),
                held: 2,
                by_others: 2,
            },
        );
        assert_eq!(queue.running(), 0);
        let admission = queue.admit(&[candidate(1, 0, 1, 0)], at(1));
        assert!(admission.admitted.is_empty());
        let reason = &admission.waiting[0].1;
        assert_eq!(
            *reason,
            WaitReason::PoolFull {
                pool: PoolName::new("api"),
                used: 2,
                slots: 2,
                needed: 1,
                elsewhere: 2,
            }
        );
        assert_eq!(
            reason.to_string(),
            "pool api 2/2 slots (needs 1; 2 on other servers)"
        );
        assert!(queue.counts_elsewhere());
        // A retry forgets it; the refused admission counted no start against the rate.
        queue.forget_elsewhere();
        assert!(!queue.counts_elsewhere());
        assert_eq!(keys(&queue.admit(&[candidate(1, 0, 1, 0)], at(2))), vec![1]);
    }

    #[test]
    fn what_a_replay_says_other_queues_hold_counts_against_pools_and_capped_workflows() {
        let mut limits = limits(100, 3);
        limits.max_active_tasks.insert(WorkflowName::new("w"), 2);
        let mut queue = TaskQueue::new(limits);
        queue.hold_elsewhere(
            HashMap::from([(PoolName::new("api"), 2)]),
            HashMap::from([(WorkflowName::new("w"), 1)]),
        );
        // One slot of three is left, and one task of the workflow's two.
        let admission = queue.admit(&[candidate(1, 0, 1, 0), candidate(2, 0, 1, 1)], at(2));
        assert_eq!(keys(&admission), vec![1]);
        assert_eq!(queue.workflow_active(&WorkflowName::new("w")), 1);
        assert_eq!(
            admission.waiting[0].1.to_string(),
            "max_active_tasks 2 reached for w (1 on other servers)"
        );
        // A later replay replaces what it said before.
        queue.hold_elsewhere(HashMap::new(), HashMap::new());
        assert!(!queue.counts_elsewhere());
        assert_eq!(keys(&queue.admit(&[candidate(2, 0, 1, 1)], at(3))), vec![2]);
    }

    #[test]
    fn a_rate_counted_by_the_store_holds_until_its_time() {
        let mut queue = TaskQueue::new(rated(100, 10, "10/min"));
        queue.admit(&[candidate(1, 0, 1, 0)], at(0));
        queue.give_back(
            &1,
            HeldElsewhere::RateUntil {
                pool: PoolName::new("api"),
                until: at(40),
            },
        );
        let admission = queue.admit(&[candidate(1, 0, 1, 0)], at(1));
        assert_eq!(
            admission.waiting[0].1,
            WaitReason::RateLimited {
                pool: PoolName::new("api"),
                until: at(40)
            }
        );
        assert_eq!(queue.next_wake(at(1)), Some(at(40)));
        // Forgetting what other servers hold keeps a rate's time: it ends by itself.
        queue.forget_elsewhere();
        assert!(
            queue
                .admit(&[candidate(1, 0, 1, 0)], at(39))
                .admitted
                .is_empty()
        );
        assert_eq!(
            keys(&queue.admit(&[candidate(1, 0, 1, 0)], at(40))),
            vec![1]
        );
    }

    #[test]
    fn max_active_tasks_counts_the_tasks_other_servers_run() {
        let mut queue = TaskQueue::new(limits(100, 10));
        queue.set_max_active_tasks(&WorkflowName::new("w"), Some(3));
        queue.admit(&[candidate(1, 0, 1, 0)], at(0));
        queue.admit(&[candidate(2, 0, 1, 0)], at(0));
        queue.give_back(
            &2,
            HeldElsewhere::WorkflowTasks {
                workflow: WorkflowName::new("w"),
                active: 3,
                by_others: 2,
            },
        );
        let admission = queue.admit(&[candidate(2, 0, 1, 0)], at(1));
        assert_eq!(
            admission.waiting[0].1.to_string(),
            "max_active_tasks 3 reached for w (2 on other servers)"
        );
    }

    #[test]
    fn a_rate_wait_reads_as_the_pool_and_the_time_it_may_start() {
        let reason = WaitReason::RateLimited {
            pool: PoolName::new("api"),
            until: at(190),
        };
        assert_eq!(
            reason.to_string(),
            "rate limit api until 2023-11-14T22:16:30Z"
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
