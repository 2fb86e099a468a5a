//! The database codec: the one place, for every SQL backend, that turns timestamps, states, outcomes and triggers into
//! column values and back. Each type is encoded by one `match` and decoded by one `match`.
//!
//! The strings are spelled out here rather than borrowed from `name()` or serde so that
//! renaming a variant in the core cannot silently change what is on disk. Decoding never
//! panics: a value this version does not know is [`StoreError::Corrupt`].

use crate::{
    AttemptOffer, AttemptStep, LeaseEpoch, NotificationState, RemoteAttemptId, RemoteAttemptRecord,
    RemoteAttemptState, RunTrigger, StoreError, TokenScope, WorkerId, WorkerRecord,
    WorkerRegistration,
};
use tidewater_core::{
    Attempt, AttemptOutcome, FailureClass, FailureReason, NotificationEvent, ProcessIdentity,
    QueueName, RunId, RunState, RunStateKind, TaskName, TaskState, TaskStateKind, Timestamp,
    WorkflowName,
};

/// Microseconds since the Unix epoch; sub-microsecond digits are dropped.
pub fn encode_timestamp(time: Timestamp) -> i64 {
    time.timestamp_micros()
}

pub fn decode_timestamp(micros: i64, what: &'static str) -> Result<Timestamp, StoreError> {
    Timestamp::from_timestamp_micros(micros).ok_or_else(|| corrupt(what, micros))
}

pub fn encode_trigger(trigger: RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Manual => "manual",
        RunTrigger::Scheduled => "scheduled",
        RunTrigger::Backfill => "backfill",
        RunTrigger::Data => "data",
    }
}

pub fn decode_trigger(text: &str) -> Result<RunTrigger, StoreError> {
    match text {
        "manual" => Ok(RunTrigger::Manual),
        "scheduled" => Ok(RunTrigger::Scheduled),
        "backfill" => Ok(RunTrigger::Backfill),
        "data" => Ok(RunTrigger::Data),
        other => Err(corrupt("run trigger", other)),
    }
}

/// `runs.state`, `runs.started_at`, `runs.finished_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStateColumns<'a> {
    pub state: &'a str,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// The `runs.state` text of a kind of state (what a filter compares with).
pub fn encode_run_state_kind(kind: RunStateKind) -> &'static str {
    match kind {
        RunStateKind::Queued => "queued",
        RunStateKind::Running => "running",
        RunStateKind::Succeeded => "succeeded",
        RunStateKind::Failed => "failed",
        RunStateKind::Cancelled => "cancelled",
    }
}

pub fn encode_run_state(state: &RunState) -> RunStateColumns<'static> {
    let (name, started_at, finished_at) = match state {
        RunState::Queued => ("queued", None, None),
        RunState::Running { started_at } => ("running", Some(*started_at), None),
        RunState::Succeeded {
            started_at,
            finished_at,
        } => ("succeeded", Some(*started_at), Some(*finished_at)),
        RunState::Failed {
            started_at,
            finished_at,
        } => ("failed", Some(*started_at), Some(*finished_at)),
        RunState::Cancelled {
            started_at,
            finished_at,
        } => ("cancelled", Some(*started_at), Some(*finished_at)),
    };
    RunStateColumns {
        state: name,
        started_at: started_at.map(encode_timestamp),
        finished_at: finished_at.map(encode_timestamp),
    }
}

pub fn decode_run_state(columns: RunStateColumns<'_>) -> Result<RunState, StoreError> {
    let state = columns.state;
    let started_at = || {
        decode_timestamp(
            required(columns.started_at, "run started_at", state)?,
            "run started_at",
        )
    };
    let finished_at = || {
        decode_timestamp(
            required(columns.finished_at, "run finished_at", state)?,
            "run finished_at",
        )
    };
    Ok(match state {
        "queued" => RunState::Queued,
        "running" => RunState::Running {
            started_at: started_at()?,
        },
        "succeeded" => RunState::Succeeded {
            started_at: started_at()?,
            finished_at: finished_at()?,
        },
        "failed" => RunState::Failed {
            started_at: started_at()?,
            finished_at: finished_at()?,
        },
        "cancelled" => RunState::Cancelled {
            started_at: started_at()?,
            finished_at: finished_at()?,
        },
        other => return Err(corrupt("run state", other)),
    })
}

