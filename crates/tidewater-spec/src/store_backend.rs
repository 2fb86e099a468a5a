use std::path::PathBuf;

/// Which backend keeps the project's runs: `[store] url` in `tidewater.toml`, parsed once
/// there. The binary opens the one named here; nothing else reads the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreBackend {
    /// One SQLite file: `url = "sqlite:PATH"` (relative to the project root; `sqlite://PATH`
    /// is the same), or without a `url`, `tidewater.db` in the state folder (`[store] path`).
    Sqlite { path: PathBuf },
}

impl StoreBackend {
    /// The URL schemes of the backends this build has, as `url` spells them.
    pub const AVAILABLE: &'static [&'static str] = &["sqlite"];
}

impl std::fmt::Display for StoreBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreBackend::Sqlite { path } => write!(f, "the SQLite file {}", path.display()),
        }
    }
}
