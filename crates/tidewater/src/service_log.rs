//! What `tidewater server` prints: one line per run and task state change, prefixed with the
//! time, the workflow and the run, on stderr.

use tidewater_core::{Change, RunId, RunState, RunView, Workflow, WorkflowName};
use tidewater_engine::{RunObserver, ServiceObserver};
use tidewater_store::RunRecord;

use crate::progress::{describe_lost, describe_task};

pub struct ServiceLog;

impl ServiceLog {
    pub fn line(&self, message: &str) {
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f");
        let mut text = String::new();
        for line in message.lines() {
            text.push_str(&format!("{now} {line}\n"));
        }
        eprint!("{text}");
    }
}

impl RunObserver for ServiceLog {
    fn changed(&self, run: RunId, workflow: &Workflow, changes: &[Change], _view: &RunView) {
        let mut text = String::new();
        for change in changes {
            match change {
                Change::Task { task, instance } => text.push_str(&format!(
                    "{} run {run}: {}\n",
                    workflow.name,
                    describe_task(task.as_str(), &instance.state)
                )),
                Change::Run(state) => {
                    text.push_str(&format!("{} run {run} {}\n", workflow.name, state.name()))
                }
                _ => {
                    if let Some(line) = describe_lost(change) {
                        text.push_str(&format!("{} run {run}: {line}\n", workflow.name));
                    }
                }
            }
        }
        if !text.is_empty() {
            self.line(text.trim_end());
        }
    }
}

impl ServiceObserver for ServiceLog {
    fn run_created(&self, run: &RunRecord) {
        self.line(&format!(
            "{} run {} created for {} ({})",
            run.workflow,
            run.id,
            run.interval.start.to_rfc3339(),
            run.trigger.as_str()
        ));
    }

    fn run_started(&self, run: &RunRecord) {
        let how = match run.state {
            RunState::Running { .. } => "resumed after its executor stopped",
            _ => "starting",
        };
        self.line(&format!("{} run {} {how}", run.workflow, run.id));
    }

    fn run_ended(&self, run: RunId, workflow: &WorkflowName, state: &Result<RunState, String>) {
        match state {
            Ok(state) => self.line(&format!("{workflow} run {run} ended {}", state.name())),
            Err(error) => self.line(&format!("{workflow} run {run} stopped: {error}")),
        }
    }

    fn cancel_requested(&self, run: RunId, workflow: &WorkflowName) {
        self.line(&format!("{workflow} run {run}: cancel requested"));
    }

    fn problem(&self, message: &str) {
        self.line(message);
    }
}
