use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::TryStreamExt;

use tidewater_core::ServingView;

use crate::TableName;
use crate::commit_info::CommitInfo;
use crate::compaction_stop::StoppingStore;
use crate::flow_error::FlowError;
use crate::live_views::LiveViews;
use crate::maintenance_summary::{CompactSummary, VacuumSummary};
use crate::planned_query::{NamedBatch, PlannedQuery};
use crate::serving_view::{self, PruneSummary, ViewPartitions};
use crate::table_description::TableDescription;
use crate::table_write::{AttemptError, TableWrite};
use crate::warehouse_location::WarehouseLocation;
use crate::write_spec::WriteSpec;
use crate::write_summary::WriteSummary;

/// How many times a write is planned and committed before concurrent writers win.
///
/// deltalake already retries a commit internally when the conflict checker finds the winning
/// commits compatible (e.g. `replace_partition` of disjoint partitions). Attempts here cover
/// what it cannot retry: two writers creating the same table, or a real conflict after which
/// the query must be re-planned against the new version. Each attempt re-runs the query.
pub(crate) const MAX_COMMIT_ATTEMPTS: u32 = 5;

/// The shortest vacuum retention callers should accept without an explicit override: Delta's
/// default `delta.deletedFileRetentionDuration`, below which Delta's own tools refuse, because
/// a reader or writer still working on an older version can lose its files.
/// [`Warehouse::vacuum`] itself does what it is told; the `maintain` task kind
/// (tidewater-spec) checks the same minimum.
pub const MIN_VACUUM_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The project's warehouse: Delta tables addressed as `schema.table`, stored under
/// `<location>/<schema>/<table>`.
#[derive(Debug, Clone)]
pub struct Warehouse {
    location: WarehouseLocation,
    project_root: PathBuf,
    /// The serving views queries can read as `serving.<name>` (`views/*.yaml`).
    views: LiveViews,
}

impl Warehouse {
    /// `location` is a local folder (relative to `project_root` unless absolute) or an
    /// object-store URL (`file://`, `s3://`, `gs://`, `az://`, ...). A missing local folder is
    /// created. Cloud URLs need the matching cargo feature of this crate (`s3`, `gcs`,
    /// `azure`) and the usual credentials in the environment.
    pub fn new(location: &str, project_root: &Path) -> Result<Warehouse, FlowError> {
        let project_root = project_root
            .canonicalize()
            .map_err(|source| FlowError::Io {
                action: "resolving the project folder",
                path: project_root.display().to_string(),
                source,
            })?;
        Ok(Warehouse {
            location: WarehouseLocation::new(location, &project_root)?,
            project_root,
            views: LiveViews::default(),
        })
    }

    /// The same warehouse, whose queries can also read these serving views as
    /// `serving.<name>`.
    pub fn with_views(mut self, views: Vec<ServingView>) -> Warehouse {
        self.views = LiveViews::new(views);
        self
    }

    /// The same warehouse, whose queries read the serving views `views` holds when they
    /// start (a server replaces them as the view files change).
    pub fn with_live_views(mut self, views: LiveViews) -> Warehouse {
        self.views = views;
        self
    }

    /// The serving views now, in the order given.
    pub fn views(&self) -> Arc<[ServingView]> {
        self.views.current()
    }

    /// The serving view called `name` (`serving.<name>`).
    pub fn view(&self, name: &TableName) -> Option<ServingView> {
        self.views
            .current()
            .iter()
            .find(|view| view.name == *name)
            .cloned()
    }

    /// The partitions of a view's batch and stream tables, from one snapshot of each.
    pub async fn view_partitions(&self, view: &ServingView) -> Result<ViewPartitions, FlowError> {
        serving_view::view_partitions(&self.location, view).await
    }

    /// Deletes the stream partitions of `view` that the batch table covers and that ended
    /// more than the view's `retention` before `now` (one commit; nothing without a
    /// retention). What the view returns is unchanged.
    pub async fn prune_stream(
        &self,
        view: &ServingView,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<PruneSummary, FlowError> {
        serving_view::prune_stream(&self.location, view, now).await
    }

    /// The warehouse root as a URL, e.g. `file:///home/me/project/warehouse/`.
    pub fn location(&self) -> &str {
        self.location.root().as_str()
    }

    /// Runs one SELECT/WITH query. Every table is queryable as `schema.table`; files are read
    /// with `read_csv('glob')`, `read_parquet('glob')` and `read_json('glob')`, paths relative
    /// to the project root.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, FlowError> {
        let planned = self.plan(sql, None).await?;
        Ok(planned.dataframe.collect().await?)
    }

