//! [`WorkerStore`] for [`SqliteStore`]: offered attempts, leases and workers (migration 0015).
//!
//! Every step that checks a lease and changes it is one statement or one `IMMEDIATE`
//! transaction, so two workers (or a worker and the expiry) never both win: a claim takes the
//! oldest offered row and the next epoch in one transaction; a renewal or a report updates
//! only the row whose `state = 'claimed'` and `epoch` match, and tells by the count of rows
//! changed whether it was the live lease.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tidewater_core::{AttemptOutcome, QueueName, Timestamp};
use tidewater_store::{
    AttemptOffer, ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptRecord,
    StoreError, WorkerId, WorkerRecord, WorkerRegistration, WorkerStore,
};

use super::SqliteStore;
use super::codec::{
    RemoteAttemptColumns, RemoteAttemptRow, WorkerColumns, decode_timestamp, decode_worker,
    encode_json, encode_queues, encode_remote_outcome, encode_timestamp,
};
use super::failure::Failure;

const SELECT_ATTEMPT: &str = "SELECT id, run_id, workflow, task, attempt, queue, workflow_hash,
        context, offered_at, state, worker, epoch, expires_at, is_stop_requested, outcome,
        ended_at
     FROM remote_attempts";

#[async_trait]
impl WorkerStore for SqliteStore {
    async fn offer_attempt(&self, offer: &AttemptOffer) -> Result<RemoteAttemptId, StoreError> {
        let context = encode_json(&offer.context);
        self.link
            .call(|connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO remote_attempts (run_id, workflow, task, attempt, queue,
                             workflow_hash, context, offered_at, state)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'offered')",
                    )?
                    .execute(params![
                        offer.run.0,
                        offer.workflow.as_str(),
                        offer.task.as_str(),
                        offer.attempt.0,
                        offer.queue.as_str(),
                        offer.workflow_hash,
                        context,
                        encode_timestamp(offer.offered_at),
                    ])?;
                Ok(RemoteAttemptId(connection.last_insert_rowid()))
            })
            .await
    }

    async fn record_worker(
        &self,
        worker: &WorkerRegistration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let queues = encode_queues(&worker.queues);
        self.link
            .call(|connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO workers (id, queues, slots, version, first_seen,
                             last_heartbeat)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                         ON CONFLICT (id) DO UPDATE SET queues = ?2, slots = ?3, version = ?4,
                             last_heartbeat = ?5",
                    )?
                    .execute(params![
                        worker.id.0,
                        queues,
                        worker.slots,
                        worker.version,
                        encode_timestamp(now)
                    ])?;
                Ok(())
            })
            .await
    }

    async fn claim_attempt(
        &self,
        worker: &WorkerId,
        queues: &[QueueName],
        now: Timestamp,
        lease: Duration,
    ) -> Result<Option<ClaimedAttempt>, StoreError> {
        if queues.is_empty() {
            return Ok(None);
        }
        let expires_at = encode_timestamp(lease_end(now, lease));
        let claimed = self
            .link
            .write(|transaction| {
                let mut found: Option<RemoteAttemptRow> = None;
                // One indexed look per queue (a worker serves a few): the oldest of each, then
                // the oldest of those.
                let mut statement = transaction.prepare_cached(&format!(
                    "{SELECT_ATTEMPT} WHERE state = 'offered' AND queue = ?1 ORDER BY id LIMIT 1"
                ))?;
                for queue in queues {
                    let row = statement
                        .query_row([queue.as_str()], read_remote_attempt)
                        .optional()?;
                    if let Some(row) = row
                        && found.as_ref().is_none_or(|best| row.id < best.id)
                    {
                        found = Some(row);
                    }
                }
                let Some(mut row) = found else {
                    return Ok(None);
                };
                let epoch: i64 = transaction
                    .prepare_cached(
                        "UPDATE lease_epochs SET last = last + 1 WHERE id = 1 RETURNING last",
                    )?
                    .query_row([], |row| row.get(0))?;
                transaction
                    .prepare_cached(
                        "UPDATE remote_attempts SET state = 'claimed', worker = ?2, epoch = ?3,
                             expires_at = ?4
                         WHERE id = ?1",
                    )?
                    .execute(params![row.id, worker.0, epoch, expires_at])?;
                row.state.epoch = Some(epoch);
                row.state.expires_at = Some(expires_at);
                Ok(Some(row))
            })
            .await?;
        let Some(row) = claimed else {
            return Ok(None);
        };
        let epoch = LeaseEpoch(row.state.epoch.unwrap_or_default());
        let expires_at = decode_timestamp(expires_at, "remote attempt lease")?;
        let id = RemoteAttemptId(row.id);
        Ok(Some(ClaimedAttempt {
            id,
            epoch,
            expires_at,
            offer: row.offer()?,
        }))
    }

    async fn renew_lease(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        now: Timestamp,
        lease: Duration,
    ) -> Result<LeaseAnswer, StoreError> {
        let expires_at = encode_timestamp(lease_end(now, lease));
        let now = encode_timestamp(now);
        self.link
            .call(|connection| {
                // A lease that has run out is not renewed even before the expiry ran: the
                // server's clock says it ended.
                let stop: Option<bool> = connection
                    .prepare_cached(
                        "UPDATE remote_attempts SET expires_at = ?3
                         WHERE id = ?1 AND epoch = ?2 AND state = 'claimed' AND expires_at >= ?4
                         RETURNING is_stop_requested",
                    )?
                    .query_row(params![attempt.0, epoch.0, expires_at, now], |row| {
                        row.get(0)
                    })
                    .optional()?;
                Ok(match stop {
                    None => LeaseAnswer::Stale,
                    Some(true) => LeaseAnswer::Cancel,
                    Some(false) => LeaseAnswer::Continue,
                })
            })
            .await
    }

    async fn report_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        outcome: &AttemptOutcome,
        now: Timestamp,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let outcome = encode_remote_outcome(outcome)?;
        let now = encode_timestamp(now);
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "UPDATE remote_attempts SET state = 'reported', outcome = ?3, ended_at = ?4
                         WHERE id = ?1 AND epoch = ?2 AND state = 'claimed' AND expires_at >= ?4
                         RETURNING id, run_id, workflow, task, attempt, queue, workflow_hash,
                             context, offered_at, state, worker, epoch, expires_at,
                             is_stop_requested, outcome, ended_at",
                    )?
                    .query_row(
                        params![attempt.0, epoch.0, outcome, now],
                        read_remote_attempt,
                    )
                    .optional()?)
            })
            .await?;
        row.map(RemoteAttemptRow::decode).transpose()
    }

    async fn leased_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(&format!(
                        "{SELECT_ATTEMPT} WHERE id = ?1 AND epoch = ?2 AND state = 'claimed'"
                    ))?
                    .query_row(params![attempt.0, epoch.0], read_remote_attempt)
                    .optional()?)
            })
            .await?;
        row.map(RemoteAttemptRow::decode).transpose()
    }

    async fn stop_attempt(
        &self,
        attempt: RemoteAttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = encode_timestamp(now);
        self.link
            .write(|transaction| {
                let withdrawn = transaction
                    .prepare_cached(
                        "UPDATE remote_attempts SET state = 'withdrawn', ended_at = ?2
                         WHERE id = ?1 AND state = 'offered'",
                    )?
                    .execute(params![attempt.0, now])?;
                if withdrawn == 1 {
                    return Ok(true);
                }
                transaction
                    .prepare_cached(
                        "UPDATE remote_attempts SET is_stop_requested = 1
                         WHERE id = ?1 AND state = 'claimed'",
                    )?
                    .execute([attempt.0])?;
                Ok(false)
            })
            .await
    }

    async fn expire_leases(&self, now: Timestamp) -> Result<Vec<RemoteAttemptId>, StoreError> {
        let now = encode_timestamp(now);
        self.link
            .call(|connection| {
                let mut statement = connection.prepare_cached(
                    "UPDATE remote_attempts SET state = 'lost', ended_at = ?1
                     WHERE state = 'claimed' AND expires_at < ?1
                     RETURNING id",
                )?;
                let ids = statement
                    .query_map([now], |row| row.get(0).map(RemoteAttemptId))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await
    }

    async fn abandon_attempts(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = encode_timestamp(now);
        self.link
            .call(|connection| {
                let count = connection
                    .prepare_cached(
                        "UPDATE remote_attempts SET state = 'lost', ended_at = ?1
                         WHERE state IN ('offered', 'claimed')",
                    )?
                    .execute([now])?;
                Ok(count as u64)
            })
            .await
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        let rows = self.link.call(read_workers).await?;
        rows.into_iter().map(decode_worker).collect()
    }

    async fn claimed_attempts(&self) -> Result<Vec<RemoteAttemptRecord>, StoreError> {
        let rows = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(&format!(
                        "{SELECT_ATTEMPT} WHERE state = 'claimed' ORDER BY id"
                    ))?
                    .query_map([], read_remote_attempt)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter().map(RemoteAttemptRow::decode).collect()
    }

    async fn remote_attempt(
        &self,
        attempt: RemoteAttemptId,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(&format!("{SELECT_ATTEMPT} WHERE id = ?1"))?
                    .query_row([attempt.0], read_remote_attempt)
                    .optional()?)
            })
            .await?;
        row.map(RemoteAttemptRow::decode).transpose()
    }
}

