//! `tidewater cancel`: stops a queued or running run, whichever process executes it.
//!
//! The request is recorded in the store and the executing process is woken (SIGUSR1): the
//! server, a `tidewater run` or a foreground backfill. Each of them also looks for requests
//! every two seconds. A run that nobody executes (queued without a server, or left running
//! by a process that died) is cancelled here, its leftover processes killed first.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{ProcessIdentity, RunState};
use tidewater_engine::{CancelHandle, Resume, SilentObserver, is_alive};
use tidewater_store::RunRecord;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::CancelArgs;
use crate::output;
use crate::project_context::ProjectContext;
use crate::service_client::{live_service, wake_process};

/// How often the command looks whether the run has stopped.
const WAIT_POLL: Duration = Duration::from_millis(100);

pub(super) async fn cancel(project: &std::path::Path, args: CancelArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    if !is_active(&record)
        || !context
            .store
            .request_cancel(record.id, chrono::Utc::now())
            .await?
    {
        return already_ended(&context, args.run_id).await;
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut asked: Option<ProcessIdentity> = None;
    loop {
        let record = context.run_record(args.run_id).await?;
        if !is_active(&record) {
            output::note(format!("run {} {}", record.id, record.state.name()));
            return Ok(Outcome::Success);
        }
        let executor = match record.owner.filter(|owner| is_alive(*owner)) {
            Some(owner) => Some(owner),
            None => live_service(&context.store)
                .await?
                .map(|service| service.process),
        };
        match executor {
            Some(process) if asked != Some(process) => {
                // Wakes the process now instead of at its next look at the store.
                wake_process(process);
                output::note(format!(
                    "asked process {} to cancel run {}",
                    process.pid, record.id
                ));
                asked = Some(process);
                if args.no_wait {
                    return Ok(Outcome::Success);
                }
            }
            Some(_) => {}
            None => return cancel_here(&context, &record).await,
        }
        tokio::select! {
            () = tokio::time::sleep(WAIT_POLL) => {}
            _ = interrupt.recv() => {
                output::note(format!("stopped waiting; run {} is being cancelled", record.id));
                return Ok(Outcome::Cancelled);
            }
        }
    }
}

fn is_active(record: &RunRecord) -> bool {
    matches!(record.state, RunState::Queued | RunState::Running { .. })
}

async fn already_ended(context: &ProjectContext, id: i64) -> anyhow::Result<Outcome> {
    let record = context.run_record(id).await?;
    output::note(format!(
        "run {id} already {}; nothing to cancel",
        record.state.name()
    ));
    Ok(Outcome::Success)
}

/// Nobody executes the run: record it cancelled from this process.
async fn cancel_here(context: &ProjectContext, record: &RunRecord) -> anyhow::Result<Outcome> {
    let loaded = context.pinned_workflow(record).await?;
    let executor = context.executor(Some(1), Arc::new(SilentObserver))?;
    let cancel = CancelHandle::new();
    cancel.cancel();
    let state = executor
        .execute(&loaded.workflow, record.id, Resume::Continue, &cancel)
        .await?;
    output::note(format!("run {} {}", record.id, state.name()));
    Ok(Outcome::Success)
}
