use std::path::Path;

use anyhow::{Context, bail};
use tidewater_core::{Attempt, TaskAction, TaskInstance, TaskName, TaskState};
use tidewater_store::{RunRecord, RunStore};

use crate::Outcome;
use crate::args::LogsArgs;
use crate::attempt_log_file::attempt_log_path;
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
                "{}",
                why_no_log(&context, &record, &task, &instances).await?
            ),
        },
    };
    let log = attempt_log_path(&context.project.config.state_dir, record.id, &task, attempt);
    let text =
        std::fs::read(&log).with_context(|| format!("cannot read the log {}", log.display()))?;
    crate::output::write_stdout(&text);
    Ok(Outcome::Success)
}

/// Why a task that has no attempt has no log, in terms of what happened to it: an `empty`
/// task succeeds without a process, a task whose upstream failed never ran.
async fn why_no_log(
    context: &ProjectContext,
    record: &RunRecord,
    task: &TaskName,
    instances: &[(TaskName, TaskInstance)],
) -> anyhow::Result<String> {
    let state = instances
        .iter()
        .find(|(name, _)| name == task)
        .map(|(_, instance)| &instance.state);
    // The version the run was created with says what kind of task it is and what it needs;
    // should that version no longer parse, the messages do without.
    let pinned = match context.store.workflow_source(record.id).await? {
        Some(source) => context
            .project
            .parse_pinned(record.workflow.as_str(), &source)
            .ok(),
        None => None,
    };
    let definition = pinned.as_ref().and_then(|loaded| {
        let workflow = &loaded.workflow;
        workflow
            .index_of(task.as_str())
            .map(|index| (workflow, workflow.task(index)))
    });
    Ok(match state {
        Some(TaskState::Succeeded { .. })
            if definition.is_some_and(|(_, definition)| definition.action == TaskAction::Empty) =>
        {
            format!("{task} is an `empty` task: it succeeded without a process, so it has no log")
        }
        Some(TaskState::UpstreamFailed) => {
            let failed: Vec<String> = definition
                .map(|(workflow, definition)| {
                    definition
                        .needs
                        .iter()
                        .map(|index| &workflow.task(*index).name)
                        .filter_map(|upstream| {
                            instances
                                .iter()
                                .find(|(name, _)| name == upstream)
                                .filter(|(_, instance)| {
                                    matches!(
                                        instance.state,
                                        TaskState::Failed { .. } | TaskState::UpstreamFailed
                                    )
                                })
                                .map(|(name, instance)| format!("{name} {}", instance.state.name()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if failed.is_empty() {
                format!("{task} did not run: upstream_failed, so it has no log")
            } else {
                format!(
                    "{task} did not run: upstream_failed ({}), so it has no log",
                    failed.join(", ")
                )
            }
        }
        Some(TaskState::Skipped) => {
            format!("{task} did not run: it was skipped, so it has no log")
        }
        Some(TaskState::Cancelled) => format!(
            "{task} did not run: run {} was cancelled before it started, so it has no log",
            record.id
        ),
        _ => format!(
            "{task} of run {} has not started yet, so it has no log",
            record.id
        ),
    })
}
