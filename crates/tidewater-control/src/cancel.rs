//! Cancelling a queued or running run, whichever process executes it.
//!
//! The request is recorded in the store and the executing process is woken: the server, a
//! `tidewater run` or a foreground backfill. Each of them also looks for requests every two
//! seconds. A run that nobody executes (queued without a server, or left running by a
//! process that died) is cancelled by the caller, its leftover processes killed first.

use std::sync::Arc;

use tidewater_core::{ProcessIdentity, RunId, RunState};
use tidewater_engine::{CancelHandle, Resume, SilentObserver};
use tidewater_store::RunRecord;

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// Where a cancel stands.
#[derive(Debug, Clone)]
pub enum CancelProgress {
    /// The run is no longer queued or running (in the state given).
    Ended(RunRecord),
    /// This live process executes the run (or, for a queued run, the server would start
    /// it); it has been woken to stop it.
    Asked(ProcessIdentity),
    /// Asked already; it is still stopping.
    Stopping,
    /// Nobody executes the run: [`Control::cancel_here`] records it cancelled.
    Unowned(RunRecord),
}

impl Control {
    /// Records a request to cancel run `id`. `Ok(None)` if the run is not queued or running
    /// (nothing to cancel); else the run as it was.
    pub async fn request_cancel(&self, id: RunId) -> ControlResult<Option<RunRecord>> {
        let run = self.run_record(id).await?;
        if !is_active(&run)
            || !self
                .store
                .request_cancel(run.id, chrono::Utc::now())
                .await?
        {
            return Ok(None);
        }
        Ok(Some(run))
    }

    /// Cancels run `id` for a front end that does not wait for the end (the HTTP API):
    /// records the request and wakes the process that executes the run; a run that nobody
    /// executes is recorded cancelled here. Refused if the run is not queued or running.
    pub async fn ask_cancel(&self, id: RunId) -> ControlResult<CancelProgress> {
        let Some(run) = self.request_cancel(id).await? else {
            let run = self.run_record(id).await?;
            return Err(ControlError::Conflict(format!(
                "run {} is {}: only a queued or running run can be cancelled",
                run.id,
                run.state.name()
            )));
        };
        match self.cancel_progress(run.id, None).await? {
            CancelProgress::Unowned(run) => {
                self.cancel_here(&run).await?;
                Ok(CancelProgress::Ended(self.run_record(run.id).await?))
            }
            progress => Ok(progress),
        }
    }

    /// Looks at a cancel under way: wakes the process that executes the run (once per
    /// process: `asked` is the one woken before), or says that nobody does.
    pub async fn cancel_progress(
        &self,
        id: RunId,
        asked: Option<ProcessIdentity>,
    ) -> ControlResult<CancelProgress> {
        let run = self.run_record(id).await?;
        if !is_active(&run) {
            return Ok(CancelProgress::Ended(run));
        }
        let executor = match run.owner.filter(|owner| self.is_alive(*owner)) {
            Some(owner) => Some(owner),
            None => self.live_service().await?.map(|service| service.process),
        };
        Ok(match executor {
            Some(process) if asked != Some(process) => {
                // Wakes the process now instead of at its next look at the store.
                self.wake(process);
                CancelProgress::Asked(process)
            }
            Some(_) => CancelProgress::Stopping,
            None => CancelProgress::Unowned(run),
        })
    }

    /// Nobody executes the run: records it cancelled from this process, after ending what
    /// its dead owner left running.
    pub async fn cancel_here(&self, run: &RunRecord) -> ControlResult<RunState> {
        let loaded = self.pinned_workflow(run).await?;
        let executor = self.executor(Some(1), Arc::new(SilentObserver))?;
        let cancel = CancelHandle::new();
        cancel.cancel();
        Ok(executor
            .execute(&loaded.workflow, run.id, Resume::Continue, &cancel)
            .await?)
    }
}

fn is_active(record: &RunRecord) -> bool {
    matches!(record.state, RunState::Queued | RunState::Running { .. })
}
