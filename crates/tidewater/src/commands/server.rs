//! `tidewater server`: the scheduler and the local executor, until SIGTERM or Ctrl-C.

use std::path::Path;
use std::sync::Arc;

use tidewater_control::ServerReport;
use tokio::signal::unix::{SignalKind, signal};

use crate::Outcome;
use crate::args::ServerArgs;
use crate::service_log::ServiceLog;

pub(super) async fn server(project: &Path, args: ServerArgs) -> anyhow::Result<Outcome> {
    let control = crate::project_context::open(project).await?;
    let me = control.claim_server().await?;
    let log = Arc::new(ServiceLog::default());
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let result = control
        .serve(me, args.execution.parallelism, log.clone(), stop)
        .await;
    control.release_server(me).await?;
    result?;
    log.line("server stopped");
    Ok(Outcome::Success)
}
