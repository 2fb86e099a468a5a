use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use tidewater_core::EngineName;

use crate::{CommitInfo, FlowError, Warehouse, WriteSpec, WriteSummary};

/// Query engines outside this process (`[engines.NAME]`, a Ballista cluster) that run the
/// `sql` tasks and queries naming them, over the warehouse's tables.
///
/// Defined here and implemented elsewhere (`tidewater-ballista`), so that this crate, and
/// every build without the `ballista` feature, never compiles a cluster client. The contract
/// is the warehouse's own: a write is one Delta commit made by [`Warehouse::commit_staged`]
/// (same write modes, checks, commit metadata and idempotence as [`Warehouse::write`]), and a
/// failure leaves the table as it was.
#[async_trait]
pub trait RemoteEngines: Send + Sync {
    /// Runs one SELECT/WITH query on `engine` over the current snapshots of the tables it
    /// reads.
    async fn query(
        &self,
        warehouse: &Warehouse,
        engine: &EngineName,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, FlowError>;

    /// Runs `sql` on `engine`, whose executors write its rows as Parquet to the attempt's
    /// staging folder ([`Warehouse::start_staging`], which also cleans up after the task's
    /// earlier attempts), then commits them into `target`.
    async fn write(
        &self,
        warehouse: &Warehouse,
        engine: &EngineName,
        sql: &str,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError>;
}
