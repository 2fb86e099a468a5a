//! Writes a [`Batch`] inside `apply`'s transaction: one statement per kind of change, each
//! over a JSON array of rows. When a statement touches fewer rows than it was given, a second
//! query finds the first change at fault, so that the error names it.

use sqlx::SqliteConnection;
use tidewater_core::{RunId, TaskName};

use super::batch::{Batch, json_rows};
use super::codec::{decode_attempt, encode_run_state};
use super::run_exists;
use crate::StoreError;

/// Writes every change of `batch` to run `id`. The caller owns the transaction: on an error
/// it rolls back, so nothing of the batch stays.
pub(super) async fn write_batch(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let is_known_run = match batch.run {
        Some(state) => {
            let columns = encode_run_state(state);
            let updated = sqlx::query(
                "UPDATE runs SET state = ?2, started_at = ?3, finished_at = ?4 WHERE id = ?1",
            )
            .bind(id.0)
            .bind(columns.state)
            .bind(columns.started_at)
            .bind(columns.finished_at)
            .execute(&mut *connection)
            .await?
            .rows_affected();
            updated == 1
        }
        None => run_exists(&mut *connection, id).await?,
    };
    if !is_known_run {
        return Err(StoreError::NoSuchRun(id));
    }
    if !batch.tasks.is_empty() {
        write_tasks(connection, id, batch).await?;
    }
    if !batch.started.is_empty() {
        write_started(connection, id, batch).await?;
    }
    if !batch.processes.is_empty() {
        let rows = json_rows(&batch.processes);
        let updated = execute(connection, UPDATE_PROCESSES, id, &rows).await?;
        if updated != batch.processes.len() as u64 {
            return Err(missing_attempt(connection, id, &rows).await?);
        }
    }
    if !batch.finished.is_empty() {
        let rows = json_rows(&batch.finished);
        let updated = execute(connection, UPDATE_FINISHED, id, &rows).await?;
        if updated != batch.finished.len() as u64 {
            return Err(missing_attempt(connection, id, &rows).await?);
        }
    }
    Ok(())
}

// The bulk statements of `apply`, one JSON row per change. Each UPDATE materializes the
// changes first, so that SQLite loops over them and finds each row by its primary key. Joined
// directly with `json_each`, SQLite loops over the run's rows instead and scans the JSON for
// each: quadratic, minutes for 10,000 tasks. `the_bulk_statements_look_rows_up_by_key` guards
// the plan.

const UPDATE_TASKS: &str = "
    WITH change AS MATERIALIZED (
        SELECT value ->> '$.task' AS task, value ->> '$.state' AS state,
               value ->> '$.attempt' AS attempt, value ->> '$.queued_since' AS queued_since,
               value ->> '$.started_at' AS started_at, value ->> '$.finished_at' AS finished_at,
               value ->> '$.not_before' AS not_before, value ->> '$.last_attempt' AS last_attempt,
               value ->> '$.attempt_base' AS attempt_base, value ->> '$.output' AS output
        FROM json_each(?2))
    UPDATE task_instances
    SET state = change.state, attempt = change.attempt, queued_since = change.queued_since,
        started_at = change.started_at, finished_at = change.finished_at,
        not_before = change.not_before, last_attempt = change.last_attempt,
        attempt_base = change.attempt_base, output = change.output
    FROM change
    WHERE task_instances.run_id = ?1 AND task_instances.task = change.task";

const INSERT_STARTED: &str = "
    INSERT INTO attempts (run_id, task, attempt, started_at)
    SELECT ?1, value ->> '$.task', value ->> '$.attempt', value ->> '$.started_at'
    FROM json_each(?2)";

const UPDATE_PROCESSES: &str = "
    WITH change AS MATERIALIZED (
        SELECT value ->> '$.task' AS task, value ->> '$.attempt' AS attempt,
               value ->> '$.pid' AS pid, value ->> '$.start_ticks' AS start_ticks
        FROM json_each(?2))
    UPDATE attempts SET pid = change.pid, start_ticks = change.start_ticks
    FROM change
    WHERE attempts.run_id = ?1 AND attempts.task = change.task
      AND attempts.attempt = change.attempt";

const UPDATE_FINISHED: &str = "
    WITH change AS MATERIALIZED (
        SELECT value ->> '$.task' AS task, value ->> '$.attempt' AS attempt,
               value ->> '$.finished_at' AS finished_at, value ->> '$.outcome' AS outcome,
               value ->> '$.output' AS output, value ->> '$.failure' AS failure,
               value ->> '$.exit_code' AS exit_code, value ->> '$.signal' AS signal,
               value ->> '$.message' AS message
        FROM json_each(?2))
    UPDATE attempts
    SET finished_at = change.finished_at, outcome = change.outcome, output = change.output,
        failure = change.failure, exit_code = change.exit_code, signal = change.signal,
        message = change.message
    FROM change
    WHERE attempts.run_id = ?1 AND attempts.task = change.task
      AND attempts.attempt = change.attempt";

