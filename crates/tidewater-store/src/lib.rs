//! The store contract: what Tidewater needs from durable storage of its runs, apart from any
//! backend.
//!
//! [`RunStore`] is what the engine needs to execute runs, [`ControlStore`] what the scheduler
//! service and backfills need besides (with the change feed, [`FeedEvent`]), [`AccessStore`]
//! who may use the HTTP API (tokens and sessions, by hash), and [`Store`] all three, with the
//! operations on the store as a whole, behind the `Arc<dyn Store>` the binary hands out.
//! A backend that several servers share adds [`ServerStore`] (their leases) and [`SlotStore`]
//! (the pool slots, rates and `max_active_tasks` they hold) through [`Store`]'s provided
//! methods. [`StoreError`] is backend-neutral: a backend's own failures travel inside it as a
//! [`BackendError`]. With the `conformance` feature, `conformance` is the suite every backend
//! must pass.
//!
//! This crate holds no backend and knows no query language: it must not depend on a database
//! driver (`cargo tree -p tidewater-store` shows none). The SQLite backend is
//! `tidewater-sqlite`. It makes no scheduling decisions.

// Library code reports errors to its caller and prints nothing; an invariant that truly holds
// says why with `#[expect(clippy::expect_used, reason = "...")]` (issue 16 item 9).
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)
)]

// Test code, compiled only for the backends' tests (their `[dev-dependencies]` enable the
// feature), so that it does not ship in the binary.
mod access_store;
pub mod columns;
#[cfg(feature = "conformance")]
#[expect(
    clippy::expect_used,
    reason = "the conformance suite is test code run by each backend's tests: a failed expectation is a failed test"
)]
pub mod conformance;
mod control_store;
mod feed_event;
mod notification_store;
mod run_store;
mod server_store;
mod slot_store;
mod store;
mod store_error;
mod stream_store;
mod worker_store;

pub use access_store::{
    AccessStore, NewSession, NewToken, SecretHash, SessionRecord, TokenId, TokenName, TokenRecord,
    TokenScope,
};
pub use control_store::{
    BackfillRecord, ControlStore, DataChange, EVENTS_KEPT, NewBackfill, RunCounts, RunCreation,
    RunParent, ServiceClaim, ServiceRecord, WorkflowHealth, WorkflowRunCount,
};
// The id is the core's (its admission rules name backfills); re-exported for the store's users.
pub use feed_event::{AttemptStep, EventFilter, EventPage, EventSeq, FeedChange, FeedEvent};
pub use notification_store::{
    DeliveryOutcome, NotificationId, NotificationRecord, NotificationState, NotificationStore,
};
pub use run_store::{
    AttemptRecord, NewRun, OwnerClaim, Repin, RunFilter, RunRecord, RunStore, RunTrigger,
    RunVersion,
};
pub use server_store::{LiveServers, ServerId, ServerRecord, ServerRegistration, ServerStore};
pub use slot_store::{PoolRequest, SlotGrant, SlotRefusal, SlotRequest, SlotStore};
pub use store::Store;
pub use store_error::{BackendError, StoreError};
pub use stream_store::{
    StreamCommitRecord, StreamFailure, StreamOwnerClaim, StreamRecord, StreamStore,
};
pub use tidewater_core::BackfillId;
pub use worker_store::{
    AttemptOffer, ClaimedAttempt, LeaseAnswer, LeaseEpoch, RemoteAttemptId, RemoteAttemptRecord,
    RemoteAttemptState, WorkerId, WorkerRecord, WorkerRegistration, WorkerStore,
};
