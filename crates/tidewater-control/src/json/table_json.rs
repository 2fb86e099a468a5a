//! JSON shapes of the warehouse's tables (`tidewater tables --json`, `/api/v1/tables`).

use serde::Serialize;
use tidewater_core::DataInterval;
pub use tidewater_flow::TableDescription;
use tidewater_flow::{PartitionDescription, PartitionWrite};

use crate::missing_intervals::MissingIntervals;
use crate::tables::TableList;

/// One table: its columns, Delta version and partitions, each with the run, task and attempt
/// that last wrote it (`tidewater tables T --json`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TableJson {
    /// `schema.table`.
    pub table: String,
    /// The table's Delta version: its number of commits, less one.
    pub version: u64,
    pub columns: Vec<ColumnJson>,
    pub partition_columns: Vec<String>,
    /// Sorted by partition values. An unpartitioned table with rows has one entry whose
    /// `values` is empty.
    pub partitions: Vec<PartitionJson>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ColumnJson {
    pub name: String,
    /// The Delta type name: `string`, `long`, `date`, `timestamp`, ...
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartitionJson {
    /// `[column, value]` pairs in partition column order; the value is `null` for a null
    /// partition.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<Option<String>>>))]
    pub values: Vec<(String, Option<String>)>,
    /// From the files' statistics; `null` if a file was written without them.
    pub rows: Option<u64>,
    pub files: u64,
    /// The newest commit that added data to this partition; `null` when that commit is older
    /// than the log kept.
    pub last_write: Option<PartitionWriteJson>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartitionWriteJson {
    /// The table version the commit made.
    pub version: u64,
    /// When it was committed (RFC 3339, UTC).
    pub timestamp: Option<String>,
    /// The Delta operation, e.g. `WRITE`, `MERGE`.
    pub operation: Option<String>,
    /// The run, task and attempt that wrote it; `null` for a commit not made by Tidewater.
    pub writer: Option<WriterJson>,
}

/// Who wrote a partition.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriterJson {
    pub workflow: String,
    pub run_id: i64,
    pub task: String,
    pub attempt: u32,
}

impl TableJson {
    pub fn new(description: &TableDescription) -> TableJson {
        TableJson {
            table: description.table.to_string(),
            version: description.version,
            columns: description
                .columns
                .iter()
                .map(|column| ColumnJson {
                    name: column.name.clone(),
                    data_type: column.data_type.clone(),
                    nullable: column.nullable,
                })
                .collect(),
            partition_columns: description.partition_columns.clone(),
            partitions: description
                .partitions
                .iter()
                .map(PartitionJson::new)
                .collect(),
        }
    }
}

impl PartitionJson {
    fn new(partition: &PartitionDescription) -> PartitionJson {
        PartitionJson {
            values: partition.values.clone(),
            rows: partition.rows,
            files: partition.files,
            last_write: partition.last_write.as_ref().map(PartitionWriteJson::new),
        }
    }
}

impl PartitionWriteJson {
    fn new(write: &PartitionWrite) -> PartitionWriteJson {
        PartitionWriteJson {
            version: write.version,
            // As chrono serialises a time, which this output has always shown.
            timestamp: write
                .timestamp
                .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            operation: write.operation.clone(),
            writer: write.writer.as_ref().map(|commit| WriterJson {
                workflow: commit.workflow.clone(),
                run_id: commit.run_id,
                task: commit.task.clone(),
                attempt: commit.attempt,
            }),
        }
    }
}

/// An interval whose partition is missing; its ends in the workflow's zone.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingJson {
    pub ds: String,
    pub data_interval_start: String,
    pub data_interval_end: String,
}

impl MissingJson {
    pub fn new(interval: &DataInterval, timezone: chrono_tz::Tz) -> MissingJson {
        MissingJson {
            ds: interval.ds(timezone).to_string(),
            data_interval_start: interval.start.with_timezone(&timezone).to_rfc3339(),
            data_interval_end: interval.end.with_timezone(&timezone).to_rfc3339(),
        }
    }

    /// Every missing interval, oldest first.
    pub fn list(missing: &MissingIntervals) -> Vec<MissingJson> {
        missing
            .intervals
            .iter()
            .map(|interval| MissingJson::new(interval, missing.timezone))
            .collect()
    }
}

/// The table list: their names, then the serving views' (`serving.<name>`).
pub fn table_names_json(list: &TableList) -> Vec<String> {
    list.tables
        .iter()
        .chain(&list.views)
        .map(ToString::to_string)
        .collect()
}
