//! [`TaskGrid`]: the read model behind the web UI's grid: a page of one workflow's runs,
//! newest first, each with its task instances, and the tasks as columns.

use tidewater_core::{RunId, TaskInstance, TaskName, WorkflowName};
use tidewater_store::RunFilter;

use crate::Control;
use crate::control_error::ControlResult;
use crate::run_entry::RunEntry;

/// Runs × tasks of one workflow: one row per run, one column per task.
#[derive(Debug, Clone)]
pub struct TaskGrid {
    /// The columns: the tasks of the workflow's file as it is now, in its order, then those
    /// only older runs had (a task removed from the file), in the order first met.
    pub tasks: Vec<TaskName>,
    /// The zone of the workflow's file as it is now (UTC if it does not load), in which the
    /// runs' intervals are dated.
    pub timezone: chrono_tz::Tz,
    /// Newest first.
    pub rows: Vec<GridRow>,
    /// The cursor of the next (older) page; `None` on the last page.
    pub next_before: Option<RunId>,
}

/// One run of the grid and its task instances.
#[derive(Debug, Clone)]
pub struct GridRow {
    pub run: RunEntry,
    /// In the order the store lists them; a task the run does not have is absent.
    pub instances: Vec<(TaskName, TaskInstance)>,
}

impl GridRow {
    /// This run's instance of `task`, if the run has that task.
    pub fn instance(&self, task: &TaskName) -> Option<&TaskInstance> {
        self.instances
            .iter()
            .find(|(name, _)| name == task)
            .map(|(_, instance)| instance)
    }
}

impl Control {
    /// At most `limit` runs of `workflow` listed after `before` (newest first), each with its
    /// task instances. Reads one page of runs and the instances of each: the cost is the
    /// page's, not the history's.
    pub async fn task_grid(
        &self,
        workflow: &WorkflowName,
        before: Option<RunId>,
        limit: u32,
    ) -> ControlResult<TaskGrid> {
        let records = self
            .store
            .list_runs(&RunFilter {
                workflow: Some(workflow.clone()),
                before,
                limit: Some(limit),
                ..RunFilter::default()
            })
            .await?;
        let next_before = (records.len() == limit as usize)
            .then(|| records.last().map(|record| record.id))
            .flatten();
        // The file as it is now gives the column order; a broken or deleted file leaves the
        // order the runs' own instances have.
        let (mut tasks, timezone): (Vec<TaskName>, chrono_tz::Tz) =
            match self.load_workflow(workflow.as_str()) {
                Ok(loaded) => (
                    loaded
                        .workflow
                        .tasks()
                        .iter()
                        .map(|task| task.name.clone())
                        .collect(),
                    loaded.workflow.timezone,
                ),
                Err(_) => (Vec::new(), chrono_tz::UTC),
            };
        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            let instances = self.store.task_instances(record.id).await?;
            for (name, _) in &instances {
                if !tasks.contains(name) {
                    tasks.push(name.clone());
                }
            }
            rows.push(GridRow {
                run: RunEntry::new(record, &*self.owners),
                instances,
            });
        }
        Ok(TaskGrid {
            tasks,
            timezone,
            rows,
            next_before,
        })
    }
}
