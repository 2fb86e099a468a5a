//! Writes a [`Batch`] in one statement.
//!
//! # One statement
//!
//! [`APPLY`] is a single `INSERT` of the whole batch, as one row, into `apply_batch`: a TEMP
//! view whose `INSTEAD OF` trigger runs the bulk statements with the row as `NEW`, which is
//! how SQLite runs several statements as one. [`create_apply_program`] creates the view and
//! its trigger on the connection before its first `apply`: TEMP, they live with the
//! connection, never in the file, and change with the code that uses them. (This began as a
//! way to save round trips to an async driver's worker thread; with the connection called
//! directly it still saves a `BEGIN` and a `COMMIT`, and keeps the whole batch one prepared
//! statement.)
//!
//! # All or nothing
//!
//! A statement is atomic: when any part of it fails, SQLite undoes all of it. Outside an
//! explicit transaction it is also a transaction of its own, which takes the write lock as
//! it starts, as `BEGIN IMMEDIATE` does. It runs start to end inside one call, so no
//! transaction is ever left open, whatever happens to the future that awaits it.
//!
//! A bulk `UPDATE` that finds fewer rows than it was given is no SQL error, so the trigger
//! compares `changes()` with the count of rows after each and `RAISE`s when they differ;
//! starting an attempt of an unknown task or one started before breaks a constraint. Either
//! way the batch is refused and undone, and [`culprit`] names the change at fault.
//!
//! # Prepared once
//!
//! [`APPLY`] is a fixed string, kept prepared in the connection's statement cache, trigger
//! program included; preparing it anew would cost more than the rest of a small `apply`.

use std::collections::HashSet;
use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use tidewater_core::{RunId, TaskName};

use super::batch::{Batch, json_rows};
use super::codec::{decode_attempt, encode_run_state};
use super::connection::Link;
use super::run_exists;
use crate::StoreError;

/// The columns of `apply_batch`, which are the parameters of [`APPLY`], in order:
/// - the run; its new state and the state's times (a NULL state leaves the run's alone);
/// - the JSON arrays of rows, one per change, of each kind of change;
/// - how many rows `tasks`, `processes` and `finished` hold.
const BATCH_COLUMNS: [&str; 11] = [
    "run_id",
    "run_state",
    "run_started_at",
    "run_finished_at",
    "tasks",
    "started",
    "processes",
    "finished",
    "task_count",
    "process_count",
    "finished_count",
];

/// The whole of `apply`. `BATCH_COLUMNS` in order, as `?1` to `?11`.
static APPLY: LazyLock<String> = LazyLock::new(|| {
    let parameters: Vec<String> = (1..=BATCH_COLUMNS.len())
        .map(|index| format!("?{index}"))
        .collect();
    format!(
        "INSERT INTO temp.apply_batch ({}) VALUES ({})",
        BATCH_COLUMNS.join(", "),
        parameters.join(", ")
    )
});

/// Creates `apply_batch` and its trigger on the connection (commands that only read never
/// pay for it).
fn create_apply_program(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute_batch(CREATE_APPLY_PROGRAM.as_str())
}

/// The trigger's statements keep the order they had when each was a round trip of its own.
/// `INSERT_STARTED` needs no guard: a constraint refuses an unknown task or an attempt started
/// before.
static CREATE_APPLY_PROGRAM: LazyLock<String> = LazyLock::new(|| {
    let body = [
        refuse_if(
            "NOT EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id)",
            "no such run",
        ),
        UPDATE_RUN.to_owned(),
        UPDATE_TASKS.to_owned(),
        refuse_if("changes() <> NEW.task_count", "no such task"),
        INSERT_STARTED.to_owned(),
        UPDATE_PROCESSES.to_owned(),
        refuse_if(
            "changes() <> NEW.process_count",
            "a process of no such attempt",
        ),
        UPDATE_FINISHED.to_owned(),
        refuse_if(
            "changes() <> NEW.finished_count",
            "the end of no such attempt",
        ),
    ];
    let nulls = vec!["NULL"; BATCH_COLUMNS.len()];
    format!(
        "CREATE TEMP VIEW apply_batch ({columns}) AS SELECT {nulls} WHERE false;
         CREATE TEMP TRIGGER apply_batch_writes INSTEAD OF INSERT ON apply_batch
         BEGIN
             {body};
         END",
        columns = BATCH_COLUMNS.join(", "),
        nulls = nulls.join(", "),
        body = body.join(";\n"),
    )
});

/// How the message of every error the trigger's guards raise starts.
const REFUSED: &str = "apply refused";

