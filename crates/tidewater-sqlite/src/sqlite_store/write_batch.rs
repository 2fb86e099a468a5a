//! Writes a [`Batch`] in one transaction, one prepared statement per row.
//!
//! # All or nothing
//!
//! The batch is one write transaction ([`Link::write`], `BEGIN IMMEDIATE`): when any row is
//! refused, nothing of the batch stays. The rows go in the order of the batch's kinds (the
//! run unless it ends, ends of attempts started before, tasks, started attempts, processes,
//! ends of the attempts just started, the run's end: the order of the change feed's events,
//! which triggers record row by row) and, within a kind, in batch order, so the first row
//! refused is a change at fault. A change to a row that does not exist is no SQL error: each `UPDATE` checks that
//! it changed one row. Starting an attempt of an unknown task, or one started before, breaks
//! a constraint, and the error names which.
//!
//! # Prepared once
//!
//! Each statement is fixed text, kept prepared in the connection's statement cache and bound
//! to each row's values: a batch parses no SQL and encodes no JSON. (This replaced one
//! statement over JSON arrays of rows, run by a TEMP trigger, which saved round trips to an
//! async driver's worker thread. Called directly, the connection does a row in a few
//! microseconds, and the trigger program cost a small batch more than its rows:
//! preparing it on each connection, and encoding and decoding the JSON.)

use std::collections::HashSet;

use rusqlite::{CachedStatement, Transaction, params};
use tidewater_core::{Attempt, RunId, TaskName};
use tidewater_store::StoreError;

use super::batch::{Batch, FinishedRow, NotificationRow, ProcessRow, StartedRow, TaskRow};
use super::codec::{RunStateColumns, encode_run_state};
use super::connection::{Link, is_unique_violation};
use super::failure::Failure;
use super::{run_exists, task_exists};

const UPDATE_RUN: &str = "
    UPDATE runs SET state = ?2, started_at = ?3, finished_at = ?4 WHERE id = ?1";

const UPDATE_TASK: &str = "
    UPDATE task_instances
    SET state = ?3, attempt = ?4, queued_since = ?5, started_at = ?6, finished_at = ?7,
        not_before = ?8, last_attempt = ?9, attempt_base = ?10, output = ?11,
        lost_attempts = ?12
    WHERE run_id = ?1 AND task = ?2";

const INSERT_STARTED: &str = "
    INSERT INTO attempts (run_id, task, attempt, started_at) VALUES (?1, ?2, ?3, ?4)";

const UPDATE_PROCESS: &str = "
    UPDATE attempts SET pid = ?4, start_ticks = ?5
    WHERE run_id = ?1 AND task = ?2 AND attempt = ?3";

const UPDATE_FINISHED: &str = "
    UPDATE attempts
    SET finished_at = ?4, outcome = ?5, output = ?6, failure = ?7, exit_code = ?8,
        signal = ?9, message = ?10, failure_class = ?11
    WHERE run_id = ?1 AND task = ?2 AND attempt = ?3";

const INSERT_NOTIFICATION: &str = "
    INSERT INTO notifications (run_id, event, task, attempt, created_at, state, due_at)
    VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?5)
    ON CONFLICT (run_id, event, task, attempt) DO NOTHING";

/// Writes every change of `batch` to run `id`, or none of them.
pub(super) async fn write_batch(
    link: &Link,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let run = batch.run.map(encode_run_state);
    link.write(
        |transaction| match write_rows(transaction, id, run.as_ref(), batch) {
            // Whether the run exists is asked only here, when a row was missing: the run itself
            // may be what is missing.
            Err(Failure::Store(
                StoreError::NoSuchTask { .. } | StoreError::NoSuchAttempt { .. },
            )) if !run_exists(transaction, id)? => Err(StoreError::NoSuchRun(id).into()),
            result => result,
        },
    )
    .await
}

