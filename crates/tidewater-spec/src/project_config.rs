use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tidewater_core::PoolName;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::did_you_mean::did_you_mean;
use crate::{ConnectionsConfig, Diagnostics, Problem, ProblemKind, StoreBackend};

mod engine_config;
mod lineage_config;

pub use engine_config::{DEFAULT_BALLISTA_PORT, EngineConfig};
pub use lineage_config::{DEFAULT_LINEAGE_TIMEOUT, LineageConfig};

/// The settings of `tidewater.toml`, read once and passed down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectConfig {
    /// `[pools.NAME] slots = N`: how many task slots guard each outside system.
    pub pools: BTreeMap<PoolName, PoolConfig>,
    /// `parallelism = N`: how many tasks may run at once in the whole project.
    pub parallelism: Option<u32>,
    /// Where the embedded state and task logs live: `[store] path`, relative to the
    /// project root, by default `.tidewater`. Always absolute when the root is.
    pub state_dir: PathBuf,
    /// `[store] url`: the backend that keeps the runs, by default SQLite in
    /// `<state_dir>/tidewater.db`.
    pub store: StoreBackend,
    /// `[warehouse] location`: where the Delta tables live, a folder relative to the project
    /// root (default `warehouse`) or an object-store URL (`s3://bucket/prefix`).
    pub warehouse: String,
    /// `[server] listen`: where `tidewater server` serves its HTTP API (an IP address and
    /// port; `--listen` overrides it).
    pub listen: Option<String>,
    /// `[backfill] max_intervals`: the most intervals one backfill may cover, so that one
    /// request cannot queue millions of runs (default [`DEFAULT_BACKFILL_MAX_INTERVALS`]).
    pub backfill_max_intervals: u32,
    /// `[lineage]`: where `sql` tasks send OpenLineage run events; none without it.
    pub lineage: Option<LineageConfig>,
    /// `[connections.NAME]`: outside systems tasks connect to, and where their credentials
    /// come from.
    pub connections: ConnectionsConfig,
    /// `[server] url`: the server's public base URL (`https://tidewater.example.com`), for
    /// links to a run's page in notifications.
    pub server_url: Option<String>,
    /// `[notifications]`: how webhooks are delivered.
    pub notifications: NotificationSettings,
    /// `[engines.NAME]`: query engines (Ballista clusters) that `sql` tasks may name with
    /// `engine: NAME`.
    pub engines: BTreeMap<tidewater_core::EngineName, EngineConfig>,
    /// `[workers]`: how `tidewater worker` processes keep their leases.
    pub workers: WorkerSettings,
    /// `[server] heartbeat, lease`: how servers sharing a PostgreSQL store keep theirs.
    pub server_leases: ServerLeaseConfig,
}

/// `[server] heartbeat, lease`: a server sharing its store with others (PostgreSQL) renews
/// its lease, and the leader its leadership, every `heartbeat`; a lease not renewed for
/// `lease` expires (by the database's clock): another server leads, and takes its runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLeaseConfig {
    pub heartbeat: std::time::Duration,
    pub lease: std::time::Duration,
}

impl Default for ServerLeaseConfig {
    /// As for workers: a server's pause of a few seconds is waited for, a dead one replaced
    /// within 30 s.
    fn default() -> Self {
        ServerLeaseConfig {
            heartbeat: std::time::Duration::from_secs(10),
            lease: std::time::Duration::from_secs(30),
        }
    }
}

/// `[workers] heartbeat, lease`: a worker renews its attempts' leases every `heartbeat`; a
/// lease not renewed for `lease` expires (by the server's clock) and its attempt is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSettings {
    pub heartbeat: std::time::Duration,
    pub lease: std::time::Duration,
}

impl Default for WorkerSettings {
    /// Ten seconds between heartbeats and three missed ones before a lease expires: a
    /// worker's pause (a long GC, a busy host) is waited for, a dead one noticed in 30 s.
    fn default() -> Self {
        WorkerSettings {
            heartbeat: std::time::Duration::from_secs(10),
            lease: std::time::Duration::from_secs(30),
        }
    }
}

