//! Executes one run: decide, persist, act, until the run ends.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tidewater_core::{
    Action, Attempt, AttemptOutcome, Candidate, Change, DecideContext, Event, FailureReason,
    ProcessIdentity, QueueLimits, RunId, RunState, RunView, TaskIndex, TaskInstance, TaskState,
    Timestamp, Workflow, decide, next_timer,
};
use tidewater_spec::{Connections, Redactor, TemplateContext};
use tidewater_store::{RunRecord, RunStore, SlotGrant};
use tokio::sync::{mpsc, watch};

use crate::dispatch::{Dispatch, Seat};
use crate::process::{
    ATTEMPT_MARKER, group_members, is_alive, kill_marked, signal_group, wait_until_gone,
};
use crate::requeue::{claim_run, claim_turn};
use crate::runners::Runners;
use crate::shared_slots::{SLOT_RECHECK, SharedSlots, held_elsewhere};
use crate::{
    AttemptControl, AttemptPaths, AttemptReport, Clock, EngineError, LocalProcesses, Owners,
    RunObserver, StartRequest,
};

/// How long a new attempt's pid may wait to be folded into another transaction.
const PID_RECORD_DELAY: Duration = Duration::from_millis(20);

/// How the executor treats the run's existing record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Go on from where the record is (a new run, or one interrupted by a crash).
    Continue,
    /// Run again every task that did not succeed (`tidewater retry`).
    Failed,
    /// Run these tasks again, whatever their state (`tidewater clear`).
    Tasks(Vec<TaskIndex>),
}

/// What the executor needs to know about the project and the machine.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub project_root: PathBuf,
    /// Where logs go (`<state_dir>/logs/...`).
    pub state_dir: PathBuf,
    pub limits: QueueLimits,
    /// Time between SIGTERM and SIGKILL when a task is stopped.
    pub kill_grace: Duration,
    pub jitter_seed: u64,
}

/// Asks a running executor to cancel its run.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl CancelHandle {
    pub fn new() -> CancelHandle {
        CancelHandle {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.sender.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }
}

impl Default for CancelHandle {
    fn default() -> Self {
        CancelHandle::new()
    }
}

/// Executes runs against a store.
pub struct Executor<S: RunStore + ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    runners: Runners,
    settings: ExecutorSettings,
    observer: Arc<dyn RunObserver>,
    /// Who this process is as the owner of the runs it executes, and whether the owner on
    /// record of a run it is asked to execute is still alive.
    owners: Arc<dyn Owners>,
    /// `owners.me()`, asked once: the owner this executor records and releases.
    me: ProcessIdentity,
    /// The task queue, shared with other executors of the process.
    dispatch: Arc<Dispatch>,
    /// Runs whose attempts this process stopped because it could not go on (a store write
    /// failed: a full disk, say), with the error. When it resumes such a run, the attempts
    /// it finds recorded as running are recorded as interrupted by that error: they were not
    /// lost to a dead process, whatever the record alone suggests.
    interrupted: Mutex<HashMap<RunId, String>>,
    /// The project's connections, for templates; their secrets are redacted from every
    /// attempt's log and outcome.
    connections: Arc<Connections>,
    /// The pools, rates and `max_active_tasks` this server shares with the other servers of
    /// its store, if it shares them: what the task queue admits is confirmed there first.
    shared_slots: Option<Arc<SharedSlots>>,
}

struct Running {
    attempt: Attempt,
    control: AttemptControl,
}

impl<S: RunStore + ?Sized> Executor<S> {
    pub fn new(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        settings: ExecutorSettings,
        observer: Arc<dyn RunObserver>,
    ) -> Executor<S> {
        let dispatch = Dispatch::new(settings.limits.clone(), clock.clone());
        Executor {
            store,
            clock,
            runners: Runners::new(None),
            settings,
            observer,
            owners: Arc::new(LocalProcesses),
            me: LocalProcesses.me(),
            dispatch,
            interrupted: Mutex::new(HashMap::new()),
            connections: Arc::default(),
            shared_slots: None,
        }
    }

