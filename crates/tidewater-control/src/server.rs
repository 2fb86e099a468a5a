//! Serving a project: the scheduler and the local executor, as `tidewater server` runs them
//! (and, next, the HTTP server beside them). One server per store: it claims the store's
//! service record first.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tidewater_core::ProcessIdentity;
use tidewater_engine::{Catalog, RunObserver, Scope, Service, ServiceObserver, SystemClock};
use tidewater_flow::WarehouseCommits;
use tidewater_store::{ServiceClaim, StoreError};
use tokio::sync::{Notify, watch};

use crate::control::QueuedTasks;
use crate::control_error::{ControlError, ControlResult};
use crate::workflow_catalog::watch_catalog;
use crate::{Control, Notifier, ProjectStore, local_time};

/// How often the server looks at its store's files and checkpoints what it wrote: the
/// service's own polling period.
const STORE_LOOK: Duration = Duration::from_secs(2);

/// Where a server reports: every run's and task's change, the service's events, and its own
/// lines (start, stop, workflow files read).
pub trait ServerReport: RunObserver + ServiceObserver {
    /// A line of the server's own.
    fn line(&self, message: &str);
    /// The workflows the server schedules, as they change (e.g. for the zone a new run's
    /// interval is written in).
    fn follow_catalog(&self, _catalog: watch::Receiver<Arc<Catalog>>) {}
}

impl Control {
    /// Makes this process the project's server; refused while another live one is.
    pub async fn claim_server(&self) -> ControlResult<ProcessIdentity> {
        let me = self.owners.me();
        let now = chrono::Utc::now();
        match self.store.claim_service(None, me, now).await? {
            ServiceClaim::Claimed => {}
            ServiceClaim::Held(other) if self.is_alive(other.process) => {
                return Err(ControlError::Conflict(format!(
                    "a server already runs on this project (pid {}, since {}); stop it first",
                    other.process.pid,
                    local_time::utc(other.started_at)
                )));
            }
            ServiceClaim::Held(dead) => {
                if let ServiceClaim::Held(other) = self
                    .store
                    .claim_service(Some(dead.process), me, now)
                    .await?
                {
                    return Err(ControlError::Conflict(format!(
                        "another server started at the same time (pid {})",
                        other.process.pid
                    )));
                }
            }
        }
        Ok(me)
    }

    /// Gives up the server's record (see [`Control::claim_server`]).
    pub async fn release_server(&self, me: ProcessIdentity) -> ControlResult<()> {
        Ok(self.store.release_service(me).await?)
    }

    /// Schedules and executes the project's workflows until `stop` completes, then stops
    /// gracefully: no new runs start, running tasks get SIGTERM (then SIGKILL after the
    /// grace period), and their runs are queued again for the next server. It also stops
    /// when the store's files are replaced under it, returning that error. Other commands
    /// wake it (SIGUSR1) when they queue work or change a pause (SIGUSR1 by default).
    pub async fn serve(
        &self,
        me: ProcessIdentity,
        parallelism: Option<u32>,
        report: Arc<dyn ServerReport>,
        stop: impl Future<Output = ()>,
    ) -> ControlResult<()> {
        let project = Arc::new(self.project.clone());
        let catalog_report = report.clone();
        let (catalog, _watcher) =
            watch_catalog(project.clone(), move |line| catalog_report.line(line))?;
        report.follow_catalog(catalog.clone());
        let executor =
            self.build_executor(parallelism, report.clone(), QueuedTasks::OfferToWorkers)?;
        // Nobody waits any more for what a previous server offered to workers: its runs
        // resume with new attempts, and a worker still holding one is answered `stale`.
        if let Some(workers) = self.store.worker_store() {
            workers.abandon_attempts(chrono::Utc::now()).await?;
        }
        let leases = expire_leases(self.remote_attempts().clone(), report.clone());
        let service = Service {
            store: self.store.clone(),
            clock: Arc::new(SystemClock),
            executor,
            project,
            scope: Scope::Everything,
            observer: report.clone(),
            commits: Some(Arc::new(WarehouseCommits::new(Arc::new(self.warehouse()?)))),
        };
        let wake = Arc::new(Notify::new());
        let (stopping, stopped) = watch::channel(false);
        let mut woken = self
            .wakeups
            .listen()
            .map_err(|error| ControlError::environment("cannot listen for wake-ups", error))?;
        let files_changed: OnceLock<StoreError> = OnceLock::new();
        let store_watch = watch_store(&*self.store, &files_changed, &*report, stopping.clone());
        let signals = {
            let wake = wake.clone();
            let report = report.clone();
            async move {
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        () = &mut stop => break,
                        // Another command queued work or changed a pause: look now.
                        () = woken.woken() => wake.notify_one(),
                    }
                }
                report.line(
                    "stopping: no new runs start; running tasks get SIGTERM, then SIGKILL after 10s; their runs resume when a server starts again",
                );
                let _ = stopping.send(true);
                std::future::pending::<()>().await;
            }
        };
        report.line(&format!(
            "server started (pid {}) on {}",
            me.pid,
            self.project.root.display()
        ));
        let notifier = Notifier::new(self);
        let notifications = notifier.serve(|delivery| {
            if let Some((error, is_retried)) = &delivery.failure {
                let then = if *is_retried {
                    "tried again later"
                } else {
                    "given up"
                };
                report.line(&format!(
                    "webhook {} of run {} failed ({then}): {error}",
                    delivery.event, delivery.run
                ));
            }
        });
        tokio::select! {
            result = service.run(catalog, wake, stopped) => result?,
            never = notifications => match never {},
            () = signals => unreachable!("the signal future never completes"),
            () = store_watch => unreachable!("the store watch never completes"),
            never = leases => match never {},
        }
        match files_changed.into_inner() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}

/// Ends the leases of workers that stopped renewing them (the attempts are lost, and retried
/// as `decide` says), every [`RemoteAttempts::expiry_interval`], by this server's clock.
async fn expire_leases(
    remote: Arc<tidewater_engine::RemoteAttempts>,
    report: Arc<dyn ServerReport>,
) -> std::convert::Infallible {
    let mut has_failed = false;
    loop {
        tokio::time::sleep(remote.expiry_interval()).await;
        match remote.expire_leases().await {
            Ok(count) if count > 0 => report.line(&format!(
                "{count} worker lease(s) expired: their attempts are lost and run again"
            )),
            Ok(_) => has_failed = false,
            // Said once per stretch of failures; the next look tries again.
            Err(error) if !has_failed => {
                has_failed = true;
                report.line(&format!(
                    "warning: cannot look at the workers' leases: {error}"
                ));
            }
            Err(_) => {}
        }
    }
}

/// Every [`STORE_LOOK`]: stops the server gracefully when its store's files were deleted or
/// replaced under it (what it wrote from then on would be lost, and a server started later
/// on another store would redo its work), and otherwise checkpoints, so that the database
/// file holds every run the server finished, within seconds, even while it stays idle.
async fn watch_store(
    store: &ProjectStore,
    files_changed: &OnceLock<StoreError>,
    report: &dyn ServerReport,
    stop: watch::Sender<bool>,
) {
    loop {
        tokio::time::sleep(STORE_LOOK).await;
        if let Err(error) = store.verify_store() {
            report
                .line("stopping: the store's files changed under the server (see the error below)");
            let _ = files_changed.set(error);
            let _ = stop.send(true);
            break;
        }
        if let Err(error) = store.checkpoint().await {
            report.line(&format!(
                "warning: cannot fold the store's write-ahead log into its file (it stays safe in the log): {error}"
            ));
        }
    }
    std::future::pending::<()>().await;
}
