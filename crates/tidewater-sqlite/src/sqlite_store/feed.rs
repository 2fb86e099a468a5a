//! The change feed's reads and its pruning. Its rows are written by the triggers of migration
//! 0009, in the transaction of each change.

use rusqlite::Connection;
use rusqlite::types::Value;
use tidewater_core::{RunId, TaskName, WorkflowName};
use tidewater_store::{
    EVENTS_KEPT, EventFilter, EventPage, EventSeq, FeedChange, FeedEvent, StoreError,
};

use super::codec::{
    decode_attempt, decode_attempt_step, decode_run_state_kind, decode_task_state_kind,
};
use super::failure::Failure;

/// The newest sequence number given (0 before the first event: pruning always keeps the
/// newest), and the oldest kept. Two lookups at the ends of the key.
const FEED_BOUNDS: &str = "
    SELECT coalesce((SELECT max(seq) FROM events), 0),
           coalesce((SELECT min(seq) FROM events), 1)";

/// How many events past [`EVENTS_KEPT`] accumulate before they are pruned, so that pruning
/// is one delete of at least this many rows rather than a delete per commit.
const PRUNE_BATCH: u64 = 1_000;

/// One `events` row with its run's workflow, as read.
struct EventRow {
    seq: i64,
    run: i64,
    workflow: String,
    kind: String,
    task: Option<String>,
    attempt: Option<i64>,
    state: String,
    failure_class: Option<String>,
}

impl EventRow {
    fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
        Ok(EventRow {
            seq: row.get(0)?,
            run: row.get(1)?,
            workflow: row.get(2)?,
            kind: row.get(3)?,
            task: row.get(4)?,
            attempt: row.get(5)?,
            state: row.get(6)?,
            failure_class: row.get(7)?,
        })
    }

    fn decode(self) -> Result<FeedEvent, StoreError> {
        let task = |task: Option<String>| {
            task.map(TaskName::new).ok_or(StoreError::Corrupt {
                what: "event task",
                value: "NULL".to_owned(),
            })
        };
        let change = match self.kind.as_str() {
            "run" => FeedChange::Run(decode_run_state_kind(&self.state)?),
            "task" => FeedChange::Task {
                task: task(self.task)?,
                state: decode_task_state_kind(&self.state)?,
            },
            "attempt" => FeedChange::Attempt {
                task: task(self.task)?,
                attempt: decode_attempt(self.attempt.unwrap_or(-1), "event attempt")?,
                step: decode_attempt_step(&self.state, self.failure_class.as_deref())?,
            },
            other => {
                return Err(StoreError::Corrupt {
                    what: "event kind",
                    value: other.to_owned(),
                });
            }
        };
        Ok(FeedEvent {
            seq: EventSeq(self.seq),
            run: RunId(self.run),
            workflow: WorkflowName::new(self.workflow),
            change,
        })
    }
}

/// Reads the feed after `after` in one read transaction, so that the bounds and the rows
/// agree.
pub(super) fn read_events(
    connection: &Connection,
    after: EventSeq,
    filter: &EventFilter,
    limit: u32,
) -> Result<EventPage, Failure> {
    let transaction = connection.unchecked_transaction()?;
    let (latest, oldest): (i64, i64) = bounds(&transaction)?;
    // Kept numbers have no holes: the reader's next one below the oldest was pruned.
    if after.0 + 1 < oldest || after.0 > latest {
        return Ok(EventPage::Reset {
            latest: EventSeq(latest),
        });
    }
    // Only the filters given appear in the statement, as in `list_runs`. The plan walks
    // `events` by its key from `after` and looks each run up by its key.
    let mut conditions = String::new();
    let mut values: Vec<Value> = vec![after.0.into()];
    if let Some(run) = filter.run {
        values.push(run.0.into());
        conditions.push_str(&format!(" AND events.run_id = ?{}", values.len()));
    }
    if let Some(workflow) = &filter.workflow {
        values.push(workflow.as_str().to_owned().into());
        conditions.push_str(&format!(" AND runs.workflow = ?{}", values.len()));
    }
    values.push(i64::from(limit).into());
    let statement = format!(
        "SELECT events.seq, events.run_id, runs.workflow, events.kind, events.task,
                events.attempt, events.state, events.failure_class
         FROM events JOIN runs ON runs.id = events.run_id
         WHERE events.seq > ?1{conditions}
         ORDER BY events.seq LIMIT ?{}",
        values.len()
    );
    let rows = transaction
        .prepare_cached(&statement)?
        .query_map(rusqlite::params_from_iter(&values), EventRow::read)?
        .collect::<Result<Vec<_>, _>>()?;
    // A full page stops at its last event; a short one read everything there was.
    let through = match rows.last() {
        Some(last) if rows.len() == limit as usize => last.seq,
        _ => latest,
    };
    Ok(EventPage::Events {
        events: rows
            .into_iter()
            .map(EventRow::decode)
            .collect::<Result<_, _>>()?,
        through: EventSeq(through),
    })
}

fn bounds(connection: &Connection) -> rusqlite::Result<(i64, i64)> {
    connection
        .prepare_cached(FEED_BOUNDS)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
}

pub(super) fn last_event(connection: &Connection) -> Result<EventSeq, Failure> {
    Ok(EventSeq(bounds(connection)?.0))
}

/// Drops all but the newest `keep` events, and never the newest one: numbers go on from it.
/// One statement, so one transaction.
pub(super) fn prune(connection: &Connection, keep: u64) -> Result<(), Failure> {
    let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
    connection
        .prepare_cached("DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?1")?
        .execute([keep])?;
    Ok(())
}

/// Prunes to [`EVENTS_KEPT`] once [`PRUNE_BATCH`] more have accumulated; called beside the
/// periodic checkpoint of a process that writes. A store that another process holds locked
/// is left for next time.
pub(super) fn prune_if_due(connection: &Connection) -> Result<(), Failure> {
    let (latest, oldest) = bounds(connection)?;
    let kept = u64::try_from(latest - oldest + 1).unwrap_or(0);
    if kept >= EVENTS_KEPT + PRUNE_BATCH {
        prune(connection, EVENTS_KEPT)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    /// Adds `count` events (of a run that need not exist: only the feed's bounds matter).
    fn add_events(connection: &Connection, count: u64) -> rusqlite::Result<()> {
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO events (run_id, kind, state) SELECT 1, 'run', 'queued' FROM n",
            [count as i64],
        )?;
        Ok(())
    }

    // Guards the store's own pruning: the feed stays bounded in a store nobody maintains,
    // in batches, keeping exactly the newest `EVENTS_KEPT`.
    #[tokio::test]
    async fn the_feed_is_pruned_to_the_kept_events_once_a_batch_more_accumulated() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("feed.sqlite"))
            .await
            .expect("open");
        let bounds_after = |count: u64| {
            store.link.call(move |connection| {
                add_events(connection, count)?;
                prune_if_due(connection)?;
                Ok(bounds(connection)?)
            })
        };
        let almost = EVENTS_KEPT + PRUNE_BATCH - 1;
        let (latest, oldest) = bounds_after(almost).await.expect("add events");
        assert_eq!((latest, oldest), (almost as i64, 1), "not yet due");

        let (latest, oldest) = bounds_after(1).await.expect("add events");
        let total = (EVENTS_KEPT + PRUNE_BATCH) as i64;
        assert_eq!(latest, total);
        assert_eq!(
            oldest,
            total - EVENTS_KEPT as i64 + 1,
            "the newest EVENTS_KEPT remain"
        );
    }
}