// The queries that name the change at fault, in batch order (`key` is the index in the JSON
// array). They run only when a statement failed, and look each row up by its key.

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

/// Writes the last record of each task. Fewer rows updated than sent means a task the run
/// does not have.
async fn write_tasks(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let rows = json_rows(&batch.tasks);
    let updated = execute(connection, UPDATE_TASKS, id, &rows).await?;
    if updated == batch.tasks.len() as u64 {
        return Ok(());
    }
    let missing: Option<String> = sqlx::query_scalar(FIRST_MISSING_TASK)
        .bind(id.0)
        .bind(rows.as_str())
        .fetch_optional(&mut *connection)
        .await?;
    Err(match missing {
        Some(task) => StoreError::NoSuchTask {
            run: id,
            task: TaskName::new(task),
        },
        None => bug("fewer task instances updated than sent, yet none is missing"),
    })
}

/// Inserts the started attempts. A constraint failure means an unknown task (foreign key) or
/// an attempt started before (primary key).
async fn write_started(
    connection: &mut SqliteConnection,
    id: RunId,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let rows = json_rows(&batch.started);
    let error = match execute(connection, INSERT_STARTED, id, &rows).await {
        Ok(_) => return Ok(()),
        Err(StoreError::Query(error)) => error,
        Err(other) => return Err(other),
    };
    let is_constraint = error
        .as_database_error()
        .is_some_and(|database_error| database_error.kind() != sqlx::error::ErrorKind::Other);
    if !is_constraint {
        return Err(error.into());
    }
    // SQLite undid the failed statement only: the transaction is still there to be read.
    let culprit: Option<(String, i64, bool)> = sqlx::query_as(FIRST_UNSTARTABLE_ATTEMPT)
        .bind(id.0)
        .bind(rows.as_str())
        .fetch_optional(&mut *connection)
        .await?;
    let Some((task, attempt, has_task)) = culprit else {
        return Err(error.into());
    };
    let task = TaskName::new(task);
    Err(if has_task {
        StoreError::AttemptExists {
            run: id,
            task,
            attempt: decode_attempt(attempt, "attempt")?,
        }
    } else {
        StoreError::NoSuchTask { run: id, task }
    })
}

/// The error for the first attempt of `rows` that was never started.
async fn missing_attempt(
    connection: &mut SqliteConnection,
    id: RunId,
    rows: &str,
) -> Result<StoreError, StoreError> {
    let missing: Option<(String, i64)> = sqlx::query_as(FIRST_MISSING_ATTEMPT)
        .bind(id.0)
        .bind(rows)
        .fetch_optional(&mut *connection)
        .await?;
    Ok(match missing {
        Some((task, attempt)) => StoreError::NoSuchAttempt {
            run: id,
            task: TaskName::new(task),
            attempt: decode_attempt(attempt, "attempt")?,
        },
        None => bug("fewer attempts updated than sent, yet none is missing"),
    })
}

/// Runs a bulk statement over `rows`, returning how many rows it changed.
async fn execute(
    connection: &mut SqliteConnection,
    statement: &'static str,
    id: RunId,
    rows: &str,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(statement)
        .bind(id.0)
        .bind(rows)
        .execute(&mut *connection)
        .await?
        .rows_affected())
}

/// A row count that contradicts the statement that produced it. Reported as a corrupt store,
/// the error that says "this is a bug in tidewater".
fn bug(description: &str) -> StoreError {
    StoreError::Corrupt {
        what: "row count",
        value: description.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    /// Regression: joined directly with `json_each`, SQLite chose to loop over every task
    /// instance of the run and scan the JSON for each, and 10,000 task changes took minutes.
    /// Every statement must find each row of `task_instances` or `attempts` by its whole key.
    #[tokio::test]
    async fn the_bulk_statements_look_rows_up_by_key() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let store = SqliteStore::open(&folder.path().join("plan.sqlite"))
            .await
            .expect("open");
        let statements = [
            ("UPDATE_TASKS", UPDATE_TASKS),
            ("INSERT_STARTED", INSERT_STARTED),
            ("UPDATE_PROCESSES", UPDATE_PROCESSES),
            ("UPDATE_FINISHED", UPDATE_FINISHED),
            ("FIRST_MISSING_TASK", FIRST_MISSING_TASK),
            ("FIRST_UNSTARTABLE_ATTEMPT", FIRST_UNSTARTABLE_ATTEMPT),
            ("FIRST_MISSING_ATTEMPT", FIRST_MISSING_ATTEMPT),
        ];
        for (name, statement) in statements {
            let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            )))
            .bind(1_i64)
            .bind("[]")
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
}
