//! Creating a manual run: its interval and params resolved from the request, refused while
//! another run of the same interval is active.

use tidewater_core::{DataInterval, Timestamp, Workflow};
use tidewater_engine::new_run;
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{RunCreation, RunRecord, RunTrigger};

use crate::control_error::{ControlError, ControlResult};
use crate::{Control, local_time, time_arg};

/// Which interval a manual run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntervalRequest {
    /// The latest complete interval of the schedule (today, for a workflow without one).
    Latest,
    /// The schedule's interval on this date (`YYYY-MM-DD`), or that whole local day.
    Date(String),
    /// Exactly these ends, each a date (local midnight) or a time.
    Between { start: String, end: String },
}

/// Whether a manual run may start while another run of the same workflow and interval is
/// queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Refused, as Airflow refuses a second run of a logical date: two runs of one interval
    /// write the same partitions at once, and the user almost always meant to follow the
    /// first one.
    RefuseWhileActive,
    /// `--allow-concurrent`.
    Allow,
}

impl Concurrency {
    pub fn from_flag(allow_concurrent: bool) -> Concurrency {
        if allow_concurrent {
            Concurrency::Allow
        } else {
            Concurrency::RefuseWhileActive
        }
    }
}

/// A manual run asked for.
#[derive(Debug, Clone)]
pub struct ManualRunRequest {
    pub interval: IntervalRequest,
    /// Values for some of the workflow's params; the others keep their defaults.
    pub params: serde_json::Map<String, serde_json::Value>,
    pub concurrency: Concurrency,
}

impl Control {
    /// Records a queued manual run of `loaded` for the requested interval and parameters
    /// (`run` executes or hands it over, `trigger` leaves it to the server).
    pub async fn create_manual_run(
        &self,
        loaded: &LoadedWorkflow,
        request: &ManualRunRequest,
    ) -> ControlResult<RunRecord> {
        let now = chrono::Utc::now();
        let interval = requested_interval(&loaded.workflow, &request.interval, now)?;
        let mut run = new_run(loaded, interval, RunTrigger::Manual, None, now);
        run.params = requested_params(&loaded.workflow, &request.params)?;
        if request.concurrency == Concurrency::Allow {
            return Ok(self.store.create_run(run).await?);
        }
        // The check and the creation are one transaction: two requests given at once cannot
        // both find no active run.
        match self.store.create_run_unless_active(run).await? {
            RunCreation::Created(record) => Ok(record),
            RunCreation::Active(active) => Err(interval_taken(
                &loaded.workflow,
                &active,
                self.is_orphaned(&active),
            )),
        }
    }
}

/// The refusal of a second run of an interval, naming the active one and how to follow it
/// (or resume it, if its process died).
fn interval_taken(workflow: &Workflow, active: &RunRecord, is_orphaned: bool) -> ControlError {
    let timezone = workflow.timezone;
    let local = |at| local_time::seconds(at, timezone);
    let follow = format!(
        "follow it with `tidewater status {}` (or `tidewater logs {} TASK`)",
        active.id, active.id
    );
    let (since, follow) = match (active.state.started_at(), active.owner) {
        (None, _) => (format!("queued since {}", local(active.created_at)), follow),
        (Some(started_at), Some(owner)) if is_orphaned => (
            format!(
                "running since {}, but its process {} died",
                local(started_at),
                owner.pid
            ),
            format!("resume it with `tidewater retry {}`", active.id),
        ),
        (Some(started_at), _) => (format!("running since {}", local(started_at)), follow),
    };
    ControlError::Conflict(format!(
        "run {} of {} for {} is {since}; {follow}, or pass --allow-concurrent to start another",
        active.id,
        active.workflow,
        active.interval.ds(timezone),
    ))
}

/// The interval asked for; [`IntervalRequest::Latest`] is the latest interval complete at
/// `now`.
pub fn requested_interval(
    workflow: &Workflow,
    request: &IntervalRequest,
    now: Timestamp,
) -> ControlResult<DataInterval> {
    let timezone = workflow.timezone;
    Ok(match request {
        IntervalRequest::Between { start, end } => time_arg::parse_interval(start, end, timezone)?,
        IntervalRequest::Date(date) => {
            let date = time_arg::parse_date(date)?;
            match &workflow.schedule {
                Some(schedule) => schedule.interval_for_date(date, timezone).ok_or_else(|| {
                    ControlError::Invalid(format!(
                        "the schedule of {} has no interval on {date}",
                        workflow.name
                    ))
                })?,
                None => DataInterval::day(date, timezone),
            }
        }
        IntervalRequest::Latest => match &workflow.schedule {
            Some(schedule) => schedule
                .latest_complete_interval(now, timezone)
                .ok_or_else(|| {
                    ControlError::Conflict(format!(
                        "the schedule of {} has no complete interval yet",
                        workflow.name
                    ))
                })?,
            None => DataInterval::day(now.with_timezone(&timezone).date_naive(), timezone),
        },
    })
}

/// The workflow's params with `overrides` applied; a name the workflow does not have is
/// refused (a typo would otherwise be ignored silently).
pub fn requested_params(
    workflow: &Workflow,
    overrides: &serde_json::Map<String, serde_json::Value>,
) -> ControlResult<serde_json::Map<String, serde_json::Value>> {
    let mut params = workflow.params.clone();
    for (key, value) in overrides {
        if !workflow.params.contains_key(key) {
            let known: Vec<&str> = workflow.params.keys().map(String::as_str).collect();
            return Err(ControlError::Invalid(format!(
                "param `{key}`: {} has no such parameter (it has: {})",
                workflow.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        params.insert(key.clone(), value.clone());
    }
    Ok(params)
}
