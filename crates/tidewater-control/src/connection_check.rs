//! `tidewater connections` and `tidewater connections test NAME`: the project's connections
//! as the user may see them (never a secret value), and one checked against its system.

use std::time::Duration;

use tidewater_postgres::{PostgresTarget, check_connection};
use tidewater_spec::{
    ConnectionKind, Connections, ResolvedConnection, ValueSource, url_without_password,
};
use tokio::net::TcpStream;

use crate::{Control, ControlError, ControlResult};

/// How long a check may take in all.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection as `tidewater connections` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSummary {
    pub name: String,
    pub kind: ConnectionKind,
    pub fields: Vec<FieldSummary>,
}

/// One value of a connection: where it comes from, and what it is unless it is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    pub name: String,
    /// `tidewater.toml`, `env:VAR` or `file:PATH`.
    pub source: String,
    pub is_secret: bool,
    /// The value, for what is not secret (a URL without its password); `None` for secrets
    /// and values that could not be read.
    pub shown: Option<String>,
    /// Why the value cannot be read.
    pub error: Option<String>,
}

/// What `tidewater connections test` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCheck {
    pub name: String,
    pub kind: ConnectionKind,
    /// What was checked, e.g. `GET http://127.0.0.1:8080/health`.
    pub checked: String,
    /// What answered, or why the check failed; never a secret.
    pub outcome: Result<String, String>,
}

impl Control {
    /// The project's connections, by name.
    pub fn list_connections(&self) -> Vec<ConnectionSummary> {
        let connections = self.connections();
        connections
            .names()
            .filter_map(|name| {
                let connection = connections.get(name)?;
                Some(summary(connections, name, connection))
            })
            .collect()
    }

    /// Checks connection `name`: an `http` one with a request to its URL, a `postgres` one
    /// with a connection and the protocol's start-up (authentication included), any other
    /// with a TCP connection to its host and port.
    pub async fn test_connection(&self, name: &str) -> ControlResult<ConnectionCheck> {
        let connections = self.connections();
        let connection = connections.get(name).ok_or_else(|| {
            let known: Vec<&str> = connections.names().collect();
            ControlError::NotFound(if known.is_empty() {
                format!(
                    "no connection named `{name}`: `tidewater.toml` declares none (`[connections.NAME]`)"
                )
            } else {
                format!(
                    "no connection named `{name}`; the project has: {}",
                    known.join(", ")
                )
            })
        })?;
        let values = Values::of(connection)?;
        let redactor = connections.redactor();
        let (checked, outcome) = match connection.kind {
            ConnectionKind::Http => {
                let url = values.require("url", name)?;
                let checked = format!("GET {}", url_without_password(url));
                let credentials = values
                    .get("login")
                    .map(|login| (login.to_owned(), values.get("password").map(str::to_owned)));
                let outcome = tidewater_http::probe(url, credentials, CHECK_TIMEOUT)
                    .await
                    .and_then(|status| {
                        if status.is_success {
                            Ok(format!("answered {}", status.line))
                        } else {
                            Err(format!("answered {}", status.line))
                        }
                    });
                (checked, outcome)
            }
            ConnectionKind::Postgres => {
                let target = postgres_target(&values, name)?;
                let checked = format!(
                    "a PostgreSQL connection to {}:{} as `{}`, database `{}` (start-up and authentication)",
                    target.host, target.port, target.user, target.database
                );
                let outcome = check_connection(&target, CHECK_TIMEOUT).await;
                (checked, outcome)
            }
            ConnectionKind::Generic => {
                let host = values.require("host", name)?;
                let port = values.require("port", name)?;
                let checked = format!("a TCP connection to {host}:{port}");
                let outcome = match tokio::time::timeout(
                    CHECK_TIMEOUT,
                    TcpStream::connect(format!("{host}:{port}")),
                )
                .await
                {
                    Ok(Ok(_)) => Ok("connected".to_owned()),
                    Ok(Err(error)) => Err(format!("cannot connect: {error}")),
                    Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                };
                (checked, outcome)
            }
        };
        Ok(ConnectionCheck {
            name: name.to_owned(),
            kind: connection.kind,
            checked: redactor.redact(&checked).into_owned(),
            outcome: outcome
                .map(|text| redactor.redact(&text).into_owned())
                .map_err(|text| redactor.redact(&text).into_owned()),
        })
    }
}

