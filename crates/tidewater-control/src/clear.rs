//! Clearing tasks of a run: chosen tasks (and, if asked, everything downstream of them) are
//! reset and run again.

use tidewater_core::{RunId, TaskIndex};
use tidewater_spec::LoadedWorkflow;
use tidewater_store::RunRecord;

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

impl Control {
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
