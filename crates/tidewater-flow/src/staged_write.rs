//! Output that an engine outside this process wrote for one attempt, committed here.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::logical_expr::{Expr, cast};
use datafusion::prelude::DataFrame;
use url::Url;

use crate::commit_info::CommitInfo;
use crate::flow_error::FlowError;
use crate::staged_commit::{StagedAttemptError, StagedCommit, move_back};
use crate::staged_file::StagedFile;
use crate::staging_manifest::StagingManifest;
use crate::table_write::AttemptOutcome;
use crate::warehouse::MAX_COMMIT_ATTEMPTS;
use crate::write_input::delta_compatible;
use crate::write_spec::{WriteMode, WriteSpec};
use crate::write_summary::WriteSummary;
use crate::{TableName, Warehouse};

/// The folder inside a table under which each attempt's staged output has its own folder.
/// It starts with `_`, so Delta readers and deltalake's vacuum leave it alone; the staging
/// clean-up of [`Warehouse::vacuum`] removes what failed attempts left.
pub const STAGING_FOLDER: &str = "_staging";

impl Warehouse {
    /// Where an engine outside this process writes the Parquet files of one attempt's output:
    /// `<table>/_staging/<run>-<task>-<attempt>/`. One folder per attempt, so a retry never
    /// commits files an earlier, killed attempt left half-written.
    pub fn staging_url(&self, table: &TableName, commit: &CommitInfo) -> Url {
        let mut url = self.table_url(table);
        url.set_path(&format!(
            "{}{STAGING_FOLDER}/{}-{}-{}/",
            url.path(),
            commit.run_id,
            commit.task,
            commit.attempt
        ));
        url
    }

