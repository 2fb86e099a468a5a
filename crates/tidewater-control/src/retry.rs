//! Retrying a failed or cancelled run: its succeeded tasks are kept, the others run again.

use tidewater_core::RunState;
use tidewater_engine::{Requeued, requeue};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{RunRecord, ServiceRecord};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// Which workflow version a retried run resumes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryVersion {
    /// The version the run was created with (the default: a run is reproducible).
    Pinned,
    /// The workflow file as it is now (`--latest`), e.g. after fixing the failed task.
    Latest,
}

/// What a retry does.
#[derive(Debug)]
pub enum Retry {
    /// Nothing: the run already succeeded (clearing tasks runs them again).
    AlreadySucceeded(RunRecord),
    /// The run is queued again and the server resumes it under its shared task queue.
    Requeued {
        run: RunRecord,
        loaded: LoadedWorkflow,
        server: ServiceRecord,
    },
    /// No server takes it (or it resumes on another version than the pinned one, which only
    /// this process can execute): the caller executes it with
    /// [`tidewater_engine::Resume::Failed`].
    ExecuteHere {
        run: RunRecord,
        loaded: LoadedWorkflow,
        /// `--latest` found the file changed since the run started.
        is_version_changed: bool,
    },
}

impl Control {
    /// Resumes run `id` (see [`Retry`]); refused (a conflict) while another live process
    /// executes it or, with a server up, decides about it, and for a run queued already.
    pub async fn retry(
        &self,
        id: tidewater_core::RunId,
        version: RetryVersion,
    ) -> ControlResult<Retry> {
        let run = self.run_record(id).await?;
        if let RunState::Succeeded { .. } = run.state {
            return Ok(Retry::AlreadySucceeded(run));
        }
        if let Some(owner) = run.owner.filter(|owner| self.is_alive(*owner)) {
            return Err(ControlError::Conflict(format!(
                "run {} is being executed by process {}; `tidewater cancel {}` stops it",
                run.id, owner.pid, run.id
            )));
        }
        let (loaded, is_version_changed) = match version {
            RetryVersion::Latest => {
                let current = self.load_workflow(run.workflow.as_str())?;
                let is_changed = current.hash != run.workflow_hash;
                (current, is_changed)
            }
            RetryVersion::Pinned => (self.pinned_workflow(&run).await?, false),
        };
        // With a server up, the run is queued again and the server resumes it (a queued
        // run's tasks that did not succeed run again). A run resumed on another version
        // than its pinned one is executed here: the server executes runs on the version
        // they are pinned to.
        if version == RetryVersion::Pinned
            && let Some(server) = self.live_service().await?
        {
            // Decided while this process holds the run: a concurrent retry, clear or executor
            // is refused (a conflict) rather than interleaved.
            let requeued = requeue(
                &*self.store,
                &*self.owners,
                &loaded.workflow,
                run.id,
                chrono::Utc::now(),
            )
            .await?;
            match requeued {
                Requeued::Unchanged(RunState::Succeeded { .. }) => {
                    return Ok(Retry::AlreadySucceeded(self.run_record(id).await?));
                }
                Requeued::Unchanged(RunState::Queued) => {
                    return Err(ControlError::Conflict(format!(
                        "run {} is queued already; the server executes it",
                        run.id
                    )));
                }
                // A run left running by a dead owner: the server resumes it.
                Requeued::Now | Requeued::Unchanged(_) => {}
            }
            // Told now rather than at its next look at the store.
            self.wake(server.process);
            return Ok(Retry::Requeued {
                run,
                loaded,
                server,
            });
        }
        Ok(Retry::ExecuteHere {
            run,
            loaded,
            is_version_changed,
        })
    }
}
