//! How other commands find a running `tidewater server` and wake it when they queued work.

use std::sync::Arc;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tidewater_engine::is_alive;
use tidewater_store::{ServiceRecord, Store};

/// The server running on this project's store, if one is alive.
pub(crate) async fn live_service(store: &Arc<dyn Store>) -> anyhow::Result<Option<ServiceRecord>> {
    Ok(store
        .service()
        .await?
        .filter(|service| is_alive(service.process)))
}

/// Asks the server to look at the store now (it would within two seconds anyway).
pub(crate) fn wake(service: &ServiceRecord) {
    wake_process(service.process);
}

/// Asks a process that executes runs (the server, a foreground `run` or backfill) to look at
/// the store now: each handles SIGUSR1 for that.
pub(crate) fn wake_process(process: tidewater_core::ProcessIdentity) {
    let _ = kill(Pid::from_raw(process.pid), Signal::SIGUSR1);
}

/// This process, as recorded when it owns runs or the service.
pub(crate) fn my_identity() -> anyhow::Result<tidewater_core::ProcessIdentity> {
    let pid = std::process::id() as i32;
    tidewater_engine::process_identity(pid)
        .ok_or_else(|| anyhow::anyhow!("cannot read this process's start time from /proc"))
}
