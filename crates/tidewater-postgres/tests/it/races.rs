//! Races that only a shared database has: two processes (here two stores, each with its own
//! connections) doing the same thing at the same instant, many times over. The database
//! settles each race: exactly one wins.

use std::sync::Arc;

use tidewater_core::{DataInterval, ProcessIdentity, RunId};
use tidewater_postgres::PostgresStore;
use tidewater_store::{ControlStore, OwnerClaim, RunCreation, RunStore, RunTrigger, ServiceClaim};
use tokio::sync::Barrier;

use crate::fixtures::{SchemaGuard, fresh_schema, instant, new_run, open_in};

pub(crate) const ROUNDS: usize = 25;
/// Contenders per round, spread over the two stores.
pub(crate) const CONTENDERS: usize = 8;

/// Two stores on one schema, as two servers would have.
pub(crate) async fn two_stores(
    purpose: &str,
) -> (SchemaGuard, Arc<PostgresStore>, Arc<PostgresStore>) {
    let schema = fresh_schema(purpose);
    let first = Arc::new(open_in(&schema).await);
    let second = Arc::new(open_in(&schema).await);
    (SchemaGuard(schema), first, second)
}

/// Runs `contend(store, contender)` for every contender at once (released by a barrier),
/// half of them on each store; their results in contender order.
pub(crate) async fn race<T, F, Fut>(
    first: &Arc<PostgresStore>,
    second: &Arc<PostgresStore>,
    contend: F,
) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<PostgresStore>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(CONTENDERS));
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|contender| {
            let store = Arc::clone(if contender % 2 == 0 { first } else { second });
            let barrier = Arc::clone(&barrier);
            let attempt = contend(store, contender);
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(CONTENDERS);
    for task in tasks {
        results.push(task.await.expect("a contender finished"));
    }
    results
}

