//! [`SqliteStore`]: the embedded store, one SQLite file that several `tidewater` processes may
//! share.

mod batch;
mod codec;
mod control;
mod rows;
mod write_batch;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use tidewater_core::{Change, ProcessIdentity, RunId, RunState, TaskInstance, TaskName};

use crate::{AttemptRecord, NewRun, OwnerClaim, RunFilter, RunRecord, RunStore, StoreError};
use batch::{Batch, json_rows};
use codec::{
    decode_process, encode_process, encode_run_state, encode_task_state, encode_timestamp,
    encode_trigger,
};
use rows::{AttemptRow, RunRow, TaskInstanceRow};
use write_batch::{create_apply_program, write_batch};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a statement waits for another process's write transaction before failing with
/// "database is locked". Write transactions here last milliseconds; ten seconds absorbs a
/// burst of them from several processes without hiding a process that is truly stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads run on their own connections: with WAL they see the last commit and never wait for
/// the writer. Two cores, a handful of concurrent readers (CLI, server, engine) at most.
const READER_CONNECTIONS: u32 = 4;

/// Runs, task instances and attempts in one SQLite file.
///
/// Writes go through a pool of exactly one connection, and every write transaction is
/// `BEGIN IMMEDIATE` (or, for `apply`, a single statement, which locks the same way):
/// - inside a process, writers queue fairly on that one connection instead of polling
///   SQLite's lock with the busy handler's sleeps;
/// - across processes, `IMMEDIATE` takes the write lock when the transaction begins, where
///   the busy timeout applies. A deferred transaction that reads first and writes later can
///   fail at once with `SQLITE_BUSY` when another process committed in between, and waiting
///   would not help.
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its folders if missing, and brings
    /// its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| open_error(sqlx::Error::Io(error)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL syncs the log only at checkpoints, not at every commit. A
            // commit survives the process being killed (our crash model: the OS still writes
            // it out), but an OS crash or power loss may undo the last commits (never
            // corrupt the file). The engine then redoes that work, which idempotent tasks
            // make safe. FULL would cost an fsync per `apply`, the engine's hot path.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let writer_options = SqlitePoolOptions::new()
            .max_connections(1)
            // A local file does not drop connections: skip the ping on every acquire, which
            // would add a round trip to every small `apply`.
            .test_before_acquire(false)
            .after_connect(|connection, _| Box::pin(create_apply_program(connection)));
        let writer = connect_when_free(writer_options, &options)
            .await
            .map_err(open_error)?;
        migrate(&writer).await?;
        let reader_options = SqlitePoolOptions::new()
            .max_connections(READER_CONNECTIONS)
            .test_before_acquire(false);
        let readers = connect_when_free(reader_options, &options)
            .await
            .map_err(open_error)?;
        Ok(SqliteStore { writer, readers })
    }

    /// Closes every connection and waits for them to finish. When the last connection to the
    /// file closes, SQLite folds the write-ahead log into the main file. Dropping the store
    /// closes its connections too, but in the background.
    pub async fn close(self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Applies the embedded migrations inside one `IMMEDIATE` transaction. sqlx does not lock
/// SQLite while migrating, so two processes opening a new file at once would both try to
/// create the tables; holding the write lock makes the second one wait and then find the
/// schema up to date. (sqlx runs each migration in a savepoint of this transaction.)
impl SqliteStore {
    /// `create_run`: refuses a second run of an interval that must have only one.
    async fn insert_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        let state = RunState::Queued;
        let state_columns = encode_run_state(&state);
        let params = serde_json::Value::Object(run.params.clone()).to_string();
        let tasks = json_rows(&run.tasks);
        let mut transaction = self.begin_write().await?;
        let inserted = sqlx::query_scalar(
            "INSERT INTO runs (workflow, interval_start, interval_end, triggered_by, params,
                 state, started_at, finished_at, workflow_hash, workflow_source, created_at,
                 backfill_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             RETURNING id",
        )
        .bind(run.workflow.as_str())
        .bind(encode_timestamp(run.interval.start))
        .bind(encode_timestamp(run.interval.end))
        .bind(encode_trigger(run.trigger))
        .bind(params)
        .bind(state_columns.state)
        .bind(state_columns.started_at)
        .bind(state_columns.finished_at)
        .bind(run.workflow_hash.as_str())
        .bind(run.workflow_source.as_str())
        .bind(encode_timestamp(run.created_at))
        .bind(run.backfill.map(|backfill| backfill.0))
        .fetch_one(&mut *transaction)
        .await;
        let id: i64 = match inserted {
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                return Err(StoreError::IntervalTaken {
                    workflow: run.workflow,
                    trigger: run.trigger.as_str(),
                });
            }
            other => other?,
        };
        let pending = encode_task_state(&TaskInstance::new().state);
        // `key` is the index in the JSON array: the task's position.
        sqlx::query(
            "INSERT INTO task_instances (run_id, task, position, state, last_attempt, attempt_base)
             SELECT ?1, value, key, ?2, 0, 0 FROM json_each(?3)",
        )
        .bind(id)
        .bind(pending.state)
        .bind(tasks)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(RunRecord {
            id: RunId(id),
            workflow: run.workflow,
            interval: run.interval,
            trigger: run.trigger,
            params: run.params,
            state,
            workflow_hash: run.workflow_hash,
            created_at: run.created_at,
            owner: None,
            backfill: run.backfill,
        })
    }
}