/// A statement of the trigger that fails the batch when `condition` holds.
fn refuse_if(condition: &str, reason: &str) -> String {
    format!("SELECT RAISE(ABORT, '{REFUSED}: {reason}') WHERE {condition}")
}

const UPDATE_RUN: &str = "
    UPDATE runs
    SET state = NEW.run_state, started_at = NEW.run_started_at,
        finished_at = NEW.run_finished_at
    WHERE id = NEW.run_id AND NEW.run_state IS NOT NULL";

// The bulk statements. Each UPDATE materializes the changes first, so that SQLite loops over
// them and finds each row by its primary key. Joined directly with `json_each`, SQLite loops
// over the run's rows instead and scans the JSON for each: quadratic, minutes for 10,000
// tasks. (In a trigger a statement cannot open with `WITH`: the CTE sits in a subquery.)
// `the_bulk_statements_look_rows_up_by_key` guards the plans.

const UPDATE_TASKS: &str = "
    UPDATE task_instances
    SET state = change.state, attempt = change.attempt, queued_since = change.queued_since,
        started_at = change.started_at, finished_at = change.finished_at,
        not_before = change.not_before, last_attempt = change.last_attempt,
        attempt_base = change.attempt_base, output = change.output
    FROM (
        WITH change AS MATERIALIZED (
            SELECT value ->> '$.task' AS task, value ->> '$.state' AS state,
                   value ->> '$.attempt' AS attempt, value ->> '$.queued_since' AS queued_since,
                   value ->> '$.started_at' AS started_at,
                   value ->> '$.finished_at' AS finished_at,
                   value ->> '$.not_before' AS not_before,
                   value ->> '$.last_attempt' AS last_attempt,
                   value ->> '$.attempt_base' AS attempt_base, value ->> '$.output' AS output
            FROM json_each(NEW.tasks))
        SELECT * FROM change) AS change
    WHERE task_instances.run_id = NEW.run_id AND task_instances.task = change.task";

const INSERT_STARTED: &str = "
    INSERT INTO attempts (run_id, task, attempt, started_at)
    SELECT NEW.run_id, value ->> '$.task', value ->> '$.attempt', value ->> '$.started_at'
    FROM json_each(NEW.started)";

const UPDATE_PROCESSES: &str = "
    UPDATE attempts SET pid = change.pid, start_ticks = change.start_ticks
    FROM (
        WITH change AS MATERIALIZED (
            SELECT value ->> '$.task' AS task, value ->> '$.attempt' AS attempt,
                   value ->> '$.pid' AS pid, value ->> '$.start_ticks' AS start_ticks
            FROM json_each(NEW.processes))
        SELECT * FROM change) AS change
    WHERE attempts.run_id = NEW.run_id AND attempts.task = change.task
      AND attempts.attempt = change.attempt";

const UPDATE_FINISHED: &str = "
    UPDATE attempts
    SET finished_at = change.finished_at, outcome = change.outcome, output = change.output,
        failure = change.failure, exit_code = change.exit_code, signal = change.signal,
        message = change.message
    FROM (
        WITH change AS MATERIALIZED (
            SELECT value ->> '$.task' AS task, value ->> '$.attempt' AS attempt,
                   value ->> '$.finished_at' AS finished_at, value ->> '$.outcome' AS outcome,
                   value ->> '$.output' AS output, value ->> '$.failure' AS failure,
                   value ->> '$.exit_code' AS exit_code, value ->> '$.signal' AS signal,
                   value ->> '$.message' AS message
            FROM json_each(NEW.finished))
        SELECT * FROM change) AS change
    WHERE attempts.run_id = NEW.run_id AND attempts.task = change.task
      AND attempts.attempt = change.attempt";

/// Writes every change of `batch` to run `id`, or none of them.
pub(super) async fn write_batch(
    link: &Link,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let run = batch.run.map(encode_run_state);
    let (tasks, started, processes, finished) = (
        json_rows(&batch.tasks),
        json_rows(&batch.started),
        json_rows(&batch.processes),
        json_rows(&batch.finished),
    );
    link.call(|connection| {
        let mut statement = match connection.prepare_cached(APPLY.as_str()) {
            Ok(statement) => statement,
            Err(_) if !has_apply_program(connection)? => {
                create_apply_program(connection)?;
                connection.prepare_cached(APPLY.as_str())?
            }
            Err(error) => return Err(error.into()),
        };
        let result = statement.execute(params![
            id.0,
            run.as_ref().map(|run| run.state),
            run.as_ref().and_then(|run| run.started_at),
            run.as_ref().and_then(|run| run.finished_at),
            tasks,
            started,
            processes,
            finished,
            row_count(batch.tasks.len()),
            row_count(batch.processes.len()),
            row_count(batch.finished.len()),
        ]);
        match result {
            Ok(_) => Ok(()),
            Err(error) if is_refusal(&error) => {
                Err(culprit(connection, id, batch)?.unwrap_or(StoreError::Query(error)))
            }
            Err(error) => Err(error.into()),
        }
    })
    .await
}

