use tidewater_core::{Attempt, DataInterval, RunId, TableName, TaskName, Timestamp, WorkflowName};

/// Receives what an attempt read and wrote, as it starts and as it ends (OpenLineage run
/// events, `[lineage]` in tidewater.toml). The runner that knows the tables builds the
/// events; the sink only delivers them, so the runner contract names no wire format and no
/// HTTP client.
///
/// Delivery is best effort: an error is returned to the runner, which logs it in the
/// attempt's log and goes on. A sink bounds its own waiting (a lineage server that never
/// answers must not hold the task for long).
#[async_trait::async_trait]
pub trait LineageSink: Send + Sync {
    /// Delivers one event; the error says why it was not delivered.
    async fn send(&self, event: &LineageEvent) -> Result<(), String>;
}

/// One moment of one attempt: its start or its end.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageEvent {
    pub kind: LineageEventKind,
    pub event_time: Timestamp,
    pub attempt: LineageAttempt,
    /// The rendered SQL the attempt runs.
    pub sql: String,
    /// The tables its query reads.
    pub inputs: Vec<LineageDataset>,
    /// The table it writes, if any.
    pub outputs: Vec<LineageDataset>,
}

/// Which moment an event reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineageEventKind {
    Start,
    Complete,
    Fail {
        message: String,
    },
    /// Stopped (a cancel) before it ended on its own.
    Abort,
}

/// The attempt an event is about: the same for its start and its end, so that both carry
/// the same run id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageAttempt {
    pub workflow: WorkflowName,
    pub task: TaskName,
    pub run_id: RunId,
    pub attempt: Attempt,
    /// When the attempt started (its start event's time).
    pub started_at: Timestamp,
    /// The run's data interval, the nominal time of the job.
    pub interval: DataInterval,
}

/// A Delta table as lineage names it: the location's namespace and name (OpenLineage's
/// naming: `file` and the table's absolute folder for a local warehouse, `s3://bucket` and
/// the key prefix for an object store), and its name in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageDataset {
    pub namespace: String,
    pub name: String,
    pub table: TableName,
    /// The warehouse's root URL, where `table` is its name.
    pub warehouse: String,
}