    /// Plans `sql` over the warehouse's tables (each at its newest version) and views, and
    /// over `batch` by its bare name when given (a stream's `messages`).
    pub(crate) async fn plan(
        &self,
        sql: &str,
        batch: Option<NamedBatch<'_>>,
    ) -> Result<PlannedQuery, FlowError> {
        PlannedQuery::plan_with_batch(
            &self.location,
            &self.project_root,
            sql,
            &self.views.current(),
            batch,
        )
        .await
    }

    /// The warehouse tables `sql` reads, sorted, from its text alone (nothing is opened). A
    /// serving view stands for the two tables it reads.
    pub fn tables_read(&self, sql: &str) -> Result<Vec<TableName>, FlowError> {
        let mut tables = Vec::new();
        for table in PlannedQuery::tables_read(sql)? {
            match self.view(&table) {
                Some(view) => tables.extend([view.batch, view.stream]),
                None => tables.push(table),
            }
        }
        tables.sort();
        tables.dedup();
        Ok(tables)
    }

    /// Where `table` lives, e.g. `file:///home/me/project/warehouse/raw/orders/`.
    pub fn table_url(&self, table: &TableName) -> url::Url {
        self.location.table_url(table)
    }

    /// Runs `sql` and writes its rows into `target` in one Delta commit, as `target.mode`
    /// says. A failed write leaves the table as it was.
    pub async fn write(
        &self,
        sql: &str,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let views = self.views.current();
        let write = TableWrite {
            location: &self.location,
            project_root: &self.project_root,
            sql,
            spec: target,
            commit,
            views: &views,
        };
        let mut attempt = 1;
        loop {
            match write.attempt().await {
                Ok(outcome) => return Ok(WriteSummary::from_attempt(target, outcome, attempt)),
                Err(AttemptError::Failed(error)) => return Err(error),
                Err(AttemptError::Conflict(source)) if attempt >= MAX_COMMIT_ATTEMPTS => {
                    return Err(FlowError::CommitConflict {
                        table: target.table.to_string(),
                        attempts: attempt,
                        source: Box::new(source),
                    });
                }
                Err(AttemptError::Conflict(source)) => {
                    tracing::debug!(table = %target.table, attempt, %source, "commit conflict; planning the write again");
                    attempt += 1;
                }
            }
        }
    }

    /// Every table of the warehouse, sorted.
    pub async fn tables(&self) -> Result<Vec<TableName>, FlowError> {
        self.location.tables().await
    }

    /// Columns, current version, partitions with row counts, and which run and task last wrote
    /// each partition.
    pub async fn describe(&self, table: &TableName) -> Result<TableDescription, FlowError> {
        let handle = self.open_existing(table).await?;
        TableDescription::read(table, &handle).await
    }

    /// The `values` of `column` that have no rows in `table`, in the order given: the
    /// intervals a backfill still has to run. `column` is usually a partition column, which is
    /// answered from the Delta log alone; any other column is answered with a query.
    pub async fn missing_partitions(
        &self,
        table: &TableName,
        column: &str,
        values: &[String],
    ) -> Result<Vec<String>, FlowError> {
        let handle = self.open_existing(table).await?;
        let state = handle.snapshot()?;
        let schema = state.schema();
        if schema.field(column).is_none() {
            return Err(FlowError::UnknownColumn {
                table: table.to_string(),
                column: column.to_owned(),
                known: schema.fields().map(|field| field.name().clone()).collect(),
            });
        }
        let present: HashSet<String> = if state
            .metadata()
            .partition_columns()
            .iter()
            .any(|partition_column| partition_column == column)
        {
            let mut present = HashSet::new();
            let mut files = handle.get_active_add_actions_by_partitions(&[]);
            while let Some(file) = files.try_next().await? {
                if file.num_records() == Some(0) {
                    continue;
                }
                if let Some(Some(value)) = file.partition_values_map().remove(column) {
                    present.insert(value);
                }
            }
            present
        } else {
            let quoted_column = format!("\"{}\"", column.replace('"', "\"\""));
            let sql = format!(
                "SELECT DISTINCT CAST({quoted_column} AS VARCHAR) FROM {table} WHERE {quoted_column} IS NOT NULL"
            );
            let mut present = HashSet::new();
            for batch in self.query(&sql).await? {
                let values = batch.column(0);
                for row in 0..batch.num_rows() {
                    present.insert(
                        array_value_to_string(values, row)
                            .map_err(|error| FlowError::DataFusion(Box::new(error.into())))?,
                    );
                }
            }
            present
        };
        Ok(values
            .iter()
            .filter(|value| !present.contains(*value))
            .cloned()
            .collect())
    }

    /// Rewrites small files into larger ones (deltalake `optimize`), one commit that changes
    /// no data, so readers and `describe` see the same rows and writers.
    pub async fn compact(&self, table: &TableName) -> Result<CompactSummary, FlowError> {
        let handle = self.open_existing(table).await?;
        compact_table(handle).await
    }

