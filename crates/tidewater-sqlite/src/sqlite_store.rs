//! [`SqliteStore`]: the embedded store, one SQLite file that several `tidewater` processes may
//! share.

mod access;
mod backup;
mod connection;
mod control;
mod data_changes;
mod failure;
mod feed;
mod history_export;
mod migrations;
mod notifications;
mod rows;
mod store_files;
mod store_report;
mod streams;
mod workers;
mod write_batch;

pub use backup::BackupTarget;
pub use history_export::{HISTORY_TABLES, TableRows};
pub use store_files::FilesChange;
pub use store_report::{StoreContents, StoreProblem, StoreReport};

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};
use tidewater_core::{Change, ProcessIdentity, RunId, RunState, TaskInstance, TaskName};
use tidewater_store::{
    AttemptRecord, NewRun, OwnerClaim, Repin, RunCreation, RunFilter, RunParent, RunRecord,
    RunStore, RunVersion, Store, StoreError,
};

use codec::{
    decode_process, encode_process, encode_run_state, encode_task_state, encode_timestamp,
    encode_trigger,
};
use connection::Link;
use failure::Failure;
use rows::{AttemptRow, RunRow, TaskInstanceRow};
use tidewater_store::columns::batch::{self, Batch};
use tidewater_store::columns::codec;
use write_batch::write_batch;

/// Runs, task instances and attempts in one SQLite file.
///
/// One connection per handle, called on the caller's thread: a statement here takes tens of
/// microseconds, less than handing it to a worker thread and back (what an async driver
/// does), and the engine waits for each `apply` before it acts. The connection is behind a
/// mutex that is never held across an `await`; see `Link` (in `connection.rs`) for how waiting for another
/// process's write lock stays asynchronous.
///
/// Every write is one transaction that takes the write lock as it begins (`BEGIN
/// IMMEDIATE`, or a single statement, which locks the same way): a deferred transaction
/// that reads first and writes later can fail at once with `SQLITE_BUSY` when another
/// process committed in between, and waiting would not help.
pub struct SqliteStore {
    link: Link,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its folders if missing, and brings
    /// its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut link = Link::open(path).await?;
        migrations::migrate(&link).await?;
        link.remember_files()?;
        Ok(SqliteStore { link })
    }

    /// Copies the store to `destination` with SQLite's online backup: one consistent
    /// snapshot, safe while other processes (a server) write. The copy opens as a store with
    /// the same runs.
    pub async fn backup(&self, destination: &Path, target: BackupTarget) -> Result<(), StoreError> {
        backup::backup(&self.link, destination, target).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn highest_run_id(&self) -> Result<Option<RunId>, StoreError> {
        self.link
            .call(|connection| Ok(highest_run_id(connection)?))
            .await
    }

    /// `sqlite_sequence` moved past `id`.
    async fn skip_run_ids_through(&self, id: RunId) -> Result<(), StoreError> {
        self.link
            .write(|transaction| {
                // `sqlite_sequence` is SQLite's record of the largest AUTOINCREMENT id given;
                // it has a row for `runs` once the first run was inserted.
                let raised = transaction
                    .prepare_cached(
                        "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'runs' AND seq < ?1",
                    )?
                    .execute([id.0])?;
                let has_row: bool = transaction
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'runs')",
                    )?
                    .query_row([], |row| row.get(0))?;
                if raised == 0 && !has_row {
                    transaction
                        .prepare_cached(
                            "INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?1)",
                        )?
                        .execute([id.0])?;
                }
                Ok(())
            })
            .await
    }

    /// Folds the write-ahead log into the database file, if this store wrote since its last
    /// checkpoint: then `tidewater.db` alone holds every commit, even if the log is lost.
    /// A process that keeps writing does it by itself every two seconds; a process that
    /// stays open while idle (the server) calls this.
    async fn checkpoint(&self) -> Result<(), StoreError> {
        self.link.checkpoint().await
    }

    /// Fails with [`SqliteStoreError::FilesChanged`](crate::SqliteStoreError::FilesChanged)
    /// when the database file or its write-ahead log was deleted or replaced since this store
    /// opened them: everything this process writes from then on is lost to the others. From
    /// then on the store no longer checkpoints.
    fn verify_store(&self) -> Result<(), StoreError> {
        self.link.verify_files()
    }

    /// Checkpoints if this store wrote. Dropping the store checkpoints too (closing the
    /// connection), waiting on the thread instead.
    fn worker_store(&self) -> Option<&dyn tidewater_store::WorkerStore> {
        Some(self)
    }

    async fn close(&self) {
        // A failed checkpoint leaves the commits in the log, where they are safe.
        let _ = self.link.checkpoint().await;
    }

    fn streams(&self) -> Option<&dyn tidewater_store::StreamStore> {
        Some(self)
    }
}

