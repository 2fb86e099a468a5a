//! Races of workers that only a shared database has (issue 21): workers claiming through two
//! servers (here two stores, each with its own connections) at the same instant, and a
//! holder's renewal or report meeting the expiry of its lease. Each race has one winner, and
//! the losers change nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, QueueName, RunId, TaskName, Timestamp, WorkflowName,
};
use tidewater_postgres::PostgresStore;
use tidewater_store::{
    AttemptOffer, ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptState,
    WorkerId, WorkerStore,
};

use crate::fixtures::instant;
use crate::races::{CONTENDERS, ROUNDS, race, two_stores};

const LEASE: Duration = Duration::from_secs(30);

fn offer(attempt: u32, at: Timestamp) -> AttemptOffer {
    AttemptOffer {
        run: RunId(7),
        workflow: WorkflowName::new("daily"),
        task: TaskName::new("train"),
        attempt: Attempt(attempt),
        queue: QueueName::new("gpu"),
        workflow_hash: "hash-of-daily".to_owned(),
        context: serde_json::json!({ "params": {} }),
        offered_at: at,
    }
}

fn worker(contender: usize) -> WorkerId {
    WorkerId(format!("worker-{contender}"))
}

fn gpu() -> [QueueName; 1] {
    [QueueName::new("gpu")]
}

fn succeeded() -> AttemptOutcome {
    AttemptOutcome::Succeeded {
        output: None,
        log_error: None,
    }
}

fn start() -> Timestamp {
    instant("2026-03-02T01:00:00Z")
}