/// `[notifications] timeout, attempts, backoff`: each delivery of a webhook waits at most
/// `timeout` for an answer; a failed one is tried again after `backoff`, doubled each time (at
/// most 5 minutes), until `attempts` deliveries have failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationSettings {
    pub timeout: std::time::Duration,
    pub attempts: u32,
    pub backoff: std::time::Duration,
}

impl Default for NotificationSettings {
    /// Ten seconds per delivery, five deliveries over about 15 s of back-off: a receiver
    /// restarting or briefly overloaded is waited for, one that is down is given up on.
    fn default() -> Self {
        NotificationSettings {
            timeout: std::time::Duration::from_secs(10),
            attempts: 5,
            backoff: std::time::Duration::from_secs(1),
        }
    }
}

/// Intervals a backfill may cover unless `[backfill] max_intervals` says otherwise: two
/// years of hourly runs, 55 years of daily ones.
pub const DEFAULT_BACKFILL_MAX_INTERVALS: u32 = 20_000;

/// One pool of `tidewater.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    pub slots: u32,
    /// `rate = "30/min"`: at most this many task starts per window.
    pub rate: Option<tidewater_core::RateLimit>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "backfill",
    "lineage",
    "connections",
    "engines",
    "notifications",
    "parallelism",
    "pools",
    "server",
    "store",
    "warehouse",
    "workers",
];
const BACKFILL_KEYS: &[&str] = &["max_intervals"];
const SERVER_KEYS: &[&str] = &["listen", "url", "heartbeat", "lease"];
const NOTIFICATION_KEYS: &[&str] = &["timeout", "attempts", "backoff"];
const WORKER_KEYS: &[&str] = &["heartbeat", "lease"];
const WAREHOUSE_KEYS: &[&str] = &["location"];
const POOL_KEYS: &[&str] = &["slots", "rate"];
const STORE_KEYS: &[&str] = &["path", "url", "password", "schema"];

impl ProjectConfig {
    /// Reads the text of `tidewater.toml` (found at `path`) for the project at `root`,
    /// reporting every problem at its place.
    pub fn parse(root: &Path, path: &Path, text: &str) -> Result<ProjectConfig, Diagnostics> {
        let mut reader = ConfigReader {
            path,
            text: Arc::from(text),
            problems: Diagnostics::new(),
        };
        let (document, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            for error in syntax_errors {
                let span = error.span().unwrap_or(0..0);
                let message = error.message().trim().to_owned();
                reader.report(ProblemKind::TomlSyntax { message }, span);
            }
            return Err(reader.problems);
        }
        let mut config = ProjectConfig {
            pools: BTreeMap::new(),
            parallelism: None,
            state_dir: root.join(".tidewater"),
            store: StoreBackend::Sqlite {
                path: root.join(".tidewater").join(STORE_FILE),
            },
            warehouse: root.join("warehouse").display().to_string(),
            listen: None,
            backfill_max_intervals: DEFAULT_BACKFILL_MAX_INTERVALS,
            lineage: None,
            connections: ConnectionsConfig::default(),
            server_url: None,
            notifications: NotificationSettings::default(),
            engines: BTreeMap::new(),
            workers: WorkerSettings::default(),
            server_leases: ServerLeaseConfig::default(),
        };
        for (key, value) in document.get_ref().iter() {
            match key.get_ref().as_ref() {
                "parallelism" => config.parallelism = reader.count("parallelism", value),
                "pools" => config.pools = reader.pools(key, value),
                "store" => {
                    let settings = reader.store(key, value);
                    if let Some(store_path) = settings.path {
                        config.state_dir = root.join(store_path);
                    }
                    config.store = match settings.url {
                        Some(StoreUrl::Sqlite(path)) => StoreBackend::Sqlite {
                            path: root.join(path),
                        },
                        Some(StoreUrl::Postgres(url)) => StoreBackend::Postgres {
                            url,
                            password: settings.password,
                            schema: settings.schema,
                        },
                        None => StoreBackend::Sqlite {
                            path: config.state_dir.join(STORE_FILE),
                        },
                    };
                }
                "warehouse" => {
                    if let Some(location) = reader.warehouse_location(key, value) {
                        config.warehouse = if location.contains("://") {
                            location
                        } else {
                            root.join(location).display().to_string()
                        };
                    }
                }
                "server" => {
                    config.listen = reader.server_listen(key, value);
                    config.server_url = reader.server_url(value);
                    config.server_leases = reader.server_leases(value);
                }
                "connections" => config.connections = reader.connections(key, value),
                "engines" => config.engines = reader.engines(key, value),
                "notifications" => config.notifications = reader.notifications(key, value),
                "workers" => config.workers = reader.workers(key, value),
                "backfill" => {
                    if let Some(max) = reader.backfill_max_intervals(key, value) {
                        config.backfill_max_intervals = max;
                    }
                }
                "lineage" => {
                    let project_name = root
                        .file_name()
                        .map_or_else(|| "tidewater".into(), |name| name.to_string_lossy());
                    config.lineage = reader.lineage(key, value, &project_name);
                }
                _ => reader.unknown_key(key, "`tidewater.toml`", TOP_LEVEL_KEYS),
            }
        }
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            reader.problems.sort_by_position(path);
            Err(reader.problems)
        }
    }
}

