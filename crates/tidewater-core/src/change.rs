use serde::{Deserialize, Serialize};

use crate::run_view::TaskInstance;
use crate::{Attempt, FailureClass, NotificationKey, RunState, TaskIndex, TaskName, Timestamp};

/// One durable change to a run's record. The engine persists the changes of a decision in
/// one transaction before it performs the decision's actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Run(RunState),
    /// The full new record of a task instance.
    Task {
        task: TaskName,
        instance: TaskInstance,
    },
    AttemptStarted {
        task: TaskName,
        attempt: Attempt,
        started_at: Timestamp,
    },
    /// The process an attempt runs in, so that it can be found and killed after a crash.
    AttemptProcess {
        task: TaskName,
        attempt: Attempt,
        process: ProcessIdentity,
    },
    AttemptFinished {
        task: TaskName,
        attempt: Attempt,
        finished_at: Timestamp,
        outcome: AttemptOutcome,
    },
    /// A webhook of the workflow is due: recorded in the store's outbox in the same
    /// transaction as the change that explains it, delivered (with retries) after it.
    /// Recording the same key twice keeps the first.
    Notify {
        key: NotificationKey,
        at: Timestamp,
    },
}

/// Something the engine must do once the changes that led to it are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start `attempt` of a task (its state is already `Running`).
    Start { task: TaskIndex, attempt: Attempt },
    /// Stop a running attempt; it reports back as `Failed(Cancelled)`. May be given again
    /// for the same attempt (a run past its `timeout` asks at every decision until the
    /// attempt reports), so stopping must be idempotent.
    Kill { task: TaskIndex, attempt: Attempt },
}

/// A process, identified robustly: a pid can be reused, a pid with its start time cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// Also the process group id: every task runs in a group of its own.
    pub pid: i32,
    /// Start time in clock ticks since boot (`/proc/PID/stat`, field 22).
    pub start_ticks: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Succeeded {
        /// What the task wrote to `$TIDEWATER_OUTPUT`, if anything.
        output: Option<serde_json::Value>,
        /// Why the attempt's log is incomplete, if it is: a write to it failed (a full disk,
        /// say). The task's outcome stands; its log does not show all of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log_error: Option<String>,
    },
    Failed {
        reason: FailureReason,
    },
}

impl AttemptOutcome {
    /// Notes on a success that its log is incomplete, when writing it met `log_error`. A
    /// failure already says the attempt did not go well, and keeps its reason.
    pub fn with_log_error(self, log_error: Option<String>) -> AttemptOutcome {
        match self {
            AttemptOutcome::Succeeded { output, .. } => {
                AttemptOutcome::Succeeded { output, log_error }
            }
            failed => failed,
        }
    }
}

/// Why an attempt failed, in terms a user can act on; [`FailureReason::class`] says who
/// must act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FailureReason {
    /// The command exited with a non-zero status.
    Exit { code: i32 },
    /// The command was killed by a signal it was not sent by Tidewater.
    Signal { signal: i32 },
    /// It ran longer than its `timeout`; its process group was killed.
    TimedOut,
    /// It was still running when the run's `timeout` passed; its process group was killed
    /// and it is not retried.
    RunTimedOut,
    /// The command could not be started (or its template could not be rendered); `class`
    /// says whose doing that was (a template error is the input's, a full disk the
    /// environment's).
    CouldNotStart {
        message: String,
        class: FailureClass,
    },
    /// It wrote something to `$TIDEWATER_OUTPUT` that is not a JSON object.
    BadOutput { message: String },
    /// The task itself reported an error (e.g. a SQL task's query failed); `class` is the
    /// runner's judgement of who must act (an unknown column is the input's).
    TaskError {
        message: String,
        class: FailureClass,
    },
    /// The runner ended the attempt without reporting an outcome (it panicked, say): a bug
    /// in Tidewater. Unlike a lost attempt it uses up one of the task's `retries`: a bug
    /// that recurs whenever the task runs must not loop.
    Bug { message: String },
    /// The process that supervised it died (crash or SIGKILL); found on recovery.
    Lost,
    /// The process that supervised it stopped it because it could not record the run's
    /// progress (e.g. the disk was full); `message` is the error it met.
    Interrupted { message: String },
    /// Lost (or interrupted) `times` times, the last time included: Tidewater keeps dying
    /// or failing while this task runs, so it is not tried again.
    LostTooOften { times: u32 },
    /// Stopped on request.
    Cancelled,
}

impl FailureReason {
    /// Who must act on this failure; the one place that says it for each reason.
    pub fn class(&self) -> FailureClass {
        match self {
            FailureReason::Exit { .. }
            | FailureReason::Signal { .. }
            | FailureReason::BadOutput { .. } => FailureClass::Task,
            FailureReason::TimedOut | FailureReason::RunTimedOut => FailureClass::Timeout,
            FailureReason::CouldNotStart { class, .. } | FailureReason::TaskError { class, .. } => {
                *class
            }
            FailureReason::Bug { .. } => FailureClass::Bug,
            FailureReason::Lost
            | FailureReason::Interrupted { .. }
            | FailureReason::LostTooOften { .. } => FailureClass::Environment,
            FailureReason::Cancelled => FailureClass::Cancelled,
        }
    }

    /// Whether the attempt ended because Tidewater stopped supervising it, not because of
    /// anything the task did: such an attempt does not use up the task's `retries`.
    pub fn is_lost(&self) -> bool {
        matches!(
            self,
            FailureReason::Lost | FailureReason::Interrupted { .. }
        )
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureReason::Exit { code } => write!(f, "exited with status {code}"),
            FailureReason::Signal { signal } => write!(f, "killed by signal {signal}"),
            FailureReason::TimedOut => f.write_str("timed out"),
            FailureReason::RunTimedOut => f.write_str("stopped: the run's timeout passed"),
            FailureReason::CouldNotStart { message, .. } => {
                write!(f, "could not start: {message}")
            }
            FailureReason::BadOutput { message } => write!(f, "bad output: {message}"),
            FailureReason::TaskError { message, .. } | FailureReason::Bug { message } => {
                f.write_str(message)
            }
            FailureReason::Lost => f.write_str("lost: the supervising process died"),
            FailureReason::Interrupted { message } => {
                write!(
                    f,
                    "interrupted: tidewater could not record the run: {message}"
                )
            }
            FailureReason::LostTooOften { times } => write!(
                f,
                "lost {times} times (tidewater died or stopped while it ran each time); \
                 not tried again"
            ),
            FailureReason::Cancelled => f.write_str("cancelled"),
        }
    }
}
