use async_trait::async_trait;
use tidewater_core::{
    Attempt, AttemptOutcome, BackfillId, Change, DataInterval, ProcessIdentity, RunId, RunState,
    RunStateKind, TaskInstance, TaskName, Timestamp, WorkflowName,
};

/// What the engine needs from a store. Every method is atomic; `apply` writes all of its
/// changes in one transaction or none of them.
///
/// Timestamps are kept to the microsecond. A method about one run answers `None`,
/// [`StoreError::NoSuchRun`] or [`OwnerClaim::NoSuchRun`] when the run does not exist.
/// [`crate::conformance`] pins these behaviours down for every backend.
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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the store's folder {path}: {source}")]
    OpenFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(String),
    #[error("store query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("run {0} does not exist")]
    NoSuchRun(RunId),
    #[error("{workflow} already has a {trigger} run of that interval")]
    IntervalTaken {
        workflow: WorkflowName,
        trigger: &'static str,
    },
    #[error("backfill {0} does not exist")]
    NoSuchBackfill(BackfillId),
    #[error("run {run}: no task named {task}")]
    NoSuchTask { run: RunId, task: TaskName },
    /// A change to an attempt that was never started; this is a bug in the caller.
    #[error("run {run}: task {task} has no attempt {attempt}; this is a bug in tidewater")]
    NoSuchAttempt {
        run: RunId,
        task: TaskName,
        attempt: Attempt,
    },
    /// An attempt started a second time; this is a bug in the caller.
    #[error(
        "run {run}: attempt {attempt} of task {task} was already started; this is a bug in tidewater"
    )]
    AttemptExists {
        run: RunId,
        task: TaskName,
        attempt: Attempt,
    },
    #[error(
        "the store holds a value this version cannot read ({what}: {value}); this is a bug in tidewater or a newer store"
    )]
    Corrupt { what: &'static str, value: String },
    /// The write-ahead log is not one; SQLite would ignore it and overwrite it with the
    /// next commit.
    #[error(
        "{path} is not a SQLite write-ahead log (damaged, or another file put in its place): the commits in it cannot be read. \
         `tidewater store check` tells what the database file alone holds; restore a backup made with `tidewater store backup`, \
         or move {path} away to keep only what the database file holds"
    )]
    DamagedLog { path: String },
    /// The store's files were deleted or replaced under an open store.
    #[error(
        "the store {path} changed under this process: {change}. What this process writes from now on would be lost, so it stops"
    )]
    FilesChanged {
        path: String,
        change: crate::FilesChange,
    },
    #[error("cannot read the store's file {path}")]
    Files {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} exists; give --overwrite to replace it")]
    BackupExists { path: String },
    #[error("{path} is the store itself; give another file")]
    BackupOverStore { path: String },
    #[error("cannot write the backup {path}")]
    Backup {
        path: String,
        source: std::io::Error,
    },
}
