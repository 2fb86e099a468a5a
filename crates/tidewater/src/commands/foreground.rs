//! Executes a run in the foreground with progress, Ctrl-C handling and a summary.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{AttemptOutcome, RunId, RunState, TaskState, Workflow};
use tidewater_engine::{CancelHandle, Resume};
use tidewater_store::{ControlStore, RunStore};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::Outcome;
use crate::output;
use crate::progress::Progress;
use crate::project_context::ProjectContext;

/// How often a foreground run looks for a cancel request besides being woken by SIGUSR1.
const CANCEL_POLL: Duration = Duration::from_secs(2);

pub async fn execute(
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

pub async fn summarize(
    context: &ProjectContext,
    workflow: &Workflow,
    run: RunId,
    state: &RunState,
) -> anyhow::Result<()> {
    let instances = context.store.task_instances(run).await?;
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
            .filter(|(_, instance)| wanted(&instance.state))
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
    for (task, instance) in &instances {
        if let TaskState::Failed { attempt, .. } = instance.state {
            let reason = attempts
                .iter()
                .find(|record| &record.task == task && record.attempt == attempt)
                .and_then(|record| record.finished.as_ref())
                .map(|(_, outcome)| match outcome {
                    AttemptOutcome::Failed { reason } => reason.to_string(),
                    AttemptOutcome::Succeeded { .. } => "succeeded".to_owned(),
                })
                .unwrap_or_else(|| "failed".to_owned());
            output::note(format!(
                "  {task}: {reason} (attempt {attempt}); see `tidewater logs {run} {task}`"
            ));
        }
    }
    if matches!(state, RunState::Failed { .. } | RunState::Cancelled { .. }) {
        output::note(format!("resume it with `tidewater retry {run}`"));
    }
    Ok(())
}
