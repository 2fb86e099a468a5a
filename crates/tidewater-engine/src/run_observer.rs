use tidewater_core::{Change, RunId, RunView, Workflow};

/// Told about every persisted change of a run, e.g. to show progress.
pub trait RunObserver: Send + Sync {
    fn changed(&self, run: RunId, workflow: &Workflow, changes: &[Change], view: &RunView);
}

/// Shows nothing.
#[derive(Debug, Default)]
pub struct SilentObserver;

impl RunObserver for SilentObserver {
    fn changed(&self, _: RunId, _: &Workflow, _: &[Change], _: &RunView) {}
}