/// The state columns of `task_instances`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskStateColumns<'a> {
    pub state: &'a str,
    pub attempt: Option<i64>,
    pub queued_since: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub not_before: Option<i64>,
}

pub fn encode_task_state(state: &TaskState) -> TaskStateColumns<'static> {
    let empty = |name| TaskStateColumns {
        state: name,
        attempt: None,
        queued_since: None,
        started_at: None,
        finished_at: None,
        not_before: None,
    };
    let with_attempt = |name, attempt: &Attempt| TaskStateColumns {
        attempt: Some(i64::from(attempt.0)),
        ..empty(name)
    };
    match state {
        TaskState::Pending => empty("pending"),
        TaskState::Queued { attempt, since } => TaskStateColumns {
            queued_since: Some(encode_timestamp(*since)),
            ..with_attempt("queued", attempt)
        },
        TaskState::Running {
            attempt,
            started_at,
        } => TaskStateColumns {
            started_at: Some(encode_timestamp(*started_at)),
            ..with_attempt("running", attempt)
        },
        TaskState::Succeeded {
            attempt,
            finished_at,
        } => TaskStateColumns {
            finished_at: Some(encode_timestamp(*finished_at)),
            ..with_attempt("succeeded", attempt)
        },
        TaskState::Failed {
            attempt,
            finished_at,
        } => TaskStateColumns {
            finished_at: Some(encode_timestamp(*finished_at)),
            ..with_attempt("failed", attempt)
        },
        TaskState::UpForRetry {
            attempt,
            not_before,
        } => TaskStateColumns {
            not_before: Some(encode_timestamp(*not_before)),
            ..with_attempt("up_for_retry", attempt)
        },
        TaskState::Skipped => empty("skipped"),
        TaskState::UpstreamFailed => empty("upstream_failed"),
        TaskState::Cancelled => empty("cancelled"),
    }
}

pub fn decode_task_state(columns: TaskStateColumns<'_>) -> Result<TaskState, StoreError> {
    let state = columns.state;
    let attempt = || {
        required(columns.attempt, "task attempt", state)
            .and_then(|attempt| decode_attempt(attempt, "task attempt"))
    };
    let time = |value, what| decode_timestamp(required(value, what, state)?, what);
    Ok(match state {
        "pending" => TaskState::Pending,
        "queued" => TaskState::Queued {
            attempt: attempt()?,
            since: time(columns.queued_since, "task queued_since")?,
        },
        "running" => TaskState::Running {
            attempt: attempt()?,
            started_at: time(columns.started_at, "task started_at")?,
        },
        "succeeded" => TaskState::Succeeded {
            attempt: attempt()?,
            finished_at: time(columns.finished_at, "task finished_at")?,
        },
        "failed" => TaskState::Failed {
            attempt: attempt()?,
            finished_at: time(columns.finished_at, "task finished_at")?,
        },
        "up_for_retry" => TaskState::UpForRetry {
            attempt: attempt()?,
            not_before: time(columns.not_before, "task not_before")?,
        },
        "skipped" => TaskState::Skipped,
        "upstream_failed" => TaskState::UpstreamFailed,
        "cancelled" => TaskState::Cancelled,
        other => return Err(corrupt("task state", other)),
    })
}

/// The outcome columns of `attempts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcomeColumns<'a> {
    pub outcome: &'a str,
    /// JSON text of the output.
    pub output: Option<String>,
    pub failure: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub message: Option<String>,
    /// The failure's [`FailureClass`]; NULL in rows written before classes were kept.
    pub failure_class: Option<&'a str>,
}

/// The class of a task error or failure to start recorded before classes were kept: such
/// a failure was then the task's own, retried by its policy.
const UNRECORDED_CLASS: FailureClass = FailureClass::Task;

