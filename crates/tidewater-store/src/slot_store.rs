use async_trait::async_trait;
use tidewater_core::{PoolName, RateLimit, RunId, TaskName, Timestamp, WorkflowName};

use crate::{ServerId, StoreError};

/// The task slots of pools, pool rates and `max_active_tasks` held by the `tidewater server`
/// processes sharing one store (issue 21): each server's task queue admits tasks within its
/// own view, then confirms here what it admitted, so that a pool of 2 slots holds 2 tasks
/// across all servers rather than 2 per server.
///
/// A hold is keyed by its run and task and belongs to a server ([`ServerId`]). A hold of a
/// server whose lease expired (by the store's clock, see [`crate::ServerStore`]) counts for
/// nothing: a killed server's slots come back when its lease ends, without anyone releasing
/// them. Starts of a pool with a rate are counted by the store's clock too.
///
/// One server per embedded store keeps no holds: its in-memory queue is already global
/// ([`crate::Store::slots`] is `None`).
#[async_trait]
pub trait SlotStore: Send + Sync {
    /// Takes the slots `request` needs for `holder`, or refuses saying why. One decision,
    /// serialised with every other `acquire` of the same pool (and workflow): two servers
    /// asking for the last slot at once get it once. Asking again for a hold the holder
    /// already has grants it without counting it twice (nor as a second start).
    async fn acquire(
        &self,
        holder: ServerId,
        request: &SlotRequest,
    ) -> Result<SlotGrant, StoreError>;

    /// Gives back the hold of `run`'s `task`, if `holder` has it.
    async fn release(
        &self,
        holder: ServerId,
        run: RunId,
        task: &TaskName,
    ) -> Result<(), StoreError>;

    /// Gives back every hold of `holder` (a server stopping).
    async fn release_all(&self, holder: ServerId) -> Result<(), StoreError>;
}

/// What a task about to start needs from the limits shared by the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRequest {
    pub run: RunId,
    pub task: TaskName,
    pub workflow: WorkflowName,
    /// The workflow's `max_active_tasks`, counted over every server.
    pub max_active_tasks: Option<u32>,
    /// The task's pool, if it has one.
    pub pool: Option<PoolRequest>,
}

/// A pool as `tidewater.toml` declares it, and the slots one task takes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRequest {
    pub pool: PoolName,
    pub slots: u32,
    pub needed: u32,
    pub rate: Option<RateLimit>,
}

/// The answer to [`SlotStore::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotGrant {
    Granted,
    Refused(SlotRefusal),
}

/// Why a hold was refused, with what the other servers hold, so that the asking server's
/// queue can count it and say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRefusal {
    /// The pool's live holds leave fewer than the task needs; `held_elsewhere` of `used` are
    /// other servers'.
    PoolFull {
        pool: PoolName,
        used: u32,
        held_elsewhere: u32,
    },
    /// The pool started as many tasks as its rate allows within the last window (by the
    /// store's clock); a start at `until` is within the rate again.
    RateLimited { pool: PoolName, until: Timestamp },
    /// The workflow's live holds reached its `max_active_tasks`; `held_elsewhere` of them
    /// are other servers'.
    MaxActiveTasks {
        workflow: WorkflowName,
        active: u32,
        held_elsewhere: u32,
    },
}
