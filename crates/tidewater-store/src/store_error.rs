use tidewater_core::{Attempt, BackfillId, RunId, TaskName, WorkflowName};

use crate::{TokenId, TokenName};

/// A backend's own error (its driver's, or a condition only that backend has), kept whole so
/// that its message reaches the user and the backend can look at it again.
pub type BackendError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What any store can fail with. The variants name what the engine and the commands tell
/// apart; everything a backend alone knows about travels as a [`BackendError`], so that no
/// backend's types appear here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: BackendError },
    #[error("cannot create the store's folder {path}: {source}")]
    OpenFolder {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot bring the store's schema up to date: {0}")]
    Migrate(String),
    /// The backend failed to read or write (its driver's error).
    #[error("store query failed: {source}")]
    Backend { source: BackendError },
    /// A condition only one backend has, in that backend's own words (SQLite: its
    /// write-ahead log damaged, its files replaced under an open store).
    #[error(transparent)]
    BackendCondition(BackendError),
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
    /// An unrevoked token already has this name.
    #[error("a token named {0} exists; revoke it first or choose another name")]
    TokenNameTaken(TokenName),
    /// A token's secret was given twice: secrets are random, so this is a bug.
    #[error("a token with the same secret exists; this is a bug in tidewater")]
    TokenHashTaken,
    /// A session was asked for a token that is unknown or revoked.
    #[error("token {0} is unknown or revoked")]
    NoSuchToken(TokenId),
    /// What this backend does not do (serve workers, say), in words for the user.
    #[error("{0}")]
    Unsupported(&'static str),
    /// A write to a run by an owner that no longer owns it: its lease expired and another
    /// server took the run over. The writer must stop executing the run.
    #[error(
        "run {run} is no longer this server's: its lease expired and another server took the run over, so this write was refused"
    )]
    Fenced { run: RunId },
    #[error(
        "the store holds a value this version cannot read ({what}: {value}); this is a bug in tidewater or a newer store"
    )]
    Corrupt { what: &'static str, value: String },
}

impl StoreError {
    /// The backend's own error of type `E` inside this one, if that is what it is: how a
    /// backend (or its tests) tells its own failures apart again.
    pub fn backend_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            StoreError::Open { source, .. }
            | StoreError::Backend { source }
            | StoreError::BackendCondition(source) => source.downcast_ref::<E>(),
            _ => None,
        }
    }
}
