//! [`WaitKind`]: what a waiting run or task waits for, as a kind rather than a sentence — what
//! the queue depth metric groups by.

use tidewater_core::WaitReason;

/// What a run or a task of the queue explanation waits for ([`crate::Waiting::why`] says it
/// in a sentence, with numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WaitKind {
    /// Admitted: it starts on the server's next turn.
    Starting,
    /// A queued run that would start, but no server runs to start it.
    NoServer,
    /// A queued run behind its queue's `max_active_runs`.
    MaxActiveRuns,
    /// A running run whose process died: it waits to be resumed.
    Orphaned,
    /// A task waiting for its upstream tasks.
    Upstream,
    /// A task waiting for its next attempt's time.
    RetryBackoff,
    /// A sensor waiting for its condition (it holds no slot).
    Sensor,
    /// A queued task: the run-wide parallelism is used up.
    Parallelism,
    /// A queued task: its pool has too few free slots.
    PoolFull,
    /// A queued task: one ahead of it waits for the same pool and keeps the slots it needs.
    PoolReserved,
    /// A queued task whose pool is not configured.
    UnknownPool,
    /// A queued task behind its workflow's `max_active_tasks`.
    MaxActiveTasks,
    /// A queued task whose pool started as many tasks as its rate allows.
    RateLimited,
}

impl WaitKind {
    /// The kind of a queued task's wait reason.
    pub fn of(reason: &WaitReason) -> WaitKind {
        match reason {
            WaitReason::Parallelism { .. } => WaitKind::Parallelism,
            WaitReason::PoolFull { .. } => WaitKind::PoolFull,
            WaitReason::PoolReserved { .. } => WaitKind::PoolReserved,
            WaitReason::UnknownPool { .. } => WaitKind::UnknownPool,
            WaitReason::MaxActiveTasks { .. } => WaitKind::MaxActiveTasks,
            WaitReason::RateLimited { .. } => WaitKind::RateLimited,
        }
    }

    /// Its name in a metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitKind::Starting => "starting",
            WaitKind::NoServer => "no_server",
            WaitKind::MaxActiveRuns => "max_active_runs",
            WaitKind::Orphaned => "orphaned",
            WaitKind::Upstream => "upstream",
            WaitKind::RetryBackoff => "retry_backoff",
            WaitKind::Sensor => "sensor",
            WaitKind::Parallelism => "parallelism",
            WaitKind::PoolFull => "pool_full",
            WaitKind::PoolReserved => "pool_reserved",
            WaitKind::UnknownPool => "unknown_pool",
            WaitKind::MaxActiveTasks => "max_active_tasks",
            WaitKind::RateLimited => "rate_limited",
        }
    }
}