pub fn encode_outcome(outcome: &AttemptOutcome) -> AttemptOutcomeColumns<'static> {
    let columns = |outcome, failure| AttemptOutcomeColumns {
        outcome,
        output: None,
        failure,
        exit_code: None,
        signal: None,
        message: None,
        failure_class: None,
    };
    let reason = match outcome {
        AttemptOutcome::Succeeded { output, log_error } => {
            return AttemptOutcomeColumns {
                output: output.as_ref().map(encode_json),
                // `message` is free in a success: it says why the log is incomplete.
                message: log_error.clone(),
                ..columns("succeeded", None)
            };
        }
        AttemptOutcome::Failed { reason } => reason,
    };
    let failed = |failure| AttemptOutcomeColumns {
        failure_class: Some(reason.class().as_str()),
        ..columns("failed", Some(failure))
    };
    match reason {
        FailureReason::Exit { code } => AttemptOutcomeColumns {
            exit_code: Some(*code),
            ..failed("exit")
        },
        FailureReason::Signal { signal } => AttemptOutcomeColumns {
            signal: Some(*signal),
            ..failed("signal")
        },
        FailureReason::TimedOut => failed("timed_out"),
        FailureReason::RunTimedOut => failed("run_timed_out"),
        FailureReason::CouldNotStart { message, .. } => AttemptOutcomeColumns {
            message: Some(message.clone()),
            ..failed("could_not_start")
        },
        FailureReason::BadOutput { message } => AttemptOutcomeColumns {
            message: Some(message.clone()),
            ..failed("bad_output")
        },
        FailureReason::TaskError { message, .. } => AttemptOutcomeColumns {
            message: Some(message.clone()),
            ..failed("task_error")
        },
        FailureReason::Bug { message } => AttemptOutcomeColumns {
            message: Some(message.clone()),
            ..failed("bug")
        },
        FailureReason::Lost => failed("lost"),
        FailureReason::Interrupted { message } => AttemptOutcomeColumns {
            message: Some(message.clone()),
            ..failed("interrupted")
        },
        // The count goes in `message`, as decimal text: no other column fits it, and a
        // schema change for one number of a rare outcome is not worth it.
        FailureReason::LostTooOften { times } => AttemptOutcomeColumns {
            message: Some(times.to_string()),
            ..failed("lost_too_often")
        },
        FailureReason::Cancelled => failed("cancelled"),
    }
}

pub fn decode_outcome(columns: AttemptOutcomeColumns<'_>) -> Result<AttemptOutcome, StoreError> {
    let reason = match columns.outcome {
        "succeeded" => {
            let output = columns
                .output
                .map(|text| decode_json(&text, "attempt output"))
                .transpose()?;
            return Ok(AttemptOutcome::Succeeded {
                output,
                log_error: columns.message,
            });
        }
        "failed" => {
            let failure = required(columns.failure, "attempt failure", "failed")?;
            let message = || required(columns.message.clone(), "attempt message", failure);
            // Only the reasons that carry a class read it; the others imply theirs.
            let class = || match columns.failure_class {
                None => Ok(UNRECORDED_CLASS),
                Some(name) => {
                    FailureClass::parse(name).ok_or_else(|| corrupt("attempt failure_class", name))
                }
            };
            match failure {
                "exit" => FailureReason::Exit {
                    code: required(columns.exit_code, "attempt exit_code", failure)?,
                },
                "signal" => FailureReason::Signal {
                    signal: required(columns.signal, "attempt signal", failure)?,
                },
                "timed_out" => FailureReason::TimedOut,
                "run_timed_out" => FailureReason::RunTimedOut,
                "could_not_start" => FailureReason::CouldNotStart {
                    message: message()?,
                    class: class()?,
                },
                "bad_output" => FailureReason::BadOutput {
                    message: message()?,
                },
                "task_error" => FailureReason::TaskError {
                    message: message()?,
                    class: class()?,
                },
                "bug" => FailureReason::Bug {
                    message: message()?,
                },
                "lost" => FailureReason::Lost,
                "interrupted" => FailureReason::Interrupted {
                    message: message()?,
                },
                "lost_too_often" => {
                    let text = message()?;
                    FailureReason::LostTooOften {
                        times: text
                            .parse()
                            .map_err(|_| corrupt("attempt lost_too_often count", text))?,
                    }
                }
                "cancelled" => FailureReason::Cancelled,
                other => return Err(corrupt("attempt failure", other)),
            }
        }
        other => return Err(corrupt("attempt outcome", other)),
    };
    Ok(AttemptOutcome::Failed { reason })
}

