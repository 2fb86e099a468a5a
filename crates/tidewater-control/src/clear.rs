//! Clearing tasks of a run: chosen tasks (and, if asked, everything downstream of them) are
//! reset and run again.

use tidewater_core::{RunId, RunState, TaskIndex};
use tidewater_engine::{Requeued, requeue_cleared};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::{RunRecord, ServiceRecord};

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// Whether clearing a task also clears what depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearScope {
    /// Only the named tasks.
    Tasks,
    /// The named tasks and everything downstream of them.
    WithDownstream,
}

/// The tasks a clear runs again, resolved against the run's pinned workflow version.
#[derive(Debug)]
pub struct Clearing {
    pub run: RunRecord,
    pub loaded: LoadedWorkflow,
    /// The tasks to run again, in the workflow's order; the caller executes the run with
    /// [`tidewater_engine::Resume::Tasks`].
    pub tasks: Vec<TaskIndex>,
}

impl Clearing {
    pub fn task_names(&self) -> Vec<&str> {
        self.tasks
            .iter()
            .map(|&index| self.loaded.workflow.task(index).name.as_str())
            .collect()
    }
}

/// What a clear does.
#[derive(Debug)]
pub enum Clear {
    /// The tasks are reset and the run queued again, in one store write; the server runs
    /// them (it resumes a queued run as `retry` does, so a failed or cancelled run's failed
    /// tasks run again too).
    Requeued {
        clearing: Clearing,
        server: ServiceRecord,
    },
    /// No server takes it: the caller executes the run with
    /// [`tidewater_engine::Resume::Tasks`] (nothing was recorded).
    ExecuteHere(Clearing),
}

impl Control {
    /// Clears `tasks` of run `id` (see [`Clear`]). Refused, with nothing recorded, for an
    /// empty list (invalid), an unknown run or task (not found), and a run another live
    /// process executes or, with a server up, a run that has not ended (conflict).
    pub async fn clear(
        &self,
        id: RunId,
        tasks: &[String],
        scope: ClearScope,
    ) -> ControlResult<Clear> {
        if tasks.is_empty() {
            return Err(ControlError::Invalid(
                "name at least one task to clear".to_owned(),
            ));
        }
        let clearing = self.clearing(id, tasks, scope).await?;
        let run = &clearing.run;
        if let Some(owner) = run.owner.filter(|owner| self.is_alive(*owner)) {
            return Err(ControlError::Conflict(format!(
                "run {} is being executed by process {}; clear its tasks once it has ended",
                run.id, owner.pid
            )));
        }
        let Some(server) = self.live_service().await? else {
            return Ok(Clear::ExecuteHere(clearing));
        };
        let not_ended = |state: &RunState| {
            ControlError::Conflict(format!(
                "run {} is {}; clear its tasks once it has ended",
                run.id,
                state.name()
            ))
        };
        if matches!(run.state, RunState::Queued | RunState::Running { .. }) {
            return Err(not_ended(&run.state));
        }
        let requeued = requeue_cleared(
            &*self.store,
            &*self.owners,
            &clearing.loaded.workflow,
            run.id,
            clearing.tasks.clone(),
            chrono::Utc::now(),
        )
        .await?;
        if let Requeued::Unchanged(state) = requeued {
            // It was queued again meanwhile (a retry): nothing was written.
            return Err(not_ended(&state));
        }
        // Told now rather than at its next look at the store.
        self.wake(server.process);
        Ok(Clear::Requeued { clearing, server })
    }

    /// Resolves which tasks of run `id` a clear of `tasks` runs again.
    pub async fn clearing(
        &self,
        id: RunId,
        tasks: &[String],
        scope: ClearScope,
    ) -> ControlResult<Clearing> {
        let run = self.run_record(id).await?;
        let loaded = self.pinned_workflow(&run).await?;
        let workflow = &loaded.workflow;
        let mut chosen: Vec<TaskIndex> = Vec::new();
        for name in tasks {
            let Some(index) = workflow.index_of(name) else {
                let known: Vec<&str> = workflow
                    .tasks()
                    .iter()
                    .map(|task| task.name.as_str())
                    .collect();
                return Err(ControlError::NotFound(format!(
                    "run {} has no task `{name}` (its tasks: {})",
                    run.id,
                    known.join(", ")
                )));
            };
            chosen.push(index);
        }
        let tasks = match scope {
            ClearScope::WithDownstream => workflow.dag().with_downstream(&chosen),
            ClearScope::Tasks => chosen,
        };
        Ok(Clearing { run, loaded, tasks })
    }
}
