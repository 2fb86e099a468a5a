use async_trait::async_trait;
use tidewater_core::{ProcessIdentity, Timestamp};

use crate::StoreError;

/// Who runs each stream (issue 19) and how far it got, for `tidewater streams`.
///
/// The owner is a compare-and-set, the same mechanism as a run's owner
/// ([`crate::RunStore::claim_owner`]): one process at a time consumes a stream and writes its
/// table; the engine's `Owners` decides whether a recorded owner is still alive. The position
/// kept here is only a report: the truth is the Delta table's transaction identifier, which
/// is committed with the rows.
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Sets the owner of `stream` to `owner` only if the current owner equals `expected`
    /// (`None`: nobody). A stream never seen before has no owner.
    async fn claim_stream_owner(
        &self,
        stream: &str,
        expected: Option<ProcessIdentity>,
        owner: Option<ProcessIdentity>,
        now: Timestamp,
    ) -> Result<StreamOwnerClaim, StoreError>;

    /// Records a committed micro-batch of `stream`.
    async fn record_stream_commit(
        &self,
        stream: &str,
        commit: &StreamCommitRecord,
    ) -> Result<(), StoreError>;

    /// Every stream the store has heard of, by name.
    async fn stream_records(&self) -> Result<Vec<StreamRecord>, StoreError>;

    /// Pauses (the server stops consuming it, its position kept) or resumes `stream`.
    /// Returns false if it already was as asked. A stream never seen before is recorded.
    async fn set_stream_paused(
        &self,
        stream: &str,
        is_paused: bool,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Records why the server's last try of `stream` failed (`None`: it runs, or stopped
    /// cleanly), for the listing's `failing` state.
    async fn record_stream_failure(
        &self,
        stream: &str,
        failure: Option<&StreamFailure>,
    ) -> Result<(), StoreError>;
}

/// Why a supervised stream stopped against its will, and when the server tries it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFailure {
    pub at: Timestamp,
    pub reason: String,
    /// When the server starts it again (its back-off).
    pub retry_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOwnerClaim {
    Claimed,
    /// Someone else owns it (the current owner is given).
    Held(Option<ProcessIdentity>),
}

/// One committed micro-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamCommitRecord {
    pub at: Timestamp,
    /// The last source sequence the batch committed.
    pub position: i64,
    /// The table version of the commit.
    pub table_version: i64,
    /// Messages in the batch (written and dead letters).
    pub messages: u64,
    /// Dead letters in the batch.
    pub dead_letters: u64,
    /// Messages per second over the batch (its messages over the time since the previous
    /// commit, or since the stream started).
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamRecord {
    pub name: String,
    /// The process consuming it, if any claimed it (it may have died since).
    pub owner: Option<ProcessIdentity>,
    /// When the owner claimed it.
    pub claimed_at: Option<Timestamp>,
    pub last_commit: Option<StreamCommitRecord>,
    /// Messages committed since the store first heard of the stream.
    pub messages_total: u64,
    /// Dead letters committed since the store first heard of the stream.
    pub dead_letters_total: u64,
    /// Paused: the server does not consume it until it is resumed.
    pub is_paused: bool,
    /// The server's last try failed (cleared once it runs or stops cleanly).
    pub failure: Option<StreamFailure>,
}