/// `start_ticks` is a `u64` and SQLite integers are `i64`: the bits are kept as they are, so
/// every value round-trips (real tick counts are far below `i64::MAX` and stay readable).
pub fn encode_process(process: ProcessIdentity) -> (i32, i64) {
    (process.pid, process.start_ticks as i64)
}

pub fn decode_process(
    pid: Option<i32>,
    start_ticks: Option<i64>,
) -> Result<Option<ProcessIdentity>, StoreError> {
    match (pid, start_ticks) {
        (Some(pid), Some(start_ticks)) => Ok(Some(ProcessIdentity {
            pid,
            start_ticks: start_ticks as u64,
        })),
        (None, None) => Ok(None),
        (pid, start_ticks) => Err(corrupt(
            "process identity",
            format!("pid {pid:?} with start_ticks {start_ticks:?}"),
        )),
    }
}

/// A run's or task's state name in an `events` row (the triggers copy `runs.state` and
/// `task_instances.state`, encoded above).
pub fn decode_run_state_kind(text: &str) -> Result<RunStateKind, StoreError> {
    RunStateKind::ALL
        .into_iter()
        .find(|kind| encode_run_state_kind(*kind) == text)
        .ok_or_else(|| corrupt("run state", text))
}

pub fn decode_task_state_kind(text: &str) -> Result<TaskStateKind, StoreError> {
    match text {
        "pending" => Ok(TaskStateKind::Pending),
        "queued" => Ok(TaskStateKind::Queued),
        "running" => Ok(TaskStateKind::Running),
        "succeeded" => Ok(TaskStateKind::Succeeded),
        "failed" => Ok(TaskStateKind::Failed),
        "up_for_retry" => Ok(TaskStateKind::UpForRetry),
        "skipped" => Ok(TaskStateKind::Skipped),
        "upstream_failed" => Ok(TaskStateKind::UpstreamFailed),
        "cancelled" => Ok(TaskStateKind::Cancelled),
        other => Err(corrupt("task state", other)),
    }
}

/// An attempt event's `state` (`started`, or the `attempts.outcome` it copies) and class.
pub fn decode_attempt_step(
    state: &str,
    failure_class: Option<&str>,
) -> Result<AttemptStep, StoreError> {
    match state {
        "started" => Ok(AttemptStep::Started),
        "succeeded" => Ok(AttemptStep::Succeeded),
        // An attempt recorded before classes were kept (0006) was a task's own failure.
        "failed" => match failure_class {
            None => Ok(AttemptStep::Failed(FailureClass::Task)),
            Some(name) => FailureClass::parse(name)
                .map(AttemptStep::Failed)
                .ok_or_else(|| corrupt("failure class", name)),
        },
        other => Err(corrupt("attempt event", other)),
    }
}

pub fn decode_attempt(value: i64, what: &'static str) -> Result<Attempt, StoreError> {
    decode_count(value, what).map(Attempt)
}

/// Attempt numbers and counters are `u32` in the model.
pub fn decode_count(value: i64, what: &'static str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(what, value))
}

pub fn encode_json(value: &serde_json::Value) -> String {
    value.to_string()
}

pub fn decode_json(text: &str, what: &'static str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what, text))
}

pub fn decode_json_object(
    text: &str,
    what: &'static str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match decode_json(text, what)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(corrupt(what, text)),
    }
}

pub fn encode_notification_event(event: NotificationEvent) -> &'static str {
    match event {
        NotificationEvent::OnFailure => "on_failure",
        NotificationEvent::OnSuccess => "on_success",
        NotificationEvent::OnDeadlineMiss => "on_deadline_miss",
        NotificationEvent::OnRetry => "on_retry",
    }
}

