//! Wiring: the project, its store and an executor, built once per command.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tidewater_core::{PoolName, QueueLimits, RunId};
use tidewater_engine::{
    AttemptPaths, Executor, ExecutorSettings, RunObserver, Runners, StoreRunProbe, SystemClock,
};
use tidewater_flow::{MaintainRunner, SqlRunner, Warehouse, WarehouseProbe};
use tidewater_spec::{LoadedWorkflow, Project, StoreBackend};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{RunRecord, Store};

/// How long a stopped task gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// A waiting task gains one priority point per minute waited.
const AGING: Duration = Duration::from_secs(60);

pub(crate) struct ProjectContext {
    pub project: Project,
    /// The configured backend (`[store] url`); nothing past [`open_store`] knows which.
    pub store: Arc<dyn Store>,
}

/// A diagnostics failure that has already been printed.
#[derive(Debug, thiserror::Error)]
#[error("{count} problem(s) found in the project files (see above)")]
pub(crate) struct ReportedDiagnostics {
    pub count: usize,
}

impl ProjectContext {
    pub(crate) async fn open(root: &Path) -> anyhow::Result<ProjectContext> {
        let project = open_project(root)?;
        let store = open_store(&project).await?;
        Ok(ProjectContext { project, store })
    }

    /// [`ProjectContext::open`], and the workflow called `name`, parsed on a second thread
    /// while this one opens the store: each takes about a millisecond of a command that
    /// starts a run, and nothing of one needs the other.
    pub(crate) async fn open_with_workflow(
        root: &Path,
        name: &str,
    ) -> anyhow::Result<(ProjectContext, LoadedWorkflow)> {
        let project = open_project(root)?;
        let parsing = {
            let project = project.clone();
            let name = name.to_owned();
            std::thread::spawn(move || load_workflow(&project, &name))
        };
        let store = open_store(&project).await;
        let loaded = parsing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let context = ProjectContext {
            project,
            store: store?,
        };
        Ok((context, loaded?))
    }

    pub(crate) fn load_workflow(&self, name: &str) -> anyhow::Result<LoadedWorkflow> {
        load_workflow(&self.project, name)
    }

    /// The workflow version a run was created with.
    pub(crate) async fn pinned_workflow(&self, run: &RunRecord) -> anyhow::Result<LoadedWorkflow> {
        let source = self
            .store
            .workflow_source(run.id)
            .await?
            .with_context(|| format!("run {} has no recorded workflow source", run.id))?;
        self.project
            .parse_pinned(run.workflow.as_str(), &source)
            .map_err(|diagnostics| {
                eprint!("{}", diagnostics.render(crate::output::is_color()));
                anyhow!(
                    "the workflow version run {} was created with no longer loads ({} problems)",
                    run.id,
                    diagnostics.len()
                )
            })
    }

    pub(crate) async fn run_record(&self, id: i64) -> anyhow::Result<RunRecord> {
        self.store
            .run(RunId(id))
            .await?
            .with_context(|| format!("there is no run {id}; `tidewater runs` lists them"))
    }

    /// The task queue's limits from tidewater.toml (`parallelism` overrides its value).
    pub(crate) fn queue_limits(&self, parallelism: Option<u32>) -> QueueLimits {
        let cores = std::thread::available_parallelism()
            .map(|cores| cores.get() as u32)
            .unwrap_or(1);
        let parallelism = parallelism
            .or(self.project.config.parallelism)
            .unwrap_or(cores)
            .max(1);
        QueueLimits {
            parallelism,
            pools: self
                .project
                .config
                .pools
                .iter()
                .map(|(name, pool): (&PoolName, _)| (name.clone(), pool.slots))
                .collect(),
            max_active_tasks: HashMap::new(),
            aging: AGING,
            pool_rates: self
                .project
                .config
                .pools
                .iter()
                .filter_map(|(name, pool)| pool.rate.map(|rate| (name.clone(), rate)))
                .collect(),
        }
    }

    /// An executor with the project's runners and task queue limits (each workflow's
    /// `max_active_tasks` joins the queue with its runs).
    pub(crate) fn executor(
        &self,
        parallelism: Option<u32>,
        observer: Arc<dyn RunObserver>,
    ) -> anyhow::Result<Executor<dyn Store>> {
        // Orphaned descendants of this process's tasks come back to it, to be ended with
        // their task rather than run on unreported (see `tidewater_engine::adopt_orphans`).
        tidewater_engine::adopt_orphans().context("cannot adopt the orphans of tasks")?;
        // Opened here, not with the context: only executing a run needs the warehouse, and
        // opening it creates its folder, which `status` or `logs` must not do.
        let warehouse = Arc::new(open_warehouse(&self.project)?);
        let limits = self.queue_limits(parallelism);
        let settings = ExecutorSettings {
            project_root: self.project.root.clone(),
            state_dir: self.project.config.state_dir.clone(),
            limits,
            kill_grace: KILL_GRACE,
            jitter_seed: rand::random(),
        };
        let mut runners = Runners::new(Some(Arc::new(WarehouseProbe::new(warehouse.clone()))))
            .with_run_probe(Arc::new(StoreRunProbe::new(self.store.clone())));
        runners.register_sql(Arc::new(SqlRunner::new(warehouse.clone())));
        runners.register_maintain(Arc::new(MaintainRunner::new(warehouse.clone())));
        Ok(Executor::new(
            self.store.clone(),
            Arc::new(SystemClock),
            settings,
            observer,
        )
        .with_runners(runners))
    }
}

