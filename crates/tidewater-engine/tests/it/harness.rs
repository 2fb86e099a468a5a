use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use tidewater_core::{
    AttemptOutcome, Change, DataInterval, PoolName, ProcessIdentity, QueueLimits, RunId, RunState,
    RunView, TaskName, TaskState, Timestamp, Workflow,
};
use tidewater_engine::{
    CancelHandle, Executor, ExecutorSettings, ManualClock, Resume, RunObserver, is_alive,
};
use tidewater_spec::{LoadedWorkflow, Project};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{NewRun, RunStore, RunTrigger};
use tokio::sync::mpsc;

pub(crate) fn at(seconds: i64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_767_225_600 + seconds, 0)
        .single()
        .expect("valid")
}

/// A project folder with one workflow, its store, and a manual clock.
pub(crate) struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub clock: ManualClock,
    pub loaded: LoadedWorkflow,
    pub changes: mpsc::UnboundedReceiver<(String, TaskState)>,
    pub observer: Arc<Recorder>,
}

/// Records every task change, and the most tasks of each pool ever running at once.
pub(crate) struct Recorder {
    sender: mpsc::UnboundedSender<(String, TaskState)>,
    pools: HashMap<String, String>,
    pub peak_pool_use: Mutex<HashMap<String, usize>>,
    pub peak_running: Mutex<usize>,
}

impl RunObserver for Recorder {
    fn changed(&self, _run: RunId, workflow: &Workflow, changes: &[Change], view: &RunView) {
        for change in changes {
            match change {
                Change::Task { task, instance } => {
                    let _ = self.sender.send((task.to_string(), instance.state.clone()));
                }
                Change::AttemptProcess { task, attempt, .. } => {
                    let _ = self.sender.send((
                        format!("{task}:pid"),
                        TaskState::Running {
                            attempt: *attempt,
                            started_at: at(0),
                        },
                    ));
                }
                _ => {}
            }
        }
        let mut use_by_pool: HashMap<String, usize> = HashMap::new();
        let mut running = 0;
        for index in workflow.indices() {
            if matches!(view.task(index).state, TaskState::Running { .. }) {
                running += 1;
                if let Some(pool) = self.pools.get(workflow.task(index).name.as_str()) {
                    *use_by_pool.entry(pool.clone()).or_insert(0) +=
                        workflow.task(index).pool_slots as usize;
                }
            }
        }
        let mut peaks = self.peak_pool_use.lock().expect("not poisoned");
        for (pool, used) in use_by_pool {
            let peak = peaks.entry(pool).or_insert(0);
            *peak = (*peak).max(used);
        }
        let mut peak_running = self.peak_running.lock().expect("not poisoned");
        *peak_running = (*peak_running).max(running);
    }
}

impl Harness {
    pub(crate) async fn new(toml: &str, yaml: &str) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tidewater.toml"), toml).expect("write toml");
        std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
        std::fs::write(dir.path().join("workflows/test.yaml"), yaml).expect("write yaml");
        let project =
            Project::open(dir.path()).unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
        let loaded = project
            .load_workflow("test")
            .unwrap_or_else(|diagnostics| panic!("{diagnostics}"));
        let store = Arc::new(
            SqliteStore::open(&dir.path().join(".tidewater/tidewater.db"))
                .await
                .expect("store"),
        );
        let (sender, changes) = mpsc::unbounded_channel();
        let pools = loaded
            .workflow
            .tasks()
            .iter()
            .filter_map(|task| {
                task.pool
                    .as_ref()
                    .map(|pool| (task.name.to_string(), pool.to_string()))
            })
            .collect();
        let observer = Arc::new(Recorder {
            sender,
            pools,
            peak_pool_use: Mutex::new(HashMap::new()),
            peak_running: Mutex::new(0),
        });
        Harness {
            dir,
            store,
            clock: ManualClock::new(at(0)),
            loaded,
            changes,
            observer,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) async fn create_run(&self) -> RunId {
        self.create_run_triggered(RunTrigger::Manual).await
    }

    /// A run as the scheduler would create it (only those can miss a deadline).
    pub(crate) async fn create_run_triggered(&self, trigger: RunTrigger) -> RunId {
        self.store
            .create_run(self.new_run(trigger))
            .await
            .expect("create run")
            .id
    }

