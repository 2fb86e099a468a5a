//! JetStream administration for tests and benchmarks: create a stream, publish to it, read
//! its last sequence, delete it. The binary does not use it; it is here so that the NATS
//! client stays in this crate.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::StreamError;
use crate::nats_source::connect;

/// A connection to a NATS server's JetStream.
#[derive(Clone)]
pub struct NatsAdmin {
    client: async_nats::Client,
    context: jetstream::Context,
}

impl NatsAdmin {
    pub async fn connect(url: &str) -> Result<NatsAdmin, StreamError> {
        let client = connect(url).await?;
        let context = jetstream::new(client.clone());
        Ok(NatsAdmin { client, context })
    }

    /// Creates (or replaces) a file-backed stream over `subjects`.
    pub async fn create_stream(&self, name: &str, subjects: &[&str]) -> Result<(), StreamError> {
        let _ = self.context.delete_stream(name).await;
        self.context
            .create_stream(stream::Config {
                name: name.to_owned(),
                subjects: subjects
                    .iter()
                    .map(|subject| (*subject).to_owned())
                    .collect(),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|error| admin_error(name, error))?;
        Ok(())
    }

    /// Publishes `payload` to `subject` and waits for JetStream to store it; returns its
    /// stream sequence.
    pub async fn publish(&self, subject: &str, payload: Vec<u8>) -> Result<u64, StreamError> {
        let acknowledgement = self
            .context
            .publish(subject.to_owned(), payload.into())
            .await
            .map_err(|error| admin_error(subject, error))?
            .await
            .map_err(|error| admin_error(subject, error))?;
        Ok(acknowledgement.sequence)
    }

    /// Publishes without waiting for each acknowledgement (up to `window` outstanding), for
    /// benchmarks; returns when all are stored.
    pub async fn publish_many(
        &self,
        subject: &str,
        payloads: impl IntoIterator<Item = Vec<u8>>,
        window: usize,
    ) -> Result<(), StreamError> {
        let mut pending = std::collections::VecDeque::new();
        for payload in payloads {
            let acknowledgement = self
                .context
                .publish(subject.to_owned(), payload.into())
                .await
                .map_err(|error| admin_error(subject, error))?;
            pending.push_back(acknowledgement);
            if pending.len() >= window
                && let Some(oldest) = pending.pop_front()
            {
                oldest.await.map_err(|error| admin_error(subject, error))?;
            }
        }
        for acknowledgement in pending {
            acknowledgement
                .await
                .map_err(|error| admin_error(subject, error))?;
        }
        Ok(())
    }

    pub async fn last_sequence(&self, name: &str) -> Result<u64, StreamError> {
        let mut stream = self
            .context
            .get_stream(name)
            .await
            .map_err(|error| admin_error(name, error))?;
        let info = stream
            .info()
            .await
            .map_err(|error| admin_error(name, error))?;
        Ok(info.state.last_sequence)
    }

    /// Reads every message of `name` once with an ordered consumer, returning how many: the
    /// raw consume rate's floor in the benchmark.
    pub async fn consume_all(&self, name: &str, subject: &str) -> Result<u64, StreamError> {
        use futures_util::StreamExt;
        let stream = self
            .context
            .get_stream(name)
            .await
            .map_err(|error| admin_error(name, error))?;
        let total = self.last_sequence(name).await?;
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.to_owned(),
                ..Default::default()
            })
            .await
            .map_err(|error| admin_error(name, error))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|error| admin_error(name, error))?;
        let mut count = 0;
        while count < total {
            match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
                Ok(Some(Ok(_))) => count += 1,
                Ok(Some(Err(error))) => return Err(admin_error(name, error)),
                Ok(None) | Err(_) => break,
            }
        }
        Ok(count)
    }

    pub async fn delete_stream(&self, name: &str) -> Result<(), StreamError> {
        self.context
            .delete_stream(name)
            .await
            .map_err(|error| admin_error(name, error))?;
        self.client
            .flush()
            .await
            .map_err(|error| admin_error(name, error))
    }
}

fn admin_error(what: &str, error: impl std::fmt::Display) -> StreamError {
    StreamError::Source {
        stream: what.to_owned(),
        reason: error.to_string(),
    }
}
