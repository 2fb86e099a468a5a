//! Who else is at work on this project: a running server, the process executing a run, and
//! how to ask them to look at the store now. Asked through the [`Control`]'s `owners` and
//! `wakeups` (this machine's processes and signals by default).

use tidewater_core::ProcessIdentity;
use tidewater_engine::Owners;
use tidewater_store::{RunRecord, ServiceRecord};

use crate::control_error::ControlResult;
use crate::{Control, ProjectStore};

impl Control {
    /// The server running on this project's store, if one is alive.
    pub async fn live_service(&self) -> ControlResult<Option<ServiceRecord>> {
        live_service(&*self.store, &*self.owners).await
    }

    /// Asks the server (or the process executing a run) to look at the store now; it
    /// would within two seconds anyway.
    pub fn wake(&self, process: ProcessIdentity) {
        self.wakeups.wake(process);
    }

    /// Asks the live server, if one runs, to look at the store now (after queueing work
    /// for it); returns it.
    pub async fn wake_server(&self) -> ControlResult<Option<ServiceRecord>> {
        let server = self.live_service().await?;
        if let Some(service) = &server {
            self.wake(service.process);
        }
        Ok(server)
    }

    /// Recorded `running`, but nobody executes it any more: `retry` resumes it.
    pub fn is_orphaned(&self, run: &RunRecord) -> bool {
        self.owners.is_orphaned(run)
    }

    /// Whether the owner of a run or of the service is alive.
    pub fn is_alive(&self, owner: ProcessIdentity) -> bool {
        self.owners.is_alive(owner)
    }
}

/// The server running on `store`, if one is alive.
pub async fn live_service(
    store: &ProjectStore,
    owners: &dyn Owners,
) -> ControlResult<Option<ServiceRecord>> {
    Ok(store
        .service()
        .await?
        .filter(|service| owners.is_alive(service.process)))
}
