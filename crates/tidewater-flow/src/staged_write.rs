//! Output that an engine outside this process wrote for one attempt, committed here.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use url::Url;

use crate::commit_info::CommitInfo;
use crate::flow_error::FlowError;
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

    /// Commits the Parquet files under `staging` (a folder from [`Warehouse::staging_url`])
    /// into `target`, exactly as [`Warehouse::write`] commits a query's rows: one Delta
    /// commit, the same write modes, schema and partition checks, commit metadata and
    /// `append_atomic` transaction id. The staging folder is removed afterwards, committed or
    /// not (a failed commit left the table as it was, and its files are this attempt's only).
    ///
    /// The rows are read back and written by deltalake's writer rather than the staged files
    /// being added to the log as they are: that is what gives the staged output every check
    /// and mode of the embedded path (merge and the partition check need the rows), at the
    /// cost of one more pass over the output on this machine.
    pub async fn commit_staged(
        &self,
        staging: &Url,
        target: &WriteSpec,
        commit: &CommitInfo,
    ) -> Result<WriteSummary, FlowError> {
        let folder = local_folder(staging)?;
        let shown = folder.display().to_string();
        let quoted = shown.trim_end_matches('/').replace('\'', "''");
        let sql = format!("SELECT * FROM read_parquet('{quoted}/')");
        let result = self.write(&sql, target, commit).await;
        remove_folder(&folder)?;
        result
    }

    /// Removes a staging folder and what is in it (nothing if it is not there): before an
    /// attempt writes to it, and after a job that failed.
    pub fn clear_staging(&self, staging: &Url) -> Result<(), FlowError> {
        remove_folder(&local_folder(staging)?)
    }

    /// Removes the staging folders of `table` ([`STAGING_FOLDER`]) whose files are all older
    /// than `retention`: what attempts that failed or were killed before committing left.
    /// Returns the removed files, relative to the table folder.
    pub(crate) fn remove_stale_staging(
        &self,
        table: &TableName,
        retention: Duration,
        dry_run: bool,
    ) -> Result<Vec<String>, FlowError> {
        let table_url = self.table_url(table);
        let Ok(table_folder) = table_url.to_file_path() else {
            // Only local warehouses stage output (see `local_folder`).
            return Ok(Vec::new());
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
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io("listing the staging folder", &staging)(error)),
        };
        let cutoff = SystemTime::now()
            .checked_sub(retention)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = Vec::new();
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
                removed.push(relative.display().to_string());
            }
            if !dry_run {
                remove_folder(&folder)?;
            }
        }
        removed.sort();
        Ok(removed)
    }
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

fn remove_folder(folder: &std::path::Path) -> Result<(), FlowError> {
    match std::fs::remove_dir_all(folder) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FlowError::Io {
            action: "removing the staging folder",
            path: folder.display().to_string(),
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