/// The SQLite file in the state folder when `[store]` names no `url`.
const STORE_FILE: &str = "tidewater.db";

/// `[store]` as written: each setting that was valid.
#[derive(Default)]
struct StoreSettings {
    path: Option<PathBuf>,
    url: Option<StoreUrl>,
    /// PostgreSQL only: where the password comes from, and the schema.
    password: Option<crate::ValueSource>,
    schema: Option<String>,
}

/// `[store] url`, of a backend this build has.
enum StoreUrl {
    /// `sqlite:PATH`, the path as written.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, as written.
    Postgres(String),
}

pub(crate) type Key<'i> = Spanned<std::borrow::Cow<'i, str>>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

pub(crate) struct ConfigReader<'p> {
    pub(crate) path: &'p Path,
    pub(crate) text: Arc<str>,
    problems: Diagnostics,
}

impl ConfigReader<'_> {
    pub(crate) fn report(&mut self, kind: ProblemKind, span: Range<usize>) {
        self.problems
            .push(Problem::at(kind, self.path, self.text.clone(), span));
    }

    pub(crate) fn unknown_key(
        &mut self,
        key: &Key<'_>,
        context: &str,
        expected: &'static [&'static str],
    ) {
        let name = key.get_ref().to_string();
        let suggestion = did_you_mean(&name, expected.iter().copied());
        self.report(
            ProblemKind::UnknownKey {
                key: name,
                context: context.to_owned(),
                suggestion,
                expected: expected.to_vec(),
            },
            key.span(),
        );
    }

    pub(crate) fn wrong_type(&mut self, key: &str, expected: &'static str, value: &Value<'_>) {
        let found = describe(value.get_ref());
        self.report(
            ProblemKind::WrongType {
                key: key.to_owned(),
                expected,
                found,
            },
            value.span(),
        );
    }

    /// A whole number of at least 1 that fits a `u32`; `name` is the key's full name.
    /// A positive duration such as `"10s"`, or a problem at `value` and `None`.
    fn duration(&mut self, name: &str, value: &Value<'_>) -> Option<std::time::Duration> {
        let parsed = value
            .get_ref()
            .as_str()
            .and_then(|text| crate::parse_duration(text).ok())
            .filter(|duration| !duration.is_zero());
        if parsed.is_none() {
            self.wrong_type(name, "a duration such as \"10s\"", value);
        }
        parsed
    }

    fn count(&mut self, name: &str, value: &Value<'_>) -> Option<u32> {
        let Some(integer) = value.get_ref().as_integer() else {
            self.wrong_type(name, "a whole number", value);
            return None;
        };
        let parsed = i64::from_str_radix(integer.as_str(), integer.radix()).unwrap_or(i64::MAX);
        match u32::try_from(parsed) {
            Ok(count) if count >= 1 => Some(count),
            _ => {
                self.report(
                    ProblemKind::OutOfRange {
                        key: name.to_owned(),
                        found: parsed,
                        minimum: 1,
                        maximum: i64::from(u32::MAX),
                    },
                    value.span(),
                );
                None
            }
        }
    }

    fn pools(&mut self, key: &Key<'_>, value: &Value<'_>) -> BTreeMap<PoolName, PoolConfig> {
        let mut pools = BTreeMap::new();
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table of pools", value);
            return pools;
        };
        for (name, pool) in table.iter() {
            let context = format!("`[pools.{}]`", name.get_ref());
            let Some(settings) = pool.get_ref().as_table() else {
                self.wrong_type(
                    &format!("pools.{}", name.get_ref()),
                    "a table such as `{ slots = 4 }`",
                    pool,
                );
                continue;
            };
            let mut slots = None;
            let mut rate = None;
            let mut is_valid = true;
            for (setting, setting_value) in settings.iter() {
                match setting.get_ref().as_ref() {
                    "slots" => {
                        slots =
                            self.count(&format!("pools.{}.slots", name.get_ref()), setting_value);
                        is_valid &= slots.is_some();
                    }
                    "rate" => match setting_value.get_ref().as_str() {
                        Some(text) => match text.parse::<tidewater_core::RateLimit>() {
                            Ok(parsed) => rate = Some(parsed),
                            Err(error) => {
                                is_valid = false;
                                self.report(
                                    ProblemKind::InvalidValue {
                                        what: error.to_string(),
                                        hint: Some(
                                            "a rate is starts per unit, e.g. `rate = \"30/min\"`"
                                                .to_owned(),
                                        ),
                                    },
                                    setting_value.span(),
                                );
                            }
                        },
                        None => {
                            is_valid = false;
                            self.wrong_type(
                                &format!("pools.{}.rate", name.get_ref()),
                                "a string such as \"30/min\"",
                                setting_value,
                            );
                        }
                    },
                    _ => self.unknown_key(setting, &context, POOL_KEYS),
                }
            }
            // A pool with only a rate limits starts, not concurrency.
            let slots = slots.or(rate.map(|_| u32::MAX));
            match slots {
                Some(slots) if is_valid => {
                    pools.insert(
                        PoolName::new(name.get_ref().as_ref()),
                        PoolConfig { slots, rate },
                    );
                }
                Some(_) => {}
                None if settings.get("slots").is_none() => self.report(
                    ProblemKind::MissingKey {
                        key: "slots",
                        context,
                        example: "slots = 4",
                    },
                    name.span(),
                ),
                None => {}
            }
        }
        pools
    }

    fn warehouse_location(&mut self, key: &Key<'_>, value: &Value<'_>) -> Option<String> {
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return None;
        };
        let mut location = None;
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "location" => match setting_value.get_ref().as_str() {
                    Some(text) if !text.trim().is_empty() => location = Some(text.to_owned()),
                    _ => self.wrong_type("warehouse.location", "a non-empty string", setting_value),
                },
                _ => self.unknown_key(setting, "`[warehouse]`", WAREHOUSE_KEYS),
            }
        }
        location
    }

    fn backfill_max_intervals(&mut self, key: &Key<'_>, value: &Value<'_>) -> Option<u32> {
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return None;
        };
        let mut max = None;
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "max_intervals" => max = self.count("backfill.max_intervals", setting_value),
                _ => self.unknown_key(setting, "`[backfill]`", BACKFILL_KEYS),
            }
        }
        max
    }

    fn server_listen(&mut self, key: &Key<'_>, value: &Value<'_>) -> Option<String> {
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return None;
        };
        let mut listen = None;
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                // Read by `server_url` and `server_leases`.
                "url" | "heartbeat" | "lease" => {}
                "listen" => match setting_value.get_ref().as_str() {
                    Some(text) if text.parse::<std::net::SocketAddr>().is_ok() => {
                        listen = Some(text.to_owned());
                    }
                    _ => self.wrong_type(
                        "server.listen",
                        "an address like \"127.0.0.1:8080\"",
                        setting_value,
                    ),
                },
                _ => self.unknown_key(setting, "`[server]`", SERVER_KEYS),
            }
        }
        listen
    }

    /// `[server] url`, an `http://` or `https://` base URL; the table itself is checked by
    /// `server_listen`.
    fn server_url(&mut self, value: &Value<'_>) -> Option<String> {
        let setting = value.get_ref().as_table()?.get("url")?;
        match setting.get_ref().as_str() {
            Some(text) if text.starts_with("http://") || text.starts_with("https://") => {
                Some(text.trim_end_matches('/').to_owned())
            }
            _ => {
                self.wrong_type(
                    "server.url",
                    "a URL like \"https://tidewater.example.com\"",
                    setting,
                );
                None
            }
        }
    }

    /// `[server] heartbeat, lease`; the table itself is checked by `server_listen`.
    fn server_leases(&mut self, value: &Value<'_>) -> ServerLeaseConfig {
        let mut settings = ServerLeaseConfig::default();
        let Some(table) = value.get_ref().as_table() else {
            return settings;
        };
        if let Some(heartbeat) = table.get("heartbeat")
            && let Some(heartbeat) = self.duration("server.heartbeat", heartbeat)
        {
            settings.heartbeat = heartbeat;
        }
        let lease_value = table.get("lease");
        if let Some(lease) = lease_value
            && let Some(lease) = self.duration("server.lease", lease)
        {
            settings.lease = lease;
        }
        self.check_lease_outlives_heartbeat(
            "server",
            (settings.heartbeat, settings.lease),
            lease_value,
            table.get("heartbeat").unwrap_or(value),
        );
        settings
    }

    /// A lease no longer than a heartbeat would expire between two renewals: reported at the
    /// `lease` value when the file sets one, else at `heartbeat_value`.
    fn check_lease_outlives_heartbeat(
        &mut self,
        section: &str,
        (heartbeat, lease): (std::time::Duration, std::time::Duration),
        lease_value: Option<&Value<'_>>,
        heartbeat_value: &Value<'_>,
    ) {
        if lease > heartbeat {
            return;
        }
        match lease_value {
            Some(lease_value) => self.wrong_type(
                &format!("{section}.lease"),
                "a duration longer than `heartbeat`",
                lease_value,
            ),
            None => self.wrong_type(
                &format!("{section}.heartbeat"),
                "a duration shorter than the lease (30s unless `lease` is set)",
                heartbeat_value,
            ),
        }
    }

    fn notifications(&mut self, key: &Key<'_>, value: &Value<'_>) -> NotificationSettings {
        let mut settings = NotificationSettings::default();
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return settings;
        };
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "timeout" => {
                    if let Some(timeout) = self.duration("notifications.timeout", setting_value) {
                        settings.timeout = timeout;
                    }
                }
                "backoff" => {
                    if let Some(backoff) = self.duration("notifications.backoff", setting_value) {
                        settings.backoff = backoff;
                    }
                }
                "attempts" => {
                    if let Some(attempts) = self.count("notifications.attempts", setting_value) {
                        settings.attempts = attempts;
                    }
                }
                _ => self.unknown_key(setting, "`[notifications]`", NOTIFICATION_KEYS),
            }
        }
        settings
    }

    fn workers(&mut self, key: &Key<'_>, value: &Value<'_>) -> WorkerSettings {
        let mut settings = WorkerSettings::default();
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return settings;
        };
        let mut lease_value = None;
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "heartbeat" => {
                    if let Some(heartbeat) = self.duration("workers.heartbeat", setting_value) {
                        settings.heartbeat = heartbeat;
                    }
                }
                "lease" => {
                    if let Some(lease) = self.duration("workers.lease", setting_value) {
                        settings.lease = lease;
                        lease_value = Some(setting_value);
                    }
                }
                _ => self.unknown_key(setting, "`[workers]`", WORKER_KEYS),
            }
        }
        self.check_lease_outlives_heartbeat(
            "workers",
            (settings.heartbeat, settings.lease),
            lease_value,
            value,
        );
        settings
    }

    fn store(&mut self, key: &Key<'_>, value: &Value<'_>) -> StoreSettings {
        let mut settings = StoreSettings::default();
        let Some(table) = value.get_ref().as_table() else {
            self.wrong_type(key.get_ref(), "a table", value);
            return settings;
        };
        for (setting, setting_value) in table.iter() {
            match setting.get_ref().as_ref() {
                "path" => match setting_value.get_ref().as_str() {
                    Some(text) if !text.trim().is_empty() => {
                        settings.path = Some(PathBuf::from(text));
                    }
                    _ => self.wrong_type("store.path", "a non-empty string", setting_value),
                },
                "url" => match setting_value.get_ref().as_str() {
                    Some(text) if !text.trim().is_empty() => {
                        settings.url = self.store_url(text, setting_value);
                    }
                    _ => self.wrong_type(
                        "store.url",
                        "a string such as \"sqlite:state/tidewater.db\"",
                        setting_value,
                    ),
                },
                "password" => match setting_value.get_ref().as_str() {
                    Some(text) if !text.trim().is_empty() => {
                        settings.password = Some(crate::ValueSource::parse(text));
                    }
                    _ => self.wrong_type(
                        "store.password",
                        "a string such as \"env:TIDEWATER_DB_PASSWORD\" or \"file:secrets/db\"",
                        setting_value,
                    ),
                },
                "schema" => match setting_value.get_ref().as_str() {
                    Some(text) if is_plain_identifier(text) => {
                        settings.schema = Some(text.to_owned());
                    }
                    _ => self.wrong_type(
                        "store.schema",
                        "a schema name of lowercase letters, digits and `_`, not starting with a digit",
                        setting_value,
                    ),
                },
                _ => self.unknown_key(setting, "`[store]`", STORE_KEYS),
            }
        }
        if !matches!(settings.url, Some(StoreUrl::Postgres(_)))
            && (settings.password.is_some() || settings.schema.is_some())
        {
            self.report(
                ProblemKind::InvalidValue {
                    what: "`password` and `schema` of `[store]` apply to a PostgreSQL store only"
                        .to_owned(),
                    hint: Some(
                        "give `url = \"postgres://USER@HOST:5432/DATABASE\"`, or remove them"
                            .to_owned(),
                    ),
                },
                value.span(),
            );
        }
        settings
    }

    /// `scheme:rest`; the scheme names the backend. A scheme this build has no backend for
    /// (`postgres://…`) is reported here, at its place, rather than when a command first
    /// opens the store.
    fn store_url(&mut self, text: &str, value: &Value<'_>) -> Option<StoreUrl> {
        let scheme = text
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                scheme.starts_with(|first: char| first.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            });
        // `sqlite://PATH` is read as `sqlite:PATH`, as sqlx and others read it: otherwise the
        // `//` would make a relative path absolute (`//other.db` is `/other.db`).
        let rest = |scheme: &str| {
            let rest = &text[scheme.len() + 1..];
            rest.strip_prefix("//").unwrap_or(rest)
        };
        match scheme.map(|scheme| (scheme, rest(scheme))) {
            Some(("sqlite", path)) if !path.trim().is_empty() => {
                Some(StoreUrl::Sqlite(PathBuf::from(path)))
            }
            Some(("postgres" | "postgresql", _)) => Some(StoreUrl::Postgres(text.to_owned())),
            Some(("sqlite", _)) => {
                self.report(
                    ProblemKind::InvalidValue {
                        what: "`sqlite:` names no file".to_owned(),
                        hint: Some(
                            "give the store's file after the scheme, e.g. `url = \"sqlite:state/tidewater.db\"`"
                                .to_owned(),
                        ),
                    },
                    value.span(),
                );
                None
            }
            Some((scheme, _)) => {
                self.report(
                    ProblemKind::StoreBackendNotAvailable {
                        scheme: scheme.to_owned(),
                    },
                    value.span(),
                );
                None
            }
            None => {
                self.report(
                    ProblemKind::InvalidValue {
                        what: format!("`{text}` is not a store URL: it names no backend"),
                        hint: Some(
                            "write the backend's scheme first, e.g. `url = \"sqlite:state/tidewater.db\"`"
                                .to_owned(),
                        ),
                    },
                    value.span(),
                );
                None
            }
        }
    }
}

