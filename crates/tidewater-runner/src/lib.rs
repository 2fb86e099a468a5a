//! The contract between the engine and the runners of task kinds: what a runner is given to
//! start an attempt ([`StartRequest`]), how it reports the outcome ([`AttemptReporter`]), and
//! what it may use meanwhile (the [`Clock`], the attempt's [`AttemptLog`], the probes
//! that `wait` asks and the [`ChildRuns`] of `call`), and the [`CommitProbe`] the service
//! asks for data-aware schedules. The engine and `tidewater-flow` both depend on it, so a
//! runner implemented outside the engine (`sql`, `maintain`) does not depend on the scheduler.

// Library code reports errors to its caller and prints nothing (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

mod attempt_log;
mod attempt_paths;
mod child_runs;
mod clock;
mod commit_probe;
mod lineage_sink;
mod partition_probe;
mod run_probe;
mod task_runner;

pub use attempt_log::AttemptLog;
pub use attempt_paths::AttemptPaths;
pub use child_runs::{ChildEnd, ChildRequest, ChildRunError, ChildRuns};
pub use clock::{Clock, ManualClock, SystemClock};
pub use commit_probe::{CommitProbe, TableCommit};
pub use lineage_sink::{
    LineageAttempt, LineageDataset, LineageEvent, LineageEventKind, LineageSink,
};
pub use partition_probe::PartitionProbe;
pub use run_probe::RunProbe;
pub use task_runner::{
    AttemptControl, AttemptReport, AttemptReporter, StartRequest, StartedAttempt, TaskRunner,
    could_not_start,
};
