//! One module per task kind that needs a runner here; `empty` has none (`decide` completes
//! it), kinds that need the query engine (`sql`, `maintain`) are registered by the binary
//! from `tidewater-flow`, and `http` from `tidewater-http`.

mod call;
mod remote;
mod sh;
mod wait;

use std::sync::Arc;

pub use call::CallRunner;
pub use remote::{LeaseSettings, RemoteAttemptContext, RemoteAttempts, worker_store};
pub use sh::{ShCommand, ShRunner};
pub use wait::{StoreRunProbe, WaitRunner};

use tidewater_core::{FailureClass, HttpAction, MaintainAction, SqlAction, TaskAction};
use tokio::sync::mpsc;

use crate::{
    AttemptReport, AttemptReporter, ChildRuns, PartitionProbe, RunProbe, StartRequest,
    StartedAttempt, TaskRunner,
};

/// The runner of each task kind. Its key is the kind itself: one field per kind, and
/// [`Runners::start`] is one exhaustive `match` on the task's action that hands each runner
/// its own kind's action, typed. A map from a kind's name to `dyn TaskRunner` would need one
/// action type for all kinds, and each runner would check again that it was given its own.
#[derive(Default)]
pub struct Runners {
    sh: ShRunner,
    wait: WaitRunner,
    /// Kept to rebuild `wait` when a run probe is added.
    partition_probe: Option<Arc<dyn PartitionProbe>>,
    /// The kinds that need the query engine: registered by the binary from `tidewater-flow`.
    sql: Option<Arc<dyn TaskRunner<SqlAction>>>,
    maintain: Option<Arc<dyn TaskRunner<MaintainAction>>>,
    /// `http`: registered by the binary from `tidewater-http`, which keeps the HTTP client.
    http: Option<Arc<dyn TaskRunner<HttpAction>>>,
    /// `call`: needs the store's child runs ([`Runners::with_child_runs`]).
    call: CallRunner,
    /// Tasks with a `queue`, whatever their kind, are offered to workers through this when
    /// it is installed ([`Runners::with_workers`], by the server); without it they run here.
    remote: Option<Arc<remote::RemoteAttempts>>,
}

impl Runners {
    /// Runners for `sh` and `wait`; `wait` on a table partition asks `probe`, and `wait` on
    /// another workflow's run needs [`Runners::with_run_probe`].
    pub fn new(probe: Option<Arc<dyn PartitionProbe>>) -> Runners {
        Runners {
            sh: ShRunner::default(),
            wait: WaitRunner::new(probe.clone(), None),
            partition_probe: probe,
            sql: None,
            maintain: None,
            http: None,
            call: CallRunner::default(),
            remote: None,
        }
    }

    /// Hands the attempts of tasks with a `queue` to workers through `remote`.
    pub fn with_workers(mut self, remote: Arc<remote::RemoteAttempts>) -> Runners {
        self.remote = Some(remote);
        self
    }

    /// Lets `wait: { workflow }` ask `probe` (e.g. a [`StoreRunProbe`] on the run store).
    pub fn with_run_probe(mut self, probe: Arc<dyn RunProbe>) -> Runners {
        self.wait = WaitRunner::new(self.partition_probe.clone(), Some(probe));
        self
    }

    /// Lets `call` start and follow child runs through `child_runs`.
    pub fn with_child_runs(mut self, child_runs: Arc<dyn ChildRuns>) -> Runners {
        self.call = CallRunner::new(child_runs);
        self
    }

    /// Installs the runner of `sql` tasks (implemented outside this crate).
    pub fn register_sql(&mut self, runner: Arc<dyn TaskRunner<SqlAction>>) {
        self.sql = Some(runner);
    }

    /// Installs the runner of `maintain` tasks (implemented outside this crate).
    pub fn register_maintain(&mut self, runner: Arc<dyn TaskRunner<MaintainAction>>) {
        self.maintain = Some(runner);
    }

    /// Installs the runner of `http` tasks (implemented outside this crate).
    pub fn register_http(&mut self, runner: Arc<dyn TaskRunner<HttpAction>>) {
        self.http = Some(runner);
    }

    /// Finishes what the runners left for after the executor acted (see
    /// [`ShRunner::settle`]).
    pub fn settle(&self) {
        self.sh.settle();
    }

    /// Whether a runner for the kind of `action` is installed.
    pub fn has_runner_for(&self, action: &TaskAction) -> bool {
        match action {
            TaskAction::Sh { .. } | TaskAction::Wait(_) | TaskAction::Call(_) => true,
            TaskAction::Empty => false,
            TaskAction::Sql(_) => self.sql.is_some(),
            TaskAction::Maintain(_) => self.maintain.is_some(),
            TaskAction::Http(_) => self.http.is_some(),
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
        let action = &request.task.action;
        if let (Some(queue), Some(remote)) = (&request.task.queue, &self.remote) {
            let queue = queue.clone();
            let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                remote::start_remote(remote, &queue, request, reporter)
            }));
            return started.unwrap_or_else(|_| StartedAttempt::finished());
        }
        // The request and the runner are not used after a panic: unwind safety holds.
        let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match action {
            TaskAction::Sh { command, env } => {
                let action = ShCommand {
                    command: command.as_str(),
                    env: env.as_slice(),
                };
                self.sh.start(&action, request, reporter)
            }
            TaskAction::Wait(wait) => self.wait.start(wait, request, reporter),
            TaskAction::Call(call) => self.call.start(call, request, reporter),
            TaskAction::Sql(sql) => match &self.sql {
                Some(runner) => runner.start(sql, request, reporter),
                None => not_installed(action, reporter),
            },
            TaskAction::Maintain(maintain) => match &self.maintain {
                Some(runner) => runner.start(maintain, request, reporter),
                None => not_installed(action, reporter),
            },
            TaskAction::Http(http) => match &self.http {
                Some(runner) => runner.start(http, request, reporter),
                None => not_installed(action, reporter),
            },
            // `decide` completes `empty` tasks; one reaching a runner is a bug.
            TaskAction::Empty => not_installed(action, reporter),
        }));
        started.unwrap_or_else(|_| StartedAttempt::finished())
    }
}

/// Fails an attempt whose kind has no runner in this build.
fn not_installed(action: &TaskAction, reporter: AttemptReporter) -> StartedAttempt {
    reporter.could_not_start(
        FailureClass::Bug,
        format!(
            "no runner for `{}` tasks is installed in this build; this is a bug in tidewater",
            action.kind()
        ),
    );
    StartedAttempt::finished()
}
