//! [`WorkerStore`] for [`PostgresStore`]: offered attempts, leases and workers (migration
//! 0002), shared by every server and worker of one database.
//!
//! Every step that checks a lease and changes it is one statement, so two workers (through
//! one server or two), or a worker and the expiry, never both win. A claim picks the oldest
//! offered row `FOR UPDATE SKIP LOCKED` and moves it to `claimed` in the same statement: a
//! row another claim is taking right now is skipped rather than waited for, and a row whose
//! claim committed first no longer matches `state = 'offered'` when PostgreSQL re-checks it.
//! A renewal, a report and the expiry each update only the rows whose `state`, `epoch` and
//! `expires_at` still match, and PostgreSQL re-checks those conditions on the newest version
//! of a row another transaction just changed: whoever commits second finds nothing to change
//! and is told so by the rows returned. The server passes `now`; the database's own clock is
//! never read, so expiry is the server's clock's decision, as on SQLite.

use std::time::Duration;

use async_trait::async_trait;
use tidewater_core::{AttemptOutcome, QueueName, Timestamp};
use tidewater_store::{
    AttemptOffer, ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptRecord,
    StoreError, WorkerId, WorkerRecord, WorkerRegistration, WorkerStore,
};
use tokio_postgres::Row;

use super::PostgresStore;
use super::codec::{
    RemoteAttemptColumns, RemoteAttemptRow, WorkerColumns, decode_timestamp, decode_worker,
    encode_json, encode_queues, encode_remote_outcome, encode_timestamp,
};
use super::failure::OrStore;

/// The columns [`read_remote_attempt`] reads, in its order.
macro_rules! attempt_columns {
    () => {
        "id, run_id, workflow, task, attempt, queue, workflow_hash, context, offered_at, state,
         worker, epoch, expires_at, is_stop_requested, outcome, ended_at"
    };
}

#[async_trait]
impl WorkerStore for PostgresStore {
    async fn offer_attempt(&self, offer: &AttemptOffer) -> Result<RemoteAttemptId, StoreError> {
        let client = self.pool.get().await?;
        let id: i64 = client
            .query_one(
                "INSERT INTO remote_attempts (run_id, workflow, task, attempt, queue,
                     workflow_hash, context, offered_at, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'offered')
                 RETURNING id",
                &[
                    &offer.run.0,
                    &offer.workflow.as_str(),
                    &offer.task.as_str(),
                    &i64::from(offer.attempt.0),
                    &offer.queue.as_str(),
                    &offer.workflow_hash,
                    &encode_json(&offer.context),
                    &encode_timestamp(offer.offered_at),
                ],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        Ok(RemoteAttemptId(id))
    }

