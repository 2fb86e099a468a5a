//! [`Link`]: the store's one SQLite connection, and how it waits for other processes.
//!
//! Statements run on the calling thread. SQLite's own busy handler would wait for another
//! process's lock by sleeping that thread, and with it every task of the runtime (the
//! server's scheduler, the pipes of running tasks). So the connection's busy timeout is zero:
//! a statement that finds the file locked fails at once with `SQLITE_BUSY`, its transaction
//! is rolled back, and [`Link`] sleeps asynchronously and runs the whole transaction again,
//! until [`BUSY_TIMEOUT`] has passed.
//!
//! Commits go to the write-ahead log (`-wal`), and [`Link`] folds the log into the database
//! file (a checkpoint) when it closes after writing, and every [`CHECKPOINT_AGE`] while it
//! writes: a user who copies `tidewater.db` alone, or deletes the log, must not lose runs.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use tidewater_store::StoreError;

use super::failure::Failure;
use super::store_files::StoreFiles;

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

/// SQLite's own automatic checkpoint, by the commit that grows the log past this many pages
/// (2 MiB of 1 KiB pages): a bound on the log of a process that writes a lot in less than
/// [`CHECKPOINT_AGE`]. A checkpoint costs two fsyncs, some milliseconds on a slow disk; a
/// longer log costs each command that opens the file about 1.5 µs per page to read back.
const CHECKPOINT_PAGES: u32 = 2048;

/// A process that keeps writing (a server, a long run or backfill) checkpoints with the first
/// commit this long after its last checkpoint, so the database file is never much older than
/// the log. Two seconds is the server's polling period: at most one checkpoint (two fsyncs)
/// per two seconds, under 1 % of a core's time even on a slow disk.
const CHECKPOINT_AGE: Duration = Duration::from_secs(2);

/// How long a checkpoint waits for readers in other processes to leave the log's older
/// frames: a read here lasts milliseconds. Past it the checkpoint copies what it can and the
/// rest stays safe in the log, for the next checkpoint.
const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(1);

pub(super) struct Link {
    connection: Mutex<Connection>,
    files: StoreFiles,
    /// Whether this connection committed a write transaction since its last checkpoint.
    has_written: AtomicBool,
    /// The connection's `total_changes` at its last checkpoint: single statements that
    /// write ([`Link::call`]) count there.
    changes_at_checkpoint: AtomicU64,
    last_checkpoint: Mutex<Instant>,
    /// Set once the store's files were found deleted or replaced: from then on nothing is
    /// checkpointed, so that this connection's frames never land in a file other processes
    /// now use with another log.
    is_detached: AtomicBool,
}

