//! Serving a project: the scheduler and the local executor, as `tidewater server` runs them
//! (and, next, the HTTP server beside them). One server per embedded store: it claims the
//! store's service record first. Several on a store that machines share (PostgreSQL), each
//! with a lease, one of them leading ([`ServerSeat::Shared`]).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tidewater_core::ProcessIdentity;
use tidewater_engine::{
    Beat, Catalog, LeaseWakeups, Owners, RunObserver, Scheduling, Scope, ServerLeaseSettings,
    ServerLeases, Service, ServiceObserver, SharedSlots, SystemClock, Wakeups,
};
use tidewater_flow::WarehouseCommits;
use tidewater_store::{ServerRegistration, ServiceClaim, StoreError};
use tokio::sync::{Notify, watch};

use crate::control::QueuedTasks;
use crate::control_error::{ControlError, ControlResult};
use crate::view_catalog::{StopOnDrop, follow_views};
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

/// How this process serves its project.
#[derive(Debug, Clone)]
pub enum ServerSeat {
    /// The one server of its store, recorded as the store's service (the embedded store).
    Only(ProcessIdentity),
    /// One of the servers sharing its store from several machines (PostgreSQL), by its
    /// lease; it schedules while it leads.
    Shared(Arc<ServerLeases>),
}

impl ServerSeat {
    /// The owner this server records on the runs it executes.
    pub fn owner(&self) -> ProcessIdentity {
        match self {
            ServerSeat::Only(me) => *me,
            ServerSeat::Shared(leases) => leases.me(),
        }
    }
}

impl Control {
    /// Registers this process among the servers of its store, if its backend lets several
    /// share it ([`tidewater_store::Store::servers`]): from then on it owns runs by its lease
    /// ([`ServerLeases`]) rather than by its pid. The embedded store answers `None`, and
    /// [`Control::claim_server`] makes the process its only server.
    pub async fn join_servers(self) -> ControlResult<(Control, Option<Arc<ServerLeases>>)> {
        let Some(servers) = self.store.servers() else {
            return Ok((self, None));
        };
        let registration = ServerRegistration {
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_else(|_| "server".to_owned()),
            pid: std::process::id() as i32,
        };
        let config = self.project.config.server_leases;
        let settings = ServerLeaseSettings {
            heartbeat: config.heartbeat,
            lease: config.lease,
        };
        let leases = Arc::new(ServerLeases::register(servers, &registration, settings).await?);
        // A first look: whether this server leads, and who else is alive.
        leases.beat(servers).await?;
        // A server lease names no process (pid 0) that a signal could reach: a wake-up
        // addressed to one wakes this server in its process (`LeaseWakeups`), and other
        // servers look at the store every two seconds.
        let wakeups: Arc<dyn Wakeups> = Arc::new(LeaseWakeups::new(self.wakeups.clone()));
        let mut control = self.with_ownership(leases.clone(), wakeups);
        control.shared_slots =
            SharedSlots::new(control.store.clone(), leases.server()).map(Arc::new);
        Ok((control, Some(leases)))
    }

    /// Makes this process the project's server; refused while another live one is. One of
    /// several servers sharing the store (`leases`, from [`Control::join_servers`]) takes no
    /// such record: its leadership, when it leads, records it as the store's service.
    pub async fn claim_server(
        &self,
        leases: Option<Arc<ServerLeases>>,
    ) -> ControlResult<ServerSeat> {
        if let Some(leases) = leases {
            if leases.is_leader() {
                self.record_leader(&leases).await?;
            }
            return Ok(ServerSeat::Shared(leases));
        }
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
        Ok(ServerSeat::Only(me))
    }

    /// Gives up the server's record (see [`Control::claim_server`]), and the lease of one of
    /// several servers, so that another leads at once.
    pub async fn release_server(&self, seat: &ServerSeat) -> ControlResult<()> {
        if let ServerSeat::Shared(leases) = seat
            && let Some(servers) = self.store.servers()
        {
            // Its holds first, so that no slot waits for its lease to be seen ended.
            if let Some(slots) = &self.shared_slots {
                slots.release_all().await?;
            }
            leases.end(servers).await?;
        }
        Ok(self.store.release_service(seat.owner()).await?)
    }

    /// Records the leader as the store's service, which the commands and the API show and
    /// wake (the record the only server of an embedded store claims), replacing whichever
    /// server held it: the leadership, not this record, decides who leads.
    async fn record_leader(&self, leases: &ServerLeases) -> ControlResult<()> {
        let me = leases.me();
        let held = self.store.service().await?.map(|service| service.process);
        if held != Some(me) {
            self.store
                .claim_service(held, me, chrono::Utc::now())
                .await?;
        }
        Ok(())
    }

