//! The read model of `tidewater workflows`: every workflow file of the project with its
//! schedule, when its next run is due, whether it is paused, its recent runs, and the
//! problems of a broken file. It needs no server: due times come from the core's
//! [`SchedulePlan`] and the store's record of what the scheduler already created, as the
//! server computes them.
//!
//! Kept apart from any printing, so that another front end (an HTTP API) can serve it; its
//! JSON is [`crate::json::WorkflowJson`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use tidewater_core::{DataTrigger, RunId, RunState, SchedulePlan, Timestamp, WorkflowName};
use tidewater_engine::Owners;
use tidewater_spec::{Diagnostics, Project};
use tidewater_store::{ControlStore, RunStore};

use crate::control_error::ControlResult;
use crate::{Control, RunEntry};

/// How many recent runs each workflow shows: a strip of states to see at a glance whether it
/// has been failing lately (Airflow's "recent runs" column).
pub const RECENT_RUNS: u32 = 10;

/// One workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowOverview {
    /// The file, relative to the project folder.
    pub file: String,
    pub status: FileStatus,
}

/// A file either loads into a workflow or has problems.
#[derive(Debug, Clone, PartialEq)]
pub enum FileStatus {
    Loaded(WorkflowSummary),
    Broken(FileProblems),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowSummary {
    pub name: WorkflowName,
    pub timezone: chrono_tz::Tz,
    /// The cron expression; `None` for a workflow that runs only when asked.
    pub schedule: Option<String>,
    /// What starts its runs besides the cron (`schedule: { on }`), in file order.
    pub data_triggers: Vec<DataTrigger>,
    pub next_due: NextDue,
    pub is_paused: bool,
    pub last_run: Option<LastRun>,
    /// Its newest [`RECENT_RUNS`] runs, newest first.
    pub recent_runs: Vec<RunEntry>,
}

impl WorkflowSummary {
    /// What a data-aware schedule waits for, as every front end says it: "waits for a commit
    /// to raw.orders or a successful run of workflow daily_orders"; `None` without one.
    pub fn waits_for(&self) -> Option<String> {
        waits_for(&self.data_triggers)
    }
}

/// See [`WorkflowSummary::waits_for`]; also what `tidewater next` says.
pub fn waits_for(triggers: &[DataTrigger]) -> Option<String> {
    if triggers.is_empty() {
        return None;
    }
    let sources: Vec<String> = triggers.iter().map(ToString::to_string).collect();
    Some(format!("waits for {}", sources.join(" or ")))
}

/// When the scheduler creates this workflow's next run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextDue {
    /// No schedule, or one that never fires again.
    Never,
    /// Paused: nothing is created until `unpause`.
    Paused,
    /// Intervals have ended that have no run yet: a server creates their runs at once.
    Now {
        intervals: usize,
        oldest_end: Timestamp,
    },
    /// The next interval ends then.
    At(Timestamp),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastRun {
    pub id: RunId,
    pub state: RunState,
    /// When it finished, else started, else was created.
    pub at: Timestamp,
}

/// Why a file does not load: its first problem (where `validate` starts), and how many it has.
#[derive(Debug, Clone, PartialEq)]
pub struct FileProblems {
    pub first: String,
    /// `workflows/x.yaml:3` when the problem has a place in the file.
    pub location: Option<String>,
    pub count: usize,
}

impl Control {
    /// Every workflow file of the project, sorted by path, as of `now`.
    pub async fn workflow_overview(&self, now: Timestamp) -> ControlResult<Vec<WorkflowOverview>> {
        workflow_overview(&self.project, self.store.as_ref(), &*self.owners, now).await
    }
}

/// Every workflow file of `project`, sorted by path, as of `now`.
async fn workflow_overview<S: RunStore + ControlStore + ?Sized>(
    project: &Project,
    store: &S,
    owners: &dyn Owners,
    now: Timestamp,
) -> ControlResult<Vec<WorkflowOverview>> {
    let (loaded, diagnostics) = project.load_workflows();
    let paused: HashSet<WorkflowName> = store.paused_workflows().await?.into_iter().collect();
    let names: Vec<WorkflowName> = loaded
        .iter()
        .map(|loaded| loaded.workflow.name.clone())
        .collect();
    // One read for every workflow's strip, newest first within each.
    let mut recent: HashMap<WorkflowName, Vec<RunEntry>> = HashMap::new();
    for record in store.recent_runs(&names, RECENT_RUNS).await? {
        recent
            .entry(record.workflow.clone())
            .or_default()
            .push(RunEntry::new(record, owners));
    }
    let mut files: BTreeMap<PathBuf, WorkflowOverview> = BTreeMap::new();
    for (path, problems) in problems_by_file(project, &diagnostics) {
        files.insert(
            path.clone(),
            WorkflowOverview {
                file: relative(project, &path),
                status: FileStatus::Broken(problems),
            },
        );
    }
    for loaded in &loaded {
        let workflow = &loaded.workflow;
        let is_paused = paused.contains(&workflow.name);
        let next_due = match SchedulePlan::for_workflow(workflow) {
            None => NextDue::Never,
            Some(_) if is_paused => NextDue::Paused,
            Some(plan) => {
                let last = store.last_scheduled_end(&workflow.name).await?;
                let due = plan.due(last, now);
                match (due.intervals.first(), due.next_due) {
                    (Some(oldest), _) => NextDue::Now {
                        intervals: due.intervals.len(),
                        oldest_end: oldest.end,
                    },
                    (None, Some(at)) => NextDue::At(at),
                    (None, None) => NextDue::Never,
                }
            }
        };
        let recent_runs = recent.remove(&workflow.name).unwrap_or_default();
        let last_run = recent_runs.first().map(|entry| {
            let record = &entry.record;
            LastRun {
                id: record.id,
                at: record
                    .state
                    .finished_at()
                    .or(record.state.started_at())
                    .unwrap_or(record.created_at),
                state: record.state.clone(),
            }
        });
        files.insert(
            loaded.path.clone(),
            WorkflowOverview {
                file: relative(project, &loaded.path),
                status: FileStatus::Loaded(WorkflowSummary {
                    name: workflow.name.clone(),
                    timezone: workflow.timezone,
                    schedule: workflow
                        .schedule
                        .as_ref()
                        .map(|schedule| schedule.expression().to_owned()),
                    data_triggers: workflow.data_triggers.clone(),
                    next_due,
                    is_paused,
                    last_run,
                    recent_runs,
                }),
            },
        );
    }
    Ok(files.into_values().collect())
}

/// The problems of each file. A problem without a file (the `workflows` folder cannot be
/// read) is filed under the folder.
fn problems_by_file(
    project: &Project,
    diagnostics: &Diagnostics,
) -> BTreeMap<PathBuf, FileProblems> {
    let mut files: BTreeMap<PathBuf, FileProblems> = BTreeMap::new();
    for problem in diagnostics.iter() {
        let path = problem
            .path()
            .map_or_else(|| project.root.join("workflows"), Path::to_path_buf);
        let location = problem
            .line_column()
            .map(|(line, _)| format!("{}:{line}", relative(project, &path)));
        files
            .entry(path)
            .and_modify(|file| file.count += 1)
            .or_insert_with(|| FileProblems {
                first: problem.kind().to_string(),
                location,
                count: 1,
            });
    }
    files
}

fn relative(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
