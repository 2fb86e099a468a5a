//! Steering the server's scheduling: pausing a workflow, triggering a run for the server.

use tidewater_spec::LoadedWorkflow;
use tidewater_store::{RunRecord, ServiceRecord};

use crate::Control;
use crate::control_error::ControlResult;
use crate::manual_run::ManualRunRequest;

/// What a pause or unpause did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseChange {
    /// False if the workflow already was as asked.
    pub is_changed: bool,
    /// The server told at once, if one runs.
    pub server: Option<ServiceRecord>,
}

/// A run queued for the server.
#[derive(Debug, Clone)]
pub struct Triggered {
    pub run: RunRecord,
    /// The server told to start it, if one runs; without one it waits for the next.
    pub server: Option<ServiceRecord>,
}

impl Control {
    /// Pauses (no new runs are created; running ones finish) or unpauses a workflow.
    pub async fn set_paused(
        &self,
        loaded: &LoadedWorkflow,
        is_paused: bool,
    ) -> ControlResult<PauseChange> {
        let is_changed = self
            .store
            .set_paused(&loaded.workflow.name, is_paused, chrono::Utc::now())
            .await?;
        let server = self.wake_server().await?;
        Ok(PauseChange { is_changed, server })
    }

    /// Queues a manual run for the server to start (see [`Control::create_manual_run`]).
    pub async fn trigger(
        &self,
        loaded: &LoadedWorkflow,
        request: &ManualRunRequest,
    ) -> ControlResult<Triggered> {
        let run = self.create_manual_run(loaded, request).await?;
        let server = self.wake_server().await?;
        Ok(Triggered { run, server })
    }
}
