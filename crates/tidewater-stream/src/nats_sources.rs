//! [`NatsSources`]: the streams' listing's questions to a source, answered by JetStream.

use tidewater_control::StreamSources;
use tidewater_spec::NatsSource;

use crate::nats_source;

/// [`StreamSources`] over NATS JetStream: what the binary hands to `tidewater-control`, so
/// that the listing shows a stream's lag without the use cases depending on the NATS client.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsSources;

#[async_trait::async_trait]
impl StreamSources for NatsSources {
    async fn last_sequence(
        &self,
        source: &NatsSource,
    ) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
        Ok(nats_source::last_sequence(source).await?)
    }
}
