//! `tidewater queue`: what waits and why (see [`tidewater_control::QueueExplanation`]).

use std::path::Path;

use tidewater_control::QueuedRuns;
use tidewater_control::json::WaitingJson;

use crate::Outcome;
use crate::args::QueueArgs;
use crate::output;

pub(super) async fn queue(project: &Path, args: QueueArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    // `--json` is complete: every queued run, each with why it waits.
    let queued_runs = if args.json {
        QueuedRuns::EachRun
    } else {
        QueuedRuns::Grouped
    };
    let explanation = context.explain_queue(args.parallelism, queued_runs).await?;
    if args.json {
        output::json(
            &explanation
                .waiting
                .iter()
                .map(WaitingJson::new)
                .collect::<Vec<_>>(),
        )?;
    } else if explanation.waiting.is_empty() && explanation.groups.is_empty() {
        output::note("nothing is waiting");
    } else {
        // Queued runs one line per queue and reason, with their first ids; then each task.
        let mut table: Vec<Vec<String>> = explanation
            .groups
            .iter()
            .map(|group| {
                let mut ids: Vec<String> = group.first.iter().map(ToString::to_string).collect();
                if group.count > group.first.len() as u64 {
                    ids.push("…".to_owned());
                }
                vec![
                    ids.join(", "),
                    group.workflow.clone(),
                    if group.count == 1 {
                        "(run)".to_owned()
                    } else {
                        format!("({} runs)", group.count)
                    },
                    "queued".to_owned(),
                    group.why.clone(),
                ]
            })
            .collect();
        table.extend(explanation.waiting.iter().map(|row| {
            vec![
                row.run.to_string(),
                row.workflow.to_string(),
                row.task
                    .as_ref()
                    .map_or_else(|| "(run)".to_owned(), ToString::to_string),
                row.state.to_owned(),
                row.why.clone(),
            ]
        }));
        output::data(output::table(
            &["RUN", "WORKFLOW", "TASK", "STATE", "WAITING FOR"],
            &table,
        ));
    }
    Ok(Outcome::Success)
}
