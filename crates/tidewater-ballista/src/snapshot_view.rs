//! A table's snapshot as a plan Ballista can ship: Parquet listings of exactly the snapshot's
//! files, with the partition columns added back from the Delta log.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::catalog::MemorySchemaProvider;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;
use tidewater_flow::{SnapshotFile, TableSnapshot};

/// Registers `snapshot` in `context` as the view `schema.table`.
///
/// Ballista cannot scan a Delta table (no codec for deltalake's scan, DEPS.md pitfall 7); a
/// `ListingTable` it can. A listing of the table's folder would read every file ever written
/// (removed ones too), so each listing names the snapshot's files one by one: the executors
/// read exactly this version whatever is committed meanwhile. A listing's own partition
/// columns come from folder names under one root, which single-file listings do not have, so
/// the files are grouped by partition and each group's values are added as literals.
pub(crate) fn register_snapshot(
    context: &SessionContext,
    snapshot: &TableSnapshot,
) -> Result<(), DataFusionError> {
    let plan = snapshot_plan(snapshot)?;
    let state = context.state();
    let default_catalog = state.config().options().catalog.default_catalog.clone();
    if let Some(catalog) = context.catalog(&default_catalog)
        && catalog.schema(snapshot.table.schema()).is_none()
    {
        catalog.register_schema(
            snapshot.table.schema(),
            Arc::new(MemorySchemaProvider::new()),
        )?;
    }
    context.register_table(
        TableReference::partial(snapshot.table.schema(), snapshot.table.table()),
        Arc::new(ViewTable::new(plan, None)),
    )?;
    Ok(())
}

fn snapshot_plan(snapshot: &TableSnapshot) -> Result<LogicalPlan, DataFusionError> {
    let file_schema = Arc::new(Schema::new(snapshot.file_fields()));
    let mut groups: Vec<(&[ScalarValue], Vec<&SnapshotFile>)> = Vec::new();
    for file in &snapshot.files {
        match groups
            .iter_mut()
            .find(|(values, _)| *values == file.partition_values.as_slice())
        {
            Some((_, files)) => files.push(file),
            None => groups.push((&file.partition_values, vec![file])),
        }
    }
    let mut plan: Option<LogicalPlan> = None;
    for (index, (values, files)) in groups.into_iter().enumerate() {
        let urls = files
            .iter()
            .map(|file| ListingTableUrl::parse(file.url.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        // Each URL is one file, whatever its extension.
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(file_schema.clone());
        let listing = ListingTable::try_new(config)?;
        let scan = LogicalPlanBuilder::scan(
            format!("{}_part{index}", snapshot.table.table()),
            provider_as_source(Arc::new(listing)),
            None,
        )?;
        let projection = columns(snapshot, |position| lit(values[position].clone()));
        let branch = scan.project(projection)?.build()?;
        plan = Some(match plan {
            None => branch,
            Some(plan) => LogicalPlanBuilder::from(plan).union(branch)?.build()?,
        });
    }
    match plan {
        Some(plan) => Ok(plan),
        // A table without files (created empty, or everything deleted): no rows, same columns.
        None => {
            let projection = snapshot
                .schema
                .fields()
                .iter()
                .map(|field| {
                    ScalarValue::try_from(field.data_type())
                        .map(|null| lit(null).alias(field.name()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            LogicalPlanBuilder::empty(false)
                .project(projection)?
                .build()
        }
    }
}

/// The table's columns in its order: file columns as they are, partition column number `i`
/// as `partition_value(i)`.
fn columns(snapshot: &TableSnapshot, partition_value: impl Fn(usize) -> Expr) -> Vec<Expr> {
    snapshot
        .schema
        .fields()
        .iter()
        .map(|field| {
            match snapshot
                .partition_columns
                .iter()
                .position(|partition| partition.name() == field.name())
            {
                Some(position) => partition_value(position).alias(field.name()),
                None => col(datafusion::common::Column::new_unqualified(field.name())),
            }
        })
        .collect()
}
