//! [`StreamSources`]: what the streams' listing asks of a stream's source. Implemented by
//! tidewater-stream over NATS JetStream and handed in by the binary, so that neither this
//! crate nor the HTTP server depends on the NATS client.

use tidewater_spec::NatsSource;

/// Asks a stream's source about itself.
#[async_trait::async_trait]
pub trait StreamSources: Send + Sync {
    /// The last sequence the source stream holds. The error says why the source did not
    /// answer (unreachable server, no such stream); the listing shows it beside the stream.
    async fn last_sequence(
        &self,
        source: &NatsSource,
    ) -> Result<u64, Box<dyn std::error::Error + Send + Sync>>;
}
