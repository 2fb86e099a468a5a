use std::time::Duration;

use async_trait::async_trait;
use tidewater_core::{NotificationEvent, NotificationKey, RunId, Timestamp, WorkflowName};

use crate::StoreError;

/// The outbox of webhooks: the notifications `decide` records through
/// [`crate::RunStore::apply`] ([`tidewater_core::Change::Notify`], one per key and run, in the
/// same transaction as the change that explains it), their deliveries and how each ended.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Claims the pending notifications due at `now` (of `run` only, if given), at most
    /// `limit`: each claimed one counts one more delivery and is not due again before
    /// `now + lease`, so two processes never deliver it at once, and one whose deliverer
    /// died is delivered again once the lease has passed.
    async fn claim_notifications(
        &self,
        run: Option<RunId>,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Records how a claimed delivery went. Only a pending notification changes: a record
    /// for one that ended meanwhile is ignored.
    async fn record_delivery(
        &self,
        id: NotificationId,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError>;

    /// When the next pending notification is due (of `run` only, if given), `None` if none
    /// is pending.
    async fn next_notification_due(
        &self,
        run: Option<RunId>,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// A run's notifications, oldest first.
    async fn run_notifications(&self, run: RunId) -> Result<Vec<NotificationRecord>, StoreError>;

    /// How many notifications ended failed, by workflow and event (for `/metrics`).
    async fn notification_failures(
        &self,
    ) -> Result<Vec<(WorkflowName, NotificationEvent, u64)>, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationId(pub i64);

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub run: RunId,
    pub workflow: WorkflowName,
    pub key: NotificationKey,
    pub created_at: Timestamp,
    pub state: NotificationState,
    /// Deliveries tried so far (a claimed one included).
    pub deliveries: u32,
    /// Why the last failed delivery failed.
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationState {
    /// Not delivered yet; the next delivery is not before `due`.
    Pending { due: Timestamp },
    /// A delivery was accepted.
    Delivered { at: Timestamp },
    /// Every delivery failed; no more will be tried.
    Failed { at: Timestamp },
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        at: Timestamp,
    },
    /// Failed with `error`; tried again at `retry_at`, or never if it is `None`.
    Failed {
        at: Timestamp,
        error: String,
        retry_at: Option<Timestamp>,
    },
}