impl SqliteStore {
    /// `create_run`: refuses a second run of an interval that must have only one.
    async fn insert_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        let row = NewRunRow::encode(&run);
        let inserted = self
            .link
            .write(|transaction| row.insert(transaction, &run))
            .await;
        let id = interval_taken(inserted, &run)?;
        Ok(row.record(run, id))
    }

    /// `create_child_run`: the child recorded before is looked up in the write transaction
    /// that would insert it, so two attempts asking at once still share one child.
    async fn insert_child_run(
        &self,
        parent: &RunParent,
        run: NewRun,
    ) -> Result<RunRecord, StoreError> {
        let row = NewRunRow::encode(&run);
        let parent_run = parent.run.0;
        let parent_task = parent.task.to_string();
        let inserted = self
            .link
            .write(|transaction| {
                let existing = transaction
                    .prepare_cached(rows::select_runs!(
                        "WHERE parent_run_id = ?1 AND parent_task = ?2"
                    ))?
                    .query_row(params![parent_run, parent_task], RunRow::read)
                    .optional()?;
                if let Some(existing) = existing {
                    return Ok(Err(existing));
                }
                let id = row.insert(transaction, &run)?;
                transaction
                    .prepare_cached(
                        "UPDATE runs SET parent_run_id = ?2, parent_task = ?3 WHERE id = ?1",
                    )?
                    .execute(params![id, parent_run, parent_task])?;
                Ok(Ok(id))
            })
            .await;
        match interval_taken(inserted, &run)? {
            Ok(id) => Ok(row.record(run, id)),
            Err(existing) => existing.decode(),
        }
    }

    /// `create_run_unless_active`: the active run of the same workflow and interval is looked
    /// up in the write transaction that inserts, so that two processes creating the same run
    /// at once cannot both find none.
    async fn insert_run_unless_active(&self, run: NewRun) -> Result<RunCreation, StoreError> {
        let row = NewRunRow::encode(&run);
        let inserted = self
            .link
            .write(|transaction| {
                let active = transaction
                    .prepare_cached(rows::select_runs!(
                        "WHERE workflow = ?1 AND interval_start = ?2 AND interval_end = ?3
                           AND state IN ('queued', 'running')
                         ORDER BY id LIMIT 1"
                    ))?
                    .query_row(
                        params![
                            run.workflow.as_str(),
                            encode_timestamp(run.interval.start),
                            encode_timestamp(run.interval.end),
                        ],
                        RunRow::read,
                    )
                    .optional()?;
                match active {
                    Some(active) => Ok(Err(active)),
                    None => row.insert(transaction, &run).map(Ok),
                }
            })
            .await;
        match interval_taken(inserted, &run)? {
            Ok(id) => Ok(RunCreation::Created(row.record(run, id))),
            Err(active) => Ok(RunCreation::Active(active.decode()?)),
        }
    }
}

/// A new run's columns, encoded once (a write transaction may run more than once).
struct NewRunRow {
    state: RunState,
    params: String,
    /// A JSON array of the task names, which one statement inserts with `json_each`.
    tasks: String,
    pending: &'static str,
}

impl NewRunRow {
    fn encode(run: &NewRun) -> NewRunRow {
        NewRunRow {
            state: RunState::Queued,
            params: serde_json::Value::Object(run.params.clone()).to_string(),
            // A JSON array of strings, built by hand: serialising strings cannot fail, and
            // so there is no error to carry.
            tasks: tasks_json(&run.tasks),
            pending: encode_task_state(&TaskInstance::new().state).state,
        }
    }

