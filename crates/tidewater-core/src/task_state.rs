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

impl TaskState {
    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued { .. } => "queued",
            TaskState::Running { .. } => "running",
            TaskState::Succeeded { .. } => "succeeded",
            TaskState::Failed { .. } => "failed",
            TaskState::UpForRetry { .. } => "up_for_retry",
            TaskState::Skipped => "skipped",
            TaskState::UpstreamFailed => "upstream_failed",
            TaskState::Cancelled => "cancelled",
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
}
