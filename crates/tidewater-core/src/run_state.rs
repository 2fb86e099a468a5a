use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The state of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running {
        started_at: Timestamp,
    },
    Succeeded {
        started_at: Timestamp,
        finished_at: Timestamp,
    },
    Failed {
        started_at: Timestamp,
        finished_at: Timestamp,
    },
    /// Stopped on request; `retry` resumes it.
    Cancelled {
        started_at: Timestamp,
        finished_at: Timestamp,
    },
}

impl RunState {
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Queued => "queued",
            RunState::Running { .. } => "running",
            RunState::Succeeded { .. } => "succeeded",
            RunState::Failed { .. } => "failed",
            RunState::Cancelled { .. } => "cancelled",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunState::Succeeded { .. } | RunState::Failed { .. } | RunState::Cancelled { .. }
        )
    }

    pub fn started_at(&self) -> Option<Timestamp> {
        match self {
            RunState::Queued => None,
            RunState::Running { started_at }
            | RunState::Succeeded { started_at, .. }
            | RunState::Failed { started_at, .. }
            | RunState::Cancelled { started_at, .. } => Some(*started_at),
        }
    }

    pub fn finished_at(&self) -> Option<Timestamp> {
        match self {
            RunState::Queued | RunState::Running { .. } => None,
            RunState::Succeeded { finished_at, .. }
            | RunState::Failed { finished_at, .. }
            | RunState::Cancelled { finished_at, .. } => Some(*finished_at),
        }
    }
}
