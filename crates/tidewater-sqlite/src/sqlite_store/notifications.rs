//! [`NotificationStore`] for [`SqliteStore`]: the `notifications` outbox (migration 0012).

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};
use tidewater_core::{
    Attempt, NotificationEvent, NotificationKey, RunId, TaskName, Timestamp, WorkflowName,
};
use tidewater_store::{
    DeliveryOutcome, NotificationId, NotificationRecord, NotificationStore, StoreError,
};

use super::SqliteStore;
use super::codec::{
    decode_count, decode_notification_event, decode_notification_state, decode_timestamp,
    encode_timestamp,
};
use super::failure::Failure;

/// `SELECT` of every column a [`NotificationRow`] needs, then the rest of the statement.
macro_rules! select_notifications {
    ($rest:literal) => {
        concat!(
            "SELECT n.id, n.run_id, r.workflow, n.event, n.task, n.attempt, n.created_at,
                    n.state, n.due_at, n.deliveries, n.last_error
             FROM notifications n JOIN runs r ON r.id = n.run_id ",
            $rest
        )
    };
}

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn claim_notifications(
        &self,
        run: Option<RunId>,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let now_micros = encode_timestamp(now);
        let lease_end = encode_timestamp(
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        );
        let run = run.map(|run| run.0);
        let rows = self
            .link
            .write(|transaction| {
                let rows = read_rows(
                    transaction,
                    select_notifications!(
                        "WHERE n.state = 'pending' AND n.due_at <= ?1
                           AND (?2 IS NULL OR n.run_id = ?2)
                         ORDER BY n.due_at, n.id LIMIT ?3"
                    ),
                    params![now_micros, run, limit],
                )?;
                let mut claim = transaction.prepare_cached(
                    "UPDATE notifications SET due_at = ?2, deliveries = deliveries + 1
                     WHERE id = ?1",
                )?;
                for row in &rows {
                    claim.execute(params![row.id, lease_end])?;
                }
                Ok(rows)
            })
            .await?;
        rows.into_iter()
            .map(|mut row| {
                // As the claim left it.
                row.deliveries += 1;
                row.due_at = lease_end;
                row.decode()
            })
            .collect()
    }

    async fn record_delivery(
        &self,
        id: NotificationId,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let (state, due_at, error) = match outcome {
            DeliveryOutcome::Delivered { at } => ("delivered", *at, None),
            DeliveryOutcome::Failed {
                retry_at: Some(retry_at),
                error,
                ..
            } => ("pending", *retry_at, Some(error.as_str())),
            DeliveryOutcome::Failed {
                at,
                error,
                retry_at: None,
            } => ("failed", *at, Some(error.as_str())),
        };
        self.link
            .call(|connection| {
                connection
                    .prepare_cached(
                        "UPDATE notifications
                         SET state = ?2, due_at = ?3, last_error = coalesce(?4, last_error)
                         WHERE id = ?1 AND state = 'pending'",
                    )?
                    .execute(params![id.0, state, encode_timestamp(due_at), error])?;
                Ok(())
            })
            .await
    }

    async fn next_notification_due(
        &self,
        run: Option<RunId>,
    ) -> Result<Option<Timestamp>, StoreError> {
        let run = run.map(|run| run.0);
        let due: Option<i64> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT min(due_at) FROM notifications
                         WHERE state = 'pending' AND (?1 IS NULL OR run_id = ?1)",
                    )?
                    .query_row([run], |row| row.get(0))?)
            })
            .await?;
        due.map(|micros| decode_timestamp(micros, "notification time"))
            .transpose()
    }

    async fn run_notifications(&self, run: RunId) -> Result<Vec<NotificationRecord>, StoreError> {
        let rows = self
            .link
            .call(|connection| {
                read_rows(
                    connection,
                    select_notifications!("WHERE n.run_id = ?1 ORDER BY n.id"),
                    params![run.0],
                )
            })
            .await?;
        rows.into_iter().map(NotificationRow::decode).collect()
    }

    async fn notification_failures(
        &self,
    ) -> Result<Vec<(WorkflowName, NotificationEvent, u64)>, StoreError> {
        let rows: Vec<(String, String, i64)> = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(
                        "SELECT r.workflow, n.event, count(*)
                         FROM notifications n JOIN runs r ON r.id = n.run_id
                         WHERE n.state = 'failed'
                         GROUP BY r.workflow, n.event ORDER BY r.workflow, n.event",
                    )?
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter()
            .map(|(workflow, event, count)| {
                Ok((
                    WorkflowName::new(workflow),
                    decode_notification_event(&event)?,
                    u64::try_from(count).unwrap_or(0),
                ))
            })
            .collect()
    }
}

fn read_rows(
    connection: &Connection,
    statement: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<NotificationRow>, Failure> {
    Ok(connection
        .prepare_cached(statement)?
        .query_map(parameters, NotificationRow::read)?
        .collect::<Result<Vec<_>, _>>()?)
}

struct NotificationRow {
    id: i64,
    run: i64,
    workflow: String,
    event: String,
    task: String,
    attempt: i64,
    created_at: i64,
    state: String,
    due_at: i64,
    deliveries: i64,
    last_error: Option<String>,
}

impl NotificationRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<NotificationRow> {
        Ok(NotificationRow {
            id: row.get(0)?,
            run: row.get(1)?,
            workflow: row.get(2)?,
            event: row.get(3)?,
            task: row.get(4)?,
            attempt: row.get(5)?,
            created_at: row.get(6)?,
            state: row.get(7)?,
            due_at: row.get(8)?,
            deliveries: row.get(9)?,
            last_error: row.get(10)?,
        })
    }

    fn decode(self) -> Result<NotificationRecord, StoreError> {
        let retried = if self.task.is_empty() {
            None
        } else {
            let attempt = Attempt(decode_count(self.attempt, "notification attempt")?);
            Some((TaskName::new(self.task), attempt))
        };
        Ok(NotificationRecord {
            id: NotificationId(self.id),
            run: RunId(self.run),
            workflow: WorkflowName::new(self.workflow),
            key: NotificationKey {
                event: decode_notification_event(&self.event)?,
                retried,
            },
            created_at: decode_timestamp(self.created_at, "notification creation")?,
            state: decode_notification_state(&self.state, self.due_at)?,
            deliveries: decode_count(self.deliveries, "notification deliveries")?,
            last_error: self.last_error,
        })
    }
}
