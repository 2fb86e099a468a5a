//! [`TaskLog`]: which log a task's attempt has, and why a task that never ran has none.

use std::path::PathBuf;

use tidewater_core::{Attempt, RunId, TaskAction, TaskInstance, TaskName, TaskState, Timestamp};
use tidewater_store::RunRecord;

use crate::Control;
use crate::attempt_log_file::attempt_log_path;
use crate::control_error::{ControlError, ControlResult};
use crate::log_chunk::{LogChunk, LogEnd, read_log_chunk};

/// A task of a run and the attempt whose log is asked for.
#[derive(Debug, Clone)]
pub struct TaskLog {
    pub run: RunRecord,
    pub task: TaskName,
    /// The attempt asked for, else the task's latest; `None` if the task has not started.
    pub attempt: Option<Attempt>,
    /// The attempt still runs (its log may not exist yet, and grows).
    pub is_running: bool,
    /// When the attempt's end was recorded; `None` while it runs (or if it has none).
    pub ended_at: Option<Timestamp>,
}

/// How long after an attempt's end is recorded its log surely has its last lines: they are
/// written just after the end is recorded, off the path from one task to the next (the
/// engine's `settle`), which takes moments; a second leaves room for a loaded machine.
pub const LOG_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

/// An attempt's log as it is at one moment: how long, and whether it is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogExtent {
    pub path: PathBuf,
    /// Its size in bytes when looked at (0 before the attempt wrote its first line); it may
    /// have grown since unless it is complete.
    pub length: u64,
    /// Nothing will be added: the attempt ended at least [`LOG_SETTLE`] ago, or its run has
    /// ended.
    pub is_complete: bool,
}

impl LogExtent {
    /// The log's bytes from `from` up to `until` (excluded; `None`: as far as it goes): whole
    /// lines only while it is not complete, so that a reader who goes on from the chunk's
    /// `next_offset` never gets half a line now and its rest later.
    pub fn read(&self, from: u64, until: Option<u64>) -> ControlResult<LogChunk> {
        let end = if self.is_complete {
            LogEnd::Everything
        } else {
            LogEnd::WholeLines
        };
        let mut chunk = read_log_chunk(&self.path, from, end)?;
        if let Some(until) = until {
            let length = until.saturating_sub(from);
            if (chunk.bytes.len() as u64) > length {
                chunk
                    .bytes
                    .truncate(usize::try_from(length).unwrap_or(usize::MAX));
                chunk.next_offset = from + length;
            }
        }
        Ok(chunk)
    }
}

impl TaskLog {
    /// The log of the attempt asked for as it is now; `None` if the task has no attempt.
    pub fn extent(&self, control: &Control, now: Timestamp) -> ControlResult<Option<LogExtent>> {
        let Some(attempt) = self.attempt else {
            return Ok(None);
        };
        let path = control.log_path(self.run.id, &self.task, attempt);
        let length = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => {
                return Err(ControlError::environment(
                    format!("cannot read the log {}", path.display()),
                    error,
                ));
            }
        };
        let settle = chrono::TimeDelta::from_std(LOG_SETTLE).unwrap_or_default();
        // A run that has ended has no process writing to any of its logs (the logs are
        // settled before its end is recorded), even for an attempt whose end never was.
        let is_complete = self.ended_at.is_some_and(|ended| now - ended >= settle)
            || self.run.state.is_terminal();
        Ok(Some(LogExtent {
            path,
            length,
            is_complete,
        }))
    }
}

impl Control {
    /// The log of `task` of run `id`: of `attempt`, else of the task's latest attempt.
    /// [`ControlError::NotFound`] if the run, the task or the attempt does not exist.
    pub async fn task_log(
        &self,
        id: RunId,
        task: &TaskName,
        attempt: Option<Attempt>,
    ) -> ControlResult<TaskLog> {
        let run = self.run_record(id).await?;
        let instances = self.store.task_instances(run.id).await?;
        if !instances.iter().any(|(name, _)| name == task) {
            let known: Vec<String> = instances.iter().map(|(name, _)| name.to_string()).collect();
            return Err(ControlError::NotFound(format!(
                "run {} has no task `{}` (its tasks: {})",
                run.id,
                task,
                known.join(", ")
            )));
        }
        let attempts = self.store.attempts(run.id, Some(task)).await?;
        let attempt = match attempt {
            Some(number) => {
                if !attempts.iter().any(|record| record.attempt == number) {
                    return Err(ControlError::NotFound(format!(
                        "task `{task}` of run {} has no attempt {number} (it has {})",
                        run.id,
                        attempts.len()
                    )));
                }
                Some(number)
            }
            None => attempts.last().map(|last| last.attempt),
        };
        let record = attempts
            .iter()
            .find(|record| Some(record.attempt) == attempt);
        let is_running = record.is_some_and(|record| record.finished.is_none());
        let ended_at = record.and_then(|record| record.finished.as_ref().map(|(at, _)| *at));
        Ok(TaskLog {
            run,
            task: task.clone(),
            attempt,
            is_running,
            ended_at,
        })
    }

