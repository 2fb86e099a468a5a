//! The change feed's reads. Its rows are written by the triggers of migration 0009, in the
//! transaction of each change; nothing here writes them.

use rusqlite::types::Value;
use rusqlite::{Connection, params};
use tidewater_core::{RunId, TaskName, WorkflowName};
use tidewater_store::{EventFilter, EventPage, EventSeq, FeedChange, FeedEvent, StoreError};

use super::codec::{
    decode_attempt, decode_attempt_step, decode_run_state_kind, decode_task_state_kind,
};
use super::failure::Failure;

/// The newest sequence number ever given (`sqlite_sequence` keeps it even when every event
/// was pruned), and how far events were pruned.
const FEED_BOUNDS: &str = "
    SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
           (SELECT pruned_through FROM event_feed)";

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
    let (latest, pruned_through): (i64, i64) = transaction
        .prepare_cached(FEED_BOUNDS)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    if after.0 < pruned_through || after.0 > latest {
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

pub(super) fn last_event(connection: &Connection) -> Result<EventSeq, Failure> {
    let (latest, _): (i64, i64) = connection
        .prepare_cached(FEED_BOUNDS)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(EventSeq(latest))
}

/// Drops all but the newest `keep` events.
pub(super) fn prune(transaction: &rusqlite::Transaction<'_>, keep: u64) -> Result<(), Failure> {
    let (latest, _): (i64, i64) = transaction
        .prepare_cached(FEED_BOUNDS)?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let through = latest.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX));
    if through <= 0 {
        return Ok(());
    }
    transaction
        .prepare_cached("DELETE FROM events WHERE seq <= ?1")?
        .execute([through])?;
    transaction
        .prepare_cached("UPDATE event_feed SET pruned_through = max(pruned_through, ?1)")?
        .execute(params![through])?;
    Ok(())
}
