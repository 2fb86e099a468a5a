//! Executing a run in this process until it ends or is stopped, and the summary of how it
//! ended.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, RunId, RunState, TaskName, TaskRole, TaskState, Workflow,
};
use tidewater_engine::{CancelHandle, Resume, RunObserver};
use tokio::time::Instant;

use crate::attempt_log_file::{attempt_log_path, last_error_line};
use crate::control_error::{ControlError, ControlResult};
use crate::{Control, Notifier};

/// How often an execution looks for a cancel request besides being woken.
const CANCEL_POLL: Duration = Duration::from_secs(2);
/// How often an execution looks for its run's due webhooks while the run goes on.
const NOTIFY_LOOK: Duration = Duration::from_millis(500);

/// Why an execution stopped its run before the run ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// The front end asked (Ctrl-C, SIGTERM).
    Stopped,
    /// Someone asked to cancel the run (the cancel use case, from any process).
    CancelRequested,
}

/// How to execute a run here.
pub struct Execution<'a> {
    pub workflow: &'a Workflow,
    pub run: RunId,
    pub resume: Resume,
    /// Tasks at once (default: tidewater.toml's `parallelism`, else the cores).
    pub parallelism: Option<u32>,
    /// Told of every change (progress).
    pub observer: Arc<dyn RunObserver>,
}

impl Control {
    /// Executes a run here until it ends. It is stopped (running tasks get SIGTERM, then
    /// SIGKILL after the grace period; `retry` resumes it) when `stop` completes or when a
    /// cancel of the run is requested: this process is woken for that (SIGUSR1), and looks
    /// at the store every two seconds besides. `on_stop` is told why, once, when stopping
    /// begins; the run's final state is returned when it has stopped.
    pub async fn execute(
        &self,
        execution: Execution<'_>,
        stop: impl Future<Output = ()>,
        on_stop: impl FnOnce(StopCause),
    ) -> ControlResult<RunState> {
        let Execution {
            workflow,
            run,
            resume,
            parallelism,
            observer,
        } = execution;
        let executor = self.executor(parallelism, observer)?;
        let cancel = CancelHandle::new();
        // `cancel` records a request and wakes this process (SIGUSR1 by default: handled,
        // so that it never kills it); the store is also looked at every two seconds.
        let mut woken = self
            .wakeups
            .listen()
            .map_err(|error| ControlError::environment("cannot listen for wake-ups", error))?;
        let watch_requests = {
            let cancel = cancel.clone();
            let store = self.store.clone();
            async move {
                // The first look comes after one period, not at once: at the start the
                // executor reads the store itself, and a concurrent read would open a second
                // connection for a request that a just-started run almost never has. A
                // wake-up still makes it look at once.
                let mut look = tokio::time::interval_at(Instant::now() + CANCEL_POLL, CANCEL_POLL);
                tokio::pin!(stop);
                let cause = loop {
                    tokio::select! {
                        () = &mut stop => break StopCause::Stopped,
                        () = woken.woken() => {}
                        _ = look.tick() => {}
                    }
                    if store
                        .cancel_requests()
                        .await
                        .is_ok_and(|requests| requests.contains(&run))
                    {
                        break StopCause::CancelRequested;
                    }
                };
                on_stop(cause);
                cancel.cancel();
                std::future::pending::<()>().await;
            }
        };
        // The run's webhooks go out while it runs (`on_retry`), and those still pending when
        // it ends (`on_failure`, `on_success`) before this returns: a foreground run has no
        // server to send them later. A failed delivery is recorded, never the run's outcome.
        let notifier = Notifier::new(self);
        let deliver_while_running = async {
            if !workflow.has_notifications() {
                std::future::pending::<()>().await;
            }
            loop {
                let _ = notifier.deliver_due(Some(run)).await;
                tokio::time::sleep(NOTIFY_LOOK).await;
            }
        };
        let state = tokio::select! {
            state = executor.execute(workflow, run, resume, &cancel) => state?,
            () = watch_requests => unreachable!("watching requests never completes"),
            () = deliver_while_running => unreachable!("delivering never completes"),
        };
        if workflow.has_notifications() {
            notifier.drain(run).await?;
        }
        Ok(state)
    }

