//! [`StoreReport`]: what `tidewater store check` finds in a store's files, read without
//! changing them.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tidewater_core::RunId;

use super::migrations;
use super::store_files::{LogHeader, log_header, log_path};

/// How many problems `integrity_check` lists at most: the first few say what is wrong.
const INTEGRITY_PROBLEMS: u32 = 10;

/// How long the inspection waits for a lock (SQLite's own busy handler: this connection is
/// alone on its thread, in a command that does nothing else).
const INSPECTION_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct StoreReport {
    /// The database file's size; `None` when there is no file.
    pub database_bytes: Option<u64>,
    /// The write-ahead log's size; `None` when there is none.
    pub log_bytes: Option<u64>,
    /// The schema version (`user_version`), when the file could be read.
    pub schema_version: Option<i64>,
    pub latest_schema_version: i64,
    /// What the store holds, when its tables could be read.
    pub contents: Option<StoreContents>,
    /// Everything found wrong, in the order found; empty for a good store.
    pub problems: Vec<StoreProblem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreContents {
    pub runs: u64,
    pub task_instances: u64,
    pub attempts: u64,
    /// The highest run id ever given (runs are never deleted, but a run id is never reused
    /// even if one were); `None` when no run was ever created.
    pub highest_run_id: Option<RunId>,
}

/// Something wrong with a store's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreProblem {
    /// A database file of 0 bytes: SQLite would take it for a new, empty store.
    EmptyDatabase,
    /// The write-ahead log is not one: the commits it held cannot be read.
    DamagedLog,
    /// SQLite cannot read the file at all.
    Unreadable(String),
    /// `PRAGMA integrity_check` found damage.
    Damaged(Vec<String>),
    /// The file has no Tidewater tables.
    NoSchema,
    /// Written by a newer Tidewater.
    NewerSchema { version: i64 },
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreProblem::EmptyDatabase => f.write_str(
                "the database file is empty (0 bytes): whatever it held is gone, and SQLite would take it for a new store",
            ),
            StoreProblem::DamagedLog => f.write_str(
                "the write-ahead log (-wal) is not a SQLite write-ahead log: the commits in it cannot be read",
            ),
            StoreProblem::Unreadable(reason) => {
                write!(f, "SQLite cannot read the database: {reason}")
            }
            StoreProblem::Damaged(findings) => write!(
                f,
                "the database is damaged (SQLite's integrity check): {}",
                findings.join("; ")
            ),
            StoreProblem::NoSchema => f.write_str("the database has no Tidewater tables"),
            StoreProblem::NewerSchema { version } => write!(
                f,
                "the store has schema version {version}, newer than this tidewater knows ({}): it was written by a newer tidewater",
                migrations::LATEST
            ),
        }
    }
}

impl StoreReport {
    pub fn is_healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// Reads the store at `path` without changing its files: no schema migration, no
    /// checkpoint, and a damaged write-ahead log is reported before SQLite sees it.
    pub fn inspect(path: &Path) -> StoreReport {
        let mut report = StoreReport {
            database_bytes: file_size(path),
            log_bytes: file_size(&log_path(path)),
            schema_version: None,
            latest_schema_version: migrations::LATEST,
            contents: None,
            problems: Vec::new(),
        };
        match report.database_bytes {
            None => return report,
            Some(0) => {
                report.problems.push(StoreProblem::EmptyDatabase);
                return report;
            }
            Some(_) => {}
        }
        match log_header(&log_path(path)) {
            Ok(LogHeader::Invalid) => report.problems.push(StoreProblem::DamagedLog),
            Ok(_) => {}
            Err(error) => report
                .problems
                .push(StoreProblem::Unreadable(format!("its -wal file: {error}"))),
        }
        if let Err(error) = report.read_database(path) {
            report
                .problems
                .push(StoreProblem::Unreadable(error.to_string()));
        }
        report
    }

    fn read_database(&mut self, path: &Path) -> rusqlite::Result<()> {
        let had_log = log_path(path).exists();
        // Read-write without create: SQLite needs to write the shared-memory index of a
        // database in WAL mode even to read it. Nothing here writes the database.
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(INSPECTION_BUSY_TIMEOUT)?;
        // A log that was there (another process's, or a damaged one) must stay as it is:
        // closing must not checkpoint or delete it. One that reading made (a backup file,
        // a store no process uses) is removed by closing, with the shared-memory file.
        if had_log {
            connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        }
        let findings = connection
            .prepare(&format!("PRAGMA integrity_check({INTEGRITY_PROBLEMS})"))?
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if findings != ["ok"] {
            self.problems.push(StoreProblem::Damaged(findings));
            return Ok(());
        }
        let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        self.schema_version = Some(version);
        if version > migrations::LATEST {
            self.problems.push(StoreProblem::NewerSchema { version });
        }
        let has_runs: Option<i64> = connection
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'runs'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if has_runs.is_none() {
            self.problems.push(StoreProblem::NoSchema);
            return Ok(());
        }
        let count = |table: &str| -> rusqlite::Result<u64> {
            let count: i64 =
                connection.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })?;
            Ok(count.unsigned_abs())
        };
        self.contents = Some(StoreContents {
            runs: count("runs")?,
            task_instances: count("task_instances")?,
            attempts: count("attempts")?,
            highest_run_id: super::highest_run_id(&connection)?,
        });
        Ok(())
    }
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|metadata| metadata.len())
}
