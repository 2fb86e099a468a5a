use tidewater_store::StoreError;

use crate::FilesChange;

/// What only a SQLite store fails with: its files on disk, and its backups. Each reaches the
/// rest of Tidewater as a [`StoreError::BackendCondition`] with this message; a caller that
/// must tell them apart finds them with [`StoreError::backend_error`].
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The write-ahead log is not one; SQLite would ignore it and overwrite it with the
    /// next commit.
    #[error(
        "{path} is not a SQLite write-ahead log (damaged, or another file put in its place): the commits in it cannot be read. \
         `tidewater store check` tells what the database file alone holds; restore a backup made with `tidewater store backup`, \
         or move {path} away to keep only what the database file holds"
    )]
    DamagedLog { path: String },
    /// The store's files were deleted or replaced under an open store.
    #[error(
        "the store {path} changed under this process: {change}. What this process writes from now on would be lost, so it stops"
    )]
    FilesChanged { path: String, change: FilesChange },
    #[error("cannot read the store's file {path}")]
    Files {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} exists; give --overwrite to replace it")]
    BackupExists { path: String },
    #[error("{path} is the store itself; give another file")]
    BackupOverStore { path: String },
    #[error("cannot write the backup {path}")]
    Backup {
        path: String,
        source: std::io::Error,
    },
}

impl From<SqliteStoreError> for StoreError {
    fn from(error: SqliteStoreError) -> StoreError {
        StoreError::BackendCondition(Box::new(error))
    }
}
