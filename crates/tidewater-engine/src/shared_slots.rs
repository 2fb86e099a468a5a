//! [`SharedSlots`]: the limits a server's task queue shares with the other servers of its
//! store (issue 21), confirmed in the store ([`SlotStore`]) before a task starts.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{HeldElsewhere, QueueLimits, RunId, TaskIndex, TaskName, Workflow};
use tidewater_store::{
    PoolRequest, ServerId, SlotGrant, SlotRefusal, SlotRequest, Store, StoreError,
};

/// How soon a run whose task waits for what another server holds asks the store again.
/// Another server's release is not signalled here (LISTEN/NOTIFY would be the upgrade), so
/// this bounds how long a freed slot stays unused.
pub(crate) const SLOT_RECHECK: Duration = Duration::from_secs(1);

/// A server's holds in a store shared by several servers: the executor confirms here each
/// task its own queue admitted for a pool, or for a workflow with `max_active_tasks`, so
/// that pools, rates and `max_active_tasks` hold across all servers. `parallelism` is not
/// shared: it is one machine's capacity.
pub struct SharedSlots {
    store: Arc<dyn Store>,
    holder: ServerId,
}

impl SharedSlots {
    /// The holds of server `holder` in `store`; `None` when the store keeps none (one
    /// server per store: its queue is already global).
    pub fn new(store: Arc<dyn Store>, holder: ServerId) -> Option<SharedSlots> {
        store.slots()?;
        Some(SharedSlots { store, holder })
    }

    /// What task `index` of `run` needs confirmed, or `None` when it needs nothing shared
    /// (no pool, and a workflow without `max_active_tasks`).
    pub(crate) fn request(
        limits: &QueueLimits,
        run: RunId,
        workflow: &Workflow,
        index: TaskIndex,
    ) -> Option<SlotRequest> {
        let task = workflow.task(index);
        let pool = task.pool.as_ref().and_then(|pool| {
            Some(PoolRequest {
                pool: pool.clone(),
                slots: *limits.pools.get(pool)?,
                needed: task.pool_slots,
                rate: limits.pool_rates.get(pool).copied(),
            })
        });
        if pool.is_none() && workflow.max_active_tasks.is_none() {
            return None;
        }
        Some(SlotRequest {
            run,
            task: task.name.clone(),
            workflow: workflow.name.clone(),
            max_active_tasks: workflow.max_active_tasks,
            pool,
        })
    }

    pub(crate) async fn acquire(&self, request: &SlotRequest) -> Result<SlotGrant, StoreError> {
        match self.store.slots() {
            Some(slots) => slots.acquire(self.holder, request).await,
            None => Ok(SlotGrant::Granted),
        }
    }

    pub(crate) async fn release(&self, run: RunId, task: &TaskName) -> Result<(), StoreError> {
        match self.store.slots() {
            Some(slots) => slots.release(self.holder, run, task).await,
            None => Ok(()),
        }
    }

    /// Gives back every hold of this server (it is stopping).
    pub async fn release_all(&self) -> Result<(), StoreError> {
        match self.store.slots() {
            Some(slots) => slots.release_all(self.holder).await,
            None => Ok(()),
        }
    }
}

/// What a refusal tells the task queue.
pub(crate) fn held_elsewhere(refusal: SlotRefusal) -> HeldElsewhere {
    match refusal {
        SlotRefusal::PoolFull {
            pool,
            used,
            held_elsewhere,
        } => HeldElsewhere::PoolSlots {
            pool,
            held: used,
            by_others: held_elsewhere,
        },
        SlotRefusal::RateLimited { pool, until } => HeldElsewhere::RateUntil { pool, until },
        SlotRefusal::MaxActiveTasks {
            workflow,
            active,
            held_elsewhere,
        } => HeldElsewhere::WorkflowTasks {
            workflow,
            active,
            by_others: held_elsewhere,
        },
    }
}