    /// A run of the harness's workflow, for any store.
    pub(crate) fn new_run(&self, trigger: RunTrigger) -> NewRun {
        let workflow = &self.loaded.workflow;
        NewRun {
            workflow: workflow.name.clone(),
            interval: DataInterval::new(at(0), at(86_400)).expect("valid"),
            trigger,
            params: workflow.params.clone(),
            workflow_source: self.loaded.source.clone(),
            workflow_hash: self.loaded.hash.clone(),
            tasks: workflow
                .tasks()
                .iter()
                .map(|task| task.name.clone())
                .collect(),
            created_at: at(0),
            backfill: None,
        }
    }

    pub(crate) fn executor(
        &self,
        parallelism: u32,
        pools: &[(&str, u32)],
    ) -> Executor<SqliteStore> {
        self.executor_with_rates(parallelism, pools, &[])
    }

    pub(crate) fn executor_with_rates(
        &self,
        parallelism: u32,
        pools: &[(&str, u32)],
        rates: &[(&str, &str)],
    ) -> Executor<SqliteStore> {
        Executor::new(
            self.store.clone(),
            Arc::new(self.clock.clone()),
            self.settings(parallelism, pools, rates),
            self.observer.clone(),
        )
    }

    /// What the harness's executors know of the project and the machine, for an executor of
    /// another store.
    pub(crate) fn settings(
        &self,
        parallelism: u32,
        pools: &[(&str, u32)],
        rates: &[(&str, &str)],
    ) -> ExecutorSettings {
        ExecutorSettings {
            project_root: self.root().to_path_buf(),
            state_dir: self.root().join(".tidewater"),
            limits: QueueLimits {
                parallelism,
                pools: pools
                    .iter()
                    .map(|(name, slots)| (PoolName::new(*name), *slots))
                    .collect(),
                max_active_tasks: HashMap::new(),
                aging: Duration::from_secs(60),
                pool_rates: rates
                    .iter()
                    .map(|(name, rate)| (PoolName::new(*name), rate.parse().expect("a valid rate")))
                    .collect(),
            },
            kill_grace: Duration::from_secs(10),
            jitter_seed: 1,
        }
    }

    /// Executes `run` from where its record is until it ends, at `parallelism`, and returns
    /// its final state.
    pub(crate) async fn run_to_end(&self, run: RunId, parallelism: u32) -> RunState {
        self.execute(&self.executor(parallelism, &[]), run, Resume::Continue)
            .await
    }

    /// Executes `run` with `executor` (kept by the caller) until it ends; returns its final
    /// state.
    pub(crate) async fn execute<S: RunStore + ?Sized + 'static>(
        &self,
        executor: &Executor<S>,
        run: RunId,
        resume: Resume,
    ) -> RunState {
        executor
            .execute(&self.loaded.workflow, run, resume, &CancelHandle::new())
            .await
            .expect("executed")
    }

    /// The outcomes of `task`'s finished attempts in `run`, in order.
    pub(crate) async fn outcomes(&self, run: RunId, task: &str) -> Vec<AttemptOutcome> {
        self.store
            .attempts(run, Some(&TaskName::new(task)))
            .await
            .expect("attempts")
            .into_iter()
            .map(|record| record.finished.expect("finished").1)
            .collect()
    }

    /// Waits until `task` reaches a state named `state` (e.g. "up_for_retry", "pid").
    pub(crate) async fn wait_for(&mut self, task: &str, state: &str) {
        let wait = async {
            while let Some((name, new_state)) = self.changes.recv().await {
                let matches = if state == "pid" {
                    name == format!("{task}:pid")
                } else {
                    name == task && new_state.name() == state
                };
                if matches {
                    return;
                }
            }
            panic!("the executor stopped before {task} became {state}");
        };
        // A bound on a hung test, not a wait for time to pass.
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .expect("the state change arrives");
    }
}

/// Waits (bounded) until a file written by a task process appears.
pub(crate) async fn wait_for_file(path: &Path) -> String {
    for _ in 0..6000 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

/// Waits (bounded) until a process has ended. A killed process takes a moment to end after
/// the signal is sent, and its group's pipes close just before it does.
pub(crate) async fn wait_until_ended(process: ProcessIdentity) -> bool {
    for _ in 0..6000 {
        if !is_alive(process) {
            return true;
        }
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}