pub fn decode_notification_event(text: &str) -> Result<NotificationEvent, StoreError> {
    NotificationEvent::ALL
        .into_iter()
        .find(|event| encode_notification_event(*event) == text)
        .ok_or_else(|| corrupt("notification event", text))
}

/// `notifications.state` with its `due_at`.
pub fn decode_notification_state(
    state: &str,
    due_at: i64,
) -> Result<NotificationState, StoreError> {
    let at = decode_timestamp(due_at, "notification time")?;
    match state {
        "pending" => Ok(NotificationState::Pending { due: at }),
        "delivered" => Ok(NotificationState::Delivered { at }),
        "failed" => Ok(NotificationState::Failed { at }),
        other => Err(corrupt("notification state", other)),
    }
}

/// A column the state needs is NULL.
pub fn encode_token_scope(scope: TokenScope) -> &'static str {
    match scope {
        TokenScope::Read => "read",
        TokenScope::Operate => "operate",
        TokenScope::Admin => "admin",
        TokenScope::Worker => "worker",
    }
}

pub fn decode_token_scope(text: &str) -> Result<TokenScope, StoreError> {
    match text {
        "read" => Ok(TokenScope::Read),
        "operate" => Ok(TokenScope::Operate),
        "admin" => Ok(TokenScope::Admin),
        "worker" => Ok(TokenScope::Worker),
        other => Err(corrupt("token scope", other)),
    }
}

fn required<T>(value: Option<T>, what: &'static str, state: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(what, format!("missing in state {state}")))
}

/// The columns of a `remote_attempts` row that make its state (migration 0015).
pub struct RemoteAttemptColumns {
    pub state: String,
    pub worker: Option<String>,
    pub epoch: Option<i64>,
    pub expires_at: Option<i64>,
    pub is_stop_requested: bool,
    pub outcome: Option<String>,
    pub ended_at: Option<i64>,
}

pub fn decode_remote_attempt_state(
    columns: RemoteAttemptColumns,
) -> Result<RemoteAttemptState, StoreError> {
    let ended_at = || {
        columns
            .ended_at
            .ok_or_else(|| corrupt("remote attempt end", "NULL"))
            .and_then(|at| decode_timestamp(at, "remote attempt end"))
    };
    let worker = || {
        columns
            .worker
            .clone()
            .map(WorkerId)
            .ok_or_else(|| corrupt("remote attempt worker", "NULL"))
    };
    match columns.state.as_str() {
        "offered" => Ok(RemoteAttemptState::Offered),
        "claimed" => Ok(RemoteAttemptState::Claimed {
            worker: worker()?,
            epoch: LeaseEpoch(
                columns
                    .epoch
                    .ok_or_else(|| corrupt("remote attempt epoch", "NULL"))?,
            ),
            expires_at: decode_timestamp(
                columns
                    .expires_at
                    .ok_or_else(|| corrupt("remote attempt lease", "NULL"))?,
                "remote attempt lease",
            )?,
            is_stop_requested: columns.is_stop_requested,
        }),
        "reported" => {
            let text = columns
                .outcome
                .as_deref()
                .ok_or_else(|| corrupt("remote attempt outcome", "NULL"))?;
            // Serde's JSON, unlike the rest of this file: the outcome waits here only until
            // the server's executor records it in `attempts` (by the codec above), and a
            // server that starts abandons every row it did not offer itself.
            let outcome =
                serde_json::from_str(text).map_err(|_| corrupt("remote attempt outcome", text))?;
            Ok(RemoteAttemptState::Reported {
                worker: worker()?,
                outcome,
                at: ended_at()?,
            })
        }
        "lost" => Ok(RemoteAttemptState::Lost { at: ended_at()? }),
        "withdrawn" => Ok(RemoteAttemptState::Withdrawn { at: ended_at()? }),
        other => Err(corrupt("remote attempt state", other)),
    }
}

