//! Tidewater's use cases, written once below every front end: the CLI and the HTTP API
//! (`tidewater-server`) call them. Creating a manual run (its interval and params resolved), triggering,
//! retrying, clearing, cancelling, pausing (workflows and streams), backfilling, explaining the queue, the API's
//! tokens and sessions ([`AccessCheck`]), and the read models behind `runs`, `status`,
//! `logs`, `tables`, `streams` and the server's metrics ([`Metrics`]); the JSON shapes of all of them live in [`json`].
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

mod access_check;
pub mod attempt_log_file;
mod attempt_progress;
mod backfill;
mod backfill_plan;
mod backfill_request;
mod backfill_summary;
mod cancel;
mod child_runs;
mod clear;
mod connection_check;
mod control;
mod control_error;
mod event_feed;
mod execution;
mod health;
pub mod json;
pub mod local_time;
mod log_chunk;
mod log_follower;
mod manual_run;
mod metrics;
mod missing_intervals;
mod notifier;
mod presence;
mod queue_explanation;
mod retry;
mod run_date_range;
mod run_entry;
mod run_list;
mod run_status;
mod run_watch;
mod server;
mod steer;
mod stream_overview;
mod stream_pause;
mod stream_sources;
mod tables;
mod task_grid;
mod task_log;
pub mod time_arg;
mod tokens;
mod view_catalog;
mod view_coverage;
mod wait_kind;
mod workers;
mod workflow_catalog;
mod workflow_overview;

pub use access_check::AccessCheck;
pub use attempt_progress::{AttemptProgress, FollowScope};
pub use backfill::{Backfill, BackfillRecorded};
pub use backfill_plan::{BackfillPlan, BackfillStep, PlannedInterval, SkipReason, range_intervals};
pub use backfill_request::BackfillRequest;
pub use backfill_summary::{BackfillSummary, UnfinishedRuns};
pub use cancel::CancelProgress;
pub use clear::{Clear, ClearScope, Clearing};
pub use connection_check::{ConnectionCheck, ConnectionSummary, FieldSummary};
pub use control::{Control, load_workflow, resolve_connections};
pub use control_error::{ControlError, ControlResult};
pub use event_feed::{EVENT_PAGE, EventBatch, EventCursor, EventRequest};
pub use execution::{Execution, FailedTask, HandlerOutcome, RunSummary, StopCause, TaskCounts};
pub use health::{Health, WorkflowHealth};
pub use log_chunk::{LogChunk, LogEnd, read_log_chunk};
pub use log_follower::{FOLLOW_POLL, FollowStep, LogFollower};
pub use manual_run::{
    Concurrency, IntervalRequest, ManualRunRequest, requested_interval, requested_params,
};
pub use metrics::{METRICS_CONTENT_TYPE, Metrics};
pub use missing_intervals::{MissingIntervals, MissingRequest};
pub use notifier::{DeliveryReport, Notifier};
pub use presence::live_service;
pub use queue_explanation::{QueueExplanation, QueuedGroup, QueuedRuns, Waiting};
pub use retry::{Retry, RetryVersion};
pub use run_date_range::RunDateRange;
pub use run_entry::RunEntry;
pub use run_list::RunList;
pub use run_status::{NotificationLine, RunStatus, TaskNote, TaskStatus};
pub use run_watch::{RunUpdate, RunWatch};
pub use server::{ServerReport, ServerSeat};
pub use steer::{PauseChange, Triggered};
pub use stream_overview::{StreamList, StreamOverview, StreamState};
pub use stream_pause::StreamPauseChange;
pub use stream_sources::StreamSources;
pub use tables::{TableList, check_trigger_tables, describe_table, list_tables, open_warehouse};
pub use task_grid::{GridRow, TaskGrid};
pub use task_log::{LOG_SETTLE, LogExtent, TaskLog};
pub use tokens::{
    CreatedToken, OpenedSession, SESSION_LIFETIME, Secret, TOKEN_PREFIX, secret_hash,
};
pub use view_coverage::{
    IntervalSource, MAX_COVERAGE_DAYS, ViewCoverage, ViewInterval, check_views, find_view,
    project_views,
};
pub use wait_kind::WaitKind;
pub use workers::{CLAIM_RECHECK, HeldAttempt, MAX_CLAIM_WAIT, WorkerStatus};
pub use workflow_overview::{
    FileProblems, FileStatus, LastRun, NextDue, RECENT_RUNS, WorkflowOverview, WorkflowSummary,
    waits_for,
};
// What callers of the use cases pass in and get back from the engine.
pub use tidewater_engine::{
    LocalProcesses, Owners, Resume, RunObserver, ServiceObserver, SignalWakeups, SilentObserver,
    Wakeups,
};

/// The store every use case works on: whichever backend the front end opened
/// (`[store] url` in tidewater.toml).
pub type ProjectStore = dyn tidewater_store::Store;