fn write_rows(
    transaction: &Transaction<'_>,
    id: RunId,
    run: Option<&RunStateColumns>,
    batch: &Batch<'_>,
) -> Result<(), Failure> {
    // The run's state goes first, unless it is the run's end: then last. The change feed's
    // triggers record events in statement order, and a reader should see a run start before
    // its tasks do and end after them.
    let (run_first, run_last) = match run {
        Some(run) if run.finished_at.is_some() => (None, Some(run)),
        other => (other, None),
    };
    let run_is_there = match run_first {
        Some(run) => update_run(transaction, id, run)?,
        // Any other change finds out below; a batch without changes asks.
        None if batch.is_empty() => run_exists(transaction, id)?,
        None => true,
    };
    if !run_is_there {
        return Err(StoreError::NoSuchRun(id).into());
    }
    // Attempts that end before tasks change, and tasks before attempts start, so that the
    // feed reads "attempt ended, its task failed, the next task started" in that order. An
    // attempt started in this batch can only end after its row is inserted.
    let started: HashSet<(&str, u32)> = if batch.finished.is_empty() {
        HashSet::new()
    } else {
        batch
            .started
            .iter()
            .map(|row| (row.task, row.attempt))
            .collect()
    };
    let (ended_now, ended_before): (Vec<&FinishedRow<'_>>, Vec<&FinishedRow<'_>>) = batch
        .finished
        .iter()
        .partition(|row| started.contains(&(row.task, row.attempt)));
    write_finished(transaction, id, &ended_before)?;
    write_tasks(transaction, id, &batch.tasks)?;
    insert_started(transaction, id, &batch.started)?;
    write_processes(transaction, id, &batch.processes)?;
    write_finished(transaction, id, &ended_now)?;
    write_notifications(transaction, id, &batch.notifications)?;
    match run_last {
        Some(run) if !update_run(transaction, id, run)? => Err(StoreError::NoSuchRun(id).into()),
        _ => Ok(()),
    }
}

/// Writes the run's state; false when there is no such run.
fn update_run(
    transaction: &Transaction<'_>,
    id: RunId,
    run: &RunStateColumns,
) -> Result<bool, Failure> {
    Ok(transaction.prepare_cached(UPDATE_RUN)?.execute(params![
        id.0,
        run.state,
        run.started_at,
        run.finished_at
    ])? == 1)
}

