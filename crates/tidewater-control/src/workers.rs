//! The server's side of `tidewater worker` (issue 21): a worker claims offered attempts,
//! renews their leases, appends to their logs and reports them; and the list of workers.
//! The HTTP handlers (`tidewater-server/src/workers.rs`) only translate these.
//!
//! Every write under a lease names the lease `(attempt, epoch)`; the store refuses a stale
//! one, and so do these (`ControlError::Conflict`, 409), so that a worker that was paused past
//! its lease, or cut off, changes nothing once another attempt may have started.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use tidewater_core::{Attempt, AttemptOutcome, RunId, TaskName, Timestamp, WorkflowName};
use tidewater_engine::{AttemptPaths, worker_store};
use tidewater_store::{
    ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptRecord,
    RemoteAttemptState, WorkerId, WorkerRecord, WorkerRegistration, WorkerStore,
};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};
use crate::json::LeaseJson;

/// The longest a claim waits for an attempt to be offered: well under any proxy's idle
/// timeout, and short enough that a worker's registration (sent with each claim) stays fresh.
pub const MAX_CLAIM_WAIT: Duration = Duration::from_secs(20);

/// How often a waiting claim looks at the store besides being woken by this server's offers:
/// for attempts offered by another server on the same database. One indexed read per queue a
/// second per waiting worker; an offer of another server waits this long at most.
pub const CLAIM_RECHECK: Duration = Duration::from_secs(1);

/// A worker as the front ends show it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub record: WorkerRecord,
    /// Its last heartbeat is younger than a lease.
    pub is_alive: bool,
    /// The attempts it holds a lease on, oldest first.
    pub attempts: Vec<HeldAttempt>,
}

/// An attempt a worker holds, and its lease.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldAttempt {
    pub id: RemoteAttemptId,
    pub run: RunId,
    pub workflow: WorkflowName,
    pub task: TaskName,
    pub attempt: Attempt,
    pub epoch: LeaseEpoch,
    pub expires_at: Timestamp,
}

