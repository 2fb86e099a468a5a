use std::path::Path;

use serde::Serialize;
use std::collections::HashSet;

use tidewater_core::{AttemptOutcome, FailureClass, RunState, TaskState, WorkflowName};
use tidewater_engine::is_orphaned;
use tidewater_store::AttemptRecord;

use crate::Outcome;
use crate::args::StatusArgs;
use crate::commands::runs::{FromRecord, orphaned_note, shown_state};
use crate::output;
use tidewater_control::Control;
use tidewater_control::json::RunJson;
use tidewater_control::local_time;

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
    /// Who must act on a failure (`input`, `task`, `environment`, `timeout`, `bug`,
    /// `cancelled`); an `input` failure is not retried.
    class: Option<FailureClass>,
    /// Set when a write to the attempt's log failed: the log is incomplete.
    log_incomplete: Option<String>,
    pid: Option<i32>,
}

impl AttemptJson {
    fn new(record: &AttemptRecord) -> AttemptJson {
        let (finished_at, outcome, reason, class) = match &record.finished {
            None => (None, None, None, None),
            Some((at, AttemptOutcome::Succeeded { .. })) => {
                (Some(at.to_rfc3339()), Some("succeeded"), None, None)
            }
            Some((at, AttemptOutcome::Failed { reason })) => (
                Some(at.to_rfc3339()),
                Some("failed"),
                Some(reason.to_string()),
                Some(reason.class()),
            ),
        };
        AttemptJson {
            attempt: record.attempt.0,
            started_at: record.started_at.to_rfc3339(),
            finished_at,
            outcome,
            reason,
            class,
            log_incomplete: match &record.finished {
                Some((_, AttemptOutcome::Succeeded { log_error, .. })) => log_error.clone(),
                _ => None,
            },
            pid: record.process.map(|process| process.pid),
        }
    }
}

pub(super) async fn status(project: &Path, args: StatusArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let Some(run_id) = args.run_id else {
        return health(&context, args.json).await;
    };
    let record = context.run_record(tidewater_core::RunId(run_id)).await?;
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
            run: RunJson::from_record(&record),
            tasks,
        })?;
        return Ok(Outcome::Success);
    }
    let timezone = context.run_timezone(&record).await?;
    let orphaned = orphaned_note(&record);
    let mut text = format!(
        "run {} of {}: {}\ninterval {} to {} ({})\n",
        record.id,
        record.workflow,
        shown_state(&record),
        local_time::minutes(record.interval.start, timezone),
        local_time::minutes(record.interval.end, timezone),
        record.trigger.as_str(),
    );
    if let Some(note) = &orphaned {
        text.push_str(note);
        text.push('\n');
    }
    text.push('\n');
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
                    format!("retry at {}", local_time::seconds(*not_before, timezone))
                }
                (_, Some((_, AttemptOutcome::Failed { reason }))) => reason.to_string(),
                (
                    _,
                    Some((
                        _,
                        AttemptOutcome::Succeeded {
                            log_error: Some(error),
                            ..
                        },
                    )),
                ) => format!("log incomplete: {error}"),
                _ => String::new(),
            };
            // Who must act on the last failure; an `input` failure was not retried.
            let class = match last.and_then(|record| record.finished.as_ref()) {
                Some((_, AttemptOutcome::Failed { reason })) => reason.class().to_string(),
                _ => String::new(),
            };
            // A task recorded running in an orphaned run has nobody supervising it.
            let state = match instance.state {
                TaskState::Running { .. } if orphaned.is_some() => "orphaned",
                ref state => state.name(),
            };
            vec![
                task.to_string(),
                state.to_owned(),
                last.map(|record| record.attempt.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                duration,
                class,
                note,
            ]
        })
        .collect();
    text.push_str(&output::table(
        &["TASK", "STATE", "ATTEMPT", "DURATION", "CLASS", "NOTE"],
        &rows,
    ));
    output::data(text);
    Ok(Outcome::Success)
}

#[derive(Debug, Serialize)]
struct HealthJson {
    /// The running server's pid, if one runs.
    server: Option<i32>,
    server_started_at: Option<String>,
    workflows: Vec<WorkflowJson>,
    running_runs: usize,
    /// Of the running runs, those whose process died (`tidewater retry` resumes each).
    orphaned_runs: usize,
    queued_runs: usize,
}

