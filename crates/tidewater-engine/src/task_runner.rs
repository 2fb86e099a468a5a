use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, FailureReason, ProcessIdentity, Task, TaskIndex, Timestamp,
};
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

impl StartRequest<'_> {
    /// When the task's `timeout` runs out, counted from now; `None` without a timeout (or
    /// with one beyond the calendar's range, which never runs out).
    pub fn deadline(&self) -> Option<Timestamp> {
        self.deadline_after(self.task.timeout?)
    }

    /// When `timeout` runs out, counted from now; `None` beyond the calendar's range.
    pub fn deadline_after(&self, timeout: Duration) -> Option<Timestamp> {
        let timeout = chrono::Duration::from_std(timeout).ok()?;
        self.clock.now().checked_add_signed(timeout)
    }
}

/// A started attempt: its process (if it has one) and a way to stop it.
pub struct StartedAttempt {
    pub process: Option<ProcessIdentity>,
    pub control: AttemptControl,
}

impl StartedAttempt {
    /// An attempt that has already reported its outcome (or will without a process to stop).
    pub fn finished() -> StartedAttempt {
        StartedAttempt {
            process: None,
            control: AttemptControl::finished(),
        }
    }
}

/// Sends one attempt's outcome to the executor; every runner reports through one.
#[derive(Debug, Clone)]
pub struct AttemptReporter {
    task: TaskIndex,
    attempt: Attempt,
    done: mpsc::UnboundedSender<AttemptReport>,
}

impl AttemptReporter {
    pub fn new(
        request: &StartRequest<'_>,
        done: mpsc::UnboundedSender<AttemptReport>,
    ) -> AttemptReporter {
        AttemptReporter {
            task: request.task_index,
            attempt: request.attempt,
            done,
        }
    }

    pub fn report(&self, outcome: AttemptOutcome) {
        // The executor may be gone (shutting down); then nobody needs the report.
        let _ = self.done.send(AttemptReport {
            task: self.task,
            attempt: self.attempt,
            outcome,
        });
    }

    /// Reports an attempt that could not start, for `message`.
    pub fn could_not_start(&self, message: impl Into<String>) {
        self.report(could_not_start(message));
    }
}

/// The outcome of an attempt that could not start.
pub fn could_not_start(message: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::CouldNotStart {
            message: message.into(),
        },
    }
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
