//! The task queue shared by every run a process executes: one set of limits (parallelism,
//! pools, rates, `max_active_tasks`) and one order (priority with aging, then arrival) over
//! the queued tasks of all runs.
//!
//! Each executing run takes a [`Seat`]. It offers its queued tasks; an admission round over
//! the candidates of all runs decides what starts. Tasks admitted for the run that offered
//! are returned at once; tasks admitted for other runs (a slot freed by one run lets another
//! run's task start) are sent to their seat's inbox.
//!
//! On a store shared by several servers, the executor confirms what was admitted in the
//! store (`SharedSlots`) and gives back what the store refused ([`Seat::give_back`]), which
//! teaches the queue what other servers hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tidewater_core::{
    Candidate, HeldElsewhere, QueueLimits, RunId, TaskIndex, TaskQueue, Timestamp, WaitReason,
    WorkflowName,
};
use tokio::sync::mpsc;

use crate::Clock;

/// The process's task queue; see the module documentation.
pub struct Dispatch {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    queue: TaskQueue<(RunId, TaskIndex)>,
    /// Each seated run's queued tasks that wait for admission.
    offers: HashMap<RunId, Vec<Candidate<TaskIndex>>>,
    inboxes: HashMap<RunId, mpsc::UnboundedSender<Vec<TaskIndex>>>,
    /// Why each offered task waited in the last round.
    waiting: HashMap<(RunId, TaskIndex), WaitReason>,
}

/// A run's place at the [`Dispatch`]; dropping it gives back everything the run held.
pub struct Seat {
    dispatch: Arc<Dispatch>,
    run: RunId,
    inbox: mpsc::UnboundedReceiver<Vec<TaskIndex>>,
}

impl Dispatch {
    pub fn new(limits: QueueLimits, clock: Arc<dyn Clock>) -> Arc<Dispatch> {
        Arc::new(Dispatch {
            clock,
            inner: Mutex::new(Inner {
                queue: TaskQueue::new(limits),
                offers: HashMap::new(),
                inboxes: HashMap::new(),
                waiting: HashMap::new(),
            }),
        })
    }

    /// Seats a run of `workflow` (whose `max_active_tasks` applies from now on).
    pub fn seat(
        self: &Arc<Dispatch>,
        run: RunId,
        workflow: &WorkflowName,
        max_active_tasks: Option<u32>,
    ) -> Seat {
        let (sender, inbox) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.queue.set_max_active_tasks(workflow, max_active_tasks);
        inner.inboxes.insert(run, sender);
        Seat {
            dispatch: self.clone(),
            run,
            inbox,
        }
    }

    /// Reads the queue's limits (the pools' slots and rates a shared store is asked for).
    pub(crate) fn with_limits<R>(&self, read: impl FnOnce(&QueueLimits) -> R) -> R {
        read(self.lock().queue.limits())
    }

    /// How many tasks hold a place now.
    pub fn running(&self) -> u32 {
        self.lock().queue.running()
    }

    /// Every offered task that waits, with the reason it waited in the last round.
    pub fn waiting(&self) -> Vec<(RunId, TaskIndex, WaitReason)> {
        let inner = self.lock();
        let mut waiting: Vec<_> = inner
            .waiting
            .iter()
            .map(|(&(run, task), reason)| (run, task, reason.clone()))
            .collect();
        waiting.sort_by_key(|&(run, task, _)| (run, task));
        waiting
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters more than stopping would: keep going with what is there.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// One admission round over the offers of all runs; returns what was admitted per run.
    fn round(&mut self, now: Timestamp) -> HashMap<RunId, Vec<TaskIndex>> {
        let candidates: Vec<Candidate<(RunId, TaskIndex)>> = self
            .offers
            .iter()
            .flat_map(|(&run, offered)| {
                offered.iter().map(move |candidate| Candidate {
                    key: (run, candidate.key),
                    workflow: candidate.workflow.clone(),
                    priority: candidate.priority,
                    pool: candidate.pool.clone(),
                    pool_slots: candidate.pool_slots,
                    queued_since: candidate.queued_since,
                    // Arrival order across runs: older runs first, then task order.
                    sequence: ((run.0 as u64) << 32) | u64::from(candidate.key.0),
                })
            })
            .collect();
        if candidates.is_empty() {
            self.waiting.clear();
            return HashMap::new();
        }
        let admission = self.queue.admit(&candidates, now);
        self.waiting = admission.waiting.into_iter().collect();
        let mut admitted: HashMap<RunId, Vec<TaskIndex>> = HashMap::new();
        for (run, task) in admission.admitted {
            admitted.entry(run).or_default().push(task);
        }
        for (run, tasks) in &admitted {
            if let Some(offered) = self.offers.get_mut(run) {
                offered.retain(|candidate| !tasks.contains(&candidate.key));
            }
        }
        admitted
    }

    /// Sends what was admitted for runs other than `except` to their inboxes.
    fn deliver(&mut self, admitted: HashMap<RunId, Vec<TaskIndex>>, except: Option<RunId>) {
        let mut undeliverable = Vec::new();
        for (run, tasks) in admitted {
            if Some(run) == except {
                continue;
            }
            let delivered = self
                .inboxes
                .get(&run)
                .is_some_and(|inbox| inbox.send(tasks.clone()).is_ok());
            if !delivered {
                undeliverable.extend(tasks.into_iter().map(|task| (run, task)));
            }
        }
        for key in undeliverable {
            self.queue.release(&key);
        }
    }
}

impl Seat {
    pub fn run(&self) -> RunId {
        self.run
    }

