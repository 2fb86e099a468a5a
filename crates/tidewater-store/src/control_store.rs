use async_trait::async_trait;
use chrono::NaiveDate;
use tidewater_core::{
    BackfillOrder, ProcessIdentity, RunId, RunQueueKey, RunStateKind, TaskName, Timestamp,
    WorkflowName,
};

use crate::{BackfillId, EventFilter, EventPage, EventSeq, NewRun, RunRecord, StoreError};

/// What the scheduler service, backfills and the commands that steer them need from a store,
/// besides [`crate::RunStore`]: finding runs by interval, backfills, paused workflows, and
/// the service's own record. Every method is atomic.
#[async_trait]
pub trait ControlStore: Send + Sync {
    /// Like `create_run`, but `None` (and nothing recorded) when the interval already has
    /// its run: a scheduled run of the same workflow and interval, or a run of the same
    /// backfill and interval. This is how a restarted scheduler never creates an interval
    /// twice.
    async fn create_run_once(&self, run: NewRun) -> Result<Option<RunRecord>, StoreError>;

    /// Like `create_run`, unless a run of the same workflow and interval is queued or running
    /// (whatever its trigger): then nothing is recorded and that run is returned. Checked in
    /// the transaction that creates, so two processes cannot both create one.
    async fn create_run_unless_active(&self, run: NewRun) -> Result<RunCreation, StoreError>;

    /// The child run that task `parent.task` of run `parent.run` (a `call`) started: the
    /// one recorded before, if any, else `run` created as that child. One transaction: a
    /// calling run and task have at most one child, whoever asks and however often.
    async fn create_child_run(
        &self,
        parent: &RunParent,
        run: NewRun,
    ) -> Result<RunRecord, StoreError>;

    /// The run and task that started run `id`, if it is a child run.
    async fn run_parent(&self, id: RunId) -> Result<Option<RunParent>, StoreError>;

    /// The child runs that the tasks of run `id` started, by task name.
    async fn child_runs(&self, id: RunId) -> Result<Vec<(TaskName, RunId)>, StoreError>;

    /// Runs not yet ended (queued or running), oldest interval first, then by id.
    async fn active_runs(&self) -> Result<Vec<RunRecord>, StoreError>;

    /// Runs that count against their queue's cap: running, or queued and claimed by a
    /// process (which may have died since), by id. At most the caps' sum unless processes
    /// died: what a scheduler reads on every turn instead of every queued run.
    async fn executing_runs(&self) -> Result<Vec<RunRecord>, StoreError>;

    /// The queues (see [`tidewater_core::RunQueue`]) that hold queued runs, workflows first.
    /// Costs a few index lookups per queue, however many runs wait.
    async fn run_queues(&self) -> Result<Vec<RunQueueKey>, StoreError>;

