//! Retrying a failed or cancelled run: its succeeded tasks are kept, the others run again.

use tidewater_core::RunState;
use tidewater_engine::{Requeued, requeue, run_version};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{Repin, RunRecord, ServiceRecord};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// Which workflow version a retried run resumes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryVersion {
    /// The version the run was created with (the default: a run is reproducible).
    Pinned,
    /// The workflow file as it is now (`--latest`), e.g. after fixing the failed task: the
    /// run is pinned to it first, so that any process (a server too) resumes it on it.
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
    /// No server takes it: the caller executes it with [`tidewater_engine::Resume::Failed`].
    ExecuteHere {
        run: RunRecord,
        loaded: LoadedWorkflow,
        /// `--latest` found the file changed since the run started and pinned the run to it.
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
        let (run, loaded, is_version_changed) = match version {
            RetryVersion::Latest => self.pin_to_latest(run).await?,
            RetryVersion::Pinned => {
                let loaded = self.pinned_workflow(&run).await?;
                (run, loaded, false)
            }
        };
        // With a server up, the run is queued again and the server resumes it (a queued
        // run's tasks that did not succeed run again) on the version it is pinned to.
        if let Some(server) = self.live_service().await? {
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

    /// The workflow file as it is now, with `run` pinned to it if it is another version
    /// than the run's (and whether it was). The new version must keep every task the run
    /// has an instance of; its new tasks start pending.
    async fn pin_to_latest(
        &self,
        run: RunRecord,
    ) -> ControlResult<(RunRecord, LoadedWorkflow, bool)> {
        let current = self.load_workflow(run.workflow.as_str())?;
        if current.hash == run.workflow_hash {
            return Ok((run, current, false));
        }
        let removed: Vec<String> = self
            .store
            .task_instances(run.id)
            .await?
            .into_iter()
            .map(|(task, _)| task)
            .filter(|task| current.workflow.index_of(task.as_str()).is_none())
            .map(|task| task.to_string())
            .collect();
        if !removed.is_empty() {
            return Err(ControlError::Conflict(format!(
                "the current file of {} no longer has task(s) {} of run {}, so the run cannot \
                 resume on it; start a new run instead (`tidewater run {}`), or retry on the \
                 run's own version without --latest",
                run.workflow,
                removed.join(", "),
                run.id,
                run.workflow
            )));
        }
        match self
            .store
            .repin_run(run.id, run.owner, &run_version(&current))
            .await?
        {
            Repin::Repinned => Ok((self.run_record(run.id).await?, current, true)),
            Repin::Refused => Err(ControlError::Conflict(format!(
                "run {} changed while it was being retried (another process took it or \
                 queued it); `tidewater status {}` shows it",
                run.id, run.id
            ))),
            Repin::NoSuchRun => Err(ControlError::NotFound(format!(
                "there is no run {}; `tidewater runs` lists them",
                run.id
            ))),
        }
    }
}
