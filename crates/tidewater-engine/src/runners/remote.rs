//! The runner of tasks with a `queue`: it runs nothing here. It offers the attempt in the
//! store ([`WorkerStore::offer_attempt`]) for a `tidewater worker` of that queue to claim,
//! and reports the attempt when the worker's report is accepted
//! ([`RemoteAttempts::deliver`], called by the server's handler) or when its lease expires
//! ([`RemoteAttempts::expire_leases`]: the attempt is `Lost`, which `decide` starts again
//! without using a retry). Everything else stays as for any runner: the executor, the task
//! queue (pools, rates, priorities) and the run's record see an attempt like any other, so
//! they hold across the server and all workers.
//!
//! A stop (cancel, a run's timeout) withdraws an attempt no worker claimed yet, and reaches a
//! claimed one as the `cancel` answer to its worker's next heartbeat; the worker kills it and
//! reports it cancelled. A worker that never answers loses its lease, and the attempt is lost.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidewater_core::{
    AttemptOutcome, DataInterval, FailureClass, FailureReason, QueueName, TaskAction, Timestamp,
};
use tidewater_store::{AttemptOffer, RemoteAttemptId, RemoteAttemptState, Store, StoreError};
use tokio::sync::oneshot;

use crate::{AttemptControl, AttemptLog, AttemptReporter, Clock, StartRequest, StartedAttempt};

/// What a worker needs to run an attempt besides its project files and the pinned workflow
/// (which it reads from its own files, checked against the hash): the run's interval, params
/// and the outputs of upstream tasks. The `context` of an [`AttemptOffer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteAttemptContext {
    pub interval: DataInterval,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub task_outputs: std::collections::BTreeMap<String, serde_json::Value>,
}

/// How workers keep their leases: a worker renews every `heartbeat`, and a lease not renewed
/// for `lease` expires (`[workers]` in tidewater.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSettings {
    pub heartbeat: Duration,
    pub lease: Duration,
}

impl Default for LeaseSettings {
    fn default() -> LeaseSettings {
        LeaseSettings {
            heartbeat: Duration::from_secs(10),
            lease: Duration::from_secs(30),
        }
    }
}

/// The offered attempts of this server that wait for a worker's report, by id: the
/// reporter of each, to report it once when its worker does or its lease expires.
pub struct RemoteAttempts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: LeaseSettings,
    waiting: Mutex<HashMap<RemoteAttemptId, Waiting>>,
    /// Woken each time this server offers an attempt: the claims that wait for one
    /// ([`RemoteAttempts::offered`]) look at the store at once.
    offered: tokio::sync::Notify,
}

/// An offered attempt this server waits for.
struct Waiting {
    reporter: AttemptReporter,
    /// It was asked to stop: if its lease expires it ends cancelled, not lost (a lost
    /// attempt would be started again).
    is_stopping: bool,
}

