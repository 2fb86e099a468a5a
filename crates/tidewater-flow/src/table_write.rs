use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::common::Column;
use datafusion::logical_expr::Expr;
use datafusion::prelude::DataFrame;
use deltalake::DeltaTable;
use deltalake::DeltaTableError;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::operations::write::{SchemaMode, WriteMetrics};
use deltalake::protocol::SaveMode;
use futures::TryStreamExt;

use crate::commit_info::{COMMIT_METADATA_KEY, CommitInfo};
use crate::flow_error::FlowError;
use crate::planned_query::PlannedQuery;
use crate::schema_difference::SchemaDifference;
use crate::warehouse_location::WarehouseLocation;
use crate::write_input::{ExistingTable, WriteInput};
use crate::write_spec::{SchemaPolicy, WriteMode, WriteSpec};
use crate::write_summary::{WriteOutcome, WriteSummary};

/// One attempt at a write: load the table, plan and shape the query, commit once.
///
/// An attempt that loses the commit race to a concurrent writer is reported as
/// [`AttemptError::Conflict`] and is retried by the caller from the start, against the new
/// table version.
pub(crate) struct TableWrite<'a> {
    pub(crate) location: &'a WarehouseLocation,
    pub(crate) project_root: &'a Path,
    pub(crate) sql: &'a str,
    pub(crate) spec: &'a WriteSpec,
    pub(crate) commit: &'a CommitInfo,
    /// The serving views the query may read.
    pub(crate) views: &'a [tidewater_core::ServingView],
}

pub(crate) enum AttemptError {
    /// Another writer committed first in a way this write conflicts with; worth retrying.
    Conflict(DeltaTableError),
    Failed(FlowError),
}

impl From<FlowError> for AttemptError {
    fn from(error: FlowError) -> Self {
        AttemptError::Failed(error)
    }
}

/// The outcome of a committed attempt, before the caller adds how many attempts it took.
pub(crate) enum AttemptOutcome {
    Committed {
        version: u64,
        rows_written: u64,
        files_added: u64,
        files_removed: u64,
    },
    AlreadyCommitted {
        attempt: i64,
    },
}

