use std::path::Path;

use serde::Serialize;
use tidewater_core::{AttemptOutcome, TaskState};
use tidewater_store::{AttemptRecord, RunStore};

use crate::Outcome;
use crate::args::StatusArgs;
use crate::commands::runs::RunJson;
use crate::output;
use crate::project_context::ProjectContext;

#[derive(Debug, Serialize)]
struct StatusJson {
    run: RunJson,
    tasks: Vec<TaskJson>,
}

#[derive(Debug, Serialize)]
struct TaskJson {
    task: String,
    state: &'static str,
    attempts: Vec<AttemptJson>,
    output: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct AttemptJson {
    attempt: u32,
    started_at: String,
    finished_at: Option<String>,
    outcome: Option<&'static str>,
    reason: Option<String>,
    pid: Option<i32>,
}

impl AttemptJson {
    fn new(record: &AttemptRecord) -> AttemptJson {
        let (finished_at, outcome, reason) = match &record.finished {
            None => (None, None, None),
            Some((at, AttemptOutcome::Succeeded { .. })) => {
                (Some(at.to_rfc3339()), Some("succeeded"), None)
            }
            Some((at, AttemptOutcome::Failed { reason })) => (
                Some(at.to_rfc3339()),
                Some("failed"),
                Some(reason.to_string()),
            ),
        };
        AttemptJson {
            attempt: record.attempt.0,
            started_at: record.started_at.to_rfc3339(),
            finished_at,
            outcome,
            reason,
            pid: record.process.map(|process| process.pid),
        }
    }
}

pub async fn status(project: &Path, args: StatusArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let record = context.run_record(args.run_id).await?;
    let instances = context.store.task_instances(record.id).await?;
    let attempts = context.store.attempts(record.id, None).await?;
    let tasks: Vec<TaskJson> = instances
        .iter()
        .map(|(task, instance)| TaskJson {
            task: task.to_string(),
            state: instance.state.name(),
            attempts: attempts
                .iter()
                .filter(|record| &record.task == task)
                .map(AttemptJson::new)
                .collect(),
            output: instance.output.clone(),
        })
        .collect();
    if args.json {
        output::json(&StatusJson {
            run: RunJson::new(&record),
            tasks,
        })?;
        return Ok(Outcome::Success);
    }
    let mut text = format!(
        "run {} of {}: {}\ninterval {} to {} ({})\n\n",
        record.id,
        record.workflow,
        record.state.name(),
        record.interval.start.to_rfc3339(),
        record.interval.end.to_rfc3339(),
        record.trigger.as_str(),
    );
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|(task, instance)| {
            let last = attempts.iter().rfind(|record| &record.task == task);
            let duration = last
                .and_then(|record| {
                    record
                        .finished
                        .as_ref()
                        .map(|(end, _)| output::duration(*end - record.started_at))
                })
                .unwrap_or_else(|| "-".to_owned());
            let note = match (
                &instance.state,
                last.and_then(|record| record.finished.as_ref()),
            ) {
                (TaskState::UpForRetry { not_before, .. }, _) => {
                    format!("retry at {}", not_before.to_rfc3339())
                }
                (_, Some((_, AttemptOutcome::Failed { reason }))) => reason.to_string(),
                _ => String::new(),
            };
            vec![
                task.to_string(),
                instance.state.name().to_owned(),
                last.map(|record| record.attempt.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                duration,
                note,
            ]
        })
        .collect();
    text.push_str(&output::table(
        &["TASK", "STATE", "ATTEMPT", "DURATION", "NOTE"],
        &rows,
    ));
    output::data(text);
    Ok(Outcome::Success)
}
