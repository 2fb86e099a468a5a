/// What [`crate::Warehouse::compact`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactSummary {
    /// The version of the compaction commit; `None` when there was nothing to compact.
    pub version: Option<u64>,
    pub files_added: u64,
    pub files_removed: u64,
    pub partitions_compacted: u64,
}

/// What [`crate::Warehouse::vacuum`] deleted, or would delete on a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumSummary {
    pub is_dry_run: bool,
    /// Paths relative to the table folder.
    pub files: Vec<String>,
    /// Of `files`, those an attempt of a remote engine moved into the table's folder but
    /// never committed (it was killed between the move and its commit): no version ever
    /// referenced them.
    pub staged_orphans: Vec<String>,
}
