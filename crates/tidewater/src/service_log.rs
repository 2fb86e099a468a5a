//! What `tidewater server` prints: one line per run and task state change, prefixed with the
//! time, the workflow and the run, on stderr.

use std::sync::{Arc, OnceLock};

use tidewater_core::{Change, RunId, RunState, RunView, Workflow, WorkflowName};
use tidewater_engine::{Catalog, RunObserver, ServiceObserver};
use tidewater_store::RunRecord;
use tokio::sync::watch;

use crate::progress::{describe_lost, describe_task};
use tidewater_control::{ServerReport, local_time};

#[derive(Default)]
pub(crate) struct ServiceLog {
    /// The workflows the server schedules, for the time zone a new run's interval is written
    /// in; set once the files are read.
    catalog: OnceLock<watch::Receiver<Arc<Catalog>>>,
}

impl ServerReport for ServiceLog {
    /// Writes new runs' intervals in their workflow's zone, as found in `catalog`.
    fn follow_catalog(&self, catalog: watch::Receiver<Arc<Catalog>>) {
        let _ = self.catalog.set(catalog);
    }

    /// One line per line of `message`, each prefixed with the time in UTC: the server serves
    /// workflows of many zones, and its log's own clock is none of theirs.
    fn line(&self, message: &str) {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f UTC");
        let mut text = String::new();
        for line in message.lines() {
            text.push_str(&format!("{now} {line}\n"));
        }
        eprint!("{}", crate::output::redact(&text));
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
                    describe_task(task.as_str(), &instance.state, workflow.timezone)
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
        // A run is created from the catalog's current version of its workflow.
        let timezone = self
            .catalog
            .get()
            .and_then(|catalog| {
                catalog
                    .borrow()
                    .workflows
                    .get(&run.workflow)
                    .map(|loaded| loaded.workflow.timezone)
            })
            .unwrap_or(chrono_tz::UTC);
        self.line(&format!(
            "{} run {} created for {} ({} to {}, {})",
            run.workflow,
            run.id,
            run.interval.ds(timezone),
            local_time::minutes(run.interval.start, timezone),
            local_time::minutes(run.interval.end, timezone),
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