/// A reported outcome as `remote_attempts.outcome` keeps it (serde's JSON: see
/// [`decode_remote_attempt_state`]).
pub fn encode_remote_outcome(outcome: &AttemptOutcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|error| StoreError::Backend {
        source: Box::new(error),
    })
}

/// Every column of a `remote_attempts` row, as a backend reads it, before decoding.
pub struct RemoteAttemptRow {
    pub id: i64,
    pub run: i64,
    pub workflow: String,
    pub task: String,
    pub attempt: i64,
    pub queue: String,
    pub workflow_hash: String,
    /// JSON text.
    pub context: String,
    pub offered_at: i64,
    pub state: RemoteAttemptColumns,
}

impl RemoteAttemptRow {
    /// What was offered.
    pub fn offer(&self) -> Result<AttemptOffer, StoreError> {
        Ok(AttemptOffer {
            run: RunId(self.run),
            workflow: WorkflowName::new(self.workflow.as_str()),
            task: TaskName::new(self.task.as_str()),
            attempt: decode_attempt(self.attempt, "remote attempt number")?,
            queue: QueueName::new(self.queue.as_str()),
            workflow_hash: self.workflow_hash.clone(),
            context: decode_json(&self.context, "remote attempt context")?,
            offered_at: decode_timestamp(self.offered_at, "remote attempt offer")?,
        })
    }

    pub fn decode(self) -> Result<RemoteAttemptRecord, StoreError> {
        let offer = self.offer()?;
        Ok(RemoteAttemptRecord {
            id: RemoteAttemptId(self.id),
            offer,
            state: decode_remote_attempt_state(self.state)?,
        })
    }
}

