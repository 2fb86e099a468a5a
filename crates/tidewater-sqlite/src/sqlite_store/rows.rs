//! Rows as SQLite returns them, and their decoding into the store's records through the
//! codec.

use rusqlite::Row;
use tidewater_core::{DataInterval, RunId, TaskInstance, TaskName, WorkflowName};
use tidewater_store::{AttemptRecord, BackfillId, RunRecord, StoreError};

use super::codec::{
    AttemptOutcomeColumns, RunStateColumns, TaskStateColumns, decode_attempt, decode_count,
    decode_json, decode_json_object, decode_outcome, decode_process, decode_run_state,
    decode_task_state, decode_timestamp, decode_trigger,
};

/// `SELECT` of every column a [`RunRow`] needs, then the rest of the statement (a literal:
/// statements are static text).
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
pub(super) use select_runs;

/// A `runs` row as SQLite returns it; [`RunRow::decode`] makes it a [`RunRecord`].
pub(super) struct RunRow {
    id: i64,
    workflow: String,
    interval_start: i64,
    interval_end: i64,
    triggered_by: String,
    params: String,
    state: String,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    workflow_hash: String,
    created_at: i64,
    owner_pid: Option<i32>,
    owner_start_ticks: Option<i64>,
    backfill_id: Option<i64>,
}

impl RunRow {
    /// A row of a [`select_runs`] statement.
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<RunRow> {
        Ok(RunRow {
            id: row.get("id")?,
            workflow: row.get("workflow")?,
            interval_start: row.get("interval_start")?,
            interval_end: row.get("interval_end")?,
            triggered_by: row.get("triggered_by")?,
            params: row.get("params")?,
            state: row.get("state")?,
            started_at: row.get("started_at")?,
            finished_at: row.get("finished_at")?,
            workflow_hash: row.get("workflow_hash")?,
            created_at: row.get("created_at")?,
            owner_pid: row.get("owner_pid")?,
            owner_start_ticks: row.get("owner_start_ticks")?,
            backfill_id: row.get("backfill_id")?,
        })
    }

    pub(super) fn decode(self) -> Result<RunRecord, StoreError> {
        let start = decode_timestamp(self.interval_start, "run interval_start")?;
        let end = decode_timestamp(self.interval_end, "run interval_end")?;
        let interval = DataInterval::new(start, end).ok_or_else(|| StoreError::Corrupt {
            what: "run interval",
            value: format!("{start} to {end}"),
        })?;
        Ok(RunRecord {
            id: RunId(self.id),
            workflow: WorkflowName::new(self.workflow),
            interval,
            trigger: decode_trigger(&self.triggered_by)?,
            params: decode_json_object(&self.params, "run params")?,
            state: decode_run_state(RunStateColumns {
                state: &self.state,
                started_at: self.started_at,
                finished_at: self.finished_at,
            })?,
            workflow_hash: self.workflow_hash,
            created_at: decode_timestamp(self.created_at, "run created_at")?,
            owner: decode_process(self.owner_pid, self.owner_start_ticks)?,
            backfill: self.backfill_id.map(BackfillId),
        })
    }
}

/// A `task_instances` row: `task, state, attempt, queued_since, started_at, finished_at,
/// not_before, last_attempt, attempt_base, output, lost_attempts`.
pub(super) struct TaskInstanceRow {
    task: String,
    state: String,
    attempt: Option<i64>,
    queued_since: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    not_before: Option<i64>,
    last_attempt: i64,
    attempt_base: i64,
    output: Option<String>,
    lost_attempts: i64,
}

impl TaskInstanceRow {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<TaskInstanceRow> {
        Ok(TaskInstanceRow {
            task: row.get(0)?,
            state: row.get(1)?,
            attempt: row.get(2)?,
            queued_since: row.get(3)?,
            started_at: row.get(4)?,
            finished_at: row.get(5)?,
            not_before: row.get(6)?,
            last_attempt: row.get(7)?,
            attempt_base: row.get(8)?,
            output: row.get(9)?,
            lost_attempts: row.get(10)?,
        })
    }

    pub(super) fn decode(self) -> Result<(TaskName, TaskInstance), StoreError> {
        let state = decode_task_state(TaskStateColumns {
            state: &self.state,
            attempt: self.attempt,
            queued_since: self.queued_since,
            started_at: self.started_at,
            finished_at: self.finished_at,
            not_before: self.not_before,
        })?;
        let instance = TaskInstance {
            state,
            last_attempt: decode_count(self.last_attempt, "task last_attempt")?,
            attempt_base: decode_count(self.attempt_base, "task attempt_base")?,
            lost_attempts: decode_count(self.lost_attempts, "task lost_attempts")?,
            output: self
                .output
                .map(|text| decode_json(&text, "task output"))
                .transpose()?,
        };
        Ok((TaskName::new(self.task), instance))
    }
}

/// An `attempts` row: `task, attempt, started_at, pid, start_ticks, finished_at, outcome,
/// output, failure, exit_code, signal, message, failure_class`.
pub(super) struct AttemptRow {
    task: String,
    attempt: i64,
    started_at: i64,
    pid: Option<i32>,
    start_ticks: Option<i64>,
    finished_at: Option<i64>,
    outcome: Option<String>,
    output: Option<String>,
    failure: Option<String>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    message: Option<String>,
    failure_class: Option<String>,
}

impl AttemptRow {
    pub(super) fn read(row: &Row<'_>) -> rusqlite::Result<AttemptRow> {
        Ok(AttemptRow {
            task: row.get(0)?,
            attempt: row.get(1)?,
            started_at: row.get(2)?,
            pid: row.get(3)?,
            start_ticks: row.get(4)?,
            finished_at: row.get(5)?,
            outcome: row.get(6)?,
            output: row.get(7)?,
            failure: row.get(8)?,
            exit_code: row.get(9)?,
            signal: row.get(10)?,
            message: row.get(11)?,
            failure_class: row.get(12)?,
        })
    }

    pub(super) fn decode(self) -> Result<AttemptRecord, StoreError> {
        let finished = match (self.finished_at, &self.outcome) {
            (Some(finished_at), Some(outcome)) => {
                let outcome = decode_outcome(AttemptOutcomeColumns {
                    outcome,
                    output: self.output,
                    failure: self.failure.as_deref(),
                    exit_code: self.exit_code,
                    signal: self.signal,
                    message: self.message,
                    failure_class: self.failure_class.as_deref(),
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
            task: TaskName::new(self.task),
            attempt: decode_attempt(self.attempt, "attempt")?,
            started_at: decode_timestamp(self.started_at, "attempt started_at")?,
            process: decode_process(self.pid, self.start_ticks)?,
            finished,
        })
    }
}
