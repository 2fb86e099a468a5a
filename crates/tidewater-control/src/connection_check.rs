//! `tidewater connections` and `tidewater connections test NAME`: the project's connections
//! as the user may see them (never a secret value), and one checked against its system.

use std::time::Duration;

use tidewater_spec::{
    ConnectionKind, Connections, ResolvedConnection, ValueSource, url_without_password,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
                let target = PostgresTarget::of(&values, name)?;
                let checked = format!(
                    "a PostgreSQL connection to {}:{} as `{}`, database `{}` (start-up and authentication)",
                    target.host, target.port, target.user, target.database
                );
                let outcome = match tokio::time::timeout(CHECK_TIMEOUT, target.start_up()).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
                };
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
struct PostgresTarget {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
}

impl PostgresTarget {
    fn of(values: &Values<'_>, name: &str) -> ControlResult<PostgresTarget> {
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

    /// Connects, sends the start-up message and answers the authentication the server asks
    /// for (none, or a clear-text password); done when the server says it is ready for
    /// queries. MD5 and SCRAM authentication are not performed: the server's request for
    /// them is reported as what was reached.
    async fn start_up(&self) -> Result<String, String> {
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|error| format!("cannot connect: {error}"))?;
        let mut body = Vec::new();
        body.extend_from_slice(&196_608_i32.to_be_bytes()); // protocol 3.0
        for (key, value) in [("user", &self.user), ("database", &self.database)] {
            body.extend_from_slice(key.as_bytes());
            body.push(0);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = Vec::with_capacity(body.len() + 4);
        message.extend_from_slice(&message_length(body.len())?.to_be_bytes());
        message.extend_from_slice(&body);
        let io = |error: std::io::Error| format!("the connection failed: {error}");
        stream.write_all(&message).await.map_err(io)?;
        loop {
            let mut header = [0_u8; 5];
            stream.read_exact(&mut header).await.map_err(io)?;
            let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
            let length = usize::try_from(length)
                .ok()
                .filter(|length| (4..=1 << 20).contains(length))
                .ok_or("the server's answer is not PostgreSQL's protocol")?;
            let mut payload = vec![0_u8; length - 4];
            stream.read_exact(&mut payload).await.map_err(io)?;
            match header[0] {
                b'R' => {
                    let code = payload.get(..4).map_or(-1, |code| {
                        i32::from_be_bytes([code[0], code[1], code[2], code[3]])
                    });
                    match code {
                        0 => {}
                        3 => {
                            let Some(password) = &self.password else {
                                return Err("the server asks for a password and the connection has none".to_owned());
                            };
                            let mut reply = vec![b'p'];
                            reply.extend_from_slice(
                                &message_length(password.len() + 1)?.to_be_bytes(),
                            );
                            reply.extend_from_slice(password.as_bytes());
                            reply.push(0);
                            stream.write_all(&reply).await.map_err(io)?;
                        }
                        5 => return Ok("reached the server; it asks for MD5 password authentication, which this check does not perform".to_owned()),
                        10 => return Ok("reached the server; it asks for SCRAM authentication, which this check does not perform".to_owned()),
                        other => return Err(format!("the server asks for an authentication this check does not know (code {other})")),
                    }
                }
                b'E' => return Err(format!("the server refused: {}", error_message(&payload))),
                b'Z' => {
                    return Ok(format!(
                        "connected and authenticated as `{}` to database `{}`",
                        self.user, self.database
                    ));
                }
                // Parameter statuses, the back-end key, notices: on to the next message.
                _ => {}
            }
        }
    }
}

fn message_length(body: usize) -> Result<i32, String> {
    i32::try_from(body + 4).map_err(|_| "a start-up value is too long".to_owned())
}

/// The `M` (message) field of an error response, with its `S` (severity).
fn error_message(payload: &[u8]) -> String {
    let mut severity = "";
    let mut message = "";
    for field in payload.split(|&byte| byte == 0) {
        let Some((&code, text)) = field.split_first() else {
            continue;
        };
        let text = std::str::from_utf8(text).unwrap_or("");
        match code {
            b'S' => severity = text,
            b'M' => message = text,
            _ => {}
        }
    }
    format!("{severity}: {message}")
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
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
