//! What `tidewater streams`, `GET /api/v1/streams` and the UI's Streams page show for each of
//! a project's streams: its state, owner, lag, rate, last commit and dead letters.

use tidewater_core::{ProcessIdentity, Timestamp};
use tidewater_flow::Warehouse;
use tidewater_spec::{Diagnostics, StreamSpec};
use tidewater_store::{StreamCommitRecord, StreamRecord};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// Where a stream stands, as the store and the owners tell it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamState {
    /// A live process consumes it (the server, or `tidewater stream run`).
    Running { owner: ProcessIdentity },
    /// Paused: the server does not consume it until it is resumed.
    Paused,
    /// The server's last try failed; it tries again at `retry_at`.
    Failing {
        reason: String,
        since: Timestamp,
        retry_at: Timestamp,
    },
    /// Nobody consumes it.
    Stopped,
    /// The store has never heard of it.
    NeverRun,
}

impl StreamState {
    /// The state's name in JSON and tables.
    pub fn name(&self) -> &'static str {
        match self {
            StreamState::Running { .. } => "running",
            StreamState::Paused => "paused",
            StreamState::Failing { .. } => "failing",
            StreamState::Stopped => "stopped",
            StreamState::NeverRun => "never_run",
        }
    }
}

/// One stream of the project.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOverview {
    pub spec: StreamSpec,
    pub state: StreamState,
    /// The last source sequence committed into the table (its Delta transaction identifier).
    pub committed: Option<i64>,
    /// The source stream's last sequence, when the source answered.
    pub source_last_sequence: Option<u64>,
    /// `source_last_sequence − committed`.
    pub lag: Option<u64>,
    /// The last committed micro-batch, with its rate.
    pub last_commit: Option<StreamCommitRecord>,
    /// Dead letters committed since the store first heard of the stream.
    pub dead_letters: u64,
    /// Why a value is missing (the source unreachable, the table unreadable).
    pub problems: Vec<String>,
}

/// Every stream file of the project that reads, and the problems of those that do not.
#[derive(Debug)]
pub struct StreamList {
    pub streams: Vec<StreamOverview>,
    pub diagnostics: Diagnostics,
}

impl Control {
    /// Each stream's state, read from the store (owner, pause, failure, last batch), its
    /// table (committed position) and its source (last sequence). A part that cannot be read
    /// is reported in the stream's `problems`, never an error: the others are still worth
    /// showing.
    pub async fn stream_list(&self) -> ControlResult<StreamList> {
        let (specs, diagnostics) = tidewater_spec::load_streams(&self.project);
        let records = self.stream_records().await?;
        let warehouse = self.warehouse();
        let mut streams = Vec::with_capacity(specs.len());
        for spec in specs {
            let record = records.iter().find(|record| record.name == spec.name);
            streams.push(self.stream_overview_of(spec, record, &warehouse).await);
        }
        Ok(StreamList {
            streams,
            diagnostics,
        })
    }

    /// One stream by name: [`ControlError::NotFound`] when no stream file that reads has it.
    pub async fn stream_overview(&self, name: &str) -> ControlResult<StreamOverview> {
        let spec = self.stream_spec(name)?;
        let records = self.stream_records().await?;
        let record = records.iter().find(|record| record.name == spec.name);
        Ok(self
            .stream_overview_of(spec, record, &self.warehouse())
            .await)
    }

    /// A stream's file, read now.
    pub fn stream_spec(&self, name: &str) -> ControlResult<StreamSpec> {
        let (specs, _) = tidewater_spec::load_streams(&self.project);
        specs
            .into_iter()
            .find(|spec| spec.name == name)
            .ok_or_else(|| {
                ControlError::NotFound(format!(
                    "there is no stream `{name}`; `tidewater streams` lists them (and `tidewater validate` shows a broken file's problems)"
                ))
            })
    }

    async fn stream_records(&self) -> ControlResult<Vec<StreamRecord>> {
        Ok(match self.store.streams() {
            Some(store) => store.stream_records().await?,
            None => Vec::new(),
        })
    }

    async fn stream_overview_of(
        &self,
        spec: StreamSpec,
        record: Option<&StreamRecord>,
        warehouse: &ControlResult<Warehouse>,
    ) -> StreamOverview {
        let mut problems = Vec::new();
        let live_owner = record
            .and_then(|record| record.owner)
            .filter(|owner| self.owners.is_alive(*owner));
        let state = match (record, live_owner) {
            (Some(record), _) if record.is_paused => StreamState::Paused,
            (_, Some(owner)) => StreamState::Running { owner },
            (Some(record), None) => match &record.failure {
                Some(failure) => StreamState::Failing {
                    reason: failure.reason.clone(),
                    since: failure.at,
                    retry_at: failure.retry_at,
                },
                None => StreamState::Stopped,
            },
            (None, None) => StreamState::NeverRun,
        };
        let committed = match warehouse {
            Ok(warehouse) => match warehouse
                .stream_position(&spec.into.table, &spec.app_id())
                .await
            {
                Ok(position) => position,
                Err(error) => {
                    problems.push(format!("reading `{}`: {error}", spec.into.table));
                    None
                }
            },
            Err(error) => {
                problems.push(format!("opening the warehouse: {error}"));
                None
            }
        };
        let source_last_sequence = match self.stream_sources() {
            Some(sources) => match sources.last_sequence(&spec.source).await {
                Ok(sequence) => Some(sequence),
                Err(error) => {
                    problems.push(error.to_string());
                    None
                }
            },
            None => None,
        };
        let lag = source_last_sequence.map(|last| {
            let committed = committed.and_then(|position| u64::try_from(position).ok());
            last.saturating_sub(committed.unwrap_or(0))
        });
        StreamOverview {
            spec,
            state,
            committed,
            source_last_sequence,
            lag,
            last_commit: record.and_then(|record| record.last_commit.clone()),
            dead_letters: record.map_or(0, |record| record.dead_letters_total),
            problems,
        }
    }
}
