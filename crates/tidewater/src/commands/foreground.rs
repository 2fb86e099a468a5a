//! Executes a run in the foreground with progress, Ctrl-C handling and a summary.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    Attempt, AttemptOutcome, RunId, RunState, TaskName, TaskRole, TaskState, Workflow,
};
use tidewater_engine::{CancelHandle, Resume};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::Outcome;
use crate::attempt_log_file::{attempt_log_path, last_error_line};
use crate::output;
use crate::progress::Progress;
use crate::project_context::ProjectContext;

/// How often a foreground run looks for a cancel request besides being woken by SIGUSR1.
const CANCEL_POLL: Duration = Duration::from_secs(2);

pub(super) async fn execute(
    context: &ProjectContext,
    workflow: &Workflow,
    run: RunId,
    resume: Resume,
    parallelism: Option<u32>,
) -> anyhow::Result<Outcome> {
    let progress = Arc::new(Progress::new());
    let executor = context.executor(parallelism, progress.clone())?;
    let cancel = CancelHandle::new();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    // `tidewater cancel` records a request and sends SIGUSR1 (handled, so that it never
    // kills this process); the store is also looked at every two seconds.
    let mut user1 = signal(SignalKind::user_defined1())?;
    let on_signal = {
        let cancel = cancel.clone();
        let store = context.store.clone();
        async move {
            // The first look comes after one period, not at once: at the start the executor
            // reads the store itself, and a concurrent read would open a second connection
            // for a request that a just-started run almost never has. SIGUSR1 still wakes
            // this at once.
            let mut look = tokio::time::interval_at(Instant::now() + CANCEL_POLL, CANCEL_POLL);
            loop {
                tokio::select! {
                    _ = interrupt.recv() => break,
                    _ = terminate.recv() => break,
                    _ = user1.recv() => {}
                    _ = look.tick() => {}
                }
                if store
                    .cancel_requests()
                    .await
                    .is_ok_and(|requests| requests.contains(&run))
                {
                    output::note(format!("run {run}: cancel requested"));
                    break;
                }
            }
            output::note(
                "stopping: running tasks get SIGTERM, then SIGKILL after 10s; `tidewater retry` resumes the run",
            );
            cancel.cancel();
            std::future::pending::<()>().await;
        }
    };
    let state = tokio::select! {
        state = executor.execute(workflow, run, resume, &cancel) => state?,
        () = on_signal => unreachable!("the signal future never completes"),
    };
    progress.finish();
    summarize(context, workflow, run, &state).await?;
    Ok(match state {
        RunState::Succeeded { .. } => Outcome::Success,
        RunState::Cancelled { .. } => Outcome::Cancelled,
        _ => Outcome::Failure,
    })
}

/// The closing lines of a run: its tasks counted by state, each failed task with the line
/// that says why, and what its handlers did. Handlers are reported apart from the count: they
/// are not the run's work, and an `on_failure` that ran is not a task that succeeded.
pub(super) async fn summarize(
    context: &ProjectContext,
    workflow: &Workflow,
    run: RunId,
    state: &RunState,
) -> anyhow::Result<()> {
    let instances = context.store.task_instances(run).await?;
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
        context.store.attempts(run, None).await?
    } else {
        Vec::new()
    };
    let count = |wanted: fn(&TaskState) -> bool| {
        instances
            .iter()
            .filter(|(task, instance)| !is_handler(task) && wanted(&instance.state))
            .count()
    };
    let elapsed = match (state.started_at(), state.finished_at()) {
        (Some(start), Some(end)) => format!(" in {}", output::duration(end - start)),
        _ => String::new(),
    };
    output::note(format!(
        "run {run} of {} {}{elapsed}: {} succeeded, {} failed, {} upstream failed, {} skipped, {} cancelled",
        workflow.name,
        state.name(),
        count(|state| matches!(state, TaskState::Succeeded { .. })),
        count(|state| matches!(state, TaskState::Failed { .. })),
        count(|state| matches!(state, TaskState::UpstreamFailed)),
        count(|state| matches!(state, TaskState::Skipped)),
        count(|state| matches!(state, TaskState::Cancelled)),
    ));
    // Why an attempt failed, in the words of the task: its last line on stderr, else the
    // reason Tidewater recorded (an exit status, a SQL error, a timeout).
    let why = |task: &TaskName, attempt: Attempt| {
        let log = attempt_log_path(&context.project.config.state_dir, run, task, attempt);
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
    for (task, instance) in instances.iter().filter(|(task, _)| !is_handler(task)) {
        if let TaskState::Failed { attempt, .. } = instance.state {
            output::note(format!(
                "  {task}: {} (attempt {attempt}); see `tidewater logs {run} {task}`",
                why(task, attempt)
            ));
        }
    }
    for (task, instance) in instances.iter().filter(|(task, _)| is_handler(task)) {
        match &instance.state {
            TaskState::Succeeded { .. } => output::note(format!("  {task} ran")),
            TaskState::Failed { attempt, .. } => output::note(format!(
                "  {task} failed: {} (attempt {attempt}); see `tidewater logs {run} {task}`",
                why(task, *attempt)
            )),
            // Not called for (skipped) or never reached: nothing to say.
            _ => {}
        }
    }
    if matches!(state, RunState::Failed { .. } | RunState::Cancelled { .. }) {
        output::note(format!("resume it with `tidewater retry {run}`"));
    }
    Ok(())
}