/// `workers.queues`: the names joined by commas (a queue name has no comma).
pub fn encode_queues(queues: &[QueueName]) -> String {
    queues
        .iter()
        .map(QueueName::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// A `workers` row as read, with the count of the leases its worker holds.
pub struct WorkerColumns {
    pub id: String,
    pub queues: String,
    pub slots: i64,
    pub version: String,
    pub first_seen: i64,
    pub last_heartbeat: i64,
    pub slots_in_use: i64,
}

pub fn decode_worker(columns: WorkerColumns) -> Result<WorkerRecord, StoreError> {
    Ok(WorkerRecord {
        registration: WorkerRegistration {
            id: WorkerId(columns.id),
            queues: columns
                .queues
                .split(',')
                .filter(|queue| !queue.is_empty())
                .map(QueueName::new)
                .collect(),
            slots: decode_count(columns.slots, "worker slots")?,
            version: columns.version,
        },
        first_seen: decode_timestamp(columns.first_seen, "worker first seen")?,
        last_heartbeat: decode_timestamp(columns.last_heartbeat, "worker heartbeat")?,
        slots_in_use: decode_count(columns.slots_in_use, "worker slots in use")?,
    })
}

fn corrupt(what: &'static str, value: impl ToString) -> StoreError {
    StoreError::Corrupt {
        what,
        value: value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(second: u32) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, second)
            .single()
            .expect("a valid date")
    }

    #[test]
    fn every_task_state_round_trips_through_its_columns() {
        let attempt = Attempt(3);
        let states = [
            TaskState::Pending,
            TaskState::Queued {
                attempt,
                since: at(1),
            },
            TaskState::Running {
                attempt,
                started_at: at(2),
            },
            TaskState::Succeeded {
                attempt,
                finished_at: at(3),
            },
            TaskState::Failed {
                attempt,
                finished_at: at(4),
            },
            TaskState::UpForRetry {
                attempt,
                not_before: at(5),
            },
            TaskState::Skipped,
            TaskState::UpstreamFailed,
            TaskState::Cancelled,
        ];
        for state in states {
            let decoded = decode_task_state(encode_task_state(&state)).expect("decodes");
            assert_eq!(decoded, state);
        }
    }

    #[test]
    fn every_run_state_round_trips_through_its_columns() {
        let states = [
            RunState::Queued,
            RunState::Running { started_at: at(1) },
            RunState::Succeeded {
                started_at: at(1),
                finished_at: at(2),
            },
            RunState::Failed {
                started_at: at(1),
                finished_at: at(2),
            },
            RunState::Cancelled {
                started_at: at(1),
                finished_at: at(2),
            },
        ];
        for state in states {
            assert_eq!(
                decode_run_state(encode_run_state(&state)).expect("decodes"),
                state
            );
        }
    }

    #[test]
    fn every_outcome_round_trips_through_its_columns() {
        let outcomes = [
            AttemptOutcome::Succeeded {
                output: None,
                log_error: None,
            },
            AttemptOutcome::Succeeded {
                output: None,
                log_error: Some("No space left on device (os error 28)".into()),
            },
            AttemptOutcome::Succeeded {
                output: Some(serde_json::json!({"rows": 3})),
                log_error: None,
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 2 },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Signal { signal: 9 },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::TimedOut,
            },
            AttemptOutcome::Failed {
                reason: FailureReason::RunTimedOut,
            },
            AttemptOutcome::Failed {
                reason: FailureReason::CouldNotStart {
                    message: "no such file".into(),
                    class: FailureClass::Input,
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::BadOutput {
                    message: "not an object".into(),
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::TaskError {
                    message: "SQL error: table raw.x not found".into(),
                    class: FailureClass::Input,
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::TaskError {
                    message: "cannot write: no space left on device".into(),
                    class: FailureClass::Environment,
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Bug {
                    message: "the sql runner ended without reporting".into(),
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Lost,
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Interrupted {
                    message: "database or disk is full".into(),
                },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::LostTooOften { times: 4 },
            },
            AttemptOutcome::Failed {
                reason: FailureReason::Cancelled,
            },
        ];
        for outcome in outcomes {
            assert_eq!(
                decode_outcome(encode_outcome(&outcome)).expect("decodes"),
                outcome
            );
        }
    }

    #[test]
    fn every_trigger_round_trips() {
        for trigger in [
            RunTrigger::Manual,
            RunTrigger::Scheduled,
            RunTrigger::Backfill,
            RunTrigger::Data,
        ] {
            assert_eq!(
                decode_trigger(encode_trigger(trigger)).expect("decodes"),
                trigger
            );
        }
    }

    #[test]
    fn unknown_values_decode_as_corrupt_instead_of_panicking() {
        let unknown_task_state = TaskStateColumns {
            state: "exploded",
            ..encode_task_state(&TaskState::Pending)
        };
        assert!(matches!(
            decode_task_state(unknown_task_state),
            Err(StoreError::Corrupt { what: "task state", value }) if value == "exploded"
        ));
        let running_without_time = TaskStateColumns {
            state: "running",
            attempt: Some(1),
            ..encode_task_state(&TaskState::Pending)
        };
        assert!(matches!(
            decode_task_state(running_without_time),
            Err(StoreError::Corrupt {
                what: "task started_at",
                ..
            })
        ));
        let negative_attempt = TaskStateColumns {
            attempt: Some(-1),
            ..encode_task_state(&TaskState::Running {
                attempt: Attempt(1),
                started_at: at(1),
            })
        };
        assert!(matches!(
            decode_task_state(negative_attempt),
            Err(StoreError::Corrupt {
                what: "task attempt",
                ..
            })
        ));
        assert!(matches!(
            decode_trigger("cron"),
            Err(StoreError::Corrupt {
                what: "run trigger",
                ..
            })
        ));
        assert!(matches!(
            decode_timestamp(i64::MAX, "run created_at"),
            Err(StoreError::Corrupt {
                what: "run created_at",
                ..
            })
        ));
        assert!(matches!(
            decode_process(Some(1), None),
            Err(StoreError::Corrupt {
                what: "process identity",
                ..
            })
        ));
    }

    #[test]
    fn start_ticks_keep_every_bit_of_a_u64() {
        let process = ProcessIdentity {
            pid: 42,
            start_ticks: u64::MAX,
        };
        let (pid, start_ticks) = encode_process(process);
        assert_eq!(
            decode_process(Some(pid), Some(start_ticks)).expect("decodes"),
            Some(process)
        );
    }
}
