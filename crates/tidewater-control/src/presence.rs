//! Who else is at work on this project: a running server, the process executing a run, and
//! how to ask them to look at the store now.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tidewater_core::ProcessIdentity;
use tidewater_engine::is_alive;
use tidewater_store::{ControlStore, ServiceRecord};

use crate::control_error::{ControlError, ControlResult};
use crate::{Control, ProjectStore};

impl Control {
    /// The server running on this project's store, if one is alive.
    pub async fn live_service(&self) -> ControlResult<Option<ServiceRecord>> {
        live_service(&self.store).await
    }
}

/// The server running on `store`, if one is alive.
pub async fn live_service(store: &ProjectStore) -> ControlResult<Option<ServiceRecord>> {
    Ok(store
        .service()
        .await?
        .filter(|service| is_alive(service.process)))
}

/// Asks the server to look at the store now (it would within two seconds anyway).
pub fn wake(service: &ServiceRecord) {
    wake_process(service.process);
}

/// Asks a process that executes runs (the server, a foreground `run` or backfill) to look at
/// the store now: each handles SIGUSR1 for that.
pub fn wake_process(process: ProcessIdentity) {
    let _ = kill(Pid::from_raw(process.pid), Signal::SIGUSR1);
}

/// This process, as recorded when it owns runs or the service.
pub fn my_identity() -> ControlResult<ProcessIdentity> {
    let pid = std::process::id() as i32;
    tidewater_engine::process_identity(pid).ok_or_else(|| {
        ControlError::environment(
            "cannot identify this process",
            "its start time cannot be read from /proc",
        )
    })
}
