//! One stream consumed by one process: claim, resume at the committed position, batch,
//! commit, acknowledge.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use tidewater_core::ProcessIdentity;
use tidewater_engine::Owners;
use tidewater_flow::{StreamAppend, StreamCommit, Warehouse};
use tidewater_spec::StreamSpec;
use tidewater_store::{StreamCommitRecord, StreamOwnerClaim, StreamStore};

use crate::StreamError;
use crate::message_decoder::{MessageDecoder, dead_letter_columns};
use crate::nats_source::{NatsConsumer, SourceMessage};

/// A place in the commit of a batch where a test can make the process stop (it reports
/// [`StreamEvent::Paused`] and waits forever), to kill it there: before anything is
/// committed, after the dead letters' commit, after the rows' commit but before the
/// acknowledgement, after the acknowledgement, and in the table's compaction: as it begins,
/// once its new Parquet files are written but not yet committed (a kill there leaves files
/// no commit names), and after its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    BeforeCommit,
    AfterDeadLetters,
    AfterCommit,
    AfterAck,
    BeforeCompaction,
    BeforeCompactionCommit,
    AfterCompaction,
}

impl PausePoint {
    pub fn parse(text: &str) -> Option<PausePoint> {
        Some(match text {
            "before_commit" => PausePoint::BeforeCommit,
            "after_dead_letters" => PausePoint::AfterDeadLetters,
            "after_commit" => PausePoint::AfterCommit,
            "after_ack" => PausePoint::AfterAck,
            "before_compaction" => PausePoint::BeforeCompaction,
            "before_compaction_commit" => PausePoint::BeforeCompactionCommit,
            "after_compaction" => PausePoint::AfterCompaction,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PausePoint::BeforeCommit => "before_commit",
            PausePoint::AfterDeadLetters => "after_dead_letters",
            PausePoint::AfterCommit => "after_commit",
            PausePoint::AfterAck => "after_ack",
            PausePoint::BeforeCompaction => "before_compaction",
            PausePoint::BeforeCompactionCommit => "before_compaction_commit",
            PausePoint::AfterCompaction => "after_compaction",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Test-only: stop at this point of the first batch that reaches it.
    pub pause_at: Option<PausePoint>,
    /// Stop once every message the consumer had to deliver is committed and a trigger
    /// interval passed without a new one (for tests and benchmarks); otherwise run until
    /// shut down.
    pub until_caught_up: bool,
}

/// One committed micro-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchReport {
    pub messages: u64,
    pub rows_written: u64,
    pub dead_letters: u64,
    /// The last source sequence of the batch, now recorded in the table.
    pub position: i64,
    pub table_version: Option<u64>,
}

#[derive(Debug)]
pub enum StreamEvent<'e> {
    /// The stream was claimed and resumes after `position` (`None`: from the start).
    Started {
        position: Option<i64>,
    },
    Committed(&'e BatchReport),
    Compacted {
        files_removed: u64,
    },
    /// Stopped at a test pause point; the process waits to be killed.
    Paused {
        point: PausePoint,
        position: i64,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamRunSummary {
    pub batches: u64,
    pub messages: u64,
    pub dead_letters: u64,
    pub position: Option<i64>,
}

/// Runs one stream in this process.
pub struct StreamRunner<'a> {
    pub spec: &'a StreamSpec,
    pub warehouse: &'a Warehouse,
    pub store: &'a dyn StreamStore,
    pub owners: &'a dyn Owners,
}

impl StreamRunner<'_> {
    /// Claims the stream, consumes it until `shutdown` resolves (the batch being gathered is
    /// committed first), then releases it. Another live owner is
    /// [`StreamError::OwnedElsewhere`]; a dead one's claim is taken over.
    pub async fn run(
        &self,
        options: RunOptions,
        shutdown: impl Future<Output = ()>,
        observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
    ) -> Result<StreamRunSummary, StreamError> {
        let me = self.claim().await?;
        let outcome = self.consume(options, shutdown, observer).await;
        // A failed release leaves a dead owner on record, which the next start takes over.
        if let Err(error) = self
            .store
            .claim_stream_owner(&self.spec.name, Some(me), None, chrono::Utc::now())
            .await
        {
            tracing::warn!(stream = %self.spec.name, %error, "releasing the stream failed");
        }
        outcome
    }

    async fn claim(&self) -> Result<ProcessIdentity, StreamError> {
        let name = &self.spec.name;
        let me = self.owners.me();
        let mut expected = None;
        // At most two rounds: nobody, then the dead owner on record.
        for _ in 0..2 {
            match self
                .store
                .claim_stream_owner(name, expected, Some(me), chrono::Utc::now())
                .await?
            {
                StreamOwnerClaim::Claimed => return Ok(me),
                StreamOwnerClaim::Held(Some(owner)) if owner == me => return Ok(me),
                StreamOwnerClaim::Held(Some(owner)) if self.owners.is_alive(owner) => {
                    return Err(StreamError::OwnedElsewhere {
                        stream: name.clone(),
                        owner,
                    });
                }
                StreamOwnerClaim::Held(other) => expected = other,
            }
        }
        match expected {
            Some(owner) => Err(StreamError::OwnedElsewhere {
                stream: name.clone(),
                owner,
            }),
            None => Err(StreamError::Bug(
                "the stream's owner changed twice while claiming it",
            )),
        }
    }

    async fn consume(
        &self,
        options: RunOptions,
        shutdown: impl Future<Output = ()>,
        observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
    ) -> Result<StreamRunSummary, StreamError> {
        let spec = self.spec;
        let decoder = MessageDecoder::new(&spec.schema);
        self.warehouse
            .check_stream_sql(&spec.sql, decoder.empty_columns())
            .await
            .map_err(StreamError::InvalidSql)?;
        let mut position = Position {
            rows: self
                .warehouse
                .stream_position(&spec.into.table, &spec.app_id())
                .await?,
            dead_letters: self
                .warehouse
                .stream_position(&spec.dead_letters, &spec.dead_letters_app_id())
                .await?,
        };
        let max_messages = spec.trigger.max_messages as usize;
        let mut consumer = NatsConsumer::open(&spec.source, position.rows, max_messages).await?;
        observer(StreamEvent::Started {
            position: position.rows,
        });
        let mut summary = StreamRunSummary {
            position: position.rows,
            ..StreamRunSummary::default()
        };
        let mut previous_commit = Instant::now();
        let mut commits_since_compaction = 0;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut is_stopping = false;
        loop {
            let mut batch: BTreeMap<u64, SourceMessage> = BTreeMap::new();
            let mut closes_at: Option<Instant> = None;
            let mut is_idle = false;
            while batch.len() < max_messages {
                let wait = match closes_at {
                    Some(at) => at.saturating_duration_since(Instant::now()),
                    None => spec.trigger.every,
                };
                if wait.is_zero() {
                    break;
                }
                tokio::select! {
                    () = &mut shutdown, if !is_stopping => {
                        is_stopping = true;
                        break;
                    }
                    next = consumer.next(wait) => match next? {
                        Some(message) => {
                            if position.is_committed(message.sequence) {
                                // Delivered again after its commit: already in the table.
                                consumer.ack(&message.message).await?;
                                continue;
                            }
                            closes_at.get_or_insert_with(|| Instant::now() + spec.trigger.every);
                            batch.insert(message.sequence, message);
                        }
                        None if batch.is_empty() => {
                            is_idle = true;
                            break;
                        }
                        None => break,
                    }
                }
            }
            if !batch.is_empty() {
                let report = self
                    .commit(
                        &decoder,
                        &batch,
                        &mut position,
                        &consumer,
                        options,
                        observer,
                    )
                    .await?;
                let now = Instant::now();
                let elapsed = now
                    .duration_since(previous_commit)
                    .max(Duration::from_millis(1));
                previous_commit = now;
                let record = StreamCommitRecord {
                    at: chrono::Utc::now(),
                    position: report.position,
                    table_version: report.table_version.map_or(-1, |version| version as i64),
                    messages: report.messages,
                    dead_letters: report.dead_letters,
                    rate: report.messages as f64 / elapsed.as_secs_f64(),
                };
                self.store.record_stream_commit(&spec.name, &record).await?;
                summary.batches += 1;
                summary.messages += report.messages;
                summary.dead_letters += report.dead_letters;
                summary.position = Some(report.position);
                observer(StreamEvent::Committed(&report));
                commits_since_compaction += 1;
                if spec
                    .compact_every
                    .is_some_and(|every| commits_since_compaction >= every)
                {
                    commits_since_compaction = 0;
                    self.compact(options, report.position, observer).await;
                }
            }
            if is_stopping {
                break;
            }
            if is_idle && options.until_caught_up && consumer.pending().await? == 0 {
                break;
            }
        }
        Ok(summary)
    }

    /// Compaction changes no data and records no position: a failure (or a kill) during it
    /// loses nothing, so it only warns.
    async fn compact(
        &self,
        options: RunOptions,
        position: i64,
        observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
    ) {
        let table = &self.spec.into.table;
        pause(options, PausePoint::BeforeCompaction, position, observer).await;
        let outcome = if options.pause_at == Some(PausePoint::BeforeCompactionCommit) {
            let (reached, is_reached) = tokio::sync::oneshot::channel();
            tokio::select! {
                outcome = self.warehouse.compact_stopping_before_commit(table, reached) => outcome,
                Ok(()) = is_reached => {
                    match stop(PausePoint::BeforeCompactionCommit, position, observer).await {}
                }
            }
        } else {
            self.warehouse.compact(table).await
        };
        match outcome {
            Ok(compacted) => observer(StreamEvent::Compacted {
                files_removed: compacted.files_removed,
            }),
            Err(error) => {
                tracing::warn!(stream = %self.spec.name, %error, "compacting the stream's table failed");
            }
        }
        pause(options, PausePoint::AfterCompaction, position, observer).await;
    }

    /// Dead letters first, then the rows, each commit recording the batch's last sequence;
    /// then the acknowledgement. A kill anywhere in between is resumed by skipping what each
    /// table records.
    async fn commit(
        &self,
        decoder: &MessageDecoder,
        batch: &BTreeMap<u64, SourceMessage>,
        position: &mut Position,
        consumer: &NatsConsumer,
        options: RunOptions,
        observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
    ) -> Result<BatchReport, StreamError> {
        let spec = self.spec;
        let Some((&last_sequence, last_message)) = batch.iter().next_back() else {
            return Err(StreamError::Bug("an empty batch reached the commit"));
        };
        let batch_position = i64::try_from(last_sequence).unwrap_or(i64::MAX);
        let decoded = decoder.decode(batch.values().map(|message| {
            (
                message.sequence,
                message.subject.as_str(),
                message.payload.as_slice(),
            )
        }));
        let dead_letters: Vec<_> = decoded
            .dead_letters
            .into_iter()
            .filter(|letter| !position.has_dead_letter(letter.sequence))
            .collect();
        let dead_letter_count = dead_letters.len() as u64;
        pause(options, PausePoint::BeforeCommit, batch_position, observer).await;
        if !dead_letters.is_empty() {
            let columns = dead_letter_columns(
                &spec.name,
                &dead_letters,
                chrono::Utc::now().timestamp_micros(),
            );
            self.warehouse
                .append_stream_batch(StreamAppend {
                    table: &spec.dead_letters,
                    partition: &[],
                    sql: None,
                    columns,
                    app_id: &spec.dead_letters_app_id(),
                    position: batch_position,
                })
                .await
                .map_err(|source| StreamError::Commit {
                    table: spec.dead_letters.to_string(),
                    source,
                })?;
            position.dead_letters = Some(batch_position);
            pause(
                options,
                PausePoint::AfterDeadLetters,
                batch_position,
                observer,
            )
            .await;
        }
        // The rows' commit is made even when the batch has none (all dead letters, or a
        // query that filters them all out): it records the position all the same.
        let outcome = self
            .warehouse
            .append_stream_batch(StreamAppend {
                table: &spec.into.table,
                partition: &spec.into.partition,
                sql: Some(&spec.sql),
                columns: decoded.columns,
                app_id: &spec.app_id(),
                position: batch_position,
            })
            .await
            .map_err(|source| StreamError::Commit {
                table: spec.into.table.to_string(),
                source,
            })?;
        position.rows = Some(batch_position);
        pause(options, PausePoint::AfterCommit, batch_position, observer).await;
        consumer.ack(&last_message.message).await?;
        pause(options, PausePoint::AfterAck, batch_position, observer).await;
        let (table_version, rows_written) = match outcome {
            StreamCommit::Committed {
                version,
                rows_written,
            } => (Some(version), rows_written),
            StreamCommit::AlreadyCommitted { .. } => (None, 0),
        };
        Ok(BatchReport {
            messages: batch.len() as u64,
            rows_written,
            dead_letters: dead_letter_count,
            position: batch_position,
            table_version,
        })
    }
}

/// How far each table is committed.
struct Position {
    rows: Option<i64>,
    dead_letters: Option<i64>,
}

impl Position {
    /// A message at or below the rows' position is wholly committed: the dead letters of a
    /// batch are committed before its rows.
    fn is_committed(&self, sequence: u64) -> bool {
        self.rows.is_some_and(|position| {
            i64::try_from(sequence).is_ok_and(|sequence| sequence <= position)
        })
    }

    fn has_dead_letter(&self, sequence: u64) -> bool {
        self.dead_letters.is_some_and(|position| {
            i64::try_from(sequence).is_ok_and(|sequence| sequence <= position)
        })
    }
}

async fn pause(
    options: RunOptions,
    point: PausePoint,
    position: i64,
    observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
) {
    if options.pause_at == Some(point) {
        match stop(point, position, observer).await {}
    }
}

/// Reports the pause and waits for the kill.
async fn stop(
    point: PausePoint,
    position: i64,
    observer: &mut (dyn FnMut(StreamEvent<'_>) + Send),
) -> std::convert::Infallible {
    observer(StreamEvent::Paused { point, position });
    std::future::pending().await
}
