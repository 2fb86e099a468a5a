use std::time::Duration;

use async_trait::async_trait;
use tidewater_core::{
    Attempt, AttemptOutcome, QueueName, RunId, TaskName, Timestamp, WorkflowName,
};

use crate::StoreError;

/// The attempts handed to `tidewater worker` processes, with their leases, and the workers
/// themselves (issue 21).
///
/// An attempt of a task with a `queue` is *offered* by the server's remote runner; a worker
/// serving that queue *claims* it, which gives it a lease: an `epoch` (a number no claim ever
/// had before, store-wide) and an expiry the server's clock sets. Every renewal, log append and
/// report carries `(attempt, epoch)`, and the store refuses it ([`LeaseAnswer::Stale`]) unless
/// that lease is the attempt's live one: once a lease has expired ([`WorkerStore::expire_leases`])
/// or the attempt ended, its holder is fenced out, whatever its own clock says.
#[async_trait]
pub trait WorkerStore: Send + Sync {
    /// Records an attempt for the workers of its queue to claim.
    async fn offer_attempt(&self, offer: &AttemptOffer) -> Result<RemoteAttemptId, StoreError>;

    /// Records that `worker` is alive at `now`, with what it serves (a first heartbeat
    /// registers it).
    async fn record_worker(
        &self,
        worker: &WorkerRegistration,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Claims the oldest offered attempt of one of `queues` for `worker`, with a lease until
    /// `now + lease`; `None` when none is offered. Each offered attempt is claimed once.
    async fn claim_attempt(
        &self,
        worker: &WorkerId,
        queues: &[QueueName],
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<ClaimedAttempt>, StoreError>;

    /// Renews the lease `epoch` of `attempt` until `now + lease`, if it is still the live one:
    /// `Continue`, or `Cancel` when the attempt should stop; `Stale` otherwise (and nothing
    /// changes).
    async fn renew_lease(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        now: Timestamp,
        lease: Duration,
    ) -> Result<LeaseAnswer, StoreError>;

    /// Records the outcome of `attempt` reported under lease `epoch`, if that lease is still
    /// the live one (then the attempt ends and its lease with it): the attempt's record, for
    /// the runner to report; `None` if the report is stale and was refused.
    async fn report_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        outcome: &AttemptOutcome,
        now: Timestamp,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError>;

    /// Whether lease `epoch` of `attempt` is live: the attempt's record if so.
    async fn leased_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError>;

    /// Asks an attempt to stop. One still offered ends at once (`true`: nobody will report
    /// it); a claimed one is answered `Cancel` at its next renewal (`false`).
    async fn stop_attempt(
        &self,
        attempt: RemoteAttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Ends the claimed attempts whose lease expired before `now` as lost, and returns them.
    async fn expire_leases(&self, now: Timestamp) -> Result<Vec<RemoteAttemptId>, StoreError>;

    /// Ends every attempt still offered or claimed, as lost: for a server that starts, since
    /// nobody waits for the attempts of a server that died (its runs resume with new attempts).
    async fn abandon_attempts(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// The workers that have sent a heartbeat, with the attempts they hold, newest first.
    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError>;

    /// The attempts claimed now (their lease not ended by a report or an expiry), oldest
    /// first: what each worker holds, as the workers' page shows it.
    async fn claimed_attempts(&self) -> Result<Vec<RemoteAttemptRecord>, StoreError>;

    /// An attempt by id.
    async fn remote_attempt(
        &self,
        attempt: RemoteAttemptId,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError>;

    /// Those of `attempts` that are reported or lost: what the server that offered them
    /// collects when another server sharing the store took the report or saw the lease
    /// expire. By default one [`WorkerStore::remote_attempt`] each; a backend that servers
    /// share reads them in one statement.
    async fn ended_attempts(
        &self,
        attempts: &[RemoteAttemptId],
    ) -> Result<Vec<RemoteAttemptRecord>, StoreError> {
        let mut ended = Vec::new();
        for &attempt in attempts {
            if let Some(record) = self.remote_attempt(attempt).await?
                && matches!(
                    record.state,
                    RemoteAttemptState::Reported { .. } | RemoteAttemptState::Lost { .. }
                )
            {
                ended.push(record);
            }
        }
        Ok(ended)
    }
}

/// The id of an offered attempt (not the task's attempt number: that is in the record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemoteAttemptId(pub i64);

/// A lease's number: store-wide increasing, so a reclaimed attempt's new lease never equals
/// an old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseEpoch(pub i64);

/// A worker's name, chosen by the worker (its host, pid and a random part).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub String);

/// What a server offers: which attempt, of which run's pinned workflow, for which queue, and
/// what the worker needs to run it (`context`: the run's interval, params and upstream
/// outputs, as the worker's protocol writes them).
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOffer {
    pub run: RunId,
    pub workflow: WorkflowName,
    pub task: TaskName,
    pub attempt: Attempt,
    pub queue: QueueName,
    /// The hash of the workflow text the run is pinned to.
    pub workflow_hash: String,
    pub context: serde_json::Value,
    pub offered_at: Timestamp,
}

/// A worker as it describes itself in each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRegistration {
    pub id: WorkerId,
    pub queues: Vec<QueueName>,
    pub slots: u32,
    pub version: String,
}

/// An attempt a worker claimed, and its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedAttempt {
    pub id: RemoteAttemptId,
    pub epoch: LeaseEpoch,
    pub expires_at: Timestamp,
    pub offer: AttemptOffer,
}

/// The answer to a renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// Renewed: go on.
    Continue,
    /// Renewed, but the attempt was asked to stop: kill it and report it cancelled.
    Cancel,
    /// Not this attempt's live lease (it expired, or the attempt ended): kill it, report
    /// nothing.
    Stale,
}

/// Where an offered attempt is.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteAttemptState {
    Offered,
    Claimed {
        worker: WorkerId,
        epoch: LeaseEpoch,
        expires_at: Timestamp,
        is_stop_requested: bool,
    },
    Reported {
        worker: WorkerId,
        outcome: AttemptOutcome,
        at: Timestamp,
    },
    /// Its lease expired, or the server that offered it went away.
    Lost {
        at: Timestamp,
    },
    /// Stopped before any worker claimed it.
    Withdrawn {
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteAttemptRecord {
    pub id: RemoteAttemptId,
    pub offer: AttemptOffer,
    pub state: RemoteAttemptState,
}

/// A worker and what it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    pub registration: WorkerRegistration,
    pub first_seen: Timestamp,
    pub last_heartbeat: Timestamp,
    /// Attempts it holds a live lease on.
    pub slots_in_use: u32,
}
