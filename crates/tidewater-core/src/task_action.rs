use std::ops::RangeInclusive;
use std::time::Duration;

use crate::{TableName, WorkflowName};

/// What a task does. Each kind is read by one module of `tidewater-spec/src/kinds/` and run
/// by one runner (see `tidewater-engine/src/runners.rs`); `empty` completes inside `decide`.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskAction {
    /// A shell command (a template), run with `sh -c`, with extra environment variables
    /// (`env`: names and templates of their values).
    Sh {
        command: String,
        env: Vec<(String, String)>,
    },
    /// A no-op join node; completes inside the scheduler without a process.
    Empty,
    /// SQL run by the embedded query engine, its result optionally written to a table.
    Sql(SqlAction),
    /// A sensor: waits until a condition holds, without holding a task-queue slot.
    Wait(WaitAction),
    /// Table maintenance: compact small files, remove unreferenced old files.
    Maintain(MaintainAction),
    /// One HTTP request, its status checked and its JSON response the task's output.
    Http(HttpAction),
    /// Another workflow of the project, run as a child run; waits without a queue slot.
    Call(CallAction),
}

impl TaskAction {
    pub fn kind(&self) -> &'static str {
        match self {
            TaskAction::Sh { .. } => "sh",
            TaskAction::Empty => "empty",
            TaskAction::Sql(_) => "sql",
            TaskAction::Wait(_) => "wait",
            TaskAction::Maintain(_) => "maintain",
            TaskAction::Http(_) => "http",
            TaskAction::Call(_) => "call",
        }
    }

    /// Whether the task queue should count it: sensors, and calls waiting for their child
    /// run (whose own tasks take slots), wait without holding one.
    pub fn holds_a_slot(&self) -> bool {
        !matches!(self, TaskAction::Wait(_) | TaskAction::Call(_))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlAction {
    pub sql: SqlText,
    /// Where the result goes; without it the query runs and its first rows are logged.
    pub into: Option<SqlTarget>,
    /// `engine: NAME`: the declared engine (a Ballista cluster) that runs the query; `None`
    /// runs it on the embedded DataFusion.
    pub engine: Option<crate::EngineName>,
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

/// `call: { workflow, params, date }`: runs `workflow` as a child run of the task's run.
#[derive(Debug, Clone, PartialEq)]
pub struct CallAction {
    pub workflow: WorkflowName,
    /// Values for some of the child's params (each string in them a template); the others
    /// keep the child workflow's defaults.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The child run's date (a template giving `YYYY-MM-DD`: the child's interval on that
    /// date); without it the child has the parent run's data interval.
    pub date: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaintainAction {
    pub table: TableName,
    /// Rewrite small files into larger ones.
    pub should_compact: bool,
    /// Remove files no longer referenced and older than this.
    pub vacuum_retention: Option<Duration>,
}

/// `http: { method, url, headers, body, expect, retry_on, output }`: one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAction {
    pub method: HttpMethod,
    /// A template.
    pub url: String,
    /// Header names and their values (templates), in order. Values are never logged: a
    /// token in a header must not reach the attempt's log.
    pub headers: Vec<(String, String)>,
    pub body: Option<HttpBody>,
    /// The statuses that mean success (any 2xx unless the task says).
    pub expect: StatusCodes,
    /// Statuses below 500 that are worth trying again (e.g. 429): an unexpected status
    /// below 500 is otherwise the task's input and not retried, one of 500 and above the
    /// server's and retried.
    pub retry_on: StatusCodes,
    pub output: HttpOutput,
}

/// The methods an `http` task may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HttpMethod {
    #[default]
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 7] = [
        HttpMethod::Get,
        HttpMethod::Head,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Head => "HEAD",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Options => "OPTIONS",
        }
    }

    /// The method named `text`, in any case (`post` or `POST`).
    pub fn parse(text: &str) -> Option<HttpMethod> {
        HttpMethod::ALL
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
    }
}

/// What an `http` task sends as its body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    /// Sent as written, once rendered (a template).
    Text(String),
    /// Sent as JSON (`Content-Type: application/json`); each string in it is a template.
    Json(serde_json::Value),
}

/// What of the response becomes the task's output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HttpOutput {
    /// The whole response, if it is JSON; none otherwise.
    #[default]
    Response,
    /// The value at this JSON pointer (RFC 6901, e.g. `/data/id`) of the response, which
    /// must be JSON and have it.
    Pointer(String),
}

/// A set of HTTP statuses, e.g. `[200, 204]` or `[2xx, 304]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCodes {
    ranges: Vec<RangeInclusive<u16>>,
}

impl StatusCodes {
    pub fn new(ranges: Vec<RangeInclusive<u16>>) -> StatusCodes {
        StatusCodes { ranges }
    }

    /// Any 2xx: what a task expects unless it says.
    pub fn success() -> StatusCodes {
        StatusCodes::new(vec![200..=299])
    }

    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|range| range.contains(&status))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl std::fmt::Display for StatusCodes {
    /// `200, 204, 300-399`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, range) in self.ranges.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else if range.start() % 100 == 0 && *range.end() == range.start() + 99 {
                write!(f, "{}xx", range.start() / 100)?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}
