use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use toml::de::DeValue as DeValueRef;

use crate::ProblemKind;
use crate::did_you_mean::did_you_mean;
use crate::project_config::{ConfigReader, Key, Value, describe};

/// `[connections.NAME]` of `tidewater.toml` as written: where each value comes from. A value
/// read from the environment or a file is not read here (this crate reads no environment):
/// [`crate::Connections::resolve`] does that when a command needs the values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionsConfig {
    /// By name.
    pub connections: Vec<ConnectionConfig>,
    /// `tidewater.toml`'s path and text, for the problems found when values are read.
    pub source: Option<ConfigSource>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub text: Arc<str>,
}

/// One connection: what it connects to and with which credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub name: String,
    pub kind: ConnectionKind,
    /// In the order written.
    pub fields: Vec<ConnectionField>,
}

/// What a connection connects to: which check `tidewater connections test` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Http,
    Postgres,
    /// Anything else: its values are only passed to tasks.
    Generic,
}

impl ConnectionKind {
    pub const NAMES: &[&str] = &["http", "postgres", "generic"];

    pub fn name(self) -> &'static str {
        match self {
            ConnectionKind::Http => "http",
            ConnectionKind::Postgres => "postgres",
            ConnectionKind::Generic => "generic",
        }
    }

    fn parse(text: &str) -> Option<ConnectionKind> {
        match text {
            "http" => Some(ConnectionKind::Http),
            "postgres" => Some(ConnectionKind::Postgres),
            "generic" => Some(ConnectionKind::Generic),
            _ => None,
        }
    }

    /// The kind a URL's scheme implies when no `kind` is given.
    fn of_url(url: &str) -> ConnectionKind {
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("http" | "https") => ConnectionKind::Http,
            Some("postgres" | "postgresql") => ConnectionKind::Postgres,
            _ => ConnectionKind::Generic,
        }
    }
}

/// One value of a connection: `url`, `host`, `port`, `login`, `password` or `extra.KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionField {
    pub name: String,
    pub source: ValueSource,
    /// Replaced by `***` wherever it would be shown. `password` always is; an `extra` value
    /// whose key names a credential (contains `token`, `secret`, `password`, `passwd` or
    /// `credential`, or ends with `key`) unless written
    /// `{ value = "...", secret = false }`; any other value when written
    /// `{ value = "...", secret = true }`.
    pub is_secret: bool,
    /// Where the value is written in `tidewater.toml`.
    pub span: Range<usize>,
    /// Its line (from 1).
    pub line: usize,
}

/// Where a connection's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueSource {
    /// Written in `tidewater.toml`.
    Literal(String),
    /// `env:VAR`: the environment variable of the process that runs the task.
    Env(String),
    /// `file:PATH`: a file, relative to the project; a trailing newline is not part of it.
    File(String),
}

impl ValueSource {
    /// The value: written out, the environment variable's (read with `env`, the caller's),
    /// or the file's (relative to `root`, without a trailing newline). The error names the
    /// variable or file, never a value.
    pub fn read(
        &self,
        root: &std::path::Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        match self {
            ValueSource::Literal(text) => Ok(text.clone()),
            ValueSource::Env(variable) => env(variable)
                .ok_or_else(|| format!("the environment variable `{variable}` is not set")),
            ValueSource::File(path) => std::fs::read_to_string(root.join(path))
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|error| format!("the file `{path}` cannot be read: {error}")),
        }
    }

    pub(crate) fn parse(text: &str) -> ValueSource {
        if let Some(variable) = text.strip_prefix("env:") {
            ValueSource::Env(variable.to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            ValueSource::File(path.to_owned())
        } else {
            ValueSource::Literal(text.to_owned())
        }
    }

    /// Where the value comes from, never the value: `tidewater.toml`, `env:VAR`, `file:PATH`.
    pub fn describe(&self) -> String {
        match self {
            ValueSource::Literal(_) => "tidewater.toml".to_owned(),
            ValueSource::Env(variable) => format!("env:{variable}"),
            ValueSource::File(path) => format!("file:{path}"),
        }
    }
}

