//! The server's side of `tidewater worker` (issue 21): a worker claims offered attempts,
//! renews their leases, appends to their logs and reports them; and the list of workers.
//! The HTTP handlers (`tidewater-server/src/workers.rs`) only translate these.
//!
//! Every write under a lease names the lease `(attempt, epoch)`; the store refuses a stale
//! one, and so do these (`ControlError::Conflict`, 409), so that a worker that was paused past
//! its lease, or cut off, changes nothing once another attempt may have started.

use std::io::Write;

use tidewater_core::{AttemptOutcome, Timestamp};
use tidewater_engine::{AttemptPaths, worker_store};
use tidewater_store::{
    ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptRecord, WorkerRecord,
    WorkerRegistration, WorkerStore,
};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};
use crate::json::LeaseJson;

impl Control {
    /// Records `worker`'s heartbeat and claims the oldest attempt offered to its queues, if
    /// any, with a lease of `[workers] lease`.
    pub async fn claim_for_worker(
        &self,
        worker: &WorkerRegistration,
    ) -> ControlResult<Option<ClaimedAttempt>> {
        let workers = self.workers_store()?;
        let now = chrono::Utc::now();
        workers.record_worker(worker, now).await?;
        let claimed = workers
            .claim_attempt(
                &worker.id,
                &worker.queues,
                now,
                self.project.config.workers.lease,
            )
            .await?;
        if let Some(claimed) = &claimed {
            self.append_to_log(
                claimed,
                format!(
                    "[tidewater] claimed by worker {} (lease epoch {}, expires {})\n",
                    worker.id.0,
                    claimed.epoch.0,
                    claimed.expires_at.to_rfc3339()
                )
                .as_bytes(),
            );
        }
        Ok(claimed)
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
    /// last heartbeat younger than a lease).
    pub async fn workers(&self) -> ControlResult<Vec<(WorkerRecord, bool)>> {
        let now = chrono::Utc::now();
        let lease = chrono::Duration::from_std(self.project.config.workers.lease)
            .unwrap_or(chrono::Duration::MAX);
        Ok(self
            .workers_store()?
            .workers()
            .await?
            .into_iter()
            .map(|record| {
                let is_alive = is_younger(record.last_heartbeat, now, lease);
                (record, is_alive)
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