async fn migrate(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut transaction = writer.begin_with("BEGIN IMMEDIATE").await?;
    // `run_direct` rather than `run`: with `run`, `open` is not `Send` (sqlx's `Acquire` bound
    // trips the compiler's higher-ranked lifetime check, launchbadge/sqlx#2016) and could not be
    // awaited in a spawned task. sqlx keeps `run_direct` public for exactly this.
    MIGRATOR.run_direct(None, &mut *transaction, false).await?;
    transaction.commit().await?;
    Ok(())
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        self.insert_run(run).await
    }

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let row: Option<RunRow> = sqlx::query_as(
            "SELECT id, workflow, interval_start, interval_end, triggered_by, params, state,
                    started_at, finished_at, workflow_hash, created_at,
                    owner_pid, owner_start_ticks, backfill_id
             FROM runs WHERE id = ?1",
        )
        .bind(id.0)
        .fetch_optional(&self.readers)
        .await?;
        row.map(RunRow::decode).transpose()
    }

    async fn workflow_source(&self, id: RunId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT workflow_source FROM runs WHERE id = ?1")
                .bind(id.0)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn task_instances(&self, id: RunId) -> Result<Vec<(TaskName, TaskInstance)>, StoreError> {
        let rows: Vec<TaskInstanceRow> = sqlx::query_as(
            "SELECT task, state, attempt, queued_since, started_at, finished_at, not_before,
                    last_attempt, attempt_base, output
             FROM task_instances WHERE run_id = ?1 ORDER BY position",
        )
        .bind(id.0)
        .fetch_all(&self.readers)
        .await?;
        // Every run has its task instances from `create_run` on: none means no run (or a
        // workflow without tasks, which the existence check tells apart).
        if rows.is_empty() && !run_exists(&self.readers, id).await? {
            return Err(StoreError::NoSuchRun(id));
        }
        rows.into_iter().map(TaskInstanceRow::decode).collect()
    }

    async fn apply(&self, id: RunId, changes: &[Change]) -> Result<(), StoreError> {
        let batch = Batch::new(id, changes)?;
        write_batch(&mut *self.writer.acquire().await?, id, &batch).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        // A negative LIMIT is no limit in SQLite.
        let limit = filter.limit.map_or(-1, i64::from);
        // Two statements rather than `?1 IS NULL OR workflow = ?1`, which would keep SQLite
        // from using the workflow index.
        let rows: Vec<RunRow> = match &filter.workflow {
            Some(workflow) => {
                sqlx::query_as(
                    "SELECT id, workflow, interval_start, interval_end, triggered_by, params,
                            state, started_at, finished_at, workflow_hash, created_at,
                            owner_pid, owner_start_ticks, backfill_id
                     FROM runs WHERE workflow = ?1
                     ORDER BY created_at DESC, id DESC LIMIT ?2",
                )
                .bind(workflow.as_str())
                .bind(limit)
                .fetch_all(&self.readers)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT id, workflow, interval_start, interval_end, triggered_by, params,
                            state, started_at, finished_at, workflow_hash, created_at,
                            owner_pid, owner_start_ticks, backfill_id
                     FROM runs ORDER BY created_at DESC, id DESC LIMIT ?1",
                )
                .bind(limit)
                .fetch_all(&self.readers)
                .await?
            }
        };
        rows.into_iter().map(RunRow::decode).collect()
    }

    async fn attempts(
        &self,
        id: RunId,
        task: Option<&TaskName>,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        // Two statements rather than `?2 IS NULL OR task = ?2`, which would read every attempt
        // of the run to find one task's.
        let rows: Vec<AttemptRow> = match task {
            Some(task) => {
                sqlx::query_as(
                    "SELECT task, attempt, started_at, pid, start_ticks, finished_at, outcome,
                            output, failure, exit_code, signal, message
                     FROM attempts WHERE run_id = ?1 AND task = ?2 ORDER BY attempt",
                )
                .bind(id.0)
                .bind(task.as_str())
                .fetch_all(&self.readers)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT attempts.task, attempts.attempt, attempts.started_at, attempts.pid,
                            attempts.start_ticks, attempts.finished_at, attempts.outcome,
                            attempts.output, attempts.failure, attempts.exit_code,
                            attempts.signal, attempts.message
                     FROM attempts JOIN task_instances USING (run_id, task)
                     WHERE attempts.run_id = ?1
                     ORDER BY task_instances.position, attempts.attempt",
                )
                .bind(id.0)
                .fetch_all(&self.readers)
                .await?
            }
        };
        if rows.is_empty() {
            if !run_exists(&self.readers, id).await? {
                return Err(StoreError::NoSuchRun(id));
            }
            if let Some(task) = task
                && !task_exists(&self.readers, id, task).await?
            {
                return Err(StoreError::NoSuchTask {
                    run: id,
                    task: task.clone(),
                });
            }
        }
        rows.into_iter().map(AttemptRow::decode).collect()
    }

    async fn claim_owner(
        &self,
        id: RunId,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
    ) -> Result<OwnerClaim, StoreError> {
        let (expected_pid, expected_ticks) = expected.map(encode_process).unzip();
        let (owner_pid, owner_ticks) = owner.map(encode_process).unzip();
        let mut transaction = self.begin_write().await?;
        // `IS` rather than `=`: it compares NULL (no owner) as a value.
        let updated = sqlx::query(
            "UPDATE runs SET owner_pid = ?2, owner_start_ticks = ?3
             WHERE id = ?1 AND owner_pid IS ?4 AND owner_start_ticks IS ?5",
        )
        .bind(id.0)
        .bind(owner_pid)
        .bind(owner_ticks)
        .bind(expected_pid)
        .bind(expected_ticks)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        if updated == 1 {
            transaction.commit().await?;
            return Ok(OwnerClaim::Claimed);
        }
        // Read inside the same transaction: this is the owner that refused the claim.
        let current: Option<(Option<i32>, Option<i64>)> =
            sqlx::query_as("SELECT owner_pid, owner_start_ticks FROM runs WHERE id = ?1")
                .bind(id.0)
                .fetch_optional(&mut *transaction)
                .await?;
        match current {
            None => Ok(OwnerClaim::NoSuchRun),
            Some((pid, start_ticks)) => Ok(OwnerClaim::Held(decode_process(pid, start_ticks)?)),
        }
    }
}

async fn run_exists<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    id: RunId,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)")
            .bind(id.0)
            .fetch_one(executor)
            .await?,
    )
}

async fn task_exists<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    id: RunId,
    task: &TaskName,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM task_instances WHERE run_id = ?1 AND task = ?2)",
    )
    .bind(id.0)
    .bind(task.as_str())
    .fetch_one(executor)
    .await?)
}

/// Connects, waiting while another process holds the file's lock. Switching a new file to
/// WAL needs an exclusive lock and SQLite reports `SQLITE_BUSY` for it at once, without the
/// busy handler, so two `tidewater` processes opening a fresh project together would
/// otherwise fail with "database is locked". Bounded by `BUSY_TIMEOUT`.
async fn connect_when_free(
    pool: SqlitePoolOptions,
    options: &SqliteConnectOptions,
) -> Result<sqlx::SqlitePool, sqlx::Error> {
    const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
    let started = std::time::Instant::now();
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(error))
                if error.code().as_deref() == Some("5") && started.elapsed() < BUSY_TIMEOUT =>
            {
                tokio::time::sleep(PAUSE).await;
            }
            result => return result,
        }
    }
}
