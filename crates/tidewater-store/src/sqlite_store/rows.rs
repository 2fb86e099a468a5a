//! Rows as SQLite returns them, and their decoding into the store's records through the
//! codec.

use tidewater_core::{DataInterval, RunId, TaskInstance, TaskName, WorkflowName};

use super::codec::{
    AttemptOutcomeColumns, RunStateColumns, TaskStateColumns, decode_attempt, decode_count,
    decode_json, decode_json_object, decode_outcome, decode_process, decode_run_state,
    decode_task_state, decode_timestamp, decode_trigger,
};
use crate::{AttemptRecord, BackfillId, RunRecord, StoreError};

/// A `runs` row as SQLite returns it; [`RunRow::decode`] makes it a [`RunRecord`].
#[derive(sqlx::FromRow)]
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

#[derive(sqlx::FromRow)]
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
}

impl TaskInstanceRow {
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
            output: self
                .output
                .map(|text| decode_json(&text, "task output"))
                .transpose()?,
        };
        Ok((TaskName::new(self.task), instance))
    }
}

#[derive(sqlx::FromRow)]
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
}

impl AttemptRow {
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
