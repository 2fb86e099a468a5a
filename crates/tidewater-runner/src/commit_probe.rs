use tidewater_core::TableName;

/// One commit of a table that added data: its version and each partition it added data to
/// (partition column → value, `None` for a null partition; one empty list for an
/// unpartitioned table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCommit {
    pub version: u64,
    pub partitions: Vec<Vec<(String, Option<String>)>>,
}

/// Lists a table's commits, for data-aware schedules (`schedule: { on: [{ table }] }`).
/// Implemented where tables are known (`tidewater-flow`'s `WarehouseCommits`, from the Delta
/// log), so that the service stays free of the query engine.
#[async_trait::async_trait]
pub trait CommitProbe: Send + Sync {
    /// The commits after version `after` (from the first one kept when `None`) that added
    /// data, oldest first, and the table's newest version (`None`: the table does not exist
    /// yet). Commits that only removed or rearranged files (a delete, a compaction) are not
    /// listed.
    async fn commits_after(
        &self,
        table: &TableName,
        after: Option<u64>,
    ) -> Result<(Vec<TableCommit>, Option<u64>), String>;
}
