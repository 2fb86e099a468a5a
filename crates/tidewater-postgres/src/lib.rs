//! Tidewater's PostgreSQL client, the one crate that depends on a PostgreSQL driver
//! (`tokio-postgres`): today the check of a `postgres` connection (`tidewater connections
//! test`), which connects and authenticates as the server asks (clear text, MD5 or SCRAM);
//! the PostgreSQL store backend of issue 21 belongs here too.
//!
//! It knows nothing of projects or of how connections are configured: it is given where to
//! go. It prints nothing and returns its failures as sentences (they name no password).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

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