    /// Schedules and executes the project's workflows until `stop` completes, then stops
    /// gracefully: no new runs start, running tasks get SIGTERM (then SIGKILL after the
    /// grace period), and their runs are queued again for the next server. It also stops
    /// when the store's files are replaced under it, returning that error. Other commands
    /// wake it (SIGUSR1) when they queue work or change a pause (SIGUSR1 by default).
    pub async fn serve(
        &self,
        seat: &ServerSeat,
        parallelism: Option<u32>,
        report: Arc<dyn ServerReport>,
        stop: impl Future<Output = ()>,
    ) -> ControlResult<()> {
        let project = Arc::new(self.project.clone());
        let catalog_report = report.clone();
        let (catalog, _watcher) =
            watch_catalog(project.clone(), move |line| catalog_report.line(line))?;
        report.follow_catalog(catalog.clone());
        let views_report = report.clone();
        let _views = self.live_views().map(|views| {
            StopOnDrop(follow_views(project.clone(), views.clone(), move |line| {
                views_report.line(line)
            }))
        });
        let executor =
            self.build_executor(parallelism, report.clone(), QueuedTasks::OfferToWorkers)?;
        // Nobody waits any more for what a previous server offered to workers: its runs
        // resume with new attempts, and a worker still holding one is answered `stale`. Not
        // while other servers share the store: what they offered is theirs and still awaited
        // (what a dead one offered ends as its runs are taken over and recovered).
        if let Some(workers) = self.store.worker_store()
            && is_alone(seat)
        {
            workers.abandon_attempts(chrono::Utc::now()).await?;
        }
        let leases = expire_leases(
            self.remote_attempts().clone(),
            report.clone(),
            matches!(seat, ServerSeat::Shared(_)),
        );
        let service = Service {
            store: self.store.clone(),
            clock: Arc::new(SystemClock),
            executor,
            project,
            scope: Scope::Everything,
            observer: report.clone(),
            commits: Some(Arc::new(WarehouseCommits::new(Arc::new(self.warehouse()?)))),
            scheduling: match seat {
                ServerSeat::Only(_) => Scheduling::Always,
                ServerSeat::Shared(leases) => Scheduling::WhileLeading(leases.clone()),
            },
        };
        let wake = Arc::new(Notify::new());
        let (stopping, stopped) = watch::channel(false);
        let lease_lost: OnceLock<ControlError> = OnceLock::new();
        let heartbeat = {
            let (wake, report, stop, lease_lost) =
                (wake.clone(), report.clone(), stopping.clone(), &lease_lost);
            async move {
                match seat {
                    ServerSeat::Only(_) => std::future::pending::<()>().await,
                    ServerSeat::Shared(leases) => {
                        self.keep_lease(leases, &wake, &*report, lease_lost, stop)
                            .await;
                    }
                }
            }
        };
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
        match seat {
            ServerSeat::Only(me) => report.line(&format!(
                "server started (pid {}) on {}",
                me.pid,
                self.project.root.display()
            )),
            ServerSeat::Shared(leases) => report.line(&format!(
                "server started (pid {}, {} of the servers sharing the store) on {}; {}",
                std::process::id(),
                leases.server(),
                self.project.root.display(),
                leading(leases.is_leader())
            )),
        }
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
            () = heartbeat => unreachable!("the heartbeat never completes"),
        }
        if let Some(lost) = lease_lost.into_inner() {
            return Err(lost);
        }
        match files_changed.into_inner() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Every heartbeat: renews this server's lease and takes or keeps the leadership. A
    /// server that becomes the leader records itself as the store's service and looks for
    /// due intervals at once. One whose lease expired (it was stopped, or cut off from the
    /// database, for longer than the lease) stops gracefully: its runs are another server's
    /// now, and the store refuses its writes to them.
    async fn keep_lease(
        &self,
        leases: &ServerLeases,
        wake: &Notify,
        report: &dyn ServerReport,
        lease_lost: &OnceLock<ControlError>,
        stop: watch::Sender<bool>,
    ) {
        let Some(servers) = self.store.servers() else {
            return std::future::pending().await;
        };
        let mut has_failed = false;
        loop {
            tokio::time::sleep(leases.settings().heartbeat).await;
            match leases.beat(servers).await {
                Ok(Beat::Renewed {
                    is_leader,
                    has_changed,
                }) => {
                    has_failed = false;
                    if has_changed {
                        report.line(leading(is_leader));
                    }
                    if has_changed && is_leader {
                        if let Err(error) = self.record_leader(leases).await {
                            report.line(&format!(
                                "warning: cannot record this server as the store's service: {error}"
                            ));
                        }
                        wake.notify_one();
                    }
                }
                Ok(Beat::Lost) => {
                    report.line(&format!(
                        "stopping: the lease of {} expired before it was renewed; other servers take its runs over",
                        leases.server()
                    ));
                    let _ = lease_lost.set(ControlError::Conflict(format!(
                        "{} lost its lease (it was not renewed within {} s) and stopped",
                        leases.server(),
                        leases.settings().lease.as_secs_f64()
                    )));
                    let _ = stop.send(true);
                    break;
                }
                // Said once per stretch of failures; the lease expires if they last.
                Err(error) if !has_failed => {
                    has_failed = true;
                    report.line(&format!(
                        "warning: cannot renew this server's lease: {error}"
                    ));
                }
                Err(_) => {}
            }
        }
        std::future::pending::<()>().await;
    }
}

/// What a server says about its leadership.
fn leading(is_leader: bool) -> &'static str {
    if is_leader {
        "leading: this server schedules the project's workflows"
    } else {
        "standing by: another server schedules the project's workflows; this one executes runs"
    }
}

/// Whether no other server shares this one's store (at its last heartbeat).
fn is_alone(seat: &ServerSeat) -> bool {
    match seat {
        ServerSeat::Only(_) => true,
        ServerSeat::Shared(leases) => leases.live().is_some_and(|live| {
            live.servers
                .iter()
                .all(|server| server.id == leases.server())
        }),
    }
}

/// Ends the leases of workers that stopped renewing them (the attempts are lost, and retried
/// as `decide` says), every [`RemoteAttempts::expiry_interval`], by this server's clock.
async fn expire_leases(
    remote: Arc<tidewater_engine::RemoteAttempts>,
    report: Arc<dyn ServerReport>,
    is_shared: bool,
) -> std::convert::Infallible {
    let mut has_failed = false;
    loop {
        tokio::time::sleep(remote.expiry_interval()).await;
        // With servers sharing the store, a worker may report (or a server expire) through
        // another server than the one that offered the attempt: collect those too.
        let collected = if is_shared {
            remote.collect_ended().await.map(|_| ())
        } else {
            Ok(())
        };
        match remote
            .expire_leases()
            .await
            .and_then(|count| collected.map(|()| count))
        {
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
