use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;

use async_trait::async_trait;
use ballista::prelude::SessionContextExt;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;
use tidewater_flow::{
    CommitInfo, EngineName, FlowError, RecordBatch, RemoteEngines, Warehouse, WriteOutcome,
    WriteSpec, WriteSummary, staged_output,
};
use tidewater_spec::EngineConfig;

use crate::cluster_error::cluster_error;
use crate::snapshot_view::register_snapshot;

/// The project's `[engines]`: each a Ballista scheduler that `sql` tasks and `query --engine`
/// run on.
#[derive(Debug, Clone)]
pub struct BallistaEngines {
    engines: BTreeMap<EngineName, EngineConfig>,
}

impl BallistaEngines {
    pub fn new(engines: BTreeMap<EngineName, EngineConfig>) -> BallistaEngines {
        BallistaEngines { engines }
    }

    fn engine(&self, name: &EngineName) -> Result<&EngineConfig, FlowError> {
        self.engines
            .get(name)
            .ok_or_else(|| FlowError::UnknownEngine {
                engine: name.to_string(),
            })
    }

    /// A session on the cluster with the snapshot of every table `sql` reads registered, and
    /// `sql` planned on it (planning happens here, in the client; the cluster runs the plan).
    async fn plan(
        &self,
        warehouse: &Warehouse,
        engine: &EngineConfig,
        sql: &str,
    ) -> Result<datafusion::dataframe::DataFrame, FlowError> {
        // Refuses anything but one query, as the embedded engine does, before any IO.
        let tables = warehouse.tables_read(sql)?;
        let EngineConfig::Ballista { url } = engine;
        let context = SessionContext::remote(url)
            .await
            .map_err(|error| cluster_error(engine.address(), error))?;
        // The embedded engine's session (deltalake's) keeps identifiers as written; the same
        // SQL must mean the same columns on the cluster.
        context
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .sql_parser
            .enable_ident_normalization = false;
        for table in &tables {
            let snapshot = warehouse.snapshot(table).await?;
            register_snapshot(&context, &snapshot).map_err(FlowError::from)?;
        }
        Ok(context.sql(sql).await?)
    }
}

#[async_trait]
impl RemoteEngines for BallistaEngines {
    async fn query(
        &self,
        warehouse: &Warehouse,
        engine: &EngineName,
        sql: &str,
    ) -> Result<Vec<RecordBatch>, FlowError> {
        let engine = self.engine(engine)?;
        let dataframe = self.plan(warehouse, engine, sql).await?;
        dataframe
            .collect()
            .await
            .map_err(|error| cluster_error(engine.address(), error))
    }

    async fn write(
        &self,
        warehouse: &Warehouse,
        engine: &EngineName,
        sql: &str,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let engine = self.engine(engine)?;
        // A retry of an `append_atomic` write that an earlier attempt committed adds nothing,
        // and need not keep the cluster busy.
        if let Some(attempt) = warehouse.committed_attempt(target, commit).await? {
            return Ok(WriteSummary {
                table: target.table.clone(),
                mode: target.mode,
                outcome: WriteOutcome::AlreadyCommitted { attempt },
            });
        }
        // Also deletes what an earlier attempt of this task, killed mid-commit, left.
        let staging = warehouse.start_staging(&target.table, commit).await?;
        let dataframe = staged_output(self.plan(warehouse, engine, sql).await?)?;
        let schema = Arc::new(dataframe.schema().as_arrow().clone());
        // The executors write the files; only their paths come back.
        let written = dataframe
            .write_parquet(staging.as_str(), DataFrameWriteOptions::new(), None)
            .await;
        if let Err(error) = written {
            warehouse.clear_staging(&staging)?;
            return Err(cluster_error(engine.address(), error));
        }
        // A query without rows makes no file; an empty one carries its columns, so that the
        // write still checks them and `overwrite` empties the table, as embedded.
        write_empty_file_if_none(&staging, schema)?;
        warehouse.commit_staged(&staging, target, commit).await
    }
}

fn write_empty_file_if_none(staging: &url::Url, schema: SchemaRef) -> Result<(), FlowError> {
    let Ok(folder) = staging.to_file_path() else {
        return Ok(());
    };
    let io = |source| FlowError::Io {
        action: "writing an empty output file to",
        path: folder.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&folder).map_err(io)?;
    let has_file = std::fs::read_dir(&folder)
        .map_err(io)?
        .filter_map(Result::ok)
        .any(|entry| entry.path().extension().is_some_and(|ext| ext == "parquet"));
    if has_file {
        return Ok(());
    }
    let file = std::fs::File::create(folder.join("empty.parquet")).map_err(io)?;
    let parquet = |error: datafusion::parquet::errors::ParquetError| {
        FlowError::DataFusion(Box::new(error.into()))
    };
    ArrowWriter::try_new(file, schema, None)
        .map_err(parquet)?
        .close()
        .map_err(parquet)?;
    Ok(())
}