fn write_tasks(
    transaction: &Transaction<'_>,
    id: RunId,
    rows: &[TaskRow<'_>],
) -> Result<(), Failure> {
    for_each_row(transaction, UPDATE_TASK, rows, |statement, row| {
        let changed = statement.execute(params![
            id.0,
            row.task,
            row.state.state,
            row.state.attempt,
            row.state.queued_since,
            row.state.started_at,
            row.state.finished_at,
            row.state.not_before,
            row.last_attempt,
            row.attempt_base,
            row.output,
            row.lost_attempts,
        ])?;
        if changed != 1 {
            return Err(StoreError::NoSuchTask {
                run: id,
                task: TaskName::new(row.task),
            }
            .into());
        }
        Ok(())
    })
}

fn insert_started(
    transaction: &Transaction<'_>,
    id: RunId,
    rows: &[StartedRow<'_>],
) -> Result<(), Failure> {
    for_each_row(
        transaction,
        INSERT_STARTED,
        rows,
        |statement, row| match statement.execute(params![
            id.0,
            row.task,
            row.attempt,
            row.started_at
        ]) {
            Ok(_) => Ok(()),
            Err(error) if is_constraint(&error) => {
                let task = TaskName::new(row.task);
                Err(if task_exists(transaction, id, &task)? {
                    StoreError::AttemptExists {
                        run: id,
                        task,
                        attempt: Attempt(row.attempt),
                    }
                } else {
                    StoreError::NoSuchTask { run: id, task }
                }
                .into())
            }
            Err(error) => Err(error.into()),
        },
    )
}

fn write_processes(
    transaction: &Transaction<'_>,
    id: RunId,
    rows: &[ProcessRow<'_>],
) -> Result<(), Failure> {
    for_each_row(transaction, UPDATE_PROCESS, rows, |statement, row| {
        let changed = statement.execute(params![
            id.0,
            row.task,
            row.attempt,
            row.pid,
            row.start_ticks
        ])?;
        expect_attempt(changed, id, row.task, row.attempt)
    })
}

fn write_notifications(
    transaction: &Transaction<'_>,
    id: RunId,
    rows: &[NotificationRow<'_>],
) -> Result<(), Failure> {
    for_each_row(transaction, INSERT_NOTIFICATION, rows, |statement, row| {
        statement.execute(params![id.0, row.event, row.task, row.attempt, row.at])?;
        Ok(())
    })
}

fn write_finished(
    transaction: &Transaction<'_>,
    id: RunId,
    rows: &[&FinishedRow<'_>],
) -> Result<(), Failure> {
    for_each_row(transaction, UPDATE_FINISHED, rows, |statement, row| {
        let outcome = &row.outcome;
        let changed = statement.execute(params![
            id.0,
            row.task,
            row.attempt,
            row.finished_at,
            outcome.outcome,
            outcome.output,
            outcome.failure,
            outcome.exit_code,
            outcome.signal,
            outcome.message,
            outcome.failure_class,
        ])?;
        expect_attempt(changed, id, row.task, row.attempt)
    })
}

/// Runs `write` for each of `rows` with `statement`, from the cache. A batch prepares only
/// the statements it uses: none when `rows` is empty.
fn for_each_row<T>(
    transaction: &Transaction<'_>,
    statement: &str,
    rows: &[T],
    mut write: impl FnMut(&mut CachedStatement<'_>, &T) -> Result<(), Failure>,
) -> Result<(), Failure> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut statement = transaction.prepare_cached(statement)?;
    rows.iter().try_for_each(|row| write(&mut statement, row))
}

/// An `UPDATE` of one attempt that changed no row: the attempt was never started.
fn expect_attempt(changed: usize, id: RunId, task: &str, attempt: u32) -> Result<(), Failure> {
    if changed == 1 {
        return Ok(());
    }
    Err(StoreError::NoSuchAttempt {
        run: id,
        task: TaskName::new(task),
        attempt: Attempt(attempt),
    }
    .into())
}

/// A key broken by starting an attempt: its task is unknown (foreign key), or it was started
/// before (primary key).
fn is_constraint(error: &rusqlite::Error) -> bool {
    is_unique_violation(error)
        || error
            .sqlite_error()
            .is_some_and(|error| error.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

#[cfg(test)]
mod tests {
    use tidewater_core::{
        Attempt, AttemptOutcome, Change, DataInterval, FailureReason, ProcessIdentity, RunState,
        TaskInstance, TaskState, WorkflowName,
    };

    use super::*;
    use crate::SqliteStore;
    use tidewater_store::{NewRun, RunStore, RunTrigger};

    /// Every statement finds the row it changes by its whole key: a plan that scans the run's
    /// rows instead makes a batch of 10,000 task changes quadratic.
    #[tokio::test]
    async fn the_statements_look_rows_up_by_key() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("plan.sqlite"))
            .await
            .expect("open");
        let statements = [
            ("UPDATE_TASK", UPDATE_TASK),
            ("UPDATE_PROCESS", UPDATE_PROCESS),
            ("UPDATE_FINISHED", UPDATE_FINISHED),
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
            assert!(!plan.is_empty(), "{name}: no plan");
            for step in &plan {
                assert!(
                    step.starts_with("SEARCH") && step.contains("task=?"),
                    "{name} reads rows without their key: {step}\n{plan:#?}"
                );
            }
        }
    }

    /// Regression guard: a statement whose text differs between calls (built from the
    /// batch's shape, say) is prepared anew each time, which costs more than the rest of a
    /// small `apply`. Once every kind of change has been written, later batches prepare
    /// nothing.
    #[tokio::test]
    async fn the_statements_are_prepared_once() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("cache.sqlite"))
            .await
            .expect("open");
        let run = store.create_run(one_task_run()).await.expect("create_run");
        let task = TaskName::new("task");
        let batches = |attempt: u32| {
            [
                vec![Change::Run(RunState::Running { started_at: AT })],
                vec![
                    Change::Task {
                        task: task.clone(),
                        instance: TaskInstance {
                            state: TaskState::Running {
                                attempt: Attempt(attempt),
                                started_at: AT,
                            },
                            last_attempt: attempt,
                            ..TaskInstance::new()
                        },
                    },
                    start(attempt),
                    Change::AttemptProcess {
                        task: task.clone(),
                        attempt: Attempt(attempt),
                        process: ProcessIdentity {
                            pid: 10,
                            start_ticks: 20,
                        },
                    },
                ],
                vec![Change::AttemptFinished {
                    task: task.clone(),
                    attempt: Attempt(attempt),
                    finished_at: AT,
                    outcome: AttemptOutcome::Failed {
                        reason: FailureReason::Lost,
                    },
                }],
            ]
        };
        let mut counts = Vec::new();
        for attempt in 1..=3 {
            for batch in &batches(attempt) {
                store.apply(run.id, batch).await.expect("apply");
            }
            counts.push(cached_statements(&store).await);
        }
        assert_eq!(counts, [counts[0]; 3]);
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
        let other_process = rusqlite::Connection::open(&path).expect("connect");
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