impl Link {
    /// Opens (or creates) the file in WAL mode. Switching a new file to WAL needs an
    /// exclusive lock, so two processes opening a fresh project together wait for each other
    /// here.
    pub(super) async fn open(path: &Path) -> Result<Link, StoreError> {
        let open_error = |source: tidewater_store::BackendError| StoreError::Open {
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
        let files = StoreFiles::new(path);
        // Before SQLite reads the log: it would take a damaged one for an empty one, and the
        // next commit would overwrite it.
        files.check_log()?;
        let connection = retry_busy(|| connect(path).map_err(Failure::Sqlite))
            .await
            .map_err(|failure| match failure {
                Failure::Sqlite(source) => open_error(Box::new(source)),
                Failure::Store(error) => error,
            })?;
        let changes = connection.total_changes();
        Ok(Link {
            connection: Mutex::new(connection),
            files,
            has_written: AtomicBool::new(false),
            changes_at_checkpoint: AtomicU64::new(changes),
            last_checkpoint: Mutex::new(Instant::now()),
            is_detached: AtomicBool::new(false),
        })
    }

    /// Remembers which files the store is, once its first reads have made SQLite create the
    /// write-ahead log.
    pub(super) fn remember_files(&mut self) -> Result<(), StoreError> {
        Ok(self.files.remember()?)
    }

    pub(super) fn files(&self) -> &StoreFiles {
        &self.files
    }

    /// Fails when the store's files were deleted or replaced under this connection; from
    /// then on it no longer checkpoints.
    pub(super) fn verify_files(&self) -> Result<(), StoreError> {
        let result = self.files.verify();
        if result.is_err() {
            self.is_detached.store(true, Ordering::Relaxed);
        }
        Ok(result?)
    }

    /// Folds the write-ahead log into the database file if this connection wrote since its
    /// last checkpoint; waits up to [`CHECKPOINT_PATIENCE`] for readers in other processes.
    pub(super) async fn checkpoint(&self) -> Result<(), StoreError> {
        if !self.is_dirty(&self.lock()) {
            return Ok(());
        }
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            let is_done = self
                .checkpoint_once(&self.lock())
                .map_err(StoreError::from)?;
            if is_done || started.elapsed() >= CHECKPOINT_PATIENCE {
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    fn is_dirty(&self, connection: &Connection) -> bool {
        !self.is_detached.load(Ordering::Relaxed)
            && (self.has_written.load(Ordering::Relaxed)
                || connection.total_changes() != self.changes_at_checkpoint.load(Ordering::Relaxed))
    }

    /// One `TRUNCATE` checkpoint: copies every frame of the log into the database file,
    /// syncs it, and empties the log. It never waits (the busy timeout is zero): when
    /// another process writes, or reads an older snapshot, SQLite copies the frames it can
    /// and reports busy. Returns whether the file now holds every commit of the log.
    fn checkpoint_once(&self, connection: &Connection) -> Result<bool, Failure> {
        let changes = connection.total_changes();
        let (busy, log_frames, copied_frames): (i64, i64, i64) =
            connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?;
        *self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        // Copied but not emptied (a reader was still in the log) holds every commit too.
        let is_done = busy == 0 || log_frames == copied_frames;
        if is_done {
            self.has_written.store(false, Ordering::Relaxed);
            self.changes_at_checkpoint.store(changes, Ordering::Relaxed);
        }
        Ok(is_done)
    }

    /// After a commit: checkpoints once, without waiting, if the last checkpoint is older
    /// than [`CHECKPOINT_AGE`]. A failure here is no failure of the commit, which is safe in
    /// the log; the next checkpoint tries again.
    fn checkpoint_if_old(&self, connection: &Connection) {
        let is_old = self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .elapsed()
            >= CHECKPOINT_AGE;
        if is_old && self.is_dirty(connection) {
            // Beside the checkpoint, at its pace: the change feed's oldest events go (one
            // short delete per thousand events; a locked file leaves it for next time).
            let _ = super::feed::prune_if_due(connection);
            let _ = self.checkpoint_once(connection);
        }
    }

    /// Runs `work` on the connection outside any transaction: reads (with WAL they see the
    /// last commit and never wait for a writer), or a single statement that writes, which is
    /// a transaction of its own and takes the write lock as it starts.
    pub(super) async fn call<T>(
        &self,
        mut work: impl FnMut(&Connection) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let result = retry_busy(|| work(&self.lock())).await;
        self.checkpoint_if_old(&self.lock());
        Ok(result?)
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`) and commits it; nothing of it
    /// stays when `work` fails. `work` may run more than once: whenever the file was locked.
    pub(super) async fn write<T>(
        &self,
        mut work: impl FnMut(&Transaction<'_>) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let result = retry_busy(|| {
            let mut connection = self.lock();
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let result = work(&transaction)?;
            transaction.commit()?;
            self.has_written.store(true, Ordering::Relaxed);
            self.checkpoint_if_old(&connection);
            Ok(result)
        })
        .await;
        Ok(result?)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while the connection was held (a bug) left no transaction open: the
        // `Transaction` guard rolls it back as it is dropped.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Link {
    /// The end of every command (success, failure, Ctrl-C) drops its store: the last
    /// checkpoint, so that `tidewater.db` alone holds every commit. Blocking is fine here:
    /// the process is about to exit. A failure leaves the commits in the log, where they are
    /// safe; there is no one left to tell.
    fn drop(&mut self) {
        let connection = self.lock();
        if !self.is_dirty(&connection) {
            return;
        }
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        while let Ok(false) = self.checkpoint_once(&connection) {
            if started.elapsed() >= CHECKPOINT_PATIENCE {
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
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
    // Closing the last connection would checkpoint the log into the file and delete the log.
    // `Link` checkpoints itself instead, only when it wrote (a read-only command never
    // writes the file), and the log file stays: a server's log is then never deleted by a
    // command that closes beside it, which is how `StoreFiles::verify` can tell a log
    // deleted by hand.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    connection.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_PAGES)?;
    Ok(connection)
}

/// Runs `attempt` until it does not fail with `SQLITE_BUSY`, pausing asynchronously between
/// tries, for at most [`BUSY_TIMEOUT`].
async fn retry_busy<T>(mut attempt: impl FnMut() -> Result<T, Failure>) -> Result<T, Failure> {
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt() {
            Err(Failure::Sqlite(error)) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
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
