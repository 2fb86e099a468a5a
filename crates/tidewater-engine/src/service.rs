//! The scheduler service: creates the runs of scheduled workflows when their intervals end
//! and executes queued runs (scheduled, triggered, backfilled) under one shared task queue,
//! within each workflow's `max_active_runs` and each backfill's own cap.
//!
//! Runs are created through [`ControlStore::create_run_once`], so a service that restarts
//! (or two that race) never creates an interval twice (data-aware schedules: through
//! `create_data_run`, once per upstream change, `data_triggers.rs`); everything else it knows comes back
//! from the store on each turn, so a restarted service simply goes on. Runs left `running`
//! by a service that died are resumed: their lost attempts are started again (without using a
//! retry; see `tidewater_core::MAX_LOST_ATTEMPTS`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{
    RunId, RunQueueKey, RunState, SchedulePlan, TaskName, Timestamp, Workflow, WorkflowName,
};
use tidewater_spec::{LoadedWorkflow, Project};
use tidewater_store::{
    BackfillId, ControlStore, NewRun, RunRecord, RunStore, RunTrigger, RunVersion, WorkflowHealth,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::data_triggers::DataTriggers;
use crate::error_backoff::ErrorBackoff;
use crate::{
    CancelHandle, Clock, CommitProbe, EngineError, Executor, Resume, ServerLeases, count_active,
    read_queue, requeue,
};

/// The project's workflows as the service sees them now: the last good version of each,
/// and a report per file (a broken file keeps its last good version running).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub workflows: HashMap<WorkflowName, Arc<LoadedWorkflow>>,
    /// One entry per workflow file; `next_due` is filled in by the service.
    pub files: Vec<WorkflowHealth>,
}

/// Which queued runs a service executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `tidewater server`: schedules every workflow and executes every queued run.
    Everything,
    /// `tidewater backfill` without a server: executes one backfill's runs, schedules nothing.
    Backfill(BackfillId),
}

/// Tells a [`Service`] what happened to the runs it executes.
pub trait ServiceObserver: Send + Sync {
    fn run_created(&self, run: &RunRecord);
    fn run_started(&self, run: &RunRecord);
    fn run_ended(&self, run: RunId, workflow: &WorkflowName, state: &Result<RunState, String>);
    /// Someone asked to cancel a run this service executes or would start.
    fn cancel_requested(&self, _run: RunId, _workflow: &WorkflowName) {}
    /// Nothing is left to start here, and this many runs in scope are executed by another
    /// process: the service waits for them (said once each time it starts waiting).
    fn waiting_for_others(&self, _runs: usize) {}
    /// Something went wrong that does not stop the service.
    fn problem(&self, message: &str);
}

/// How often the service looks at the store for work that other processes queued, besides
/// being woken (`tidewater trigger` and the others wake it at once).
const POLL: Duration = Duration::from_secs(2);

pub struct Service<S: RunStore + ControlStore + ?Sized + 'static> {
    pub store: Arc<S>,
    pub clock: Arc<dyn Clock>,
    /// Executes the runs; its [`Executor::owners`] also tell the service which runs this
    /// process owns and whose owners are alive, so that the two never disagree.
    pub executor: Arc<Executor<S>>,
    /// To read the workflow version a run is pinned to.
    pub project: Arc<Project>,
    pub scope: Scope,
    pub observer: Arc<dyn ServiceObserver>,
    /// Where data-aware schedules on tables (`schedule: { on: [{ table }] }`) read commits;
    /// `None` reports such a workflow's table as unreadable.
    pub commits: Option<Arc<dyn CommitProbe>>,
    /// Whether it creates the runs of schedules and data triggers (with [`Scope::Everything`]).
    pub scheduling: Scheduling,
}

/// When a service creates the runs of schedules and data triggers. Every server executes
/// queued runs; only one schedules, so that the store is asked for each due interval once.
#[derive(Debug, Clone)]
pub enum Scheduling {
    /// Always: the one server of its store (the embedded default).
    Always,
    /// While this server leads the servers that share its store (issue 21).
    WhileLeading(Arc<ServerLeases>),
}