impl TableWrite<'_> {
    pub(crate) async fn attempt(&self) -> Result<AttemptOutcome, AttemptError> {
        let spec = self.spec;
        let table = self.location.handle(&spec.table).await?;
        let state = table.snapshot().ok();

        if spec.mode == WriteMode::AppendAtomic
            && let Some(state) = state
        {
            let recorded = state
                .transaction_version(table.log_store().as_ref(), self.commit.transaction_app_id())
                .await
                .map_err(FlowError::from)?;
            if let Some(attempt) = recorded {
                return Ok(AttemptOutcome::AlreadyCommitted { attempt });
            }
        }

        let planned =
            PlannedQuery::plan(self.location, self.project_root, self.sql, self.views).await?;
        let table_arrow_schema = state.map(|state| state.snapshot().arrow_schema());
        let existing = match (state, &table_arrow_schema) {
            (Some(state), Some(arrow_schema)) => Some(ExistingTable {
                arrow_schema,
                partition_columns: state.metadata().partition_columns(),
            }),
            _ => None,
        };
        let input = WriteInput::prepare(planned.dataframe, spec, existing.as_ref())?;
        if let Some(state) = state {
            let mut differences = SchemaDifference::between(&state.schema(), &input.delta_schema);
            if spec.schema_policy == SchemaPolicy::Evolve {
                // Evolving adds and drops columns; a retyped column would make old files
                // unreadable as the new type, so it stays an error.
                differences.retain(|difference| {
                    matches!(difference, SchemaDifference::TypeChanged { .. })
                });
            }
            if !differences.is_empty() {
                return Err(FlowError::SchemaMismatch {
                    table: spec.table.to_string(),
                    differences,
                }
                .into());
            }
        }

        let merge_predicate = match spec.mode {
            WriteMode::Merge => Some(merge_predicate(spec, &input)?),
            _ => None,
        };

        let mismatch = input.mismatch.clone();
        let result = match merge_predicate {
            Some(predicate) if table.version().is_some() => {
                self.merge(table, input, predicate).await
            }
            _ => self.write(table, input).await,
        };
        match result {
            Ok(outcome) => Ok(outcome),
            // The partition check's own record beats whatever deltalake wrapped it in.
            Err(_) if let Some(partition_mismatch) = mismatch.take() => {
                Err(partition_mismatch.into())
            }
            Err(error) if is_conflict(&error) => Err(AttemptError::Conflict(error)),
            Err(error) => Err(FlowError::from(error).into()),
        }
    }

    fn commit_properties(&self) -> CommitProperties {
        commit_properties(self.spec, self.commit)
    }

    /// Every mode but merge into an existing table: one WriteBuilder commit.
    async fn write(
        &self,
        table: DeltaTable,
        input: WriteInput,
    ) -> Result<AttemptOutcome, DeltaTableError> {
        let save_mode = match self.spec.mode {
            WriteMode::ReplacePartition | WriteMode::Overwrite => SaveMode::Overwrite,
            // Merge lands here only when the table does not exist yet: every row is new.
            WriteMode::AppendAtomic | WriteMode::Merge | WriteMode::Append => SaveMode::Append,
        };
        let mut commit_properties = self.commit_properties();
        if table.version().is_none() {
            // Two writers creating one table race for version 0. deltalake (1.1,
            // `PreparedCommit::into_future`) lets the loser of that race retry at the next
            // version against a snapshot that already holds the winner's version 0, so no
            // conflict is checked and the loser commits a second `protocol` + `metaData` and
            // all its rows beside the winner's (every row twice). Without retries the lost
            // race surfaces as `MaxCommitAttempts(0)` instead, a conflict to
            // `Warehouse::write`, which plans the write again against the table the winner
            // created, with the normal conflict checks.
            commit_properties = commit_properties.with_max_retries(0);
        }
        let (state, plan) = input.dataframe.into_parts();
        let session: Arc<dyn Session> = Arc::new(state);
        let mut builder = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(session)
            .with_save_mode(save_mode)
            .with_partition_columns(input.partition_columns)
            .with_table_name(self.spec.table.to_string())
            .with_commit_properties(commit_properties);
        if let Some(predicate) = input.replace_predicate {
            builder = builder.with_replace_where(predicate);
        }
        if self.spec.schema_policy == SchemaPolicy::Evolve {
            builder = builder.with_schema_mode(SchemaMode::Merge);
        }
        let table = builder.await?;
        let version = table.version().unwrap_or_default();
        let metrics = last_write_metrics(&table).await;
        Ok(AttemptOutcome::Committed {
            version,
            rows_written: metrics.num_added_rows as u64,
            files_added: metrics.num_added_files as u64,
            files_removed: metrics.num_removed_files as u64,
        })
    }

    /// Upsert: a source row replaces the target row that `predicate` matches, other source
    /// rows are inserted.
    async fn merge(
        &self,
        table: DeltaTable,
        input: WriteInput,
        predicate: Expr,
    ) -> Result<AttemptOutcome, DeltaTableError> {
        let spec = self.spec;
        let (state, plan) = input.dataframe.into_parts();
        let session: Arc<dyn Session> = Arc::new(state.clone());
        let source = DataFrame::new(state, plan);
        let columns = input.columns;
        let (table, metrics) = table
            .merge(source, predicate)
            .with_source_alias("source")
            .with_target_alias("target")
            .with_session_state(session)
            .with_merge_schema(spec.schema_policy == SchemaPolicy::Evolve)
            .with_commit_properties(self.commit_properties())
            .when_matched_update(|update| {
                columns.iter().fold(update, |update, column| {
                    update.update(Column::new_unqualified(column), qualified("source", column))
                })
            })?
            .when_not_matched_insert(|insert| {
                columns.iter().fold(insert, |insert, column| {
                    insert.set(Column::new_unqualified(column), qualified("source", column))
                })
            })?
            .await?;
        Ok(AttemptOutcome::Committed {
            version: table.version().unwrap_or_default(),
            rows_written: (metrics.num_target_rows_inserted + metrics.num_target_rows_updated)
                as u64,
            files_added: metrics.num_target_files_added as u64,
            files_removed: metrics.num_target_files_removed as u64,
        })
    }
}

