//! Serving views (`serving.<name>`): per value of the view's partition column, the batch
//! table's rows where the batch table has that partition, and the stream table's rows
//! elsewhere, never both (the lambda architecture's serving layer).
//!
//! Each query reads ONE snapshot of each table: the stream's is loaded first, then the
//! batch's, and the batch partitions are read from the Delta log of that same batch snapshot
//! that the query scans. The order matters for pruning ([`prune_stream`]): a stream partition
//! is deleted only after the batch table has it, and batch partitions are replaced, never
//! removed, so a reader whose stream snapshot no longer has a pruned partition loads a batch
//! snapshot (newer still) that has it. No reader sees a gap, and none sees an interval twice.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::catalog::view::ViewTable;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col, lit};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitProperties;
use futures::TryStreamExt;
use tidewater_core::ServingView;

use crate::flow_error::FlowError;
use crate::warehouse_location::WarehouseLocation;

/// The partitions of a view's two tables, by value of its `by` column (`None` for a null
/// partition value), each with its row count when the Delta log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewPartitions {
    /// The batch table's partitions, from the same snapshot a query would read.
    pub batch: BTreeMap<Option<String>, Option<u64>>,
    /// The stream table's partitions.
    pub stream: BTreeMap<Option<String>, Option<u64>>,
}

/// What pruning a view's stream table did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneSummary {
    /// The stream partitions deleted (values of `by`), oldest first.
    pub partitions: Vec<String>,
    /// The stream table's version after the delete; `None` when nothing was pruned.
    pub version: Option<u64>,
}

/// The two tables of a view, loaded stream first (see the module doc).
struct ViewSnapshots {
    stream: Option<DeltaTable>,
    batch: Option<DeltaTable>,
}

impl ViewSnapshots {
    async fn load(
        location: &WarehouseLocation,
        view: &ServingView,
    ) -> Result<ViewSnapshots, FlowError> {
        let stream = location.open(&view.stream).await?;
        let batch = location.open(&view.batch).await?;
        if stream.is_none() && batch.is_none() {
            return Err(FlowError::UnknownTable {
                name: format!(
                    "{} (the view's tables {} and {} do not exist yet)",
                    view.name, view.batch, view.stream
                ),
                known: Vec::new(),
            });
        }
        Ok(ViewSnapshots { stream, batch })
    }
}

/// The view as a table of one query's session: a union of the batch scan and the stream scan
/// filtered to the values of `by` the batch snapshot does not have.
pub(crate) async fn view_provider(
    location: &WarehouseLocation,
    view: &ServingView,
    state: &SessionState,
) -> Result<Arc<dyn TableProvider>, FlowError> {
    let snapshots = ViewSnapshots::load(location, view).await?;
    let batch = match &snapshots.batch {
        Some(table) => Some((
            table_provider(table, state).await?,
            partition_rows(table, &view.by).await?,
        )),
        None => None,
    };
    let stream = match &snapshots.stream {
        Some(table) => Some(table_provider(table, state).await?),
        None => None,
    };
    let plan = match (batch, stream) {
        (Some((batch, _)), None) => scan("batch", &batch)?.build()?,
        (None, Some(stream)) => scan("stream", &stream)?.build()?,
        (Some((batch, covered)), Some(stream)) => {
            let schema = batch.schema();
            check_column(view, &view.batch, &schema)?;
            let stream_schema = stream.schema();
            check_column(view, &view.stream, &stream_schema)?;
            let by_type = stream_schema
                .field_with_name(&view.by)
                .map_err(|error| invalid(view, error.to_string()))?
                .data_type()
                .clone();
            let covered: BTreeSet<Option<String>> = covered.into_keys().collect();
            let stream_rows = scan("stream", &stream)?;
            let stream_rows = match uncovered_filter(&view.by, &by_type, &covered) {
                Some(filter) => stream_rows.filter(filter)?,
                None => stream_rows,
            };
            // The stream's columns in the batch table's order and types: a union needs one
            // schema, and the batch table's is the one the interval will end up with.
            let mut columns = Vec::with_capacity(schema.fields().len());
            for field in schema.fields() {
                let Ok(stream_field) = stream_schema.field_with_name(field.name()) else {
                    return Err(invalid(
                        view,
                        format!(
                            "the stream table {} has no column `{}`, which the batch table {} has",
                            view.stream,
                            field.name(),
                            view.batch
                        ),
                    ));
                };
                let column = col(format!("\"{}\"", field.name().replace('"', "\"\"")));
                let column = if stream_field.data_type() == field.data_type() {
                    column
                } else {
                    cast(column, field.data_type().clone())
                };
                columns.push(column.alias(field.name()));
            }
            let stream_rows = stream_rows.project(columns)?.build()?;
            scan("batch", &batch)?.union(stream_rows)?.build()?
        }
        (None, None) => unreachable_both_missing(view)?,
    };
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// `ViewSnapshots::load` refuses a view with neither table; this keeps the match total
/// without a panic.
fn unreachable_both_missing(view: &ServingView) -> Result<LogicalPlan, FlowError> {
    Err(FlowError::UnknownTable {
        name: view.name.to_string(),
        known: Vec::new(),
    })
}

/// The partitions of both tables of `view`, read as a query would read them.
pub(crate) async fn view_partitions(
    location: &WarehouseLocation,
    view: &ServingView,
) -> Result<ViewPartitions, FlowError> {
    let snapshots = ViewSnapshots::load(location, view).await?;
    Ok(ViewPartitions {
        batch: match &snapshots.batch {
            Some(table) => partition_rows(table, &view.by).await?,
            None => BTreeMap::new(),
        },
        stream: match &snapshots.stream {
            Some(table) => partition_rows(table, &view.by).await?,
            None => BTreeMap::new(),
        },
    })
}

/// Deletes the stream partitions of `view` that the batch table has and that ended more than
/// the view's `retention` before `now`, in one Delta commit on the stream table. A partition
/// whose value is not a date (`YYYY-MM-DD…`) is never pruned, nor one the batch table lacks,
/// so the view's answer is the same before and after.
pub(crate) async fn prune_stream(
    location: &WarehouseLocation,
    view: &ServingView,
    now: DateTime<Utc>,
) -> Result<PruneSummary, FlowError> {
    let nothing = PruneSummary {
        partitions: Vec::new(),
        version: None,
    };
    let Some(retention) = view.retention else {
        return Ok(nothing);
    };
    // The batch snapshot is read after the stream's is, so what it covers is committed
    // before the delete that relies on it.
    let snapshots = ViewSnapshots::load(location, view).await?;
    let (Some(stream), Some(batch)) = (snapshots.stream, snapshots.batch) else {
        return Ok(nothing);
    };
    let covered = partition_rows(&batch, &view.by).await?;
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let Some(cutoff) = now.checked_sub_signed(retention) else {
        return Ok(nothing);
    };
    let mut old: Vec<String> = partition_rows(&stream, &view.by)
        .await?
        .into_keys()
        .flatten()
        .filter(|value| covered.contains_key(&Some(value.clone())))
        .filter(|value| {
            // The interval `dt = D` ends at D + 1 day: it is older than the retention when
            // that end is before the cutoff.
            partition_date(value)
                .and_then(|date| date.succ_opt())
                .and_then(|end| end.and_hms_opt(0, 0, 0))
                .is_some_and(|end| end.and_utc() <= cutoff)
        })
        .collect();
    if old.is_empty() {
        return Ok(nothing);
    }
    old.sort();
    // A predicate in SQL text: deltalake resolves it against the stream table's schema, so
    // the partition values (text in the log) are compared as the column's type.
    let quoted_values: Vec<String> = old
        .iter()
        .map(|value| format!("'{}'", value.replace('\'', "''")))
        .collect();
    let predicate = format!(
        "\"{}\" IN ({})",
        view.by.replace('"', "\"\""),
        quoted_values.join(", ")
    );
    let (table, _metrics) = stream
        .delete()
        .with_predicate(predicate)
        .with_commit_properties(CommitProperties::default().with_metadata([(
            "tidewater_maintenance".to_owned(),
            serde_json::Value::from("prune"),
        )]))
        .await?;
    Ok(PruneSummary {
        partitions: old,
        version: table.version(),
    })
}

/// The date a partition value starts with (`2026-01-01`, or a timestamp's date part).
fn partition_date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value.get(..10)?, "%Y-%m-%d").ok()
}

