//! Durable records of runs, task instances and attempts.
//!
//! [`RunStore`] is what the engine needs from a store to execute runs, [`ControlStore`] what
//! the scheduler service and backfills need besides; [`conformance`] is the suite every
//! backend must pass; [`SqliteStore`] is the embedded default. This crate is the only one
//! that knows SQL: no other crate depends on rusqlite. It makes no scheduling decisions.

pub mod conformance;
mod control_store;
mod run_store;
mod sqlite_store;

pub use control_store::{
    BackfillRecord, ControlStore, NewBackfill, ServiceClaim, ServiceRecord, WorkflowHealth,
};
pub use run_store::{
    AttemptRecord, BackfillId, NewRun, OwnerClaim, RunFilter, RunRecord, RunStore, RunTrigger,
    StoreError,
};
pub use sqlite_store::{
    BackupTarget, FilesChange, SqliteStore, StoreContents, StoreProblem, StoreReport,
};
