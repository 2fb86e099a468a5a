//! The schema, built by the numbered scripts in `migrations/`, embedded in the binary, and
//! recorded in `tidewater_migrations` as they are applied.
//!
//! Opening the store migrates under a session-level advisory lock of the schema: two
//! processes opening a new database at once take turns, and the second finds the schema up
//! to date. Each script runs in its own transaction with its record, so a failed script
//! leaves nothing half-applied.

use tidewater_store::StoreError;
use tokio_postgres::Client;

use super::failure::OrStore;

/// Every script, in order; a script's number is its place in this list, counting from 1.
const MIGRATIONS: [(&str, &str); 5] = [
    (
        "0001_schema",
        include_str!("../../migrations/0001_schema.sql"),
    ),
    (
        "0002_workers",
        include_str!("../../migrations/0002_workers.sql"),
    ),
    (
        "0003_servers",
        include_str!("../../migrations/0003_servers.sql"),
    ),
    (
        "0004_streams",
        include_str!("../../migrations/0004_streams.sql"),
    ),
    (
        "0005_slots",
        include_str!("../../migrations/0005_slots.sql"),
    ),
];

/// The advisory lock (with the schema's hash) held while migrating.
const MIGRATION_LOCK: i32 = 1952540016;

/// Creates `schema` if it is named and missing, then applies the scripts it lacks.
pub(super) async fn migrate(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    let lock_name = schema.unwrap_or("");
    client
        .execute(
            "SELECT pg_advisory_lock($1, hashtext($2))",
            &[&MIGRATION_LOCK, &lock_name],
        )
        .await
        .db()?;
    let migrated = apply_missing(client, schema).await;
    let unlocked = client
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext($2))",
            &[&MIGRATION_LOCK, &lock_name],
        )
        .await
        .db();
    migrated?;
    unlocked.map(|_| ())
}

async fn apply_missing(client: &mut Client, schema: Option<&str>) -> Result<(), StoreError> {
    if let Some(schema) = schema {
        // The name was checked to be a plain identifier: it needs no quoting.
        client
            .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(|error| {
                StoreError::Migrate(format!("cannot create the schema {schema}: {error}"))
            })?;
    }
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tidewater_migrations (
                 version INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(|error| StoreError::Migrate(format!("cannot record migrations: {error}")))?;
    let applied: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM tidewater_migrations",
            &[],
        )
        .await
        .db()?
        .get(0);
    if applied as usize > MIGRATIONS.len() {
        return Err(StoreError::Migrate(format!(
            "the store's schema is at version {applied}, newer than this tidewater knows ({}); use a newer tidewater",
            MIGRATIONS.len()
        )));
    }
    for (index, (name, script)) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let version = index as i32 + 1;
        let transaction = client.transaction().await.db()?;
        transaction
            .batch_execute(script)
            .await
            .map_err(|error| StoreError::Migrate(format!("{name}: {error}")))?;
        transaction
            .execute(
                "INSERT INTO tidewater_migrations (version, name) VALUES ($1, $2)",
                &[&version, name],
            )
            .await
            .db()?;
        transaction.commit().await.db()?;
    }
    Ok(())
}
