use std::path::Path;

use anyhow::{Context, bail};
use tidewater_core::{DataInterval, Workflow};
use tidewater_engine::{Resume, is_orphaned, new_run};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{RunCreation, RunRecord, RunTrigger};

use crate::Outcome;
use crate::args::RunArgs;
use crate::project_context::ProjectContext;
use crate::service_client::live_service;
use crate::{local_time, output, time_arg};

pub(crate) async fn run(project: &Path, args: RunArgs) -> anyhow::Result<Outcome> {
    let (context, loaded) = ProjectContext::open_with_workflow(project, &args.workflow).await?;
    let record = create_manual_run(
        &context,
        &loaded,
        args.date.as_deref(),
        args.interval.as_deref(),
        &args.params,
        Concurrency::from_flag(args.allow_concurrent),
    )
    .await?;
    let workflow = &loaded.workflow;
    let timezone = workflow.timezone;
    let interval = record.interval;
    output::note(format!(
        "run {} of {} for {} ({} to {})",
        record.id,
        workflow.name,
        interval.ds(timezone),
        local_time::minutes(interval.start, timezone),
        local_time::minutes(interval.end, timezone),
    ));
    // With a server up, the server executes the run under its task queue, shared with
    // every other run (pools and rates hold across all of them); this command follows it.
    if let Some(service) = live_service(&context.store).await? {
        return super::follow::follow(
            &context,
            workflow,
            record.id,
            &service,
            args.execution.parallelism,
        )
        .await;
    }
    super::foreground::execute(
        &context,
        workflow,
        record.id,
        Resume::Continue,
        args.execution.parallelism,
    )
    .await
}

/// Whether a manual run may start while another run of the same workflow and interval is
/// queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Concurrency {
    /// Refused, as Airflow refuses a second run of a logical date: two runs of one interval
    /// write the same partitions at once, and the user almost always meant to follow the
    /// first one.
    RefuseWhileActive,
    /// `--allow-concurrent`.
    Allow,
}

impl Concurrency {
    pub(crate) fn from_flag(allow_concurrent: bool) -> Concurrency {
        if allow_concurrent {
            Concurrency::Allow
        } else {
            Concurrency::RefuseWhileActive
        }
    }
}

/// Records a queued manual run of `loaded` for the requested interval and parameters
/// (`run` executes or hands it over, `trigger` leaves it to the server).
pub(crate) async fn create_manual_run(
    context: &ProjectContext,
    loaded: &LoadedWorkflow,
    date: Option<&str>,
    interval: Option<&str>,
    params: &[String],
    concurrency: Concurrency,
) -> anyhow::Result<RunRecord> {
    let interval = requested_interval(&loaded.workflow, date, interval)?;
    let mut run = new_run(
        loaded,
        interval,
        RunTrigger::Manual,
        None,
        chrono::Utc::now(),
    );
    run.params = requested_params(&loaded.workflow, params)?;
    if concurrency == Concurrency::Allow {
        return Ok(context.store.create_run(run).await?);
    }
    // The check and the creation are one transaction: two commands given at once cannot
    // both find no active run.
    match context.store.create_run_unless_active(run).await? {
        RunCreation::Created(record) => Ok(record),
        RunCreation::Active(active) => {
            let timezone = loaded.workflow.timezone;
            let local = |at| local_time::seconds(at, timezone);
            let follow = format!(
                "follow it with `tidewater status {}` (or `tidewater logs {} TASK`)",
                active.id, active.id
            );
            let (since, follow) = match (active.state.started_at(), active.owner) {
                (None, _) => (format!("queued since {}", local(active.created_at)), follow),
                (Some(started_at), Some(owner)) if is_orphaned(&active) => (
                    format!(
                        "running since {}, but its process {} died",
                        local(started_at),
                        owner.pid
                    ),
                    format!("resume it with `tidewater retry {}`", active.id),
                ),
                (Some(started_at), _) => (format!("running since {}", local(started_at)), follow),
            };
            bail!(
                "run {} of {} for {} is {since}; {follow}, or pass --allow-concurrent to start another",
                active.id,
                active.workflow,
                active.interval.ds(timezone),
            )
        }
    }
}

/// The interval asked for with `--date` or `--interval`; without either, the latest complete
/// interval of the schedule (or today, for a workflow without one).
pub(crate) fn requested_interval(
    workflow: &Workflow,
    date: Option<&str>,
    interval: Option<&str>,
) -> anyhow::Result<DataInterval> {
    let timezone = workflow.timezone;
    Ok(match (date, interval) {
        (_, Some(interval)) => time_arg::parse_interval(interval, timezone)?,
        (Some(date), None) => {
            let date = time_arg::parse_date(date)?;
            match &workflow.schedule {
                Some(schedule) => {
                    schedule
                        .interval_for_date(date, timezone)
                        .with_context(|| {
                            format!(
                                "the schedule of {} has no interval on {date}",
                                workflow.name
                            )
                        })?
                }
                None => DataInterval::day(date, timezone),
            }
        }
        (None, None) => {
            let now = chrono::Utc::now();
            match &workflow.schedule {
                Some(schedule) => schedule
                    .latest_complete_interval(now, timezone)
                    .with_context(|| {
                        format!(
                            "the schedule of {} has no complete interval yet",
                            workflow.name
                        )
                    })?,
                None => DataInterval::day(now.with_timezone(&timezone).date_naive(), timezone),
            }
        }
    })
}

/// The workflow's params with `--param KEY=VALUE` overrides (values are JSON, else text).
pub(crate) fn requested_params(
    workflow: &Workflow,
    overrides: &[String],
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut params = workflow.params.clone();
    for param in overrides {
        let Some((key, value)) = param.split_once('=') else {
            bail!("--param `{param}` is not KEY=VALUE");
        };
        if !workflow.params.contains_key(key) {
            let known: Vec<&str> = workflow.params.keys().map(String::as_str).collect();
            bail!(
                "--param `{key}`: {} has no such parameter (it has: {})",
                workflow.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        params.insert(key.to_owned(), value);
    }
    Ok(params)
}
