use std::path::Path;

use tidewater_control::json::{HealthJson, StatusJson};
use tidewater_control::{Control, NotificationLine, TaskNote, local_time};

use crate::Outcome;
use crate::args::StatusArgs;
use crate::output;

pub(super) async fn status(project: &Path, args: StatusArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let Some(run_id) = args.run_id else {
        return health(&context, args.json).await;
    };
    let status = context.run_status(tidewater_core::RunId(run_id)).await?;
    if args.json {
        output::json(&StatusJson::new(&status))?;
        return Ok(Outcome::Success);
    }
    let record = &status.run.record;
    let timezone = status.timezone;
    let orphaned = status.run.orphaned_note();
    let mut text = format!(
        "run {} of {}: {}\ninterval {} to {} ({})\n",
        record.id,
        record.workflow,
        status.run.shown_state(),
        local_time::minutes(record.interval.start, timezone),
        local_time::minutes(record.interval.end, timezone),
        record.trigger.as_str(),
    );
    if let Some(parent) = &status.parent {
        text.push_str(&format!(
            "called by run {} task {} (`tidewater status {}`)\n",
            parent.run, parent.task, parent.run
        ));
    }
    if let Some(note) = &orphaned {
        text.push_str(note);
        text.push('\n');
    }
    text.push('\n');
    let rows: Vec<Vec<String>> = status
        .tasks
        .iter()
        .map(|task| {
            let note = match task.note() {
                TaskNote::RetryAt(not_before) => {
                    format!("retry at {}", local_time::seconds(not_before, timezone))
                }
                TaskNote::Failed(reason) => reason.to_string(),
                TaskNote::LogIncomplete(error) => format!("log incomplete: {error}"),
                TaskNote::None => String::new(),
            };
            // A `call` names its child run, whose own status says what it does.
            let note = match (task.child, note.is_empty()) {
                (Some(child), true) => format!("child run {child}"),
                (Some(child), false) => format!("child run {child}: {note}"),
                (None, _) => note,
            };
            vec![
                task.task.to_string(),
                task.shown_state(status.run.is_orphaned).to_owned(),
                task.last_attempt()
                    .map(|record| record.attempt.to_string())
                    .unwrap_or_else(|| "-".to_owned()),
                task.duration()
                    .map(output::duration)
                    .unwrap_or_else(|| "-".to_owned()),
                // Who must act on the last failure; an `input` failure was not retried.
                task.class()
                    .map(|class| class.to_string())
                    .unwrap_or_default(),
                note,
            ]
        })
        .collect();
    text.push_str(&output::table(
        &["TASK", "STATE", "ATTEMPT", "DURATION", "CLASS", "NOTE"],
        &rows,
    ));
    if !status.notifications.is_empty() {
        text.push('\n');
        text.push_str(&notification_table(&status.notifications, timezone));
    }
    output::data(text);
    Ok(Outcome::Success)
}

/// The run's webhooks: which event, how delivery went, and the last error.
fn notification_table(
    notifications: &[tidewater_store::NotificationRecord],
    timezone: chrono_tz::Tz,
) -> String {
    let rows: Vec<Vec<String>> = notifications
        .iter()
        .map(|record| {
            let line = NotificationLine::new(record);
            let at = local_time::seconds(line.at, timezone);
            vec![
                line.event,
                line.state.to_owned(),
                line.deliveries.to_string(),
                if line.state == "pending" {
                    format!("next at {at}")
                } else {
                    at
                },
                line.last_error.unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &["WEBHOOK", "STATE", "DELIVERIES", "AT", "LAST ERROR"],
        &rows,
    )
}

/// The server's health: is it up, its workflows and their next due times, running and
/// queued work, broken files.
async fn health(context: &Control, json: bool) -> anyhow::Result<Outcome> {
    let health = context.health().await?;
    if json {
        output::json(&HealthJson::new(&health))?;
        return Ok(Outcome::Success);
    }
    let mut text = match health.service {
        Some(service) => format!(
            "server running (pid {}, since {})\n",
            health
                .server_pid
                .map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
            local_time::utc(service.started_at)
        ),
        None => "no server is running (`tidewater server` starts one)\n".to_owned(),
    };
    text.push_str(&format!(
        "{} runs running, {} queued (`tidewater queue` explains what waits)\n",
        health.running_runs, health.queued_runs
    ));
    for note in health.orphaned.iter().filter_map(|run| run.orphaned_note()) {
        text.push_str(&note);
        text.push('\n');
    }
    if !health.workflows.is_empty() {
        text.push('\n');
        let rows: Vec<Vec<String>> = health
            .workflows
            .iter()
            .map(|workflow| {
                vec![
                    workflow
                        .workflow
                        .as_ref()
                        .map_or_else(|| "?".to_owned(), ToString::to_string),
                    workflow.file.clone(),
                    match (&workflow.problem, workflow.is_paused) {
                        (Some(_), _) => "broken file".to_owned(),
                        (None, true) => "paused".to_owned(),
                        (None, false) => "ok".to_owned(),
                    },
                    workflow
                        .next_due
                        .map(|due| local_time::minutes(due, workflow.timezone))
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
        for workflow in &health.workflows {
            if let Some(problem) = &workflow.problem {
                text.push_str(&format!("\n{}:\n{problem}\n", workflow.file));
            }
        }
    }
    output::data(text);
    Ok(Outcome::Success)
}
