//! Following a run that another process executes, from the store: what changed since the
//! last look. `tidewater run` follows a run it handed to the server this way, and the HTTP
//! API's event stream can too.

use std::collections::HashMap;

use tidewater_core::{Change, RunId, RunState, RunView, TaskInstance, TaskName, Workflow};
use tidewater_store::RunRecord;

use crate::Control;
use crate::control_error::{ControlError, ControlResult};

/// What a watcher has seen of a run so far.
#[derive(Debug)]
pub struct RunWatch {
    run: RunId,
    known: HashMap<TaskName, TaskInstance>,
    known_state: Option<RunState>,
}

/// What changed since the last look.
#[derive(Debug)]
pub struct RunUpdate {
    pub record: RunRecord,
    /// The tasks' changes, then the run's own (a run ends after its last tasks, so a look
    /// that sees both gives them in that order).
    pub changes: Vec<Change>,
    /// The run as it is now, when something changed.
    pub view: Option<RunView>,
    /// Nobody executes the unfinished run any more: its owner died and no server runs.
    pub is_abandoned: bool,
}

impl Control {
    /// Starts watching run `id`: what it looks like now is not news, only changes from here
    /// on are reported (its state is, once, on the first look).
    pub async fn watch_run(&self, id: RunId) -> ControlResult<RunWatch> {
        Ok(RunWatch {
            run: id,
            known: self.store.task_instances(id).await?.into_iter().collect(),
            known_state: None,
        })
    }

    /// What changed in the watched run since the last look.
    pub async fn run_update(
        &self,
        watch: &mut RunWatch,
        workflow: &Workflow,
    ) -> ControlResult<RunUpdate> {
        let run = watch.run;
        let record = self.store.run(run).await?.ok_or_else(|| {
            ControlError::NotFound(format!("run {run} disappeared from the store"))
        })?;
        let instances = self.store.task_instances(run).await?;
        let mut changes = Vec::new();
        for (task, instance) in &instances {
            if watch.known.get(task) != Some(instance) {
                changes.push(Change::Task {
                    task: task.clone(),
                    instance: instance.clone(),
                });
                watch.known.insert(task.clone(), instance.clone());
            }
        }
        if watch.known_state.as_ref() != Some(&record.state) {
            changes.push(Change::Run(record.state.clone()));
            watch.known_state = Some(record.state.clone());
        }
        let view = (!changes.is_empty()).then(|| {
            let tasks = workflow
                .tasks()
                .iter()
                .map(|task| watch.known.get(&task.name).cloned().unwrap_or_default())
                .collect();
            RunView::new(workflow, record.state.clone(), record.interval, tasks)
        });
        let is_abandoned = !record.state.is_terminal()
            && !record.owner.is_some_and(|owner| self.is_alive(owner))
            && self.live_service().await?.is_none();
        Ok(RunUpdate {
            record,
            changes,
            view,
            is_abandoned,
        })
    }
}