/// Opens the backend `tidewater.toml` names: the one place that knows which backends exist.
async fn open_store(project: &Project) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match &project.config.store {
        StoreBackend::Sqlite { path } => Arc::new(
            SqliteStore::open(path)
                .await
                .with_context(|| format!("cannot open the store {}", path.display()))?,
        ),
        // `ProjectConfig::parse` refuses a backend this build lacks, at its line.
        other => bail!("this build of tidewater cannot open {other}; this is a bug in tidewater"),
    };
    check_history(project, &*store).await?;
    Ok(store)
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

/// A path as the user knows it: relative to the project folder when inside it.
pub(crate) fn shown(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Compares the store's runs with the logs folder, the one record of runs kept outside the
/// store, before any command uses the store.
///
/// A run's log folder `logs/<id>/` is made only after the store committed the run, so a
/// folder whose id is above the store's highest run id is a run the store no longer has:
///
/// - The store never had a run, but log folders exist: its history was lost (its
///   write-ahead log deleted, `tidewater.db` copied alone, an empty file). Every command
///   refuses, reading ones too: "no runs yet" would hide the loss, and a server would run a
///   whole catchup again and write new runs into the old runs' folders. The way out is
///   explicit: restore a backup, or move the logs away to start afresh.
/// - The store has runs, but fewer than the logs: a store restored from an older backup
///   (the way out above) looks exactly like this, so it is not refused. It is said once,
///   and the store's run ids are moved past the highest folder so that no new run ever
///   writes into an older run's folder; after that the two agree again.
async fn check_history(project: &Project, store: &dyn Store) -> anyhow::Result<()> {
    let state_dir = &project.config.state_dir;
    // The folders first, then the store: a run another process creates in between is then
    // in the store and perhaps not yet among the folders, never the other way round.
    let logged = AttemptPaths::logged_runs(state_dir).with_context(|| {
        format!(
            "cannot read the logs folder {}",
            AttemptPaths::logs_folder(state_dir).display()
        )
    })?;
    let (Some(first_logged), Some(last_logged)) = (logged.first(), logged.last()) else {
        return Ok(());
    };
    let logs = shown(project, &AttemptPaths::logs_folder(state_dir));
    match store.highest_run_id().await? {
        None => {
            let count = logged.len();
            // Only a SQLite store has the files the way out names; another backend's
            // history is restored its own way.
            let database = match &project.config.store {
                StoreBackend::Sqlite { path } => shown(project, path),
                other => bail!(
                    "the store ({other}) holds no runs, but {logs} holds logs of {count} runs \
                     ({first_logged}–{last_logged}): its history was lost. Restore it, or move \
                     {logs} away to start afresh"
                ),
            };
            bail!(
                "the store holds no runs, but {logs} holds logs of {count} runs ({first_logged}–{last_logged}): \
                 its history was lost (was {database}-wal deleted, or only {database} copied?). \
                 Restore a backup made with `tidewater store backup` (with no tidewater running, copy it \
                 over {database} and delete {database}-wal and {database}-shm), or move {logs} away to \
                 start afresh",
            )
        }
        Some(highest) if highest < *last_logged => {
            store.skip_run_ids_through(*last_logged).await?;
            crate::output::note(format!(
                "warning: the store's newest run is {highest}, but {logs} holds logs of runs up to \
                 {last_logged}: the store lost those runs or was restored from an older backup. \
                 New runs are numbered from {next} so that none writes into their folders",
                next = last_logged.0 + 1,
            ));
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

pub(crate) fn open_project(root: &Path) -> anyhow::Result<Project> {
    let root =
        std::path::absolute(root).with_context(|| format!("cannot resolve {}", root.display()))?;
    Project::open(&root).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render(crate::output::is_color()));
        anyhow!(ReportedDiagnostics {
            count: diagnostics.len()
        })
    })
}

/// The project's warehouse of Delta tables (`[warehouse] location`).
pub(crate) fn open_warehouse(project: &Project) -> anyhow::Result<Warehouse> {
    Warehouse::new(&project.config.warehouse, &project.root)
        .with_context(|| format!("cannot open the warehouse {}", project.config.warehouse))
}

/// A workflow of the project by name; its problems are printed as diagnostics.
pub(crate) fn load_workflow(project: &Project, name: &str) -> anyhow::Result<LoadedWorkflow> {
    project.load_workflow(name).map_err(|diagnostics| {
        eprint!("{}", diagnostics.render(crate::output::is_color()));
        anyhow!(ReportedDiagnostics {
            count: diagnostics.len()
        })
    })
}