    async fn record_worker(
        &self,
        worker: &WorkerRegistration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO workers (id, queues, slots, version, first_seen, last_heartbeat)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (id) DO UPDATE SET queues = excluded.queues,
                     slots = excluded.slots, version = excluded.version,
                     last_heartbeat = excluded.last_heartbeat",
                &[
                    &worker.id.0,
                    &encode_queues(&worker.queues),
                    &i64::from(worker.slots),
                    &worker.version,
                    &encode_timestamp(now),
                ],
            )
            .await
            .db()?;
        Ok(())
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
        let queues: Vec<&str> = queues.iter().map(QueueName::as_str).collect();
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "WITH picked AS (
                         SELECT id AS picked_id FROM remote_attempts
                         WHERE state = 'offered' AND queue = ANY($2)
                         ORDER BY id LIMIT 1
                         FOR UPDATE SKIP LOCKED)
                     UPDATE remote_attempts SET state = 'claimed', worker = $1,
                         epoch = nextval('lease_epochs'), expires_at = $3
                     FROM picked WHERE id = picked_id
                     RETURNING ",
                    attempt_columns!()
                ),
                &[&worker.0, &queues, &encode_timestamp(lease_end(now, lease))],
            )
            .await
            .db()?;
        let Some(row) = row else {
            return Ok(None);
        };
        let row = read_remote_attempt(&row)?;
        let offer = row.offer()?;
        let (Some(epoch), Some(expires_at)) = (row.state.epoch, row.state.expires_at) else {
            return Err(StoreError::Corrupt {
                what: "remote attempt lease",
                value: "a claim without its epoch or expiry".to_owned(),
            });
        };
        Ok(Some(ClaimedAttempt {
            id: RemoteAttemptId(row.id),
            epoch: LeaseEpoch(epoch),
            expires_at: decode_timestamp(expires_at, "remote attempt lease")?,
            offer,
        }))
    }

    async fn renew_lease(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        now: Timestamp,
        lease: Duration,
    ) -> Result<LeaseAnswer, StoreError> {
        let client = self.pool.get().await?;
        // A lease that has run out is not renewed even before the expiry ran: the server's
        // clock says it ended.
        let stop = client
            .query_opt(
                "UPDATE remote_attempts SET expires_at = $3
                 WHERE id = $1 AND epoch = $2 AND state = 'claimed' AND expires_at >= $4
                 RETURNING is_stop_requested",
                &[
                    &attempt.0,
                    &epoch.0,
                    &encode_timestamp(lease_end(now, lease)),
                    &encode_timestamp(now),
                ],
            )
            .await
            .db()?
            .map(|row| row.try_get::<_, bool>(0))
            .transpose()
            .db()?;
        Ok(match stop {
            None => LeaseAnswer::Stale,
            Some(true) => LeaseAnswer::Cancel,
            Some(false) => LeaseAnswer::Continue,
        })
    }

    async fn report_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
        outcome: &AttemptOutcome,
        now: Timestamp,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let outcome = encode_remote_outcome(outcome)?;
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "UPDATE remote_attempts SET state = 'reported', outcome = $3, ended_at = $4
                     WHERE id = $1 AND epoch = $2 AND state = 'claimed' AND expires_at >= $4
                     RETURNING ",
                    attempt_columns!()
                ),
                &[&attempt.0, &epoch.0, &outcome, &encode_timestamp(now)],
            )
            .await
            .db()?;
        decode(row.as_ref())
    }

    async fn leased_attempt(
        &self,
        attempt: RemoteAttemptId,
        epoch: LeaseEpoch,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT ",
                    attempt_columns!(),
                    " FROM remote_attempts WHERE id = $1 AND epoch = $2 AND state = 'claimed'"
                ),
                &[&attempt.0, &epoch.0],
            )
            .await
            .db()?;
        decode(row.as_ref())
    }

    async fn stop_attempt(
        &self,
        attempt: RemoteAttemptId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        // One statement for both cases: if a claim commits while this waits for the row,
        // PostgreSQL evaluates the `CASE`s again on the claimed row, so the attempt is asked
        // to stop rather than withdrawn under its new holder.
        let withdrawn = client
            .query_opt(
                "UPDATE remote_attempts SET
                     state = CASE WHEN state = 'offered' THEN 'withdrawn' ELSE state END,
                     ended_at = CASE WHEN state = 'offered' THEN $2 ELSE ended_at END,
                     is_stop_requested = is_stop_requested OR state = 'claimed'
                 WHERE id = $1 AND state IN ('offered', 'claimed')
                 RETURNING state = 'withdrawn'",
                &[&attempt.0, &encode_timestamp(now)],
            )
            .await
            .db()?
            .map(|row| row.try_get::<_, bool>(0))
            .transpose()
            .db()?;
        Ok(withdrawn == Some(true))
    }

    async fn expire_leases(&self, now: Timestamp) -> Result<Vec<RemoteAttemptId>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "UPDATE remote_attempts SET state = 'lost', ended_at = $1
                 WHERE state = 'claimed' AND expires_at < $1
                 RETURNING id",
                &[&encode_timestamp(now)],
            )
            .await
            .db()?;
        let mut ids = rows
            .iter()
            .map(|row| row.try_get(0).map(RemoteAttemptId))
            .collect::<Result<Vec<_>, _>>()
            .db()?;
        // `RETURNING` follows no order; the oldest offer first, as the rows were made.
        ids.sort_unstable();
        Ok(ids)
    }

    async fn abandon_attempts(&self, now: Timestamp) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE remote_attempts SET state = 'lost', ended_at = $1
                 WHERE state IN ('offered', 'claimed')",
                &[&encode_timestamp(now)],
            )
            .await
            .db()
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT w.id, w.queues, w.slots, w.version, w.first_seen, w.last_heartbeat,
                        (SELECT count(*) FROM remote_attempts a
                         WHERE a.state = 'claimed' AND a.worker = w.id)
                 FROM workers w ORDER BY w.last_heartbeat DESC, w.id",
                &[],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                decode_worker(WorkerColumns {
                    id: row.try_get(0).db()?,
                    queues: row.try_get(1).db()?,
                    slots: row.try_get(2).db()?,
                    version: row.try_get(3).db()?,
                    first_seen: row.try_get(4).db()?,
                    last_heartbeat: row.try_get(5).db()?,
                    slots_in_use: row.try_get(6).db()?,
                })
            })
            .collect()
    }

    async fn claimed_attempts(&self) -> Result<Vec<RemoteAttemptRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                concat!(
                    "SELECT ",
                    attempt_columns!(),
                    " FROM remote_attempts WHERE state = 'claimed' ORDER BY id"
                ),
                &[],
            )
            .await
            .db()?;
        decode_all(&rows)
    }

    async fn ended_attempts(
        &self,
        attempts: &[RemoteAttemptId],
    ) -> Result<Vec<RemoteAttemptRecord>, StoreError> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = attempts.iter().map(|attempt| attempt.0).collect();
        let client = self.pool.get().await?;
        let rows = client
            .query(
                concat!(
                    "SELECT ",
                    attempt_columns!(),
                    " FROM remote_attempts WHERE id = ANY($1) AND state IN ('reported', 'lost')",
                    " ORDER BY id"
                ),
                &[&ids],
            )
            .await
            .db()?;
        decode_all(&rows)
    }

    async fn remote_attempt(
        &self,
        attempt: RemoteAttemptId,
    ) -> Result<Option<RemoteAttemptRecord>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                concat!(
                    "SELECT ",
                    attempt_columns!(),
                    " FROM remote_attempts WHERE id = $1"
                ),
                &[&attempt.0],
            )
            .await
            .db()?;
        decode(row.as_ref())
    }
}