impl Control {
    /// Records `worker`'s heartbeat and claims the oldest attempt offered to its queues, with
    /// a lease of `[workers] lease`. When none is offered, waits for one up to `wait` (at most
    /// [`MAX_CLAIM_WAIT`]; zero answers at once) or until `stop` completes: `None` then.
    ///
    /// A waiting claim is woken at once when this server offers an attempt, and looks at the
    /// store every [`CLAIM_RECHECK`] for the offers of other servers on the same database.
    ///
    /// Cancel safety: only the wait is given up on `stop` or when this future is dropped (a
    /// worker that hung up); the claim is one store transaction made just before answering.
    /// A claim whose answer never reaches its worker (the network dropped in that instant) holds
    /// a lease nobody renews: it expires, the attempt is lost, and `decide` starts it again
    /// without using a retry, as for a worker that died just after claiming.
    pub async fn claim_for_worker(
        &self,
        worker: &WorkerRegistration,
        wait: Duration,
        stop: impl Future<Output = ()>,
    ) -> ControlResult<Option<ClaimedAttempt>> {
        let workers = self.workers_store()?;
        workers.record_worker(worker, chrono::Utc::now()).await?;
        // A worker of no queue is never offered anything: it need not wait.
        let wait = if worker.queues.is_empty() {
            Duration::ZERO
        } else {
            wait.min(MAX_CLAIM_WAIT)
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut stop = std::pin::pin!(stop);
        loop {
            let offered = self.remote_attempts().offered();
            let mut offered = std::pin::pin!(offered);
            // Before the look: an offer made while the store is read still wakes this wait.
            offered.as_mut().enable();
            let claimed = workers
                .claim_attempt(
                    &worker.id,
                    &worker.queues,
                    chrono::Utc::now(),
                    self.project.config.workers.lease,
                )
                .await?;
            if let Some(claimed) = claimed {
                self.append_to_log(
                    &claimed,
                    format!(
                        "[tidewater] claimed by worker {} (lease epoch {}, expires {})\n",
                        worker.id.0,
                        claimed.epoch.0,
                        claimed.expires_at.to_rfc3339()
                    )
                    .as_bytes(),
                );
                return Ok(Some(claimed));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let recheck = (now + CLAIM_RECHECK).min(deadline);
            tokio::select! {
                () = &mut offered => {}
                () = tokio::time::sleep_until(recheck) => {}
                () = &mut stop => return Ok(None),
            }
        }
    }

    /// Records `worker`'s heartbeat and renews each of `leases`, answering each.
    pub async fn worker_heartbeat(
        &self,
        worker: &WorkerRegistration,
        leases: &[LeaseJson],
    ) -> ControlResult<Vec<(LeaseJson, LeaseAnswer)>> {
        let workers = self.workers_store()?;
        let now = chrono::Utc::now();
        workers.record_worker(worker, now).await?;
        let mut answers = Vec::with_capacity(leases.len());
        for lease in leases {
            let (id, epoch) = lease.key();
            let answer = workers
                .renew_lease(id, epoch, now, self.project.config.workers.lease)
                .await?;
            answers.push((*lease, answer));
        }
        Ok(answers)
    }

    /// Appends `bytes` (whole lines, already redacted by the worker) to the attempt's log
    /// on this server, so that `logs --follow` and the UI tail it live; refused for a stale
    /// lease.
    pub async fn append_worker_log(
        &self,
        id: RemoteAttemptId,
        epoch: LeaseEpoch,
        bytes: &[u8],
    ) -> ControlResult<()> {
        let record = self
            .workers_store()?
            .leased_attempt(id, epoch)
            .await?
            .ok_or_else(|| stale(id, epoch))?;
        let path = log_path(self, &record);
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|error| {
                ControlError::environment(
                    format!("cannot append to the log {}", self.shown(&path)),
                    error,
                )
            })
    }

    /// Records how the attempt ended, if its lease is still live, and reports it to the
    /// executor that waits for it; refused for a stale lease (the attempt was lost or ended).
    pub async fn worker_report(
        &self,
        id: RemoteAttemptId,
        epoch: LeaseEpoch,
        outcome: AttemptOutcome,
    ) -> ControlResult<()> {
        let reported = self
            .workers_store()?
            .report_attempt(id, epoch, &outcome, chrono::Utc::now())
            .await?;
        if reported.is_none() {
            return Err(stale(id, epoch));
        }
        self.remote_attempts().deliver(id, outcome);
        Ok(())
    }

    /// The workers that sent a heartbeat, newest first, each with whether it is alive (its
    /// last heartbeat younger than a lease) and the attempts it holds: what `tidewater
    /// workers`, `GET /api/v1/workers` and the workers' page show.
    pub async fn workers(&self) -> ControlResult<Vec<WorkerStatus>> {
        let now = chrono::Utc::now();
        let lease = chrono::Duration::from_std(self.project.config.workers.lease)
            .unwrap_or(chrono::Duration::MAX);
        let store = self.workers_store()?;
        let mut held: HashMap<WorkerId, Vec<HeldAttempt>> = HashMap::new();
        for record in store.claimed_attempts().await? {
            if let RemoteAttemptState::Claimed {
                worker,
                epoch,
                expires_at,
                ..
            } = record.state
            {
                held.entry(worker).or_default().push(HeldAttempt {
                    id: record.id,
                    run: record.offer.run,
                    workflow: record.offer.workflow,
                    task: record.offer.task,
                    attempt: record.offer.attempt,
                    epoch,
                    expires_at,
                });
            }
        }
        Ok(store
            .workers()
            .await?
            .into_iter()
            .map(|record| WorkerStatus {
                is_alive: is_younger(record.last_heartbeat, now, lease),
                attempts: held.remove(&record.registration.id).unwrap_or_default(),
                record,
            })
            .collect())
    }

    fn workers_store(&self) -> ControlResult<&dyn WorkerStore> {
        Ok(worker_store(&*self.store)?)
    }

    /// A line in the server's log of the attempt; a failure to write it loses only the line.
    fn append_to_log(&self, claimed: &ClaimedAttempt, line: &[u8]) {
        let path = AttemptPaths::new(
            &self.project.config.state_dir,
            claimed.offer.run,
            &claimed.offer.task,
            claimed.offer.attempt,
        )
        .log;
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(line));
    }
}

fn log_path(control: &Control, record: &RemoteAttemptRecord) -> std::path::PathBuf {
    AttemptPaths::new(
        &control.project.config.state_dir,
        record.offer.run,
        &record.offer.task,
        record.offer.attempt,
    )
    .log
}

fn is_younger(at: Timestamp, now: Timestamp, age: chrono::Duration) -> bool {
    now.signed_duration_since(at) < age
}

fn stale(id: RemoteAttemptId, epoch: LeaseEpoch) -> ControlError {
    ControlError::Conflict(format!(
        "lease {} of offered attempt {} is stale: it expired or the attempt ended; stop the \
         attempt and report nothing",
        epoch.0, id.0
    ))
}
