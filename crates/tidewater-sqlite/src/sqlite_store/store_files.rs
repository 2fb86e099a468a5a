//! [`StoreFiles`]: the files of a store on disk (the database and its write-ahead log), and
//! the checks that need them as files rather than through SQLite.
//!
//! SQLite itself forgives what a store must not: a write-ahead log that is not one (garbage, a
//! wrong file copied in) is ignored and then overwritten by the next commit, and a database
//! file deleted or replaced under an open connection goes unnoticed while the connection
//! writes on into the old, unlinked file. Both lose committed runs without a word, so they
//! are checked here.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::SqliteStoreError;

/// The first four bytes of every write-ahead log SQLite writes (big-endian `0x377f0682`
/// or `0x377f0683`, by the byte order of its checksums), see "WAL File Format" in SQLite's
/// file format document. SQLite writes the 32-byte header at offset 0 before any frame, and
/// rewrites it with the same magic when it restarts the log, so a non-empty log whose first
/// bytes differ was never SQLite's (or is damaged) whatever another process is doing.
const WAL_MAGIC: [[u8; 4]; 2] = [[0x37, 0x7f, 0x06, 0x82], [0x37, 0x7f, 0x06, 0x83]];

/// A file's identity: the device and inode it lives in. A file replaced under its name (a
/// copy moved over it) has another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let metadata = std::fs::metadata(path)?;
        Ok(FileIdentity {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }
}

#[derive(Debug)]
pub(super) struct StoreFiles {
    database: PathBuf,
    log: PathBuf,
    /// The database file this process opened.
    database_identity: Option<FileIdentity>,
    /// The log this process first saw. SQLite creates it with the first read and keeps it
    /// while any connection is open (closing connections never delete it here: see
    /// `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` in `connection.rs`), so it never legitimately
    /// changes under an open store.
    log_identity: Mutex<Option<FileIdentity>>,
}

impl StoreFiles {
    pub(super) fn new(database: &Path) -> StoreFiles {
        StoreFiles {
            database: database.to_path_buf(),
            log: log_path(database),
            database_identity: None,
            log_identity: Mutex::new(None),
        }
    }

    pub(super) fn database(&self) -> &Path {
        &self.database
    }

    /// Remembers the identity of the database file just opened, and of its log, which
    /// SQLite made (if it was missing) with the connection's first read.
    pub(super) fn remember(&mut self) -> Result<(), SqliteStoreError> {
        self.database_identity =
            Some(
                FileIdentity::of(&self.database).map_err(|source| SqliteStoreError::Files {
                    path: self.database.display().to_string(),
                    source,
                })?,
            );
        *self
            .log_identity
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = FileIdentity::of(&self.log).ok();
        Ok(())
    }

    /// Fails when the write-ahead log exists, is not empty, and is not a write-ahead log.
    pub(super) fn check_log(&self) -> Result<(), SqliteStoreError> {
        match log_header(&self.log) {
            Ok(LogHeader::Missing | LogHeader::Empty | LogHeader::Valid) => Ok(()),
            Ok(LogHeader::Invalid) => Err(SqliteStoreError::DamagedLog {
                path: self.log.display().to_string(),
            }),
            Err(source) => Err(SqliteStoreError::Files {
                path: self.log.display().to_string(),
                source,
            }),
        }
    }

    /// Fails when the database file was deleted or replaced since it was opened, or its
    /// write-ahead log deleted or replaced since it was first seen: this process's
    /// connection then reads and writes files no other process will ever see.
    pub(super) fn verify(&self) -> Result<(), SqliteStoreError> {
        let changed = |what: FilesChange| SqliteStoreError::FilesChanged {
            path: self.database.display().to_string(),
            change: what,
        };
        match FileIdentity::of(&self.database) {
            Ok(identity) if Some(identity) == self.database_identity => {}
            Ok(_) => return Err(changed(FilesChange::DatabaseReplaced)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(changed(FilesChange::DatabaseDeleted));
            }
            Err(source) => {
                return Err(SqliteStoreError::Files {
                    path: self.database.display().to_string(),
                    source,
                });
            }
        }
        let mut known = self
            .log_identity
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match (FileIdentity::of(&self.log), *known) {
            (Ok(identity), None) => *known = Some(identity),
            (Ok(identity), Some(first)) if identity == first => {}
            (Ok(_), Some(_)) => return Err(changed(FilesChange::LogReplaced)),
            (Err(error), Some(_)) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(changed(FilesChange::LogDeleted));
            }
            // Not seen yet (none at open): SQLite makes it with the next read.
            (Err(error), None) if error.kind() == std::io::ErrorKind::NotFound => {}
            (Err(source), _) => {
                return Err(SqliteStoreError::Files {
                    path: self.log.display().to_string(),
                    source,
                });
            }
        }
        Ok(())
    }
}

/// What happened to a store's files under an open store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilesChange {
    DatabaseDeleted,
    DatabaseReplaced,
    LogDeleted,
    LogReplaced,
}

impl std::fmt::Display for FilesChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilesChange::DatabaseDeleted => "the database file was deleted",
            FilesChange::DatabaseReplaced => "the database file was replaced by another file",
            FilesChange::LogDeleted => "its write-ahead log (-wal) was deleted",
            FilesChange::LogReplaced => "its write-ahead log (-wal) was replaced by another file",
        })
    }
}

/// What the first bytes of a write-ahead log say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LogHeader {
    Missing,
    Empty,
    Valid,
    Invalid,
}

pub(super) fn log_header(log: &Path) -> std::io::Result<LogHeader> {
    let mut file = match std::fs::File::open(log) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LogHeader::Missing);
        }
        Err(error) => return Err(error),
    };
    let mut magic = [0_u8; 4];
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..])? {
            0 => break,
            count => read += count,
        }
    }
    Ok(match read {
        0 => LogHeader::Empty,
        4 if WAL_MAGIC.contains(&magic) => LogHeader::Valid,
        _ => LogHeader::Invalid,
    })
}

/// SQLite's name for a database's write-ahead log.
pub(super) fn log_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}
