//! Stores in temporary folders, and runs to put in them.

use std::ops::Deref;

use chrono::DateTime;
use tempfile::TempDir;
use tidewater_core::{DataInterval, TaskName, Timestamp, WorkflowName};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{NewRun, RunTrigger};

/// A `SqliteStore` in a folder that is deleted when the store is dropped.
pub(crate) struct TempSqliteStore {
    pub store: SqliteStore,
    pub folder: TempDir,
}

impl Deref for TempSqliteStore {
    type Target = SqliteStore;

    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

/// A fresh, empty store, in a folder that does not exist yet (`open` must create it).
pub(crate) async fn temp_sqlite_store() -> TempSqliteStore {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let store = SqliteStore::open(&store_path(&folder))
        .await
        .expect("open a new store");
    TempSqliteStore { store, folder }
}

pub(crate) fn store_path(folder: &TempDir) -> std::path::PathBuf {
    folder.path().join(".tidewater").join("state.sqlite")
}

pub(crate) fn new_run(workflow: &str, tasks: impl IntoIterator<Item = String>) -> NewRun {
    NewRun {
        workflow: WorkflowName::new(workflow),
        interval: DataInterval::new(
            instant("2026-03-01T00:00:00Z"),
            instant("2026-03-02T00:00:00Z"),
        )
        .expect("start < end"),
        trigger: RunTrigger::Manual,
        params: serde_json::Map::new(),
        workflow_source: format!("name: {workflow}\n"),
        workflow_hash: format!("hash-of-{workflow}"),
        tasks: tasks.into_iter().map(TaskName::new).collect(),
        created_at: instant("2026-03-02T00:00:05Z"),
        backfill: None,
    }
}

pub(crate) fn instant(rfc3339: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 instant")
        .to_utc()
}
