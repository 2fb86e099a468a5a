//! [`NotificationStore`] for [`PostgresStore`]: the `notifications` outbox.

use std::time::Duration;

use async_trait::async_trait;
use tidewater_core::{
    Attempt, NotificationEvent, NotificationKey, RunId, TaskName, Timestamp, WorkflowName,
};
use tidewater_store::{
    DeliveryOutcome, NotificationId, NotificationRecord, NotificationStore, StoreError,
};
use tokio_postgres::Row;

use super::PostgresStore;
use super::codec::{
    decode_count, decode_notification_event, decode_notification_state, decode_timestamp,
    encode_timestamp,
};
use super::failure::OrStore;

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
impl NotificationStore for PostgresStore {
    async fn claim_notifications(
        &self,
        run: Option<RunId>,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let lease_end = encode_timestamp(
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX),
        );
        let run = run.map(|run| run.0);
        let client = self.pool.get().await?;
        // One statement: the due rows are locked as they are picked (`SKIP LOCKED`: a row
        // another deliverer is claiming right now is its), moved past the lease and returned
        // as the claim left them, so two processes never claim one notification.
        let rows = client
            .query(
                "WITH picked AS (
                     SELECT id, due_at FROM notifications
                     WHERE state = 'pending' AND due_at <= $1
                       AND ($2::BIGINT IS NULL OR run_id = $2)
                     ORDER BY due_at, id LIMIT $3
                     FOR UPDATE SKIP LOCKED),
                 claimed AS (
                     UPDATE notifications SET due_at = $4, deliveries = deliveries + 1
                     FROM picked WHERE notifications.id = picked.id
                     RETURNING notifications.*, picked.due_at AS was_due)
                 SELECT n.id, n.run_id, r.workflow, n.event, n.task, n.attempt, n.created_at,
                        n.state, n.due_at, n.deliveries, n.last_error
                 FROM claimed n JOIN runs r ON r.id = n.run_id
                 ORDER BY n.was_due, n.id",
                &[&encode_timestamp(now), &run, &i64::from(limit), &lease_end],
            )
            .await
            .db()?;
        rows.iter().map(read_notification).collect()
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
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE notifications
                 SET state = $2, due_at = $3, last_error = coalesce($4, last_error)
                 WHERE id = $1 AND state = 'pending'",
                &[&id.0, &state, &encode_timestamp(due_at), &error],
            )
            .await
            .db()?;
        Ok(())
    }

    async fn next_notification_due(
        &self,
        run: Option<RunId>,
    ) -> Result<Option<Timestamp>, StoreError> {
        let run = run.map(|run| run.0);
        let client = self.pool.get().await?;
        let due: Option<i64> = client
            .query_one(
                "SELECT min(due_at) FROM notifications
                 WHERE state = 'pending' AND ($1::BIGINT IS NULL OR run_id = $1)",
                &[&run],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        due.map(|micros| decode_timestamp(micros, "notification time"))
            .transpose()
    }

    async fn run_notifications(&self, run: RunId) -> Result<Vec<NotificationRecord>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                select_notifications!("WHERE n.run_id = $1 ORDER BY n.id"),
                &[&run.0],
            )
            .await
            .db()?;
        rows.iter().map(read_notification).collect()
    }

    async fn notification_failures(
        &self,
    ) -> Result<Vec<(WorkflowName, NotificationEvent, u64)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT r.workflow, n.event, count(*)
                 FROM notifications n JOIN runs r ON r.id = n.run_id
                 WHERE n.state = 'failed'
                 GROUP BY r.workflow, n.event ORDER BY r.workflow, n.event",
                &[],
            )
            .await
            .db()?;
        rows.iter()
            .map(|row| {
                Ok((
                    WorkflowName::new(row.try_get::<_, String>(0).db()?),
                    decode_notification_event(row.try_get(1).db()?)?,
                    u64::try_from(row.try_get::<_, i64>(2).db()?).unwrap_or(0),
                ))
            })
            .collect()
    }
}

fn read_notification(row: &Row) -> Result<NotificationRecord, StoreError> {
    let task: String = row.try_get(4).db()?;
    let retried = if task.is_empty() {
        None
    } else {
        let attempt = Attempt(decode_count(row.try_get(5).db()?, "notification attempt")?);
        Some((TaskName::new(task), attempt))
    };
    Ok(NotificationRecord {
        id: NotificationId(row.try_get(0).db()?),
        run: RunId(row.try_get(1).db()?),
        workflow: WorkflowName::new(row.try_get::<_, String>(2).db()?),
        key: NotificationKey {
            event: decode_notification_event(row.try_get(3).db()?)?,
            retried,
        },
        created_at: decode_timestamp(row.try_get(6).db()?, "notification creation")?,
        state: decode_notification_state(row.try_get(7).db()?, row.try_get(8).db()?)?,
        deliveries: decode_count(row.try_get(9).db()?, "notification deliveries")?,
        last_error: row.try_get(10).db()?,
    })
}
