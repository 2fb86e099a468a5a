//! [`Health`]: the read model behind `tidewater status` without a run: is a server up, its
//! workflows and their next due times, running and queued work, broken files.

use std::collections::{HashMap, HashSet};

use tidewater_core::{RunState, Timestamp, WorkflowName};
use tidewater_store::{ServerId, ServiceRecord};

use crate::Control;
use crate::control_error::ControlResult;
use crate::run_entry::RunEntry;

/// The server's health as the store records it.
#[derive(Debug, Clone)]
pub struct Health {
    /// The running server, if one is alive.
    pub service: Option<ServiceRecord>,
    /// Its process id: the recorded owner's, or for a server holding a lease on a shared
    /// store (whose recorded owner names the lease, not a process) the pid it registered.
    pub server_pid: Option<i32>,
    /// Each workflow file as the running server last reported it (none without a server).
    pub workflows: Vec<WorkflowHealth>,
    pub running_runs: usize,
    pub queued_runs: usize,
    /// The running runs whose process died (`tidewater retry` resumes each).
    pub orphaned: Vec<RunEntry>,
}

/// One workflow file as the server reported it, with its runs counted.
#[derive(Debug, Clone)]
pub struct WorkflowHealth {
    /// The file, relative to the project.
    pub file: String,
    /// `None` when the file never loaded well enough to name its workflow.
    pub workflow: Option<WorkflowName>,
    /// The version the server schedules (the last good one).
    pub workflow_hash: Option<String>,
    pub is_paused: bool,
    pub next_due: Option<Timestamp>,
    /// The zone the workflow's file now names (UTC for a file that does not load), in which
    /// its due time is written.
    pub timezone: chrono_tz::Tz,
    pub running: usize,
    pub queued: usize,
    /// Why the file on disk cannot be used now.
    pub problem: Option<String>,
}

impl Control {
    /// The server's health: read from the store, where a running server reports it.
    pub async fn health(&self) -> ControlResult<Health> {
        let service = self.live_service().await?;
        let files = if service.is_some() {
            self.store.workflow_health().await?
        } else {
            Vec::new()
        };
        let paused: HashSet<WorkflowName> =
            self.store.paused_workflows().await?.into_iter().collect();
        let active = self.store.active_runs().await?;
        let count = |workflow: &Option<WorkflowName>, is_queued: bool| {
            active
                .iter()
                .filter(|run| Some(&run.workflow) == workflow.as_ref())
                .filter(|run| matches!(run.state, RunState::Queued) == is_queued)
                .count()
        };
        // Each workflow's due time in its own zone; a file that does not load has none.
        let timezones: HashMap<WorkflowName, chrono_tz::Tz> = if files.is_empty() {
            HashMap::new()
        } else {
            let (loaded, _) = self.project.load_workflows();
            loaded
                .into_iter()
                .map(|loaded| (loaded.workflow.name, loaded.workflow.timezone))
                .collect()
        };
        let workflows = files
            .into_iter()
            .map(|file| WorkflowHealth {
                running: count(&file.workflow, false),
                queued: count(&file.workflow, true),
                is_paused: file
                    .workflow
                    .as_ref()
                    .is_some_and(|workflow| paused.contains(workflow)),
                timezone: file
                    .workflow
                    .as_ref()
                    .and_then(|workflow| timezones.get(workflow))
                    .copied()
                    .unwrap_or(chrono_tz::UTC),
                file: file.file,
                workflow: file.workflow,
                workflow_hash: file.workflow_hash,
                next_due: file.next_due,
                problem: file.problem,
            })
            .collect();
        let running_runs = active
            .iter()
            .filter(|run| matches!(run.state, RunState::Running { .. }))
            .count();
        let queued_runs = active
            .iter()
            .filter(|run| matches!(run.state, RunState::Queued))
            .count();
        let orphaned = active
            .into_iter()
            .map(|run| RunEntry::new(run, &*self.owners))
            .filter(|run| run.is_orphaned)
            .collect();
        let server_pid = match (&service, self.store.servers()) {
            (None, _) => None,
            (Some(service), Some(servers)) if ServerId::of_owner(service.process).is_some() => {
                let id = ServerId::of_owner(service.process);
                servers
                    .live_servers()
                    .await?
                    .servers
                    .iter()
                    .find(|server| Some(server.id) == id)
                    .map(|server| server.pid)
            }
            (Some(service), _) => Some(service.process.pid),
        };
        Ok(Health {
            service,
            server_pid,
            workflows,
            running_runs,
            queued_runs,
            orphaned,
        })
    }
}
