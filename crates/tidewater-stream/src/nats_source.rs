//! The JetStream side of a stream: its durable pull consumer, positioned at the committed
//! sequence, the messages, their acknowledgement and the stream's last sequence.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use tidewater_spec::NatsSource;

use crate::StreamError;

/// How long JetStream waits for an acknowledgement before it delivers a message again. A
/// batch is acknowledged after its commits, well within this; a redelivery during a slow
/// commit is harmless (a message at or below the committed position is skipped). A
/// restarted stream does not wait for it: it re-creates its consumer at the committed
/// position (see `NatsConsumer::open`).
const ACK_WAIT: Duration = Duration::from_secs(60);

/// One message of the source.
pub(crate) struct SourceMessage {
    pub(crate) sequence: u64,
    pub(crate) subject: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) message: jetstream::Message,
}

pub(crate) struct NatsConsumer {
    client: async_nats::Client,
    consumer: consumer::PullConsumer,
    messages: Option<consumer::pull::Stream>,
    subjects: Vec<String>,
    batch_size: usize,
    name: String,
}

pub(crate) async fn connect(url: &str) -> Result<async_nats::Client, StreamError> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|error| StreamError::Connect {
            url: url.to_owned(),
            reason: error.to_string(),
        })
}

pub(crate) async fn last_sequence(source: &NatsSource) -> Result<u64, StreamError> {
    let client = connect(&source.url).await?;
    let context = jetstream::new(client);
    let mut stream = context
        .get_stream(&source.stream)
        .await
        .map_err(|error| source_error(&source.stream, error))?;
    let info = stream
        .info()
        .await
        .map_err(|error| source_error(&source.stream, error))?;
    Ok(info.state.last_sequence)
}

fn source_error(stream: &str, error: impl std::fmt::Display) -> StreamError {
    StreamError::Source {
        stream: stream.to_owned(),
        reason: error.to_string(),
    }
}

impl NatsConsumer {
    /// The durable consumer, re-created to deliver from `committed + 1`.
    ///
    /// Re-creating rather than resuming the durable consumer as the server left it: the
    /// messages the killed process held unacknowledged would come back only after
    /// [`ACK_WAIT`], and any it had committed would come back too. Starting at the committed
    /// sequence of the table (the truth) resumes at once and delivers nothing already in the
    /// table. Only the stream's owner (claimed in the store before this) does it.
    pub(crate) async fn open(
        source: &NatsSource,
        committed: Option<i64>,
        batch_size: usize,
    ) -> Result<NatsConsumer, StreamError> {
        let client = connect(&source.url).await?;
        let context = jetstream::new(client.clone());
        let stream = context
            .get_stream(&source.stream)
            .await
            .map_err(|error| source_error(&source.stream, error))?;
        // Absent is fine: a first start, or a consumer deleted by hand.
        let _ = stream.delete_consumer(&source.consumer).await;
        let deliver_policy = match committed {
            Some(position) => consumer::DeliverPolicy::ByStartSequence {
                start_sequence: u64::try_from(position).unwrap_or(0) + 1,
            },
            None => consumer::DeliverPolicy::All,
        };
        // NATS 2.9 filters a consumer by one subject; with several, every message of the
        // stream is delivered and the others are skipped here.
        let filter_subject = match source.subjects.as_slice() {
            [subject] => subject.clone(),
            _ => String::new(),
        };
        let config = consumer::pull::Config {
            durable_name: Some(source.consumer.clone()),
            deliver_policy,
            ack_policy: consumer::AckPolicy::All,
            ack_wait: ACK_WAIT,
            // A whole batch is unacknowledged until it commits: let the server hand out more
            // than one batch's worth, or consumption would stall at its default of 1,000.
            max_ack_pending: i64::try_from(batch_size.saturating_mul(2).max(1_000))
                .unwrap_or(i64::MAX),
            filter_subject,
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(|error| source_error(&source.stream, error))?;
        Ok(NatsConsumer {
            client,
            consumer,
            messages: None,
            subjects: source.subjects.clone(),
            batch_size,
            name: source.stream.clone(),
        })
    }

    /// The next message that matches the subjects, or `None` when `timeout` passes first.
    pub(crate) async fn next(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<SourceMessage>, StreamError> {
        loop {
            if self.messages.is_none() {
                let messages = self
                    .consumer
                    .stream()
                    .max_messages_per_batch(self.batch_size.min(10_000))
                    .heartbeat(Duration::from_secs(5))
                    .expires(Duration::from_secs(30))
                    .messages()
                    .await
                    .map_err(|error| source_error(&self.name, error))?;
                self.messages = Some(messages);
            }
            let Some(messages) = self.messages.as_mut() else {
                continue;
            };
            let next = match tokio::time::timeout(timeout, messages.next()).await {
                Err(_elapsed) => return Ok(None),
                Ok(next) => next,
            };
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    // A missed heartbeat or a pull that failed: pull again on a new request.
                    tracing::warn!(stream = %self.name, %error, "pulling messages failed; pulling again");
                    self.messages = None;
                    continue;
                }
                None => {
                    self.messages = None;
                    continue;
                }
            };
            let sequence = match message.info() {
                Ok(info) => info.stream_sequence,
                Err(error) => {
                    return Err(source_error(
                        &self.name,
                        format!("a message without JetStream metadata: {error}"),
                    ));
                }
            };
            let subject = message.subject.to_string();
            if self.subjects.len() != 1 && !self.matches(&subject) {
                continue;
            }
            return Ok(Some(SourceMessage {
                sequence,
                subject,
                payload: message.payload.to_vec(),
                message,
            }));
        }
    }

    fn matches(&self, subject: &str) -> bool {
        self.subjects
            .iter()
            .any(|pattern| subject_matches(pattern, subject))
    }

    /// Acknowledges `message` and, the consumer's policy being "all", every earlier one.
    pub(crate) async fn ack(&self, message: &jetstream::Message) -> Result<(), StreamError> {
        message
            .ack()
            .await
            .map_err(|error| source_error(&self.name, error))?;
        self.client
            .flush()
            .await
            .map_err(|error| source_error(&self.name, error))
    }

    /// How many messages the consumer has not delivered yet.
    pub(crate) async fn pending(&mut self) -> Result<u64, StreamError> {
        let info = self
            .consumer
            .info()
            .await
            .map_err(|error| source_error(&self.name, error))?;
        Ok(info.num_pending)
    }
}

/// NATS subject matching: `*` one token, `>` the rest.
fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for part in pattern.split('.') {
        match (part, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(token)) if literal == token => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}
