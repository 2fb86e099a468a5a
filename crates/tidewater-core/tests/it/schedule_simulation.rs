//! A year of a scheduler driven by `SchedulePlan` with a simulated clock and restarts.
//!
//! The simulated service keeps only what a store would keep (the created intervals); its
//! timer (`next_due`) is lost at every restart, and a restart may come in the middle of
//! creating a batch of runs. An independent walk over the schedule's fire times is the
//! oracle for which intervals exist.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, TimeZone};
use proptest::prelude::*;
use tidewater_core::{DataInterval, Schedule, SchedulePlan, Timestamp};

/// Xorshift64: fixed seeds give the same walk every run, without a dependency.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

fn local(timezone: chrono_tz::Tz, y: i32, m: u32, d: u32) -> Timestamp {
    timezone
        .with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("midnight exists in these time zones")
        .to_utc()
}

/// Every interval of `schedule` between `from` and `until`, by walking fire times forward.
fn all_intervals(
    schedule: &Schedule,
    timezone: chrono_tz::Tz,
    from: Timestamp,
    until: Timestamp,
) -> Vec<DataInterval> {
    let mut intervals = Vec::new();
    let mut start = schedule.next_fire(from, timezone).expect("fires");
    while start < until {
        let end = schedule.next_fire(start, timezone).expect("fires");
        intervals.push(DataInterval::new(start, end).expect("fire times increase"));
        start = end;
    }
    intervals
}

/// The oracle's latest interval with `end <= now`.
fn latest_ended(intervals: &[DataInterval], now: Timestamp) -> Option<DataInterval> {
    let ended = intervals.partition_point(|interval| interval.end <= now);
    ended.checked_sub(1).map(|index| intervals[index])
}

/// What the store keeps across restarts.
#[derive(Default)]
struct Store {
    created: BTreeSet<DataInterval>,
    creation_order: Vec<DataInterval>,
}

impl Store {
    fn last_created_end(&self) -> Option<Timestamp> {
        self.created.iter().map(|interval| interval.end).max()
    }

    fn create(&mut self, interval: DataInterval) {
        assert!(
            self.created.insert(interval),
            "the interval {interval} got a second run"
        );
        self.creation_order.push(interval);
    }
}

#[derive(Debug, Clone, Copy)]
struct Case {
    expression: &'static str,
    timezone: chrono_tz::Tz,
    start: Option<NaiveDate>,
    catchup: bool,
    seed: u64,
}

/// Runs the service over 2026 and checks the invariants at every simulated instant.
fn simulate(case: Case) {
    let Case {
        expression,
        timezone,
        start,
        catchup,
        seed,
    } = case;
    let schedule = Schedule::parse(expression).expect("valid");
    let plan = SchedulePlan {
        schedule: &schedule,
        timezone,
        start,
        catchup,
    };
    let year_start = local(timezone, 2026, 1, 1);
    let year_end = local(timezone, 2027, 1, 1);
    let oracle = all_intervals(
        &schedule,
        timezone,
        year_start - chrono::Duration::days(10),
        year_end + chrono::Duration::days(10),
    );
    let start_at = start.map(|date| local(timezone, date.year(), date.month(), date.day()));
    let mut random = Xorshift(seed);
    let mut store = Store::default();
    // The service's only memory: when its timer fires. `None` = just (re)started.
    let mut next_due: Option<Timestamp> = None;
    let mut first_call_now: Option<Timestamp> = None;
    let mut now = year_start + chrono::Duration::minutes(random.between(0, 600));
    let mut restarts = 0;
    while now < year_end {
        // Mostly short steps, some long ones (a busy or suspended machine).
        let step = if random.one_in(10) {
            random.between(1, 2 * 24 * 3600)
        } else {
            random.between(1, 90 * 60)
        };
        now += chrono::Duration::seconds(step);
        if random.one_in(300) {
            // A restart, after being down for up to three days.
            next_due = None;
            restarts += 1;
            now += chrono::Duration::seconds(random.between(0, 3 * 24 * 3600));
        }
        while next_due.is_none_or(|due| due <= now) {
            let woken_by_timer = next_due.is_some();
            let due = plan.due(store.last_created_end(), now);
            first_call_now.get_or_insert(now);
            if woken_by_timer {
                // The timer is exact: when it fires, an interval has just ended.
                assert!(
                    !due.intervals.is_empty(),
                    "woke at {now} for nothing: {case:?}"
                );
            }
            let due_next = due.next_due.expect("the schedule keeps firing");
            assert!(due_next > now, "next due {due_next} is not after {now}");
            if due.intervals.len() > 1 && random.one_in(5) {
                // Killed part way through creating the batch: the store keeps a prefix.
                let kept = random.between(0, due.intervals.len() as i64 - 1) as usize;
                for &interval in &due.intervals[..kept] {
                    store.create(interval);
                }
                next_due = None;
                restarts += 1;
                continue;
            }
            for &interval in &due.intervals {
                assert!(
                    oracle.binary_search(&interval).is_ok(),
                    "{interval} is not an interval of `{expression}`"
                );
                store.create(interval);
            }
            next_due = Some(due_next);
        }
        // After every step the latest ended interval has its run, unless it began before
        // `start`.
        if let Some(latest) = latest_ended(&oracle, now)
            && start_at.is_none_or(|start_at| latest.start >= start_at)
        {
            assert!(
                store.created.contains(&latest),
                "the latest ended interval {latest} has no run at {now}: {case:?}"
            );
        }
    }
    assert!(restarts > 0, "the walk restarted the service at least once");

    for pair in store.creation_order.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "runs were created out of order or overlapping: {} then {}",
            pair[0],
            pair[1]
        );
    }
    let created: Vec<DataInterval> = store.created.iter().copied().collect();
    if catchup {
        // Contiguous from the first interval to the latest ended one: none missing.
        for pair in created.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "a gap in {case:?}");
        }
        let first_expected = match start_at {
            Some(start_at) => oracle
                .iter()
                .find(|interval| interval.start >= start_at)
                .copied(),
            None => latest_ended(&oracle, first_call_now.expect("called")),
        };
        assert_eq!(created.first().copied(), first_expected, "{case:?}");
        assert_eq!(
            created.last().copied(),
            latest_ended(&oracle, now),
            "{case:?}"
        );
    }
}

