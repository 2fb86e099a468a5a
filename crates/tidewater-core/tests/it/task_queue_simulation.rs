//! The task queue driven like the engine drives it, over simulated time: tasks arrive,
//! finish after their duration, and the clock jumps to the next arrival, finish or
//! `next_wake`, whichever comes first. Limits are checked against the simulation's own
//! record of what runs and when it started, not against the queue's counters.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use chrono::TimeZone;
use proptest::prelude::*;
use tidewater_core::{
    Candidate, PoolName, QueueLimits, RateLimit, RateUnit, TaskQueue, Timestamp, WaitReason,
    WorkflowName,
};

fn at(seconds: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_767_225_600 + seconds, 0)
        .single()
        .expect("valid")
}

fn seconds(time: Timestamp) -> i64 {
    time.timestamp() - 1_767_225_600
}

#[derive(Debug, Clone)]
struct Arrival {
    at: i64,
    priority: i32,
    /// An index into the pools, or past their end for a task without a pool.
    pool: usize,
    slots: u32,
    duration: i64,
}

#[derive(Debug, Clone)]
struct PoolSpec {
    slots: u32,
    rate: Option<RateLimit>,
}

fn pool_name(index: usize) -> PoolName {
    PoolName::new(format!("pool{index}"))
}

struct Running {
    key: u64,
    pool: Option<usize>,
    slots: u32,
    finishes_at: i64,
}

/// How many of `starts` fall in the window that ends at `now`: `(now - window, now]`.
/// Starts happen only at instants the clock stops at, so checking the window ending at
/// each start covers every window.
fn starts_in_window(starts: &[i64], now: i64, window: i64) -> usize {
    starts
        .iter()
        .filter(|&&start| start > now - window && start <= now)
        .count()
}

