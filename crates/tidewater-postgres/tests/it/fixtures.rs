//! A fresh schema per store, and runs to put in it.

use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::DateTime;
use tidewater_core::{DataInterval, TaskName, Timestamp, WorkflowName};
use tidewater_postgres::{PostgresLocation, PostgresStore};
use tidewater_store::{NewRun, RunTrigger};

/// The test server: `TIDEWATER_TEST_POSTGRES_URL`, or the machine's cluster.
pub(crate) fn test_url() -> String {
    std::env::var("TIDEWATER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name no other test (of this or another process) uses.
pub(crate) fn fresh_schema(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "tw_{purpose}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn location(schema: &str) -> PostgresLocation {
    PostgresLocation {
        url: test_url(),
        password: None,
        schema: Some(schema.to_owned()),
    }
}

/// A `PostgresStore` in a schema of its own, dropped with the store.
pub(crate) struct TempPostgresStore {
    pub store: PostgresStore,
    pub schema: String,
}

impl Deref for TempPostgresStore {
    type Target = PostgresStore;

    fn deref(&self) -> &PostgresStore {
        &self.store
    }
}

impl Drop for TempPostgresStore {
    fn drop(&mut self) {
        drop_schema(&self.schema);
    }
}

/// Opens a store in `schema`, failing the test with what to do when PostgreSQL is down.
pub(crate) async fn open_in(schema: &str) -> PostgresStore {
    match PostgresStore::open(&location(schema)).await {
        Ok(store) => store,
        Err(error) => panic!(
            "the PostgreSQL store tests need a PostgreSQL server at {} (trust auth): {error}. \
             Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or set TIDEWATER_TEST_POSTGRES_URL",
            test_url()
        ),
    }
}

/// A fresh, empty store in a new schema.
pub(crate) async fn temp_postgres_store() -> TempPostgresStore {
    let schema = fresh_schema("conformance");
    let store = open_in(&schema).await;
    TempPostgresStore { store, schema }
}

/// A schema dropped when the guard is, also when the test fails.
pub(crate) struct SchemaGuard(pub String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        drop_schema(&self.0);
    }
}

/// Drops `schema` and everything in it, from a thread of its own (a `Drop` cannot await).
pub(crate) fn drop_schema(schema: &str) {
    let statement = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    let url = test_url();
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to drop the test schema");
            tokio::spawn(connection);
            client
                .batch_execute(&statement)
                .await
                .expect("drop the test schema");
        });
    })
    .join();
    // A failed clean-up leaves a schema behind; it must not hide the test's own outcome.
    if let Err(panic) = dropped
        && !std::thread::panicking()
    {
        std::panic::resume_unwind(panic);
    }
}

pub(crate) fn new_run(workflow: &str, tasks: &[&str]) -> NewRun {
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
        tasks: tasks.iter().map(|task| TaskName::new(*task)).collect(),
        created_at: instant("2026-03-02T00:00:05Z"),
        backfill: None,
    }
}

pub(crate) fn instant(rfc3339: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 instant")
        .to_utc()
}
