//! [`BackfillPlan`]: what a backfill does with each interval of its range, decided from the
//! store and the warehouse without writing to either.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use tidewater_core::{
    BackfillOrder, BackfillRange, DataInterval, RunId, RunState, RunStateKind, SchedulePlan,
    TaskAction, Workflow,
};
use tidewater_flow::{FlowError, TableName};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{BackfillRecord, RunRecord};

use crate::Control;
use crate::backfill_request::BackfillRequest;
use crate::control_error::{ControlError, ControlResult};

/// What a backfill does with each interval of its range (`--dry-run` shows it).
#[derive(Debug, Clone)]
pub struct BackfillPlan {
    /// The workflow as its file is now: new runs are pinned to this version.
    pub loaded: LoadedWorkflow,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub order: BackfillOrder,
    /// Runs active at once: the request's, else the workflow's `max_active_runs`. An
    /// unfinished backfill of the range keeps its own (see [`crate::BackfillRecorded`]).
    pub max_active_runs: u32,
    /// The unfinished backfill of the same workflow and range, which this one resumes.
    pub existing: Option<BackfillRecord>,
    /// The range's ended intervals, in the order asked; empty: nothing to backfill.
    pub intervals: Vec<PlannedInterval>,
}

/// One interval of a plan and what is done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedInterval {
    pub interval: DataInterval,
    pub step: BackfillStep,
}

/// What a backfill does with one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackfillStep {
    /// Create a run.
    Create,
    /// The resumed backfill has this run and it did not succeed (failed, cancelled): it is
    /// queued again, and its tasks that did not succeed run again.
    RunAgain { run: RunId, state: RunStateKind },
    /// The resumed backfill has this run, queued, running or succeeded: left as it is.
    Keep { run: RunId, state: RunStateKind },
    /// `only_missing`: nothing to do, and why.
    Skip(SkipReason),
}

/// Why `only_missing` skips an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A run of the interval (of any trigger) succeeded.
    Succeeded(RunId),
    /// Every table the workflow writes a partition of has the interval's partition.
    PartitionsExist,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Succeeded(run) => write!(f, "run {run} succeeded"),
            SkipReason::PartitionsExist => f.write_str("its partitions exist"),
        }
    }
}

impl Control {
    /// The plan of a backfill: the range's ended intervals and what is done with each. Reads
    /// the store (and with `only_missing` the warehouse's partitions); writes nothing.
    pub async fn plan_backfill(&self, request: &BackfillRequest) -> ControlResult<BackfillPlan> {
        let loaded = self.load_workflow(&request.workflow)?;
        let workflow = &loaded.workflow;
        let (from, to) = (request.from, request.to);
        check_backfill_size(
            workflow,
            from,
            to,
            self.project.config.backfill_max_intervals,
        )?;
        let intervals = range_intervals(workflow, from, to, request.order)?;
        if request.max_active_runs == Some(0) {
            return Err(ControlError::Invalid(
                "--max-active-runs must be at least 1".to_owned(),
            ));
        }
        let max_active_runs = request.max_active_runs.unwrap_or(workflow.max_active_runs);
        let (existing, intervals) = if intervals.is_empty() {
            (None, Vec::new())
        } else {
            let existing = self
                .store
                .unfinished_backfill(&workflow.name, from, to)
                .await?;
            let planned = self
                .plan_intervals(
                    workflow,
                    &intervals,
                    existing.as_ref(),
                    request.only_missing,
                )
                .await?;
            (existing, planned)
        };
        Ok(BackfillPlan {
            loaded,
            from,
            to,
            order: request.order,
            max_active_runs,
            existing,
            intervals,
        })
    }

    async fn plan_intervals(
        &self,
        workflow: &Workflow,
        intervals: &[DataInterval],
        existing: Option<&BackfillRecord>,
        only_missing: bool,
    ) -> ControlResult<Vec<PlannedInterval>> {
        let own: HashMap<DataInterval, RunRecord> = match existing {
            Some(backfill) => self
                .store
                .backfill_runs(backfill.id)
                .await?
                .into_iter()
                .map(|run| (run.interval, run))
                .collect(),
            None => HashMap::new(),
        };
        let succeeded: HashMap<DataInterval, RunId> = match intervals
            .iter()
            .map(|interval| interval.start)
            .fold(None, |bounds, start| match bounds {
                None => Some((start, start)),
                Some((lo, hi)) => Some((start.min(lo), start.max(hi))),
            }) {
            Some((first, last)) if only_missing => self
                .store
                .runs_in_range(
                    &workflow.name,
                    first,
                    last + chrono::Duration::microseconds(1),
                )
                .await?
                .into_iter()
                .filter(|run| matches!(run.state, RunState::Succeeded { .. }))
                .map(|run| (run.interval, run.id))
                .collect(),
            _ => HashMap::new(),
        };
        let present = if only_missing {
            self.partitions_present(workflow, intervals).await?
        } else {
            HashSet::new()
        };
        Ok(intervals
            .iter()
            .map(|interval| {
                let step = if let Some(run) = own.get(interval) {
                    match run.state.kind() {
                        state @ (RunStateKind::Failed | RunStateKind::Cancelled) => {
                            BackfillStep::RunAgain { run: run.id, state }
                        }
                        state => BackfillStep::Keep { run: run.id, state },
                    }
                } else if let Some(run) = succeeded.get(interval) {
                    BackfillStep::Skip(SkipReason::Succeeded(*run))
                } else if present.contains(interval) {
                    BackfillStep::Skip(SkipReason::PartitionsExist)
                } else {
                    BackfillStep::Create
                };
                PlannedInterval {
                    interval: *interval,
                    step,
                }
            })
            .collect())
    }

