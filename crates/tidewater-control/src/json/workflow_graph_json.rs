//! JSON shape of one workflow's tasks and DAG, as its file is now.

use serde::Serialize;
use tidewater_core::{TaskRole, Workflow};

/// A workflow's tasks in execution order and the edges between them (`GET
/// /api/v1/workflows/{name}`; `tidewater show` draws the same graph).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkflowGraphJson {
    pub workflow: String,
    /// The cron expression; `null` for a workflow run only by hand.
    pub schedule: Option<String>,
    pub timezone: String,
    pub max_active_runs: u32,
    /// The steps in execution order, then the handlers.
    pub tasks: Vec<GraphTaskJson>,
    /// `from` must finish before `to` starts.
    pub edges: Vec<GraphEdgeJson>,
}

/// One task of a workflow.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphTaskJson {
    pub task: String,
    /// `sh`, `sql`, `sensor`, ...
    pub kind: &'static str,
    /// The tasks it needs.
    pub needs: Vec<String>,
    /// When it runs given its upstream tasks' states (`all_success`, ...).
    pub trigger: &'static str,
    /// `on_failure`, `on_success` or `on_deadline_miss` for a handler; `null` for a step.
    pub handler: Option<&'static str>,
}

/// An edge of the DAG.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphEdgeJson {
    pub from: String,
    pub to: String,
}

impl WorkflowGraphJson {
    pub fn new(workflow: &Workflow) -> WorkflowGraphJson {
        let dag = workflow.dag();
        let name = |index| workflow.task(index).name.to_string();
        let steps = dag
            .order()
            .iter()
            .copied()
            .filter(|&index| workflow.task(index).role == TaskRole::Step);
        let handlers = workflow
            .indices()
            .filter(|&index| workflow.task(index).role != TaskRole::Step);
        let tasks: Vec<GraphTaskJson> = steps
            .chain(handlers)
            .map(|index| {
                let task = workflow.task(index);
                GraphTaskJson {
                    task: task.name.to_string(),
                    kind: task.action.kind(),
                    needs: dag.upstream(index).iter().map(|&up| name(up)).collect(),
                    trigger: task.trigger.as_str(),
                    handler: match task.role {
                        TaskRole::Step => None,
                        TaskRole::Handler(kind) => Some(kind.task_name()),
                    },
                }
            })
            .collect();
        let edges = dag
            .order()
            .iter()
            .flat_map(|&index| {
                dag.upstream(index).iter().map(move |&up| GraphEdgeJson {
                    from: name(up),
                    to: name(index),
                })
            })
            .collect();
        WorkflowGraphJson {
            workflow: workflow.name.to_string(),
            schedule: workflow
                .schedule
                .as_ref()
                .map(|schedule| schedule.expression().to_owned()),
            timezone: workflow.timezone.name().to_owned(),
            max_active_runs: workflow.max_active_runs,
            tasks,
            edges,
        }
    }
}