impl RemoteAttempts {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: LeaseSettings,
    ) -> Arc<RemoteAttempts> {
        Arc::new(RemoteAttempts {
            store,
            clock,
            settings,
            waiting: Mutex::new(HashMap::new()),
            offered: tokio::sync::Notify::new(),
        })
    }

    /// Completes when this server offers an attempt after the future was enabled
    /// ([`tokio::sync::futures::Notified::enable`]): a waiting claim enables it *before* it
    /// looks at the store, so that an offer made between the look and the wait still wakes
    /// it. Offers of other servers on the same database wake nobody here: a waiting claim
    /// looks at the store every so often as well.
    pub fn offered(&self) -> tokio::sync::futures::Notified<'_> {
        self.offered.notified()
    }

    pub fn settings(&self) -> LeaseSettings {
        self.settings
    }

    /// Reports the attempt `id` with `outcome`, if this server waits for it (once: a second
    /// delivery finds nothing). Returns whether it did.
    pub fn deliver(&self, id: RemoteAttemptId, outcome: AttemptOutcome) -> bool {
        let waiting = self.waiting().remove(&id);
        match waiting {
            Some(waiting) => {
                waiting.reporter.report(outcome);
                true
            }
            None => false,
        }
    }

    /// Ends the attempts whose lease expired (by this server's clock) as lost. Called every
    /// [`RemoteAttempts::expiry_interval`] by the server.
    pub async fn expire_leases(&self) -> Result<usize, StoreError> {
        let workers = worker_store(&*self.store)?;
        let expired = workers.expire_leases(self.clock.now()).await?;
        let count = expired.len();
        for id in expired {
            let reason = self.lost_reason(id);
            if reason == FailureReason::Lost {
                tracing::warn!(
                    attempt = id.0,
                    "a worker's lease expired; the attempt is lost"
                );
            }
            self.deliver(id, AttemptOutcome::Failed { reason });
        }
        Ok(count)
    }

    /// Why attempt `id` ended when its lease did: cancelled if it was being stopped (a lost
    /// attempt would be started again), else lost.
    fn lost_reason(&self, id: RemoteAttemptId) -> FailureReason {
        let is_stopping = self
            .waiting()
            .get(&id)
            .is_some_and(|waiting| waiting.is_stopping);
        if is_stopping {
            FailureReason::Cancelled
        } else {
            FailureReason::Lost
        }
    }

    /// Reports the attempts this server waits for that the store has as reported or lost,
    /// when another server sharing the store took the worker's report (a worker may claim
    /// through any server) or expired the lease: that server's `deliver` found nothing to
    /// wake. Called with [`RemoteAttempts::expire_leases`] on a store that servers share.
    /// Returns how many it reported.
    pub async fn collect_ended(&self) -> Result<usize, StoreError> {
        let waiting: Vec<RemoteAttemptId> = self.waiting().keys().copied().collect();
        if waiting.is_empty() {
            return Ok(0);
        }
        let workers = worker_store(&*self.store)?;
        let mut count = 0;
        for record in workers.ended_attempts(&waiting).await? {
            let outcome = match record.state {
                RemoteAttemptState::Reported { outcome, .. } => outcome,
                RemoteAttemptState::Lost { .. } => AttemptOutcome::Failed {
                    reason: self.lost_reason(record.id),
                },
                _ => continue,
            };
            if self.deliver(record.id, outcome) {
                count += 1;
            }
        }
        Ok(count)
    }

    /// How often leases are looked at: a quarter of the heartbeat, so that an expired lease
    /// is noticed within a fraction of a heartbeat after its TTL (at most once a second,
    /// at least every 50 ms).
    pub fn expiry_interval(&self) -> Duration {
        (self.settings.heartbeat / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<RemoteAttemptId, Waiting>> {
        // Each use is one insert or remove: the map stays consistent whatever a panic did.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The store's worker half, or an error saying that this backend has none.
pub fn worker_store(store: &dyn Store) -> Result<&dyn tidewater_store::WorkerStore, StoreError> {
    store
        .worker_store()
        .ok_or_else(|| StoreError::Unsupported("this store backend does not serve workers"))
}

/// Starts the attempt of a task with a `queue` by offering it to the workers of that queue.
pub(crate) fn start_remote(
    remote: &Arc<RemoteAttempts>,
    queue: &QueueName,
    request: StartRequest<'_>,
    reporter: AttemptReporter,
) -> StartedAttempt {
    let Some((log, reporter)) = AttemptLog::for_request(&request, reporter) else {
        return StartedAttempt::finished();
    };
    if matches!(
        request.task.action,
        TaskAction::Empty | TaskAction::Wait(_) | TaskAction::Call(_)
    ) {
        // The workflow reader refuses these; an older pinned version may still hold one.
        reporter.could_not_start(
            FailureClass::Input,
            format!(
                "a `{}` task cannot run on a worker's queue",
                request.task.action.kind()
            ),
        );
        return StartedAttempt::finished();
    }
    log.note(format!("offered to the workers of queue `{queue}`"));
    log.flush();
    let context = RemoteAttemptContext {
        interval: request.template.interval,
        params: request.template.params.clone(),
        task_outputs: request.template.task_outputs.clone(),
    };
    let offer = PendingOffer {
        run: request.template.run_id,
        workflow: request.template.workflow.clone(),
        task: request.task.name.clone(),
        attempt: request.attempt,
        queue: queue.clone(),
        context,
        offered_at: request.clock.now(),
        log: request.paths.log.clone(),
    };
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(offer.run(remote.clone(), reporter, stopped));
    StartedAttempt {
        process: None,
        control: AttemptControl::new(stop),
    }
}

struct PendingOffer {
    run: tidewater_core::RunId,
    workflow: tidewater_core::WorkflowName,
    task: tidewater_core::TaskName,
    attempt: tidewater_core::Attempt,
    queue: QueueName,
    context: RemoteAttemptContext,
    offered_at: Timestamp,
    log: PathBuf,
}

impl PendingOffer {
    async fn run(
        self,
        remote: Arc<RemoteAttempts>,
        reporter: AttemptReporter,
        stopped: oneshot::Receiver<()>,
    ) {
        let id = match self.offer(&remote).await {
            Ok(id) => id,
            Err(error) => {
                reporter.could_not_start(
                    FailureClass::Environment,
                    format!("cannot offer the attempt to the workers: {error}"),
                );
                return;
            }
        };
        remote.waiting().insert(
            id,
            Waiting {
                reporter,
                is_stopping: false,
            },
        );
        // Every waiting claim looks; the store gives the attempt to one of them.
        remote.offered.notify_waiters();
        // The stop's sender lives as long as the executor's record of the attempt: it is
        // dropped, unsent, when the attempt ended.
        if stopped.await.is_err() {
            return;
        }
        if let Some(waiting) = remote.waiting().get_mut(&id) {
            waiting.is_stopping = true;
        }
        let Ok(workers) = worker_store(&*remote.store) else {
            return;
        };
        match workers.stop_attempt(id, remote.clock.now()).await {
            // No worker had it: nobody else will report it.
            Ok(true) => {
                remote.deliver(
                    id,
                    AttemptOutcome::Failed {
                        reason: FailureReason::Cancelled,
                    },
                );
            }
            // Its worker is told at its next heartbeat, and reports it cancelled (or its
            // lease expires).
            Ok(false) => {}
            Err(error) => {
                tracing::error!(
                    attempt = id.0,
                    "cannot ask a worker's attempt to stop: {error}"
                );
            }
        }
    }

    async fn offer(&self, remote: &RemoteAttempts) -> Result<RemoteAttemptId, StoreError> {
        let workers = worker_store(&*remote.store)?;
        let record = remote.store.run(self.run).await?.ok_or_else(|| {
            StoreError::Unsupported("the run of an offered attempt is not in the store")
        })?;
        let context = serde_json::to_value(&self.context).map_err(|error| StoreError::Backend {
            source: Box::new(error),
        })?;
        let _ = &self.log;
        workers
            .offer_attempt(&AttemptOffer {
                run: self.run,
                workflow: self.workflow.clone(),
                task: self.task.clone(),
                attempt: self.attempt,
                queue: self.queue.clone(),
                workflow_hash: record.workflow_hash,
                context,
                offered_at: self.offered_at,
            })
            .await
    }
}