fn process(contender: usize) -> ProcessIdentity {
    ProcessIdentity {
        pid: 1000 + contender as i32,
        start_ticks: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_racing_to_create_an_intervals_scheduled_run_create_one() {
    let (schema, first, second) = two_stores("race_interval").await;
    for round in 0..ROUNDS {
        let start = instant("2026-01-01T00:00:00Z") + chrono::Duration::hours(round as i64);
        let interval =
            DataInterval::new(start, start + chrono::Duration::hours(1)).expect("start < end");
        let results = race(&first, &second, move |store, _| async move {
            let mut run = new_run("hourly", &["extract", "load"]);
            run.trigger = RunTrigger::Scheduled;
            run.interval = interval;
            store.create_run_once(run).await.expect("create_run_once")
        })
        .await;
        let created: Vec<RunId> = results.iter().flatten().map(|run| run.id).collect();
        assert_eq!(created.len(), 1, "round {round}: {results:?}");
        let recorded = first
            .runs_in_range(
                &tidewater_core::WorkflowName::new("hourly"),
                interval.start,
                interval.end,
            )
            .await
            .expect("runs_in_range");
        assert_eq!(
            recorded.iter().map(|run| run.id).collect::<Vec<_>>(),
            created,
            "round {round}: the store holds exactly the one run created"
        );
    }
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_racing_to_start_an_intervals_manual_run_start_one() {
    let (schema, first, second) = two_stores("race_active").await;
    for round in 0..ROUNDS {
        let start = instant("2026-01-01T00:00:00Z") + chrono::Duration::hours(round as i64);
        let interval =
            DataInterval::new(start, start + chrono::Duration::hours(1)).expect("start < end");
        let results = race(&first, &second, move |store, _| async move {
            let mut run = new_run("hourly", &["extract"]);
            run.interval = interval;
            store
                .create_run_unless_active(run)
                .await
                .expect("create_run_unless_active")
        })
        .await;
        let created: Vec<RunId> = results
            .iter()
            .filter_map(|creation| match creation {
                RunCreation::Created(run) => Some(run.id),
                RunCreation::Active(_) => None,
            })
            .collect();
        assert_eq!(created.len(), 1, "round {round}: {results:?}");
        for creation in &results {
            if let RunCreation::Active(active) = creation {
                assert_eq!(
                    active.id, created[0],
                    "round {round}: the losers see the winner"
                );
            }
        }
    }
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_owner_claims_of_one_run_have_one_winner() {
    let (schema, first, second) = two_stores("race_owner").await;
    for round in 0..ROUNDS {
        let run = first
            .create_run(new_run("claimed", &["task"]))
            .await
            .expect("create_run");
        let results = race(&first, &second, move |store, contender| async move {
            store
                .claim_owner(run.id, None, Some(process(contender)))
                .await
                .expect("claim_owner")
        })
        .await;
        let winners: Vec<usize> = (0..CONTENDERS)
            .filter(|contender| results[*contender] == OwnerClaim::Claimed)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = process(winners[0]);
        for (contender, result) in results.iter().enumerate() {
            if contender != winners[0] {
                assert_eq!(
                    *result,
                    OwnerClaim::Held(Some(winner)),
                    "round {round}: a loser is told who won"
                );
            }
        }
        let owner = second
            .run(run.id)
            .await
            .expect("run")
            .expect("the run")
            .owner;
        assert_eq!(owner, Some(winner), "round {round}");
    }
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_service_claims_have_one_winner() {
    let (schema, first, second) = two_stores("race_service").await;
    let mut previous: Option<ProcessIdentity> = None;
    for round in 0..ROUNDS {
        // Each round's contenders all expect the previous round's winner, as servers taking
        // over from a dead one would.
        let offset = round * CONTENDERS;
        let results = race(&first, &second, move |store, contender| async move {
            store
                .claim_service(
                    previous,
                    process(offset + contender),
                    instant("2026-01-01T00:00:00Z"),
                )
                .await
                .expect("claim_service")
        })
        .await;
        let winners: Vec<usize> = (0..CONTENDERS)
            .filter(|contender| results[*contender] == ServiceClaim::Claimed)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let winner = process(offset + winners[0]);
        let recorded = first.service().await.expect("service").expect("a service");
        assert_eq!(recorded.process, winner, "round {round}");
        previous = Some(winner);
    }
    drop(schema);
}

/// Regression guard for the feed's lock (`tidewater_feed_lock` in the schema): with a plain
/// sequence, a transaction that took number 7 can commit after one that took 8, and a reader
/// that already moved past 8 never sees 7. Writers on two stores record runs and their
/// changes while a reader follows the feed; the reader must end up with every event. (With
/// the lock made a no-op, this failed 3 runs out of 3, missing dozens of the 400 events.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_the_feed_under_concurrent_writers_misses_no_event() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tidewater_core::{Change, RunState};
    use tidewater_store::{EventFilter, EventPage, EventSeq};

    let (schema, first, second) = two_stores("race_feed").await;
    let writers: Vec<_> = (0..CONTENDERS)
        .map(|writer| {
            let store = Arc::clone(if writer % 2 == 0 { &first } else { &second });
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    let run = store
                        .create_run(new_run("fed", &["task"]))
                        .await
                        .expect("create_run");
                    let started_at = instant("2026-01-01T00:00:00Z");
                    store
                        .apply(run.id, &[Change::Run(RunState::Running { started_at })])
                        .await
                        .expect("apply");
                }
            })
        })
        .collect();
    let is_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = Arc::clone(&second);
        let is_done = Arc::clone(&is_done);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = EventSeq(0);
            loop {
                // Read after the flag: once it is set, this read sees every commit.
                let was_done = is_done.load(Ordering::SeqCst);
                match store
                    .events_after(after, &EventFilter::default(), 50)
                    .await
                    .expect("events_after")
                {
                    EventPage::Events { events, through } => {
                        let is_empty = events.is_empty();
                        seen.extend(events.into_iter().map(|event| event.seq));
                        after = through;
                        if was_done && is_empty {
                            return seen;
                        }
                    }
                    EventPage::Reset { .. } => panic!("nothing was pruned"),
                }
            }
        })
    };
    for writer in writers {
        writer.await.expect("a writer finished");
    }
    is_done.store(true, Ordering::SeqCst);
    let followed = reader.await.expect("the reader finished");

    let EventPage::Events { events, .. } = first
        .events_after(EventSeq(0), &EventFilter::default(), u32::MAX)
        .await
        .expect("events_after")
    else {
        panic!("nothing was pruned");
    };
    let all: Vec<EventSeq> = events.into_iter().map(|event| event.seq).collect();
    assert_eq!(
        all.len(),
        CONTENDERS * ROUNDS * 2,
        "one event per creation and per start"
    );
    assert_eq!(
        followed, all,
        "the reader following the feed saw every event, in order"
    );
    drop(schema);
}