    /// Confirms in a store shared with other servers each task the queue admits for a pool
    /// or a capped workflow ([`SharedSlots`]), so that those limits hold across servers.
    pub fn with_shared_slots(mut self, slots: Option<Arc<SharedSlots>>) -> Executor<S> {
        self.shared_slots = slots;
        self
    }

    /// The project's connections (none by default): templates read them as `conn`, and
    /// their secrets are replaced by `***` in the attempts' logs and outcomes.
    pub fn with_connections(mut self, connections: Arc<Connections>) -> Executor<S> {
        self.connections = connections;
        self
    }

    /// Shares a task queue with other executors (the service executes many runs at once
    /// under one set of limits). The dispatch's limits replace `settings.limits`.
    pub fn with_dispatch(mut self, dispatch: Arc<Dispatch>) -> Executor<S> {
        self.dispatch = dispatch;
        self
    }

    pub fn dispatch(&self) -> &Arc<Dispatch> {
        &self.dispatch
    }

    /// Replaces how owners are named and found alive (local processes by default): the
    /// executor claims runs as `owners.me()` and takes over a run only when
    /// `owners.is_alive` says its owner is gone.
    pub fn with_owners(mut self, owners: Arc<dyn Owners>) -> Executor<S> {
        self.me = owners.me();
        self.owners = owners;
        self
    }

    /// The owners this executor claims runs as and checks against.
    pub fn owners(&self) -> &Arc<dyn Owners> {
        &self.owners
    }

    /// Replaces the runners (e.g. to add `sql` from `tidewater-flow`).
    pub fn with_runners(mut self, runners: Runners) -> Executor<S> {
        self.runners = runners;
        self
    }

    /// Executes a run until it ends (or is cancelled) and returns its final state.
    pub async fn execute(
        &self,
        workflow: &Workflow,
        run: RunId,
        resume: Resume,
        cancel: &CancelHandle,
    ) -> Result<RunState, EngineError> {
        let record = self
            .store
            .run(run)
            .await?
            .ok_or(EngineError::NoSuchRun(run))?;
        self.claim(run).await?;
        // Only scheduled runs have deadlines (the rule is the core's).
        let workflow = workflow.for_trigger(record.trigger);
        let workflow = &*workflow;
        let mut running = HashMap::new();
        let mut acquired = HashSet::new();
        // Failing in the recovery (its own write, say) leaves the reason recorded for the
        // attempts it would have ended as it was.
        let result = match self.recover(workflow, &record, cancel).await {
            Ok(view) => {
                let result = self
                    .drive(
                        workflow,
                        &record,
                        view,
                        resume,
                        cancel,
                        &mut running,
                        &mut acquired,
                    )
                    .await;
                if let Err(error) = &result {
                    // The record can no longer follow what happens: stop what runs. The
                    // attempts it shows running (these, and any whose end could not be
                    // recorded) are recorded as interrupted by `error` if this process
                    // resumes the run, as lost if another does after this one ends.
                    for entry in running.values_mut() {
                        entry.control.stop();
                    }
                    self.interrupted_runs().insert(run, error.to_string());
                }
                result
            }
            Err(error) => Err(error),
        };
        self.release_leftover_holds(run, workflow, acquired).await;
        let released = self.store.claim_owner(run, Some(self.me), None).await;
        let state = result?;
        released?;
        Ok(state)
    }

    async fn claim(&self, run: RunId) -> Result<(), EngineError> {
        let _turn = claim_turn(run, self.me).await;
        match claim_run(&*self.store, &*self.owners, run).await {
            // Recorded under this executor's own name: what it left after a failed write.
            // (Not a decision of this process: those hold the claim turn until they let go.)
            Err(EngineError::RunBusy {
                owner: Some(owner), ..
            }) if owner == self.me => Ok(()),
            other => other,
        }
    }