const TIME_ZONES: [chrono_tz::Tz; 3] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Asia::Seoul,
];

fn simulate_all(expression: &'static str) {
    let new_year = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid");
    let mut seed = 0x5eed_0000_0000_0001_u64;
    for timezone in TIME_ZONES {
        for catchup in [true, false] {
            for start in [Some(new_year), None] {
                seed += 0x9e37_79b9;
                simulate(Case {
                    expression,
                    timezone,
                    start,
                    catchup,
                    seed,
                });
            }
        }
    }
}

#[test]
fn a_year_of_hourly_runs_has_exactly_one_run_per_interval_across_dst_and_restarts() {
    simulate_all("@hourly");
}

#[test]
fn a_year_of_daily_runs_has_exactly_one_run_per_interval_across_dst_and_restarts() {
    simulate_all("@daily");
}

#[test]
fn a_fixed_time_inside_the_dst_changes_still_gets_exactly_one_run_per_interval() {
    // 01:30 repeats when clocks fall back in New York and London; 02:30 does not exist
    // when New York springs forward, and 01:30 does not exist when London does.
    simulate_all("30 1 * * *");
    simulate_all("30 2 * * *");
}

proptest! {
    /// Whatever the order of the calls (a clock stepped back, a crash after creating part
    /// of a batch), no interval is created twice and none overlaps another.
    #[test]
    fn no_sequence_of_calls_creates_an_interval_twice(
        steps in proptest::collection::vec((-6 * 3600i64..30 * 3600, 0usize..4), 1..60),
        catchup in any::<bool>(),
        has_start in any::<bool>(),
        zone in 0usize..3,
        hourly in any::<bool>(),
    ) {
        let timezone = TIME_ZONES[zone];
        let schedule = Schedule::parse(if hourly { "@hourly" } else { "@daily" }).expect("valid");
        let plan = SchedulePlan {
            schedule: &schedule,
            timezone,
            // The US spring-forward weekend.
            start: has_start.then(|| NaiveDate::from_ymd_opt(2026, 3, 7).expect("valid")),
            catchup,
        };
        let mut store = Store::default();
        let mut now = local(timezone, 2026, 3, 7);
        for (step, kept) in steps {
            now += chrono::Duration::seconds(step);
            let due = plan.due(store.last_created_end(), now);
            for &interval in due.intervals.iter().take(kept) {
                prop_assert!(interval.end <= now);
                prop_assert!(!store.created.contains(&interval));
                store.create(interval);
            }
        }
        let created: Vec<DataInterval> = store.created.iter().copied().collect();
        for pair in created.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start);
            if catchup {
                prop_assert_eq!(pair[0].end, pair[1].start);
            }
        }
    }
}
