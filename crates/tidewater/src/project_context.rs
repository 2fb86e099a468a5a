//! Wiring: the project and its store, opened once per command into a [`Control`], which
//! every use case starts from. The one place that picks the store's backend.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tidewater_control::{Control, ProjectStore};
use tidewater_engine::KnownServers;
use tidewater_flow::Warehouse;
use tidewater_postgres::{PostgresLocation, PostgresStore};
use tidewater_spec::{LoadedWorkflow, Project, StoreBackend};
use tidewater_sqlite::SqliteStore;

use crate::output;

/// The project at `root` and its store.
pub(crate) async fn open(root: &Path) -> anyhow::Result<Control> {
    let project = Control::open_project(root)?;
    let store = open_store(&project).await?;
    with_notices(with_servers(Control::new(project, store).await?).await?)
}

/// On a store that several servers share, runs owned by a server's lease are judged by the
/// servers alive now (a server replaces this with its own lease: `Control::join_servers`).
async fn with_servers(control: Control) -> anyhow::Result<Control> {
    let Some(servers) = control.store.servers() else {
        return Ok(control);
    };
    let live = servers
        .live_servers()
        .await
        .context("cannot read which servers share the store")?;
    let wakeups = control.wakeups.clone();
    Ok(control.with_ownership(Arc::new(KnownServers::new(live)), wakeups))
}

/// [`open`], and the workflow called `name`, parsed on a second thread while this one opens
/// the store: each takes about a millisecond of a command that starts a run, and nothing of
/// one needs the other.
pub(crate) async fn open_with_workflow(
    root: &Path,
    name: &str,
) -> anyhow::Result<(Control, LoadedWorkflow)> {
    let project = Control::open_project(root)?;
    let parsing = {
        let project = project.clone();
        let name = name.to_owned();
        std::thread::spawn(move || tidewater_control::load_workflow(&project, &name))
    };
    let store = open_store(&project).await;
    let loaded = parsing
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let control = with_notices(with_servers(Control::new(project, store?).await?).await?)?;
    Ok((control, loaded?))
}

/// Shows what opening found, once; from here on, everything printed hides the project's
/// secrets.
fn with_notices(mut control: Control) -> anyhow::Result<Control> {
    if let Some(engines) = crate::commands::remote_engines(&control.project) {
        control = control.with_remote_engines(engines);
    }
    control = control.with_stream_sources(Arc::new(tidewater_stream::NatsSources));
    output::redact_with(control.connections().redactor());
    for notice in control.notices() {
        output::note(notice);
    }
    Ok(control)
}

/// The configured backend (`[store] url`); nothing past this function knows which.
async fn open_store(project: &Project) -> anyhow::Result<Arc<ProjectStore>> {
    let store: Arc<ProjectStore> = match &project.config.store {
        StoreBackend::Sqlite { path } => Arc::new(
            SqliteStore::open(path)
                .await
                .with_context(|| format!("cannot open the store {}", path.display()))?,
        ),
        StoreBackend::Postgres { .. } => Arc::new(open_postgres(project).await?),
        // `ProjectConfig::parse` refuses a backend this build lacks, at its line.
        other => bail!("this build of tidewater cannot open {other}; this is a bug in tidewater"),
    };
    Ok(store)
}

/// The project's PostgreSQL store (`[store] url = "postgres://…"`), its password read as
/// connections' values are (`env:`, `file:`, or written out). Errors name the database, never
/// the password.
pub(crate) async fn open_postgres(project: &Project) -> anyhow::Result<PostgresStore> {
    let StoreBackend::Postgres {
        url,
        password,
        schema,
    } = &project.config.store
    else {
        bail!(
            "this applies to a PostgreSQL store, and this project's store (`[store] url` in tidewater.toml) is {}",
            project.config.store
        );
    };
    let password = password
        .as_ref()
        .map(|source| {
            source
                .read(&project.root, &|variable| std::env::var(variable).ok())
                .map_err(|reason| {
                    anyhow::anyhow!(
                        "cannot read the store's password (`[store] password`): {reason}"
                    )
                })
        })
        .transpose()?;
    let location = PostgresLocation {
        url: url.clone(),
        password,
        schema: schema.clone(),
    };
    PostgresStore::open(&location)
        .await
        .with_context(|| format!("cannot open the store, {}", project.config.store))
}

/// The project's SQLite file, for what only that backend has (`tidewater store backup` and
/// `check`, reading a store file that may not exist yet); `command` names what needs it.
pub(crate) fn sqlite_path<'p>(project: &'p Project, command: &str) -> anyhow::Result<&'p Path> {
    match &project.config.store {
        StoreBackend::Sqlite { path } => Ok(path),
        other => bail!(
            "{command} applies to the SQLite backend, and this project's store (`[store] url` in tidewater.toml) is {other}"
        ),
    }
}

/// The project's files, without its store (commands that need no runs).
pub(crate) fn open_project(root: &Path) -> anyhow::Result<Project> {
    let project = Control::open_project(root)?;
    output::redact_with(tidewater_control::resolve_connections(&project).redactor());
    Ok(project)
}

/// A path as the user knows it: relative to the project folder when inside it.
pub(crate) fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The project's warehouse of Delta tables (`[warehouse] location`), with its serving views.
pub(crate) fn open_warehouse(project: &Project) -> anyhow::Result<Warehouse> {
    Warehouse::new(&project.config.warehouse, &project.root)
        .map(|warehouse| warehouse.with_views(tidewater_control::project_views(project)))
        .with_context(|| format!("cannot open the warehouse {}", project.config.warehouse))
}

/// A workflow of the project by name.
pub(crate) fn load_workflow(project: &Project, name: &str) -> anyhow::Result<LoadedWorkflow> {
    Ok(tidewater_control::load_workflow(project, name)?)
}
