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

/// A run state without its data: what a filter (`tidewater runs --state failed`) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunStateKind {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStateKind {
    pub const ALL: [RunStateKind; 5] = [
        RunStateKind::Queued,
        RunStateKind::Running,
        RunStateKind::Succeeded,
        RunStateKind::Failed,
        RunStateKind::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RunStateKind::Queued => "queued",
            RunStateKind::Running => "running",
            RunStateKind::Succeeded => "succeeded",
            RunStateKind::Failed => "failed",
            RunStateKind::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunStateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RunStateKind {
    type Err = String;

    fn from_str(text: &str) -> Result<RunStateKind, String> {
        RunStateKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = RunStateKind::ALL.iter().map(|kind| kind.name()).collect();
                format!("`{text}` is not a run state (one of: {})", names.join(", "))
            })
    }
}

impl RunState {
    pub fn kind(&self) -> RunStateKind {
        match self {
            RunState::Queued => RunStateKind::Queued,
            RunState::Running { .. } => RunStateKind::Running,
            RunState::Succeeded { .. } => RunStateKind::Succeeded,
            RunState::Failed { .. } => RunStateKind::Failed,
            RunState::Cancelled { .. } => RunStateKind::Cancelled,
        }
    }

    pub fn name(&self) -> &'static str {
        self.kind().name()
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
