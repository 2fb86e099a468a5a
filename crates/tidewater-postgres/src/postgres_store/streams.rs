//! [`StreamStore`] for [`PostgresStore`]: the `streams` table of migration 0004, the same
//! columns as SQLite's.

use async_trait::async_trait;
use tidewater_core::{ProcessIdentity, Timestamp};
use tidewater_store::columns::codec::{
    decode_process, decode_timestamp, encode_process, encode_timestamp,
};
use tidewater_store::{
    StoreError, StreamCommitRecord, StreamFailure, StreamOwnerClaim, StreamRecord, StreamStore,
};
use tokio_postgres::Row;

use super::PostgresStore;
use super::failure::OrStore;

#[async_trait]
impl StreamStore for PostgresStore {
    async fn claim_stream_owner(
        &self,
        stream: &str,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
        now: Timestamp,
    ) -> Result<StreamOwnerClaim, StoreError> {
        let (expected_pid, expected_ticks) = expected.map(encode_process).unzip();
        let (owner_pid, owner_ticks) = owner.map(encode_process).unzip();
        let claimed_at = owner.map(|_| encode_timestamp(now));
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "INSERT INTO streams (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&stream],
            )
            .await
            .db()?;
        // One conditional `UPDATE`, as `claim_owner` of a run: a second claimer waits for the
        // first's row lock, and PostgreSQL checks the condition again on the row as the first
        // left it.
        let updated = transaction
            .execute(
                "UPDATE streams SET owner_pid = $2, owner_start_ticks = $3, claimed_at = $6
                 WHERE name = $1 AND owner_pid IS NOT DISTINCT FROM $4
                     AND owner_start_ticks IS NOT DISTINCT FROM $5",
                &[
                    &stream,
                    &owner_pid,
                    &owner_ticks,
                    &expected_pid,
                    &expected_ticks,
                    &claimed_at,
                ],
            )
            .await
            .db()?;
        let claim = if updated == 1 {
            StreamOwnerClaim::Claimed
        } else {
            // Read inside the same transaction: this is the owner that refused the claim.
            let row = transaction
                .query_one(
                    "SELECT owner_pid, owner_start_ticks FROM streams WHERE name = $1",
                    &[&stream],
                )
                .await
                .db()?;
            StreamOwnerClaim::Held(decode_process(row.get(0), row.get(1))?)
        };
        transaction.commit().await.db()?;
        Ok(claim)
    }

    async fn record_stream_commit(
        &self,
        stream: &str,
        commit: &StreamCommitRecord,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO streams (name, last_commit_at, last_position, last_table_version,
                     last_messages, last_dead_letters, last_rate, messages_total,
                     dead_letters_total)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $5, $6)
                 ON CONFLICT (name) DO UPDATE SET
                     last_commit_at = excluded.last_commit_at,
                     last_position = excluded.last_position,
                     last_table_version = excluded.last_table_version,
                     last_messages = excluded.last_messages,
                     last_dead_letters = excluded.last_dead_letters,
                     last_rate = excluded.last_rate,
                     messages_total = streams.messages_total + excluded.last_messages,
                     dead_letters_total = streams.dead_letters_total + excluded.last_dead_letters",
                &[
                    &stream,
                    &encode_timestamp(commit.at),
                    &commit.position,
                    &commit.table_version,
                    &(commit.messages as i64),
                    &(commit.dead_letters as i64),
                    &commit.rate,
                ],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn stream_records(&self) -> Result<Vec<StreamRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT name, owner_pid, owner_start_ticks, claimed_at, last_commit_at,
                     last_position, last_table_version, last_messages, last_dead_letters,
                     last_rate, messages_total, dead_letters_total, paused, failure_at,
                     failure_reason, failure_retry_at
                 FROM streams ORDER BY name",
                &[],
            )
            .await
            .db()?;
        rows.iter().map(read_stream).collect()
    }

    async fn set_stream_paused(
        &self,
        stream: &str,
        is_paused: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let paused_at = is_paused.then(|| encode_timestamp(now));
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        transaction
            .execute(
                "INSERT INTO streams (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&stream],
            )
            .await
            .db()?;
        let updated = transaction
            .execute(
                "UPDATE streams SET paused = $2, paused_at = $3
                 WHERE name = $1 AND paused IS DISTINCT FROM $2",
                &[&stream, &is_paused, &paused_at],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
        Ok(updated == 1)
    }

    async fn record_stream_failure(
        &self,
        stream: &str,
        failure: Option<&StreamFailure>,
    ) -> Result<(), StoreError> {
        let at = failure.map(|failure| encode_timestamp(failure.at));
        let reason = failure.map(|failure| failure.reason.as_str());
        let retry_at = failure.map(|failure| encode_timestamp(failure.retry_at));
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO streams (name, failure_at, failure_reason, failure_retry_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET
                     failure_at = excluded.failure_at,
                     failure_reason = excluded.failure_reason,
                     failure_retry_at = excluded.failure_retry_at",
                &[&stream, &at, &reason, &retry_at],
            )
            .await
            .db()?;
        Ok(())
    }
}

fn read_stream(row: &Row) -> Result<StreamRecord, StoreError> {
    let last_commit = match row.get::<_, Option<i64>>(4) {
        Some(at) => Some(StreamCommitRecord {
            at: decode_timestamp(at, "streams.last_commit_at")?,
            position: row.get::<_, Option<i64>>(5).unwrap_or_default(),
            table_version: row.get::<_, Option<i64>>(6).unwrap_or(-1),
            messages: row.get::<_, Option<i64>>(7).unwrap_or_default() as u64,
            dead_letters: row.get::<_, Option<i64>>(8).unwrap_or_default() as u64,
            rate: row.get::<_, Option<f64>>(9).unwrap_or_default(),
        }),
        None => None,
    };
    let failure = match row.get::<_, Option<i64>>(13) {
        Some(at) => Some(StreamFailure {
            at: decode_timestamp(at, "streams.failure_at")?,
            reason: row.get::<_, Option<String>>(14).unwrap_or_default(),
            retry_at: decode_timestamp(
                row.get::<_, Option<i64>>(15).unwrap_or(at),
                "streams.failure_retry_at",
            )?,
        }),
        None => None,
    };
    Ok(StreamRecord {
        name: row.get(0),
        owner: decode_process(row.get(1), row.get(2))?,
        claimed_at: row
            .get::<_, Option<i64>>(3)
            .map(|at| decode_timestamp(at, "streams.claimed_at"))
            .transpose()?,
        last_commit,
        messages_total: row.get::<_, i64>(10) as u64,
        dead_letters_total: row.get::<_, i64>(11) as u64,
        is_paused: row.get(12),
        failure,
    })
}
