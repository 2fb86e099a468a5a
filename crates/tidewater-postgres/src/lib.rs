//! Tidewater's PostgreSQL client, the one crate that depends on a PostgreSQL driver
//! (`tokio-postgres`): the PostgreSQL backend of the store, [`PostgresStore`] (issue 21),
//! which implements every trait of `tidewater_store` and passes its conformance suite, and
//! the check of a `postgres` connection (`tidewater connections test`), which connects and
//! authenticates as the server asks (clear text, MD5 or SCRAM).
//!
//! It knows nothing of projects or of how connections or the store are configured: it is
//! given where to go ([`PostgresLocation`]). It prints nothing and returns its failures as
//! sentences or [`tidewater_store::StoreError`]s (they name no password). No
//! `tokio_postgres` type appears in its public signatures.
// Library code reports errors to its caller and prints nothing (the unit tests of the modules
// shared with tidewater-sqlite may expect).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod postgres_store;

pub use postgres_store::{PostgresLocation, PostgresStore, PostgresStoreError};

use std::time::Duration;

/// Where a check connects: a server, a role and its password, a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
}

/// Connects to `target`, authenticates and asks the server for its version, within
/// `timeout`: what was reached, or why not. No TLS: a server that requires it refuses the
/// connection, and the refusal says so.
pub async fn check_connection(
    target: &PostgresTarget,
    timeout: Duration,
) -> Result<String, String> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .user(&target.user)
        .dbname(&target.database)
        .application_name("tidewater connections test")
        .connect_timeout(timeout);
    if let Some(password) = &target.password {
        config.password(password);
    }
    let within = |what: &str| format!("no answer within {} s {what}", timeout.as_secs());
    let (client, connection) = tokio::time::timeout(timeout, config.connect(tokio_postgres::NoTls))
        .await
        .map_err(|_| within("to the connection"))?
        .map_err(|error| describe(&error))?;
    // The connection's IO runs beside the client until the client is dropped.
    let driver = tokio::spawn(connection);
    let version = tokio::time::timeout(
        timeout,
        client.query_one("SELECT current_setting('server_version')", &[]),
    )
    .await
    .map_err(|_| within("to a query"))
    .and_then(|row| row.map_err(|error| describe(&error)))
    .and_then(|row| {
        row.try_get::<_, String>(0)
            .map_err(|error| describe(&error))
    });
    drop(client);
    let _ = driver.await;
    let version = version?;
    Ok(format!(
        "connected and authenticated as `{}` to database `{}` (PostgreSQL {version})",
        target.user, target.database
    ))
}

/// The server's own refusal (`FATAL: password authentication failed for user "…"`) when it
/// sent one, otherwise what failed on the way (`cannot connect: Connection refused`).
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(refusal) = error.as_db_error() {
        return format!(
            "the server refused: {}: {}",
            refusal.severity(),
            refusal.message()
        );
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
