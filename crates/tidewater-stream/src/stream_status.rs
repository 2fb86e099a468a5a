//! What `tidewater streams` shows for each of a project's streams.

use serde::Serialize;
use tidewater_core::{ProcessIdentity, Timestamp};
use tidewater_engine::Owners;
use tidewater_flow::Warehouse;
use tidewater_spec::StreamSpec;
use tidewater_store::StreamStore;

use crate::nats_source;
use crate::stream_runner::app_id;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamStatus {
    pub name: String,
    /// `running` (a live process owns it), `stopped`, or `never_run`.
    pub state: &'static str,
    pub owner_pid: Option<i32>,
    pub table: String,
    /// The last source sequence committed into the table (its Delta transaction identifier).
    pub committed: Option<i64>,
    /// The source stream's last sequence, when NATS answered.
    pub source_last_sequence: Option<u64>,
    /// `source_last_sequence − committed`.
    pub lag: Option<u64>,
    /// Messages per second of the last batch.
    pub rate: Option<f64>,
    pub last_commit_at: Option<Timestamp>,
    pub last_table_version: Option<i64>,
    pub dead_letters: u64,
    /// Why a value is missing (NATS unreachable, the table unreadable).
    pub problems: Vec<String>,
}

/// Each stream's state, read from the store (owner, last batch), the table (committed
/// position) and NATS (last sequence). A part that cannot be read is reported in
/// `problems`, never an error: the others are still worth showing.
pub async fn stream_statuses(
    specs: &[StreamSpec],
    warehouse: &Warehouse,
    store: Option<&dyn StreamStore>,
    owners: &dyn Owners,
) -> Vec<StreamStatus> {
    let records = match store {
        Some(store) => store.stream_records().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let mut statuses = Vec::with_capacity(specs.len());
    for spec in specs {
        let mut problems = Vec::new();
        let record = records.iter().find(|record| record.name == spec.name);
        let owner: Option<ProcessIdentity> = record.and_then(|record| record.owner);
        let is_running = owner.is_some_and(|owner| owners.is_alive(owner));
        let state = match (record, is_running) {
            (_, true) => "running",
            (Some(_), false) => "stopped",
            (None, false) => "never_run",
        };
        let committed = match warehouse
            .stream_position(&spec.into.table, &app_id(&spec.name))
            .await
        {
            Ok(position) => position,
            Err(error) => {
                problems.push(format!("reading `{}`: {error}", spec.into.table));
                None
            }
        };
        let source_last_sequence = match nats_source::last_sequence(&spec.source).await {
            Ok(sequence) => Some(sequence),
            Err(error) => {
                problems.push(error.to_string());
                None
            }
        };
        let lag = source_last_sequence.map(|last| {
            last.saturating_sub(committed.and_then(|c| u64::try_from(c).ok()).unwrap_or(0))
        });
        let last_commit = record.and_then(|record| record.last_commit.as_ref());
        statuses.push(StreamStatus {
            name: spec.name.clone(),
            state,
            owner_pid: owner.filter(|_| is_running).map(|owner| owner.pid),
            table: spec.into.table.to_string(),
            committed,
            source_last_sequence,
            lag,
            rate: last_commit.map(|commit| commit.rate),
            last_commit_at: last_commit.map(|commit| commit.at),
            last_table_version: last_commit.map(|commit| commit.table_version),
            dead_letters: record.map_or(0, |record| record.dead_letters_total),
            problems,
        });
    }
    statuses
}
