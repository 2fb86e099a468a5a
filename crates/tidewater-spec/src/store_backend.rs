use std::path::PathBuf;

use crate::ValueSource;

/// Which backend keeps the project's runs: `[store] url` in `tidewater.toml`, parsed once
/// there. The binary opens the one named here; nothing else reads the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreBackend {
    /// One SQLite file: `url = "sqlite:PATH"` (relative to the project root; `sqlite://PATH`
    /// is the same), or without a `url`, `tidewater.db` in the state folder (`[store] path`).
    Sqlite { path: PathBuf },
    /// A PostgreSQL database: `url = "postgres://USER@HOST:PORT/DATABASE"` (`postgresql://`
    /// too), its password in the URL or in `password` (`env:VAR`, `file:PATH` or written
    /// out, read as connections' values are), its tables in `schema` if given (else the
    /// role's `search_path`, normally `public`).
    Postgres {
        url: String,
        password: Option<ValueSource>,
        schema: Option<String>,
    },
}

impl StoreBackend {
    /// The URL schemes of the backends this build has, as `url` spells them.
    pub const AVAILABLE: &'static [&'static str] = &["sqlite", "postgres"];
}

/// `url` with its password, if any, replaced by `***`: what may be shown.
pub fn redacted_store_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl std::fmt::Display for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreBackend::Sqlite { path } => write!(f, "the SQLite file {}", path.display()),
            StoreBackend::Postgres { url, schema, .. } => {
                write!(f, "the PostgreSQL database {}", redacted_store_url(url))?;
                match schema {
                    Some(schema) => write!(f, " (schema {schema})"),
                    None => Ok(()),
                }
            }
        }
    }
}
