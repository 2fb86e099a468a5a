//! `pause`, `unpause` and `trigger`: steering the server's scheduling.

use std::path::Path;

use tidewater_control::{Concurrency, ManualRunRequest};

use crate::Outcome;
use crate::args::{PauseArgs, TriggerArgs};
use crate::commands::run::{interval_request, param_overrides};
use crate::output;

pub(super) async fn pause(
    project: &Path,
    args: PauseArgs,
    paused: bool,
) -> anyhow::Result<Outcome> {
    let (control, loaded) =
        crate::project_context::open_with_workflow(project, &args.workflow).await?;
    let change = control.set_paused(&loaded, paused).await?;
    let name = &loaded.workflow.name;
    let state = if paused { "paused" } else { "unpaused" };
    if change.is_changed {
        output::note(if paused {
            format!("{name} paused: no new runs are created; running ones finish")
        } else {
            format!("{name} unpaused")
        });
    } else {
        output::note(format!("{name} was already {state}"));
    }
    Ok(Outcome::Success)
}

pub(super) async fn trigger(project: &Path, args: TriggerArgs) -> anyhow::Result<Outcome> {
    let (control, loaded) =
        crate::project_context::open_with_workflow(project, &args.workflow).await?;
    let request = ManualRunRequest {
        interval: interval_request(args.date.as_deref(), None)?,
        params: param_overrides(&args.params)?,
        concurrency: Concurrency::from_flag(args.allow_concurrent),
    };
    let triggered = control.trigger(&loaded, &request).await?;
    let (workflow, record) = (&loaded.workflow, &triggered.run);
    let ds = record.interval.ds(workflow.timezone);
    match &triggered.server {
        Some(service) => output::note(format!(
            "run {} of {} for {ds} queued; the server (pid {}) starts it",
            record.id, workflow.name, service.process.pid
        )),
        None => output::note(format!(
            "run {} of {} for {ds} queued; no server is running: it starts when `tidewater server` does, or now with `tidewater retry {}`",
            record.id, workflow.name, record.id
        )),
    }
    output::data(record.id);
    Ok(Outcome::Success)
}
