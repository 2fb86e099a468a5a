//! Executes a run in the foreground with progress, Ctrl-C handling and a summary.

use std::sync::Arc;

use tidewater_control::{Control, Execution, Resume, RunSummary, StopCause};
use tidewater_core::{RunId, RunState, Workflow};
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::output;
use crate::progress::Progress;

pub(super) async fn execute(
    control: &Control,
    workflow: &Workflow,
    run: RunId,
    resume: Resume,
    parallelism: Option<u32>,
) -> anyhow::Result<Outcome> {
    let progress = Arc::new(Progress::new());
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let on_stop = |cause| {
        if cause == StopCause::CancelRequested {
            output::note(format!("run {run}: cancel requested"));
        }
        output::note(
            "stopping: running tasks get SIGTERM, then SIGKILL after 10s; `tidewater retry` resumes the run",
        );
    };
    let execution = Execution {
        workflow,
        run,
        resume,
        parallelism,
        observer: progress.clone(),
    };
    let state = control.execute(execution, stop, on_stop).await?;
    progress.finish();
    summarize(control, workflow, run, &state).await?;
    Ok(outcome(&state))
}

/// The exit a run's final state gives.
pub(super) fn outcome(state: &RunState) -> Outcome {
    match state {
        RunState::Succeeded { .. } => Outcome::Success,
        RunState::Cancelled { .. } => Outcome::Cancelled,
        _ => Outcome::Failure,
    }
}

/// The closing lines of a run: its tasks counted by state, each failed task with the line
/// that says why, and what its handlers did.
pub(super) async fn summarize(
    control: &Control,
    workflow: &Workflow,
    run: RunId,
    state: &RunState,
) -> anyhow::Result<()> {
    let RunSummary {
        counts,
        failed,
        handlers,
        ..
    } = control.run_summary(workflow, run, state).await?;
    let elapsed = match (state.started_at(), state.finished_at()) {
        (Some(start), Some(end)) => format!(" in {}", output::duration(end - start)),
        _ => String::new(),
    };
    output::note(format!(
        "run {run} of {} {}{elapsed}: {} succeeded, {} failed, {} upstream failed, {} skipped, {} cancelled",
        workflow.name,
        state.name(),
        counts.succeeded,
        counts.failed,
        counts.upstream_failed,
        counts.skipped,
        counts.cancelled,
    ));
    for task in &failed {
        output::note(format!(
            "  {}: {} (attempt {}); see `tidewater logs {run} {}`",
            task.task, task.why, task.attempt, task.task
        ));
    }
    for handler in &handlers {
        match &handler.failure {
            None => output::note(format!("  {} ran", handler.task)),
            Some(failure) => output::note(format!(
                "  {} failed: {} (attempt {}); see `tidewater logs {run} {}`",
                handler.task, failure.why, failure.attempt, handler.task
            )),
        }
    }
    if matches!(state, RunState::Failed { .. } | RunState::Cancelled { .. }) {
        output::note(format!("resume it with `tidewater retry {run}`"));
    }
    Ok(())
}