#[derive(Debug, Serialize)]
struct WorkflowJson {
    file: String,
    workflow: Option<String>,
    /// The version the server schedules (the last good one).
    workflow_hash: Option<String>,
    paused: bool,
    next_due: Option<String>,
    running: usize,
    queued: usize,
    problem: Option<String>,
}

/// The server's health: is it up, its workflows and their next due times, running and
/// queued work, broken files.
async fn health(context: &Control, json: bool) -> anyhow::Result<Outcome> {
    let service = context.live_service().await?;
    let files = if service.is_some() {
        context.store.workflow_health().await?
    } else {
        Vec::new()
    };
    let paused: HashSet<WorkflowName> = context
        .store
        .paused_workflows()
        .await?
        .into_iter()
        .collect();
    let active = context.store.active_runs().await?;
    let count = |workflow: &Option<WorkflowName>, queued: bool| {
        active
            .iter()
            .filter(|run| Some(&run.workflow) == workflow.as_ref())
            .filter(|run| matches!(run.state, RunState::Queued) == queued)
            .count()
    };
    let workflows: Vec<WorkflowJson> = files
        .iter()
        .map(|file| WorkflowJson {
            file: file.file.clone(),
            workflow: file.workflow.as_ref().map(ToString::to_string),
            workflow_hash: file.workflow_hash.clone(),
            paused: file
                .workflow
                .as_ref()
                .is_some_and(|workflow| paused.contains(workflow)),
            next_due: file.next_due.map(|due| due.to_rfc3339()),
            running: count(&file.workflow, false),
            queued: count(&file.workflow, true),
            problem: file.problem.clone(),
        })
        .collect();
    let report = HealthJson {
        server: service.map(|service| service.process.pid),
        server_started_at: service.map(|service| service.started_at.to_rfc3339()),
        workflows,
        running_runs: active
            .iter()
            .filter(|run| matches!(run.state, RunState::Running { .. }))
            .count(),
        orphaned_runs: active.iter().filter(|run| is_orphaned(run)).count(),
        queued_runs: active
            .iter()
            .filter(|run| matches!(run.state, RunState::Queued))
            .count(),
    };
    if json {
        output::json(&report)?;
        return Ok(Outcome::Success);
    }
    let mut text = match service {
        Some(service) => format!(
            "server running (pid {}, since {})\n",
            service.process.pid,
            local_time::utc(service.started_at)
        ),
        None => "no server is running (`tidewater server` starts one)\n".to_owned(),
    };
    text.push_str(&format!(
        "{} runs running, {} queued (`tidewater queue` explains what waits)\n",
        report.running_runs, report.queued_runs
    ));
    for note in active.iter().filter_map(orphaned_note) {
        text.push_str(&note);
        text.push('\n');
    }
    if !report.workflows.is_empty() {
        text.push('\n');
        // Each workflow's due time in its own zone; a file that does not load has none.
        let (loaded, _) = context.project.load_workflows();
        let timezones: std::collections::HashMap<String, chrono_tz::Tz> = loaded
            .iter()
            .map(|loaded| (loaded.workflow.name.to_string(), loaded.workflow.timezone))
            .collect();
        let rows: Vec<Vec<String>> = report
            .workflows
            .iter()
            .map(|workflow| {
                vec![
                    workflow.workflow.clone().unwrap_or_else(|| "?".to_owned()),
                    workflow.file.clone(),
                    match (&workflow.problem, workflow.paused) {
                        (Some(_), _) => "broken file".to_owned(),
                        (None, true) => "paused".to_owned(),
                        (None, false) => "ok".to_owned(),
                    },
                    workflow
                        .next_due
                        .as_ref()
                        .and_then(|due| chrono::DateTime::parse_from_rfc3339(due).ok())
                        .map(|due| {
                            let timezone = workflow
                                .workflow
                                .as_ref()
                                .and_then(|name| timezones.get(name))
                                .copied()
                                .unwrap_or(chrono_tz::UTC);
                            local_time::minutes(due.to_utc(), timezone)
                        })
                        .unwrap_or_else(|| "-".to_owned()),
                    workflow.running.to_string(),
                    workflow.queued.to_string(),
                ]
            })
            .collect();
        text.push_str(&output::table(
            &["WORKFLOW", "FILE", "STATE", "NEXT DUE", "RUNNING", "QUEUED"],
            &rows,
        ));
        for workflow in &report.workflows {
            if let Some(problem) = &workflow.problem {
                text.push_str(&format!("\n{}:\n{problem}\n", workflow.file));
            }
        }
    }
    output::data(text);
    Ok(Outcome::Success)
}
