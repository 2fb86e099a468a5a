use tidewater_core::RunId;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] tidewater_store::StoreError),
    #[error("run {run} is being executed by process {pid}; stop it first or wait for it to end")]
    RunBusy { run: RunId, pid: i32 },
    #[error("run {0} does not exist")]
    NoSuchRun(RunId),
    #[error(
        "run {run} was recorded with task `{task}`, which its pinned workflow version does not have; this is a bug in tidewater or a damaged store"
    )]
    TaskMismatch { run: RunId, task: String },
}
