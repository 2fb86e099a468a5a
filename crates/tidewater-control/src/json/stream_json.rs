//! JSON shapes of the streams' listing (`tidewater streams --json`, `GET /api/v1/streams`)
//! and of a stream's pause.

use serde::Serialize;

use crate::stream_overview::{StreamOverview, StreamState};
use crate::stream_pause::StreamPauseChange;

/// A stream as `--json` and the API show it; times are RFC 3339 in UTC.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamJson {
    pub name: String,
    /// `running`, `paused`, `failing`, `stopped` or `never_run`.
    pub state: &'static str,
    /// Why the server's last try failed (state `failing`).
    pub reason: Option<String>,
    /// When the server tries a failing stream again.
    pub retry_at: Option<String>,
    /// The process consuming it (state `running`).
    pub owner_pid: Option<i32>,
    pub table: String,
    /// The last source sequence committed into the table (its Delta transaction identifier).
    pub committed: Option<i64>,
    /// The source stream's last sequence, when it answered.
    pub source_last_sequence: Option<u64>,
    /// `source_last_sequence − committed`.
    pub lag: Option<u64>,
    /// Messages per second of the last batch.
    pub rate: Option<f64>,
    pub last_commit_at: Option<String>,
    pub last_table_version: Option<i64>,
    pub dead_letters: u64,
    /// Why a value is missing (the source unreachable, the table unreadable).
    pub problems: Vec<String>,
}

impl StreamJson {
    pub fn new(overview: &StreamOverview) -> StreamJson {
        let (reason, retry_at) = match &overview.state {
            StreamState::Failing {
                reason, retry_at, ..
            } => (Some(reason.clone()), Some(retry_at.to_rfc3339())),
            _ => (None, None),
        };
        let owner_pid = match &overview.state {
            StreamState::Running { owner } => Some(owner.pid),
            _ => None,
        };
        let last_commit = overview.last_commit.as_ref();
        StreamJson {
            name: overview.spec.name.clone(),
            state: overview.state.name(),
            reason,
            retry_at,
            owner_pid,
            table: overview.spec.into.table.to_string(),
            committed: overview.committed,
            source_last_sequence: overview.source_last_sequence,
            lag: overview.lag,
            rate: last_commit.map(|commit| commit.rate),
            last_commit_at: last_commit.map(|commit| commit.at.to_rfc3339()),
            last_table_version: last_commit.map(|commit| commit.table_version),
            dead_letters: overview.dead_letters,
            problems: overview.problems.clone(),
        }
    }
}

/// A stream's pause after a pause or resume.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamPauseJson {
    pub stream: String,
    pub paused: bool,
    /// False if the stream already was as asked.
    pub changed: bool,
}

impl StreamPauseJson {
    pub fn new(change: &StreamPauseChange) -> StreamPauseJson {
        StreamPauseJson {
            stream: change.stream.clone(),
            paused: change.is_paused,
            changed: change.is_changed,
        }
    }
}
