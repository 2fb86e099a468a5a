use crate::TableName;

/// Where and how a query's result enters the warehouse (DESIGN.md §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSpec {
    pub table: TableName,
    /// Partition column → value, already rendered from templates (e.g. `dt` → `2026-01-01`).
    /// The table is partitioned by these columns, in this order, when the write creates it.
    /// Every row written must belong to this partition: a query that does not return the
    /// column gets it as a constant; one that does must match it.
    pub partition: Vec<(String, String)>,
    pub mode: WriteMode,
    /// Merge keys: a row whose keys (and partition values) match an existing row replaces it.
    pub keys: Vec<String>,
    pub schema_policy: SchemaPolicy,
}

// The write modes and schema policies are the core model's: a workflow file names them, the
// engine passes them through, and this crate gives them their Delta meaning.
pub use tidewater_core::{SchemaPolicy, WriteMode};
