use std::path::Path;

use anyhow::bail;
use serde::Serialize;

use crate::Outcome;
use crate::args::NextArgs;
use crate::output;
use crate::project_context::open_project;
use tidewater_control::{time_arg, waits_for};

#[derive(Debug, Serialize)]
struct IntervalJson {
    ds: String,
    data_interval_start: String,
    data_interval_end: String,
    due_at: String,
}

pub(super) fn next(project: &Path, args: NextArgs) -> anyhow::Result<Outcome> {
    let project = open_project(project)?;
    let loaded = crate::project_context::load_workflow(&project, &args.workflow)?;
    let workflow = &loaded.workflow;
    let waits_for = waits_for(&workflow.data_triggers);
    let Some(schedule) = &workflow.schedule else {
        if let Some(waits_for) = waits_for {
            // A data-only schedule has no due times: say what starts its runs instead. The
            // JSON stays what `next --json` always prints, the list of due intervals (none),
            // and the explanation goes to stderr as for a schedule with both.
            if args.json {
                output::json(&Vec::<IntervalJson>::new())?;
                output::note(format!("{} {waits_for}", workflow.name));
            } else {
                output::data(format!(
                    "{} {waits_for}: each new commit of a partition (or run) starts the run of its day in {}",
                    workflow.name, workflow.timezone
                ));
            }
            return Ok(Outcome::Success);
        }
        bail!(
            "{} has no schedule: it runs only when asked (`tidewater run {}`)",
            workflow.name,
            workflow.name
        );
    };
    let timezone = workflow.timezone;
    let after = match &args.after {
        Some(text) => time_arg::parse_time(text, timezone)?,
        None => chrono::Utc::now(),
    };
    let intervals = schedule.intervals_due_after(after, timezone, args.count);
    let local = |time: chrono::DateTime<chrono::Utc>| time.with_timezone(&timezone).to_rfc3339();
    let rows: Vec<IntervalJson> = intervals
        .iter()
        .map(|interval| IntervalJson {
            ds: interval.ds(timezone).to_string(),
            data_interval_start: local(interval.start),
            data_interval_end: local(interval.end),
            due_at: local(interval.end),
        })
        .collect();
    if args.json {
        output::json(&rows)?;
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                vec![
                    row.ds.clone(),
                    row.data_interval_start.clone(),
                    row.data_interval_end.clone(),
                ]
            })
            .collect();
        output::data(output::table(
            &["DS", "DATA INTERVAL START", "DATA INTERVAL END (DUE)"],
            &table,
        ));
        if let Some(waits_for) = waits_for {
            output::note(format!("{} also {waits_for}", workflow.name));
        }
    }
    Ok(Outcome::Success)
}