/// A PostgreSQL schema name that needs no quoting anywhere it is written.
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectConfig, Diagnostics> {
        ProjectConfig::parse(
            Path::new("/project"),
            Path::new("/project/tidewater.toml"),
            text,
        )
    }

    #[test]
    fn reads_pools_parallelism_and_store_path() {
        let config =
            parse("parallelism = 8\n[pools.source_api]\nslots = 2\n[store]\npath = \"state\"\n")
                .expect("valid config");
        assert_eq!(config.parallelism, Some(8));
        assert_eq!(
            config.pools.get("source_api"),
            Some(&PoolConfig {
                slots: 2,
                rate: None
            })
        );
        assert_eq!(config.state_dir, PathBuf::from("/project/state"));
    }

    #[test]
    fn the_server_listen_address_is_read_and_a_bad_one_is_reported_at_its_place() {
        let config = parse("[server]\nlisten = \"127.0.0.1:9000\"\n").expect("valid");
        assert_eq!(config.listen.as_deref(), Some("127.0.0.1:9000"));
        let problems = parse("parallelism = 2\n[server]\nlisten = \"port nine\"\n")
            .expect_err("not an address");
        let problem = problems.iter().next().expect("a problem");
        assert_eq!(problem.line_column().map(|(line, _)| line), Some(3));
        assert!(problem.to_string().contains("server.listen"), "{problem}");
        let problems = parse("[server]\nport = 9000\n").expect_err("unknown key");
        assert!(
            problems
                .iter()
                .next()
                .expect("a problem")
                .to_string()
                .contains("port"),
            "{problems}"
        );
    }

    #[test]
    fn server_leases_are_read_and_a_lease_not_longer_than_the_heartbeat_is_reported_at_its_line() {
        let config = parse("[server]\nheartbeat = \"1s\"\nlease = \"3s\"\n").expect("valid");
        assert_eq!(
            config.server_leases,
            ServerLeaseConfig {
                heartbeat: std::time::Duration::from_secs(1),
                lease: std::time::Duration::from_secs(3),
            }
        );
        assert_eq!(
            parse("").expect("valid").server_leases,
            ServerLeaseConfig::default()
        );
        let problems = parse("[server]\nheartbeat = \"5s\"\nlease = \"5s\"\n")
            .expect_err("a lease as long as the heartbeat");
        let problem = problems.iter().next().expect("a problem");
        assert_eq!(problem.line_column().map(|(line, _)| line), Some(3));
        assert!(problem.to_string().contains("server.lease"), "{problem}");
        let problems = parse("[server]\nheartbeat = \"soon\"\n").expect_err("not a duration");
        let problem = problems.iter().next().expect("a problem");
        assert_eq!(problem.line_column().map(|(line, _)| line), Some(2));
        assert!(
            problem.to_string().contains("server.heartbeat"),
            "{problem}"
        );
    }

    #[test]
    fn an_empty_file_gives_defaults() {
        let config = parse("").expect("valid config");
        assert!(config.pools.is_empty());
        assert_eq!(config.parallelism, None);
        assert_eq!(config.state_dir, PathBuf::from("/project/.tidewater"));
    }

    #[test]
    fn reports_every_bad_setting_with_its_place() {
        let text = "paralelism = 4\n[pools.a]\nslots = 0\n[pools.b]\nslot = 1\n";
        let problems = parse(text).expect_err("three problems");
        let codes: Vec<_> = problems.iter().map(|p| p.kind().code()).collect();
        assert_eq!(
            codes,
            [
                "tidewater::unknown_key",
                "tidewater::out_of_range",
                "tidewater::missing_key",
                "tidewater::unknown_key",
            ]
        );
        let first = problems.iter().next().expect("a problem");
        assert_eq!(first.line_column(), Some((1, 1)));
        assert_eq!(
            first.kind().help().as_deref(),
            Some("did you mean `parallelism`?")
        );
    }

    #[test]
    fn reports_toml_syntax_errors_at_their_line() {
        let problems = parse("parallelism = 4\n[pools.a\n").expect_err("syntax error");
        let first = problems.iter().next().expect("a problem");
        assert_eq!(first.kind().code(), "tidewater::toml_syntax");
        assert_eq!(first.line_column().map(|(line, _)| line), Some(2));
    }

    #[test]
    fn a_pool_rate_is_read_and_a_bad_unit_is_reported_at_its_place() {
        let config = parse("[pools.api]\nslots = 4\nrate = \"30/min\"\n").expect("valid");
        let pool = config.pools.get("api").expect("declared");
        assert_eq!(
            pool.rate.map(|rate| rate.to_string()),
            Some("30/min".to_owned())
        );
        let problems =
            parse("[pools.api]\nslots = 4\nrate = \"30/fortnight\"\n").expect_err("invalid");
        let text = problems.to_string();
        assert!(text.contains("unknown unit `fortnight`"), "{text}");
        assert!(text.contains("tidewater.toml:3:8"), "{text}");
    }

    #[test]
    fn the_store_is_sqlite_in_the_state_folder_unless_a_url_names_another_file() {
        let default = parse("[store]\npath = \"state\"\n").expect("valid config");
        assert_eq!(
            default.store,
            StoreBackend::Sqlite {
                path: PathBuf::from("/project/state/tidewater.db")
            }
        );
        let named =
            parse("[store]\npath = \"state\"\nurl = \"sqlite:other.db\"\n").expect("valid config");
        assert_eq!(
            named.store,
            StoreBackend::Sqlite {
                path: PathBuf::from("/project/other.db")
            }
        );
        // The logs stay in the state folder, wherever the store's file is.
        assert_eq!(named.state_dir, PathBuf::from("/project/state"));
        for url in ["sqlite:/data/runs.db", "sqlite:///data/runs.db"] {
            let absolute = parse(&format!("[store]\nurl = \"{url}\"\n")).expect("valid config");
            assert_eq!(
                absolute.store,
                StoreBackend::Sqlite {
                    path: PathBuf::from("/data/runs.db")
                },
                "{url}"
            );
        }
        // The form other tools write: still relative to the project.
        let slashes = parse("[store]\nurl = \"sqlite://other.db\"\n").expect("valid config");
        assert_eq!(
            slashes.store,
            StoreBackend::Sqlite {
                path: PathBuf::from("/project/other.db")
            }
        );
    }

    #[test]
    fn a_postgres_url_selects_the_postgres_backend_with_its_password_source_and_schema() {
        let config = parse(
            "[store]\nurl = \"postgres://tw@db.example:5432/runs\"\npassword = \"env:TW_DB_PASSWORD\"\nschema = \"team_a\"\n",
        )
        .expect("valid config");
        assert_eq!(
            config.store,
            StoreBackend::Postgres {
                url: "postgres://tw@db.example:5432/runs".to_owned(),
                password: Some(crate::ValueSource::Env("TW_DB_PASSWORD".to_owned())),
                schema: Some("team_a".to_owned()),
            }
        );
        let shown = StoreBackend::Postgres {
            url: "postgresql://tw:s3cret@db.example/runs".to_owned(),
            password: None,
            schema: None,
        }
        .to_string();
        assert_eq!(
            shown,
            "the PostgreSQL database postgresql://tw:***@db.example/runs"
        );
    }

    #[test]
    fn a_store_schema_that_would_need_quoting_or_a_password_for_sqlite_is_refused() {
        let problems = parse("[store]\nurl = \"postgres://db/x\"\nschema = \"Team-A\"\n")
            .expect_err("a bad schema");
        assert!(problems.to_string().contains("store.schema"), "{problems}");
        let problems = parse("[store]\nurl = \"sqlite:x.db\"\npassword = \"env:PW\"\n")
            .expect_err("password without postgres");
        assert!(
            problems
                .to_string()
                .contains("apply to a PostgreSQL store only"),
            "{problems}"
        );
    }

    #[test]
    fn a_store_url_of_a_backend_this_build_lacks_is_reported_at_its_place() {
        let problems = parse("parallelism = 2\n[store]\nurl = \"mysql://db.example/tidewater\"\n")
            .expect_err("no such backend");
        let codes: Vec<_> = problems.iter().map(|p| p.kind().code()).collect();
        assert_eq!(codes, ["tidewater::store_backend_not_available"]);
        let first = problems.iter().next().expect("a problem");
        assert_eq!(first.line_column(), Some((3, 7)));
        let text = problems.to_string();
        assert!(
            text.contains("this build of tidewater has no `mysql` store backend"),
            "{text}"
        );
        assert!(
            first
                .kind()
                .help()
                .is_some_and(|help| help.contains("available store backends: sqlite, postgres")),
            "{text}"
        );
    }

    #[test]
    fn a_store_url_without_a_backend_or_a_file_is_reported() {
        for url in ["other.db", "sqlite:"] {
            let problems = parse(&format!("[store]\nurl = \"{url}\"\n")).expect_err("invalid url");
            let codes: Vec<_> = problems.iter().map(|p| p.kind().code()).collect();
            assert_eq!(codes, ["tidewater::invalid_value"], "{url}");
            assert_eq!(
                problems.iter().next().and_then(|p| p.line_column()),
                Some((2, 7)),
                "{url}"
            );
        }
    }
}
