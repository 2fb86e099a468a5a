//! `[engines.NAME]`: query engines outside Tidewater's process that `sql` tasks may name.

use std::collections::BTreeMap;

use tidewater_core::EngineName;

use super::{ConfigReader, Key, Value};
use crate::ProblemKind;

/// One `[engines.NAME]` of `tidewater.toml`. Parsed in every build, so that a project is read
/// the same way whether or not this binary can reach the engine (a build without the
/// `ballista` feature fails the task, with how to build one, instead of refusing the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineConfig {
    /// `ballista = "df://host:50050"`: an Apache DataFusion Ballista scheduler.
    Ballista {
        /// The scheduler's URL as Ballista's client takes it, normalised to
        /// `df://host:port` (the port defaults to Ballista's 50050).
        url: String,
    },
}

impl EngineConfig {
    /// `host:port` of the engine, for messages that must say which cluster failed.
    pub fn address(&self) -> &str {
        match self {
            EngineConfig::Ballista { url } => url.trim_start_matches("df://"),
        }
    }
}

/// The port of a Ballista scheduler when the URL gives none.
pub const DEFAULT_BALLISTA_PORT: u16 = 50050;

const ENGINE_KEYS: &[&str] = &["ballista"];

impl ConfigReader<'_> {
    /// `[engines]`: each valid engine; every problem is reported at its place.
    pub(super) fn engines(
        &mut self,
        key: &Key<'_>,
        value: &Value<'_>,
    ) -> BTreeMap<EngineName, EngineConfig> {
        let mut engines = BTreeMap::new();
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table of engines", value);
            return engines;
        };
        for (name, engine) in table.iter() {
            let context = format!("`[engines.{}]`", name.get_ref());
            let Some(settings) = engine.get_ref().as_table() else {
                self.wrong_type(
                    &format!("engines.{}", name.get_ref()),
                    "a table such as `{ ballista = \"df://127.0.0.1:50050\" }`",
                    engine,
                );
                continue;
            };
            let mut config = None;
            for (setting, setting_value) in settings.iter() {
                match setting.get_ref().as_ref() {
                    "ballista" => match setting_value.get_ref().as_str() {
                        Some(text) => config = self.ballista_url(text, setting_value),
                        None => self.wrong_type(
                            &format!("engines.{}.ballista", name.get_ref()),
                            "a string such as \"df://127.0.0.1:50050\"",
                            setting_value,
                        ),
                    },
                    _ => self.unknown_key(setting, &context, ENGINE_KEYS),
                }
            }
            if settings.is_empty() {
                self.report(
                    ProblemKind::MissingKey {
                        key: "ballista",
                        context,
                        example: "ballista = \"df://127.0.0.1:50050\"",
                    },
                    name.span(),
                );
            }
            if let Some(config) = config {
                engines.insert(EngineName::new(name.get_ref().as_ref()), config);
            }
        }
        engines
    }

    /// `df://host[:port]`, nothing else: Ballista's client takes no path or query.
    fn ballista_url(&mut self, text: &str, value: &Value<'_>) -> Option<EngineConfig> {
        let invalid = |reason: String| ProblemKind::InvalidValue {
            what: format!("`{text}` is not a Ballista scheduler URL: {reason}"),
            hint: Some("e.g. `ballista = \"df://127.0.0.1:50050\"`".to_owned()),
        };
        let problem = match url::Url::parse(text.trim()) {
            Ok(url) if url.scheme() != "df" => {
                invalid(format!("the scheme is `{}`, not `df`", url.scheme()))
            }
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                invalid("it names no host".to_owned())
            }
            Ok(url) if !matches!(url.path(), "" | "/") || url.query().is_some() => {
                invalid("it has a path or query; give only the host and port".to_owned())
            }
            Ok(url) => {
                let host = url.host_str().unwrap_or_default();
                let port = url.port().unwrap_or(DEFAULT_BALLISTA_PORT);
                return Some(EngineConfig::Ballista {
                    url: format!("df://{host}:{port}"),
                });
            }
            Err(error) => invalid(error.to_string()),
        };
        self.report(problem, value.span());
        None
    }
}
