//! Tidewater's data flows: SQL over the project's warehouse of Delta Lake tables, and the write
//! modes that make a task's output atomic and idempotent (DESIGN.md §5).
//!
//! This is the only crate that knows DataFusion and Delta Lake; nothing else depends on them,
//! so the other crates build and link without them. It does not schedule, retry tasks or
//! persist run state: the engine calls [`Warehouse::write`] for a task attempt and records the
//! [`WriteSummary`] it gets back.
//!
//! - [`Warehouse`] is the entry point: `query`, `write`, `tables`, `describe`,
//!   `missing_partitions`, `compact`, `vacuum`.
//! - A write is one Delta commit whose commit info names the workflow, run, task and attempt
//!   ([`CommitInfo`]), so [`TableDescription`] can say who wrote each partition.
//! - [`SqlRunner`], [`MaintainRunner`] and [`WarehouseProbe`] plug the `sql`, `maintain` and
//!   `wait`-on-a-partition task kinds into the engine's runner registry; [`WarehouseCommits`]
//!   tells the service which commits wrote which partitions (data-aware schedules).
//! - Serving views (`serving.<name>`, [`Warehouse::with_views`]) read a batch table's
//!   partition where it exists and a stream table's rows elsewhere, one snapshot of each per
//!   query; [`Warehouse::prune_stream`] deletes only stream partitions the batch covers.
//!   [`LiveViews`] lets a server replace them while queries run.
//! - A stream's micro-batch ([`Warehouse::append_stream_batch`]) is planned like any query,
//!   `messages` beside the warehouse's tables, and committed with its source position.
//! - [`RemoteEngines`] runs the `sql` tasks that name an `engine` (a Ballista cluster,
//!   implemented in `tidewater-ballista`) over [`TableSnapshot`]s, and their staged output is
//!   committed by [`Warehouse::commit_staged`] with the same guarantees as a local write: the
//!   staged Parquet files themselves, checked by their footers, are added to the log. Files an
//!   attempt killed mid-commit moved into a table are deleted by the task's next attempt or by
//!   `vacuum`, from the attempt's staging manifest (`staging_manifest.rs`).
//! - Tables stay readable by any Delta client: protocol reader 1 / writer 2, timestamps as
//!   `timestamp` (UTC), plain strings.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod as_nullable;
mod attempt_work;
mod commit_info;
mod compaction_stop;
mod flow_error;
mod live_views;
mod maintain_runner;
mod maintenance_summary;
mod output_format;
mod partition_check;
mod planned_query;
mod remote_engines;
mod schema_difference;
mod serving_view;
mod sql_lineage;
mod sql_runner;
mod staged_commit;
mod staged_file;
mod staged_write;
mod staging_manifest;
mod stream_write;
mod table_description;
mod table_functions;
mod table_snapshot;
mod table_write;
mod warehouse;
mod warehouse_commits;
mod warehouse_location;
mod warehouse_probe;
mod write_input;
mod write_spec;
mod write_summary;

pub use commit_info::CommitInfo;
pub use flow_error::{ErrorClass, FlowError};
pub use live_views::LiveViews;
pub use maintain_runner::MaintainRunner;
pub use maintenance_summary::{CompactSummary, VacuumSummary};
pub use output_format::{OutputFormat, format_batches};
pub use remote_engines::RemoteEngines;
pub use schema_difference::SchemaDifference;
pub use serving_view::{PruneSummary, ViewPartitions};
pub use sql_runner::SqlRunner;
pub use staged_write::{STAGING_FOLDER, staged_output};
pub use stream_write::{MESSAGES_TABLE, StreamAppend, StreamColumn, StreamCommit, StreamValues};
pub use table_description::{
    ColumnDescription, PartitionDescription, PartitionWrite, TableDescription,
};
pub use table_snapshot::{SnapshotFile, TableSnapshot};
/// The core type, re-exported because [`RemoteEngines`] names it in its API.
pub use tidewater_core::EngineName;
/// The core type, re-exported because [`Warehouse`] names it in its API.
pub use tidewater_core::TableName;
pub use warehouse::{MIN_VACUUM_RETENTION, Warehouse};
pub use warehouse_commits::WarehouseCommits;
pub use warehouse_probe::WarehouseProbe;
pub use write_spec::{SchemaPolicy, WriteMode, WriteSpec};
pub use write_summary::{WriteOutcome, WriteSummary};

/// Query results, re-exported so callers need no arrow dependency of their own (a second
/// arrow version would not be the same type, DEPS.md pitfall 4).
pub use datafusion::arrow::record_batch::RecordBatch;
