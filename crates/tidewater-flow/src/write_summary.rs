use crate::TableName;
use crate::write_spec::WriteMode;

/// What [`crate::Warehouse::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    pub table: TableName,
    pub mode: WriteMode,
    pub outcome: WriteOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// One commit made the rows visible.
    Committed {
        /// The table version of that commit.
        version: u64,
        /// Rows the query put into the table (for merge: inserted plus updated).
        rows_written: u64,
        files_added: u64,
        files_removed: u64,
        /// 1 unless concurrent writers made earlier attempts lose the commit race.
        commit_attempts: u32,
    },
    /// `append_atomic` only: this workflow/run/task had already committed its rows (by
    /// `attempt`), so nothing was written again.
    AlreadyCommitted { attempt: i64 },
}