/// Runs the arrivals until every task has finished, asserting the limits at each instant
/// the clock stops at.
fn simulate(parallelism: u32, pools: &[PoolSpec], mut arrivals: Vec<Arrival>) {
    let limits = QueueLimits {
        parallelism,
        pools: pools
            .iter()
            .enumerate()
            .map(|(index, spec)| (pool_name(index), spec.slots))
            .collect(),
        pool_rates: pools
            .iter()
            .enumerate()
            .filter_map(|(index, spec)| spec.rate.map(|rate| (pool_name(index), rate)))
            .collect(),
        max_active_tasks: HashMap::new(),
        aging: Duration::from_secs(30),
    };
    let mut queue = TaskQueue::<u64>::new(limits);
    arrivals.sort_by_key(|arrival| arrival.at);
    let mut arrivals = arrivals.into_iter().enumerate().peekable();
    let mut waiting: Vec<(Candidate<u64>, i64)> = Vec::new();
    let mut running: Vec<Running> = Vec::new();
    let mut starts: HashMap<usize, Vec<i64>> = HashMap::new();
    let mut now = 0;
    loop {
        running.retain(|task| {
            let is_done = task.finishes_at <= now;
            if is_done {
                queue.release(&task.key);
            }
            !is_done
        });
        while let Some((key, arrival)) = arrivals.next_if(|(_, arrival)| arrival.at <= now) {
            let pool = (arrival.pool < pools.len()).then_some(arrival.pool);
            let candidate = Candidate {
                key: key as u64,
                workflow: WorkflowName::new("w"),
                priority: arrival.priority,
                pool: pool.map(pool_name),
                // Never more than the pool has, or the task could never start.
                pool_slots: pool.map_or(1, |pool| 1 + (arrival.slots - 1) % pools[pool].slots),
                queued_since: at(arrival.at),
                sequence: key as u64,
            };
            waiting.push((candidate, arrival.duration));
        }
        let candidates: Vec<Candidate<u64>> = waiting
            .iter()
            .map(|(candidate, _)| candidate.clone())
            .collect();
        let admission = queue.admit(&candidates, at(now));
        for key in &admission.admitted {
            let index = waiting
                .iter()
                .position(|(candidate, _)| candidate.key == *key)
                .expect("admitted a waiting candidate");
            let (candidate, duration) = waiting.remove(index);
            let pool = candidate
                .pool
                .as_ref()
                .and_then(|name| (0..pools.len()).find(|&index| pool_name(index) == *name));
            if let Some(pool) = pool {
                starts.entry(pool).or_default().push(now);
            }
            running.push(Running {
                key: *key,
                pool,
                slots: candidate.pool_slots,
                finishes_at: now + duration,
            });
        }

        // The limits, from the simulation's own record.
        assert!(
            running.len() <= parallelism as usize,
            "parallelism exceeded at {now}"
        );
        for (index, spec) in pools.iter().enumerate() {
            let used: u32 = running
                .iter()
                .filter(|task| task.pool == Some(index))
                .map(|task| task.slots)
                .sum();
            assert!(
                used <= spec.slots,
                "pool {index} holds {used}/{} at {now}",
                spec.slots
            );
            if let Some(rate) = spec.rate {
                let window = rate.window().num_seconds();
                let in_window =
                    starts_in_window(starts.get(&index).map_or(&[], Vec::as_slice), now, window);
                assert!(
                    in_window <= rate.starts() as usize,
                    "pool {index} started {in_window} within {rate} at {now}"
                );
            }
        }
        // A rate holds a candidate back only when its window is really full, and says
        // exactly when it frees up.
        for (_, reason) in &admission.waiting {
            if let WaitReason::RateLimited { pool, until } = reason {
                let index = (0..pools.len())
                    .find(|&index| pool_name(index) == *pool)
                    .expect("a simulated pool");
                let rate = pools[index].rate.expect("a rate-limited pool has a rate");
                let window = rate.window().num_seconds();
                let pool_starts = starts.get(&index).map_or(&[][..], Vec::as_slice);
                assert_eq!(
                    starts_in_window(pool_starts, now, window),
                    rate.starts() as usize,
                    "pool {index} held back at {now} with room in its window"
                );
                let oldest_counted = pool_starts[pool_starts.len() - rate.starts() as usize];
                assert_eq!(seconds(*until), oldest_counted + window);
            }
        }

        // The wake is the first instant a rate lets a held-back candidate start: neither
        // early (a useless round) nor late (a task held back longer than its rate says).
        let wake = queue.next_wake(at(now)).map(seconds);
        let first_until = admission
            .waiting
            .iter()
            .filter_map(|(_, reason)| match reason {
                WaitReason::RateLimited { until, .. } => Some(seconds(*until)),
                _ => None,
            })
            .min();
        assert_eq!(wake, first_until, "next_wake at {now}");
        if let Some(wake) = wake {
            assert!(wake > now, "next_wake {wake} is not after {now}");
        }
        let next = [
            arrivals.peek().map(|(_, arrival)| arrival.at),
            running.iter().map(|task| task.finishes_at).min(),
            wake,
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(next) => now = next,
            None => break,
        }
    }
    // Nothing is left waiting with nothing to wake it: `next_wake` and releases suffice.
    assert!(
        waiting.is_empty(),
        "{} tasks were stranded at {now}: {:?}",
        waiting.len(),
        admission_reasons(&mut queue, &waiting, now)
    );
}

fn admission_reasons(
    queue: &mut TaskQueue<u64>,
    waiting: &[(Candidate<u64>, i64)],
    now: i64,
) -> Vec<WaitReason> {
    let candidates: Vec<Candidate<u64>> = waiting
        .iter()
        .map(|(candidate, _)| candidate.clone())
        .collect();
    queue
        .admit(&candidates, at(now))
        .waiting
        .into_iter()
        .map(|(_, reason)| reason)
        .collect()
}

