use std::path::Path;

use tidewater_core::{BackfillId, WorkflowName};
use tidewater_store::RunFilter;

use crate::Outcome;
use crate::args::RunsArgs;
use crate::output;

pub(super) async fn runs(project: &Path, args: RunsArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let range = context.run_date_range(
        args.workflow.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
    )?;
    let filter = RunFilter {
        workflow: args.workflow.map(WorkflowName::new),
        state: args.state,
        backfill: args.backfill.map(BackfillId),
        before: None,
        starts_from: range.starts_from,
        starts_before: range.starts_before,
        limit: Some(args.limit),
    };
    let mut list = context.list_runs(&filter).await?;
    if args.json {
        output::json(&list.json())?;
        return Ok(Outcome::Success);
    }
    if list.runs.is_empty() && list.is_filtered {
        output::note("no runs match");
        return Ok(Outcome::Success);
    }
    if list.runs.is_empty() {
        output::note("no runs yet; start one with `tidewater run WORKFLOW`");
        return Ok(Outcome::Success);
    }
    context.date_runs(&mut list).await?;
    let rows: Vec<Vec<String>> = list
        .runs
        .iter()
        .map(|run| {
            let record = &run.record;
            let duration = match (record.state.started_at(), record.state.finished_at()) {
                (Some(start), Some(end)) => output::duration(end - start),
                (Some(start), None) => {
                    format!("{} so far", output::duration(chrono::Utc::now() - start))
                }
                _ => "-".to_owned(),
            };
            vec![
                record.id.to_string(),
                record.workflow.to_string(),
                record.interval.ds(list.timezone(record)).to_string(),
                run.shown_state().to_owned(),
                record.trigger.as_str().to_owned(),
                duration,
            ]
        })
        .collect();
    let mut text = output::table(
        &["RUN", "WORKFLOW", "DS", "STATE", "TRIGGER", "DURATION"],
        &rows,
    );
    let notes: Vec<String> = list
        .runs
        .iter()
        .filter_map(|run| run.orphaned_note())
        .collect();
    if !notes.is_empty() {
        text.push_str("\n\n");
        text.push_str(&notes.join("\n"));
    }
    output::data(text);
    Ok(Outcome::Success)
}
