use async_trait::async_trait;
use tidewater_core::{
    Attempt, AttemptOutcome, BackfillId, Change, DataInterval, ProcessIdentity, RunId, RunState,
    RunStateKind, TaskInstance, TaskName, Timestamp, WorkflowName,
};

use crate::StoreError;

/// What the engine needs from a store. Every method is atomic; `apply` writes all of its
/// changes in one transaction or none of them.
///
/// Timestamps are kept to the microsecond. A method about one run answers `None`,
/// [`StoreError::NoSuchRun`] or [`OwnerClaim::NoSuchRun`] when the run does not exist.
/// The `conformance` module (its cargo feature of that name) pins these behaviours down for
/// every backend.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Records a new run in state `Queued` with every task instance `Pending`.
    /// A second scheduled run of the same workflow and interval, or a second run of the same
    /// backfill and interval, is [`StoreError::IntervalTaken`].
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError>;

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError>;

    /// The workflow file's text the run was created with (runs are pinned to it).
    async fn workflow_source(&self, id: RunId) -> Result<Option<String>, StoreError>;

    /// Every task instance of a run, in the order the tasks were given to `create_run`.
    async fn task_instances(&self, id: RunId) -> Result<Vec<(TaskName, TaskInstance)>, StoreError>;

    /// Persists changes in one transaction, in order (a later change to the same task wins).
    /// A change to a task the run does not have is [`StoreError::NoSuchTask`]; to an attempt
    /// never started, [`StoreError::NoSuchAttempt`]; starting an attempt twice is
    /// [`StoreError::AttemptExists`].
    async fn apply(&self, id: RunId, changes: &[Change]) -> Result<(), StoreError>;

    /// [`RunStore::apply`] by the owner executing the run: refused with
    /// [`StoreError::Fenced`], and nothing written, unless `owner` still owns the run when
    /// the changes are written (checked in their transaction). This fences a server whose
    /// lease expired and whose run another server took over ([`RunStore::claim_owner`] from
    /// the dead owner): its late writes never reach the run.
    ///
    /// A backend that no two machines share (SQLite) may write as `apply` does: there an
    /// owner is a process, and a run is taken over only once that process is gone, so no
    /// late write can come.
    async fn apply_owned(
        &self,
        id: RunId,
        owner: ProcessIdentity,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let _ = owner;
        self.apply(id, changes).await
    }

    /// Runs matching the filter, newest first: by `created_at`, then by id for runs created
    /// at the same instant.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError>;

    /// Attempts of a run (of one task, if given), by task (in the order the tasks were given
    /// to `create_run`) then attempt number. A task the run does not have is
    /// [`StoreError::NoSuchTask`].
    async fn attempts(
        &self,
        id: RunId,
        task: Option<&TaskName>,
    ) -> Result<Vec<AttemptRecord>, StoreError>;

    /// Compare-and-set of the process executing a run: sets `owner` only if the current
    /// owner equals `expected`. Only one process may execute a run at a time.
    async fn claim_owner(
        &self,
        id: RunId,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
    ) -> Result<OwnerClaim, StoreError>;

    /// Pins an ended (failed or cancelled) run to another version of its workflow, so that
    /// retrying it resumes on that version, in any process (a server executes a run on the
    /// version it is pinned to). In one transaction: the run's hash and source become
    /// `version`'s, and each task of `version.tasks` the run has no instance of gets a
    /// `Pending` one. Compare-and-set: [`Repin::Refused`], and nothing written, unless the
    /// run is still ended and its owner still `expected_owner` (none, or one the caller
    /// found dead). The caller checks that the version keeps the run's tasks.
    async fn repin_run(
        &self,
        id: RunId,
        expected_owner: Option<ProcessIdentity>,
        version: &RunVersion,
    ) -> Result<Repin, StoreError>;
}

/// A version of a workflow a run is pinned to (see [`RunStore::repin_run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RunVersion {
    pub workflow_source: String,
    /// Hash of `workflow_source`, to tell versions apart.
    pub workflow_hash: String,
    /// Every task of the workflow, handlers included.
    pub tasks: Vec<TaskName>,
}

/// What [`RunStore::repin_run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repin {
    Repinned,
    /// The run is not ended, or another process owns it now.
    Refused,
    NoSuchRun,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub workflow: WorkflowName,
    pub interval: DataInterval,
    pub trigger: RunTrigger,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub workflow_source: String,
    /// Hash of `workflow_source`, to tell versions apart.
    pub workflow_hash: String,
    /// Every task of the workflow, handlers included.
    pub tasks: Vec<TaskName>,
    pub created_at: Timestamp,
    /// The backfill the run belongs to, for `RunTrigger::Backfill` runs.
    pub backfill: Option<BackfillId>,
}

/// Moved to the core, where the rule about deadlines lives; still named from here.
pub use tidewater_core::RunTrigger;

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    pub workflow: WorkflowName,
    pub interval: DataInterval,
    pub trigger: RunTrigger,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub state: RunState,
    pub workflow_hash: String,
    pub created_at: Timestamp,
    /// The process executing the run, if any claimed it (it may have died since).
    pub owner: Option<ProcessIdentity>,
    pub backfill: Option<BackfillId>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    pub workflow: Option<WorkflowName>,
    pub state: Option<RunStateKind>,
    pub backfill: Option<BackfillId>,
    /// Only the runs listed after this one (newest first): the cursor of the next page.
    pub before: Option<RunId>,
    /// Only the runs whose data interval starts at or after this time.
    pub starts_from: Option<Timestamp>,
    /// Only the runs whose data interval starts before this time (the range is half-open,
    /// so that consecutive ranges never list a run twice).
    pub starts_before: Option<Timestamp>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub task: TaskName,
    pub attempt: Attempt,
    pub started_at: Timestamp,
    pub process: Option<ProcessIdentity>,
    /// `None` while the attempt runs (or if its supervisor died before recording it).
    pub finished: Option<(Timestamp, AttemptOutcome)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerClaim {
    Claimed,
    /// Someone else owns it (the current owner is given).
    Held(Option<ProcessIdentity>),
    NoSuchRun,
}