fn rate_strategy() -> impl Strategy<Value = Option<RateLimit>> {
    proptest::option::of((
        1u32..5,
        prop_oneof![Just(RateUnit::Second), Just(RateUnit::Minute)],
    ))
    .prop_map(|rate| {
        rate.map(|(starts, unit)| {
            RateLimit::new(NonZeroU32::new(starts).expect("at least 1"), unit)
        })
    })
}

fn pool_strategy() -> impl Strategy<Value = PoolSpec> {
    (1u32..5, rate_strategy()).prop_map(|(slots, rate)| PoolSpec { slots, rate })
}

fn arrival_strategy() -> impl Strategy<Value = Arrival> {
    (0i64..600, -5i32..5, 0usize..3, 1u32..5, 1i64..120).prop_map(
        |(at, priority, pool, slots, duration)| Arrival {
            at,
            priority,
            pool,
            slots,
            duration,
        },
    )
}

proptest! {
    /// At no simulated instant does a pool hold more than its slots, a window hold more
    /// starts than its pool's rate, or the queue run more than its parallelism; and every
    /// task starts in the end.
    #[test]
    fn slots_rates_and_parallelism_hold_at_every_simulated_instant(
        parallelism in 1u32..6,
        pools in proptest::collection::vec(pool_strategy(), 2),
        arrivals in proptest::collection::vec(arrival_strategy(), 1..120),
    ) {
        simulate(parallelism, &pools, arrivals);
    }

    /// Under a stream of high-priority work arriving faster than a rate-limited pool lets
    /// it through, a low-priority task of that pool still starts: its priority ages.
    #[test]
    fn a_low_priority_task_starts_under_sustained_high_priority_load(
        high in 1i32..20,
        arrival_every in 10i64..60,
    ) {
        let pools = [PoolSpec { slots: 1, rate: Some("1/min".parse().expect("valid")) }];
        let low = Arrival { at: 0, priority: 0, pool: 0, slots: 1, duration: 5 };
        let limits = QueueLimits {
            parallelism: 10,
            pools: HashMap::from([(pool_name(0), 1)]),
            pool_rates: HashMap::from([(pool_name(0), pools[0].rate.expect("a rate"))]),
            max_active_tasks: HashMap::new(),
            aging: Duration::from_secs(60),
        };
        let mut queue = TaskQueue::<u64>::new(limits);
        let candidate = |key: u64, arrival: &Arrival| Candidate {
            key,
            workflow: WorkflowName::new("w"),
            priority: arrival.priority,
            pool: Some(pool_name(0)),
            pool_slots: 1,
            queued_since: at(arrival.at),
            sequence: key,
        };
        let mut waiting = vec![candidate(0, &low)];
        let mut next_arrival = 0;
        let mut key = 1;
        let mut now = 0;
        let mut low_started_at = None;
        // Three simulated days at most; the bound below is far tighter.
        while now < 3 * 24 * 3600 && low_started_at.is_none() {
            while next_arrival <= now {
                let arrival = Arrival { at: next_arrival, priority: high, pool: 0, slots: 1, duration: 5 };
                waiting.push(candidate(key, &arrival));
                key += 1;
                next_arrival += arrival_every;
            }
            let admission = queue.admit(&waiting, at(now));
            for admitted in &admission.admitted {
                if *admitted == 0 {
                    low_started_at = Some(now);
                }
                // Tasks finish well within the rate's window, so slots never hold it up.
                queue.release(admitted);
            }
            waiting.retain(|candidate| !admission.admitted.contains(&candidate.key));
            let wake = queue.next_wake(at(now)).map(seconds);
            now = wake.map_or(next_arrival, |wake| wake.min(next_arrival));
        }
        let started = low_started_at.expect("the low-priority task started");
        // It waits at most for the high-priority work that arrived before its aged
        // priority caught up (`high` minutes of arrivals), let through at 1/min.
        let high_ahead = i64::from(high) * 60 / arrival_every + 1;
        prop_assert!(started <= high_ahead * 60, "started at {started}");
    }
}
