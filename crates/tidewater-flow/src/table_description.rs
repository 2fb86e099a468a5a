use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use futures::TryStreamExt;

use crate::TableName;
use crate::commit_info::{COMMIT_METADATA_KEY, CommitInfo};
use crate::flow_error::FlowError;

/// What `tidewater tables` shows about one table: its columns, version and partitions, and for
/// each partition which run and task last wrote it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableDescription {
    pub table: TableName,
    pub version: u64,
    pub columns: Vec<ColumnDescription>,
    pub partition_columns: Vec<String>,
    /// Sorted by partition values. An unpartitioned table with rows has one entry whose
    /// `values` is empty.
    pub partitions: Vec<PartitionDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnDescription {
    pub name: String,
    /// The Delta type name: `string`, `long`, `date`, `timestamp`, ...
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionDescription {
    /// Partition column → value as recorded in the Delta log (`None` for a null partition).
    pub values: Vec<(String, Option<String>)>,
    /// From the files' statistics; `None` if a file was written without them.
    pub rows: Option<u64>,
    pub files: u64,
    /// The newest commit that added data to this partition; `None` when that commit is older
    /// than the log kept (`delta.logRetentionDuration`, 30 days by default).
    pub last_write: Option<PartitionWrite>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionWrite {
    pub version: u64,
    pub timestamp: Option<DateTime<Utc>>,
    /// The Delta operation, e.g. `WRITE`, `MERGE`.
    pub operation: Option<String>,
    /// Who wrote it; `None` for a commit not made by Tidewater (another Delta client).
    pub writer: Option<CommitInfo>,
}

/// Partition values in partition column order: the key partitions are grouped by.
type PartitionKey = Vec<Option<String>>;

impl TableDescription {
    pub(crate) async fn read(name: &TableName, table: &DeltaTable) -> Result<Self, FlowError> {
        let state = table.snapshot()?;
        let version = state.version();
        let partition_columns = state.metadata().partition_columns().to_vec();
        let columns = state
            .schema()
            .fields()
            .map(|field| ColumnDescription {
                name: field.name().clone(),
                data_type: field.data_type().to_string(),
                nullable: field.is_nullable(),
            })
            .collect();

        let mut partitions: BTreeMap<PartitionKey, (Option<u64>, u64)> = BTreeMap::new();
        let mut files = table.get_active_add_actions_by_partitions(&[]);
        while let Some(file) = files.try_next().await? {
            let values = file.partition_values_map();
            let key = partition_columns
                .iter()
                .map(|column| values.get(column).cloned().flatten())
                .collect();
            let (rows, file_count) = partitions.entry(key).or_insert((Some(0), 0));
            *rows = rows
                .zip(file.num_records())
                .map(|(sum, more)| sum + more as u64);
            *file_count += 1;
        }
        drop(files);

        let mut last_writes = last_writes(
            table,
            version,
            &partition_columns,
            partitions.keys().cloned().collect(),
        )
        .await?;
        let partitions = partitions
            .into_iter()
            .map(|(key, (rows, files))| PartitionDescription {
                last_write: last_writes.remove(&key),
                values: partition_columns.iter().cloned().zip(key).collect(),
                rows,
                files,
            })
            .collect();

        Ok(TableDescription {
            table: name.clone(),
            version,
            columns,
            partition_columns,
            partitions,
        })
    }
}

/// Walks the log from the newest commit back until every partition is attributed to the
/// newest commit that added data to it. Files added without a data change (compaction) do not
/// count: compacting a partition does not change who wrote its rows.
async fn last_writes(
    table: &DeltaTable,
    newest: u64,
    partition_columns: &[String],
    mut unattributed: HashSet<PartitionKey>,
) -> Result<std::collections::HashMap<PartitionKey, PartitionWrite>, FlowError> {
    let log_store = table.log_store();
    let mut found = std::collections::HashMap::new();
    for version in (0..=newest).rev() {
        if unattributed.is_empty() {
            break;
        }
        let Some(bytes) = log_store.read_commit_entry(version).await? else {
            // Older commits were cleaned up with the log retention.
            break;
        };
        let actions = get_actions(version, &bytes)?;
        let mut written = Vec::new();
        for action in &actions {
            if let Action::Add(add) = action
                && add.data_change
            {
                let key: PartitionKey = partition_columns
                    .iter()
                    .map(|column| add.partition_values.get(column).cloned().flatten())
                    .collect();
                if unattributed.remove(&key) {
                    written.push(key);
                }
            }
        }
        if !written.is_empty() {
            let write = partition_write(version, &actions);
            for key in written {
                found.insert(key, write.clone());
            }
        }
    }
    Ok(found)
}

fn partition_write(version: u64, actions: &[Action]) -> PartitionWrite {
    let commit = actions.iter().find_map(|action| match action {
        Action::CommitInfo(commit) => Some(commit),
        _ => None,
    });
    PartitionWrite {
        version,
        timestamp: commit
            .and_then(|commit| commit.in_commit_timestamp.or(commit.timestamp))
            .and_then(DateTime::from_timestamp_millis),
        operation: commit.and_then(|commit| commit.operation.clone()),
        writer: commit
            .and_then(|commit| commit.info.get(COMMIT_METADATA_KEY))
            .and_then(|metadata| serde_json::from_value(metadata.clone()).ok()),
    }
}
