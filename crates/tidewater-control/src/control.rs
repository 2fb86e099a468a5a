//! [`Control`]: one project and its store, what every use case starts from.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{PoolName, QueueLimits, RunId};
use tidewater_engine::{
    AttemptPaths, Executor, ExecutorSettings, LeaseSettings, LocalProcesses, Owners,
    RemoteAttempts, RunObserver, Runners, SharedSlots, SignalWakeups, StoreRunProbe, SystemClock,
    Wakeups,
};
use tidewater_flow::{
    LiveViews, MaintainRunner, RemoteEngines, SqlRunner, Warehouse, WarehouseProbe,
};
use tidewater_http::{HttpRunner, OpenLineageHttp};
use tidewater_spec::{Connections, LoadedWorkflow, Project, StoreBackend};
use tidewater_store::RunRecord;

use crate::ProjectStore;
use crate::StreamSources;
use crate::child_runs::ProjectChildRuns;
use crate::control_error::{ControlError, ControlResult};

/// How long a stopped task gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// A waiting task gains one priority point per minute waited.
const AGING: Duration = Duration::from_secs(60);

/// A project and its store, opened once per command (or once per server), handed to every
/// use case.
pub struct Control {
    pub project: Project,
    pub store: Arc<ProjectStore>,
    /// Who owns runs and whether they are alive (this machine's processes by default).
    pub owners: Arc<dyn Owners>,
    /// How a process that executes runs is asked to look at the store now (SIGUSR1 by
    /// default).
    pub wakeups: Arc<dyn Wakeups>,
    /// Things the user should know that opening found (a store behind its logs); the front
    /// end shows them once.
    notices: Vec<String>,
    /// `[connections]` with their values read, once, when the project was opened.
    connections: Arc<Connections>,
    /// Where `sql` tasks with `engine: NAME` run (a binary built with `ballista`).
    remote_engines: Option<Arc<dyn RemoteEngines>>,
    /// The attempts this process offered to workers and waits for (a server's only).
    remote: Arc<RemoteAttempts>,
    /// What the streams' sources say (their last sequence), for the streams' listing.
    stream_sources: Option<Arc<dyn StreamSources>>,
    /// A server's serving views, which [`Control::serve`] keeps equal to the view files;
    /// `None`: each warehouse reads the files when it is opened.
    live_views: Option<LiveViews>,
    /// The pools, rates and `max_active_tasks` shared with the other servers of the store
    /// (one of several servers only: [`Control::join_servers`]).
    pub(crate) shared_slots: Option<Arc<SharedSlots>>,
}

/// Where the executor runs the tasks that name a `queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueuedTasks {
    /// Here, like every other task: a run executed by a command, not a server, has no
    /// workers to hand them to.
    RunHere,
    /// Offered to the `tidewater worker` processes of the queue (the server).
    OfferToWorkers,
}

impl Control {
    /// The project's files, parsed; their problems come back as diagnostics.
    pub fn open_project(root: &Path) -> ControlResult<Project> {
        let root = std::path::absolute(root).map_err(|error| {
            ControlError::environment(format!("cannot resolve {}", root.display()), error)
        })?;
        Project::open(&root).map_err(ControlError::Diagnostics)
    }

    /// The project with its opened store, after checking that the store has the history
    /// its logs say it should (`Control::check_history`). Runs are owned by this
    /// machine's processes, woken by signals; [`Control::with_ownership`] replaces both.
    pub async fn new(project: Project, store: Arc<ProjectStore>) -> ControlResult<Control> {
        let connections = Arc::new(resolve_connections(&project));
        let remote = RemoteAttempts::new(
            store.clone(),
            Arc::new(SystemClock),
            LeaseSettings {
                heartbeat: project.config.workers.heartbeat,
                lease: project.config.workers.lease,
            },
        );
        let mut control = Control {
            remote,
            connections,
            project,
            store,
            owners: Arc::new(LocalProcesses),
            wakeups: Arc::new(SignalWakeups),
            notices: Vec::new(),
            remote_engines: None,
            stream_sources: None,
            live_views: None,
            shared_slots: None,
        };
        control.check_history().await?;
        Ok(control)
    }

    /// Another notion of run ownership and wake-ups (leases and HTTP, say).
    pub fn with_ownership(mut self, owners: Arc<dyn Owners>, wakeups: Arc<dyn Wakeups>) -> Control {
        self.owners = owners;
        self.wakeups = wakeups;
        self
    }

    /// The engines that `sql` tasks naming an `engine` run on; without them such a task
    /// fails and says how to build a binary that has them.
    pub fn with_remote_engines(mut self, engines: Arc<dyn RemoteEngines>) -> Control {
        self.remote_engines = Some(engines);
        self
    }

    /// Where the streams' listing asks a source for its last sequence (the NATS client lives
    /// in tidewater-stream; without it the listing shows no lag).
    pub fn with_stream_sources(mut self, sources: Arc<dyn StreamSources>) -> Control {
        self.stream_sources = Some(sources);
        self
    }