async fn claim(store: &PostgresStore, contender: usize, now: Timestamp) -> Option<ClaimedAttempt> {
    store
        .claim_attempt(&worker(contender), &gpu(), now, LEASE)
        .await
        .expect("claim_attempt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_racing_to_claim_one_offered_attempt_claim_it_once() {
    let (schema, first, second) = two_stores("race_claim").await;
    let mut last_epoch = LeaseEpoch(0);
    for round in 0..ROUNDS {
        let now = start() + chrono::Duration::seconds(round as i64);
        let id = first
            .offer_attempt(&offer(1, now))
            .await
            .expect("offer_attempt");
        let results = race(&first, &second, move |store, contender| async move {
            claim(&store, contender, now).await
        })
        .await;
        let winners: Vec<usize> = (0..CONTENDERS)
            .filter(|contender| results[*contender].is_some())
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let claimed = results[winners[0]].clone().expect("the winner's claim");
        assert_eq!(claimed.id, id, "round {round}");
        assert!(claimed.epoch > last_epoch, "round {round}: epochs increase");
        last_epoch = claimed.epoch;
        let record = second
            .remote_attempt(id)
            .await
            .expect("remote_attempt")
            .expect("recorded");
        assert_eq!(
            record.state,
            RemoteAttemptState::Claimed {
                worker: worker(winners[0]),
                epoch: claimed.epoch,
                expires_at: now + chrono::Duration::seconds(30),
                is_stop_requested: false,
            },
            "round {round}: the store holds the winner's lease"
        );
    }
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_draining_a_queue_at_once_claim_every_attempt_exactly_once() {
    let (schema, first, second) = two_stores("race_drain").await;
    let mut offered = BTreeSet::new();
    for attempt in 0..(ROUNDS * CONTENDERS) as u32 {
        let id = first
            .offer_attempt(&offer(attempt + 1, start()))
            .await
            .expect("offer_attempt");
        offered.insert(id);
    }
    // Every contender claims until the queue is empty.
    let results = race(&first, &second, |store, contender| async move {
        let mut claimed = Vec::new();
        while let Some(attempt) = claim(&store, contender, start()).await {
            claimed.push(attempt);
        }
        claimed
    })
    .await;
    let claimed: Vec<&ClaimedAttempt> = results.iter().flatten().collect();
    let ids: Vec<RemoteAttemptId> = claimed.iter().map(|attempt| attempt.id).collect();
    assert_eq!(
        ids.len(),
        offered.len(),
        "no attempt claimed twice: {ids:?}"
    );
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), offered);
    let epochs: BTreeSet<LeaseEpoch> = claimed.iter().map(|attempt| attempt.epoch).collect();
    assert_eq!(epochs.len(), claimed.len(), "every claim has its own epoch");
    drop(schema);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_lease_is_reclaimed_under_a_higher_epoch_and_its_stale_holder_is_refused() {
    let (schema, first, second) = two_stores("race_reclaim").await;
    let lost = first
        .offer_attempt(&offer(1, start()))
        .await
        .expect("offer_attempt");
    let stale = claim(&first, 1, start()).await.expect("claimed");
    // Another server's clock ends the lease; the retry policy offers the task again, and
    // another worker claims it there.
    let expired_at = start() + chrono::Duration::seconds(31);
    assert_eq!(
        second.expire_leases(expired_at).await.expect("expire"),
        vec![lost]
    );
    let retry = second
        .offer_attempt(&offer(2, expired_at))
        .await
        .expect("offer_attempt");
    let fresh = claim(&second, 2, expired_at).await.expect("claimed");
    assert_eq!(fresh.id, retry);
    assert!(fresh.epoch > stale.epoch, "{fresh:?} after {stale:?}");

    // The first holder wakes: through either server, its renewal and report are refused,
    // for its own attempt and for the retry alike.
    let late = expired_at + chrono::Duration::seconds(1);
    for store in [&first, &second] {
        for attempt in [lost, retry] {
            assert_eq!(
                store
                    .renew_lease(attempt, stale.epoch, late, LEASE)
                    .await
                    .expect("renew_lease"),
                LeaseAnswer::Stale
            );
            assert_eq!(
                store
                    .report_attempt(attempt, stale.epoch, &succeeded(), late)
                    .await
                    .expect("report_attempt"),
                None
            );
        }
    }
    assert_eq!(
        first
            .remote_attempt(lost)
            .await
            .expect("remote_attempt")
            .expect("recorded")
            .state,
        RemoteAttemptState::Lost { at: expired_at }
    );
    // The new holder's lease is untouched by all that, and its report is taken.
    assert_eq!(
        first
            .renew_lease(retry, fresh.epoch, late, LEASE)
            .await
            .expect("renew_lease"),
        LeaseAnswer::Continue
    );
    let reported = first
        .report_attempt(retry, fresh.epoch, &succeeded(), late)
        .await
        .expect("report_attempt")
        .expect("accepted");
    assert_eq!(
        reported.state,
        RemoteAttemptState::Reported {
            worker: worker(2),
            outcome: succeeded(),
            at: late
        }
    );
    drop(schema);
}

/// What one contender of [`a_holder_racing_the_expiry_of_its_lease_either_keeps_it_or_is_fenced`] did.
#[derive(Debug)]
enum Move {
    Renewed(LeaseAnswer),
    Reported(bool),
    Expired(Vec<RemoteAttemptId>),
}

/// At the last instant of a lease, its holder renews (or reports) through one server while
/// another server's expiry, a microsecond later by its clock, ends it: either the holder got
/// in first and the expiry finds nothing, or the expiry did and the holder is refused. Never
/// both, whichever commits first.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_holder_racing_the_expiry_of_its_lease_either_keeps_it_or_is_fenced() {
    let (schema, first, second) = two_stores("race_expiry").await;
    let mut outcomes = BTreeSet::new();
    for round in 0..ROUNDS * 2 {
        let offered_at = start() + chrono::Duration::minutes(round as i64);
        let id = first
            .offer_attempt(&offer(1, offered_at))
            .await
            .expect("offer_attempt");
        let lease = claim(&first, 0, offered_at).await.expect("claimed");
        let (epoch, last_instant) = (lease.epoch, lease.expires_at);
        let is_report_round = round % 2 == 0;
        // Even contenders hold the lease (on the first store), odd ones expire (on the second).
        let results = race(&first, &second, move |store, contender| async move {
            if contender % 2 == 1 {
                let now = last_instant + chrono::Duration::microseconds(1);
                Move::Expired(store.expire_leases(now).await.expect("expire_leases"))
            } else if is_report_round {
                let report = store
                    .report_attempt(id, epoch, &succeeded(), last_instant)
                    .await
                    .expect("report_attempt");
                Move::Reported(report.is_some())
            } else {
                let answer = store
                    .renew_lease(id, epoch, last_instant, LEASE)
                    .await
                    .expect("renew_lease");
                Move::Renewed(answer)
            }
        })
        .await;
        let expiries = results
            .iter()
            .filter(|result| matches!(result, Move::Expired(ids) if ids == &[id]))
            .count();
        let holder_wins = results
            .iter()
            .filter(|result| {
                matches!(
                    result,
                    Move::Reported(true) | Move::Renewed(LeaseAnswer::Continue)
                )
            })
            .count();
        let state = first
            .remote_attempt(id)
            .await
            .expect("remote_attempt")
            .expect("recorded")
            .state;
        if expiries == 1 {
            assert_eq!(holder_wins, 0, "round {round}: {results:?}");
            assert_eq!(
                state,
                RemoteAttemptState::Lost {
                    at: last_instant + chrono::Duration::microseconds(1)
                },
                "round {round}"
            );
            outcomes.insert("expired");
        } else {
            assert_eq!(expiries, 0, "round {round}: {results:?}");
            if is_report_round {
                assert_eq!(holder_wins, 1, "round {round}: one report: {results:?}");
                assert!(
                    matches!(state, RemoteAttemptState::Reported { .. }),
                    "round {round}: {state:?}"
                );
                outcomes.insert("reported");
            } else {
                assert_eq!(
                    holder_wins,
                    CONTENDERS / 2,
                    "round {round}: every renewal: {results:?}"
                );
                assert!(
                    matches!(state, RemoteAttemptState::Claimed { .. }),
                    "round {round}: {state:?}"
                );
                outcomes.insert("renewed");
            }
        }
        // Whoever won, the attempt no longer waits in the next round's way.
        if matches!(state, RemoteAttemptState::Claimed { .. }) {
            first
                .abandon_attempts(last_instant)
                .await
                .expect("abandon_attempts");
        }
    }
    // Not an assertion on timing: which side wins varies; the test only says what it saw.
    eprintln!("winners seen over the rounds: {outcomes:?}");
    drop(schema);
}
