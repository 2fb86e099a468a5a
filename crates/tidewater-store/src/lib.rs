//! Durable records of runs, task instances and attempts.
//!
//! [`RunStore`] is what the engine needs from a store to execute runs, [`ControlStore`] what
//! the scheduler service and backfills need besides; [`conformance`] is the suite every
//! backend must pass; [`SqliteStore`] is the embedded default. This crate is the only one
//! that knows SQL: no other crate depends on rusqlite. It makes no scheduling decisions.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

#[expect(
    clippy::expect_used,
    reason = "the conformance suite is test code run by each backend's tests: a failed expectation is a failed test"
)]
pub mod conformance;
mod control_store;
mod run_store;
mod sqlite_store;

pub use control_store::{
    BackfillRecord, ControlStore, NewBackfill, RunCounts, RunCreation, ServiceClaim, ServiceRecord,
    WorkflowHealth,
};
// The id is the core's (its admission rules name backfills); re-exported for the store's users.
pub use run_store::{
    AttemptRecord, NewRun, OwnerClaim, RunFilter, RunRecord, RunStore, RunTrigger, StoreError,
};
pub use sqlite_store::{
    BackupTarget, FilesChange, SqliteStore, StoreContents, StoreProblem, StoreReport,
};
pub use tidewater_core::BackfillId;