/// The commit metadata every write of a task carries, and the `append_atomic` transaction id.
pub(crate) fn commit_properties(spec: &WriteSpec, commit: &CommitInfo) -> CommitProperties {
    let properties = CommitProperties::default().with_metadata([(
        COMMIT_METADATA_KEY.to_owned(),
        commit.commit_metadata(spec.mode),
    )]);
    match spec.mode {
        WriteMode::AppendAtomic => properties.with_application_transaction(Transaction::new(
            commit.transaction_app_id(),
            i64::from(commit.attempt),
        )),
        _ => properties,
    }
}

impl WriteSummary {
    pub(crate) fn from_attempt(
        spec: &WriteSpec,
        outcome: AttemptOutcome,
        commit_attempts: u32,
    ) -> WriteSummary {
        let outcome = match outcome {
            AttemptOutcome::Committed {
                version,
                rows_written,
                files_added,
                files_removed,
            } => WriteOutcome::Committed {
                version,
                rows_written,
                files_added,
                files_removed,
                commit_attempts,
            },
            AttemptOutcome::AlreadyCommitted { attempt } => {
                WriteOutcome::AlreadyCommitted { attempt }
            }
        };
        WriteSummary {
            table: spec.table.clone(),
            mode: spec.mode,
            outcome,
        }
    }
}

/// `target.k = source.k AND …` over the keys and the partition columns. The partition columns
/// join the keys because a write owns only its partition: a key that exists in another
/// partition is a different row.
fn merge_predicate(spec: &WriteSpec, input: &WriteInput) -> Result<Expr, FlowError> {
    let invalid = |reason: String| FlowError::InvalidWriteSpec {
        table: spec.table.to_string(),
        reason,
    };
    if spec.keys.is_empty() {
        return Err(invalid(
            "merge needs `keys`, the columns that identify a row".to_owned(),
        ));
    }
    if let Some(unknown) = spec.keys.iter().find(|key| !input.columns.contains(key)) {
        return Err(invalid(format!(
            "merge key `{unknown}` is not a column of the query"
        )));
    }
    let partition_columns = input
        .partition_columns
        .iter()
        .filter(|column| !spec.keys.contains(column));
    spec.keys
        .iter()
        .chain(partition_columns)
        .map(|column| qualified("target", column).eq(qualified("source", column)))
        .reduce(Expr::and)
        .ok_or_else(|| invalid("merge needs `keys`".to_owned()))
}

fn qualified(relation: &str, column: &str) -> Expr {
    Expr::Column(Column::new(Some(relation), column))
}

/// The write's own metrics, from the commit it just made (the returned table is at that
/// version, so a later concurrent commit cannot be read by mistake).
///
/// Best effort: the rows are committed by now, and reporting the write as failed because the
/// log could not be re-read would make the engine retry a write that succeeded.
async fn last_write_metrics(table: &DeltaTable) -> WriteMetrics {
    let commits: Result<Vec<_>, _> = table.history(Some(1)).try_collect().await;
    match commits {
        Ok(commits) => commits
            .into_iter()
            .next()
            .and_then(|mut commit| commit.info.remove("operationMetrics"))
            .and_then(|metrics| serde_json::from_value(metrics).ok())
            .unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "the write committed but its metrics could not be read");
            WriteMetrics::default()
        }
    }
}

/// Errors that mean "someone else committed first": re-planning against the new version can
/// succeed. A lost race to create the table is `MaxCommitAttempts(0)` (see
/// `TableWrite::write`).
pub(crate) fn is_conflict(error: &DeltaTableError) -> bool {
    matches!(
        error,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_),
            }
    )
}