    /// The attempt that already committed this task instance's `append_atomic` write
    /// (its Delta transaction id, [`CommitInfo::transaction_app_id`]), if one did: a retry
    /// then adds nothing, and need not run its query at all.
    pub async fn committed_attempt(
        &self,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<Option<i64>, FlowError> {
        if target.mode != WriteMode::AppendAtomic {
            return Ok(None);
        }
        let Some(table) = self.open_table(&target.table).await? else {
            return Ok(None);
        };
        let state = table.snapshot()?;
        Ok(state
            .transaction_version(table.log_store().as_ref(), commit.transaction_app_id())
            .await?)
    }

    /// Where this attempt's engine writes its output ([`Warehouse::staging_url`]), empty,
    /// once what earlier attempts of the same task instance left is cleaned up: their staging
    /// folders, and the files a killed attempt moved into the table but never committed
    /// (its `StagingManifest`). Their attempts are over, since a run has one owner, which
    /// starts an attempt only after the previous one ended; so a retry leaves no orphan
    /// files without waiting for `vacuum`.
    pub async fn start_staging(
        &self,
        table: &TableName,
        commit: &CommitInfo,
    ) -> Result<Url, FlowError> {
        // The earlier attempts (numbered from 1), then this one's own folder.
        for attempt in (1..commit.attempt).chain([commit.attempt]) {
            let earlier = CommitInfo {
                attempt,
                ..commit.clone()
            };
            let folder = local_folder(&self.staging_url(table, &earlier))?;
            let orphans = self.resolve_staging_folder(table, &folder, false).await?;
            if !orphans.is_empty() {
                tracing::info!(%table, attempt, ?orphans, "deleted the files an earlier attempt moved into the table but never committed");
            }
        }
        Ok(self.staging_url(table, commit))
    }

    /// Commits the Parquet files under `staging` (a folder from [`Warehouse::start_staging`])
    /// into `target`, as [`Warehouse::write`] commits a query's rows: one Delta commit, the
    /// same write modes, schema and partition checks, commit metadata and `append_atomic`
    /// transaction id. The staging folder is removed afterwards, committed or not (a failed
    /// commit left the table as it was, and its files are this attempt's only).
    ///
    /// The files are committed as they are: their footers give the schema, the row counts,
    /// the statistics of the `add` actions and the proof of the declared partition values,
    /// and a rename moves them into the table's folder, so the output is never read or
    /// written again on this machine. Three cases need the rows and are read back and
    /// written by deltalake's writer instead (one more pass over the output): `merge` into an
    /// existing table (it matches rows against the table's), a write that follows the
    /// table's partitioning without declaring its partition (each row's partition is in the
    /// row), and a write that evolves the table's schema.
    ///
    /// Before the first file moves, the staging folder gets a manifest of where they go
    /// (`StagingManifest`); it is removed once they are committed or moved back. A process
    /// killed in between leaves it, and the next attempt ([`Warehouse::start_staging`]) or
    /// `vacuum` deletes the moved files no version references.
    pub async fn commit_staged(
        &self,
        staging: &Url,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let folder = local_folder(staging)?;
        let result = self.commit_staged_files(&folder, target, commit).await;
        // A manifest still there (a commit that failed, a file that could not be moved back)
        // is resolved against the table as it is now; if that fails too, the next attempt
        // or vacuum resolves it. The write's own error is the one to report.
        let cleaned = self
            .resolve_staging_folder(&target.table, &folder, false)
            .await;
        let summary = result?;
        cleaned?;
        Ok(summary)
    }

    /// For tests of the clean-up: does what [`Warehouse::commit_staged`] does up to its
    /// commit and stops there, leaving what a process killed at that point leaves (the files
    /// moved into the table's folder, the manifest, no commit). Returns how many files moved.
    #[doc(hidden)]
    pub async fn stage_without_commit(
        &self,
        staging: &Url,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<usize, FlowError> {
        let folder = local_folder(staging)?;
        let files = staged_files(&folder)?;
        let table_folder = local_folder(&self.table_url(&target.table))?;
        let staged = StagedCommit {
            table_folder: &table_folder,
            staging_folder: &folder,
            spec: target,
            commit,
            files: &files,
        };
        let table = self.table_handle(&target.table).await?;
        staged.move_without_commit(&table)
    }

    async fn commit_staged_files(
        &self,
        folder: &Path,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let files = staged_files(folder)?;
        let table_folder = local_folder(&self.table_url(&target.table))?;
        let staged = StagedCommit {
            table_folder: &table_folder,
            staging_folder: folder,
            spec: target,
            commit,
            files: &files,
        };
        // Once the moved files are committed or all moved back, the manifest has nothing
        // left to say.
        let settle = |is_accounted_for: bool| {
            if is_accounted_for && let Err(error) = StagingManifest::remove(folder) {
                tracing::warn!(%error, "the staging manifest stays; its files are all accounted for");
            }
        };
        let mut moved = Vec::new();
        let mut attempt = 1;
        loop {
            let table = self.table_handle(&target.table).await?;
            match staged.attempt(&table, &mut moved).await {
                Ok(outcome) => {
                    settle(match outcome {
                        AttemptOutcome::AlreadyCommitted { .. } => move_back(&moved),
                        AttemptOutcome::Committed { .. } => true,
                    });
                    return Ok(WriteSummary::from_attempt(target, outcome, attempt));
                }
                Err(StagedAttemptError::NeedsRewrite { reason }) => {
                    settle(move_back(&moved));
                    tracing::debug!(table = %target.table, reason, "the staged output is written again");
                    return self.rewrite_staged(folder, target, commit).await;
                }
                Err(StagedAttemptError::Rejected(error)) => {
                    settle(move_back(&moved));
                    return Err(error);
                }
                // The commit may have landed: its files must stay where the log says, and
                // the manifest stays for the table to tell.
                Err(StagedAttemptError::Failed(error)) => return Err(error),
                Err(StagedAttemptError::Conflict(source)) if attempt >= MAX_COMMIT_ATTEMPTS => {
                    settle(move_back(&moved));
                    return Err(FlowError::CommitConflict {
                        table: target.table.to_string(),
                        attempts: attempt,
                        source: Box::new(source),
                    });
                }
                Err(StagedAttemptError::Conflict(source)) => {
                    tracing::debug!(table = %target.table, attempt, %source, "commit conflict; committing the staged files again");
                    attempt += 1;
                }
            }
        }
    }

    /// Deletes the files the manifest in `folder` lists that no retained version of `table`
    /// references ([`StagingManifest::orphans`]), then the folder. Returns those files,
    /// relative to the table folder; with `dry_run`, the files it would delete, touching
    /// nothing.
    async fn resolve_staging_folder(
        &self,
        table: &TableName,
        folder: &Path,
        dry_run: bool,
    ) -> Result<Vec<String>, FlowError> {
        let orphans = match StagingManifest::read(folder)? {
            None => Vec::new(),
            Some(manifest) => {
                let table_folder = local_folder(&self.table_url(table))?;
                let handle = self.open_table(table).await?;
                let orphans = manifest.orphans(&table_folder, handle.as_ref()).await?;
                if !dry_run {
                    for orphan in &orphans {
                        let path = table_folder.join(orphan);
                        removed_if_present(
                            std::fs::remove_file(&path),
                            "deleting the uncommitted file",
                            &path,
                        )?;
                    }
                }
                orphans
            }
        };
        if !dry_run {
            remove_folder(folder)?;
        }
        Ok(orphans)
    }

    /// The staged rows read back and written by deltalake's writer, with every check of the
    /// embedded path: for the cases [`Warehouse::commit_staged`] lists.
    async fn rewrite_staged(
        &self,
        folder: &Path,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let shown = folder.display().to_string();
        let quoted = shown.trim_end_matches('/').replace('\'', "''");
        let sql = format!("SELECT * FROM read_parquet('{quoted}/')");
        self.write(&sql, target, commit).await
    }

    /// Removes a staging folder and what is in it (nothing if it is not there), after a job
    /// that failed before [`Warehouse::commit_staged`] moved anything out of it.
    pub fn clear_staging(&self, staging: &Url) -> Result<(), FlowError> {
        remove_folder(&local_folder(staging)?)
    }

    /// Removes the staging folders of `table` ([`STAGING_FOLDER`]) whose files are all older
    /// than `retention`: what attempts that failed or were killed before committing left,
    /// with the files a killed attempt had moved into the table without committing (its
    /// [`StagingManifest`]). A younger folder may belong to an attempt in flight: it is left
    /// alone.
    pub(crate) async fn remove_stale_staging(
        &self,
        table: &TableName,
        retention: Duration,
        dry_run: bool,
    ) -> Result<StaleStaging, FlowError> {
        let table_url = self.table_url(table);
        let Ok(table_folder) = table_url.to_file_path() else {
            // Only local warehouses stage output (see `local_folder`).
            return Ok(StaleStaging::default());
        };
        let staging = table_folder.join(STAGING_FOLDER);
        let io = |action: &'static str, path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| FlowError::Io {
                action,
                path,
                source,
            }
        };
        let entries = match std::fs::read_dir(&staging) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(StaleStaging::default());
            }
            Err(error) => return Err(io("listing the staging folder", &staging)(error)),
        };
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut stale = StaleStaging::default();
        for entry in entries {
            let entry = entry.map_err(io("listing the staging folder", &staging))?;
            let folder = entry.path();
            let mut files = Vec::new();
            collect_files(&folder, &mut files).map_err(io("listing", &folder))?;
            let newest = files
                .iter()
                .filter_map(|(_, modified)| *modified)
                .max()
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if newest > cutoff {
                continue;
            }
            for (path, _) in &files {
                let relative = path.strip_prefix(&table_folder).unwrap_or(path.as_path());
                stale.files.push(relative.display().to_string());
            }
            stale
                .orphans
                .extend(self.resolve_staging_folder(table, &folder, dry_run).await?);
        }
        stale.files.sort();
        stale.orphans.sort();
        Ok(stale)
    }
}

