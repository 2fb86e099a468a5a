//! The probe data-aware schedules ask: which commits added data to which partitions.

use std::sync::Arc;

use deltalake::kernel::Action;
use deltalake::logstore::get_actions;
use tidewater_runner::{CommitProbe, TableCommit};

use crate::{FlowError, TableName, Warehouse};

/// Reads a table's Delta log for `schedule: { on: [{ table }] }`: each commit after a
/// version, with the partitions its `add` actions with a data change wrote. Compactions
/// (`dataChange: false`) and deletes (only `remove`) bring no new data and are left out.
pub struct WarehouseCommits {
    warehouse: Arc<Warehouse>,
}

impl WarehouseCommits {
    pub fn new(warehouse: Arc<Warehouse>) -> WarehouseCommits {
        WarehouseCommits { warehouse }
    }
}

impl Warehouse {
    /// See [`CommitProbe::commits_after`].
    pub async fn commits_after(
        &self,
        table: &TableName,
        after: Option<u64>,
    ) -> Result<(Vec<TableCommit>, Option<u64>), FlowError> {
        let Some(handle) = self.open_table(table).await? else {
            return Ok((Vec::new(), None));
        };
        let snapshot = handle.snapshot()?;
        let newest = snapshot.version();
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let log_store = handle.log_store();
        let first = after.map_or(0, |after| after + 1);
        let mut commits = Vec::new();
        for version in first..=newest {
            let Some(bytes) = log_store.read_commit_entry(version).await? else {
                // Cleaned up with the log retention: what it wrote can no longer be known.
                continue;
            };
            let mut partitions: Vec<Vec<(String, Option<String>)>> = Vec::new();
            for action in get_actions(version, &bytes)? {
                if let Action::Add(add) = action
                    && add.data_change
                {
                    let partition: Vec<(String, Option<String>)> = partition_columns
                        .iter()
                        .map(|column| {
                            (
                                column.clone(),
                                add.partition_values.get(column).cloned().flatten(),
                            )
                        })
                        .collect();
                    if !partitions.contains(&partition) {
                        partitions.push(partition);
                    }
                }
            }
            if !partitions.is_empty() {
                commits.push(TableCommit {
                    version,
                    partitions,
                });
            }
        }
        Ok((commits, Some(newest)))
    }
}

#[async_trait::async_trait]
impl CommitProbe for WarehouseCommits {
    async fn commits_after(
        &self,
        table: &TableName,
        after: Option<u64>,
    ) -> Result<(Vec<TableCommit>, Option<u64>), String> {
        self.warehouse
            .commits_after(table, after)
            .await
            .map_err(|error| error.to_string())
    }
}
