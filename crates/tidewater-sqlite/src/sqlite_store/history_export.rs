//! [`SqliteStore::export_history`]: every row of the tables that hold the store's history,
//! as JSON objects keyed by column, for `tidewater store migrate-from-sqlite` to load into
//! another backend. The values are the codec's, exactly as stored.

use rusqlite::types::ValueRef;
use tidewater_store::StoreError;

use super::SqliteStore;

/// The tables that hold a store's history, each after the tables its rows refer to. The
/// service's own record (`service`, `service_workflows`) is a live process's, not history.
pub const HISTORY_TABLES: &[&str] = &[
    "backfills",
    "runs",
    "task_instances",
    "attempts",
    "paused_workflows",
    "cancel_requests",
    "tokens",
    "sessions",
    "events",
    "notifications",
    "data_changes",
    "data_cursors",
];

/// One table's rows, each a JSON object of its columns: integers as numbers, text as
/// strings, blobs as `\x`-prefixed hex strings (PostgreSQL's `bytea` text form), NULL as null.
pub type TableRows = Vec<serde_json::Map<String, serde_json::Value>>;

impl SqliteStore {
    /// Every row of [`HISTORY_TABLES`], read in one transaction (one consistent snapshot,
    /// even while a server writes), in that order.
    pub async fn export_history(&self) -> Result<Vec<(&'static str, TableRows)>, StoreError> {
        self.link
            .call(|connection| {
                let transaction = connection.unchecked_transaction()?;
                let mut tables = Vec::with_capacity(HISTORY_TABLES.len());
                for table in HISTORY_TABLES {
                    let mut statement = transaction.prepare(&format!("SELECT * FROM {table}"))?;
                    let columns: Vec<String> = statement
                        .column_names()
                        .into_iter()
                        .map(str::to_owned)
                        .collect();
                    let mut rows = statement.query([])?;
                    let mut exported = Vec::new();
                    while let Some(row) = rows.next()? {
                        let mut object = serde_json::Map::with_capacity(columns.len());
                        for (index, column) in columns.iter().enumerate() {
                            object.insert(column.clone(), json_value(row.get_ref(index)?));
                        }
                        exported.push(object);
                    }
                    tables.push((*table, exported));
                }
                Ok(tables)
            })
            .await
    }
}

fn json_value(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(number) => number.into(),
        ValueRef::Real(number) => number.into(),
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned().into(),
        ValueRef::Blob(bytes) => {
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("\\x");
            for byte in bytes {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex.into()
        }
    }
}
