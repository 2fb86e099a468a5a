//! Reading a queue of runs for the core's admission rule ([`RunQueue::admit`]). The service
//! reads its queues here to start runs, and `tidewater queue` to explain them: one reading
//! and one rule, so that what `queue` says starts next is what the server starts.

use std::collections::HashMap;

use tidewater_core::{
    BackfillOrder, QueuedRun, RunLimit, RunQueue, RunQueueKey, RunState, WorkflowName,
};
use tidewater_store::{ControlStore, RunRecord, StoreError};

use crate::Owners;

/// How many runs of each queue count against its cap, among `executing` (what
/// [`ControlStore::executing_runs`] returned): those running, and those claimed by an owner
/// `owners` finds alive. A run left running by a dead owner counts too: it is resumed before
/// anything new starts.
pub fn count_active<'a>(
    executing: impl IntoIterator<Item = &'a RunRecord>,
    owners: &dyn Owners,
) -> HashMap<RunQueueKey, u32> {
    let mut active = HashMap::new();
    for run in executing {
        if matches!(run.state, RunState::Running { .. })
            || run.owner.is_some_and(|owner| owners.is_alive(owner))
        {
            *active
                .entry(RunQueueKey::of(&run.workflow, run.backfill))
                .or_default() += 1;
        }
    }
    active
}

/// The queue `key` with its cap, its start order and the head of its queued runs (those
/// that `is_taken` does not exclude: runs a process executes already count in `active`).
///
/// A backfill's queue has the backfill's own cap and order (a finished backfill's too:
/// `retry` can queue its runs again); another queue has `workflow_cap`, its workflow's
/// `max_active_runs` as the caller knows it, or 1 for a workflow the caller does not know.
pub async fn read_queue<S: ControlStore + ?Sized>(
    store: &S,
    key: RunQueueKey,
    workflow_cap: impl FnOnce(&WorkflowName) -> Option<u32>,
    active: u32,
    is_taken: impl Fn(&RunRecord) -> bool,
) -> Result<RunQueue<RunRecord>, StoreError> {
    let (max_active_runs, order) = match &key {
        RunQueueKey::Workflow(workflow) => (
            workflow_cap(workflow).unwrap_or(1),
            BackfillOrder::OldestFirst,
        ),
        RunQueueKey::Backfill(id) => store
            .backfill(*id)
            .await?
            .map_or((1, BackfillOrder::OldestFirst), |record| {
                (record.max_active_runs, record.order())
            }),
    };
    let heads = store
        .queued_runs(&key, order, RunQueue::<()>::heads_needed(max_active_runs))
        .await?;
    Ok(RunQueue {
        key,
        limit: RunLimit {
            max_active_runs,
            active,
        },
        order,
        queued: heads
            .into_iter()
            .filter(|run| !is_taken(run))
            .map(|run| QueuedRun {
                id: run.id,
                interval_start: run.interval.start,
                key: run,
            })
            .collect(),
    })
}
