//! JSON shape of the server's health (`status` without a run).

use serde::Serialize;

use crate::health::{Health, WorkflowHealth};

/// `status --json`.
#[derive(Debug, Serialize)]
pub struct HealthJson {
    /// The running server's pid, if one runs.
    pub server: Option<i32>,
    pub server_started_at: Option<String>,
    pub workflows: Vec<WorkflowHealthJson>,
    pub running_runs: usize,
    /// Of the running runs, those whose process died (`tidewater retry` resumes each).
    pub orphaned_runs: usize,
    pub queued_runs: usize,
}

/// One workflow file in the server's health.
#[derive(Debug, Serialize)]
pub struct WorkflowHealthJson {
    pub file: String,
    pub workflow: Option<String>,
    /// The version the server schedules (the last good one).
    pub workflow_hash: Option<String>,
    pub paused: bool,
    pub next_due: Option<String>,
    pub running: usize,
    pub queued: usize,
    pub problem: Option<String>,
}

impl HealthJson {
    pub fn new(health: &Health) -> HealthJson {
        HealthJson {
            server: health.server_pid,
            server_started_at: health
                .service
                .map(|service| service.started_at.to_rfc3339()),
            workflows: health
                .workflows
                .iter()
                .map(WorkflowHealthJson::new)
                .collect(),
            running_runs: health.running_runs,
            orphaned_runs: health.orphaned.len(),
            queued_runs: health.queued_runs,
        }
    }
}

impl WorkflowHealthJson {
    pub fn new(workflow: &WorkflowHealth) -> WorkflowHealthJson {
        WorkflowHealthJson {
            file: workflow.file.clone(),
            workflow: workflow.workflow.as_ref().map(ToString::to_string),
            workflow_hash: workflow.workflow_hash.clone(),
            paused: workflow.is_paused,
            next_due: workflow.next_due.map(|due| due.to_rfc3339()),
            running: workflow.running,
            queued: workflow.queued,
            problem: workflow.problem.clone(),
        }
    }
}
