use std::path::Path;

use anyhow::bail;
use tidewater_core::RunState;
use tidewater_engine::{Resume, is_alive, requeue};

use crate::Outcome;
use crate::args::RetryArgs;
use crate::output;
use crate::project_context::ProjectContext;
use crate::service_client::live_service;

pub(super) async fn retry(project: &Path, args: RetryArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    if let RunState::Succeeded { .. } = record.state {
        output::note(format!(
            "run {} already succeeded; use `tidewater clear {} --task T` to run tasks again",
            record.id, record.id
        ));
        return Ok(Outcome::Success);
    }
    if let Some(owner) = record.owner.filter(|owner| is_alive(*owner)) {
        bail!(
            "run {} is being executed by process {}; `tidewater cancel {}` stops it",
            record.id,
            owner.pid,
            record.id
        );
    }
    let loaded = if args.latest {
        let current = context.load_workflow(record.workflow.as_str())?;
        if current.hash != record.workflow_hash {
            output::note(format!(
                "run {} resumes on the current version of {} (it started on another)",
                record.id, record.workflow
            ));
        }
        current
    } else {
        context.pinned_workflow(&record).await?
    };
    output::note(format!(
        "resuming run {} of {} ({})",
        record.id,
        record.workflow,
        record.state.name()
    ));
    // With a server up, the run is queued again and the server resumes it (a queued run's
    // tasks that did not succeed run again), under its shared task queue. A run resumed on
    // another version than its pinned one is executed here: the server executes runs on
    // the version they are pinned to.
    if !args.latest
        && let Some(service) = live_service(&context.store).await?
    {
        requeue(
            &*context.store,
            &loaded.workflow,
            record.id,
            chrono::Utc::now(),
        )
        .await?;
        return super::follow::follow(
            &context,
            &loaded.workflow,
            record.id,
            &service,
            args.execution.parallelism,
        )
        .await;
    }
    super::foreground::execute(
        &context,
        &loaded.workflow,
        record.id,
        Resume::Failed,
        args.execution.parallelism,
    )
    .await
}
