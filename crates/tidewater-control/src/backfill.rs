//! [`Backfill`]: one run per interval of a date range, admitted a few at a time; asked again,
//! the same backfill resumes. Planning, recording and executing it here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tidewater_core::BackfillId;
use tidewater_engine::{
    Catalog, EngineError, Requeued, RunObserver, Scheduling, Scope, Service, ServiceObserver,
    SystemClock, new_run, requeue,
};
use tidewater_store::{BackfillRecord, NewBackfill, RunCounts, RunTrigger};
use tokio::sync::{Notify, watch};

use crate::Control;
use crate::backfill_plan::{BackfillPlan, BackfillStep};
use crate::backfill_request::BackfillRequest;
use crate::control_error::{ControlError, ControlResult};

/// What [`Control::backfill`] did.
#[derive(Debug, Clone)]
pub struct Backfill {
    pub plan: BackfillPlan,
    /// What was recorded; `None` for a dry run and for a range with no ended interval (the
    /// plan's intervals are then empty).
    pub recorded: Option<BackfillRecorded>,
}

/// A backfill recorded from its plan: its runs created or queued again, ready to execute.
#[derive(Debug, Clone)]
pub struct BackfillRecorded {
    /// The backfill: the plan's unfinished one resumed, or a new one (or the one that a
    /// concurrent identical request created first).
    pub record: BackfillRecord,
    /// The plan resumed an unfinished backfill of the same range.
    pub is_resumed: bool,
    /// Runs created now.
    pub created: u64,
    /// Failed or cancelled runs queued again.
    pub requeued: u64,
    /// Intervals skipped (`only_missing`).
    pub skipped: u64,
}

impl Control {
    /// Plans a backfill (see [`Control::plan_backfill`]) and, unless it is a dry run or has
    /// nothing to do, records it (see [`Control::record_backfill`]). Its runs are then
    /// executed by a live server (wake it) or here by [`Control::execute_backfill`].
    pub async fn backfill(&self, request: &BackfillRequest) -> ControlResult<Backfill> {
        let plan = self.plan_backfill(request).await?;
        let recorded = if request.dry_run || plan.intervals.is_empty() {
            None
        } else {
            Some(self.record_backfill(&plan).await?)
        };
        Ok(Backfill { plan, recorded })
    }

    /// Records a plan: finds the unfinished backfill of its range or creates it, creates the
    /// runs it plans, and queues again the failed and cancelled runs it resumes.
    pub async fn record_backfill(&self, plan: &BackfillPlan) -> ControlResult<BackfillRecorded> {
        let workflow = &plan.loaded.workflow;
        // Finds the unfinished backfill of this range or creates it, atomically: the same
        // request given twice at once shares one backfill and its runs.
        let record = self
            .store
            .create_backfill(NewBackfill {
                workflow: workflow.name.clone(),
                from: plan.from,
                to: plan.to,
                max_active_runs: plan.max_active_runs,
                reverse: plan.order == tidewater_core::BackfillOrder::NewestFirst,
                created_at: chrono::Utc::now(),
            })
            .await?;
        let mut recorded = BackfillRecorded {
            record,
            is_resumed: plan.existing.is_some(),
            created: 0,
            requeued: 0,
            skipped: 0,
        };
        for planned in &plan.intervals {
            match planned.step {
                BackfillStep::Create => {
                    let run = new_run(
                        &plan.loaded,
                        planned.interval,
                        RunTrigger::Backfill,
                        Some(recorded.record.id),
                        chrono::Utc::now(),
                    );
                    if self.store.create_run_once(run).await?.is_some() {
                        recorded.created += 1;
                    }
                }
                BackfillStep::RunAgain { run, .. } => {
                    // Queued again: the executor runs its failed and cancelled tasks again,
                    // on the version the run is pinned to.
                    let record = self.run_record(run).await?;
                    let pinned = self.pinned_workflow(&record).await?;
                    let requeued = requeue(
                        &*self.store,
                        &*self.owners,
                        &pinned.workflow,
                        run,
                        chrono::Utc::now(),
                    )
                    .await;
                    match requeued {
                        Ok(Requeued::Now) => recorded.requeued += 1,
                        // Retried or executed by someone else meanwhile: theirs to run.
                        Ok(Requeued::Unchanged(_)) | Err(EngineError::RunBusy { .. }) => {}
                        Err(error) => return Err(error.into()),
                    }
                }
                BackfillStep::Keep { .. } => {}
                BackfillStep::Skip(_) => recorded.skipped += 1,
            }
        }
        Ok(recorded)
    }

    /// A backfill's runs counted by state: what following its progress reads (a look costs
    /// the same for 10 runs and 10,000).
    pub async fn backfill_counts(&self, id: BackfillId) -> ControlResult<RunCounts> {
        Ok(self.store.backfill_counts(id).await?)
    }

    /// A backfill by id.
    pub async fn backfill_record(&self, id: BackfillId) -> ControlResult<BackfillRecord> {
        self.store
            .backfill(id)
            .await?
            .ok_or_else(|| ControlError::NotFound(format!("there is no backfill {id}")))
    }

    /// Executes a backfill's runs in this process (no server is running) with a service
    /// scoped to the backfill, until none is left to start or `stop` completes. Stopping is
    /// graceful: no new run starts, running tasks get SIGTERM then SIGKILL after the grace
    /// period, and the stopped runs are queued again, so that the same request resumes them.
    /// `on_stop` is told once when stopping begins. A cancel of one of the runs wakes this
    /// process (SIGUSR1). `observer` is told of every run and task change (progress).
    pub async fn execute_backfill<O>(
        &self,
        backfill: &BackfillRecord,
        parallelism: Option<u32>,
        observer: Arc<O>,
        stop: impl Future<Output = ()>,
        on_stop: impl FnOnce(),
    ) -> ControlResult<()>
    where
        O: RunObserver + ServiceObserver + 'static,
    {
        let executor = self.executor(parallelism, observer.clone())?;
        // The pinned versions of the runs are read from the store; the catalog only has to
        // hold the current version, for the backfill's workflow.
        let loaded = Arc::new(self.load_workflow(backfill.workflow.as_str())?);
        let catalog = Catalog {
            workflows: HashMap::from([(backfill.workflow.clone(), loaded)]),
            files: Vec::new(),
        };
        let (_keep, catalog) = watch::channel(Arc::new(catalog));
        let service = Service {
            store: self.store.clone(),
            clock: Arc::new(SystemClock),
            executor,
            project: Arc::new(self.project.clone()),
            scope: Scope::Backfill(backfill.id),
            observer,
            // A backfill's service schedules nothing, data-aware or not.
            commits: None,
            scheduling: Scheduling::Always,
        };
        let (stopping, stopped) = watch::channel(false);
        // `cancel` of one of the runs records a request and wakes this process (SIGUSR1 by
        // default, handled, so that it never kills it).
        let mut woken = self
            .wakeups
            .listen()
            .map_err(|error| ControlError::environment("cannot listen for wake-ups", error))?;
        let wake = Arc::new(Notify::new());
        let waker = wake.clone();
        let watch_stop = async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    () = woken.woken() => waker.notify_one(),
                }
            }
            on_stop();
            let _ = stopping.send(true);
            std::future::pending::<()>().await;
        };
        tokio::select! {
            result = service.run(catalog, wake, stopped) => Ok(result?),
            () = watch_stop => unreachable!("watching for a stop never completes"),
        }
    }
}
