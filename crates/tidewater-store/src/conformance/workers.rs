//! Behaviours of [`WorkerStore`]: offered attempts, leases with fencing, workers.

use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, FailureReason, QueueName, RunId, TaskName, WorkflowName,
};

use super::fixtures::instant;
use crate::{
    AttemptOffer, LeaseAnswer, LeaseEpoch, RemoteAttemptState, WorkerId, WorkerRegistration,
    WorkerStore,
};

const LEASE: Duration = Duration::from_secs(30);

fn offer(task: &str, queue: &str, at: &str) -> AttemptOffer {
    AttemptOffer {
        run: RunId(7),
        workflow: WorkflowName::new("daily"),
        task: TaskName::new(task),
        attempt: Attempt(1),
        queue: QueueName::new(queue),
        workflow_hash: "hash-of-daily".to_owned(),
        context: serde_json::json!({ "params": { "region": "kr" } }),
        offered_at: instant(at),
    }
}

fn worker(id: &str) -> WorkerId {
    WorkerId(id.to_owned())
}

fn succeeded() -> AttemptOutcome {
    AttemptOutcome::Succeeded {
        output: Some(serde_json::json!({ "rows": 3 })),
        log_error: None,
    }
}

/// Each offered attempt is claimed once, oldest first, and only by a worker of its queue;
/// the claim reads back what was offered, with a lease the caller's clock sets.
pub async fn an_offered_attempt_is_claimed_once_by_a_worker_of_its_queue<
    S: WorkerStore + ?Sized,
>(
    store: &S,
) {
    let first = store
        .offer_attempt(&offer("load", "gpu", "2026-03-02T01:00:00Z"))
        .await
        .expect("offer");
    let second = store
        .offer_attempt(&offer("train", "gpu", "2026-03-02T01:00:01Z"))
        .await
        .expect("offer");
    let now = instant("2026-03-02T01:00:02Z");
    let other_queue = store
        .claim_attempt(&worker("a"), &[QueueName::new("cpu")], now, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        other_queue, None,
        "a worker of another queue claims nothing"
    );

    let claimed = store
        .claim_attempt(&worker("a"), &[QueueName::new("gpu")], now, LEASE)
        .await
        .expect("claim")
        .expect("an offered attempt");
    assert_eq!(claimed.id, first, "oldest first");
    assert_eq!(claimed.offer, offer("load", "gpu", "2026-03-02T01:00:00Z"));
    assert_eq!(claimed.expires_at, instant("2026-03-02T01:00:32Z"));
    let next = store
        .claim_attempt(&worker("b"), &[QueueName::new("gpu")], now, LEASE)
        .await
        .expect("claim")
        .expect("the second attempt");
    assert_eq!(next.id, second);
    assert!(next.epoch > claimed.epoch, "epochs increase store-wide");
    let none = store
        .claim_attempt(&worker("c"), &[QueueName::new("gpu")], now, LEASE)
        .await
        .expect("claim");
    assert_eq!(none, None, "each attempt is claimed once");
}

/// A lease is renewed only with its own epoch while it lives; once it has expired the
/// attempt is lost, and the late holder's renewal and report are refused (fenced) and change
/// nothing.
pub async fn an_expired_lease_fences_out_its_holder<S: WorkerStore + ?Sized>(store: &S) {
    let id = store
        .offer_attempt(&offer("load", "gpu", "2026-03-02T01:00:00Z"))
        .await
        .expect("offer");
    let claimed = store
        .claim_attempt(
            &worker("a"),
            &[QueueName::new("gpu")],
            instant("2026-03-02T01:00:00Z"),
            LEASE,
        )
        .await
        .expect("claim")
        .expect("claimed");
    let wrong = LeaseEpoch(claimed.epoch.0 + 1000);
    assert_eq!(
        store
            .renew_lease(id, wrong, instant("2026-03-02T01:00:10Z"), LEASE)
            .await
            .expect("renew"),
        LeaseAnswer::Stale,
        "another epoch is refused"
    );
    assert_eq!(
        store
            .renew_lease(id, claimed.epoch, instant("2026-03-02T01:00:20Z"), LEASE)
            .await
            .expect("renew"),
        LeaseAnswer::Continue
    );
    // Renewed until 01:00:50: nothing expires before.
    let expired = store
        .expire_leases(instant("2026-03-02T01:00:45Z"))
        .await
        .expect("expire");
    assert!(expired.is_empty(), "{expired:?}");
    let expired = store
        .expire_leases(instant("2026-03-02T01:00:51Z"))
        .await
        .expect("expire");
    assert_eq!(expired, vec![id]);
    assert_eq!(
        store
            .renew_lease(id, claimed.epoch, instant("2026-03-02T01:00:52Z"), LEASE)
            .await
            .expect("renew"),
        LeaseAnswer::Stale,
        "an expired lease is not renewed"
    );
    let refused = store
        .report_attempt(
            id,
            claimed.epoch,
            &succeeded(),
            instant("2026-03-02T01:00:53Z"),
        )
        .await
        .expect("report");
    assert_eq!(refused, None, "a stale report is refused");
    let record = store
        .remote_attempt(id)
        .await
        .expect("remote_attempt")
        .expect("recorded");
    assert_eq!(
        record.state,
        RemoteAttemptState::Lost {
            at: instant("2026-03-02T01:00:51Z")
        }
    );
}

