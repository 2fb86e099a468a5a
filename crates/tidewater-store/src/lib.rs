//! Durable records of runs, task instances and attempts.
//!
//! [`RunStore`] is what the engine needs from a store; [`conformance`] is the suite every
//! backend must pass; [`SqliteStore`] is the embedded default. This crate is the only one
//! that knows SQL: no other crate depends on sqlx. It makes no scheduling decisions.

pub mod conformance;
mod run_store;
mod sqlite_store;

pub use run_store::{
    AttemptRecord, NewRun, OwnerClaim, RunFilter, RunRecord, RunStore, RunTrigger, StoreError,
};
pub use sqlite_store::SqliteStore;
