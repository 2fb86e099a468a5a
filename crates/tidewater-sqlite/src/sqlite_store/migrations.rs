//! The schema, built by the numbered scripts in `migrations/`, embedded in the binary.
//!
//! The file's `user_version` is the number of the last script applied. Opening the store
//! reads it (a header field, no lock taken) and, only when scripts are missing, applies them
//! in one `IMMEDIATE` transaction: two processes opening a new file at once then take turns,
//! and the second finds the schema up to date. Stores written before `user_version` was used
//! kept the applied scripts' numbers in a `_sqlx_migrations` table; it is read once and
//! dropped.

use rusqlite::{OptionalExtension, Transaction};
use tidewater_store::StoreError;

use super::connection::Link;
use super::failure::Failure;

/// Every script, in order; a script's number is its place in this list, counting from 1.
const MIGRATIONS: [(&str, &str); 16] = [
    ("0001_runs", include_str!("../../migrations/0001_runs.sql")),
    (
        "0002_control",
        include_str!("../../migrations/0002_control.sql"),
    ),
    (
        "0003_cancel",
        include_str!("../../migrations/0003_cancel.sql"),
    ),
    (
        "0004_attempts_without_rowid",
        include_str!("../../migrations/0004_attempts_without_rowid.sql"),
    ),
    (
        "0005_lost_attempts",
        include_str!("../../migrations/0005_lost_attempts.sql"),
    ),
    (
        "0006_failure_class",
        include_str!("../../migrations/0006_failure_class.sql"),
    ),
    (
        "0007_run_queues",
        include_str!("../../migrations/0007_run_queues.sql"),
    ),
    (
        "0008_tokens",
        include_str!("../../migrations/0008_tokens.sql"),
    ),
    (
        "0009_events",
        include_str!("../../migrations/0009_events.sql"),
    ),
    (
        "0010_runs_by_workflow_state",
        include_str!("../../migrations/0010_runs_by_workflow_state.sql"),
    ),
    (
        "0011_child_runs",
        include_str!("../../migrations/0011_child_runs.sql"),
    ),
    (
        "0012_notifications",
        include_str!("../../migrations/0012_notifications.sql"),
    ),
    (
        "0013_data_triggers",
        include_str!("../../migrations/0013_data_triggers.sql"),
    ),
    (
        "0014_streams",
        include_str!("../../migrations/0014_streams.sql"),
    ),
    (
        "0015_workers",
        include_str!("../../migrations/0015_workers.sql"),
    ),
    (
        "0016_stream_pause",
        include_str!("../../migrations/0016_stream_pause.sql"),
    ),
];

/// The `user_version` of an up-to-date file.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

pub(super) async fn migrate(link: &Link) -> Result<(), StoreError> {
    let version = link
        .call(|connection| Ok(user_version(connection)?))
        .await?;
    if version == LATEST {
        return Ok(());
    }
    check_known(version)?;
    link.write(|transaction| {
        // Read again under the write lock: another process may have migrated meanwhile.
        let mut version = user_version(transaction)?;
        if version == 0 {
            version = version_recorded_by_sqlx(transaction)?;
        }
        check_known(version)?;
        for (index, (name, script)) in MIGRATIONS.iter().enumerate() {
            if (index as i64) < version {
                continue;
            }
            transaction
                .execute_batch(script)
                .map_err(|error| StoreError::Migrate(format!("script {name}: {error}")))?;
        }
        transaction.execute_batch("DROP TABLE IF EXISTS _sqlx_migrations")?;
        transaction.pragma_update(None, "user_version", LATEST)?;
        Ok(())
    })
    .await
}

fn user_version(connection: &rusqlite::Connection) -> rusqlite::Result<i64> {
    connection.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// A newer Tidewater may have added scripts this one does not know; writing to its file
/// could break it.
fn check_known(version: i64) -> Result<(), StoreError> {
    if (0..=LATEST).contains(&version) {
        Ok(())
    } else {
        Err(StoreError::Migrate(format!(
            "the store has schema version {version}, and this tidewater knows versions up to \
             {LATEST}: it was written by a newer tidewater"
        )))
    }
}

/// The number of scripts applied to a store that recorded them in `_sqlx_migrations`
/// (numbered like the scripts here), or 0 for a new file.
fn version_recorded_by_sqlx(transaction: &Transaction<'_>) -> Result<i64, Failure> {
    let has_table: Option<i64> = transaction
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    Ok(transaction.query_row(
        "SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        |row| row.get(0),
    )?)
}
