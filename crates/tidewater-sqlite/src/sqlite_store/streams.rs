//! [`StreamStore`] for [`SqliteStore`]: the `streams` table of migrations 0014 and 0016.

use async_trait::async_trait;
use rusqlite::params;
use tidewater_core::{ProcessIdentity, Timestamp};
use tidewater_store::{
    StoreError, StreamCommitRecord, StreamFailure, StreamOwnerClaim, StreamRecord, StreamStore,
};

use super::SqliteStore;
use super::codec::{decode_process, decode_timestamp, encode_process, encode_timestamp};

#[async_trait]
impl StreamStore for SqliteStore {
    async fn claim_stream_owner(
        &self,
        stream: &str,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
        now: Timestamp,
    ) -> Result<StreamOwnerClaim, StoreError> {
        let (expected_pid, expected_ticks) = expected.map(encode_process).unzip();
        let (owner_pid, owner_ticks) = owner.map(encode_process).unzip();
        let now = encode_timestamp(now);
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO streams (name) VALUES (?1) ON CONFLICT DO NOTHING",
                    )?
                    .execute([stream])?;
                // `IS` rather than `=`: it compares NULL (no owner) as a value.
                let updated = transaction
                    .prepare_cached(
                        "UPDATE streams SET owner_pid = ?2, owner_start_ticks = ?3, claimed_at = ?6
                         WHERE name = ?1 AND owner_pid IS ?4 AND owner_start_ticks IS ?5",
                    )?
                    .execute(params![
                        stream,
                        owner_pid,
                        owner_ticks,
                        expected_pid,
                        expected_ticks,
                        owner.map(|_| now),
                    ])?;
                if updated == 1 {
                    return Ok(StreamOwnerClaim::Claimed);
                }
                // Read inside the same transaction: this is the owner that refused the claim.
                let (pid, start_ticks): (Option<i32>, Option<i64>) = transaction
                    .prepare_cached(
                        "SELECT owner_pid, owner_start_ticks FROM streams WHERE name = ?1",
                    )?
                    .query_row([stream], |row| Ok((row.get(0)?, row.get(1)?)))?;
                Ok(StreamOwnerClaim::Held(decode_process(pid, start_ticks)?))
            })
            .await
    }

    async fn record_stream_commit(
        &self,
        stream: &str,
        commit: &StreamCommitRecord,
    ) -> Result<(), StoreError> {
        let at = encode_timestamp(commit.at);
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO streams (name, last_commit_at, last_position,
                             last_table_version, last_messages, last_dead_letters, last_rate,
                             messages_total, dead_letters_total)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?6)
                         ON CONFLICT (name) DO UPDATE SET
                             last_commit_at = excluded.last_commit_at,
                             last_position = excluded.last_position,
                             last_table_version = excluded.last_table_version,
                             last_messages = excluded.last_messages,
                             last_dead_letters = excluded.last_dead_letters,
                             last_rate = excluded.last_rate,
                             messages_total = messages_total + excluded.last_messages,
                             dead_letters_total = dead_letters_total + excluded.last_dead_letters",
                    )?
                    .execute(params![
                        stream,
                        at,
                        commit.position,
                        commit.table_version,
                        commit.messages as i64,
                        commit.dead_letters as i64,
                        commit.rate,
                    ])?;
                Ok(())
            })
            .await
    }

    async fn stream_records(&self) -> Result<Vec<StreamRecord>, StoreError> {
        let rows: Vec<StreamRow> = self
            .link
            .call(|connection| {
                let mut statement = connection.prepare_cached(
                    "SELECT name, owner_pid, owner_start_ticks, claimed_at, last_commit_at,
                         last_position, last_table_version, last_messages, last_dead_letters,
                         last_rate, messages_total, dead_letters_total, paused, failure_at,
                         failure_reason, failure_retry_at
                     FROM streams ORDER BY name",
                )?;
                let rows = statement
                    .query_map([], |row| {
                        let last_commit_at: Option<i64> = row.get(4)?;
                        let last = match last_commit_at {
                            Some(at) => Some((
                                at,
                                row.get(5)?,
                                row.get(6)?,
                                row.get(7)?,
                                row.get(8)?,
                                row.get(9)?,
                            )),
                            None => None,
                        };
                        let failure_at: Option<i64> = row.get(13)?;
                        let failure = match failure_at {
                            Some(at) => Some((at, row.get(14)?, row.get(15)?)),
                            None => None,
                        };
                        Ok(StreamRow {
                            name: row.get(0)?,
                            pid: row.get(1)?,
                            ticks: row.get(2)?,
                            claimed_at: row.get(3)?,
                            last,
                            messages_total: row.get(10)?,
                            dead_letters_total: row.get(11)?,
                            is_paused: row.get(12)?,
                            failure,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(StreamRow::decode).collect()
    }

    async fn set_stream_paused(
        &self,
        stream: &str,
        is_paused: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = encode_timestamp(now);
        self.link
            .write(|transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO streams (name) VALUES (?1) ON CONFLICT DO NOTHING",
                    )?
                    .execute([stream])?;
                let updated = transaction
                    .prepare_cached(
                        "UPDATE streams SET paused = ?2, paused_at = ?3
                         WHERE name = ?1 AND paused IS NOT ?2",
                    )?
                    .execute(params![stream, is_paused, is_paused.then_some(now)])?;
                Ok(updated == 1)
            })
            .await
    }

    async fn record_stream_failure(
        &self,
        stream: &str,
        failure: Option<&StreamFailure>,
    ) -> Result<(), StoreError> {
        let at = failure.map(|failure| encode_timestamp(failure.at));
        let reason = failure.map(|failure| failure.reason.clone());
        let retry_at = failure.map(|failure| encode_timestamp(failure.retry_at));
        self.link
            .write(move |transaction| {
                transaction
                    .prepare_cached(
                        "INSERT INTO streams (name, failure_at, failure_reason, failure_retry_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (name) DO UPDATE SET
                             failure_at = excluded.failure_at,
                             failure_reason = excluded.failure_reason,
                             failure_retry_at = excluded.failure_retry_at",
                    )?
                    .execute(params![stream, at, reason, retry_at])?;
                Ok(())
            })
            .await
    }
}

/// One row of `streams`, as read, before its columns are decoded.
struct StreamRow {
    name: String,
    pid: Option<i32>,
    ticks: Option<i64>,
    claimed_at: Option<i64>,
    last: Option<(i64, i64, i64, i64, i64, f64)>,
    messages_total: i64,
    dead_letters_total: i64,
    is_paused: bool,
    failure: Option<(i64, String, i64)>,
}

impl StreamRow {
    fn decode(self) -> Result<StreamRecord, StoreError> {
        let last_commit = match self.last {
            Some((at, position, table_version, messages, dead_letters, rate)) => {
                Some(StreamCommitRecord {
                    at: decode_timestamp(at, "streams.last_commit_at")?,
                    position,
                    table_version,
                    messages: messages as u64,
                    dead_letters: dead_letters as u64,
                    rate,
                })
            }
            None => None,
        };
        let failure = match self.failure {
            Some((at, reason, retry_at)) => Some(StreamFailure {
                at: decode_timestamp(at, "streams.failure_at")?,
                reason,
                retry_at: decode_timestamp(retry_at, "streams.failure_retry_at")?,
            }),
            None => None,
        };
        Ok(StreamRecord {
            name: self.name,
            owner: decode_process(self.pid, self.ticks)?,
            claimed_at: self
                .claimed_at
                .map(|at| decode_timestamp(at, "streams.claimed_at"))
                .transpose()?,
            last_commit,
            messages_total: self.messages_total as u64,
            dead_letters_total: self.dead_letters_total as u64,
            is_paused: self.is_paused,
            failure,
        })
    }
}
