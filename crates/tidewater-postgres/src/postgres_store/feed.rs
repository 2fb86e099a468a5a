//! The change feed's reads and its pruning. Its rows are written by the triggers of
//! `migrations/0001_schema.sql`, in the transaction of each change, in commit order.

use tidewater_core::{RunId, TaskName, WorkflowName};
use tidewater_store::{
    EVENTS_KEPT, EventFilter, EventPage, EventSeq, FeedChange, FeedEvent, StoreError,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, IsolationLevel, Row};

use super::codec::{
    decode_attempt, decode_attempt_step, decode_run_state_kind, decode_task_state_kind,
};
use super::failure::OrStore;

/// The newest sequence number given (0 before the first event: pruning always keeps the
/// newest), and the oldest kept.
const FEED_BOUNDS: &str = "
    SELECT coalesce((SELECT max(seq) FROM events), 0),
           coalesce((SELECT min(seq) FROM events), 1)";

/// How many events past [`EVENTS_KEPT`] accumulate before they are pruned (SQLite's figure).
const PRUNE_BATCH: u64 = 1_000;

fn read_event(row: &Row) -> Result<FeedEvent, StoreError> {
    let task = |task: Option<String>| {
        task.map(TaskName::new).ok_or(StoreError::Corrupt {
            what: "event task",
            value: "NULL".to_owned(),
        })
    };
    let kind: &str = row.try_get(3).db()?;
    let state: &str = row.try_get(6).db()?;
    let change = match kind {
        "run" => FeedChange::Run(decode_run_state_kind(state)?),
        "task" => FeedChange::Task {
            task: task(row.try_get(4).db()?)?,
            state: decode_task_state_kind(state)?,
        },
        "attempt" => FeedChange::Attempt {
            task: task(row.try_get(4).db()?)?,
            attempt: decode_attempt(
                row.try_get::<_, Option<i64>>(5).db()?.unwrap_or(-1),
                "event attempt",
            )?,
            step: decode_attempt_step(state, row.try_get(7).db()?)?,
        },
        other => {
            return Err(StoreError::Corrupt {
                what: "event kind",
                value: other.to_owned(),
            });
        }
    };
    Ok(FeedEvent {
        seq: EventSeq(row.try_get(0).db()?),
        run: RunId(row.try_get(1).db()?),
        workflow: WorkflowName::new(row.try_get::<_, String>(2).db()?),
        change,
    })
}

/// Reads the feed after `after` in one snapshot, so that the bounds and the rows agree.
pub(super) async fn read_events(
    client: &mut Client,
    after: EventSeq,
    filter: &EventFilter,
    limit: u32,
) -> Result<EventPage, StoreError> {
    let transaction = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .db()?;
    let (latest, oldest) = bounds(&transaction).await?;
    // A rolled-back transaction leaves a hole in the numbers, so "below the oldest kept" is
    // what tells a pruned reader, as in SQLite; holes inside the kept range are harmless.
    if after.0 + 1 < oldest || after.0 > latest {
        return Ok(EventPage::Reset {
            latest: EventSeq(latest),
        });
    }
    let mut conditions = String::new();
    let run = filter.run.map(|run| run.0);
    let workflow = filter.workflow.as_ref().map(|workflow| workflow.as_str());
    let limit = i64::from(limit);
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&after.0];
    if let Some(run) = &run {
        values.push(run);
        conditions.push_str(&format!(" AND events.run_id = ${}", values.len()));
    }
    if let Some(workflow) = &workflow {
        values.push(workflow);
        conditions.push_str(&format!(" AND runs.workflow = ${}", values.len()));
    }
    values.push(&limit);
    let statement = format!(
        "SELECT events.seq, events.run_id, runs.workflow, events.kind, events.task,
                events.attempt, events.state, events.failure_class
         FROM events JOIN runs ON runs.id = events.run_id
         WHERE events.seq > $1{conditions}
         ORDER BY events.seq LIMIT ${}",
        values.len()
    );
    let rows = transaction.query(&statement, &values).await.db()?;
    transaction.commit().await.db()?;
    let through = match rows.last() {
        Some(last) if rows.len() as i64 == limit => last.try_get(0).db()?,
        _ => latest,
    };
    Ok(EventPage::Events {
        events: rows.iter().map(read_event).collect::<Result<_, _>>()?,
        through: EventSeq(through),
    })
}

async fn bounds(client: &impl GenericClient) -> Result<(i64, i64), StoreError> {
    let row = client.query_one(FEED_BOUNDS, &[]).await.db()?;
    Ok((row.try_get(0).db()?, row.try_get(1).db()?))
}

pub(super) async fn last_event(client: &impl GenericClient) -> Result<EventSeq, StoreError> {
    Ok(EventSeq(bounds(client).await?.0))
}

/// Drops all but the newest `keep` events, and never the newest one.
pub(super) async fn prune(client: &impl GenericClient, keep: u64) -> Result<(), StoreError> {
    let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
    client
        .execute(
            "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - $1",
            &[&keep],
        )
        .await
        .db()?;
    Ok(())
}

/// Prunes to [`EVENTS_KEPT`] once [`PRUNE_BATCH`] more have accumulated.
pub(super) async fn prune_if_due(client: &impl GenericClient) -> Result<(), StoreError> {
    let (latest, oldest) = bounds(client).await?;
    let kept = u64::try_from(latest - oldest + 1).unwrap_or(0);
    if kept >= EVENTS_KEPT + PRUNE_BATCH {
        prune(client, EVENTS_KEPT).await?;
    }
    Ok(())
}
