use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, FailureClass, FailureReason, ProcessIdentity, Task, TaskIndex,
    Timestamp,
};
use tidewater_spec::TemplateContext;
use tokio::sync::{mpsc, oneshot};

use crate::{AttemptPaths, Clock};

/// Runs one kind of task, whose action is an `A` (`SqlAction` for `sql`; the command, a
/// `str`, for `sh`). The engine's registry hands each runner its own kind's action, so a
/// runner never sees a task of another kind. A runner starts an attempt and returns at once;
/// it reports the outcome through `reporter` when the attempt ends. A runner that drops its
/// reporter without reporting (its work panicked, say) does not leave the attempt running
/// forever: the reporter then reports the attempt as failed by a bug in Tidewater (see
/// [`AttemptReporter`]). Adding a task kind: see "Task kinds" in ARCHITECTURE.md.
pub trait TaskRunner<A: ?Sized>: Send + Sync {
    /// Starts the attempt `request` describes; `action` is its task's action.
    fn start(
        &self,
        action: &A,
        request: StartRequest<'_>,
        reporter: AttemptReporter,
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

/// Sends one attempt's outcome to the executor; every runner reports through one, once.
///
/// It supervises the runner: dropped without a report (the task that held it panicked, or
/// the runner lost it), it reports the attempt as failed by a bug in Tidewater. Without that
/// an attempt whose runner went wrong stayed `running` forever, and so did its run, even
/// after a `cancel` (the stop went to work that no longer existed).
#[derive(Debug)]
pub struct AttemptReporter {
    task: TaskIndex,
    attempt: Attempt,
    /// The kind of task, to say which runner went wrong.
    kind: &'static str,
    /// `None` once the report is sent.
    done: Option<mpsc::UnboundedSender<AttemptReport>>,
}

impl AttemptReporter {
    pub fn new(
        task: TaskIndex,
        attempt: Attempt,
        kind: &'static str,
        done: mpsc::UnboundedSender<AttemptReport>,
    ) -> AttemptReporter {
        AttemptReporter {
            task,
            attempt,
            kind,
            done: Some(done),
        }
    }

    /// The reporter of the attempt `request` starts.
    pub fn for_request(
        request: &StartRequest<'_>,
        done: mpsc::UnboundedSender<AttemptReport>,
    ) -> AttemptReporter {
        AttemptReporter::new(
            request.task_index,
            request.attempt,
            request.task.action.kind(),
            done,
        )
    }

    pub fn report(mut self, outcome: AttemptOutcome) {
        self.send(outcome);
    }

    /// Reports an attempt that could not start, for `message`; `class` says who must act.
    pub fn could_not_start(self, class: FailureClass, message: impl Into<String>) {
        self.report(could_not_start(class, message));
    }

    fn send(&mut self, outcome: AttemptOutcome) {
        let Some(done) = self.done.take() else {
            return;
        };
        // The executor may be gone (shutting down); then nobody needs the report.
        let _ = done.send(AttemptReport {
            task: self.task,
            attempt: self.attempt,
            outcome,
        });
    }
}

impl Drop for AttemptReporter {
    fn drop(&mut self) {
        if self.done.is_none() {
            return;
        }
        // A panic in the work that holds the reporter drops it while unwinding; the panic's
        // own message went to standard error.
        let how = if std::thread::panicking() {
            "panicked"
        } else {
            "ended without reporting the attempt's outcome"
        };
        let message = format!(
            "the {} runner {how}; this is a bug in tidewater, please report it",
            self.kind
        );
        tracing::error!(task = ?self.task, attempt = %self.attempt, "{message}");
        self.send(AttemptOutcome::Failed {
            reason: FailureReason::Bug { message },
        });
    }
}

/// The outcome of an attempt that could not start; `class` says who must act.
pub fn could_not_start(class: FailureClass, message: impl Into<String>) -> AttemptOutcome {
    AttemptOutcome::Failed {
        reason: FailureReason::CouldNotStart {
            message: message.into(),
            class,
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
