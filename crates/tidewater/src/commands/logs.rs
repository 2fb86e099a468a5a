use std::path::Path;

use anyhow::{Context, bail};
use tidewater_core::{Attempt, TaskName};
use tidewater_engine::AttemptPaths;
use tidewater_store::RunStore;

use crate::Outcome;
use crate::args::LogsArgs;
use crate::project_context::ProjectContext;

pub async fn logs(project: &Path, args: LogsArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    let task = TaskName::new(&args.task);
    let instances = context.store.task_instances(record.id).await?;
    if !instances.iter().any(|(name, _)| name == &task) {
        let known: Vec<String> = instances.iter().map(|(name, _)| name.to_string()).collect();
        bail!(
            "run {} has no task `{}` (its tasks: {})",
            record.id,
            task,
            known.join(", ")
        );
    }
    let attempts = context.store.attempts(record.id, Some(&task)).await?;
    let attempt = match args.attempt {
        Some(number) => {
            if !attempts.iter().any(|record| record.attempt.0 == number) {
                bail!(
                    "task `{task}` of run {} has no attempt {number} (it has {})",
                    record.id,
                    attempts.len()
                );
            }
            Attempt(number)
        }
        None => match attempts.last() {
            Some(last) => last.attempt,
            None => bail!(
                "task `{task}` of run {} has not started yet, so it has no log",
                record.id
            ),
        },
    };
    let state_dir = &context.project.config.state_dir;
    let log = AttemptPaths::new(state_dir, record.id, &task, attempt).log;
    // Runs recorded before one log folder per run keep their logs where they were.
    let old = AttemptPaths::folder_per_task_log(state_dir, record.id, &task, attempt);
    let log = if !log.exists() && old.exists() {
        old
    } else {
        log
    };
    let text =
        std::fs::read(&log).with_context(|| format!("cannot read the log {}", log.display()))?;
    crate::output::write_stdout(&text);
    Ok(Outcome::Success)
}
