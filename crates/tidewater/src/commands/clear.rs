use std::path::Path;

use anyhow::bail;
use tidewater_core::TaskIndex;
use tidewater_engine::Resume;

use crate::Outcome;
use crate::args::ClearArgs;
use crate::output;
use crate::project_context::ProjectContext;

pub(super) async fn clear(project: &Path, args: ClearArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    let loaded = context.pinned_workflow(&record).await?;
    let workflow = &loaded.workflow;
    let mut chosen: Vec<TaskIndex> = Vec::new();
    for name in &args.tasks {
        let Some(index) = workflow.index_of(name) else {
            let known: Vec<&str> = workflow
                .tasks()
                .iter()
                .map(|task| task.name.as_str())
                .collect();
            bail!(
                "run {} has no task `{name}` (its tasks: {})",
                record.id,
                known.join(", ")
            );
        };
        chosen.push(index);
    }
    let tasks = if args.downstream {
        workflow.dag().with_downstream(&chosen)
    } else {
        chosen
    };
    let names: Vec<&str> = tasks
        .iter()
        .map(|&index| workflow.task(index).name.as_str())
        .collect();
    output::note(format!(
        "clearing {} of run {}",
        names.join(", "),
        record.id
    ));
    super::foreground::execute(
        &context,
        workflow,
        record.id,
        Resume::Tasks(tasks),
        args.execution.parallelism,
    )
    .await
}
