use std::path::Path;

use tidewater_control::{ClearScope, Resume};
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
    let clearing = control
        .clearing(RunId(args.run_id), &args.tasks, scope)
        .await?;
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
