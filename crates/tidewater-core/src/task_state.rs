use serde::{Deserialize, Serialize};

use crate::{Attempt, Timestamp};

/// The state of one task instance, with the data that is valid in that state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its upstream tasks.
    Pending,
    /// Ready; waiting for the task queue to admit `attempt`.
    Queued {
        attempt: Attempt,
        since: Timestamp,
    },
    Running {
        attempt: Attempt,
        started_at: Timestamp,
    },
    Succeeded {
        attempt: Attempt,
        finished_at: Timestamp,
    },
    Failed {
        attempt: Attempt,
        finished_at: Timestamp,
    },
    /// `attempt` failed; the next one is queued at `not_before`.
    UpForRetry {
        attempt: Attempt,
        not_before: Timestamp,
    },
    /// Its trigger rule said it should not run.
    Skipped,
    /// It cannot run because an upstream failed, or because the run timed out before it
    /// could start.
    UpstreamFailed,
    Cancelled,
}

/// A task state without its data: what the store's change feed records of a task's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStateKind {
    Pending,
    Queued,
    Running,
    Succeeded,
    Failed,
    UpForRetry,
    Skipped,
    UpstreamFailed,
    Cancelled,
}

impl TaskStateKind {
    pub const ALL: [TaskStateKind; 9] = [
        TaskStateKind::Pending,
        TaskStateKind::Queued,
        TaskStateKind::Running,
        TaskStateKind::Succeeded,
        TaskStateKind::Failed,
        TaskStateKind::UpForRetry,
        TaskStateKind::Skipped,
        TaskStateKind::UpstreamFailed,
        TaskStateKind::Cancelled,
    ];

    /// The name `status` prints, the store keeps and the API shows.
    pub fn name(self) -> &'static str {
        match self {
            TaskStateKind::Pending => "pending",
            TaskStateKind::Queued => "queued",
            TaskStateKind::Running => "running",
            TaskStateKind::Succeeded => "succeeded",
            TaskStateKind::Failed => "failed",
            TaskStateKind::UpForRetry => "up_for_retry",
            TaskStateKind::Skipped => "skipped",
            TaskStateKind::UpstreamFailed => "upstream_failed",
            TaskStateKind::Cancelled => "cancelled",
        }
    }

    /// The kind named `name` by [`TaskStateKind::name`].
    pub fn parse(name: &str) -> Option<TaskStateKind> {
        TaskStateKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

impl TaskState {
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    pub fn kind(&self) -> TaskStateKind {
        match self {
            TaskState::Pending => TaskStateKind::Pending,
            TaskState::Queued { .. } => TaskStateKind::Queued,
            TaskState::Running { .. } => TaskStateKind::Running,
            TaskState::Succeeded { .. } => TaskStateKind::Succeeded,
            TaskState::Failed { .. } => TaskStateKind::Failed,
            TaskState::UpForRetry { .. } => TaskStateKind::UpForRetry,
            TaskState::Skipped => TaskStateKind::Skipped,
            TaskState::UpstreamFailed => TaskStateKind::UpstreamFailed,
            TaskState::Cancelled => TaskStateKind::Cancelled,
        }
    }

    /// A terminal state changes only when a user resets the task (retry, clear).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskState::Succeeded { .. }
                | TaskState::Failed { .. }
                | TaskState::Skipped
                | TaskState::UpstreamFailed
                | TaskState::Cancelled
        )
    }

    /// Whether `retry` (and a queued run resuming, which is how the service retries) runs
    /// the task again. The set is every state that is not a success and not in progress:
    /// - `Failed`: what a retry is for.
    /// - `UpstreamFailed`: it never ran because an upstream failed; that upstream runs again.
    /// - `Cancelled`: stopped before it finished (a `cancel`, a service shutting down).
    /// - `Skipped`: its trigger rule decided on upstream outcomes that the retry changes
    ///   (a step skipped by `all_failed`, a handler skipped because the run ended the other
    ///   way); it is decided again.
    /// - `UpForRetry`: it was waiting to be tried again when the run stopped; it gets a fresh
    ///   try budget instead of the rest of the old one.
    ///
    /// `Succeeded` stays (its output is kept; `clear` runs it again on request), and the
    /// states of a task not yet done (`Pending`, `Queued`, `Running`) go on as they are.
    pub fn is_reset_by_retry(&self) -> bool {
        match self {
            TaskState::Failed { .. }
            | TaskState::UpstreamFailed
            | TaskState::Cancelled
            | TaskState::Skipped
            | TaskState::UpForRetry { .. } => true,
            TaskState::Pending
            | TaskState::Queued { .. }
            | TaskState::Running { .. }
            | TaskState::Succeeded { .. } => false,
        }
    }
}
