//! `tidewater ballista scheduler|executor`: Ballista's own scheduler and executor, hosted in
//! this binary when it is built with the `ballista` feature, so that a cluster needs no
//! second build of DataFusion (Ballista's `cargo install` takes over an hour on 2 cores).

use std::sync::Arc;

use tidewater_flow::RemoteEngines;
use tidewater_spec::Project;

use crate::Outcome;
use crate::args::BallistaCommand;

#[cfg(feature = "ballista")]
pub(super) async fn ballista(command: BallistaCommand) -> anyhow::Result<Outcome> {
    use crate::args::{BallistaExecutorArgs, BallistaSchedulerArgs};
    use anyhow::Context;
    use tidewater_ballista::{ExecutorSettings, SchedulerSettings};

    // Ballista's services want a multi-threaded runtime (its released programs build one with
    // 32 MiB stacks); this command does nothing else, so its thread just waits for them.
    let outcome = std::thread::Builder::new()
        .name("ballista".to_owned())
        .spawn(move || match command {
            BallistaCommand::Scheduler(BallistaSchedulerArgs {
                bind,
                port,
                executor_timeout,
            }) => tidewater_ballista::run_scheduler(SchedulerSettings {
                bind,
                port,
                executor_timeout_seconds: executor_timeout,
            }),
            BallistaCommand::Executor(BallistaExecutorArgs {
                scheduler,
                bind,
                port,
                grpc_port,
                concurrent_tasks,
                work_dir,
                heartbeat_interval,
            }) => tidewater_ballista::run_executor(ExecutorSettings {
                scheduler,
                bind,
                port,
                grpc_port: grpc_port.unwrap_or(port.saturating_add(1)),
                concurrent_tasks,
                work_dir,
                heartbeat_interval_seconds: heartbeat_interval,
            }),
        })
        .context("cannot start the Ballista thread")?
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    outcome?;
    Ok(Outcome::Success)
}

#[cfg(not(feature = "ballista"))]
pub(super) async fn ballista(_command: BallistaCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!(
        "this tidewater was built without the `ballista` feature; build it with \
         `cargo build --release -p tidewater --features ballista`"
    )
}

/// The project's `[engines]` as the runner of `sql` tasks reaches them: `None` in a build
/// without the `ballista` feature (a task naming an engine then fails and says so).
#[cfg(feature = "ballista")]
pub(crate) fn remote_engines(project: &Project) -> Option<Arc<dyn RemoteEngines>> {
    Some(Arc::new(tidewater_ballista::BallistaEngines::new(
        project.config.engines.clone(),
    )))
}

#[cfg(not(feature = "ballista"))]
pub(crate) fn remote_engines(_project: &Project) -> Option<Arc<dyn RemoteEngines>> {
    None
}
