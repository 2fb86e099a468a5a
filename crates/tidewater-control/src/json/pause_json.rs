//! JSON shape of a pause or unpause.

use serde::Serialize;

/// A workflow's pause after a pause or unpause.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PauseJson {
    pub workflow: String,
    pub paused: bool,
    /// False if the workflow already was as asked.
    pub changed: bool,
}