    /// Loads the run's record and ends the attempts it shows running: they belong to a
    /// supervisor that is gone (we own the run now).
    async fn recover(
        &self,
        workflow: &Workflow,
        record: &RunRecord,
        cancel: &CancelHandle,
    ) -> Result<RunView, EngineError> {
        let run = record.id;
        let mut view = self.load_view(workflow, record).await?;

        // Attempts recorded as running belong to a supervisor that is gone (we own the run
        // now): kill whatever is left of them and record them as lost, or as cancelled when
        // the run is being cancelled (then it is the cancel that stops them).
        let interrupted = self.interrupted_runs().get(&run).cloned();
        let lost = if cancel.is_cancelled() {
            FailureReason::Cancelled
        } else if let Some(message) = interrupted {
            FailureReason::Interrupted { message }
        } else {
            FailureReason::Lost
        };
        let mut recovery = Vec::new();
        for index in workflow.indices() {
            if let TaskState::Running { attempt, .. } = view.task(index).state {
                self.kill_leftovers(run, workflow, index, attempt).await?;
                recovery.push(Event::AttemptFinished {
                    task: index,
                    attempt,
                    outcome: AttemptOutcome::Failed {
                        reason: lost.clone(),
                    },
                });
            }
        }
        if !recovery.is_empty() {
            view = self
                .decide_and_persist(workflow, run, &view, &recovery)
                .await?;
        }
        self.interrupted_runs().remove(&run);
        Ok(view)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "what `execute` keeps across the loop for its error path, passed as it holds it"
    )]
    async fn drive(
        &self,
        workflow: &Workflow,
        record: &RunRecord,
        mut view: RunView,
        resume: Resume,
        cancel: &CancelHandle,
        running: &mut HashMap<TaskIndex, Running>,
        acquired: &mut HashSet<TaskIndex>,
    ) -> Result<RunState, EngineError> {
        let run = record.id;

        let reset: Vec<TaskIndex> = match resume {
            Resume::Continue => Vec::new(),
            Resume::Failed => workflow
                .indices()
                .filter(|&index| view.task(index).state.is_reset_by_retry())
                .collect(),
            Resume::Tasks(tasks) => tasks,
        };
        let mut events = Vec::new();
        if !reset.is_empty() {
            events.push(Event::Reset(reset));
        }
        events.push(Event::Start);

        let (done_sender, mut done) = mpsc::unbounded_channel::<AttemptReport>();
        let mut seat = self
            .dispatch
            .seat(run, &workflow.name, workflow.max_active_tasks);
        let mut cancelled = cancel.subscribe();
        // Cancelled before it started (a queued run someone cancelled, or a run a crashed
        // process left running): recover, start and cancel at once; nothing new starts.
        let mut is_cancelling = *cancelled.borrow_and_update();
        if is_cancelling {
            events.push(Event::Cancel);
        }
        let mut unrecorded: Vec<Change> = Vec::new();
        loop {
            let now = self.clock.now();
            let mut changes = std::mem::take(&mut unrecorded);
            let mut actions = Vec::new();
            let mut batch = std::mem::take(&mut events);
            // Tasks another run's round admitted into this run's inbox are confirmed like
            // the ones its own offer admits.
            for event in &mut batch {
                if let Event::Admit(tasks) = event {
                    let admitted = std::mem::take(tasks);
                    *tasks = self
                        .confirm(&seat, workflow, run, &view, admitted, now, acquired)
                        .await?;
                }
            }
            batch.retain(|event| !matches!(event, Event::Admit(tasks) if tasks.is_empty()));
            // Tasks given a place in the queue in this round; any that does not start
            // (cancelled meanwhile) gives its place back below.
            let mut admitted_now: Vec<TaskIndex> = batch
                .iter()
                .filter_map(|event| match event {
                    Event::Admit(tasks) => Some(tasks.iter().copied()),
                    _ => None,
                })
                .flatten()
                .collect();
            // Decide, then let the queue admit what is ready, until nothing more changes;
            // all of it is persisted in one transaction.
            loop {
                let decision = decide(workflow, &view, &batch, self.context(now));
                changes.extend(decision.changes);
                actions.extend(decision.actions);
                view = decision.view;
                if is_cancelling {
                    seat.offer(Vec::new(), now);
                    break;
                }
                let offered = seat.offer(candidates(workflow, &view), now);
                let mut admitted = self
                    .confirm(&seat, workflow, run, &view, offered, now, acquired)
                    .await?;
                admitted_now.extend(&admitted);
                admitted.extend(queued_sensors(workflow, &view));
                if admitted.is_empty() {
                    break;
                }
                batch = vec![Event::Admit(admitted)];
            }
            for task in admitted_now {
                let starts = actions.iter().any(
                    |action| matches!(action, Action::Start { task: started, .. } if *started == task),
                );
                if !starts {
                    self.free_place(&seat, run, workflow, task, acquired)
                        .await?;
                }
            }
            if !changes.is_empty() {
                self.store.apply_owned(run, self.me, &changes).await?;
            }
            for action in actions {
                match action {
                    Action::Start { task, attempt } => {
                        let started =
                            self.start(workflow, record, &view, task, attempt, &done_sender);
                        if let Some(process) = started.process {
                            unrecorded.push(Change::AttemptProcess {
                                task: workflow.task(task).name.clone(),
                                attempt,
                                process,
                            });
                        }
                        running.insert(
                            task,
                            Running {
                                attempt,
                                control: started.control,
                            },
                        );
                    }
                    Action::Kill { task, attempt } => {
                        if let Some(entry) = running.get_mut(&task)
                            && entry.attempt == attempt
                        {
                            entry.control.stop();
                        }
                    }
                }
            }
            // Reported once the actions are under way, so that writing progress does not
            // delay the start of the next task's process.
            if !changes.is_empty() {
                self.observer.changed(run, workflow, &changes, &view);
            }
            self.runners.settle();
            if view.run.is_terminal() && running.is_empty() {
                if !unrecorded.is_empty() {
                    self.store.apply_owned(run, self.me, &unrecorded).await?;
                }
                return Ok(view.run.clone());
            }
            // Wake for the next retry, when a rate limit lets a waiting task start, or to ask
            // the shared store again for what another server held (its release is not
            // signalled here).
            let recheck = seat.waits_elsewhere().then(|| now + SLOT_RECHECK);
            let next_retry = [
                next_timer(workflow, &view, now),
                seat.next_wake(now),
                recheck,
            ]
            .into_iter()
            .flatten()
            .min();
            let retry_timer = async {
                match next_retry {
                    Some(at) => self.clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(report) = done.recv() => {
                    let mut reports = vec![report];
                    while let Ok(report) = done.try_recv() {
                        reports.push(report);
                    }
                    for report in reports {
                        if let Some(task) = self.finished(report, running, &mut events) {
                            self.free_place(&seat, run, workflow, task, acquired).await?;
                        }
                    }
                    // Releasing a place admits this run's next task into its own inbox: take
                    // it now, so that it is decided and persisted in the same transaction as
                    // the report, not in a second one.
                    while !is_cancelling && let Some(tasks) = seat.try_admitted() {
                        events.push(Event::Admit(tasks));
                    }
                }
                Some(tasks) = seat.admitted(), if !is_cancelling => {
                    events.push(Event::Admit(tasks));
                }
                Ok(()) = cancelled.changed(), if !is_cancelling => {
                    is_cancelling = true;
                    events.push(Event::Cancel);
                }
                () = retry_timer => {
                    if recheck.is_some() {
                        seat.forget_elsewhere();
                    }
                    events.push(Event::Tick);
                }
                // Pids ride along with the next decision's transaction, which for short tasks
                // comes within a millisecond or two; a task still running after
                // `PID_RECORD_DELAY` gets its own transaction. Until then a crash is covered by
                // the attempt marker in the process environment (see `kill_leftovers`).
                () = tokio::time::sleep(PID_RECORD_DELAY), if !unrecorded.is_empty() => {
                    self.store.apply_owned(run, self.me, &unrecorded).await?;
                    self.observer.changed(run, workflow, &unrecorded, &view);
                    unrecorded.clear();
                }
            }
        }
    }

    /// Records an attempt's end among the events; returns its task if it held a place in
    /// the queue (the attempt this run started), which the caller gives back.
    fn finished(
        &self,
        mut report: AttemptReport,
        running: &mut HashMap<TaskIndex, Running>,
        events: &mut Vec<Event>,
    ) -> Option<TaskIndex> {
        // Before anything records or shows it: an error message may quote a secret (a
        // failed request's URL, a query's text), and so may an output.
        redact_outcome(&mut report.outcome, self.connections.redactor());
        let freed = running
            .get(&report.task)
            .is_some_and(|entry| entry.attempt == report.attempt)
            .then(|| {
                running.remove(&report.task);
                report.task
            });
        events.push(Event::AttemptFinished {
            task: report.task,
            attempt: report.attempt,
            outcome: report.outcome,
        });
        freed
    }

    /// Gives back the place `task` held: its hold in a shared store first, since the local
    /// release may admit a task that asks the store for it.
    async fn free_place(
        &self,
        seat: &Seat,
        run: RunId,
        workflow: &Workflow,
        task: TaskIndex,
        acquired: &mut HashSet<TaskIndex>,
    ) -> Result<(), EngineError> {
        self.release_hold(run, workflow, task, acquired).await?;
        seat.release(task, self.clock.now());
        Ok(())
    }

    /// Confirms in the store shared with other servers what the task queue `admitted` for
    /// `run`; a refused task gives its place back and waits, its reason naming what other
    /// servers hold, and the run asks again within [`SLOT_RECHECK`]. Without a shared
    /// store everything admitted is confirmed.
    #[expect(
        clippy::too_many_arguments,
        reason = "the loop's own state, passed as the loop holds it"
    )]
    async fn confirm(
        &self,
        seat: &Seat,
        workflow: &Workflow,
        run: RunId,
        view: &RunView,
        admitted: Vec<TaskIndex>,
        now: Timestamp,
        acquired: &mut HashSet<TaskIndex>,
    ) -> Result<Vec<TaskIndex>, EngineError> {
        let Some(shared) = &self.shared_slots else {
            return Ok(admitted);
        };
        let mut confirmed = Vec::with_capacity(admitted.len());
        for task in admitted {
            let request = self
                .dispatch
                .with_limits(|limits| SharedSlots::request(limits, run, workflow, task));
            let Some(request) = request else {
                confirmed.push(task);
                continue;
            };
            match shared.acquire(&request).await? {
                SlotGrant::Granted => {
                    acquired.insert(task);
                    confirmed.push(task);
                }
                SlotGrant::Refused(refusal) => match candidate(workflow, view, task) {
                    Some(waiting) => seat.give_back(waiting, held_elsewhere(refusal), now),
                    None => seat.release(task, now),
                },
            }
        }
        Ok(confirmed)
    }

    /// Gives back the store's hold of `task`, if it took one.
    async fn release_hold(
        &self,
        run: RunId,
        workflow: &Workflow,
        task: TaskIndex,
        acquired: &mut HashSet<TaskIndex>,
    ) -> Result<(), EngineError> {
        if acquired.remove(&task)
            && let Some(shared) = &self.shared_slots
        {
            shared.release(run, &workflow.task(task).name).await?;
        }
        Ok(())
    }

    /// After the run stopped on an error (a store write failed), gives back the holds of
    /// its stopped tasks. Best effort, its failure ignored: the store is what failed as a
    /// rule, and what stays held is released when this server stops, or ends with its
    /// lease.
    async fn release_leftover_holds(
        &self,
        run: RunId,
        workflow: &Workflow,
        acquired: HashSet<TaskIndex>,
    ) {
        for task in acquired {
            let mut held = HashSet::from([task]);
            let _ = self.release_hold(run, workflow, task, &mut held).await;
        }
    }

    fn start(
        &self,
        workflow: &Workflow,
        record: &RunRecord,
        view: &RunView,
        index: TaskIndex,
        attempt: Attempt,
        done: &mpsc::UnboundedSender<AttemptReport>,
    ) -> crate::StartedAttempt {
        let task = workflow.task(index);
        let template = TemplateContext {
            workflow: workflow.name.clone(),
            task: task.name.clone(),
            run_id: record.id,
            interval: record.interval,
            timezone: workflow.timezone,
            params: record.params.clone(),
            task_outputs: workflow
                .indices()
                .filter_map(|other| {
                    view.task(other)
                        .output
                        .clone()
                        .map(|output| (workflow.task(other).name.to_string(), output))
                })
                .collect(),
            connections: self.connections.clone(),
        };
        let request = StartRequest {
            task_index: index,
            task,
            attempt,
            template: &template,
            paths: AttemptPaths::new(&self.settings.state_dir, record.id, &task.name, attempt),
            project_root: &self.settings.project_root,
            env: vec![(
                ATTEMPT_MARKER.to_owned(),
                self.marker(record.id, &task.name, attempt),
            )],
            clock: self.clock.clone(),
            kill_grace: self.settings.kill_grace,
        };
        self.runners.start(request, done)
    }

    async fn load_view(
        &self,
        workflow: &Workflow,
        record: &RunRecord,
    ) -> Result<RunView, EngineError> {
        load_view(&*self.store, workflow, record).await
    }

    async fn decide_and_persist(
        &self,
        workflow: &Workflow,
        run: RunId,
        view: &RunView,
        events: &[Event],
    ) -> Result<RunView, EngineError> {
        let decision = decide(workflow, view, events, self.context(self.clock.now()));
        if !decision.changes.is_empty() {
            self.store
                .apply_owned(run, self.me, &decision.changes)
                .await?;
            self.observer
                .changed(run, workflow, &decision.changes, &decision.view);
        }
        Ok(decision.view)
    }

    async fn kill_leftovers(
        &self,
        run: RunId,
        workflow: &Workflow,
        index: TaskIndex,
        attempt: Attempt,
    ) -> Result<(), EngineError> {
        let name = &workflow.task(index).name;
        let mut killed = Vec::new();
        for record in self.store.attempts(run, Some(name)).await? {
            if record.attempt == attempt
                && let Some(process) = record.process
                && is_alive(process)
            {
                signal_group(process.pid, nix::sys::signal::Signal::SIGKILL);
                killed.push(process);
            }
        }
        // The pid may not have been recorded before the crash; the marker finds it anyway.
        killed.extend(kill_marked(&self.marker(run, name, attempt)));
        // Members of the killed groups without the marker (it can be removed from an
        // environment) were killed with their group; they are waited for too.
        let groups: Vec<i32> = killed.iter().map(|process| process.pid).collect();
        killed.extend(group_members(&groups));
        // The attempt is recorded as ended only once its processes are: whoever reads the
        // record (a `retry` about to start the task again, a `cancel` about to say so) must
        // not find them still running.
        if !wait_until_gone(&killed).await {
            tracing::warn!(task = %name, %attempt, ?killed, "processes still running 5 s after SIGKILL");
        }
        Ok(())
    }

    fn marker(&self, run: RunId, task: &tidewater_core::TaskName, attempt: Attempt) -> String {
        format!(
            "{}#{run}#{task}#{attempt}",
            self.settings.state_dir.display()
        )
    }

    fn interrupted_runs(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, String>> {
        // The map stays consistent whatever a panicking holder did: each use is one call.
        self.interrupted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn context(&self, now: Timestamp) -> DecideContext {
        DecideContext {
            now,
            jitter_seed: self.settings.jitter_seed,
        }
    }
}

/// The run as `decide` sees it: its recorded state and its task instances in the order of
/// `workflow`'s tasks (the version the run is pinned to).
pub(crate) async fn load_view<S: RunStore + ?Sized>(
    store: &S,
    workflow: &Workflow,
    record: &RunRecord,
) -> Result<RunView, EngineError> {
    let mut instances: Vec<Option<TaskInstance>> = vec![None; workflow.tasks().len()];
    for (name, instance) in store.task_instances(record.id).await? {
        let index = workflow
            .index_of(name.as_str())
            .ok_or_else(|| EngineError::TaskMismatch {
                run: record.id,
                task: name.to_string(),
            })?;
        instances[index.get()] = Some(instance);
    }
    let instances = instances
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    Ok(RunView::new(
        workflow,
        record.state.clone(),
        record.interval,
        instances,
    ))
}

/// Queued tasks that need a slot of the task queue.
fn candidates(workflow: &Workflow, view: &RunView) -> Vec<Candidate<TaskIndex>> {
    workflow
        .indices()
        .filter_map(|index| candidate(workflow, view, index))
        .collect()
}

/// Task `index` as a candidate of the task queue, if it is queued and needs a slot.
fn candidate(
    workflow: &Workflow,
    view: &RunView,
    index: TaskIndex,
) -> Option<Candidate<TaskIndex>> {
    let TaskState::Queued { since, .. } = view.task(index).state else {
        return None;
    };
    let task = workflow.task(index);
    if !task.action.holds_a_slot() {
        return None;
    }
    Some(Candidate {
        key: index,
        workflow: workflow.name.clone(),
        priority: task.priority,
        pool: task.pool.clone(),
        pool_slots: task.pool_slots,
        queued_since: since,
        sequence: u64::from(index.0),
    })
}

/// Queued sensors: they start at once and wait without holding a slot.
fn queued_sensors<'a>(
    workflow: &'a Workflow,
    view: &'a RunView,
) -> impl Iterator<Item = TaskIndex> + 'a {
    workflow.indices().filter(move |&index| {
        matches!(view.task(index).state, TaskState::Queued { .. })
            && !workflow.task(index).action.holds_a_slot()
    })
}

/// `outcome` with every secret of `redactor` replaced in its messages and output.
fn redact_outcome(outcome: &mut AttemptOutcome, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    let redact = |text: &mut String| {
        let redacted = match redactor.redact(text) {
            std::borrow::Cow::Owned(redacted) => Some(redacted),
            std::borrow::Cow::Borrowed(_) => None,
        };
        if let Some(redacted) = redacted {
            *text = redacted;
        }
    };
    match outcome {
        AttemptOutcome::Succeeded { output, log_error } => {
            if let Some(output) = output {
                redactor.redact_json(output);
            }
            if let Some(log_error) = log_error {
                redact(log_error);
            }
        }
        AttemptOutcome::Failed { reason } => match reason {
            FailureReason::CouldNotStart { message, .. }
            | FailureReason::BadOutput { message }
            | FailureReason::TaskError { message, .. }
            | FailureReason::Bug { message }
            | FailureReason::Interrupted { message } => redact(message),
            FailureReason::Exit { .. }
            | FailureReason::Signal { .. }
            | FailureReason::TimedOut
            | FailureReason::RunTimedOut
            | FailureReason::Lost
            | FailureReason::LostTooOften { .. }
            | FailureReason::Cancelled => {}
        },
    }
}