    /// How a run ended: its tasks counted by state, each failed task with the line that says
    /// why, and what its handlers did.
    pub async fn run_summary(
        &self,
        workflow: &Workflow,
        run: RunId,
        state: &RunState,
    ) -> ControlResult<RunSummary> {
        let instances = self.store.task_instances(run).await?;
        let is_handler = |task: &TaskName| {
            workflow
                .index_of(task.as_str())
                .is_some_and(|index| matches!(workflow.task(index).role, TaskRole::Handler(_)))
        };
        // Only a failed task's line needs its attempts (the reason it failed).
        let attempts = if instances
            .iter()
            .any(|(_, instance)| matches!(instance.state, TaskState::Failed { .. }))
        {
            self.store.attempts(run, None).await?
        } else {
            Vec::new()
        };
        // Why an attempt failed, in the words of the task: its last line on stderr, else the
        // reason Tidewater recorded (an exit status, a SQL error, a timeout).
        let why = |task: &TaskName, attempt: Attempt| {
            let log = attempt_log_path(&self.project.config.state_dir, run, task, attempt);
            last_error_line(&log).unwrap_or_else(|| {
                attempts
                    .iter()
                    .find(|record| &record.task == task && record.attempt == attempt)
                    .and_then(|record| record.finished.as_ref())
                    .map(|(_, outcome)| match outcome {
                        AttemptOutcome::Failed { reason } => reason.to_string(),
                        AttemptOutcome::Succeeded { .. } => "succeeded".to_owned(),
                    })
                    .unwrap_or_else(|| "failed".to_owned())
            })
        };
        let mut summary = RunSummary {
            state: state.clone(),
            counts: TaskCounts::default(),
            failed: Vec::new(),
            handlers: Vec::new(),
        };
        for (task, instance) in &instances {
            // Handlers are reported apart from the count: they are not the run's work, and
            // an `on_failure` that ran is not a task that succeeded.
            if is_handler(task) {
                match &instance.state {
                    TaskState::Succeeded { .. } => summary.handlers.push(HandlerOutcome {
                        task: task.clone(),
                        failure: None,
                    }),
                    TaskState::Failed { attempt, .. } => summary.handlers.push(HandlerOutcome {
                        task: task.clone(),
                        failure: Some(FailedTask {
                            task: task.clone(),
                            attempt: *attempt,
                            why: why(task, *attempt),
                        }),
                    }),
                    // Not called for (skipped) or never reached: nothing to say.
                    _ => {}
                }
                continue;
            }
            summary.counts.add(&instance.state);
            if let TaskState::Failed { attempt, .. } = instance.state {
                summary.failed.push(FailedTask {
                    task: task.clone(),
                    attempt,
                    why: why(task, attempt),
                });
            }
        }
        Ok(summary)
    }
}

/// How a run ended (see [`Control::run_summary`]).
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub state: RunState,
    /// The run's own tasks (handlers apart).
    pub counts: TaskCounts,
    pub failed: Vec<FailedTask>,
    /// Handlers that ran, in the workflow's order.
    pub handlers: Vec<HandlerOutcome>,
}

/// Tasks counted by their final state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub succeeded: usize,
    pub failed: usize,
    pub upstream_failed: usize,
    pub skipped: usize,
    pub cancelled: usize,
}

impl TaskCounts {
    fn add(&mut self, state: &TaskState) {
        match state {
            TaskState::Succeeded { .. } => self.succeeded += 1,
            TaskState::Failed { .. } => self.failed += 1,
            TaskState::UpstreamFailed => self.upstream_failed += 1,
            TaskState::Skipped => self.skipped += 1,
            TaskState::Cancelled => self.cancelled += 1,
            _ => {}
        }
    }
}

/// A failed task and why, in its own words where it said.
#[derive(Debug, Clone)]
pub struct FailedTask {
    pub task: TaskName,
    pub attempt: Attempt,
    pub why: String,
}

/// A handler that ran: succeeded, or failed and why.
#[derive(Debug, Clone)]
pub struct HandlerOutcome {
    pub task: TaskName,
    pub failure: Option<FailedTask>,
}