    /// Where an attempt's log is.
    pub fn log_path(&self, run: RunId, task: &TaskName, attempt: Attempt) -> PathBuf {
        attempt_log_path(&self.project.config.state_dir, run, task, attempt)
    }

    /// The whole log of the attempt `log` names. [`ControlError::NotFound`], saying why,
    /// if the task has no attempt (see [`Control::why_no_log`]); empty while a running
    /// attempt has not created its log yet (it is created just after the process starts).
    pub async fn read_task_log(&self, log: &TaskLog) -> ControlResult<Vec<u8>> {
        let Some(attempt) = log.attempt else {
            return Err(ControlError::NotFound(
                self.why_no_log(&log.run, &log.task).await?,
            ));
        };
        let path = self.log_path(log.run.id, &log.task, attempt);
        if log.is_running {
            let LogChunk { bytes, .. } = read_log_chunk(&path, 0, LogEnd::Everything)?;
            return Ok(bytes);
        }
        std::fs::read(&path).map_err(|error| {
            ControlError::environment(format!("cannot read the log {}", path.display()), error)
        })
    }

    /// Why a task that has no attempt has no log, in terms of what happened to it: an
    /// `empty` task succeeds without a process, a task whose upstream failed never ran.
    pub async fn why_no_log(&self, record: &RunRecord, task: &TaskName) -> ControlResult<String> {
        let instances = self.store.task_instances(record.id).await?;
        // The version the run was created with says what kind of task it is and what it
        // needs; should that version no longer parse, the messages do without.
        let pinned = match self.store.workflow_source(record.id).await? {
            Some(source) => self
                .project
                .parse_pinned(record.workflow.as_str(), &source)
                .ok(),
            None => None,
        };
        Ok(why_no_log(
            record,
            task,
            &instances,
            pinned.as_ref().map(|loaded| &loaded.workflow),
        ))
    }
}

fn why_no_log(
    record: &RunRecord,
    task: &TaskName,
    instances: &[(TaskName, TaskInstance)],
    pinned: Option<&tidewater_core::Workflow>,
) -> String {
    let state = instances
        .iter()
        .find(|(name, _)| name == task)
        .map(|(_, instance)| &instance.state);
    let definition = pinned.and_then(|workflow| {
        workflow
            .index_of(task.as_str())
            .map(|index| (workflow, workflow.task(index)))
    });
    match state {
        Some(TaskState::Succeeded { .. })
            if definition.is_some_and(|(_, definition)| definition.action == TaskAction::Empty) =>
        {
            format!("{task} is an `empty` task: it succeeded without a process, so it has no log")
        }
        Some(TaskState::UpstreamFailed) => {
            let failed: Vec<String> = definition
                .map(|(workflow, definition)| {
                    definition
                        .needs
                        .iter()
                        .map(|index| &workflow.task(*index).name)
                        .filter_map(|upstream| {
                            instances
                                .iter()
                                .find(|(name, _)| name == upstream)
                                .filter(|(_, instance)| {
                                    matches!(
                                        instance.state,
                                        TaskState::Failed { .. } | TaskState::UpstreamFailed
                                    )
                                })
                                .map(|(name, instance)| format!("{name} {}", instance.state.name()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if failed.is_empty() {
                format!("{task} did not run: upstream_failed, so it has no log")
            } else {
                format!(
                    "{task} did not run: upstream_failed ({}), so it has no log",
                    failed.join(", ")
                )
            }
        }
        Some(TaskState::Skipped) => {
            format!("{task} did not run: it was skipped, so it has no log")
        }
        Some(TaskState::Cancelled) => format!(
            "{task} did not run: run {} was cancelled before it started, so it has no log",
            record.id
        ),
        _ => format!(
            "{task} of run {} has not started yet, so it has no log",
            record.id
        ),
    }
}
