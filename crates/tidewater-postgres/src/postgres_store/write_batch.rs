//! Writes a [`Batch`] in one transaction: the statements and their order are SQLite's
//! (`tidewater-sqlite`'s `write_batch.rs`), so the change feed reads the same in both.
//!
//! Each statement is prepared once per connection ([`Statements`]). The transaction takes
//! the feed's lock first (see `lock_feed`). A row refused is found out
//! in the transaction; what it means (an unknown run, task or attempt) is asked after the
//! rollback, since PostgreSQL refuses every statement of a transaction after an error.

use std::collections::HashSet;

use tidewater_core::{Attempt, ProcessIdentity, RunId, TaskName};
use tidewater_store::StoreError;
use tokio_postgres::{Client, Transaction};

use super::batch::{Batch, FinishedRow, NotificationRow, ProcessRow, StartedRow, TaskRow};
use super::codec::{RunStateColumns, encode_process, encode_run_state};
use super::failure::{OrStore, is_foreign_key_violation, is_unique_violation};
use super::pool::Statements;
use super::{lock_feed, run_exists, task_exists};

const UPDATE_RUN: &str = "
    UPDATE runs SET state = $2, started_at = $3, finished_at = $4 WHERE id = $1";

const UPDATE_TASK: &str = "
    UPDATE task_instances
    SET state = $3, attempt = $4, queued_since = $5, started_at = $6, finished_at = $7,
        not_before = $8, last_attempt = $9, attempt_base = $10, output = $11,
        lost_attempts = $12
    WHERE run_id = $1 AND task = $2";

const INSERT_STARTED: &str = "
    INSERT INTO attempts (run_id, task, attempt, started_at) VALUES ($1, $2, $3, $4)";

const UPDATE_PROCESS: &str = "
    UPDATE attempts SET pid = $4, start_ticks = $5
    WHERE run_id = $1 AND task = $2 AND attempt = $3";

const UPDATE_FINISHED: &str = "
    UPDATE attempts
    SET finished_at = $4, outcome = $5, output = $6, failure = $7, exit_code = $8,
        signal = $9, message = $10, failure_class = $11
    WHERE run_id = $1 AND task = $2 AND attempt = $3";

const CHECK_OWNER: &str = "
    SELECT owner_pid IS NOT DISTINCT FROM $2 AND owner_start_ticks IS NOT DISTINCT FROM $3
    FROM runs WHERE id = $1 FOR UPDATE";

const INSERT_NOTIFICATION: &str = "
    INSERT INTO notifications (run_id, event, task, attempt, created_at, state, due_at)
    VALUES ($1, $2, $3, $4, $5, 'pending', $5)
    ON CONFLICT (run_id, event, task, attempt) DO NOTHING";

/// Writes every change of `batch` to run `id`, or none of them; with `owner`, only while
/// `owner` owns the run (`apply_owned`).
pub(super) async fn write_batch(
    client: &mut Client,
    statements: &mut Statements,
    id: RunId,
    owner: Option<ProcessIdentity>,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let run = batch.run.map(encode_run_state);
    let transaction = client.transaction().await.db()?;
    let written = async {
        lock_feed(&transaction).await?;
        if let Some(owner) = owner {
            check_owner(&transaction, statements, id, owner).await?;
        }
        write_rows(&transaction, statements, id, run.as_ref(), batch).await
    }
    .await;
    match written {
        Ok(()) => transaction.commit().await.db(),
        Err(error) => {
            transaction.rollback().await.db()?;
            Err(explain(client, id, error).await?)
        }
    }
}

/// What a refused row means, asked outside the failed transaction.
async fn explain(client: &Client, id: RunId, error: StoreError) -> Result<StoreError, StoreError> {
    let error = match error {
        // Starting an attempt broke a key: its task is unknown, or it was started before.
        StoreError::AttemptExists { run, task, attempt } => {
            if task_exists(client, id, &task).await? {
                StoreError::AttemptExists { run, task, attempt }
            } else {
                StoreError::NoSuchTask { run, task }
            }
        }
        other => other,
    };
    Ok(match error {
        StoreError::NoSuchTask { .. } | StoreError::NoSuchAttempt { .. }
            if !run_exists(client, id).await? =>
        {
            StoreError::NoSuchRun(id)
        }
        other => other,
    })
}

async fn write_rows(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    run: Option<&RunStateColumns<'_>>,
    batch: &Batch<'_>,
) -> Result<(), StoreError> {
    let (run_first, run_last) = match run {
        Some(run) if run.finished_at.is_some() => (None, Some(run)),
        other => (other, None),
    };
    let run_is_there = match run_first {
        Some(run) => update_run(transaction, statements, id, run).await?,
        None if batch.is_empty() => run_exists(transaction, id).await?,
        None => true,
    };
    if !run_is_there {
        return Err(StoreError::NoSuchRun(id));
    }
    let started: HashSet<(&str, u32)> = batch
        .started
        .iter()
        .map(|row| (row.task, row.attempt))
        .collect();
    let (ended_now, ended_before): (Vec<&FinishedRow<'_>>, Vec<&FinishedRow<'_>>) = batch
        .finished
        .iter()
        .partition(|row| started.contains(&(row.task, row.attempt)));
    write_finished(transaction, statements, id, &ended_before).await?;
    write_tasks(transaction, statements, id, &batch.tasks).await?;
    insert_started(transaction, statements, id, &batch.started).await?;
    write_processes(transaction, statements, id, &batch.processes).await?;
    write_finished(transaction, statements, id, &ended_now).await?;
    write_notifications(transaction, statements, id, &batch.notifications).await?;
    match run_last {
        Some(run) if !update_run(transaction, statements, id, run).await? => {
            Err(StoreError::NoSuchRun(id))
        }
        _ => Ok(()),
    }
}