/// What [`Warehouse::remove_stale_staging`] removed, or would remove; paths relative to the
/// table folder.
#[derive(Debug, Default)]
pub(crate) struct StaleStaging {
    /// The files of the stale staging folders.
    pub(crate) files: Vec<String>,
    /// The files killed attempts moved into the table but never committed.
    pub(crate) orphans: Vec<String>,
}

/// The Parquet files an engine staged in `folder`, sorted, read by their footers.
fn staged_files(folder: &Path) -> Result<Vec<StagedFile>, FlowError> {
    let mut paths = Vec::new();
    collect_files(folder, &mut paths).map_err(|source| FlowError::Io {
        action: "listing the staging folder",
        path: folder.display().to_string(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = paths
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "parquet")
        })
        .collect();
    paths.sort();
    paths.iter().map(|path| StagedFile::read(path)).collect()
}

/// `dataframe` with each column cast to the type the table stores it as, for an engine outside
/// this process to write its output in: the staged files are committed as they are, so they
/// must already hold what the embedded writer would have written (e.g. timestamps as
/// microseconds in UTC, DEPS.md pitfall 11). View and dictionary strings stay: Parquet stores
/// them as plain strings anyway.
pub fn staged_output(dataframe: DataFrame) -> Result<DataFrame, FlowError> {
    let mut is_cast = false;
    let projection: Vec<Expr> = dataframe
        .schema()
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
            let stored = delta_compatible(field.data_type());
            let is_same_in_parquet = matches!(
                field.data_type(),
                DataType::Utf8View | DataType::BinaryView | DataType::Dictionary(_, _)
            );
            if stored == *field.data_type() || is_same_in_parquet {
                column
            } else {
                is_cast = true;
                cast(column, stored).alias(field.name())
            }
        })
        .collect();
    if !is_cast {
        return Ok(dataframe);
    }
    Ok(dataframe.select(projection)?)
}

/// Staged output is read back from a local folder: Ballista's executors on this machine (or
/// sharing its file system) write there. An object-store warehouse would stage in the store.
fn local_folder(staging: &Url) -> Result<PathBuf, FlowError> {
    staging
        .to_file_path()
        .map_err(|()| FlowError::InvalidLocation {
            location: staging.to_string(),
            reason: "output of a remote engine is staged in a local warehouse only".to_owned(),
        })
}

fn remove_folder(folder: &Path) -> Result<(), FlowError> {
    removed_if_present(
        std::fs::remove_dir_all(folder),
        "removing the staging folder",
        folder,
    )
}

/// The outcome of removing `path`, where a path already gone is what was wanted: a clean-up
/// interrupted once (a killed process) is simply done again.
pub(crate) fn removed_if_present(
    removed: std::io::Result<()>,
    action: &'static str,
    path: &Path,
) -> Result<(), FlowError> {
    match removed {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FlowError::Io {
            action,
            path: path.display().to_string(),
            source,
        }),
    }
}

fn collect_files(
    path: &std::path::Path,
    files: &mut Vec<(PathBuf, Option<SystemTime>)>,
) -> std::io::Result<()> {
    let metadata = std::fs::symlink_metadata(path)?;
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect_files(&entry?.path(), files)?;
        }
    } else {
        files.push((path.to_path_buf(), metadata.modified().ok()));
    }
    Ok(())
}