    /// For a server: every warehouse opened from now on shares one set of serving views,
    /// read now and read again by [`Control::serve`] whenever a view file changes, so that
    /// `sql` tasks and streams see a new or changed view without a restart.
    pub fn with_live_views(mut self) -> Control {
        self.live_views = Some(LiveViews::new(crate::view_coverage::project_views(
            &self.project,
        )));
        self
    }

    /// See [`Control::with_live_views`].
    pub(crate) fn live_views(&self) -> Option<&LiveViews> {
        self.live_views.as_ref()
    }

    /// See [`Control::with_stream_sources`].
    pub(crate) fn stream_sources(&self) -> Option<&Arc<dyn StreamSources>> {
        self.stream_sources.as_ref()
    }

    /// The project's connections with their values read: what templates see as `conn`, and
    /// the redactor of their secrets.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// The attempts this server offered to workers and waits for.
    pub fn remote_attempts(&self) -> &Arc<RemoteAttempts> {
        &self.remote
    }

    /// What opening found that the user should know.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// A workflow of the project by name, as its file is now.
    pub fn load_workflow(&self, name: &str) -> ControlResult<LoadedWorkflow> {
        load_workflow(&self.project, name)
    }

    /// The workflow version a run was created with.
    pub async fn pinned_workflow(&self, run: &RunRecord) -> ControlResult<LoadedWorkflow> {
        let source = self.store.workflow_source(run.id).await?.ok_or_else(|| {
            ControlError::NotFound(format!("run {} has no recorded workflow source", run.id))
        })?;
        self.project
            .parse_pinned(run.workflow.as_str(), &source)
            .map_err(|diagnostics| ControlError::PinnedVersion {
                run: run.id,
                diagnostics,
            })
    }

    /// A run by id.
    pub async fn run_record(&self, id: RunId) -> ControlResult<RunRecord> {
        self.store.run(id).await?.ok_or_else(|| {
            ControlError::NotFound(format!("there is no run {id}; `tidewater runs` lists them"))
        })
    }

    /// The zone a run's times are written in: that of the workflow version the run was
    /// created with, which a later edit of the file does not change; UTC if that version no
    /// longer parses.
    pub async fn run_timezone(&self, record: &RunRecord) -> ControlResult<chrono_tz::Tz> {
        Ok(match self.store.workflow_source(record.id).await? {
            Some(source) => self
                .project
                .parse_pinned(record.workflow.as_str(), &source)
                .map_or(chrono_tz::UTC, |loaded| loaded.workflow.timezone),
            None => chrono_tz::UTC,
        })
    }

