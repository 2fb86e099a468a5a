//! The store's change feed: one event per state change of a run, a task instance or an
//! attempt, recorded with the change itself (in the same transaction), so that a reader that
//! follows the feed misses none and sees none that did not happen.

use tidewater_core::{
    Attempt, FailureClass, RunId, RunStateKind, TaskName, TaskStateKind, WorkflowName,
};

/// An event's place in the feed: store-wide and increasing in the order the changes were
/// committed, so that everything after a sequence number is everything that happened after.
/// Never given twice, even after events are pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventSeq(pub i64);

impl std::fmt::Display for EventSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    pub seq: EventSeq,
    pub run: RunId,
    pub workflow: WorkflowName,
    pub change: FeedChange,
}

/// What changed: only states are recorded (a process id or an output is not an event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    /// The run entered this state (`queued` when created).
    Run(RunStateKind),
    /// A task instance entered this state. A new run's tasks start `pending` without an
    /// event each.
    Task {
        task: TaskName,
        state: TaskStateKind,
    },
    Attempt {
        task: TaskName,
        attempt: Attempt,
        step: AttemptStep,
    },
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStep {
    Started,
    Succeeded,
    Failed(FailureClass),
}

/// Which events a reader wants; `Default` is every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub run: Option<RunId>,
    pub workflow: Option<WorkflowName>,
}

/// What [`crate::ControlStore::events_after`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPage {
    /// The events after the given sequence number that match the filter, oldest first, and
    /// how far the feed was read: pass `through` as the next `after` (with a filter, it
    /// moves on even when no event matched, so a quiet filter is not read again).
    Events {
        events: Vec<FeedEvent>,
        through: EventSeq,
    },
    /// Some events after the given sequence number are no longer kept (pruned), or the
    /// sequence number is past the newest event (a sequence number of another store, or of
    /// this one before it was restored from a backup): the reader missed changes and must
    /// read the state again, then follow the feed from `latest`.
    Reset { latest: EventSeq },
}
