use std::path::Path;

use crate::Outcome;
use crate::args::WorkflowsArgs;
use crate::output;
use tidewater_control::json::WorkflowJson;
use tidewater_control::{FileStatus, NextDue, WorkflowOverview, local_time};

pub(super) async fn workflows(project: &Path, args: WorkflowsArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let overview = context.workflow_overview(chrono::Utc::now()).await?;
    if args.json {
        output::json(&overview.iter().map(WorkflowJson::new).collect::<Vec<_>>())?;
        return Ok(Outcome::Success);
    }
    if overview.is_empty() {
        output::note(
            "no workflow files yet; add one under workflows/ (`tidewater init` writes an example)",
        );
        return Ok(Outcome::Success);
    }
    output::data(render(&overview));
    Ok(Outcome::Success)
}

/// The table, then each broken file's first problem.
fn render(overview: &[WorkflowOverview]) -> String {
    let rows: Vec<Vec<String>> = overview.iter().map(row).collect();
    let mut text = output::table(
        &["WORKFLOW", "SCHEDULE", "NEXT DUE", "PAUSED", "LAST RUN"],
        &rows,
    );
    let broken: Vec<String> = overview
        .iter()
        .filter_map(|file| match &file.status {
            FileStatus::Broken(problems) => {
                let more = match problems.count {
                    1 => String::new(),
                    count => format!(" (and {} more)", count - 1),
                };
                Some(format!(
                    "  {}: {}{more}",
                    problems.location.as_deref().unwrap_or(&file.file),
                    problems.first
                ))
            }
            FileStatus::Loaded(_) => None,
        })
        .collect();
    if !broken.is_empty() {
        text.push_str("\n\nbroken files (`tidewater validate` shows every problem):\n");
        text.push_str(&broken.join("\n"));
    }
    text
}

fn row(file: &WorkflowOverview) -> Vec<String> {
    match &file.status {
        FileStatus::Broken(_) => vec![
            file.file.clone(),
            "broken file".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ],
        FileStatus::Loaded(summary) => {
            let timezone = summary.timezone;
            let schedule = match (&summary.schedule, summary.data_triggers.is_empty()) {
                (Some(expression), _) => format!("{expression} ({timezone})"),
                (None, false) => "on data".to_owned(),
                (None, true) => "manual".to_owned(),
            };
            let next_due = match summary.next_due {
                NextDue::Never => summary.waits_for().unwrap_or_else(|| "-".to_owned()),
                NextDue::Paused => "paused".to_owned(),
                NextDue::Now { intervals: 1, .. } => "now (1 interval)".to_owned(),
                NextDue::Now { intervals, .. } => format!("now ({intervals} intervals)"),
                NextDue::At(at) => local_time::minutes(at, timezone),
            };
            let last_run = match &summary.last_run {
                Some(last) => format!(
                    "{} {} (run {})",
                    last.state.name(),
                    local_time::minutes(last.at, timezone),
                    last.id
                ),
                None => "-".to_owned(),
            };
            vec![
                summary.name.to_string(),
                schedule,
                next_due,
                if summary.is_paused { "yes" } else { "no" }.to_owned(),
                last_run,
            ]
        }
    }
}
