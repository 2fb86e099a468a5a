use std::time::Duration;

use crate::{TableName, WorkflowName};

/// What a task does. Each kind is read by one module of `tidewater-spec/src/kinds/` and run
/// by one runner (see `tidewater-engine/src/runners.rs`); `empty` completes inside `decide`.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskAction {
    /// A shell command (a template), run with `sh -c`.
    Sh { command: String },
    /// A no-op join node; completes inside the scheduler without a process.
    Empty,
    /// SQL run by the embedded query engine, its result optionally written to a table.
    Sql(SqlAction),
    /// A sensor: waits until a condition holds, without holding a task-queue slot.
    Wait(WaitAction),
    /// Table maintenance: compact small files, remove unreferenced old files.
    Maintain(MaintainAction),
}

impl TaskAction {
    pub fn kind(&self) -> &'static str {
        match self {
            TaskAction::Sh { .. } => "sh",
            TaskAction::Empty => "empty",
            TaskAction::Sql(_) => "sql",
            TaskAction::Wait(_) => "wait",
            TaskAction::Maintain(_) => "maintain",
        }
    }

    /// Whether the task queue should count it: sensors wait without holding a slot.
    pub fn holds_a_slot(&self) -> bool {
        !matches!(self, TaskAction::Wait(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlAction {
    pub sql: SqlText,
    /// Where the result goes; without it the query runs and its first rows are logged.
    pub into: Option<SqlTarget>,
}

/// The SQL of a task: inline, or a file of the project (`sql: file:sql/mart.sql`), read when
/// the attempt starts. Both are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlText {
    Inline(String),
    File(String),
}

/// `into: { table, partition: { col: value }, mode, keys, schema }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlTarget {
    /// A table of the project's warehouse.
    pub table: TableName,
    /// Partition columns and their values (templates, e.g. `dt: "{{ ds }}"`), in order.
    pub partition: Vec<(String, String)>,
    pub mode: WriteMode,
    /// Key columns of a `merge`.
    pub keys: Vec<String>,
    pub schema: SchemaPolicy,
}

/// How a task's rows enter its table (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMode {
    /// Replace exactly the run's partition in one commit (idempotent append).
    ReplacePartition,
    /// Replace the whole table in one commit.
    Overwrite,
    /// Add all rows in one commit, once per run and task.
    AppendAtomic,
    /// Upsert by key in one commit.
    Merge,
    /// Plain append: not idempotent, so it must be asked for explicitly.
    Append,
}

impl WriteMode {
    pub const ALL: [WriteMode; 5] = [
        WriteMode::ReplacePartition,
        WriteMode::Overwrite,
        WriteMode::AppendAtomic,
        WriteMode::Merge,
        WriteMode::Append,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::ReplacePartition => "replace_partition",
            WriteMode::Overwrite => "overwrite",
            WriteMode::AppendAtomic => "append_atomic",
            WriteMode::Merge => "merge",
            WriteMode::Append => "append",
        }
    }

    pub fn parse(text: &str) -> Option<WriteMode> {
        WriteMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text)
    }
}

/// What a write does when the rows' schema differs from the table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SchemaPolicy {
    /// A difference is an error and nothing is written.
    #[default]
    Strict,
    /// New columns are added to the table.
    Evolve,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaitAction {
    pub condition: WaitCondition,
    /// How often the condition is checked.
    pub poke_interval: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitCondition {
    /// A partition of a warehouse table has rows (values are templates).
    Partition {
        table: TableName,
        partition: Vec<(String, String)>,
    },
    /// A file matching a glob (a template, relative to the project) exists.
    Path { pattern: String },
    /// A run of another workflow for the same data interval has succeeded.
    Workflow { workflow: WorkflowName },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaintainAction {
    pub table: TableName,
    /// Rewrite small files into larger ones.
    pub should_compact: bool,
    /// Remove files no longer referenced and older than this.
    pub vacuum_retention: Option<Duration>,
}
