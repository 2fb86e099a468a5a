//! Writes a [`Batch`] in one statement: one round trip to SQLite's worker thread.
//!
//! # One statement
//!
//! Every sqlx call is a message to the connection's worker thread, and every statement it
//! runs is a message back. Each wakes a thread, which costs tens of microseconds when the
//! other core is idle, and the engine waits for `apply` before it acts. `BEGIN`, a statement
//! per kind of change and `COMMIT`, sent one by one, were seven round trips and most of the
//! time of a small `apply`. One query string of all those statements saves the requests but
//! not the replies (sqlx sends back a result per statement), and measured barely faster.
//!
//! So [`APPLY`] is a single `INSERT` of the whole batch, as one row, into `apply_batch`: a
//! TEMP view whose `INSTEAD OF` trigger runs the bulk statements with the row as `NEW`, which
//! is how SQLite runs several statements as one. [`create_apply_program`] creates the view and
//! its trigger on each writer connection as it opens: TEMP, they live with the connection,
//! never in the file, and change with the code that uses them. `examples/apply_latency.rs`
//! measures the difference.
//!
//! # All or nothing, and safe to cancel
//!
//! A statement is atomic: when any part of it fails, SQLite undoes all of it. Outside an
//! explicit transaction it is also a transaction of its own, which takes the write lock as
//! it starts and waits for it with the busy timeout, as `BEGIN IMMEDIATE` does. No
//! transaction stays open across round trips, so a cancelled `apply` cannot leave one on the
//! pooled connection (the job of sqlx's `Transaction` guard): once sent, the statement runs to
//! its end and commits or fails as a whole, whether anyone awaits it or not.
//!
//! A bulk `UPDATE` that finds fewer rows than it was given is no SQL error, so the trigger
//! compares `changes()` with the count of rows after each and `RAISE`s when they differ;
//! starting an attempt of an unknown task or one started before breaks a constraint. Either
//! way the batch is refused and undone, and [`culprit`] names the change at fault.
//!
//! # Prepared once
//!
//! [`APPLY`] is a fixed string, so sqlx's statement cache keeps it, trigger program included,
//! prepared for the life of the connection; preparing it anew would cost more than the rest
//! of a small `apply`. `the_apply_statement_is_prepared_once` guards it.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::Serialize;
use sqlx::SqliteConnection;
use sqlx::error::ErrorKind;
use tidewater_core::{RunId, TaskName};

use super::batch::{Batch, json_rows};
use super::codec::{decode_attempt, encode_run_state};
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

/// Creates `apply_batch` and its trigger on a writer connection.
pub(super) async fn create_apply_program(
    connection: &mut SqliteConnection,
) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(CREATE_APPLY_PROGRAM.as_str())
        .execute(connection)
        .await
        .map(drop)
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
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let run = batch.run.map(encode_run_state);
    let result = sqlx::query(APPLY.as_str())
        .bind(id.0)
        .bind(run.as_ref().map(|run| run.state))
        .bind(run.as_ref().and_then(|run| run.started_at))
        .bind(run.as_ref().and_then(|run| run.finished_at))
        .bind(json_rows(&batch.tasks))
        .bind(json_rows(&batch.started))
        .bind(json_rows(&batch.processes))
        .bind(json_rows(&batch.finished))
        .bind(row_count(batch.tasks.len()))
        .bind(row_count(batch.processes.len()))
        .bind(row_count(batch.finished.len()))
        .execute(&mut *connection)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if is_refusal(&error) => Err(culprit(connection, id, batch)
            .await?
            .unwrap_or(StoreError::Query(error))),
        Err(error) => Err(error.into()),
    }
}

/// A row count as SQLite compares it with `changes()`.
fn row_count(rows: usize) -> i64 {
    i64::try_from(rows).expect("a batch holds fewer than 2^63 rows")
}

/// Whether [`APPLY`] failed because of the batch: a guard of the trigger, or a constraint
/// broken by `INSERT_STARTED`, the one statement that writes keys.
fn is_refusal(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|error| {
        matches!(
            error.kind(),
            ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
        ) || error.message().starts_with(REFUSED)
    })
}