    /// Inserts the run and its task instances; the new run's id.
    fn insert(&self, transaction: &Transaction<'_>, run: &NewRun) -> Result<i64, Failure> {
        let state_columns = encode_run_state(&self.state);
        let id: i64 = transaction
            .prepare_cached(
                "INSERT INTO runs (workflow, interval_start, interval_end, triggered_by,
                     params, state, started_at, finished_at, workflow_hash,
                     workflow_source, created_at, backfill_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 RETURNING id",
            )?
            .query_row(
                params![
                    run.workflow.as_str(),
                    encode_timestamp(run.interval.start),
                    encode_timestamp(run.interval.end),
                    encode_trigger(run.trigger),
                    self.params,
                    state_columns.state,
                    state_columns.started_at,
                    state_columns.finished_at,
                    run.workflow_hash.as_str(),
                    run.workflow_source.as_str(),
                    encode_timestamp(run.created_at),
                    run.backfill.map(|backfill| backfill.0),
                ],
                |row| row.get(0),
            )?;
        // `key` is the index in the JSON array: the task's position.
        transaction
            .prepare_cached(
                "INSERT INTO task_instances (run_id, task, position, state,
                     last_attempt, attempt_base)
                 SELECT ?1, value, key, ?2, 0, 0 FROM json_each(?3)",
            )?
            .execute(params![id, self.pending, self.tasks])?;
        Ok(id)
    }

    fn record(&self, run: NewRun, id: i64) -> RunRecord {
        RunRecord {
            id: RunId(id),
            workflow: run.workflow,
            interval: run.interval,
            trigger: run.trigger,
            params: run.params,
            state: self.state.clone(),
            workflow_hash: run.workflow_hash,
            created_at: run.created_at,
            owner: None,
            backfill: run.backfill,
        }
    }
}

/// Task names as a JSON array, for `json_each` to insert one instance per task.
fn tasks_json(tasks: &[TaskName]) -> String {
    serde_json::Value::Array(
        tasks
            .iter()
            .map(|task| serde_json::Value::String(task.to_string()))
            .collect(),
    )
    .to_string()
}

