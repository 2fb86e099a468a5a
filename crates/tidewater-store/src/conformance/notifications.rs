//! Behaviours of [`NotificationStore`]: the outbox of webhooks.

use std::time::Duration;

use tidewater_core::{Attempt, Change, NotificationEvent, NotificationKey, TaskName, WorkflowName};

use super::fixtures::{instant, new_run};
use crate::{DeliveryOutcome, NotificationState, NotificationStore, RunStore};

fn notify(event: NotificationEvent, retried: Option<(&str, u32)>, at: &str) -> Change {
    Change::Notify {
        key: NotificationKey {
            event,
            retried: retried.map(|(task, attempt)| (TaskName::new(task), Attempt(attempt))),
        },
        at: instant(at),
    }
}

/// A notification is recorded once per run and key, claimed by one deliverer at a time (a
/// claim hides it for its lease), and ends delivered, or failed after its last delivery;
/// failures are counted by workflow and event.
pub async fn a_notification_is_recorded_once_claimed_once_and_ends_delivered_or_failed<
    S: RunStore + NotificationStore + ?Sized,
>(
    store: &S,
) {
    let run = store
        .create_run(new_run("daily", &["a"]))
        .await
        .expect("create_run")
        .id;
    let t0 = "2026-03-02T01:00:00Z";
    store
        .apply(
            run,
            &[
                notify(NotificationEvent::OnRetry, Some(("a", 1)), t0),
                notify(NotificationEvent::OnFailure, None, t0),
            ],
        )
        .await
        .expect("apply");
    // The same keys again (a decision repeated after a crash) add nothing.
    store
        .apply(
            run,
            &[
                notify(NotificationEvent::OnFailure, None, "2026-03-02T02:00:00Z"),
                notify(NotificationEvent::OnRetry, Some(("a", 1)), t0),
            ],
        )
        .await
        .expect("apply again");
    let recorded = store
        .run_notifications(run)
        .await
        .expect("run_notifications");
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(
        recorded[0].key.retried,
        Some((TaskName::new("a"), Attempt(1)))
    );
    assert_eq!(recorded[1].key.event, NotificationEvent::OnFailure);
    assert_eq!(recorded[1].created_at, instant(t0));
    assert_eq!(
        recorded[1].state,
        NotificationState::Pending { due: instant(t0) }
    );
    assert_eq!(
        store.next_notification_due(Some(run)).await.expect("due"),
        Some(instant(t0))
    );

    let now = instant("2026-03-02T01:00:01Z");
    let lease = Duration::from_secs(30);
    let claimed = store
        .claim_notifications(None, now, lease, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|claimed| claimed.deliveries == 1));
    assert!(
        claimed
            .iter()
            .all(|claimed| claimed.workflow == WorkflowName::new("daily"))
    );
    // Claimed: no one else gets them during the lease.
    assert!(
        store
            .claim_notifications(None, now, lease, 10)
            .await
            .expect("claim again")
            .is_empty()
    );

    let delivered_at = instant("2026-03-02T01:00:02Z");
    store
        .record_delivery(
            claimed[0].id,
            &DeliveryOutcome::Delivered { at: delivered_at },
        )
        .await
        .expect("delivered");
    let retry_at = instant("2026-03-02T01:00:05Z");
    store
        .record_delivery(
            claimed[1].id,
            &DeliveryOutcome::Failed {
                at: delivered_at,
                error: "the receiver answered 500".to_owned(),
                retry_at: Some(retry_at),
            },
        )
        .await
        .expect("failed once");
    assert_eq!(
        store.next_notification_due(None).await.expect("due"),
        Some(retry_at)
    );
    let again = store
        .claim_notifications(Some(run), retry_at, lease, 10)
        .await
        .expect("claim the retry");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].deliveries, 2);
    let failed_at = instant("2026-03-02T01:00:06Z");
    store
        .record_delivery(
            again[0].id,
            &DeliveryOutcome::Failed {
                at: failed_at,
                error: "no answer within 1s".to_owned(),
                retry_at: None,
            },
        )
        .await
        .expect("given up");
    // A late record for an ended notification changes nothing.
    store
        .record_delivery(again[0].id, &DeliveryOutcome::Delivered { at: failed_at })
        .await
        .expect("late record");

    let recorded = store
        .run_notifications(run)
        .await
        .expect("run_notifications");
    assert_eq!(
        recorded[0].state,
        NotificationState::Delivered { at: delivered_at }
    );
    assert_eq!(
        recorded[1].state,
        NotificationState::Failed { at: failed_at }
    );
    assert_eq!(recorded[1].deliveries, 2);
    assert_eq!(
        recorded[1].last_error.as_deref(),
        Some("no answer within 1s")
    );
    assert_eq!(store.next_notification_due(None).await.expect("due"), None);
    assert_eq!(
        store.notification_failures().await.expect("failures"),
        vec![(WorkflowName::new("daily"), NotificationEvent::OnFailure, 1)]
    );
}