/// `now + lease`, or the end of time for a lease beyond the calendar.
fn lease_end(now: Timestamp, lease: Duration) -> Timestamp {
    chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .unwrap_or(Timestamp::MAX_UTC)
}

/// A row of [`attempt_columns`].
fn read_remote_attempt(row: &Row) -> Result<RemoteAttemptRow, StoreError> {
    Ok(RemoteAttemptRow {
        id: row.try_get(0).db()?,
        run: row.try_get(1).db()?,
        workflow: row.try_get(2).db()?,
        task: row.try_get(3).db()?,
        attempt: row.try_get(4).db()?,
        queue: row.try_get(5).db()?,
        workflow_hash: row.try_get(6).db()?,
        context: row.try_get(7).db()?,
        offered_at: row.try_get(8).db()?,
        state: RemoteAttemptColumns {
            state: row.try_get(9).db()?,
            worker: row.try_get(10).db()?,
            epoch: row.try_get(11).db()?,
            expires_at: row.try_get(12).db()?,
            is_stop_requested: row.try_get(13).db()?,
            outcome: row.try_get(14).db()?,
            ended_at: row.try_get(15).db()?,
        },
    })
}

fn decode(row: Option<&Row>) -> Result<Option<RemoteAttemptRecord>, StoreError> {
    row.map(|row| read_remote_attempt(row)?.decode())
        .transpose()
}

fn decode_all(rows: &[Row]) -> Result<Vec<RemoteAttemptRecord>, StoreError> {
    rows.iter()
        .map(|row| read_remote_attempt(row)?.decode())
        .collect()
}
