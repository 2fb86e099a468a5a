//! [`ViewCoverage`]: the read model behind `tidewater tables serving.<name>`, the API's
//! `/api/v1/views/{name}` and the UI's partition strip of a view: for each interval (value of
//! the view's `by` column), whether the view reads it from the batch table, from the stream
//! table only, or has nothing for it. Also the view files' loading and their checks for
//! `validate`. Like [`crate::TableList`], it needs the project only, not the store.

use chrono::NaiveDate;
use tidewater_core::{ServingView, TableName};
use tidewater_flow::{ViewPartitions, Warehouse};
use tidewater_spec::{Diagnostics, KnownTable, LoadedWorkflow, Project};

use crate::control_error::{ControlError, ControlResult};
use crate::tables::{open_warehouse, read_error};

/// The longest range of days a coverage lists: a strip of 27 years is already more than
/// anyone reads, and the cap keeps a mistyped year from building millions of rows.
pub const MAX_COVERAGE_DAYS: i64 = 10_000;

/// Where a view reads one interval from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalSource {
    /// The batch table has the partition: the interval is final.
    Batch,
    /// Only the stream table has it: the interval is fresh, not yet recomputed.
    Stream,
    /// Neither table has it (an interval between others, or in the range asked for).
    Missing,
}

impl IntervalSource {
    pub fn name(self) -> &'static str {
        match self {
            IntervalSource::Batch => "batch",
            IntervalSource::Stream => "stream",
            IntervalSource::Missing => "missing",
        }
    }
}

/// One interval of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewInterval {
    /// The value of `by`; `None` for the null partition.
    pub value: Option<String>,
    pub source: IntervalSource,
    /// The rows the view returns for it (from the Delta log); `None` when unknown.
    pub rows: Option<u64>,
    /// The stream's rows the batch partition replaces (only for a `Batch` interval that the
    /// stream also has, until it is pruned).
    pub replaced_stream_rows: Option<u64>,
}

/// Every interval of a view, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewCoverage {
    pub view: ServingView,
    pub intervals: Vec<ViewInterval>,
}

/// The project's valid views (`views/*.yaml`); a file with problems is left out (`validate`
/// reports it), so that one broken view file does not stop every query.
pub fn project_views(project: &Project) -> Vec<ServingView> {
    let (views, _problems) = project.load_views();
    views.into_iter().map(|loaded| loaded.view).collect()
}

/// The view `serving.<name>`, or [`ControlError::NotFound`].
pub fn find_view(project: &Project, name: &TableName) -> ControlResult<ServingView> {
    let views = project_views(project);
    let known: Vec<String> = views.iter().map(|view| view.name.to_string()).collect();
    views
        .into_iter()
        .find(|view| view.name == *name)
        .ok_or_else(|| {
            ControlError::NotFound(if known.is_empty() {
                format!("there is no view `{name}`: the project has no `views/*.yaml`")
            } else {
                format!("there is no view `{name}`; views: {}", known.join(", "))
            })
        })
}

/// The view files' problems, each at its file and line: the files' own, and those that need
/// the workflows and the warehouse (unknown tables, a `by` that is no partition column, a
/// view named like a table). The warehouse is opened only when the project has views.
pub async fn check_views(
    project: &Project,
    workflows: &[LoadedWorkflow],
) -> ControlResult<Diagnostics> {
    let (views, mut problems) = project.load_views();
    if views.is_empty() {
        return Ok(problems);
    }
    let warehouse = open_warehouse(project)?;
    let mut known = Vec::new();
    for table in warehouse.tables().await? {
        let named_by_a_view = views
            .iter()
            .any(|loaded| loaded.view.batch == table || loaded.view.stream == table);
        let partition_columns = if named_by_a_view {
            warehouse
                .describe(&table)
                .await
                .map_err(read_error)?
                .partition_columns
        } else {
            Vec::new()
        };
        known.push(KnownTable {
            name: table,
            partition_columns,
        });
    }
    problems.extend(Project::check_views(&views, workflows, &known));
    Ok(problems)
}

impl ViewCoverage {
    /// The intervals of `view`: every partition either table has, and, when the values are
    /// dates, every day between the first and the last (or from `range.0` to `range.1`,
    /// which also limits the list) that neither has, as `Missing`.
    pub async fn read(
        project: &Project,
        name: &TableName,
        range: Option<(NaiveDate, NaiveDate)>,
    ) -> ControlResult<ViewCoverage> {
        let view = find_view(project, name)?;
        if let Some((from, to)) = range {
            if to < from {
                return Err(ControlError::Invalid(format!(
                    "the range ends ({to}) before it starts ({from})"
                )));
            }
            if (to - from).num_days() >= MAX_COVERAGE_DAYS {
                return Err(ControlError::Invalid(format!(
                    "the range from {from} to {to} has more than {MAX_COVERAGE_DAYS} days"
                )));
            }
        }
        let warehouse: Warehouse = open_warehouse(project)?;
        let partitions = warehouse.view_partitions(&view).await.map_err(read_error)?;
        Ok(ViewCoverage {
            intervals: intervals(&partitions, range),
            view,
        })
    }
}

fn intervals(
    partitions: &ViewPartitions,
    range: Option<(NaiveDate, NaiveDate)>,
) -> Vec<ViewInterval> {
    let mut values: Vec<Option<String>> = partitions
        .batch
        .keys()
        .chain(partitions.stream.keys())
        .cloned()
        .collect();
    let dates: Option<Vec<NaiveDate>> = values
        .iter()
        .flatten()
        .map(|value| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .collect();
    let span = match (range, dates) {
        (Some(range), _) => Some(range),
        (None, Some(dates)) => dates
            .iter()
            .min()
            .zip(dates.iter().max())
            .map(|(first, last)| (*first, *last))
            .filter(|(first, last)| (*last - *first).num_days() < MAX_COVERAGE_DAYS),
        (None, None) => None,
    };
    if let Some((from, to)) = span {
        values.extend(
            from.iter_days()
                .take_while(|day| *day <= to)
                .map(|day| Some(day.format("%Y-%m-%d").to_string())),
        );
        if range.is_some() {
            values.retain(|value| {
                value
                    .as_deref()
                    .and_then(|value| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
                    .is_some_and(|day| from <= day && day <= to)
            });
        }
    }
    values.sort();
    values.dedup();
    values
        .into_iter()
        .map(|value| {
            let batch = partitions.batch.get(&value);
            let stream = partitions.stream.get(&value);
            let (source, rows, replaced_stream_rows) = match (batch, stream) {
                (Some(rows), stream) => (IntervalSource::Batch, *rows, stream.copied().flatten()),
                (None, Some(rows)) => (IntervalSource::Stream, *rows, None),
                (None, None) => (IntervalSource::Missing, Some(0), None),
            };
            ViewInterval {
                value,
                source,
                rows,
                replaced_stream_rows,
            }
        })
        .collect()
}