fn has_apply_program(connection: &Connection) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE name = 'apply_batch')",
        [],
        |row| row.get(0),
    )
}

/// A row count as SQLite compares it with `changes()`.
fn row_count(rows: usize) -> i64 {
    i64::try_from(rows).expect("a batch holds fewer than 2^63 rows")
}

/// Whether [`APPLY`] failed because of the batch: a guard of the trigger, or a constraint
/// broken by `INSERT_STARTED`, the one statement that writes keys.
fn is_refusal(error: &rusqlite::Error) -> bool {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    | rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
            ) || message
                .as_deref()
                .is_some_and(|message| message.starts_with(REFUSED))
        }
        _ => false,
    }
}

/// The error that names the first change at fault in a refused batch: checked by kind in
/// the order the trigger writes them (the run, tasks, started attempts, processes, ends),
/// then in batch order, as statements sent one by one would have failed. SQLite undid the
/// whole batch: attempts it started count as started for its processes and ends. `None`
/// when no change is at fault, and the error is the one to report.
fn culprit(
    connection: &Connection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<StoreError>, StoreError> {
    if !run_exists(connection, id)? {
        return Ok(Some(StoreError::NoSuchRun(id)));
    }
    if let Some(task) = first_missing_task(connection, id, batch)? {
        return Ok(Some(StoreError::NoSuchTask { run: id, task }));
    }
    if let Some(error) = first_unstartable_attempt(connection, id, batch)? {
        return Ok(Some(error));
    }
    let started: HashSet<(&str, u32)> = batch
        .started
        .iter()
        .map(|row| (row.task, row.attempt))
        .collect();
    let processes: Vec<_> = batch
        .processes
        .iter()
        .filter(|row| !started.contains(&(row.task, row.attempt)))
        .collect();
    if let Some(error) = first_missing_attempt(connection, id, &processes)? {
        return Ok(Some(error));
    }
    let finished: Vec<_> = batch
        .finished
        .iter()
        .filter(|row| !started.contains(&(row.task, row.attempt)))
        .collect();
    first_missing_attempt(connection, id, &finished)
}

// The queries that name the change at fault, in batch order (`key` is the index in the JSON
// array). They run only when a batch was refused, and look each row up by its key.

const FIRST_MISSING_TASK: &str = "
    SELECT change.value ->> '$.task' FROM json_each(?2) AS change
    WHERE NOT EXISTS (SELECT 1 FROM task_instances
                      WHERE run_id = ?1 AND task = change.value ->> '$.task')
    ORDER BY change.key LIMIT 1";

const FIRST_UNSTARTABLE_ATTEMPT: &str = "
    SELECT change.value ->> '$.task', change.value ->> '$.attempt',
           EXISTS (SELECT 1 FROM task_instances
                   WHERE run_id = ?1 AND task = change.value ->> '$.task')
    FROM json_each(?2) AS change
    WHERE NOT EXISTS (SELECT 1 FROM task_instances
                      WHERE run_id = ?1 AND task = change.value ->> '$.task')
       OR EXISTS (SELECT 1 FROM attempts
                  WHERE run_id = ?1 AND task = change.value ->> '$.task'
                    AND attempt = change.value ->> '$.attempt')
    ORDER BY change.key LIMIT 1";

const FIRST_MISSING_ATTEMPT: &str = "
    SELECT change.value ->> '$.task', change.value ->> '$.attempt'
    FROM json_each(?2) AS change
    WHERE NOT EXISTS (SELECT 1 FROM attempts
                      WHERE run_id = ?1 AND task = change.value ->> '$.task'
                        AND attempt = change.value ->> '$.attempt')
    ORDER BY change.key LIMIT 1";

/// The first task of the batch that the run does not have.
fn first_missing_task(
    connection: &Connection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<TaskName>, StoreError> {
    if batch.tasks.is_empty() {
        return Ok(None);
    }
    let missing: Option<String> = connection
        .query_row(
            FIRST_MISSING_TASK,
            params![id.0, json_rows(&batch.tasks)],
            |row| row.get(0),
        )
        .optional()?;
    Ok(missing.map(TaskName::new))
}

/// The error for the first attempt the batch cannot start: its task is unknown, or it was
/// started before.
fn first_unstartable_attempt(
    connection: &Connection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<StoreError>, StoreError> {
    if batch.started.is_empty() {
        return Ok(None);
    }
    let culprit: Option<(String, i64, bool)> = connection
        .query_row(
            FIRST_UNSTARTABLE_ATTEMPT,
            params![id.0, json_rows(&batch.started)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((task, attempt, has_task)) = culprit else {
        return Ok(None);
    };
    let task = TaskName::new(task);
    Ok(Some(if has_task {
        StoreError::AttemptExists {
            run: id,
            task,
            attempt: decode_attempt(attempt, "attempt")?,
        }
    } else {
        StoreError::NoSuchTask { run: id, task }
    }))
}

/// The error for the first attempt of `rows` that was never started.
fn first_missing_attempt<T: Serialize>(
    connection: &Connection,
    id: RunId,
    rows: &[T],
) -> Result<Option<StoreError>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let missing: Option<(String, i64)> = connection
        .query_row(
            FIRST_MISSING_ATTEMPT,
            params![id.0, json_rows(rows)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    missing
        .map(|(task, attempt)| {
            Ok(StoreError::NoSuchAttempt {
                run: id,
                task: TaskName::new(task),
                attempt: decode_attempt(attempt, "attempt")?,
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use tidewater_core::{
        Attempt, AttemptOutcome, Change, DataInterval, FailureReason, ProcessIdentity, RunState,
        TaskInstance, TaskState, WorkflowName,
    };

    use super::*;
    use crate::{NewRun, RunStore, RunTrigger, SqliteStore};

    /// Regression: joined directly with `json_each`, SQLite chose to loop over every task
    /// instance of the run and scan the JSON for each, and 10,000 task changes took minutes.
    /// Every statement must find each row of `task_instances` or `attempts` by its whole key.
    /// SQLite does not explain the statements of a trigger: they are explained on their own,
    /// with `NEW`'s columns as parameters (SQLite plans both as values known at the start).
    #[tokio::test]
    async fn the_bulk_statements_look_rows_up_by_key() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("plan.sqlite"))
            .await
            .expect("open");
        let statements = [
            ("UPDATE_TASKS", outside_the_trigger(UPDATE_TASKS)),
            ("INSERT_STARTED", outside_the_trigger(INSERT_STARTED)),
            ("UPDATE_PROCESSES", outside_the_trigger(UPDATE_PROCESSES)),
            ("UPDATE_FINISHED", outside_the_trigger(UPDATE_FINISHED)),
            ("FIRST_MISSING_TASK", FIRST_MISSING_TASK.to_owned()),
            (
                "FIRST_UNSTARTABLE_ATTEMPT",
                FIRST_UNSTARTABLE_ATTEMPT.to_owned(),
            ),
            ("FIRST_MISSING_ATTEMPT", FIRST_MISSING_ATTEMPT.to_owned()),
        ];
        for (name, statement) in statements {
            let plan: Vec<String> = store
                .link
                .call(|connection| {
                    // Unbound parameters: the plan does not depend on their values.
                    let mut explain =
                        connection.prepare(&format!("EXPLAIN QUERY PLAN {statement}"))?;
                    let mut rows = explain.raw_query();
                    let mut plan = Vec::new();
                    while let Some(row) = rows.next()? {
                        plan.push(row.get("detail")?);
                    }
                    Ok(plan)
                })
                .await
                .expect("explain");
            for step in &plan {
                let touches_rows = step.contains(" task_instances") || step.contains(" attempts");
                if touches_rows {
                    assert!(
                        step.starts_with("SEARCH") && step.contains("task=?"),
                        "{name} reads rows without their key: {step}\n{plan:#?}"
                    );
                }
            }
        }
    }

    /// A statement of the trigger with `NEW.column` replaced by the column's parameter of
    /// `APPLY`.
    fn outside_the_trigger(statement: &str) -> String {
        let mut columns: Vec<(usize, &str)> = BATCH_COLUMNS.into_iter().enumerate().collect();
        // `NEW.finished` would otherwise replace the start of `NEW.finished_count`.
        columns.sort_by_key(|(_, column)| std::cmp::Reverse(column.len()));
        let mut statement = statement.to_owned();
        for (index, column) in columns {
            statement = statement.replace(&format!("NEW.{column}"), &format!("?{}", index + 1));
        }
        assert!(!statement.contains("NEW."), "{statement}");
        statement
    }

    /// Regression guard: a query string that differs between calls (built from the batch's
    /// shape, say) is prepared anew each time, trigger program included, which costs more
    /// than the rest of a small `apply`. `APPLY` must be prepared by the first `apply` and
    /// reused by every other.
    #[tokio::test]
    async fn the_apply_statement_is_prepared_once() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("cache.sqlite"))
            .await
            .expect("open");
        let run = store.create_run(one_task_run()).await.expect("create_run");
        let task = TaskName::new("task");
        let batches = [
            vec![Change::Run(RunState::Running { started_at: AT })],
            vec![
                Change::Task {
                    task: task.clone(),
                    instance: TaskInstance {
                        state: TaskState::Running {
                            attempt: Attempt(1),
                            started_at: AT,
                        },
                        last_attempt: 1,
                        ..TaskInstance::new()
                    },
                },
                start(1),
                Change::AttemptProcess {
                    task: task.clone(),
                    attempt: Attempt(1),
                    process: ProcessIdentity {
                        pid: 10,
                        start_ticks: 20,
                    },
                },
            ],
            vec![Change::AttemptFinished {
                task,
                attempt: Attempt(1),
                finished_at: AT,
                outcome: AttemptOutcome::Failed {
                    reason: FailureReason::Lost,
                },
            }],
        ];
        let before = cached_statements(&store).await;
        let mut counts = Vec::new();
        for batch in &batches {
            store.apply(run.id, batch).await.expect("apply");
            counts.push(cached_statements(&store).await);
        }
        assert_eq!(counts, [before + 1; 3]);
    }

    /// An `apply` that finds the file locked by another process waits asynchronously. If it
    /// is dropped while waiting, nothing of it is written and the connection is left outside
    /// any transaction: later writes work.
    #[tokio::test]
    async fn an_apply_dropped_while_waiting_for_the_lock_leaves_no_transaction_open() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("cancel.sqlite");
        let store = SqliteStore::open(&path).await.expect("open");
        let run = store.create_run(one_task_run()).await.expect("create_run");
        // Another process, holding the write lock until told otherwise.
        let other_process = Connection::open(&path).expect("connect");
        other_process
            .execute_batch("BEGIN IMMEDIATE")
            .expect("take the write lock");
        // `async_trait` boxes the future: dropping it below drops the `apply`.
        let changes = [start(1)];
        let mut cancelled = store.apply(run.id, &changes);
        let is_pending = std::future::poll_fn(|context| {
            std::task::Poll::Ready(cancelled.as_mut().poll(context).is_pending())
        })
        .await;
        assert!(is_pending, "`apply` cannot finish while the file is locked");
        drop(cancelled);
        let is_outside_a_transaction = store
            .link
            .call(|connection| Ok(connection.is_autocommit()))
            .await
            .expect("look at the connection");
        assert!(is_outside_a_transaction);
        other_process
            .execute_batch("ROLLBACK")
            .expect("release the write lock");

        store
            .apply(run.id, &[start(2)])
            .await
            .expect("apply after a dropped apply");
        let attempts: Vec<Attempt> = store
            .attempts(run.id, None)
            .await
            .expect("attempts")
            .into_iter()
            .map(|record| record.attempt)
            .collect();
        assert_eq!(attempts, [Attempt(2)]);
    }

    const AT: chrono::DateTime<chrono::Utc> = chrono::DateTime::UNIX_EPOCH;

    fn one_task_run() -> NewRun {
        NewRun {
            workflow: WorkflowName::new("one_task"),
            interval: DataInterval::new(AT, AT + chrono::Duration::hours(1)).expect("start < end"),
            trigger: RunTrigger::Manual,
            params: serde_json::Map::new(),
            workflow_source: String::new(),
            workflow_hash: String::new(),
            tasks: vec![TaskName::new("task")],
            created_at: AT,
            backfill: None,
        }
    }

    fn start(attempt: u32) -> Change {
        Change::AttemptStarted {
            task: TaskName::new("task"),
            attempt: Attempt(attempt),
            started_at: AT,
        }
    }

    /// How many statements the store's connection holds prepared (SQLite's own list of them,
    /// which the statement cache keeps alive).
    async fn cached_statements(store: &SqliteStore) -> usize {
        store
            .link
            .call(|connection| {
                let mut count = 0;
                // SAFETY: the handle is the live connection, held locked by `call`; the loop
                // only walks SQLite's list of its statements and touches none of them.
                unsafe {
                    let handle = connection.handle();
                    let mut statement =
                        rusqlite::ffi::sqlite3_next_stmt(handle, std::ptr::null_mut());
                    while !statement.is_null() {
                        count += 1;
                        statement = rusqlite::ffi::sqlite3_next_stmt(handle, statement);
                    }
                }
                Ok(count)
            })
            .await
            .expect("count the prepared statements")
    }
}
