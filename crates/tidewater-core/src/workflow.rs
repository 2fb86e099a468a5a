use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;

use crate::{
    Dag, DagError, PoolName, RetryPolicy, Schedule, TaskAction, TaskIndex, TaskName, TriggerRule,
    WorkflowName,
};

/// A named DAG of tasks with its schedule: everything needed to run it, already checked.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub name: WorkflowName,
    pub schedule: Option<Schedule>,
    pub timezone: chrono_tz::Tz,
    /// The first data interval starts at or after this date (in `timezone`).
    pub start: Option<NaiveDate>,
    pub catchup: bool,
    pub max_active_runs: u32,
    /// How many of this workflow's tasks may run at once across its runs.
    pub max_active_tasks: Option<u32>,
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The steps of the DAG, then the handlers (`on_failure`, `on_success`).
    tasks: Vec<Task>,
    dag: Dag,
    by_name: HashMap<TaskName, TaskIndex>,
}

/// One node of a workflow.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: TaskName,
    pub action: TaskAction,
    pub needs: Vec<TaskIndex>,
    pub trigger: TriggerRule,
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    pub pool: Option<PoolName>,
    pub pool_slots: u32,
    pub priority: i32,
    pub role: TaskRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskRole {
    /// A node of the DAG.
    Step,
    /// A workflow handler that runs once the steps are done.
    Handler(HandlerKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerKind {
    OnFailure,
    OnSuccess,
}

impl HandlerKind {
    pub fn task_name(self) -> &'static str {
        match self {
            HandlerKind::OnFailure => "on_failure",
            HandlerKind::OnSuccess => "on_success",
        }
    }
}

/// The parts of a workflow other than its tasks.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub name: WorkflowName,
    pub schedule: Option<Schedule>,
    pub timezone: chrono_tz::Tz,
    pub start: Option<NaiveDate>,
    pub catchup: bool,
    pub max_active_runs: u32,
    pub max_active_tasks: Option<u32>,
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl Workflow {
    /// Builds a workflow; fails if the steps do not form a DAG. Handlers must come after
    /// the steps and have no `needs`.
    pub fn new(settings: WorkflowSettings, tasks: Vec<Task>) -> Result<Workflow, DagError> {
        let dag = Dag::new(&tasks)?;
        let by_name = tasks
            .iter()
            .enumerate()
            .map(|(index, task)| (task.name.clone(), TaskIndex(index as u32)))
            .collect();
        Ok(Workflow {
            name: settings.name,
            schedule: settings.schedule,
            timezone: settings.timezone,
            start: settings.start,
            catchup: settings.catchup,
            max_active_runs: settings.max_active_runs,
            max_active_tasks: settings.max_active_tasks,
            params: settings.params,
            tasks,
            dag,
            by_name,
        })
    }

    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    pub fn task(&self, index: TaskIndex) -> &Task {
        &self.tasks[index.get()]
    }

    pub fn index_of(&self, name: &str) -> Option<TaskIndex> {
        self.by_name.get(name).copied()
    }

    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    pub fn handler(&self, kind: HandlerKind) -> Option<TaskIndex> {
        self.tasks
            .iter()
            .position(|task| task.role == TaskRole::Handler(kind))
            .map(|index| TaskIndex(index as u32))
    }

    pub fn indices(&self) -> impl Iterator<Item = TaskIndex> + '_ {
        (0..self.tasks.len() as u32).map(TaskIndex)
    }
}
