use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::connection_config::{ConnectionKind, ConnectionsConfig, ValueSource};
use crate::{Diagnostics, Problem, ProblemKind, Redactor};

/// The project's connections with their values read: what templates see as `conn`, and the
/// [`Redactor`] of their secrets. Built once per process that runs tasks or shows them
/// (`Connections::resolve`) and passed down.
///
/// A value that cannot be read (an unset variable, a missing file) is kept as its error:
/// it fails only the tasks that use it, when they render it, naming the connection, the
/// field and where it is written, never a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connections {
    by_name: BTreeMap<String, ResolvedConnection>,
    redactor: Redactor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConnection {
    pub kind: ConnectionKind,
    /// By field name (`url`, `password`, `extra.token`).
    pub fields: BTreeMap<String, ResolvedField>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedField {
    pub value: Result<String, ConnectionValueError>,
    pub is_secret: bool,
    pub source: ValueSource,
}

/// Why a connection's value cannot be read. The message names the connection, the field,
/// the variable or file, and the line of `tidewater.toml`; never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionValueError {
    #[error(
        "connection `{connection}`: `{field}` comes from the environment variable `{variable}`, which is not set (tidewater.toml:{line})"
    )]
    MissingEnv {
        connection: String,
        field: String,
        variable: String,
        line: usize,
    },
    #[error(
        "connection `{connection}`: `{field}` comes from the file `{path}`, which cannot be read: {reason} (tidewater.toml:{line})"
    )]
    UnreadableFile {
        connection: String,
        field: String,
        path: String,
        reason: String,
        line: usize,
    },
}

