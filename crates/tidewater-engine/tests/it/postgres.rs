//! The machine's PostgreSQL (127.0.0.1:5432, trust auth, database `test`;
//! `TIDEWATER_TEST_POSTGRES_URL` names another), for the tests that hold the PostgreSQL store
//! to what they check on SQLite. Each store lives in a schema of its own, dropped at the
//! test's end. A server that cannot be reached fails the test and says so: it is never
//! skipped.

use std::process::Command;
use std::sync::Arc;

use tidewater_postgres::{PostgresLocation, PostgresStore};

fn test_url() -> String {
    std::env::var("TIDEWATER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema dropped (with `psql`, an independent client) when this is, also when the test
/// fails.
pub(crate) struct SchemaGuard(String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        // A failed clean-up leaves a schema behind; it must not hide the test's outcome.
        let _ = Command::new("psql")
            .args(["--no-psqlrc", "-q", "-d"])
            .arg(test_url())
            .arg("-c")
            .arg(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0))
            .output();
    }
}

/// A fresh, empty store in a schema of its own.
pub(crate) async fn postgres_store(purpose: &str) -> (Arc<PostgresStore>, SchemaGuard) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    let schema = SchemaGuard(format!(
        "tw_engine_{purpose}_{}_{nanos}",
        std::process::id()
    ));
    let location = PostgresLocation {
        url: test_url(),
        password: None,
        schema: Some(schema.0.clone()),
    };
    let store = PostgresStore::open(&location)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "this test needs a PostgreSQL server at {} (trust auth): {error}; \
             start it, or set TIDEWATER_TEST_POSTGRES_URL",
                test_url()
            )
        });
    (Arc::new(store), schema)
}
