use std::path::Path;

use tidewater_core::RunState;
use tidewater_engine::Resume;

use crate::Outcome;
use crate::args::RetryArgs;
use crate::output;
use crate::project_context::ProjectContext;

pub async fn retry(project: &Path, args: RetryArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    if let RunState::Succeeded { .. } = record.state {
        output::note(format!(
            "run {} already succeeded; use `tidewater clear {} --task T` to run tasks again",
            record.id, record.id
        ));
        return Ok(Outcome::Success);
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
    super::foreground::execute(
        &context,
        &loaded.workflow,
        record.id,
        Resume::Failed,
        args.execution.parallelism,
    )
    .await
}