    /// The task queue's limits from tidewater.toml (`parallelism` overrides its value).
    pub fn queue_limits(&self, parallelism: Option<u32>) -> QueueLimits {
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
    /// `max_active_tasks` joins the queue with its runs). Shared (`Arc`): it also executes
    /// the child runs of its `call` tasks when no server runs (see `child_runs.rs`).
    pub fn executor(
        &self,
        parallelism: Option<u32>,
        observer: Arc<dyn RunObserver>,
    ) -> ControlResult<Arc<Executor<ProjectStore>>> {
        self.build_executor(parallelism, observer, QueuedTasks::RunHere)
    }

    /// [`Control::executor`], with the tasks that name a `queue` run where `queued` says.
    pub(crate) fn build_executor(
        &self,
        parallelism: Option<u32>,
        observer: Arc<dyn RunObserver>,
        queued: QueuedTasks,
    ) -> ControlResult<Arc<Executor<ProjectStore>>> {
        // Orphaned descendants of this process's tasks come back to it, to be ended with
        // their task rather than run on unreported (see `tidewater_engine::adopt_orphans`).
        tidewater_engine::adopt_orphans().map_err(|error| {
            ControlError::environment("cannot adopt the orphans of tasks", error)
        })?;
        // Opened here, not with the project: only executing a run needs the warehouse, and
        // opening it creates its folder, which `status` or `logs` must not do.
        let warehouse = Arc::new(self.warehouse()?);
        let settings = ExecutorSettings {
            project_root: self.project.root.clone(),
            state_dir: self.project.config.state_dir.clone(),
            limits: self.queue_limits(parallelism),
            kill_grace: KILL_GRACE,
            jitter_seed: rand::random(),
        };
        let child_runs = Arc::new(ProjectChildRuns::new(
            self.project.clone(),
            self.store.clone(),
            self.owners.clone(),
            self.wakeups.clone(),
        ));
        let mut runners = Runners::new(Some(Arc::new(WarehouseProbe::new(warehouse.clone()))))
            .with_run_probe(Arc::new(StoreRunProbe::new(self.store.clone())))
            .with_child_runs(child_runs.clone());
        let mut sql_runner = SqlRunner::new(warehouse.clone());
        if let Some(lineage) = &self.project.config.lineage {
            sql_runner = sql_runner.with_lineage(Arc::new(OpenLineageHttp::new(
                lineage.url.clone(),
                lineage.namespace.clone(),
                lineage.timeout,
            )));
        }
        if let Some(engines) = &self.remote_engines {
            sql_runner = sql_runner.with_engines(engines.clone());
        }
        runners.register_sql(Arc::new(sql_runner));
        runners.register_maintain(Arc::new(MaintainRunner::new(warehouse.clone())));
        runners.register_http(Arc::new(HttpRunner::new()));
        if queued == QueuedTasks::OfferToWorkers {
            runners = runners.with_workers(self.remote.clone());
        }
        let executor = Arc::new(
            Executor::new(
                self.store.clone(),
                Arc::new(SystemClock),
                settings,
                observer,
            )
            .with_owners(self.owners.clone())
            .with_connections(self.connections.clone())
            .with_runners(runners)
            .with_shared_slots(self.shared_slots.clone()),
        );
        child_runs.execute_with(&executor);
        Ok(executor)
    }

    /// The project's warehouse of Delta tables (`[warehouse] location`).
    pub fn warehouse(&self) -> ControlResult<Warehouse> {
        let warehouse = crate::tables::open_warehouse(&self.project)?;
        Ok(match &self.live_views {
            Some(views) => warehouse.with_live_views(views.clone()),
            None => warehouse,
        })
    }

    /// A path as the user knows it: relative to the project folder when inside it.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.project.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Compares the store's runs with the logs folder, the one record of runs kept outside
    /// the store, before any use case uses the store.
    ///
    /// A run's log folder `logs/<id>/` is made only after the store committed the run, so a
    /// folder whose id is above the store's highest run id is a run the store no longer has:
    ///
    /// - The store never had a run, but log folders exist: its history was lost (its
    ///   write-ahead log deleted, `tidewater.db` copied alone, an empty file). Every command
    ///   refuses, reading ones too: "no runs yet" would hide the loss, and a server would run
    ///   a whole catchup again and write new runs into the old runs' folders. The way out is
    ///   explicit: restore a backup, or move the logs away to start afresh.
    /// - The store has runs, but fewer than the logs: a store restored from an older backup
    ///   (the way out above) looks exactly like this, so it is not refused. It is said once,
    ///   and the store's run ids are moved past the highest folder so that no new run ever
    ///   writes into an older run's folder; after that the two agree again.
    async fn check_history(&mut self) -> ControlResult<()> {
        let state_dir = &self.project.config.state_dir;
        // The folders first, then the store: a run another process creates in between is
        // then in the store and perhaps not yet among the folders, never the other way round.
        let logged = AttemptPaths::logged_runs(state_dir).map_err(|error| {
            ControlError::environment(
                format!(
                    "cannot read the logs folder {}",
                    AttemptPaths::logs_folder(state_dir).display()
                ),
                error,
            )
        })?;
        let (Some(first_logged), Some(last_logged)) = (logged.first(), logged.last()) else {
            return Ok(());
        };
        let logs = self.shown(&AttemptPaths::logs_folder(state_dir));
        match self.store.highest_run_id().await? {
            None => {
                let count = logged.len();
                // Only a SQLite store has the files the way out names; another backend's
                // history is restored its own way.
                let database = match &self.project.config.store {
                    StoreBackend::Sqlite { path } => self.shown(path),
                    other => {
                        return Err(ControlError::HistoryLost(format!(
                            "the store ({other}) holds no runs, but {logs} holds logs of {count} runs \
                             ({first_logged}–{last_logged}): its history was lost. Restore it, or move \
                             {logs} away to start afresh"
                        )));
                    }
                };
                Err(ControlError::HistoryLost(format!(
                    "the store holds no runs, but {logs} holds logs of {count} runs ({first_logged}–{last_logged}): \
                     its history was lost (was {database}-wal deleted, or only {database} copied?). \
                     Restore a backup made with `tidewater store backup` (with no tidewater running, copy it \
                     over {database} and delete {database}-wal and {database}-shm), or move {logs} away to \
                     start afresh",
                )))
            }
            Some(highest) if highest < *last_logged => {
                self.store.skip_run_ids_through(*last_logged).await?;
                self.notices.push(format!(
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
}

/// A workflow of the project by name; its problems come back as diagnostics.
pub fn load_workflow(project: &Project, name: &str) -> ControlResult<LoadedWorkflow> {
    project
        .load_workflow(name)
        .map_err(ControlError::Diagnostics)
}

/// The connections of `project` with their values read: `env:` ones from this process's
/// environment (the edge where it is read), `file:` ones relative to the project.
pub fn resolve_connections(project: &Project) -> Connections {
    Connections::resolve(&project.config.connections, &project.root, &|name| {
        std::env::var(name).ok()
    })
}
