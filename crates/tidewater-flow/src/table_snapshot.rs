use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::common::ScalarValue;
use futures::TryStreamExt;
use url::Url;

use crate::flow_error::FlowError;
use crate::{TableName, Warehouse};

/// One version of a table as the files that hold it: what an engine outside this process
/// (a Ballista cluster, which cannot scan Delta tables itself) reads so that every executor
/// sees exactly this version, also while another task commits a newer one.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    pub table: TableName,
    pub version: u64,
    /// Every column of the table, in the table's order (partition columns included).
    pub schema: SchemaRef,
    /// The partition columns, in the table's partitioning order. Their values are not in
    /// the Parquet files (Delta keeps them in the log): [`SnapshotFile::partition_values`]
    /// has them.
    pub partition_columns: Vec<Field>,
    /// The active data files of this version.
    pub files: Vec<SnapshotFile>,
}

/// One active data file of a [`TableSnapshot`].
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    /// Where the file is (absolute).
    pub url: Url,
    pub size: u64,
    /// The file's value of each partition column, in [`TableSnapshot::partition_columns`]'s
    /// order, typed as the column (a null partition is a typed null).
    pub partition_values: Vec<ScalarValue>,
}

impl TableSnapshot {
    /// The columns stored in the data files: every column but the partition columns.
    pub fn file_fields(&self) -> Vec<Field> {
        self.schema
            .fields()
            .iter()
            .filter(|field| {
                !self
                    .partition_columns
                    .iter()
                    .any(|partition| partition.name() == field.name())
            })
            .map(|field| field.as_ref().clone())
            .collect()
    }
}

impl Warehouse {
    /// The current version of `table` as its files (see [`TableSnapshot`]).
    pub async fn snapshot(&self, table: &TableName) -> Result<TableSnapshot, FlowError> {
        let handle = self.open_existing(table).await?;
        let state = handle.snapshot()?;
        let version = state.version();
        let schema = state.snapshot().arrow_schema();
        let partition_names = state.metadata().partition_columns().to_vec();
        let mut partition_columns = Vec::with_capacity(partition_names.len());
        for name in &partition_names {
            let field = schema
                .field_with_name(name)
                .map_err(|error| FlowError::DataFusion(Box::new(error.into())))?;
            partition_columns.push(field.clone());
        }
        let table_url = self.table_url(table);
        let mut files = Vec::new();
        let mut views = handle.get_active_add_actions_by_partitions(&[]);
        while let Some(file) = views.try_next().await? {
            let path = file.path();
            let url = table_url
                .join(&path)
                .map_err(|error| FlowError::InvalidLocation {
                    location: format!("{table_url}{path}"),
                    reason: error.to_string(),
                })?;
            let mut values = file.partition_values_map();
            let partition_values = partition_columns
                .iter()
                .map(|field| match values.remove(field.name()).flatten() {
                    Some(text) => ScalarValue::try_from_string(text.clone(), field.data_type())
                        .map_err(|_| FlowError::InvalidPartitionValue {
                            column: field.name().clone(),
                            value: text,
                            data_type: field.data_type().to_string(),
                        }),
                    None => ScalarValue::try_from(field.data_type())
                        .map_err(|error| FlowError::DataFusion(Box::new(error))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            files.push(SnapshotFile {
                url,
                size: u64::try_from(file.size()).unwrap_or_default(),
                partition_values,
            });
        }
        Ok(TableSnapshot {
            table: table.clone(),
            version,
            schema,
            partition_columns,
            files,
        })
    }
}
