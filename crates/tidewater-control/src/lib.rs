//! Tidewater's use cases, written once below every front end: the CLI calls them now, the
//! HTTP API next. Creating a manual run (its interval and params resolved), triggering,
//! retrying, clearing, cancelling, pausing, backfilling, explaining the queue, and the read
//! models behind `runs`, `status`, `logs` and `tables`; the JSON shapes of all of them live
//! in [`json`].
//!
//! A use case takes typed arguments and returns typed results or a [`ControlError`] that
//! says who must act. It prints nothing and parses no command line: a front end translates
//! its input, calls one use case, and renders the result. It owns no scheduling rule either
//! (those are `tidewater-core`'s) and no backend (the binary opens the store and hands it in).

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

pub mod attempt_log_file;
mod backfill;
mod backfill_plan;
mod backfill_request;
mod backfill_summary;
mod cancel;
mod clear;
mod control;
mod control_error;
mod execution;
pub mod json;
pub mod local_time;
mod manual_run;
mod presence;
mod retry;
mod run_watch;
mod server;
mod steer;
pub mod time_arg;
mod workflow_catalog;

pub use backfill::{Backfill, BackfillRecorded};
pub use backfill_plan::{BackfillPlan, BackfillStep, PlannedInterval, SkipReason, range_intervals};
pub use backfill_request::BackfillRequest;
pub use backfill_summary::{BackfillSummary, UnfinishedRuns};
pub use cancel::CancelProgress;
pub use clear::{ClearScope, Clearing};
pub use control::{Control, load_workflow};
pub use control_error::{ControlError, ControlResult};
pub use execution::{Execution, FailedTask, HandlerOutcome, RunSummary, StopCause, TaskCounts};
pub use manual_run::{
    Concurrency, IntervalRequest, ManualRunRequest, requested_interval, requested_params,
};
pub use presence::live_service;
pub use retry::{Retry, RetryVersion};
pub use run_watch::{RunUpdate, RunWatch};
pub use server::ServerReport;
pub use steer::{PauseChange, Triggered};
// What callers of the use cases pass in and get back from the engine.
pub use tidewater_engine::{
    LocalProcesses, Owners, Resume, RunObserver, ServiceObserver, SignalWakeups, SilentObserver,
    Wakeups,
};

/// The store every use case works on: whichever backend the front end opened
/// (`[store] url` in tidewater.toml).
pub type ProjectStore = dyn tidewater_store::Store;