    /// Replaces the run's offer with `candidates` (its queued tasks that need a slot) and
    /// runs an admission round; returns this run's admitted tasks. Tasks that already hold a
    /// place (admitted, not yet started by the run) are never offered twice.
    pub fn offer(&self, candidates: Vec<Candidate<TaskIndex>>, now: Timestamp) -> Vec<TaskIndex> {
        let mut inner = self.dispatch.lock();
        let offered = candidates
            .into_iter()
            .filter(|candidate| !inner.queue.holds(&(self.run, candidate.key)))
            .collect();
        inner.offers.insert(self.run, offered);
        let mut admitted = inner.round(now);
        let mine = admitted.remove(&self.run).unwrap_or_default();
        inner.deliver(admitted, Some(self.run));
        mine
    }

    /// Gives back a task's place (it finished, or was admitted but did not start) and lets
    /// waiting tasks of any run take it.
    pub fn release(&self, task: TaskIndex, now: Timestamp) {
        let mut inner = self.dispatch.lock();
        inner.queue.release(&(self.run, task));
        let admitted = inner.round(now);
        inner.deliver(admitted, None);
    }

    /// Gives back the place of `candidate`, admitted but refused by the store shared with
    /// other servers, with what the refusal said they hold: it waits in this run's offer
    /// again (its reason saying so), and waiting tasks of any run may take its place.
    pub fn give_back(&self, candidate: Candidate<TaskIndex>, held: HeldElsewhere, now: Timestamp) {
        let mut inner = self.dispatch.lock();
        inner.queue.give_back(&(self.run, candidate.key), held);
        let offered = inner.offers.entry(self.run).or_default();
        offered.retain(|offer| offer.key != candidate.key);
        offered.push(candidate);
        let admitted = inner.round(now);
        inner.deliver(admitted, None);
    }

    /// Whether a task of this run waits for slots or tasks another server held at its last
    /// refusal: only asking the store again tells whether they were released.
    pub fn waits_elsewhere(&self) -> bool {
        let inner = self.dispatch.lock();
        inner.queue.counts_elsewhere()
            && inner
                .offers
                .get(&self.run)
                .is_some_and(|offered| !offered.is_empty())
    }

    /// Forgets what other servers held, so that this run's next offer asks the store again.
    pub fn forget_elsewhere(&self) {
        self.dispatch.lock().queue.forget_elsewhere();
    }

    /// Tasks admitted for this run by another run's round.
    pub async fn admitted(&mut self) -> Option<Vec<TaskIndex>> {
        self.inbox.recv().await
    }

    /// Tasks admitted for this run that are already waiting in its inbox, without waiting.
    pub fn try_admitted(&mut self) -> Option<Vec<TaskIndex>> {
        self.inbox.try_recv().ok()
    }

    /// When a rate limit lets a waiting task of any run start.
    pub fn next_wake(&self, now: Timestamp) -> Option<Timestamp> {
        let inner = self.dispatch.lock();
        if inner.offers.get(&self.run).is_none_or(Vec::is_empty) {
            return None;
        }
        inner.queue.next_wake(now)
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut inner = self.dispatch.lock();
        inner.offers.remove(&self.run);
        inner.inboxes.remove(&self.run);
        inner.waiting.retain(|&(run, _), _| run != self.run);
        let run = self.run;
        inner.queue.release_all(|&(held_run, _)| held_run == run);
        let admitted = inner.round(self.dispatch.clock.now());
        inner.deliver(admitted, None);
    }
}
