//! `pause`, `unpause` and `trigger`: steering the server's scheduling.

use std::path::Path;

use crate::Outcome;
use crate::args::{PauseArgs, TriggerArgs};
use crate::commands::run::{Concurrency, create_manual_run};
use crate::output;
use crate::project_context::ProjectContext;
use crate::service_client::{live_service, wake};

pub(super) async fn pause(
    project: &Path,
    args: PauseArgs,
    paused: bool,
) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let loaded = context.load_workflow(&args.workflow)?;
    let name = &loaded.workflow.name;
    let changed = context
        .store
        .set_paused(name, paused, chrono::Utc::now())
        .await?;
    let state = if paused { "paused" } else { "unpaused" };
    if changed {
        output::note(if paused {
            format!("{name} paused: no new runs are created; running ones finish")
        } else {
            format!("{name} unpaused")
        });
    } else {
        output::note(format!("{name} was already {state}"));
    }
    if let Some(service) = live_service(&context.store).await? {
        wake(&service);
    }
    Ok(Outcome::Success)
}

pub(super) async fn trigger(project: &Path, args: TriggerArgs) -> anyhow::Result<Outcome> {
    let (context, loaded) = ProjectContext::open_with_workflow(project, &args.workflow).await?;
    let record = create_manual_run(
        &context,
        &loaded,
        args.date.as_deref(),
        None,
        &args.params,
        Concurrency::from_flag(args.allow_concurrent),
    )
    .await?;
    let workflow = &loaded.workflow;
    let interval = record.interval;
    match live_service(&context.store).await? {
        Some(service) => {
            wake(&service);
            output::note(format!(
                "run {} of {} for {} queued; the server (pid {}) starts it",
                record.id,
                workflow.name,
                interval.ds(workflow.timezone),
                service.process.pid
            ));
        }
        None => output::note(format!(
            "run {} of {} for {} queued; no server is running: it starts when `tidewater server` does, or now with `tidewater retry {}`",
            record.id,
            workflow.name,
            interval.ds(workflow.timezone),
            record.id
        )),
    }
    output::data(record.id);
    Ok(Outcome::Success)
}
