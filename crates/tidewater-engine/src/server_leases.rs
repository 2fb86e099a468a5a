//! Run ownership by servers holding leases in a store that several machines share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tidewater_core::ProcessIdentity;
use tidewater_store::{LiveServers, ServerId, ServerRegistration, ServerStore, StoreError};

use crate::{LocalProcesses, Owners};

/// How often a server renews its lease, and how long a lease lasts unrenewed (`[server]
/// heartbeat` and `lease` in `tidewater.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLeaseSettings {
    pub heartbeat: Duration,
    pub lease: Duration,
}

/// [`Owners`] for `tidewater server` processes sharing a store from several machines
/// ([`ServerStore`]): an owner is a server's lease ([`ServerId::owner`]), alive while the
/// store counts it among the live servers. What the store said is kept from the last
/// [`ServerLeases::beat`], so that `is_alive` asks no query: a lease expires only after a
/// whole `lease` without renewal, and one that expired never comes back, so a look a
/// heartbeat old is good enough, and before the first look every server is taken as alive
/// (the safe answer).
///
/// An owner that is a process rather than a lease (a `tidewater run` of this machine on the
/// same store) is judged as [`LocalProcesses`] judges it.
///
/// The leadership (who creates scheduled runs) is held beside: [`ServerLeases::is_leader`].
#[derive(Debug)]
pub struct ServerLeases {
    me: ServerId,
    settings: ServerLeaseSettings,
    live: Mutex<Option<LiveServers>>,
    is_leader: AtomicBool,
}

/// What one heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// The lease is renewed; whether this server leads now, and whether that changed.
    Renewed { is_leader: bool, has_changed: bool },
    /// The lease had expired (this server did not renew it in time: it was stopped, or cut
    /// off from the store): other servers may have taken its runs over. It must stop
    /// executing them.
    Lost,
}

impl ServerLeases {
    /// Registers this server in `store`, with a lease of `settings.lease`.
    pub async fn register(
        store: &dyn ServerStore,
        registration: &ServerRegistration,
        settings: ServerLeaseSettings,
    ) -> Result<ServerLeases, StoreError> {
        let me = store.register_server(registration, settings.lease).await?;
        Ok(ServerLeases {
            me,
            settings,
            live: Mutex::new(None),
            is_leader: AtomicBool::new(false),
        })
    }

    /// This server's id in the store.
    pub fn server(&self) -> ServerId {
        self.me
    }

    pub fn settings(&self) -> ServerLeaseSettings {
        self.settings
    }

    /// Whether this server led at its last heartbeat (and so may create scheduled runs). Two
    /// servers may both believe it for an instant around a change of leader; the store's
    /// unique indexes keep them from creating an interval's run twice.
    pub fn is_leader(&self) -> bool {
        self.is_leader.load(Ordering::Acquire)
    }

    /// Renews this server's lease, takes or keeps the leadership, and reads which servers
    /// are alive: one heartbeat, due every `settings.heartbeat`.
    pub async fn beat(&self, store: &dyn ServerStore) -> Result<Beat, StoreError> {
        if !store.renew_server(self.me, self.settings.lease).await? {
            self.is_leader.store(false, Ordering::Release);
            return Ok(Beat::Lost);
        }
        let is_leader = store.lead(self.me, self.settings.lease).await?;
        let was_leader = self.is_leader.swap(is_leader, Ordering::AcqRel);
        let live = store.live_servers().await?;
        *self.live.lock().unwrap_or_else(PoisonError::into_inner) = Some(live);
        Ok(Beat::Renewed {
            is_leader,
            has_changed: is_leader != was_leader,
        })
    }

    /// Ends this server's lease and leadership (a graceful stop), so that another server
    /// leads and takes over at once.
    pub async fn end(&self, store: &dyn ServerStore) -> Result<(), StoreError> {
        self.is_leader.store(false, Ordering::Release);
        store.end_server(self.me).await
    }

    /// The live servers at the last heartbeat (`None` before the first).
    pub fn live(&self) -> Option<LiveServers> {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Owners for ServerLeases {
    fn me(&self) -> ProcessIdentity {
        self.me.owner()
    }

    fn is_alive(&self, owner: ProcessIdentity) -> bool {
        match ServerId::of_owner(owner) {
            Some(server) if server == self.me => true,
            Some(server) => self
                .live
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .is_none_or(|live| live.is_alive(server)),
            None => LocalProcesses.is_alive(owner),
        }
    }
}

/// [`Owners`] for a command (not a server) on a store that servers share: the command owns
/// the runs it executes as its process ([`LocalProcesses`]), and judges a server's lease by
/// the live servers read once when it opened the store (a command lasts seconds; a server
/// that dies meanwhile is taken for alive, the safe answer).
#[derive(Debug)]
pub struct KnownServers {
    live: LiveServers,
}

impl KnownServers {
    pub fn new(live: LiveServers) -> KnownServers {
        KnownServers { live }
    }
}

impl Owners for KnownServers {
    fn me(&self) -> ProcessIdentity {
        LocalProcesses.me()
    }

    fn is_alive(&self, owner: ProcessIdentity) -> bool {
        match ServerId::of_owner(owner) {
            Some(server) => self.live.is_alive(server),
            None => LocalProcesses.is_alive(owner),
        }
    }
}