    /// For crash tests only: [`Warehouse::compact`], except that once the compaction has
    /// written its new Parquet files and is about to write its Delta commit, it tells
    /// `reached` and never finishes (the test kills the process there). With nothing to
    /// compact there is no commit, so it returns as `compact` does.
    pub async fn compact_stopping_before_commit(
        &self,
        table: &TableName,
        reached: tokio::sync::oneshot::Sender<()>,
    ) -> Result<CompactSummary, FlowError> {
        let handle = self.open_existing(table).await?;
        let store = StoppingStore::new(handle.log_store().root_object_store(None), reached);
        let url = self.table_url(table);
        let handle = DeltaTableBuilder::from_url(url.clone())?
            .with_storage_backend(Arc::new(store), url)
            .load()
            .await?;
        compact_table(handle).await
    }

    /// Deletes files no version newer than `retention` needs (deltalake `vacuum`).
    ///
    /// `retention` is the caller's decision: one shorter than the table's
    /// `delta.deletedFileRetentionDuration` (7 days by default) is allowed, and then only
    /// files the log removed are deleted ("lite" vacuum). With at least the table's retention,
    /// files no commit references are deleted too ("full"), e.g. those a failed write left;
    /// that is not done with a short retention because an in-flight write's files are
    /// unreferenced until it commits. Staging folders older than `retention` are removed
    /// whatever it is, and with them the files their attempt moved into the table but never
    /// committed ([`VacuumSummary::staged_orphans`]): their manifest names exactly those, so
    /// the table's retention need not protect an in-flight write from them.
    pub async fn vacuum(
        &self,
        table: &TableName,
        retention: Duration,
        dry_run: bool,
    ) -> Result<VacuumSummary, FlowError> {
        let handle = self.open_existing(table).await?;
        let table_retention = handle
            .snapshot()?
            .table_config()
            .deleted_file_retention_duration();
        let is_shorter_than_table_retention = retention < table_retention;
        let staging_retention = retention;
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let (_, metrics) = handle
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(!is_shorter_than_table_retention)
            .with_mode(if is_shorter_than_table_retention {
                VacuumMode::Lite
            } else {
                VacuumMode::Full
            })
            .with_dry_run(dry_run)
            .with_commit_properties(maintenance_commit_properties("vacuum"))
            .await?;
        let mut files = metrics.files_deleted;
        // deltalake's vacuum skips folders starting with `_`, so the output that remote
        // engines staged for attempts that never committed is removed here, with the files
        // such an attempt had already moved into the table.
        let stale = self
            .remove_stale_staging(table, staging_retention, dry_run)
            .await?;
        files.extend(stale.files);
        // A full vacuum may have listed an old orphan already.
        files.extend(stale.orphans.iter().cloned());
        files.sort();
        files.dedup();
        Ok(VacuumSummary {
            is_dry_run: metrics.dry_run,
            files,
            staged_orphans: stale.orphans,
        })
    }

    /// The table at its newest version, or `None` when it does not exist yet.
    pub(crate) async fn open_table(
        &self,
        table: &TableName,
    ) -> Result<Option<DeltaTable>, FlowError> {
        self.location.open(table).await
    }

    /// A handle that may point at a table not created yet (the first write creates it).
    pub(crate) async fn table_handle(&self, table: &TableName) -> Result<DeltaTable, FlowError> {
        self.location.handle(table).await
    }

    pub(crate) async fn open_existing(&self, table: &TableName) -> Result<DeltaTable, FlowError> {
        match self.location.open(table).await? {
            Some(handle) => Ok(handle),
            None => Err(FlowError::UnknownTable {
                name: table.to_string(),
                known: self
                    .tables()
                    .await?
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            }),
        }
    }
}

/// Maintenance commits say what made them; they carry no run, so `describe` never mistakes
/// them for a task's write (they change no data anyway).
fn maintenance_commit_properties(operation: &str) -> CommitProperties {
    CommitProperties::default().with_metadata([(
        "tidewater_maintenance".to_owned(),
        serde_json::Value::from(operation),
    )])
}

/// deltalake's `optimize` on an opened table: one commit, or none when nothing is small.
async fn compact_table(handle: DeltaTable) -> Result<CompactSummary, FlowError> {
    let version_before = handle.version();
    let (handle, metrics) = handle
        .optimize()
        .with_commit_properties(maintenance_commit_properties("compact"))
        .await?;
    let version = handle
        .version()
        .filter(|after| Some(*after) != version_before);
    Ok(CompactSummary {
        version,
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
        partitions_compacted: metrics.partitions_optimized,
    })
}
