use crate::table_name::TableName;

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

/// How the rows enter the table; every mode is one Delta commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Replace exactly the declared partition; other partitions are untouched.
    ReplacePartition,
    /// Replace the whole table.
    Overwrite,
    /// Add the rows once per (workflow, run, task): a retry or re-run adds nothing twice.
    AppendAtomic,
    /// Upsert by [`WriteSpec::keys`].
    Merge,
    /// Add the rows; not idempotent, so it has to be asked for.
    Append,
}

impl WriteMode {
    /// The name used in workflow files, recorded in each commit's metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::ReplacePartition => "replace_partition",
            WriteMode::Overwrite => "overwrite",
            WriteMode::AppendAtomic => "append_atomic",
            WriteMode::Merge => "merge",
            WriteMode::Append => "append",
        }
    }
}

/// What to do when the query's columns differ from the existing table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SchemaPolicy {
    /// Any added, missing or retyped column is a [`crate::FlowError::SchemaMismatch`].
    #[default]
    Strict,
    /// Merge the schemas: new columns are added to the table, missing ones are written as
    /// nulls (Delta's schema merge). A changed type is still a
    /// [`crate::FlowError::SchemaMismatch`].
    Evolve,
}