impl Scheduling {
    fn is_active(&self) -> bool {
        match self {
            Scheduling::Always => true,
            Scheduling::WhileLeading(leases) => leases.is_leader(),
        }
    }
}

/// A run being executed.
struct Executing {
    workflow: WorkflowName,
    /// The version the run is pinned to, which decides its requeue after a graceful stop.
    pinned: Arc<Workflow>,
    backfill: Option<BackfillId>,
    cancel: CancelHandle,
    /// Cancelled because someone asked (`tidewater cancel`), not by a graceful stop: it
    /// stays cancelled instead of being queued again.
    is_cancel_requested: bool,
}

impl<S: RunStore + ControlStore + ?Sized + 'static> Service<S> {
    /// Runs until `stop` turns true, then stops gracefully: no new runs start, running tasks
    /// are stopped (SIGTERM, then SIGKILL after the grace period), and the runs it stopped
    /// are queued again so that the next start of a service resumes them.
    pub async fn run(
        &self,
        mut catalog: watch::Receiver<Arc<Catalog>>,
        wake: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), EngineError> {
        let mut executing: HashMap<RunId, Executing> = HashMap::new();
        let mut joins: JoinSet<(RunId, Result<RunState, EngineError>)> = JoinSet::new();
        let mut last_created: HashMap<WorkflowName, Option<Timestamp>> = HashMap::new();
        let mut published: Option<Vec<WorkflowHealth>> = None;
        let mut stopping = *stop.borrow();
        let mut stopped_runs: HashSet<RunId> = HashSet::new();
        // Holds back scheduling, starting and resuming after an error such as a full disk.
        let mut backoff = ErrorBackoff::default();
        let mut is_waiting_for_others = false;
        let mut data_triggers = DataTriggers::default();
        loop {
            let now = self.clock.now();
            let current = catalog.borrow_and_update().clone();
            let mut next_due = None;
            let mut executed_elsewhere = 0;
            if backoff.waiting_until(now).is_none() {
                let is_scheduling = self.scheduling.is_active();
                if !is_scheduling {
                    // What the leader created meanwhile is read again on taking over.
                    last_created.clear();
                    published = None;
                }
                let turn = async {
                    if !stopping && self.scope == Scope::Everything && is_scheduling {
                        let paused: HashSet<WorkflowName> =
                            self.store.paused_workflows().await?.into_iter().collect();
                        let due = self
                            .schedule(&current, &paused, &mut last_created, now)
                            .await?;
                        data_triggers
                            .consume(
                                &*self.store,
                                self.commits.as_ref(),
                                current.workflows.values(),
                                &paused,
                                &*self.observer,
                                now,
                            )
                            .await?;
                        next_due = due.values().flatten().min().copied();
                        let health = health_report(&current, &due);
                        if published.as_ref() != Some(&health) {
                            self.store.publish_health(&health, now).await?;
                            published = Some(health);
                        }
                    }
                    if !stopping {
                        executed_elsewhere = self
                            .start_runs(&current, &mut executing, &mut joins)
                            .await?;
                    }
                    Ok::<(), EngineError>(())
                };
                match turn.await {
                    Ok(()) => {}
                    // The store cannot be written (or read) now: try again later rather than
                    // give up every run, or try again at once in a loop.
                    Err(EngineError::Store(error)) => {
                        if let Some(wait) = backoff.failed(now) {
                            self.observer.problem(&format!(
                                "could not go on: {error}; trying again in {}",
                                seconds(wait)
                            ));
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
            let held_until = backoff.waiting_until(now);
            // Stopped, or a backfill with nothing left to run here: done. A backfill whose
            // runs another process executes (the same backfill given twice) waits for them,
            // so that its summary reports how they ended; one held back by an error waits too.
            let is_backfill_done = matches!(self.scope, Scope::Backfill(_))
                && executed_elsewhere == 0
                && held_until.is_none();
            if joins.is_empty() && (stopping || is_backfill_done) {
                return Ok(());
            }
            let is_waiting = joins.is_empty() && executed_elsewhere > 0;
            if is_waiting && !is_waiting_for_others {
                self.observer.waiting_for_others(executed_elsewhere);
            }
            is_waiting_for_others = is_waiting;
            let held_timer = async {
                match held_until {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let due_timer = async {
                match next_due {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = due_timer => {}
                () = held_timer => {}
                Ok(()) = catalog.changed() => {}
                Some(joined) = joins.join_next() => {
                    let (run, result) = match joined {
                        Ok(joined) => joined,
                        Err(error) => {
                            // A panicked executor: the run stays as recorded; a restart
                            // resumes it.
                            self.observer.problem(&format!("an executor stopped: {error}"));
                            continue;
                        }
                    };
                    let Some(ended) = executing.remove(&run) else { continue };
                    if let Err(EngineError::RunBusy { .. }) = result {
                        // Another process claimed the run between our look at the queue and
                        // our claim: it executes the run, and the next turn counts it as
                        // executed elsewhere. Nothing ended.
                        continue;
                    }
                    // The executor could not go on (its store writes fail, say) and stopped
                    // the run's attempts. Resumed at once, it would fail again at once: it is
                    // resumed after a wait, and the runs that fail meanwhile, on the same
                    // cause as a rule, are not reported again. (Another process executing the
                    // run, or the run gone, is no reason to wait: they end as before.)
                    if let Err(error @ (EngineError::Store(_) | EngineError::TaskMismatch { .. })) =
                        &result
                    {
                        if let Some(wait) = backoff.failed(self.clock.now()) {
                            self.observer.problem(&format!(
                                "{} run {run} stopped: {error}; runs start and resume again in {}",
                                ended.workflow,
                                seconds(wait)
                            ));
                        }
                        continue;
                    }
                    if stopping
                        && !ended.is_cancel_requested
                        && matches!(result, Ok(RunState::Cancelled { .. }))
                    {
                        stopped_runs.insert(run);
                        let owners = self.executor.owners();
                        match requeue(&*self.store, &**owners, &ended.pinned, run, self.clock.now())
                            .await
                        {
                            // A retry or clear of another process holds it now: it decides.
                            Ok(_) | Err(EngineError::RunBusy { .. }) => {}
                            Err(error) => return Err(error),
                        }
                    }
                    let result = result.map_err(|error| error.to_string());
                    self.observer.run_ended(run, &ended.workflow, &result);
                    if let Some(backfill) = ended.backfill {
                        self.store.finish_backfill_if_done(backfill, self.clock.now()).await?;
                    }
                }
                () = wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                Ok(()) = stop.changed(), if !stopping => {
                    if *stop.borrow() {
                        stopping = true;
                        for run in executing.values() {
                            run.cancel.cancel();
                        }
                    }
                }
            }
        }
    }

    /// Creates the runs that are due; returns each scheduled workflow's next due time.
    async fn schedule(
        &self,
        catalog: &Catalog,
        paused: &HashSet<WorkflowName>,
        last_created: &mut HashMap<WorkflowName, Option<Timestamp>>,
        now: Timestamp,
    ) -> Result<HashMap<WorkflowName, Option<Timestamp>>, EngineError> {
        let mut next = HashMap::new();
        for (name, loaded) in &catalog.workflows {
            let Some(plan) = SchedulePlan::for_workflow(&loaded.workflow) else {
                continue;
            };
            let last = match last_created.get(name) {
                Some(last) => *last,
                None => self.store.last_scheduled_end(name).await?,
            };
            let due = plan.due(last, now);
            if paused.contains(name) {
                // Paused: nothing is created, and on unpause the plan decides what is due
                // (all missed intervals with catchup, the latest without).
                last_created.insert(name.clone(), last);
                next.insert(name.clone(), None);
                continue;
            }
            let mut created_end = last;
            for interval in due.intervals {
                let run = new_run(loaded, interval, RunTrigger::Scheduled, None, now);
                if let Some(record) = self.store.create_run_once(run).await? {
                    self.observer.run_created(&record);
                }
                created_end = Some(interval.end);
            }
            last_created.insert(name.clone(), created_end);
            next.insert(name.clone(), due.next_due);
        }
        Ok(next)
    }

    /// Starts the queued runs that the caps let start, and resumes runs whose executing
    /// process died. Returns how many runs in this service's scope another live process
    /// executes (a second `tidewater backfill` of the same range shares its runs).
    ///
    /// Reads the runs that count against a cap and the first `max_active_runs` queued runs
    /// of each queue, never every queued run: a turn costs the same for a backfill of ten
    /// intervals and one of ten thousand.
    async fn start_runs(
        &self,
        catalog: &Catalog,
        executing: &mut HashMap<RunId, Executing>,
        joins: &mut JoinSet<(RunId, Result<RunState, EngineError>)>,
    ) -> Result<usize, EngineError> {
        let cancel_requests: HashSet<RunId> =
            self.store.cancel_requests().await?.into_iter().collect();
        let in_scope = |backfill: Option<BackfillId>| match self.scope {
            Scope::Everything => true,
            Scope::Backfill(id) => backfill == Some(id),
        };
        let executing_runs = self.store.executing_runs().await?;
        // Runs of other processes count as `count_active` says (as `tidewater queue` counts
        // them); this service's own count from the moment it spawns them.
        let mut active = count_active(
            executing_runs
                .iter()
                .filter(|run| !executing.contains_key(&run.id)),
            &**self.executor.owners(),
        );
        for (&id, ours) in executing.iter_mut() {
            *active
                .entry(RunQueueKey::of(&ours.workflow, ours.backfill))
                .or_default() += 1;
            if cancel_requests.contains(&id) && !ours.is_cancel_requested {
                ours.is_cancel_requested = true;
                ours.cancel.cancel();
                self.observer.cancel_requested(id, &ours.workflow);
            }
        }
        let mut executed_elsewhere = 0;
        let mut resume = Vec::new();
        let mut cancel = Vec::new();
        for run in executing_runs {
            if executing.contains_key(&run.id) {
                continue;
            }
            if !in_scope(run.backfill) {
                continue;
            }
            if self.owned_elsewhere(&run) {
                executed_elsewhere += 1;
            } else if cancel_requests.contains(&run.id) {
                cancel.push(run);
            } else if matches!(run.state, RunState::Running { .. }) {
                resume.push(run);
            }
        }
        // Queued runs someone asked to cancel that no process has claimed.
        for &id in &cancel_requests {
            if executing.contains_key(&id) || cancel.iter().any(|run| run.id == id) {
                continue;
            }
            if let Some(run) = self.store.run(id).await?
                && run.state == RunState::Queued
                && in_scope(run.backfill)
                && !self.owned_elsewhere(&run)
            {
                cancel.push(run);
            }
        }
        for run in cancel {
            // Nobody executes it: record it cancelled now (a run left running by a dead
            // process has its leftovers killed first), whatever the caps.
            self.observer.cancel_requested(run.id, &run.workflow);
            self.spawn(catalog, run, Resume::Continue, true, executing, joins)
                .await?;
        }
        for run in resume {
            self.spawn(catalog, run, Resume::Continue, false, executing, joins)
                .await?;
        }
        let queues = match self.scope {
            Scope::Everything => self.store.run_queues().await?,
            Scope::Backfill(id) => vec![RunQueueKey::Backfill(id)],
        };
        for key in queues {
            let active = active.get(&key).copied().unwrap_or(0);
            let queue = read_queue(
                &*self.store,
                key,
                |workflow| {
                    catalog
                        .workflows
                        .get(workflow)
                        .map(|loaded| loaded.workflow.max_active_runs)
                },
                active,
                |run| executing.contains_key(&run.id) || self.owned_elsewhere(run),
            )
            .await?;
            for run in queue.admit().starting {
                // A queued run is ready as it is: a requeued one had its failed tasks reset
                // when it was queued again, a cleared one exactly the cleared tasks.
                self.spawn(catalog, run, Resume::Continue, false, executing, joins)
                    .await?;
            }
        }
        Ok(executed_elsewhere)
    }

    /// Claimed by another process that is still alive.
    fn owned_elsewhere(&self, run: &RunRecord) -> bool {
        let owners = self.executor.owners();
        run.owner
            .is_some_and(|owner| owner != owners.me() && owners.is_alive(owner))
    }

    async fn spawn(
        &self,
        catalog: &Catalog,
        run: RunRecord,
        resume: Resume,
        is_cancel_requested: bool,
        executing: &mut HashMap<RunId, Executing>,
        joins: &mut JoinSet<(RunId, Result<RunState, EngineError>)>,
    ) -> Result<(), EngineError> {
        let workflow = match self.pinned(catalog, &run).await {
            Ok(workflow) => workflow,
            Err(message) => {
                // The run cannot be executed by this version of the project; leave it as
                // recorded and say why.
                self.observer
                    .run_ended(run.id, &run.workflow, &Err(message));
                return Ok(());
            }
        };
        let cancel = CancelHandle::new();
        if is_cancel_requested {
            cancel.cancel();
        } else {
            self.observer.run_started(&run);
        }
        executing.insert(
            run.id,
            Executing {
                workflow: run.workflow.clone(),
                pinned: workflow.clone(),
                backfill: run.backfill,
                cancel: cancel.clone(),
                is_cancel_requested,
            },
        );
        let executor = self.executor.clone();
        let id = run.id;
        joins.spawn(async move {
            let result = executor.execute(&workflow, id, resume, &cancel).await;
            (id, result)
        });
        Ok(())
    }

    /// The workflow version a run was created with.
    async fn pinned(&self, catalog: &Catalog, run: &RunRecord) -> Result<Arc<Workflow>, String> {
        if let Some(loaded) = catalog.workflows.get(&run.workflow)
            && loaded.hash == run.workflow_hash
        {
            return Ok(Arc::new(loaded.workflow.clone()));
        }
        let source = self
            .store
            .workflow_source(run.id)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("run {} has no recorded workflow source", run.id))?;
        self.project
            .parse_pinned(run.workflow.as_str(), &source)
            .map(|loaded| Arc::new(loaded.workflow))
            .map_err(|diagnostics| {
                format!(
                    "the workflow version run {} was created with no longer loads:\n{}",
                    run.id,
                    diagnostics.render(false)
                )
            })
    }
}

/// `1 s`, `30 s`.
fn seconds(wait: Duration) -> String {
    format!("{} s", wait.as_secs())
}

/// A new run of `loaded` for `interval`.
pub fn new_run(
    loaded: &LoadedWorkflow,
    interval: tidewater_core::DataInterval,
    trigger: RunTrigger,
    backfill: Option<BackfillId>,
    now: Timestamp,
) -> NewRun {
    NewRun {
        workflow: loaded.workflow.name.clone(),
        interval,
        trigger,
        params: loaded.workflow.params.clone(),
        workflow_source: loaded.source.clone(),
        workflow_hash: loaded.hash.clone(),
        tasks: task_names(loaded),
        created_at: now,
        backfill,
    }
}

/// The version `loaded` is, for re-pinning an ended run to it
/// ([`tidewater_store::RunStore::repin_run`]).
pub fn run_version(loaded: &LoadedWorkflow) -> RunVersion {
    RunVersion {
        workflow_source: loaded.source.clone(),
        workflow_hash: loaded.hash.clone(),
        tasks: task_names(loaded),
    }
}

/// Every task of `loaded`, handlers included: the task instances a run of it has.
fn task_names(loaded: &LoadedWorkflow) -> Vec<TaskName> {
    loaded
        .workflow
        .tasks()
        .iter()
        .map(|task| task.name.clone())
        .collect()
}

fn health_report(
    catalog: &Catalog,
    due: &HashMap<WorkflowName, Option<Timestamp>>,
) -> Vec<WorkflowHealth> {
    let mut files = catalog.files.clone();
    for file in &mut files {
        file.next_due = file
            .workflow
            .as_ref()
            .and_then(|workflow| due.get(workflow).copied().flatten());
    }
    files.sort_by(|a, b| a.file.cmp(&b.file));
    files
}
