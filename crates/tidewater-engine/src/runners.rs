//! One module per task kind that needs a runner here; `empty` has none (`decide` completes
//! it), and kinds that need the query engine (`sql`, `maintain`) are registered by the binary
//! from `tidewater-flow`.

mod sh;
mod wait;

use std::collections::HashMap;
use std::sync::Arc;

pub use sh::ShRunner;
pub use wait::{StoreRunProbe, WaitRunner};

use tidewater_core::{FailureClass, TaskAction};
use tokio::sync::mpsc;

use crate::{
    AttemptReport, AttemptReporter, PartitionProbe, RunProbe, StartRequest, StartedAttempt,
    TaskRunner,
};

/// The runners of every kind.
#[derive(Default)]
pub struct Runners {
    sh: ShRunner,
    wait: WaitRunner,
    /// Kept to rebuild `wait` when a run probe is added.
    partition_probe: Option<Arc<dyn PartitionProbe>>,
    registered: HashMap<&'static str, Arc<dyn TaskRunner>>,
}

impl Runners {
    /// Runners for `sh` and `wait`; `wait` on a table partition asks `probe`, and `wait` on
    /// another workflow's run needs [`Runners::with_run_probe`].
    pub fn new(probe: Option<Arc<dyn PartitionProbe>>) -> Runners {
        Runners {
            sh: ShRunner::default(),
            wait: WaitRunner::new(probe.clone(), None),
            partition_probe: probe,
            registered: HashMap::new(),
        }
    }

    /// Lets `wait: { workflow }` ask `probe` (e.g. a [`StoreRunProbe`] on the run store).
    pub fn with_run_probe(mut self, probe: Arc<dyn RunProbe>) -> Runners {
        self.wait = WaitRunner::new(self.partition_probe.clone(), Some(probe));
        self
    }

    /// Adds the runner of a kind implemented outside this crate (e.g. `sql`).
    pub fn register(&mut self, kind: &'static str, runner: Arc<dyn TaskRunner>) {
        self.registered.insert(kind, runner);
    }

    /// Finishes what the runners left for after the executor acted (see
    /// [`ShRunner::settle`]).
    pub fn settle(&self) {
        self.sh.settle();
    }

    /// The runner for a task's action, or `None` if no runner is installed for its kind.
    pub fn runner_for(&self, action: &TaskAction) -> Option<&dyn TaskRunner> {
        match action {
            TaskAction::Sh { .. } => Some(&self.sh),
            TaskAction::Wait(_) => Some(&self.wait),
            TaskAction::Empty => None,
            TaskAction::Sql(_) | TaskAction::Maintain(_) => self
                .registered
                .get(action.kind())
                .map(|runner| runner.as_ref()),
        }
    }

    /// Starts the attempt `request` describes with its kind's runner, which reports its
    /// outcome on `done`. Every attempt is supervised here, whatever its runner: the runner
    /// reports through an [`AttemptReporter`], which reports a bug if it is dropped
    /// unreported, and a runner that panics while starting has its reporter dropped with
    /// its stack, so the attempt is reported failed and the executor goes on.
    pub fn start(
        &self,
        request: StartRequest<'_>,
        done: &mpsc::UnboundedSender<AttemptReport>,
    ) -> StartedAttempt {
        let reporter = AttemptReporter::for_request(&request, done.clone());
        let kind = request.task.action.kind();
        let Some(runner) = self.runner_for(&request.task.action) else {
            reporter.could_not_start(
                FailureClass::Bug,
                format!(
                    "no runner for `{kind}` tasks is installed in this build; this is a bug in tidewater"
                ),
            );
            return StartedAttempt::finished();
        };
        // The request and the runner are not used after a panic: unwind safety holds.
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runner.start(request, reporter)
        }));
        started.unwrap_or_else(|_| StartedAttempt::finished())
    }
}