/// The words that make an `extra` key a credential, found anywhere in the key (`token`,
/// `api_token`, `client_secret`, `db_password`): its value is secret unless the key says
/// `secret = false`. Secret by name rather than only by `secret = true`, because the one
/// forgotten mark would put a token in clear in every log and page.
const CREDENTIAL_WORDS: &[&str] = &["token", "secret", "password", "passwd", "credential"];

/// Whether an `extra` key names a credential: it contains one of [`CREDENTIAL_WORDS`], or it
/// is or ends with `key` (`key`, `api_key`, `apikey`, `access_key`, `private_key`), compared
/// without case. A key that only starts with `key` (`key_id`, `keyspace`) is no credential.
fn is_credential_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    CREDENTIAL_WORDS.iter().any(|word| key.contains(word)) || key.ends_with("key")
}

/// The fields a connection may have, besides `kind` and `extra`.
pub(crate) const CONNECTION_FIELDS: &[&str] = &["url", "host", "port", "login", "password"];
const CONNECTION_KEYS: &[&str] = &["kind", "url", "host", "port", "login", "password", "extra"];
const VALUE_KEYS: &[&str] = &["value", "secret"];

impl ConfigReader<'_> {
    pub(crate) fn connections(&mut self, key: &Key<'_>, value: &Value<'_>) -> ConnectionsConfig {
        let mut config = ConnectionsConfig {
            connections: Vec::new(),
            source: Some(ConfigSource {
                path: self.path.to_path_buf(),
                text: self.text.clone(),
            }),
        };
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table of connections", value);
            return config;
        };
        for (name, connection) in table.iter() {
            if let Some(read) = self.connection(name, connection) {
                config.connections.push(read);
            }
        }
        config.connections.sort_by(|a, b| a.name.cmp(&b.name));
        config
    }

    fn connection(&mut self, name: &Key<'_>, value: &Value<'_>) -> Option<ConnectionConfig> {
        let connection = name.get_ref().to_string();
        let context = format!("`[connections.{connection}]`");
        let is_name = !connection.is_empty()
            && connection
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            self.report(
                ProblemKind::InvalidValue {
                    what: format!("`{connection}` is not a valid connection name"),
                    hint: Some(
                        "a connection's name is letters, digits and `_`, as templates read it: `{{ conn.NAME.url }}`".to_owned(),
                    ),
                },
                name.span(),
            );
            return None;
        }
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(
                &format!("connections.{connection}"),
                "a table such as `{ url = \"https://api.example\" }`",
                value,
            );
            return None;
        };
        let mut kind = None;
        let mut fields = Vec::new();
        let mut is_valid = true;
        for (setting, setting_value) in table.iter() {
            let setting_name = setting.get_ref().as_ref();
            let full_name = format!("connections.{connection}.{setting_name}");
            match setting_name {
                "kind" => match setting_value.get_ref().as_str() {
                    Some(text) => match ConnectionKind::parse(text) {
                        Some(parsed) => kind = Some(parsed),
                        None => {
                            is_valid = false;
                            self.report(
                                ProblemKind::InvalidChoice {
                                    key: "kind",
                                    found: text.to_owned(),
                                    expected: ConnectionKind::NAMES,
                                    suggestion: did_you_mean(
                                        text,
                                        ConnectionKind::NAMES.iter().copied(),
                                    ),
                                },
                                setting_value.span(),
                            );
                        }
                    },
                    None => {
                        is_valid = false;
                        self.wrong_type(&full_name, "a string such as \"http\"", setting_value);
                    }
                },
                "extra" => {
                    let Some(extras) = setting_value.get_ref().as_table() else {
                        is_valid = false;
                        self.wrong_type(&full_name, "a table of values", setting_value);
                        continue;
                    };
                    for (extra, extra_value) in extras.iter() {
                        let field_name = format!("extra.{}", extra.get_ref());
                        match self.field_value(&connection, &field_name, extra_value) {
                            Some(field) => fields.push(field),
                            None => is_valid = false,
                        }
                    }
                }
                field if CONNECTION_FIELDS.contains(&field) => {
                    match self.field_value(&connection, field, setting_value) {
                        Some(field) => fields.push(field),
                        None => is_valid = false,
                    }
                }
                _ => {
                    is_valid = false;
                    self.unknown_key(setting, &context, CONNECTION_KEYS);
                }
            }
        }
        let url = fields.iter().find_map(|field| match &field.source {
            ValueSource::Literal(url) if field.name == "url" => Some(url.as_str()),
            _ => None,
        });
        let kind =
            kind.unwrap_or_else(|| url.map_or(ConnectionKind::Generic, ConnectionKind::of_url));
        is_valid.then_some(ConnectionConfig {
            name: connection,
            kind,
            fields,
        })
    }

    /// `"text"`, `"env:VAR"`, `"file:PATH"`, a port number, or `{ value = "...", secret = true }`.
    fn field_value(
        &mut self,
        connection: &str,
        field: &str,
        value: &Value<'_>,
    ) -> Option<ConnectionField> {
        let full_name = format!("connections.{connection}.{field}");
        let expected =
            "a string (or `env:VAR`, `file:PATH`), or `{ value = \"...\", secret = true }`";
        // `secret = false` opts an `extra` credential out; `password` is always secret.
        let mut is_marked_secret = None;
        let (text, span) = match value.get_ref() {
            DeValueRef::String(text) => (text.to_string(), value.span()),
            DeValueRef::Integer(integer) if field == "port" => {
                (integer.as_str().to_owned(), value.span())
            }
            DeValueRef::Table(table) => {
                let mut text = None;
                for (setting, setting_value) in table.iter() {
                    match setting.get_ref().as_ref() {
                        "value" => match setting_value.get_ref().as_str() {
                            Some(written) => {
                                text = Some((written.to_owned(), setting_value.span()));
                            }
                            None => self.wrong_type(
                                &format!("{full_name}.value"),
                                "a string",
                                setting_value,
                            ),
                        },
                        "secret" => match setting_value.get_ref().as_bool() {
                            Some(secret) => is_marked_secret = Some(secret),
                            None => self.wrong_type(
                                &format!("{full_name}.secret"),
                                "true/false",
                                setting_value,
                            ),
                        },
                        _ => self.unknown_key(setting, &format!("`{full_name}`"), VALUE_KEYS),
                    }
                }
                match text {
                    Some(text) => text,
                    None => {
                        self.report(
                            ProblemKind::MissingKey {
                                key: "value",
                                context: format!("`{full_name}`"),
                                example: "value = \"env:API_TOKEN\"",
                            },
                            value.span(),
                        );
                        return None;
                    }
                }
            }
            other => {
                let found = describe(other);
                self.report(
                    ProblemKind::WrongType {
                        key: full_name,
                        expected,
                        found,
                    },
                    value.span(),
                );
                return None;
            }
        };
        let is_credential = field.strip_prefix("extra.").is_some_and(is_credential_name);
        let is_secret = field == "password" || is_marked_secret.unwrap_or(is_credential);
        let source = ValueSource::parse(&text);
        let is_empty = match &source {
            ValueSource::Env(name) | ValueSource::File(name) => name.trim().is_empty(),
            ValueSource::Literal(_) => false,
        };
        if is_empty {
            self.report(
                ProblemKind::InvalidValue {
                    what: format!("`{full_name}` names no variable or file after its prefix"),
                    hint: Some(
                        "write `env:NAME` for an environment variable, `file:PATH` for a file of the project"
                            .to_owned(),
                    ),
                },
                span.clone(),
            );
            return None;
        }
        let line = self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1;
        Some(ConnectionField {
            name: field.to_owned(),
            source,
            is_secret,
            span,
            line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_credential_name;

    #[test]
    fn extra_keys_that_name_credentials_are_secret_by_default() {
        for key in [
            "token",
            "api_token",
            "API_KEY",
            "apikey",
            "key",
            "access_key",
            "secret",
            "client_secret",
            "db_password",
            "passwd",
            "credentials",
        ] {
            assert!(is_credential_name(key), "{key}");
        }
        for key in [
            "region",
            "database",
            "key_id",
            "keyspace",
            "schema",
            "monkey_id",
        ] {
            assert!(!is_credential_name(key), "{key}");
        }
    }
}
