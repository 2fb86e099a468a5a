//! Pausing and resuming a stream: the server stops consuming a paused one (its position
//! stays in its table) and resumes it from there.

use tidewater_store::ServiceRecord;

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// What a stream's pause or resume did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPauseChange {
    pub stream: String,
    pub is_paused: bool,
    /// False if the stream already was as asked.
    pub is_changed: bool,
    /// The server told at once, if one runs.
    pub server: Option<ServiceRecord>,
}

impl Control {
    /// Pauses or resumes the stream called `name` (a stream file of the project).
    pub async fn set_stream_paused(
        &self,
        name: &str,
        is_paused: bool,
    ) -> ControlResult<StreamPauseChange> {
        let spec = self.stream_spec(name)?;
        let store = self.store.streams().ok_or_else(|| {
            ControlError::Invalid("this project's store backend does not keep streams".to_owned())
        })?;
        let is_changed = store
            .set_stream_paused(&spec.name, is_paused, chrono::Utc::now())
            .await?;
        let server = self.wake_server().await?;
        Ok(StreamPauseChange {
            stream: spec.name,
            is_paused,
            is_changed,
            server,
        })
    }
}
