//! [`PostgresStore::import_history`]: loads another store's history (rows exported by
//! `tidewater-sqlite`'s `export_history`, the same column values: both backends share the
//! codec) into an empty PostgreSQL store, for `tidewater store migrate-from-sqlite`.

use tidewater_core::RunId;
use tidewater_store::StoreError;

use super::failure::OrStore;
use super::{PostgresStore, PostgresStoreError, lock_feed};

/// The tables a history may hold rows of, each after those its rows refer to; and the
/// identity column whose sequence must go on after the copied rows.
const TABLES: &[(&str, Option<&str>)] = &[
    ("backfills", Some("id")),
    ("runs", Some("id")),
    ("task_instances", None),
    ("attempts", None),
    ("paused_workflows", None),
    ("cancel_requests", None),
    ("tokens", Some("id")),
    ("sessions", None),
    ("events", Some("seq")),
    ("notifications", Some("id")),
    ("data_changes", None),
    ("data_cursors", None),
];

/// The tables whose triggers record events or end cancel requests: a copied row is history,
/// not a new change, so they are off while copying (their events are copied as they were).
const TRIGGERED_TABLES: &[&str] = &["runs", "task_instances", "attempts"];

/// Rows per statement: bounds one statement's JSON text to a few megabytes.
const ROWS_PER_STATEMENT: usize = 2_000;

impl PostgresStore {
    /// Copies `tables` (by name, rows as JSON objects of their columns) into this store in one
    /// transaction, then moves every id sequence past the copied ids, and the run ids past
    /// `highest_run_id` (which the source may have given to a run it no longer holds).
    /// Refuses a store that holds any history ([`PostgresStoreError::NotEmpty`]). How many
    /// rows of each table were copied.
    pub async fn import_history(
        &self,
        tables: &[(&str, Vec<serde_json::Map<String, serde_json::Value>>)],
        highest_run_id: Option<RunId>,
    ) -> Result<Vec<(String, usize)>, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await.db()?;
        lock_feed(&transaction).await?;
        let holds: bool = transaction
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM backfills)
                     OR EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM events)
                     OR EXISTS (SELECT 1 FROM paused_workflows)",
                &[],
            )
            .await
            .db()?
            .try_get(0)
            .db()?;
        if holds {
            return Err(PostgresStoreError::NotEmpty.into());
        }
        for table in TRIGGERED_TABLES {
            transaction
                .batch_execute(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                .await
                .db()?;
        }
        let mut copied = Vec::with_capacity(tables.len());
        // In this store's order, whatever the order given.
        for (known, _) in TABLES {
            let rows: Vec<_> = tables
                .iter()
                .filter(|(name, _)| name == known)
                .flat_map(|(_, rows)| rows)
                .collect();
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let json = serde_json::to_string(chunk).map_err(|error| {
                    StoreError::BackendCondition(
                        format!("cannot encode rows of {known}: {error}").into(),
                    )
                })?;
                // Each JSON object becomes a row of the table's own type: PostgreSQL reads
                // each column's value by its name and type, and a column the source lacks
                // is NULL (or refused, when it may not be).
                transaction
                    .execute(
                        &format!(
                            "INSERT INTO {known}
                             SELECT * FROM json_populate_recordset(NULL::{known}, $1::TEXT::json)"
                        ),
                        &[&json],
                    )
                    .await
                    .map_err(|error| {
                        StoreError::BackendCondition(
                            format!("cannot copy the rows of {known}: {error}").into(),
                        )
                    })?;
            }
            copied.push(((*known).to_owned(), rows.len()));
        }
        if let Some((unknown, _)) = tables
            .iter()
            .find(|(name, _)| !TABLES.iter().any(|(known, _)| known == name))
        {
            return Err(StoreError::BackendCondition(
                format!("the history holds a table this store does not know: {unknown}").into(),
            ));
        }
        for table in TRIGGERED_TABLES {
            transaction
                .batch_execute(&format!("ALTER TABLE {table} ENABLE TRIGGER USER"))
                .await
                .db()?;
        }
        for (table, column) in TABLES {
            let Some(column) = column else { continue };
            transaction
                .execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), max({column}))
                         FROM {table} HAVING max({column}) IS NOT NULL"
                    ),
                    &[],
                )
                .await
                .db()?;
        }
        if let Some(highest) = highest_run_id {
            transaction
                .execute(
                    "SELECT setval('runs_id_seq', $1::BIGINT)
                     WHERE $1::BIGINT > (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                                         FROM runs_id_seq)",
                    &[&highest.0],
                )
                .await
                .db()?;
        }
        transaction.commit().await.db()?;
        Ok(copied)
    }
}
