//! `SqliteStore::backup`: a copy of the store taken with SQLite's online backup API.
//!
//! Copying `tidewater.db` with `cp` while a process writes can copy a torn file, and copying
//! it without its write-ahead log can miss commits. The backup API reads one consistent
//! snapshot through SQLite's locks instead, so it is safe while a server runs.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};
use tidewater_store::StoreError;

use super::connection::Link;
use super::failure::Failure;
use crate::SqliteStoreError;

/// Whether a backup may replace a file that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupTarget {
    /// Refuse if the file exists.
    NewFile,
    /// Replace the file if it exists.
    Overwrite,
}

pub(super) async fn backup(
    link: &Link,
    destination: &Path,
    target: BackupTarget,
) -> Result<(), StoreError> {
    let backup_error = |source: std::io::Error| SqliteStoreError::Backup {
        path: destination.display().to_string(),
        source,
    };
    if is_same_file(destination, link.files().database()) {
        return Err(SqliteStoreError::BackupOverStore {
            path: destination.display().to_string(),
        }
        .into());
    }
    if target == BackupTarget::NewFile && destination.symlink_metadata().is_ok() {
        return Err(SqliteStoreError::BackupExists {
            path: destination.display().to_string(),
        }
        .into());
    }
    if let Some(folder) = destination
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        && !folder.is_dir()
    {
        return Err(backup_error(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("there is no folder {}", folder.display()),
        ))
        .into());
    }
    // Written beside the destination and renamed into place: an interrupted backup never
    // leaves a partial file under the name a user will restore from.
    let partial = partial_path(destination);
    remove_if_present(&partial).map_err(backup_error)?;
    let copied = link
        .call(|source| {
            let mut copy = Connection::open(&partial)?;
            // Every page in one step: the whole copy reads one snapshot. In smaller steps
            // SQLite starts over whenever another process commits in between, which a busy
            // server does every few milliseconds.
            let step = Backup::new(source, &mut copy)?.step(-1)?;
            match step {
                StepResult::Done => {}
                StepResult::Busy | StepResult::Locked => {
                    return Err(Failure::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        None,
                    )));
                }
                other => {
                    return Err(SqliteStoreError::Backup {
                        path: destination.display().to_string(),
                        source: std::io::Error::other(format!(
                            "the copy stopped before its end ({other:?}); this is a bug in tidewater"
                        )),
                    }
                    .into());
                }
            }
            copy.close().map_err(|(_, error)| error)?;
            Ok(())
        })
        .await;
    if let Err(error) = copied {
        let _ = remove_if_present(&partial);
        return Err(error);
    }
    // SQLite synced the copy as it committed it; the rename must reach the disk too.
    std::fs::rename(&partial, destination).map_err(backup_error)?;
    if let Some(folder) = destination
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(backup_error)?;
    }
    Ok(())
}

fn partial_path(destination: &Path) -> PathBuf {
    let mut name = destination
        .file_name()
        .map(|name| name.to_owned())
        .unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    destination.with_file_name(name)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    for file in [path.to_path_buf(), super::store_files::log_path(path)] {
        match std::fs::remove_file(&file) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    Ok(())
}

fn is_same_file(first: &Path, second: &Path) -> bool {
    match (first.canonicalize(), second.canonicalize()) {
        (Ok(first), Ok(second)) => first == second,
        _ => false,
    }
}
