//! Rows as PostgreSQL returns them, decoded into the store's records through the codec.

use tidewater_core::{DataInterval, RunId, TaskInstance, TaskName, WorkflowName};
use tidewater_store::{AttemptRecord, BackfillId, RunRecord, StoreError};
use tokio_postgres::Row;

use super::codec::{
    AttemptOutcomeColumns, RunStateColumns, TaskStateColumns, decode_attempt, decode_count,
    decode_json, decode_json_object, decode_outcome, decode_process, decode_run_state,
    decode_task_state, decode_timestamp, decode_trigger,
};
use super::failure::OrStore;

/// `SELECT` of every column [`read_run`] needs, then the rest of the statement.
macro_rules! select_runs {
    ($rest:literal) => {
        concat!(
            "SELECT id, workflow, interval_start, interval_end, triggered_by, params, state,
                    started_at, finished_at, workflow_hash, created_at, owner_pid,
                    owner_start_ticks, backfill_id FROM runs ",
            $rest
        )
    };
}
pub(crate) use select_runs;

/// A row of a [`select_runs`] statement.
pub(crate) fn read_run(row: &Row) -> Result<RunRecord, StoreError> {
    let start = decode_timestamp(row.try_get(2).db()?, "run interval_start")?;
    let end = decode_timestamp(row.try_get(3).db()?, "run interval_end")?;
    let interval = DataInterval::new(start, end).ok_or_else(|| StoreError::Corrupt {
        what: "run interval",
        value: format!("{start} to {end}"),
    })?;
    let triggered_by: &str = row.try_get(4).db()?;
    let params: &str = row.try_get(5).db()?;
    Ok(RunRecord {
        id: RunId(row.try_get(0).db()?),
        workflow: WorkflowName::new(row.try_get::<_, String>(1).db()?),
        interval,
        trigger: decode_trigger(triggered_by)?,
        params: decode_json_object(params, "run params")?,
        state: decode_run_state(RunStateColumns {
            state: row.try_get(6).db()?,
            started_at: row.try_get(7).db()?,
            finished_at: row.try_get(8).db()?,
        })?,
        workflow_hash: row.try_get(9).db()?,
        created_at: decode_timestamp(row.try_get(10).db()?, "run created_at")?,
        owner: decode_process(row.try_get(11).db()?, row.try_get(12).db()?)?,
        backfill: row.try_get::<_, Option<i64>>(13).db()?.map(BackfillId),
    })
}

/// A `task_instances` row: `task, state, attempt, queued_since, started_at, finished_at,
/// not_before, last_attempt, attempt_base, output, lost_attempts`.
pub(crate) fn read_task_instance(row: &Row) -> Result<(TaskName, TaskInstance), StoreError> {
    let state = decode_task_state(TaskStateColumns {
        state: row.try_get(1).db()?,
        attempt: row.try_get(2).db()?,
        queued_since: row.try_get(3).db()?,
        started_at: row.try_get(4).db()?,
        finished_at: row.try_get(5).db()?,
        not_before: row.try_get(6).db()?,
    })?;
    let output: Option<&str> = row.try_get(9).db()?;
    let instance = TaskInstance {
        state,
        last_attempt: decode_count(row.try_get(7).db()?, "task last_attempt")?,
        attempt_base: decode_count(row.try_get(8).db()?, "task attempt_base")?,
        lost_attempts: decode_count(row.try_get(10).db()?, "task lost_attempts")?,
        output: output
            .map(|text| decode_json(text, "task output"))
            .transpose()?,
    };
    Ok((TaskName::new(row.try_get::<_, String>(0).db()?), instance))
}

/// An `attempts` row: `task, attempt, started_at, pid, start_ticks, finished_at, outcome,
/// output, failure, exit_code, signal, message, failure_class`.
pub(crate) fn read_attempt(row: &Row) -> Result<AttemptRecord, StoreError> {
    let finished_at: Option<i64> = row.try_get(5).db()?;
    let outcome: Option<&str> = row.try_get(6).db()?;
    let finished = match (finished_at, outcome) {
        (Some(finished_at), Some(outcome)) => {
            let outcome = decode_outcome(AttemptOutcomeColumns {
                outcome,
                output: row.try_get(7).db()?,
                failure: row.try_get(8).db()?,
                exit_code: row.try_get(9).db()?,
                signal: row.try_get(10).db()?,
                message: row.try_get(11).db()?,
                failure_class: row.try_get(12).db()?,
            })?;
            Some((
                decode_timestamp(finished_at, "attempt finished_at")?,
                outcome,
            ))
        }
        (None, None) => None,
        (finished_at, outcome) => {
            return Err(StoreError::Corrupt {
                what: "attempt end",
                value: format!("finished_at {finished_at:?} with outcome {outcome:?}"),
            });
        }
    };
    Ok(AttemptRecord {
        task: TaskName::new(row.try_get::<_, String>(0).db()?),
        attempt: decode_attempt(row.try_get(1).db()?, "attempt")?,
        started_at: decode_timestamp(row.try_get(2).db()?, "attempt started_at")?,
        process: decode_process(row.try_get(3).db()?, row.try_get(4).db()?)?,
        finished,
    })
}