/// `ended_attempts` gives, of the ids asked, the attempts reported or lost (what the server
/// that offered them collects when another server took the report or expired the lease),
/// not those still offered or claimed, nor ids never offered.
pub async fn only_reported_and_lost_attempts_are_ended<S: WorkerStore + ?Sized>(store: &S) {
    let at = "2026-03-03T01:00:00Z";
    let mut ids = Vec::new();
    for task in ["reported", "lost", "claimed", "offered"] {
        ids.push(
            store
                .offer_attempt(&offer(task, "gpu", at))
                .await
                .expect("offer"),
        );
    }
    let a = worker("a");
    let gpu = [QueueName::new("gpu")];
    let claim = |lease| store.claim_attempt(&a, &gpu, instant(at), lease);
    let reported = claim(LEASE).await.expect("claim").expect("claimed");
    // A short lease, so that it alone expires below.
    let lost = claim(Duration::from_secs(5))
        .await
        .expect("claim")
        .expect("claimed");
    let _claimed = claim(LEASE).await.expect("claim").expect("claimed");
    assert_eq!(
        (reported.id, lost.id),
        (ids[0], ids[1]),
        "claimed oldest first"
    );
    store
        .report_attempt(
            reported.id,
            reported.epoch,
            &succeeded(),
            instant("2026-03-03T01:00:01Z"),
        )
        .await
        .expect("report")
        .expect("accepted");
    assert_eq!(
        store
            .expire_leases(instant("2026-03-03T01:00:06Z"))
            .await
            .expect("expire"),
        vec![lost.id]
    );
    let mut asked = ids.clone();
    asked.push(crate::RemoteAttemptId(ids[3].0 + 1000));
    let ended = store.ended_attempts(&asked).await.expect("ended_attempts");
    let states: Vec<(crate::RemoteAttemptId, &RemoteAttemptState)> = ended
        .iter()
        .map(|record| (record.id, &record.state))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                ids[0],
                &RemoteAttemptState::Reported {
                    worker: worker("a"),
                    outcome: succeeded(),
                    at: instant("2026-03-03T01:00:01Z"),
                }
            ),
            (
                ids[1],
                &RemoteAttemptState::Lost {
                    at: instant("2026-03-03T01:00:06Z")
                }
            ),
        ]
    );
    assert!(
        store
            .ended_attempts(&[])
            .await
            .expect("ended_attempts")
            .is_empty()
    );
}

/// A report under the live lease ends the attempt with its outcome, once; a stop asked of
/// an offered attempt withdraws it, of a claimed one is answered `Cancel` at renewal.
pub async fn a_report_ends_an_attempt_once_and_a_stop_reaches_its_holder<
    S: WorkerStore + ?Sized,
