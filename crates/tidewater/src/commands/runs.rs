use std::collections::HashMap;
use std::path::Path;

use tidewater_control::json::RunJson;
use tidewater_core::{BackfillId, WorkflowName};
use tidewater_engine::is_orphaned;
use tidewater_store::{RunFilter, RunRecord};

use crate::Outcome;
use crate::args::RunsArgs;
use crate::output;
use tidewater_control::Control;

/// The state a person should read: a run whose process died is not running, whatever the
/// record says.
pub(super) fn shown_state(record: &RunRecord) -> &'static str {
    if is_orphaned(record) {
        "orphaned"
    } else {
        record.state.name()
    }
}

/// What happened to an orphaned run and how to resume it; `None` for any other run.
pub(super) fn orphaned_note(record: &RunRecord) -> Option<String> {
    if !is_orphaned(record) {
        return None;
    }
    let what = match record.owner {
        Some(owner) => format!("the process executing it (pid {}) died", owner.pid),
        None => "no process executes it".to_owned(),
    };
    Some(format!(
        "run {} is orphaned: {what}; `tidewater retry {}` resumes it",
        record.id, record.id
    ))
}

pub(super) async fn runs(project: &Path, args: RunsArgs) -> anyhow::Result<Outcome> {
    let context = crate::project_context::open(project).await?;
    let filter = RunFilter {
        workflow: args.workflow.map(WorkflowName::new),
        state: args.state,
        backfill: args.backfill.map(BackfillId),
        limit: Some(args.limit),
    };
    let is_filtered = filter.state.is_some() || filter.backfill.is_some();
    let records = context.store.list_runs(&filter).await?;
    if args.json {
        output::json(&records.iter().map(RunJson::from_record).collect::<Vec<_>>())?;
        return Ok(Outcome::Success);
    }
    if records.is_empty() && is_filtered {
        output::note("no runs match");
        return Ok(Outcome::Success);
    }
    if records.is_empty() {
        output::note("no runs yet; start one with `tidewater run WORKFLOW`");
        return Ok(Outcome::Success);
    }
    let timezones = pinned_timezones(&context, &records).await?;
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
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
                record
                    .interval
                    .ds(timezones
                        .get(&record.workflow_hash)
                        .copied()
                        .unwrap_or(chrono_tz::UTC))
                    .to_string(),
                shown_state(record).to_owned(),
                record.trigger.as_str().to_owned(),
                duration,
            ]
        })
        .collect();
    let mut text = output::table(
        &["RUN", "WORKFLOW", "DS", "STATE", "TRIGGER", "DURATION"],
        &rows,
    );
    let notes: Vec<String> = records.iter().filter_map(orphaned_note).collect();
    if !notes.is_empty() {
        text.push_str("\n\n");
        text.push_str(&notes.join("\n"));
    }
    output::data(text);
    Ok(Outcome::Success)
}

/// The time zone of each workflow version among `records` (keyed by its hash): `ds` is a
/// date in the zone of the version a run was created with, which a later edit of the file
/// does not change. Each version's text is read from the store and parsed once; a version
/// that no longer parses shows its runs' dates in UTC (the runs keep their UTC intervals).
async fn pinned_timezones(
    context: &Control,
    records: &[RunRecord],
) -> anyhow::Result<HashMap<String, chrono_tz::Tz>> {
    let mut timezones = HashMap::new();
    for record in records {
        if timezones.contains_key(&record.workflow_hash) {
            continue;
        }
        let timezone = match context.store.workflow_source(record.id).await? {
            Some(source) => context
                .project
                .parse_pinned(record.workflow.as_str(), &source)
                .map_or(chrono_tz::UTC, |loaded| loaded.workflow.timezone),
            None => chrono_tz::UTC,
        };
        timezones.insert(record.workflow_hash.clone(), timezone);
    }
    Ok(timezones)
}

/// Shorthand while the read models move: a run's JSON with its liveness asked here.
pub(super) trait FromRecord {
    fn from_record(record: &RunRecord) -> RunJson;
}

impl FromRecord for RunJson {
    fn from_record(record: &RunRecord) -> RunJson {
        RunJson::new(record, is_orphaned(record))
    }
}
