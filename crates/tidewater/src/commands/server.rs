//! `tidewater server`: the scheduler and the local executor, until SIGTERM or Ctrl-C.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::bail;
use tidewater_engine::{Scope, Service, SystemClock, is_alive};
use tidewater_store::{ServiceClaim, Store, StoreError};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Notify, watch};

use crate::Outcome;
use crate::args::ServerArgs;
use crate::project_context::ProjectContext;
use crate::service_log::ServiceLog;
use crate::workflow_catalog::watch_catalog;

/// How often the server looks at its store's files and checkpoints what it wrote: the
/// service's own polling period.
const STORE_LOOK: Duration = Duration::from_secs(2);

pub(super) async fn server(project: &Path, args: ServerArgs) -> anyhow::Result<Outcome> {
    let context = ProjectContext::open(project).await?;
    let me = crate::service_client::my_identity()?;
    let now = chrono::Utc::now();
    match context.store.claim_service(None, me, now).await? {
        ServiceClaim::Claimed => {}
        ServiceClaim::Held(other) if is_alive(other.process) => bail!(
            "a server already runs on this project (pid {}, since {}); stop it first",
            other.process.pid,
            crate::local_time::utc(other.started_at)
        ),
        ServiceClaim::Held(dead) => {
            if let ServiceClaim::Held(other) = context
                .store
                .claim_service(Some(dead.process), me, now)
                .await?
            {
                bail!(
                    "another server started at the same time (pid {})",
                    other.process.pid
                );
            }
        }
    }
    let log = Arc::new(ServiceLog::default());
    let result = serve(&context, args, me, log.clone()).await;
    context.store.release_service(me).await?;
    result?;
    log.line("server stopped");
    Ok(Outcome::Success)
}

async fn serve(
    context: &ProjectContext,
    args: ServerArgs,
    me: tidewater_core::ProcessIdentity,
    log: Arc<ServiceLog>,
) -> anyhow::Result<()> {
    let project = Arc::new(context.project.clone());
    let catalog_log = log.clone();
    let (catalog, _watcher) = watch_catalog(project.clone(), move |line| catalog_log.line(line))?;
    log.follow_catalog(catalog.clone());
    let executor = Arc::new(context.executor(args.execution.parallelism, log.clone())?);
    let service = Service {
        store: context.store.clone(),
        clock: Arc::new(SystemClock),
        executor,
        project,
        scope: Scope::Everything,
        observer: log.clone(),
    };
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut user1 = signal(SignalKind::user_defined1())?;
    let files_changed: OnceLock<StoreError> = OnceLock::new();
    let store_watch = watch_store(&*context.store, &files_changed, &log, stop.clone());
    let signals = {
        let wake = wake.clone();
        let log = log.clone();
        async move {
            loop {
                tokio::select! {
                    _ = interrupt.recv() => break,
                    _ = terminate.recv() => break,
                    // Another command queued work or changed a pause: look now.
                    _ = user1.recv() => wake.notify_one(),
                }
            }
            log.line(
                "stopping: no new runs start; running tasks get SIGTERM, then SIGKILL after 10s; their runs resume when a server starts again",
            );
            let _ = stop.send(true);
            std::future::pending::<()>().await;
        }
    };
    log.line(&format!(
        "server started (pid {}) on {}",
        me.pid,
        context.project.root.display()
    ));
    tokio::select! {
        result = service.run(catalog, wake, stopped) => result?,
        () = signals => unreachable!("the signal future never completes"),
        () = store_watch => unreachable!("the store watch never completes"),
    }
    match files_changed.into_inner() {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// Every [`STORE_LOOK`]: stops the server gracefully when its store's files were deleted or
/// replaced under it (what it wrote from then on would be lost, and a server started later
/// on another store would redo its work), and otherwise checkpoints, so that the database
/// file holds every run the server finished, within seconds, even while it stays idle.
async fn watch_store(
    store: &dyn Store,
    files_changed: &OnceLock<StoreError>,
    log: &ServiceLog,
    stop: watch::Sender<bool>,
) {
    loop {
        tokio::time::sleep(STORE_LOOK).await;
        if let Err(error) = store.verify_store() {
            log.line("stopping: the store's files changed under the server (see the error below)");
            let _ = files_changed.set(error);
            let _ = stop.send(true);
            break;
        }
        if let Err(error) = store.checkpoint().await {
            log.line(&format!(
                "warning: cannot fold the store's write-ahead log into its file (it stays safe in the log): {error}"
            ));
        }
    }
    std::future::pending::<()>().await;
}