/// A unique index refused the run: the interval already has the run it may have only one of.
fn interval_taken<T>(inserted: Result<T, StoreError>, run: &NewRun) -> Result<T, StoreError> {
    match inserted {
        Err(error)
            if error
                .backend_error::<rusqlite::Error>()
                .is_some_and(connection::is_unique_violation) =>
        {
            Err(StoreError::IntervalTaken {
                workflow: run.workflow.clone(),
                trigger: run.trigger.as_str(),
            })
        }
        other => other,
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: NewRun) -> Result<RunRecord, StoreError> {
        self.insert_run(run).await
    }

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let row = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(rows::select_runs!("WHERE id = ?1"))?
                    .query_row([id.0], RunRow::read)
                    .optional()?)
            })
            .await?;
        row.map(RunRow::decode).transpose()
    }

    async fn workflow_source(&self, id: RunId) -> Result<Option<String>, StoreError> {
        self.link
            .call(|connection| {
                Ok(connection
                    .prepare_cached("SELECT workflow_source FROM runs WHERE id = ?1")?
                    .query_row([id.0], |row| row.get(0))
                    .optional()?)
            })
            .await
    }

    async fn task_instances(&self, id: RunId) -> Result<Vec<(TaskName, TaskInstance)>, StoreError> {
        let rows = self
            .link
            .call(|connection| {
                let rows = connection
                    .prepare_cached(
                        "SELECT task, state, attempt, queued_since, started_at, finished_at,
                                not_before, last_attempt, attempt_base, output,
                                lost_attempts
                         FROM task_instances WHERE run_id = ?1 ORDER BY position",
                    )?
                    .query_map([id.0], TaskInstanceRow::read)?
                    .collect::<Result<Vec<_>, _>>()?;
                // Every run has its task instances from `create_run` on: none means no run
                // (or a workflow without tasks, which the existence check tells apart).
                if rows.is_empty() && !run_exists(connection, id)? {
                    return Err(StoreError::NoSuchRun(id).into());
                }
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(TaskInstanceRow::decode).collect()
    }

    async fn apply(&self, id: RunId, changes: &[Change]) -> Result<(), StoreError> {
        let batch = Batch::new(id, changes)?;
        write_batch(&self.link, id, &batch).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
        // Only the filters given appear in the statement: `?1 IS NULL OR workflow = ?1` would
        // keep SQLite from using the workflow index.
        let mut conditions = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(workflow) = &filter.workflow {
            values.push(workflow.as_str().to_owned().into());
            conditions.push(format!("workflow = ?{}", values.len()));
        }
        if let Some(state) = filter.state {
            values.push(codec::encode_run_state_kind(state).to_owned().into());
            conditions.push(format!("state = ?{}", values.len()));
        }
        if let Some(backfill) = filter.backfill {
            values.push(backfill.0.into());
            conditions.push(format!("backfill_id = ?{}", values.len()));
        }
        if let Some(from) = filter.starts_from {
            values.push(codec::encode_timestamp(from).into());
            conditions.push(format!("interval_start >= ?{}", values.len()));
        }
        if let Some(until) = filter.starts_before {
            values.push(codec::encode_timestamp(until).into());
            conditions.push(format!("interval_start < ?{}", values.len()));
        }
        if let Some(before) = filter.before {
            // Keyset paging in the listing's own order: a run created in between does not
            // shift the pages.
            values.push(before.0.into());
            conditions.push(format!(
                "(created_at, id) < (SELECT created_at, id FROM runs WHERE id = ?{})",
                values.len()
            ));
        }
        // A negative LIMIT is no limit in SQLite.
        values.push(filter.limit.map_or(-1, i64::from).into());
        let statement = format!(
            "{}{} ORDER BY created_at DESC, id DESC LIMIT ?{}",
            rows::select_runs!(""),
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            values.len()
        );
        let rows = self
            .link
            .call(|connection| {
                Ok(connection
                    .prepare_cached(&statement)?
                    .query_map(rusqlite::params_from_iter(&values), RunRow::read)?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .await?;
        rows.into_iter().map(RunRow::decode).collect()
    }

    async fn attempts(
        &self,
        id: RunId,
        task: Option<&TaskName>,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self
            .link
            .call(|connection| {
                // Two statements rather than `?2 IS NULL OR task = ?2`, which would read every
                // attempt of the run to find one task's.
                let rows = match task {
                    Some(task) => connection
                        .prepare_cached(
                            "SELECT task, attempt, started_at, pid, start_ticks, finished_at,
                                    outcome, output, failure, exit_code, signal, message,
                                    failure_class
                             FROM attempts WHERE run_id = ?1 AND task = ?2 ORDER BY attempt",
                        )?
                        .query_map(params![id.0, task.as_str()], AttemptRow::read)?
                        .collect::<Result<Vec<_>, _>>()?,
                    None => connection
                        .prepare_cached(
                            "SELECT attempts.task, attempts.attempt, attempts.started_at,
                                    attempts.pid, attempts.start_ticks, attempts.finished_at,
                                    attempts.outcome, attempts.output, attempts.failure,
                                    attempts.exit_code, attempts.signal, attempts.message,
                                    attempts.failure_class
                             FROM attempts JOIN task_instances USING (run_id, task)
                             WHERE attempts.run_id = ?1
                             ORDER BY task_instances.position, attempts.attempt",
                        )?
                        .query_map([id.0], AttemptRow::read)?
                        .collect::<Result<Vec<_>, _>>()?,
                };
                if rows.is_empty() {
                    if !run_exists(connection, id)? {
                        return Err(StoreError::NoSuchRun(id).into());
                    }
                    if let Some(task) = task
                        && !task_exists(connection, id, task)?
                    {
                        return Err(StoreError::NoSuchTask {
                            run: id,
                            task: task.clone(),
                        }
                        .into());
                    }
                }
                Ok(rows)
            })
            .await?;
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
        self.link
            .write(|transaction| {
                // `IS` rather than `=`: it compares NULL (no owner) as a value.
                let updated = transaction
                    .prepare_cached(
                        "UPDATE runs SET owner_pid = ?2, owner_start_ticks = ?3
                         WHERE id = ?1 AND owner_pid IS ?4 AND owner_start_ticks IS ?5",
                    )?
                    .execute(params![
                        id.0,
                        owner_pid,
                        owner_ticks,
                        expected_pid,
                        expected_ticks
                    ])?;
                if updated == 1 {
                    return Ok(OwnerClaim::Claimed);
                }
                // Read inside the same transaction: this is the owner that refused the claim.
                let current: Option<(Option<i32>, Option<i64>)> = transaction
                    .prepare_cached("SELECT owner_pid, owner_start_ticks FROM runs WHERE id = ?1")?
                    .query_row([id.0], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                match current {
                    None => Ok(OwnerClaim::NoSuchRun),
                    Some((pid, start_ticks)) => {
                        Ok(OwnerClaim::Held(decode_process(pid, start_ticks)?))
                    }
                }
            })
            .await
    }

    async fn repin_run(
        &self,
        id: RunId,
        expected_owner: Option<ProcessIdentity>,
        version: &RunVersion,
    ) -> Result<Repin, StoreError> {
        let (expected_pid, expected_ticks) = expected_owner.map(encode_process).unzip();
        let source = version.workflow_source.clone();
        let hash = version.workflow_hash.clone();
        let tasks = tasks_json(&version.tasks);
        self.link
            .write(move |transaction| {
                // `IS` rather than `=`: it compares NULL (no owner) as a value.
                let updated = transaction
                    .prepare_cached(
                        "UPDATE runs SET workflow_hash = ?2, workflow_source = ?3
                         WHERE id = ?1 AND state IN ('failed', 'cancelled')
                           AND owner_pid IS ?4 AND owner_start_ticks IS ?5",
                    )?
                    .execute(params![id.0, hash, source, expected_pid, expected_ticks])?;
                if updated == 0 {
                    return Ok(if run_exists(transaction, id)? {
                        Repin::Refused
                    } else {
                        Repin::NoSuchRun
                    });
                }
                // The new tasks go after the run's own, in the version's order.
                transaction
                    .prepare_cached(
                        "INSERT INTO task_instances (run_id, task, position, state,
                             last_attempt, attempt_base)
                         SELECT ?1, value,
                             key + 1 + (SELECT max(position) FROM task_instances
                                        WHERE run_id = ?1),
                             ?2, 0, 0
                         FROM json_each(?3)
                         WHERE value NOT IN (SELECT task FROM task_instances WHERE run_id = ?1)",
                    )?
                    .execute(params![
                        id.0,
                        encode_task_state(&TaskInstance::new().state).state,
                        tasks
                    ])?;
                Ok(Repin::Repinned)
            })
            .await
    }
}

/// The highest run id given out: `sqlite_sequence` remembers it even if that run were
/// deleted, and `max(id)` covers a store whose sequence row is missing.
fn highest_run_id(connection: &rusqlite::Connection) -> rusqlite::Result<Option<RunId>> {
    let highest: i64 = connection
        .prepare_cached(
            "SELECT max(
                 coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0),
                 coalesce((SELECT max(id) FROM runs), 0))",
        )?
        .query_row([], |row| row.get(0))?;
    Ok((highest > 0).then_some(RunId(highest)))
}

fn run_exists(connection: &rusqlite::Connection, id: RunId) -> Result<bool, Failure> {
    Ok(connection
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)")?
        .query_row([id.0], |row| row.get(0))?)
}

fn task_exists(
    connection: &rusqlite::Connection,
    id: RunId,
    task: &TaskName,
) -> Result<bool, Failure> {
    Ok(connection
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM task_instances WHERE run_id = ?1 AND task = ?2)",
        )?
        .query_row(params![id.0, task.as_str()], |row| row.get(0))?)
}
