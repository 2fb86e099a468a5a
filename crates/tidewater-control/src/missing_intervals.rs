//! [`MissingIntervals`]: which intervals of a workflow in a date range have no rows in their
//! partition of a table (`tidewater tables T --missing`), to backfill them.

use chrono::NaiveDate;
use tidewater_core::{
    BackfillOrder, BackfillRange, DataInterval, SchedulePlan, TableName, TaskAction,
};
use tidewater_spec::Project;

use crate::backfill_plan::check_backfill_size;
use crate::control_error::{ControlError, ControlResult};
use crate::load_workflow;
use crate::tables::{open_warehouse, read_error};

/// The intervals in a range whose partition of a table is empty.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingIntervals {
    /// The partition column the workflow's tasks write into the table.
    pub column: String,
    /// The workflow's zone, in which each interval's `ds` is a date.
    pub timezone: chrono_tz::Tz,
    /// Oldest first.
    pub intervals: Vec<DataInterval>,
}

/// What to look for: the intervals of `workflow` from `from` to `to` (both included), at
/// most `[backfill] max_intervals` of them (the range is one to backfill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRequest {
    pub table: TableName,
    pub workflow: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl MissingIntervals {
    /// The intervals of `request.workflow` in the range (its schedule's, else whole days)
    /// whose partition of `request.table` has no rows. The partition column is the one the
    /// workflow's tasks write into the table.
    pub async fn find(project: &Project, request: &MissingRequest) -> ControlResult<Self> {
        let MissingRequest {
            table,
            workflow,
            from,
            to,
        } = request;
        let (from, to) = (*from, *to);
        let loaded = load_workflow(project, workflow)?;
        let workflow = &loaded.workflow;
        let column = workflow
            .tasks()
            .iter()
            .find_map(|task| match &task.action {
                TaskAction::Sql(sql) => sql
                    .into
                    .as_ref()
                    .filter(|into| into.table == *table)
                    .and_then(|into| into.partition.first().map(|(column, _)| column.clone())),
                _ => None,
            })
            .ok_or_else(|| {
                ControlError::Invalid(format!(
                    "no task of {} writes a partition of {table}",
                    workflow.name
                ))
            })?;
        check_backfill_size(workflow, from, to, project.config.backfill_max_intervals)?;
        let intervals: Vec<DataInterval> = match SchedulePlan::for_workflow(workflow) {
            Some(plan) => {
                let range = BackfillRange::new(from, to, BackfillOrder::OldestFirst)
                    .map_err(|error| ControlError::Invalid(error.to_string()))?;
                plan.backfill(&range, chrono::Utc::now()).intervals
            }
            None => {
                if from > to {
                    return Err(ControlError::Invalid(format!(
                        "--from {from} is after --to {to}"
                    )));
                }
                from.iter_days()
                    .take_while(|day| *day <= to)
                    .map(|day| DataInterval::day(day, workflow.timezone))
                    .collect()
            }
        };
        let values: Vec<String> = intervals
            .iter()
            .map(|interval| interval.ds(workflow.timezone).to_string())
            .collect();
        let missing = open_warehouse(project)?
            .missing_partitions(table, &column, &values)
            .await
            .map_err(read_error)?;
        Ok(MissingIntervals {
            column,
            timezone: workflow.timezone,
            intervals: intervals
                .into_iter()
                .filter(|interval| missing.contains(&interval.ds(workflow.timezone).to_string()))
                .collect(),
        })
    }
}
