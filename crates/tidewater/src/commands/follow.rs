//! Follows a run that the server executes: `tidewater run` hands its run to a live server
//! (so that it shares the server's task queue: pools, rates and parallelism hold across all
//! runs) and shows its progress from the store, as if it ran here. Ctrl-C asks the server to
//! cancel the run; a second Ctrl-C stops following.

use std::time::Duration;

use tidewater_control::{Control, RunObserver};
use tidewater_core::{RunId, Workflow};
use tidewater_store::ServiceRecord;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::output;
use crate::progress::Progress;

/// How often the store is read for the run's progress.
const POLL: Duration = Duration::from_millis(50);

pub(super) async fn follow(
    control: &Control,
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
    control.wake(service.process);
    output::note(format!(
        "the server (pid {}) executes run {run}; Ctrl-C cancels it",
        service.process.pid
    ));
    let progress = Progress::new();
    let mut watch = control.watch_run(run).await?;
    let mut is_cancelling = false;
    let state = loop {
        let update = control.run_update(&mut watch, workflow).await?;
        if let Some(view) = &update.view {
            progress.changed(run, workflow, &update.changes, view);
        }
        if update.record.state.is_terminal() {
            break update.record.state;
        }
        if update.is_abandoned {
            progress.finish();
            output::note(format!(
                "the server stopped; run {run} is {} and resumes when a server starts again (or now with `tidewater retry {run}`)",
                update.record.state.name()
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
            if control.request_cancel(run).await?.is_some() {
                control.wake(service.process);
                output::note(format!(
                    "cancelling run {run}: its running tasks get SIGTERM, then SIGKILL after 10s (Ctrl-C again stops following)"
                ));
            }
        }
    };
    progress.finish();
    super::foreground::summarize(control, workflow, run, &state).await?;
    Ok(super::foreground::outcome(&state))
}