/// Refuses the transaction ([`StoreError::Fenced`]) unless `owner` owns run `id`. The row is
/// locked until the commit, so a takeover (`claim_owner`, an `UPDATE` of the same row) comes
/// either before this check, which then refuses, or after the commit, when these changes are
/// already what the new owner recovers from.
async fn check_owner(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    owner: ProcessIdentity,
) -> Result<(), StoreError> {
    let (pid, start_ticks) = encode_process(owner);
    let statement = statements.prepared(transaction, CHECK_OWNER).await?;
    let row = transaction
        .query_opt(&statement, &[&id.0, &pid, &start_ticks])
        .await
        .db()?;
    match row {
        None => Err(StoreError::NoSuchRun(id)),
        Some(row) if row.try_get::<_, bool>(0).db()? => Ok(()),
        Some(_) => Err(StoreError::Fenced { run: id }),
    }
}

async fn update_run(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    run: &RunStateColumns<'_>,
) -> Result<bool, StoreError> {
    let statement = statements.prepared(transaction, UPDATE_RUN).await?;
    Ok(transaction
        .execute(
            &statement,
            &[&id.0, &run.state, &run.started_at, &run.finished_at],
        )
        .await
        .db()?
        == 1)
}

async fn write_tasks(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    rows: &[TaskRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = statements.prepared(transaction, UPDATE_TASK).await?;
    for row in rows {
        let changed = transaction
            .execute(
                &statement,
                &[
                    &id.0,
                    &row.task,
                    &row.state.state,
                    &row.state.attempt,
                    &row.state.queued_since,
                    &row.state.started_at,
                    &row.state.finished_at,
                    &row.state.not_before,
                    &i64::from(row.last_attempt),
                    &i64::from(row.attempt_base),
                    &row.output,
                    &i64::from(row.lost_attempts),
                ],
            )
            .await
            .db()?;
        if changed != 1 {
            return Err(StoreError::NoSuchTask {
                run: id,
                task: TaskName::new(row.task),
            });
        }
    }
    Ok(())
}

async fn insert_started(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    rows: &[StartedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = statements.prepared(transaction, INSERT_STARTED).await?;
    for row in rows {
        let inserted = transaction
            .execute(
                &statement,
                &[&id.0, &row.task, &i64::from(row.attempt), &row.started_at],
            )
            .await
            .db();
        match inserted {
            Ok(_) => {}
            // Which key: asked by `explain`, after the rollback.
            Err(error) if is_unique_violation(&error) || is_foreign_key_violation(&error) => {
                return Err(StoreError::AttemptExists {
                    run: id,
                    task: TaskName::new(row.task),
                    attempt: Attempt(row.attempt),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

async fn write_processes(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    rows: &[ProcessRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = statements.prepared(transaction, UPDATE_PROCESS).await?;
    for row in rows {
        let changed = transaction
            .execute(
                &statement,
                &[
                    &id.0,
                    &row.task,
                    &i64::from(row.attempt),
                    &row.pid,
                    &row.start_ticks,
                ],
            )
            .await
            .db()?;
        expect_attempt(changed, id, row.task, row.attempt)?;
    }
    Ok(())
}

async fn write_notifications(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    rows: &[NotificationRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = statements
        .prepared(transaction, INSERT_NOTIFICATION)
        .await?;
    for row in rows {
        transaction
            .execute(
                &statement,
                &[
                    &id.0,
                    &row.event,
                    &row.task,
                    &i64::from(row.attempt),
                    &row.at,
                ],
            )
            .await
            .db()?;
    }
    Ok(())
}

async fn write_finished(
    transaction: &Transaction<'_>,
    statements: &mut Statements,
    id: RunId,
    rows: &[&FinishedRow<'_>],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = statements.prepared(transaction, UPDATE_FINISHED).await?;
    for row in rows {
        let outcome = &row.outcome;
        let changed = transaction
            .execute(
                &statement,
                &[
                    &id.0,
                    &row.task,
                    &i64::from(row.attempt),
                    &row.finished_at,
                    &outcome.outcome,
                    &outcome.output,
                    &outcome.failure,
                    &outcome.exit_code,
                    &outcome.signal,
                    &outcome.message,
                    &outcome.failure_class,
                ],
            )
            .await
            .db()?;
        expect_attempt(changed, id, row.task, row.attempt)?;
    }
    Ok(())
}

/// An `UPDATE` of one attempt that changed no row: the attempt was never started.
fn expect_attempt(changed: u64, id: RunId, task: &str, attempt: u32) -> Result<(), StoreError> {
    if changed == 1 {
        return Ok(());
    }
    Err(StoreError::NoSuchAttempt {
        run: id,
        task: TaskName::new(task),
        attempt: Attempt(attempt),
    })
}