>(
    store: &S,
) {
    let gpu = [QueueName::new("gpu")];
    let t0 = instant("2026-03-02T01:00:00Z");
    let id = store
        .offer_attempt(&offer("load", "gpu", "2026-03-02T01:00:00Z"))
        .await
        .expect("offer");
    let claimed = store
        .claim_attempt(&worker("a"), &gpu, t0, LEASE)
        .await
        .expect("claim")
        .expect("claimed");
    let reported = store
        .report_attempt(
            id,
            claimed.epoch,
            &succeeded(),
            instant("2026-03-02T01:00:05Z"),
        )
        .await
        .expect("report")
        .expect("accepted");
    assert_eq!(
        reported.state,
        RemoteAttemptState::Reported {
            worker: worker("a"),
            outcome: succeeded(),
            at: instant("2026-03-02T01:00:05Z")
        }
    );
    let again = store
        .report_attempt(
            id,
            claimed.epoch,
            &AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 1 },
            },
            instant("2026-03-02T01:00:06Z"),
        )
        .await
        .expect("report");
    assert_eq!(again, None, "an ended attempt takes no second report");

    let waiting = store
        .offer_attempt(&offer("train", "gpu", "2026-03-02T01:01:00Z"))
        .await
        .expect("offer");
    assert!(
        store
            .stop_attempt(waiting, instant("2026-03-02T01:01:01Z"))
            .await
            .expect("stop"),
        "an offered attempt ends at once"
    );
    assert_eq!(
        store
            .claim_attempt(&worker("a"), &gpu, instant("2026-03-02T01:01:02Z"), LEASE)
            .await
            .expect("claim"),
        None,
        "a withdrawn attempt is not claimed"
    );

    let running = store
        .offer_attempt(&offer("score", "gpu", "2026-03-02T01:02:00Z"))
        .await
        .expect("offer");
    let lease = store
        .claim_attempt(&worker("b"), &gpu, instant("2026-03-02T01:02:00Z"), LEASE)
        .await
        .expect("claim")
        .expect("claimed");
    assert!(
        !store
            .stop_attempt(running, instant("2026-03-02T01:02:01Z"))
            .await
            .expect("stop"),
        "a claimed attempt waits for its holder"
    );
    assert_eq!(
        store
            .renew_lease(running, lease.epoch, instant("2026-03-02T01:02:02Z"), LEASE)
            .await
            .expect("renew"),
        LeaseAnswer::Cancel
    );
    assert!(
        store
            .leased_attempt(running, lease.epoch)
            .await
            .expect("leased")
            .is_some()
    );
    // A starting server abandons what its predecessor offered or leased.
    assert_eq!(
        store
            .abandon_attempts(instant("2026-03-02T01:03:00Z"))
            .await
            .expect("abandon"),
        1
    );
    assert!(
        store
            .leased_attempt(running, lease.epoch)
            .await
            .expect("leased")
            .is_none()
    );
}

/// A worker's heartbeat registers or refreshes it; the list shows its queues, slots, version,
/// last heartbeat and how many attempts it holds.
pub async fn workers_are_listed_with_their_leases<S: WorkerStore + ?Sized>(store: &S) {
    let registration = WorkerRegistration {
        id: worker("host-1"),
        queues: vec![QueueName::new("cpu"), QueueName::new("gpu")],
        slots: 4,
        version: "0.1.0".to_owned(),
    };
    store
        .record_worker(&registration, instant("2026-03-02T01:00:00Z"))
        .await
        .expect("record");
    store
        .offer_attempt(&offer("load", "gpu", "2026-03-02T01:00:00Z"))
        .await
        .expect("offer");
    store
        .claim_attempt(
            &worker("host-1"),
            &registration.queues,
            instant("2026-03-02T01:00:01Z"),
            LEASE,
        )
        .await
        .expect("claim")
        .expect("claimed");
    store
        .record_worker(&registration, instant("2026-03-02T01:00:10Z"))
        .await
        .expect("record");
    let workers = store.workers().await.expect("workers");
    assert_eq!(workers.len(), 1, "{workers:?}");
    assert_eq!(workers[0].registration, registration);
    assert_eq!(workers[0].first_seen, instant("2026-03-02T01:00:00Z"));
    assert_eq!(workers[0].last_heartbeat, instant("2026-03-02T01:00:10Z"));
    assert_eq!(workers[0].slots_in_use, 1);
    let held = store.claimed_attempts().await.expect("claimed attempts");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].offer, offer("load", "gpu", "2026-03-02T01:00:00Z"));
    assert!(
        matches!(&held[0].state, RemoteAttemptState::Claimed { worker: holder, .. } if *holder == worker("host-1")),
        "{held:?}"
    );
}
