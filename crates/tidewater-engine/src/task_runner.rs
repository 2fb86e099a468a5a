use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{Attempt, AttemptOutcome, ProcessIdentity, Task, TaskIndex};
use tidewater_spec::TemplateContext;
use tokio::sync::{mpsc, oneshot};

use crate::{AttemptPaths, Clock};

/// Runs one kind of task. A runner starts an attempt and returns at once; the outcome is
/// reported on the `done` channel when the attempt ends. Adding a task kind means adding
/// one module under `runners/` and one arm in `runners::runner_for`.
pub trait TaskRunner: Send + Sync {
    fn start(
        &self,
        request: StartRequest<'_>,
        done: mpsc::UnboundedSender<AttemptReport>,
    ) -> StartedAttempt;
}

/// Everything a runner needs to start an attempt.
pub struct StartRequest<'a> {
    pub task_index: TaskIndex,
    pub task: &'a Task,
    pub attempt: Attempt,
    pub template: &'a TemplateContext,
    pub paths: AttemptPaths,
    pub project_root: &'a Path,
    /// Extra environment for the process (e.g. the attempt marker).
    pub env: Vec<(String, String)>,
    pub clock: Arc<dyn Clock>,
    /// How long a stopped task gets between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
}

/// A started attempt: its process (if it has one) and a way to stop it.
pub struct StartedAttempt {
    pub process: Option<ProcessIdentity>,
    pub control: AttemptControl,
}

/// Stops a running attempt; it then reports `Failed(Cancelled)`.
#[derive(Debug)]
pub struct AttemptControl {
    stop: Option<oneshot::Sender<()>>,
}

impl AttemptControl {
    pub fn new(stop: oneshot::Sender<()>) -> AttemptControl {
        AttemptControl { stop: Some(stop) }
    }

    /// An attempt that has already reported its outcome.
    pub fn finished() -> AttemptControl {
        AttemptControl { stop: None }
    }

    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The end of an attempt, as a runner reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    pub task: TaskIndex,
    pub attempt: Attempt,
    pub outcome: AttemptOutcome,
}
