//! The imperative shell around `tidewater-core`: it executes runs by feeding events to
//! `decide`, persisting each decision's changes through a [`tidewater_store::RunStore`]
//! before acting on them, admitting queued tasks through the task queue shared by all runs of
//! the process ([`Dispatch`]), and running task processes. [`Service`] is the scheduler loop
//! of `tidewater server`: it creates the runs that are due and starts queued runs.
//!
//! It owns every side effect of execution (processes, signals, log files, timers) and no
//! scheduling rule: those live in `tidewater-core`. Time comes from a [`Clock`], so tests
//! drive it with a [`ManualClock`] instead of sleeping.
//!
//! Who owns a run and whether that owner is alive is asked of an [`Owners`], and processes
//! wake each other through a [`Wakeups`]; their local implementations ([`LocalProcesses`]:
//! pids read from `/proc`; [`SignalWakeups`]: SIGUSR1) are the only code here that knows an
//! owner is a process of this machine, so leases or network notifications replace them
//! without touching the executor or the service. [`ServerLeases`] is the lease-based one, for
//! servers sharing a PostgreSQL store; with it the [`Service`] schedules only while its server
//! leads ([`Scheduling`]), and the executor confirms in the store what its task queue admits
//! for pools and capped workflows ([`SharedSlots`]), so that those limits hold across servers.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod data_triggers;
mod dispatch;
mod engine_error;
mod error_backoff;
mod executor;
mod lease_wakeups;
mod local_processes;
mod owners;
mod process;
mod requeue;
mod run_folder;
mod run_observer;
mod run_queues;
pub mod runners;
mod server_leases;
mod service;
mod shared_slots;
mod signal_wakeups;
mod subreaper;
mod task_process;
mod wakeups;

pub use dispatch::{Dispatch, Seat};
pub use engine_error::EngineError;
pub use executor::{CancelHandle, Executor, ExecutorSettings, Resume};
pub use lease_wakeups::LeaseWakeups;
pub use local_processes::LocalProcesses;
pub use owners::Owners;
pub use process::{
    ATTEMPT_MARKER, is_alive, kill_marked, kill_orphaned_marked, process_identity, signal_group,
};
pub use requeue::{Requeued, requeue, requeue_cleared};
pub use run_observer::{RunObserver, SilentObserver};
pub use run_queues::{count_active, read_queue};
pub use runners::{
    LeaseSettings, RemoteAttemptContext, RemoteAttempts, Runners, StoreRunProbe, worker_store,
};
pub use server_leases::{Beat, KnownServers, ServerLeaseSettings, ServerLeases};
pub use service::{Catalog, Scheduling, Scope, Service, ServiceObserver, new_run, run_version};
pub use shared_slots::SharedSlots;
pub use signal_wakeups::SignalWakeups;
pub use subreaper::adopt_orphans;
pub use task_process::tasks_die_with_this_process;
pub use wakeups::{WakeListener, Wakeups};
// The runner contract, re-exported for the engine's own modules and its users that start
// attempts (the binary); a runner outside the engine depends on `tidewater-runner` alone.
pub use tidewater_runner::{
    AttemptControl, AttemptLog, AttemptPaths, AttemptReport, AttemptReporter, ChildEnd,
    ChildRequest, ChildRunError, ChildRuns, Clock, CommitProbe, ManualClock, PartitionProbe,
    RunProbe, StartRequest, StartedAttempt, SystemClock, TableCommit, TaskRunner, could_not_start,
};
