use tidewater_core::{DataInterval, FailureClass, RunId, TaskName, WorkflowName};

/// The child run a `call` task asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRequest {
    /// The calling run and task: a child run is unique per pair, so a second attempt of
    /// the task finds the child of the first one instead of starting another.
    pub parent: RunId,
    pub task: TaskName,
    pub workflow: WorkflowName,
    /// The parent run's data interval: the child's unless `date` is given.
    pub interval: DataInterval,
    /// A date (`YYYY-MM-DD`, rendered): the child's interval is its workflow's on that date.
    pub date: Option<String>,
    /// Values for some of the child workflow's params, rendered.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// How a child run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEnd {
    Succeeded,
    /// Failed or cancelled; the message names the run and its failed tasks.
    Failed {
        message: String,
    },
}

/// Why a child run could not be started, and whose doing that was (an unknown param is the
/// input's, a store that fails the environment's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRunError {
    pub class: FailureClass,
    pub message: String,
}

/// Starts and follows the child runs of `call` tasks. The control crate's implementation
/// records them in the store and has them executed by the live server, or by this process
/// when none runs.
#[async_trait::async_trait]
pub trait ChildRuns: Send + Sync {
    /// The child run of `request.parent` and `request.task`: found if one was started
    /// before (and queued again if it failed or was cancelled), else created; then handed
    /// to whoever executes it.
    async fn start_child(&self, request: ChildRequest) -> Result<RunId, ChildRunError>;

    /// How the child ended; `None` while it is queued or running.
    async fn child_end(&self, child: RunId) -> Result<Option<ChildEnd>, String>;

    /// Asks that the child be cancelled (its parent's attempt was stopped); the child's end
    /// is then seen through [`ChildRuns::child_end`].
    async fn cancel_child(&self, child: RunId);
}