    /// The first `limit` queued runs of a queue, in the order of
    /// [`tidewater_core::start_order`]. Costs the same however many runs wait.
    async fn queued_runs(
        &self,
        queue: &RunQueueKey,
        order: BackfillOrder,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// How many runs wait in each queue that holds any, in the order of `run_queues`.
    async fn queued_counts(&self) -> Result<Vec<(RunQueueKey, u64)>, StoreError>;

    /// Runs of a workflow whose interval starts in `[from, to)`, by interval start then id.
    async fn runs_in_range(
        &self,
        workflow: &WorkflowName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// The end of the latest interval that has a scheduled run: where the scheduler goes on.
    async fn last_scheduled_end(
        &self,
        workflow: &WorkflowName,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Pauses or unpauses a workflow; true if that changed anything.
    async fn set_paused(
        &self,
        workflow: &WorkflowName,
        paused: bool,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    async fn paused_workflows(&self) -> Result<Vec<WorkflowName>, StoreError>;

    /// Creates a backfill, unless one of the same workflow and range has not finished
    /// (checked atomically with the creation): then returns that one, whose runs the caller
    /// shares.
    async fn create_backfill(&self, backfill: NewBackfill) -> Result<BackfillRecord, StoreError>;

    async fn backfill(&self, id: BackfillId) -> Result<Option<BackfillRecord>, StoreError>;

    /// The latest backfill of exactly this workflow and range that has not finished.
    async fn unfinished_backfill(
        &self,
        workflow: &WorkflowName,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Option<BackfillRecord>, StoreError>;

    /// Backfills that have not finished, oldest first.
    async fn unfinished_backfills(&self) -> Result<Vec<BackfillRecord>, StoreError>;

    /// The runs of a backfill, by interval start.
    async fn backfill_runs(&self, id: BackfillId) -> Result<Vec<RunRecord>, StoreError>;

    async fn finish_backfill(&self, id: BackfillId, at: Timestamp) -> Result<(), StoreError>;

    /// How many runs each workflow has in each state, by workflow then state; a workflow or
    /// state without runs is left out. One grouped read (what a metrics scrape costs), never
    /// a list of the runs.
    async fn run_counts_by_workflow(&self) -> Result<Vec<WorkflowRunCount>, StoreError>;

    /// The newest `per_workflow` runs of each of `workflows` (the strip of recent runs a
    /// workflow overview shows), by workflow in the order given, newest first within each.
    /// One statement that reads at most `per_workflow` index entries per workflow, however
    /// long the history: never a query per workflow, never a scan of every run.
    async fn recent_runs(
        &self,
        workflows: &[WorkflowName],
        per_workflow: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// How many runs of a backfill are in each state.
    async fn backfill_counts(&self, id: BackfillId) -> Result<RunCounts, StoreError>;

    /// Records the backfill finished if every run of it succeeded (in the same transaction
    /// as the check); true if it is finished. Costs the same however many runs it has.
    async fn finish_backfill_if_done(
        &self,
        id: BackfillId,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Compare-and-set of the service's record: this process becomes the service only if the
    /// recorded service equals `expected` (`None`: no service recorded).
    async fn claim_service(
        &self,
        expected: Option<ProcessIdentity>,
        me: ProcessIdentity,
        at: Timestamp,
    ) -> Result<ServiceClaim, StoreError>;

    /// Removes the service's record if it is `me`'s.
    async fn release_service(&self, me: ProcessIdentity) -> Result<(), StoreError>;

    async fn service(&self) -> Result<Option<ServiceRecord>, StoreError>;

    /// Replaces the service's report on the project's workflow files.
    async fn publish_health(
        &self,
        files: &[WorkflowHealth],
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// The service's last report on the project's workflow files, by file.
    async fn workflow_health(&self) -> Result<Vec<WorkflowHealth>, StoreError>;

    /// Asks whichever process executes `run` to cancel it. False (and nothing recorded) when
    /// the run has already ended or does not exist. A request ends with its run: once the
    /// run has ended, a later resume of it does not see the request.
    async fn request_cancel(&self, run: RunId, at: Timestamp) -> Result<bool, StoreError>;

    /// Runs not yet ended that someone asked to cancel, by id.
    async fn cancel_requests(&self) -> Result<Vec<RunId>, StoreError>;

    /// The change feed after `after`: at most `limit` events matching `filter`, oldest
    /// first (see [`EventPage`]). Every state change that `create_run` and `apply` record
    /// (a run's, a task instance's, an attempt's start and end) is an event, committed with
    /// the change, so a reader never sees an event before its change nor misses one. Within
    /// one `apply` the order is: the run's state unless it ended, attempts ended (but those
    /// started in the same `apply`), task states, attempts started, those attempts ended, the
    /// run's end. The
    /// store keeps at least the newest [`EVENTS_KEPT`] events; a reader further behind gets
    /// [`EventPage::Reset`].
    ///
    /// Costs one indexed range read of the events after `after` (a reader that follows the
    /// feed reads only what is new).
    async fn events_after(
        &self,
        after: EventSeq,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<EventPage, StoreError>;

    /// The newest event's sequence number (`EventSeq(0)` before the first): where a reader
    /// that wants only what happens from now on starts.
    async fn last_event(&self) -> Result<EventSeq, StoreError>;

    /// Drops all but the newest `keep` events, and never the newest one, so that sequence
    /// numbers go on from it. The store prunes by itself as it records events (keeping at
    /// least [`EVENTS_KEPT`]); this is for tests and maintenance.
    async fn prune_events(&self, keep: u64) -> Result<(), StoreError>;

    /// Creates the run a data-aware schedule starts for `change`, and records the change as
    /// consumed, in one transaction; `None` (nothing recorded) when the workflow consumed
    /// that change already. This is how a restarted or killed service never starts a second
    /// run for one upstream commit of a partition (or one upstream run).
    async fn create_data_run(
        &self,
        run: NewRun,
        change: &DataChange,
    ) -> Result<Option<RunRecord>, StoreError>;

    /// How far the workflow has looked at a source (a Delta version, a feed sequence
    /// number), or `None` before it first looked.
    async fn data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
    ) -> Result<Option<i64>, StoreError>;

    /// Records that the workflow has looked at the source up to `position`. Written after
    /// the runs of those changes: a crash in between looks again, and `create_data_run`
    /// refuses what was consumed.
    async fn set_data_cursor(
        &self,
        workflow: &WorkflowName,
        source: &str,
        position: i64,
    ) -> Result<(), StoreError>;
}

/// One upstream change a data-aware schedule consumes: unique per workflow, source, change
/// and partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataChange {
    /// [`tidewater_core::DataTrigger::source_key`]: `table:raw.orders`, `workflow:other`.
    pub source: String,
    /// The table version of the commit, or the upstream run's id.
    pub change: i64,
    /// The partition the commit wrote (`dt=2026-01-03`), or the upstream run's interval start.
    pub partition: String,
}

/// How many of the newest events a store keeps at least: at a few hundred events per run,
/// the last few hundred runs; about 5 MB in SQLite. A reader (the web UI, an API client)
/// resuming from further behind gets [`EventPage::Reset`] and reloads.
pub const EVENTS_KEPT: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBackfill {
    pub workflow: WorkflowName,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub max_active_runs: u32,
    pub reverse: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillRecord {
    pub id: BackfillId,
    pub workflow: WorkflowName,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub max_active_runs: u32,
    pub reverse: bool,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// The run and task (a `call`) that started a child run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunParent {
    pub run: RunId,
    pub task: TaskName,
}

/// What [`ControlStore::create_run_unless_active`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum RunCreation {
    Created(RunRecord),
    /// Nothing: this run of the same workflow and interval is queued or running.
    Active(RunRecord),
}

/// How many runs of one workflow are in one state ([`ControlStore::run_counts_by_workflow`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRunCount {
    pub workflow: WorkflowName,
    pub state: RunStateKind,
    pub runs: u64,
}

/// How many runs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub queued: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl RunCounts {
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.succeeded + self.failed + self.cancelled
    }

    /// Queued or running.
    pub fn active(&self) -> u64 {
        self.queued + self.running
    }
}

impl BackfillRecord {
    /// The order in which its runs start.
    pub fn order(&self) -> BackfillOrder {
        if self.reverse {
            BackfillOrder::NewestFirst
        } else {
            BackfillOrder::OldestFirst
        }
    }
}

/// The process running `tidewater server` on this store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRecord {
    pub process: ProcessIdentity,
    pub started_at: Timestamp,
    /// When it last published its workflows' health.
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceClaim {
    Claimed,
    /// Another process is recorded as the service (it may have died since).
    Held(ServiceRecord),
}

/// What the service knows about one workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowHealth {
    /// The file, relative to the project.
    pub file: String,
    /// `None` when the file never loaded well enough to name its workflow.
    pub workflow: Option<WorkflowName>,
    /// The version the service schedules (the last good one), if any.
    pub workflow_hash: Option<String>,
    pub next_due: Option<Timestamp>,
    /// Why the file on disk cannot be used now.
    pub problem: Option<String>,
}