/// The values of `column` among the active files of a table's snapshot, from its log; a
/// partition with several files sums their rows (unknown when a file has no statistics).
/// Files with no rows count too: a batch run that wrote an empty interval still replaces it.
async fn partition_rows(
    table: &DeltaTable,
    column: &str,
) -> Result<BTreeMap<Option<String>, Option<u64>>, FlowError> {
    let mut partitions: BTreeMap<Option<String>, Option<u64>> = BTreeMap::new();
    let mut files = table.get_active_add_actions_by_partitions(&[]);
    while let Some(file) = files.try_next().await? {
        let value = file.partition_values_map().remove(column).flatten();
        let rows = file.num_records().map(|rows| rows as u64);
        let entry = partitions.entry(value).or_insert(Some(0));
        *entry = match (*entry, rows) {
            (Some(sum), Some(rows)) => Some(sum + rows),
            _ => None,
        };
    }
    Ok(partitions)
}

async fn table_provider(
    table: &DeltaTable,
    state: &SessionState,
) -> Result<Arc<dyn TableProvider>, FlowError> {
    table.update_datafusion_session(state)?;
    Ok(table.table_provider().await?)
}

fn scan(alias: &str, provider: &Arc<dyn TableProvider>) -> Result<LogicalPlanBuilder, FlowError> {
    Ok(LogicalPlanBuilder::scan(
        alias,
        provider_as_source(Arc::clone(provider)),
        None,
    )?)
}

/// The stream rows whose `by` value the batch snapshot does not have. `NOT IN` alone would
/// drop rows whose value is null, which the batch has only when it has a null partition.
fn uncovered_filter(
    by: &str,
    by_type: &datafusion::arrow::datatypes::DataType,
    covered: &BTreeSet<Option<String>>,
) -> Option<Expr> {
    if covered.is_empty() {
        return None;
    }
    let column = col(format!("\"{}\"", by.replace('"', "\"\"")));
    let values: Vec<Expr> = covered
        .iter()
        .flatten()
        .map(|value| cast(lit(value.clone()), by_type.clone()))
        .collect();
    let has_null = covered.contains(&None);
    Some(match (values.is_empty(), has_null) {
        (true, _) => column.is_not_null(),
        (false, true) => column
            .clone()
            .is_not_null()
            .and(column.in_list(values, true)),
        (false, false) => column.clone().is_null().or(column.in_list(values, true)),
    })
}

fn check_column(
    view: &ServingView,
    table: &tidewater_core::TableName,
    schema: &SchemaRef,
) -> Result<(), FlowError> {
    if schema.field_with_name(&view.by).is_ok() {
        return Ok(());
    }
    Err(FlowError::UnknownColumn {
        table: table.to_string(),
        column: view.by.clone(),
        known: schema
            .fields()
            .iter()
            .map(|field| field.name().clone())
            .collect(),
    })
}

fn invalid(view: &ServingView, reason: String) -> FlowError {
    FlowError::InvalidQuery {
        message: format!("the view {}: {reason}", view.name),
    }
}