/// The error that names the first change at fault in a refused batch: checked by kind in
/// the order the trigger writes them (the run, tasks, started attempts, processes, ends),
/// then in batch order, as statements sent one by one would have failed. SQLite undid the
/// whole batch: attempts it started count as started for its processes and ends. `None`
/// when no change is at fault, and the error is the one to report.
async fn culprit(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<StoreError>, StoreError> {
    if !run_exists(&mut *connection, id).await? {
        return Ok(Some(StoreError::NoSuchRun(id)));
    }
    if let Some(task) = first_missing_task(connection, id, batch).await? {
        return Ok(Some(StoreError::NoSuchTask { run: id, task }));
    }
    if let Some(error) = first_unstartable_attempt(connection, id, batch).await? {
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
    if let Some(error) = first_missing_attempt(connection, id, &processes).await? {
        return Ok(Some(error));
    }
    let finished: Vec<_> = batch
        .finished
        .iter()
        .filter(|row| !started.contains(&(row.task, row.attempt)))
        .collect();
    first_missing_attempt(connection, id, &finished).await
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
async fn first_missing_task(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<TaskName>, StoreError> {
    if batch.tasks.is_empty() {
        return Ok(None);
    }
    let missing: Option<String> = sqlx::query_scalar(FIRST_MISSING_TASK)
        .bind(id.0)
        .bind(json_rows(&batch.tasks))
        .fetch_optional(&mut *connection)
        .await?;
    Ok(missing.map(TaskName::new))
}

/// The error for the first attempt the batch cannot start: its task is unknown, or it was
/// started before.
async fn first_unstartable_attempt(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<Option<StoreError>, StoreError> {
    if batch.started.is_empty() {
        return Ok(None);
    }
    let culprit: Option<(String, i64, bool)> = sqlx::query_as(FIRST_UNSTARTABLE_ATTEMPT)
        .bind(id.0)
        .bind(json_rows(&batch.started))
        .fetch_optional(&mut *connection)
        .await?;
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
async fn first_missing_attempt<T: Serialize>(
    connection: &mut SqliteConnection,
    id: RunId,
    rows: &[T],
) -> Result<Option<StoreError>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let missing: Option<(String, i64)> = sqlx::query_as(FIRST_MISSING_ATTEMPT)
        .bind(id.0)
        .bind(json_rows(rows))
        .fetch_optional(&mut *connection)
        .await?;
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
    use sqlx::Connection;
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
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            )))
            .fetch_all(&store.writer)
            .await
            .expect("explain");
            for (_, _, _, step) in &plan {
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

    /// Regression guard: an `apply` that opened a transaction of its own in SQL (a `BEGIN`
    /// that sqlx does not track) and was cancelled while SQLite waited for the write lock
    /// would leave the writer connection inside that transaction once the lock came free,
    /// and every later write would fail to begin.
    #[tokio::test]
    async fn a_cancelled_apply_leaves_no_transaction_open() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join("cancel.sqlite");
        let store = SqliteStore::open(&path).await.expect("open");
        let run = store.create_run(one_task_run()).await.expect("create_run");
        // Another process, holding the write lock until told otherwise.
        let mut other_process = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("connect");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other_process)
            .await
            .expect("take the write lock");
        // Wait for the connection `create_run` used to be back in the pool, so that `apply`
        // takes it and sends `APPLY` on its first poll.
        while store.writer.num_idle() == 0 {
            tokio::task::yield_now().await;
        }
        // `async_trait` boxes the future: dropping it below drops the `apply`.
        let changes = [start(1)];
        let mut cancelled = store.apply(run.id, &changes);
        let is_pending = std::future::poll_fn(|context| {
            std::task::Poll::Ready(cancelled.as_mut().poll(context).is_pending())
        })
        .await;
        assert!(is_pending, "`apply` cannot finish while the file is locked");
        assert_eq!(store.writer.num_idle(), 0, "`apply` took the connection");
        drop(cancelled);
        sqlx::query("ROLLBACK")
            .execute(&mut other_process)
            .await
            .expect("release the write lock");

        store
            .apply(run.id, &[start(2)])
            .await
            .expect("apply after a cancelled apply");
        // The cancelled batch, sent before it was cancelled, applied whole or not at all.
        let attempts: Vec<Attempt> = store
            .attempts(run.id, None)
            .await
            .expect("attempts")
            .into_iter()
            .map(|record| record.attempt)
            .collect();
        assert!(
            attempts == [Attempt(1), Attempt(2)] || attempts == [Attempt(2)],
            "{attempts:?}"
        );
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

    /// How many statements the writer connection keeps prepared. A connection comes back from
    /// the pool only once its worker has finished the previous command, so the count is up to
    /// date.
    async fn cached_statements(store: &SqliteStore) -> usize {
        store
            .writer
            .acquire()
            .await
            .expect("the writer connection")
            .cached_statements_size()
    }
}