impl Connections {
    /// Reads every value of `config`: `env:` ones with `env`, `file:` ones relative to `root`.
    /// `env` is the caller's, so that this crate reads no environment of its own.
    pub fn resolve(
        config: &ConnectionsConfig,
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Connections {
        let mut secrets = Vec::new();
        let mut by_name = BTreeMap::new();
        for connection in &config.connections {
            let mut fields = BTreeMap::new();
            for field in &connection.fields {
                let value = match &field.source {
                    ValueSource::Literal(text) => Ok(text.clone()),
                    ValueSource::Env(variable) => {
                        env(variable).ok_or_else(|| ConnectionValueError::MissingEnv {
                            connection: connection.name.clone(),
                            field: field.name.clone(),
                            variable: variable.clone(),
                            line: field.line,
                        })
                    }
                    ValueSource::File(path) => std::fs::read_to_string(root.join(path))
                        .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                        .map_err(|error| ConnectionValueError::UnreadableFile {
                            connection: connection.name.clone(),
                            field: field.name.clone(),
                            path: path.clone(),
                            reason: error.to_string(),
                            line: field.line,
                        }),
                };
                if let Ok(text) = &value {
                    if field.is_secret {
                        secrets.push(text.clone());
                    }
                    if field.name == "url"
                        && let Some(password) = url_password(text)
                    {
                        secrets.push(password.to_owned());
                        // A client decodes it (`p%40ss` is `p@ss`) and may print that.
                        let decoded = percent_encoding::percent_decode_str(password)
                            .decode_utf8_lossy()
                            .into_owned();
                        if decoded != password {
                            secrets.push(decoded);
                        }
                    }
                }
                fields.insert(
                    field.name.clone(),
                    ResolvedField {
                        value,
                        is_secret: field.is_secret,
                        source: field.source.clone(),
                    },
                );
            }
            by_name.insert(
                connection.name.clone(),
                ResolvedConnection {
                    kind: connection.kind,
                    fields,
                },
            );
        }
        Connections {
            by_name,
            redactor: Redactor::new(secrets),
        }
    }

    /// Stand-ins for validation: every declared field with a sample value.
    pub(crate) fn samples(config: &ConnectionsConfig) -> Connections {
        let by_name = config
            .connections
            .iter()
            .map(|connection| {
                let fields = connection
                    .fields
                    .iter()
                    .map(|field| {
                        let sample = ResolvedField {
                            value: Ok(format!("conn.{}.{}", connection.name, field.name)),
                            is_secret: field.is_secret,
                            source: field.source.clone(),
                        };
                        (field.name.clone(), sample)
                    })
                    .collect();
                let resolved = ResolvedConnection {
                    kind: connection.kind,
                    fields,
                };
                (connection.name.clone(), resolved)
            })
            .collect();
        Connections {
            by_name,
            redactor: Redactor::default(),
        }
    }

    /// What must be replaced by `***` wherever it would be shown.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn get(&self, name: &str) -> Option<&ResolvedConnection> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Whether some value could not be read.
    pub(crate) fn has_errors(&self) -> bool {
        self.by_name
            .values()
            .flat_map(|connection| connection.fields.values())
            .any(|field| field.value.is_err())
    }

    /// The error of a field a template reads (`["wh", "password"]`, `["api", "extra",
    /// "token"]`), if it could not be read.
    pub(crate) fn error_of(&self, path: &[&str]) -> Option<&ConnectionValueError> {
        let connection = self.by_name.get(*path.first()?)?;
        let field = match path.get(1..) {
            Some([field, ..]) if *field != "extra" => (*field).to_owned(),
            Some(["extra", key, ..]) => format!("extra.{key}"),
            // `conn.api.extra` as a whole: its first unreadable value.
            Some(["extra"]) => {
                return connection
                    .fields
                    .iter()
                    .filter(|(name, _)| name.starts_with("extra."))
                    .find_map(|(_, field)| field.value.as_ref().err());
            }
            // `conn.api` as a whole.
            _ => {
                return connection
                    .fields
                    .values()
                    .find_map(|field| field.value.as_ref().err());
            }
        };
        connection.fields.get(&field)?.value.as_ref().err()
    }

    /// The template variable `conn`: `{ NAME: { url, host, ..., extra: { KEY } } }`, with the
    /// values that could be read.
    pub(crate) fn template_value(&self) -> Value {
        let connections = self
            .by_name
            .iter()
            .map(|(name, connection)| {
                let mut fields = Map::new();
                let mut extra = Map::new();
                for (field, resolved) in &connection.fields {
                    let Ok(text) = &resolved.value else {
                        continue;
                    };
                    match field.strip_prefix("extra.") {
                        Some(key) => extra.insert(key.to_owned(), Value::String(text.clone())),
                        None => fields.insert(field.clone(), Value::String(text.clone())),
                    };
                }
                fields.insert("extra".to_owned(), Value::Object(extra));
                (name.clone(), Value::Object(fields))
            })
            .collect();
        Value::Object(connections)
    }

    /// Every value that could not be read, as problems at their place in `tidewater.toml`
    /// (what `validate` reports).
    pub fn problems(&self, config: &ConnectionsConfig) -> Diagnostics {
        let mut problems = Diagnostics::new();
        for connection in &config.connections {
            for field in &connection.fields {
                let Some(Err(error)) = self
                    .by_name
                    .get(&connection.name)
                    .and_then(|resolved| resolved.fields.get(&field.name))
                    .map(|resolved| &resolved.value)
                else {
                    continue;
                };
                let kind = ProblemKind::ConnectionValueUnreadable {
                    detail: error.to_string(),
                };
                problems.push(match &config.source {
                    Some(source) => {
                        Problem::at(kind, &source.path, source.text.clone(), field.span.clone())
                    }
                    None => Problem::new(kind),
                });
            }
        }
        problems
    }
}

/// The password of a URL's user info (`postgres://user:PASSWORD@host/db`), if it has one.
pub fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (user_info, _) = authority.rsplit_once('@')?;
    let (_, password) = user_info.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// `url` with its password replaced by `***`, for showing.
pub fn url_without_password(url: &str) -> String {
    match url_password(url) {
        Some(password) => url.replacen(&format!(":{password}@"), ":***@", 1),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::ProjectConfig;

    fn config(text: &str) -> ConnectionsConfig {
        ProjectConfig::parse(
            Path::new("/project"),
            Path::new("/project/tidewater.toml"),
            text,
        )
        .expect("valid config")
        .connections
    }

    #[test]
    fn a_url_password_is_redacted_as_written_and_decoded() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let config = config("[connections.wh]\nurl = \"postgres://me:p%40ss-word@db/x\"\n");
        let connections = Connections::resolve(&config, folder.path(), &|_: &str| None);
        assert_eq!(
            connections
                .redactor()
                .redact("postgres://me:p%40ss-word@db/x logged in with p@ss-word"),
            "postgres://me:***@db/x logged in with ***"
        );
    }

    #[test]
    fn values_come_from_the_file_the_environment_or_a_file_and_secrets_are_redacted() {
        let folder = tempfile::tempdir().expect("temporary folder");
        std::fs::write(folder.path().join("pw"), "from-file\n").expect("written");
        let config = config(
            "[connections.wh]\nurl = \"postgres://me:in-url@db/x\"\npassword = \"env:WH_PW\"\n\
             [connections.api]\nlogin = \"bot\"\npassword = \"file:pw\"\n\
             extra = { region = \"eu\", token = { value = \"env:TOKEN\", secret = true } }\n",
        );
        let env = |name: &str| match name {
            "WH_PW" => Some("from-env".to_owned()),
            "TOKEN" => Some("tok-123".to_owned()),
            _ => None,
        };
        let connections = Connections::resolve(&config, folder.path(), &env);
        assert_eq!(
            connections
                .redactor()
                .redact("in-url from-env from-file tok-123 bot eu postgres://me:in-url@db/x"),
            "*** *** *** *** bot eu postgres://me:***@db/x"
        );
        let value = connections.template_value();
        assert_eq!(value["api"]["extra"]["token"], "tok-123");
        assert_eq!(value["api"]["password"], "from-file");
        assert_eq!(
            connections.get("wh").map(|wh| wh.kind),
            Some(ConnectionKind::Postgres)
        );
    }

    #[test]
    fn an_unset_variable_or_a_missing_file_is_an_error_that_says_where_and_no_value() {
        let config = config(
            "[connections.wh]\nhost = \"db\"\npassword = \"env:NOPE\"\n[connections.api]\nlogin = \"file:missing\"\n",
        );
        let connections = Connections::resolve(&config, &PathBuf::from("/nowhere"), &|_| None);
        let error = connections
            .error_of(&["wh", "password"])
            .expect("an error")
            .to_string();
        assert_eq!(
            error,
            "connection `wh`: `password` comes from the environment variable `NOPE`, which is not set (tidewater.toml:3)"
        );
        assert!(connections.error_of(&["wh", "host"]).is_none());
        let file = connections
            .error_of(&["api", "login"])
            .expect("an error")
            .to_string();
        assert!(
            file.starts_with("connection `api`: `login` comes from the file `missing`"),
            "{file}"
        );
        let problems = connections.problems(&config).to_string();
        assert!(problems.contains("tidewater.toml:3:12"), "{problems}");
    }

    #[test]
    fn a_url_password_is_found_and_hidden() {
        assert_eq!(
            url_password("postgres://u:p%40ss@h:5432/db"),
            Some("p%40ss")
        );
        assert_eq!(url_password("https://h/path?x=a:b@c"), None);
        assert_eq!(
            url_without_password("postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn bad_connections_are_reported_at_their_place() {
        let problems = ProjectConfig::parse(
            Path::new("/project"),
            Path::new("/project/tidewater.toml"),
            "[connections.wh]\nkind = \"postgress\"\npasword = \"x\"\nport = true\n",
        )
        .expect_err("three problems");
        let text = problems.to_string();
        assert!(text.contains("did you mean `postgres`?"), "{text}");
        assert!(text.contains("did you mean `password`?"), "{text}");
        assert!(text.contains("tidewater.toml:4:8"), "{text}");
    }
}
