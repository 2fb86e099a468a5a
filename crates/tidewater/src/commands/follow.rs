//! Follows a run that the server executes: `tidewater run` hands its run to a live server
//! (so that it shares the server's task queue: pools, rates and parallelism hold across all
//! runs) and shows its progress from the store, as if it ran here. Ctrl-C asks the server to
//! cancel the run; a second Ctrl-C stops following.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use tidewater_core::{Change, RunId, RunState, RunView, TaskInstance, TaskName, Workflow};
use tidewater_engine::{RunObserver, is_alive};
use tidewater_store::ServiceRecord;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::output;
use crate::progress::Progress;
use crate::project_context::ProjectContext;
use crate::service_client::{live_service, wake};

/// How often the store is read for the run's progress.
const POLL: Duration = Duration::from_millis(50);

pub(super) async fn follow(
    context: &ProjectContext,
    workflow: &Workflow,
    run: RunId,
    service: &ServiceRecord,
    parallelism: Option<u32>,
) -> anyhow::Result<Outcome> {
    if parallelism.is_some() {
        output::note("--parallelism is the server's to set while one runs; it is ignored");
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    wake(service);
    output::note(format!(
        "the server (pid {}) executes run {run}; Ctrl-C cancels it",
        service.process.pid
    ));
    let progress = Progress::new();
    // What the run looks like now is not news: only changes from here on are shown.
    let mut known: HashMap<TaskName, TaskInstance> = context
        .store
        .task_instances(run)
        .await?
        .into_iter()
        .collect();
    let mut known_state: Option<RunState> = None;
    let mut is_cancelling = false;
    let state = loop {
        let record = context
            .store
            .run(run)
            .await?
            .with_context(|| format!("run {run} disappeared from the store"))?;
        let instances = context.store.task_instances(run).await?;
        let mut changes = Vec::new();
        for (task, instance) in &instances {
            if known.get(task) != Some(instance) {
                changes.push(Change::Task {
                    task: task.clone(),
                    instance: instance.clone(),
                });
                known.insert(task.clone(), instance.clone());
            }
        }
        // The run's own change goes last: a run ends after its last tasks, and a poll that
        // sees both must print them in that order ("run 1 succeeded" after the tasks' lines).
        if known_state.as_ref() != Some(&record.state) {
            changes.push(Change::Run(record.state.clone()));
            known_state = Some(record.state.clone());
        }
        if !changes.is_empty() {
            let tasks = workflow
                .tasks()
                .iter()
                .map(|task| known.get(&task.name).cloned().unwrap_or_default())
                .collect();
            let view = RunView::new(workflow, record.state.clone(), record.interval, tasks);
            progress.changed(run, workflow, &changes, &view);
        }
        if record.state.is_terminal() {
            break record.state;
        }
        let executed = record.owner.is_some_and(is_alive);
        if !executed && live_service(&context.store).await?.is_none() {
            progress.finish();
            output::note(format!(
                "the server stopped; run {run} is {} and resumes when a server starts again (or now with `tidewater retry {run}`)",
                record.state.name()
            ));
            return Ok(Outcome::Failure);
        }
        let stop = tokio::select! {
            () = tokio::time::sleep(POLL) => false,
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
        };
        if stop && is_cancelling {
            progress.finish();
            output::note(format!(
                "stopped following; the server goes on cancelling run {run}"
            ));
            return Ok(Outcome::Cancelled);
        }
        if stop {
            is_cancelling = true;
            if context
                .store
                .request_cancel(run, chrono::Utc::now())
                .await?
            {
                wake(service);
                output::note(format!(
                    "cancelling run {run}: its running tasks get SIGTERM, then SIGKILL after 10s (Ctrl-C again stops following)"
                ));
            }
        }
    };
    progress.finish();
    super::foreground::summarize(context, workflow, run, &state).await?;
    Ok(match state {
        RunState::Succeeded { .. } => Outcome::Success,
        RunState::Cancelled { .. } => Outcome::Cancelled,
        _ => Outcome::Failure,
    })
}