    /// Intervals whose partition exists in every table the workflow writes a partition of
    /// (the partition named by the interval's `ds`). None for a workflow that writes none.
    async fn partitions_present(
        &self,
        workflow: &Workflow,
        intervals: &[DataInterval],
    ) -> ControlResult<HashSet<DataInterval>> {
        let written: Vec<(String, String)> = workflow
            .tasks()
            .iter()
            .filter_map(|task| match &task.action {
                TaskAction::Sql(sql) => sql.into.as_ref().and_then(|into| {
                    into.partition
                        .first()
                        .map(|(column, _)| (into.table.to_string(), column.clone()))
                }),
                _ => None,
            })
            .collect();
        if written.is_empty() {
            return Ok(HashSet::new());
        }
        // Opened only here: opening creates the warehouse's folder, which a plan that does
        // not look at partitions must not do.
        let warehouse = self.warehouse()?;
        let values: Vec<String> = intervals
            .iter()
            .map(|interval| interval.ds(workflow.timezone).to_string())
            .collect();
        let mut missing_anywhere: HashSet<String> = HashSet::new();
        for (table, column) in written {
            let name: TableName = table.parse().map_err(|error| {
                ControlError::Invalid(format!("table `{table}` of {}: {error}", workflow.name))
            })?;
            match warehouse.missing_partitions(&name, &column, &values).await {
                Ok(missing) => missing_anywhere.extend(missing),
                // A table not created yet misses every partition.
                Err(FlowError::UnknownTable { .. }) => missing_anywhere.extend(values.clone()),
                Err(error) => {
                    return Err(ControlError::environment(
                        format!("cannot read the partitions of table `{table}`"),
                        error,
                    ));
                }
            }
        }
        Ok(intervals
            .iter()
            .filter(|interval| {
                !missing_anywhere.contains(&interval.ds(workflow.timezone).to_string())
            })
            .copied()
            .collect())
    }
}

/// Refuses a range of more than `max_intervals` ended intervals (`[backfill] max_intervals`),
/// before computing them: one request must not queue millions of runs (nor make a dry run
/// answer with millions of lines). Counts at most `max_intervals + 1` of them.
pub(crate) fn check_backfill_size(
    workflow: &Workflow,
    from: NaiveDate,
    to: NaiveDate,
    max_intervals: u32,
) -> ControlResult<()> {
    let range = BackfillRange::new(from, to, BackfillOrder::OldestFirst)
        .map_err(|error| ControlError::Invalid(error.to_string()))?;
    let cap = usize::try_from(max_intervals).unwrap_or(usize::MAX);
    let count = match SchedulePlan::for_workflow(workflow) {
        Some(plan) => {
            let now = chrono::Utc::now();
            plan.range_intervals(&range)
                .take_while(|interval| interval.end <= now)
                .take(cap.saturating_add(1))
                .count()
        }
        // One interval per day; `from` is not after `to` (the range was accepted).
        None => usize::try_from((to - from).num_days() + 1).unwrap_or(usize::MAX),
    };
    if count > cap {
        return Err(ControlError::Invalid(format!(
            "{} has more than {max_intervals} intervals from {from} to {to}, more than one \
             backfill may cover (`[backfill] max_intervals` in tidewater.toml); split the \
             range, or raise the limit",
            workflow.name
        )));
    }
    Ok(())
}

/// The intervals of a workflow whose start falls on a date from `from` to `to`: the
/// schedule's ended intervals, or days for a workflow without a schedule; `from` after `to`
/// is refused.
pub fn range_intervals(
    workflow: &Workflow,
    from: NaiveDate,
    to: NaiveDate,
    order: BackfillOrder,
) -> ControlResult<Vec<DataInterval>> {
    let range = BackfillRange::new(from, to, order)
        .map_err(|error| ControlError::Invalid(error.to_string()))?;
    Ok(match SchedulePlan::for_workflow(workflow) {
        Some(plan) => plan.backfill(&range, chrono::Utc::now()).intervals,
        None => {
            let mut days: Vec<DataInterval> = from
                .iter_days()
                .take_while(|day| *day <= to)
                .map(|day| DataInterval::day(day, workflow.timezone))
                .collect();
            if order == BackfillOrder::NewestFirst {
                days.reverse();
            }
            days
        }
    })
}