fn read_workers(connection: &Connection) -> Result<Vec<WorkerColumns>, Failure> {
    let mut statement = connection.prepare_cached(
        "SELECT w.id, w.queues, w.slots, w.version, w.first_seen, w.last_heartbeat,
                (SELECT count(*) FROM remote_attempts a
                 WHERE a.state = 'claimed' AND a.worker = w.id)
         FROM workers w ORDER BY w.last_heartbeat DESC, w.id",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok(WorkerColumns {
                id: row.get(0)?,
                queues: row.get(1)?,
                slots: row.get(2)?,
                version: row.get(3)?,
                first_seen: row.get(4)?,
                last_heartbeat: row.get(5)?,
                slots_in_use: row.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// `now + lease`, or the end of time for a lease beyond the calendar.
fn lease_end(now: Timestamp, lease: Duration) -> Timestamp {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(Timestamp::MAX_UTC)
}

/// A `remote_attempts` row of [`SELECT_ATTEMPT`]'s columns.
fn read_remote_attempt(row: &Row<'_>) -> rusqlite::Result<RemoteAttemptRow> {
    Ok(RemoteAttemptRow {
        id: row.get(0)?,
        run: row.get(1)?,
        workflow: row.get(2)?,
        task: row.get(3)?,
        attempt: row.get(4)?,
        queue: row.get(5)?,
        workflow_hash: row.get(6)?,
        context: row.get(7)?,
        offered_at: row.get(8)?,
        state: RemoteAttemptColumns {
            state: row.get(9)?,
            worker: row.get(10)?,
            epoch: row.get(11)?,
            expires_at: row.get(12)?,
            is_stop_requested: row.get(13)?,
            outcome: row.get(14)?,
            ended_at: row.get(15)?,
        },
    })
}
