//! JSON shape of the workflow overview (`tidewater workflows --json`).

use serde::Serialize;

use crate::local_time;
use crate::run_entry::RunEntry;
use crate::workflow_overview::{FileStatus, NextDue, WorkflowOverview};

/// A workflow file as `--json` shows it; times are RFC 3339 in the workflow's time zone.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowJson {
    pub file: String,
    pub workflow: Option<String>,
    pub schedule: Option<String>,
    /// What a data-aware schedule (`schedule: { on }`) waits for, e.g. "waits for a commit
    /// to raw.orders".
    pub waits_for: Option<String>,
    pub timezone: Option<String>,
    pub paused: bool,
    /// When the next run is due; in the past when ended intervals wait for their runs.
    pub next_due: Option<String>,
    /// How many ended intervals have no run yet (a server creates them at once).
    pub intervals_due_now: usize,
    pub last_run: Option<LastRunJson>,
    /// The newest runs (at most [`crate::RECENT_RUNS`]), newest first: the strip of states
    /// that shows whether the workflow has been failing lately.
    pub recent_runs: Vec<RecentRunJson>,
    pub problem: Option<ProblemJson>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastRunJson {
    pub id: i64,
    pub state: &'static str,
    pub at: String,
}

/// One run of a workflow's strip of recent runs.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentRunJson {
    pub id: i64,
    pub state: &'static str,
    /// Recorded `running`, but the process executing it died: `tidewater retry` resumes it.
    pub orphaned: bool,
    /// The start of its data interval.
    pub interval_start: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProblemJson {
    pub message: String,
    pub location: Option<String>,
    pub count: usize,
}

impl WorkflowJson {
    pub fn new(overview: &WorkflowOverview) -> WorkflowJson {
        match &overview.status {
            FileStatus::Broken(problems) => WorkflowJson {
                file: overview.file.clone(),
                workflow: None,
                schedule: None,
                waits_for: None,
                timezone: None,
                paused: false,
                next_due: None,
                intervals_due_now: 0,
                last_run: None,
                recent_runs: Vec::new(),
                problem: Some(ProblemJson {
                    message: problems.first.clone(),
                    location: problems.location.clone(),
                    count: problems.count,
                }),
            },
            FileStatus::Loaded(summary) => {
                let timezone = summary.timezone;
                let (next_due, intervals_due_now) = match summary.next_due {
                    NextDue::Never | NextDue::Paused => (None, 0),
                    NextDue::Now {
                        intervals,
                        oldest_end,
                    } => (Some(local_time::rfc3339(oldest_end, timezone)), intervals),
                    NextDue::At(at) => (Some(local_time::rfc3339(at, timezone)), 0),
                };
                WorkflowJson {
                    file: overview.file.clone(),
                    workflow: Some(summary.name.to_string()),
                    schedule: summary.schedule.clone(),
                    waits_for: summary.waits_for(),
                    timezone: Some(timezone.name().to_owned()),
                    paused: summary.is_paused,
                    next_due,
                    intervals_due_now,
                    last_run: summary.last_run.as_ref().map(|last| LastRunJson {
                        id: last.id.0,
                        state: last.state.name(),
                        at: local_time::rfc3339(last.at, timezone),
                    }),
                    recent_runs: summary
                        .recent_runs
                        .iter()
                        .map(|entry| RecentRunJson::new(entry, timezone))
                        .collect(),
                    problem: None,
                }
            }
        }
    }
}

impl RecentRunJson {
    /// `entry` with its interval's start in the workflow's `timezone`.
    fn new(entry: &RunEntry, timezone: chrono_tz::Tz) -> RecentRunJson {
        RecentRunJson {
            id: entry.record.id.0,
            state: entry.record.state.name(),
            orphaned: entry.is_orphaned,
            interval_start: local_time::rfc3339(entry.record.interval.start, timezone),
        }
    }
}
