//! [`Link`]: the store's one SQLite connection, and how it waits for other processes.
//!
//! Statements run on the calling thread. SQLite's own busy handler would wait for another
//! process's lock by sleeping that thread, and with it every task of the runtime (the
//! server's scheduler, the pipes of running tasks). So the connection's busy timeout is zero:
//! a statement that finds the file locked fails at once with `SQLITE_BUSY`, its transaction
//! is rolled back, and [`Link`] sleeps asynchronously and runs the whole transaction again,
//! until [`BUSY_TIMEOUT`] has passed.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::StoreError;

/// How long a transaction waits for another process's write transaction before failing with
/// "database is locked". Write transactions here last milliseconds; ten seconds absorbs a
/// burst of them from several processes without hiding a process that is truly stuck.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The first pause after finding the file locked; each next one doubles, up to
/// [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_micros(500);
const LONGEST_PAUSE: Duration = Duration::from_millis(20);

/// Statements kept prepared: every statement of the store is static text, and preparing the
/// `apply` statement (its trigger program included) costs more than running it.
const PREPARED_STATEMENTS: usize = 64;

/// The page size of a new store file.
const PAGE_BYTES: u32 = 1024;

/// The log is checkpointed into the file by the commit that grows it past this many pages
/// (2 MiB of 1 KiB pages). A checkpoint costs two fsyncs, some milliseconds on a slow disk;
/// a longer log costs each command that opens the file about 1.5 µs per page to read back.
const CHECKPOINT_PAGES: u32 = 2048;

pub(super) struct Link {
    connection: Mutex<Connection>,
}

impl Link {
    /// Opens (or creates) the file in WAL mode. Switching a new file to WAL needs an
    /// exclusive lock, so two processes opening a fresh project together wait for each other
    /// here.
    pub(super) async fn open(path: &Path) -> Result<Link, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::OpenFolder {
                path: parent.display().to_string(),
                source: error,
            })?;
        }
        let connection = retry_busy(|| connect(path).map_err(StoreError::Query))
            .await
            .map_err(|error| match error {
                StoreError::Query(source) => open_error(source),
                other => other,
            })?;
        Ok(Link {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `work` on the connection outside any transaction: reads (with WAL they see the
    /// last commit and never wait for a writer), or a single statement that writes, which is
    /// a transaction of its own and takes the write lock as it starts.
    pub(super) async fn call<T>(
        &self,
        mut work: impl FnMut(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        retry_busy(|| work(&self.lock())).await
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`) and commits it; nothing of it
    /// stays when `work` fails. `work` may run more than once: whenever the file was locked.
    pub(super) async fn write<T>(
        &self,
        mut work: impl FnMut(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        retry_busy(|| {
            let mut connection = self.lock();
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = work(&transaction)?;
            transaction.commit()?;
            Ok(result)
        })
        .await
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the connection was held (a bug) left no transaction open: the
        // `Transaction` guard rolls it back as it is dropped.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::ZERO)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    // A new file gets 1 KiB pages (a file that exists keeps its own; SQLite fixes the size
    // when the first page is written). The store's rows are small, and every command that
    // opens the file reads back and checksums its whole write-ahead log: with a quarter of
    // the bytes per page, the log of the same commits is a quarter of the size.
    connection.pragma_update(None, "page_size", PAGE_BYTES)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some(format!("the file stays in journal mode {mode}")),
        ));
    }
    // With WAL, NORMAL syncs the log only at checkpoints, not at every commit. A commit
    // survives the process being killed (our crash model: the OS still writes it out), but
    // an OS crash or power loss may undo the last commits (never corrupt the file). The
    // engine then redoes that work, which idempotent tasks make safe. FULL would cost an
    // fsync per `apply`, the engine's hot path.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Closing the last connection would checkpoint the log into the file: two fsyncs, some
    // milliseconds each, at the end of every command, for work that is already safe in the
    // log. The log is checkpointed instead by the commit that grows it past
    // `CHECKPOINT_PAGES` (SQLite's automatic checkpoint), and read back by the next command
    // that opens the file.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    connection.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
    Ok(connection)
}

/// Runs `attempt` until it does not fail with `SQLITE_BUSY`, pausing asynchronously between
/// tries, for at most [`BUSY_TIMEOUT`].
async fn retry_busy<T>(
    mut attempt: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt() {
            Err(StoreError::Query(error))
                if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            result => return result,
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

pub(super) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error(),
        Some(rusqlite::ffi::Error { extended_code, .. })
            if *extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || *extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