fn summary(
    connections: &Connections,
    name: &str,
    connection: &ResolvedConnection,
) -> ConnectionSummary {
    let redactor = connections.redactor();
    let fields = connection
        .fields
        .iter()
        .map(|(field, resolved)| {
            let source = match &resolved.source {
                ValueSource::Literal(_) => "tidewater.toml".to_owned(),
                other => other.describe(),
            };
            let shown = match &resolved.value {
                Ok(value) if !resolved.is_secret => {
                    let value = if field == "url" {
                        url_without_password(value)
                    } else {
                        value.clone()
                    };
                    Some(redactor.redact(&value).into_owned())
                }
                _ => None,
            };
            FieldSummary {
                name: field.clone(),
                source,
                is_secret: resolved.is_secret,
                shown,
                error: resolved.value.as_ref().err().map(ToString::to_string),
            }
        })
        .collect();
    ConnectionSummary {
        name: name.to_owned(),
        kind: connection.kind,
        fields,
    }
}

/// A connection's values, all read (a check needs them; one that cannot be read is the
/// check's error).
struct Values<'c> {
    connection: &'c ResolvedConnection,
}

impl<'c> Values<'c> {
    fn of(connection: &'c ResolvedConnection) -> ControlResult<Values<'c>> {
        if let Some(error) = connection
            .fields
            .values()
            .find_map(|field| field.value.as_ref().err())
        {
            return Err(ControlError::Invalid(error.to_string()));
        }
        Ok(Values { connection })
    }

    fn get(&self, field: &str) -> Option<&'c str> {
        self.connection
            .fields
            .get(field)
            .and_then(|resolved| resolved.value.as_deref().ok())
    }

    fn require(&self, field: &str, name: &str) -> ControlResult<&'c str> {
        self.get(field).ok_or_else(|| {
            ControlError::Invalid(format!(
                "connection `{name}` has no `{field}`, which a {} check needs",
                self.connection.kind.name()
            ))
        })
    }
}

/// Where a `postgres` connection goes: its URL's parts, or its `host`, `port`, `login`,
/// `password` and `extra.database` (which win over the URL's).
fn postgres_target(values: &Values<'_>, name: &str) -> ControlResult<PostgresTarget> {
    let mut target = PostgresTarget {
        host: String::new(),
        port: 5432,
        user: "postgres".to_owned(),
        password: None,
        database: String::new(),
    };
    if let Some(url) = values.get("url") {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) => (Some(user_info), host_port),
            None => (None, authority),
        };
        if let Some(user_info) = user_info {
            let (user, password) = match user_info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (user_info, None),
            };
            target.user = percent_decode(user);
            target.password = password.map(percent_decode);
        }
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        target.host = host.to_owned();
        if let Some(port) = port {
            target.port = parse_port(port, name)?;
        }
        target.database = percent_decode(path.split(['?', '#']).next().unwrap_or(""));
    }
    if let Some(host) = values.get("host") {
        target.host = host.to_owned();
    }
    if let Some(port) = values.get("port") {
        target.port = parse_port(port, name)?;
    }
    if let Some(login) = values.get("login") {
        target.user = login.to_owned();
    }
    if let Some(password) = values.get("password") {
        target.password = Some(password.to_owned());
    }
    if let Some(database) = values.get("extra.database") {
        target.database = database.to_owned();
    }
    if target.host.is_empty() {
        return Err(ControlError::Invalid(format!(
            "connection `{name}` names no host (`url = \"postgres://user@host:5432/db\"` or `host`)"
        )));
    }
    if target.database.is_empty() {
        target.database = target.user.clone();
    }
    Ok(target)
}

fn parse_port(text: &str, name: &str) -> ControlResult<u16> {
    text.parse().map_err(|_| {
        ControlError::Invalid(format!(
            "connection `{name}`: `{text}` is not a port number"
        ))
    })
}

/// `%40` → `@` in a URL's user, password or database.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
