use std::collections::HashSet;
use std::io::Write;
use std::path::{Component, Path};

use deltalake::DeltaTable;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::flow_error::FlowError;
use crate::staged_write::removed_if_present;

/// The manifest's name inside an attempt's staging folder. It is not a `.parquet` file, so
/// neither the commit nor a rewrite of the staged output reads it as data.
const MANIFEST_FILE: &str = "moves.json";

/// Where one attempt moves its staged files in the table's folder, written in its staging
/// folder before the first file moves and removed once they are accounted for (committed, or
/// moved back).
///
/// A process killed between the moves and the commit leaves files in the table's folder that
/// no version references: Delta readers never see them, but only a full vacuum with the
/// table's own retention (7 days) would find them. A manifest still there says which files
/// those may be, so that the next attempt of the task, or `vacuum`, deletes exactly them
/// ([`StagingManifest::orphans`]) and never a file some retained version needs.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StagingManifest {
    /// Relative to the table's folder, exactly as the `add` actions' `path`s (the moved
    /// files' names need no escaping, see `StagedCommit::move_into_table`).
    pub(crate) table_paths: Vec<String>,
}

impl StagingManifest {
    /// Writes the manifest atomically (a temporary file, synced, then renamed): a manifest
    /// is either whole or absent, and the moves start only after it is on disk.
    pub(crate) fn write(&self, staging_folder: &Path) -> Result<(), FlowError> {
        let path = staging_folder.join(MANIFEST_FILE);
        let temporary = staging_folder.join(format!("{MANIFEST_FILE}.tmp"));
        let io = |action: &'static str, path: &Path| {
            let path = path.display().to_string();
            move |source| FlowError::Io {
                action,
                path,
                source,
            }
        };
        let text = serde_json::to_vec(self).map_err(|error| FlowError::InvalidStagingManifest {
            path: path.display().to_string(),
            reason: error.to_string(),
        })?;
        let mut file = std::fs::File::create(&temporary)
            .map_err(io("creating the staging manifest", &temporary))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(io("writing the staging manifest", &temporary))?;
        std::fs::rename(&temporary, &path).map_err(io("renaming the staging manifest", &path))
    }

    /// The manifest an attempt left in `staging_folder`, if any.
    pub(crate) fn read(staging_folder: &Path) -> Result<Option<StagingManifest>, FlowError> {
        let path = staging_folder.join(MANIFEST_FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(FlowError::Io {
                    action: "reading the staging manifest",
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let invalid = |reason: String| FlowError::InvalidStagingManifest {
            path: path.display().to_string(),
            reason,
        };
        let manifest: StagingManifest =
            serde_json::from_slice(&text).map_err(|error| invalid(error.to_string()))?;
        // Its paths are deleted: one that leaves the table's folder is never followed.
        if let Some(outside) = manifest
            .table_paths
            .iter()
            .find(|table_path| !is_inside_table(table_path))
        {
            return Err(invalid(format!(
                "`{outside}` is not a path inside the table's folder"
            )));
        }
        Ok(Some(manifest))
    }

    /// Removes the manifest once its files are accounted for (nothing if it is not there).
    pub(crate) fn remove(staging_folder: &Path) -> Result<(), FlowError> {
        let path = staging_folder.join(MANIFEST_FILE);
        removed_if_present(
            std::fs::remove_file(&path),
            "removing the staging manifest",
            &path,
        )
    }

    /// The listed files that exist in `table_folder` and that no retained version of
    /// `table` references: not in its current snapshot and not named by a tombstone (a
    /// `remove` still kept for time travel). Those were never committed; every other listed
    /// file was, and stays until vacuum deletes it with the table's own rules. `table` is
    /// `None` when the table does not exist (the killed attempt was creating it).
    pub(crate) async fn orphans(
        &self,
        table_folder: &Path,
        table: Option<&DeltaTable>,
    ) -> Result<Vec<String>, FlowError> {
        let referenced = match table {
            Some(table) => referenced_files(table).await?,
            None => HashSet::new(),
        };
        let mut orphans: Vec<String> = self
            .table_paths
            .iter()
            .filter(|table_path| !referenced.contains(table_path.as_str()))
            .filter(|table_path| std::fs::symlink_metadata(table_folder.join(table_path)).is_ok())
            .cloned()
            .collect();
        orphans.sort();
        Ok(orphans)
    }
}

/// Every file path a retained version of `table` references: its active files and its
/// tombstones.
async fn referenced_files(table: &DeltaTable) -> Result<HashSet<String>, FlowError> {
    let mut referenced = HashSet::new();
    let mut active = table.get_active_add_actions_by_partitions(&[]);
    while let Some(file) = active.try_next().await? {
        referenced.insert(file.path().into_owned());
    }
    let mut tombstones = table.snapshot()?.all_tombstones(table.log_store().as_ref());
    while let Some(tombstone) = tombstones.try_next().await? {
        referenced.insert(tombstone.path().into_owned());
    }
    Ok(referenced)
}

fn is_inside_table(table_path: &str) -> bool {
    let path = Path::new(table_path);
    path.components().next().is_some()
        && path
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}
