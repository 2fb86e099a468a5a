use std::path::Path;

use tidewater_control::{Clear, ClearScope, Resume};
use tidewater_core::RunId;

use crate::Outcome;
use crate::args::ClearArgs;
use crate::output;

pub(super) async fn clear(project: &Path, args: ClearArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let scope = if args.downstream {
        ClearScope::WithDownstream
    } else {
        ClearScope::Tasks
    };
    // With a server up, the use case hands the run to it (as the API does) and this command
    // follows it; otherwise it executes the run here.
    match control
        .clear(RunId(args.run_id), &args.tasks, scope)
        .await?
    {
        Clear::Requeued { clearing, server } => {
            output::note(format!(
                "clearing {} of run {} (the server runs them)",
                clearing.task_names().join(", "),
                clearing.run.id
            ));
            super::follow::follow(
                &control,
                &clearing.loaded.workflow,
                clearing.run.id,
                &server,
                args.execution.parallelism,
            )
            .await
        }
        Clear::ExecuteHere(clearing) => {
            output::note(format!(
                "clearing {} of run {}",
                clearing.task_names().join(", "),
                clearing.run.id
            ));
            super::foreground::execute(
                &control,
                &clearing.loaded.workflow,
                clearing.run.id,
                Resume::Tasks(clearing.tasks.clone()),
                args.execution.parallelism,
            )
            .await
        }
    }
}
