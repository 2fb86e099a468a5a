use std::time::Duration;

use async_trait::async_trait;
use tidewater_core::{ProcessIdentity, Timestamp};

use crate::StoreError;

/// The `tidewater server` processes sharing one store from any number of machines, each
/// alive while its lease is, and the one among them that leads (issue 21: "several servers
/// on one database").
///
/// Every server registers and renews its lease every heartbeat; the *store's* clock decides
/// when a lease expires (a backend over a database uses the database's clock), so that
/// servers on machines whose clocks disagree still agree on who is alive. A lease that
/// expired stays expired: its renewal is refused, and the server must stop executing what it
/// owns (its runs are taken over by live servers, and its writes to them refused: see
/// [`RunStore::apply_owned`](crate::RunStore::apply_owned)).
///
/// The leader is the one server that creates scheduled runs. Its leadership is a second
/// lease, held by a live server only: taken when free, expired, or held by a server whose own
/// lease expired.
#[async_trait]
pub trait ServerStore: Send + Sync {
    /// Registers a new server, alive for `lease` from now. Its id is one no server had
    /// before in this store: a server that lost its lease comes back as another one.
    async fn register_server(
        &self,
        server: &ServerRegistration,
        lease: Duration,
    ) -> Result<ServerId, StoreError>;

    /// Extends the lease of `server` to `lease` from now, if it has not expired (nor ended);
    /// `false` otherwise, and nothing changes.
    async fn renew_server(&self, server: ServerId, lease: Duration) -> Result<bool, StoreError>;

    /// Ends the lease of `server` at once (a server stopping gracefully), and its leadership
    /// with it, so that another server takes over without waiting for the expiry.
    async fn end_server(&self, server: ServerId) -> Result<(), StoreError>;

    /// The servers whose lease has not expired, by id, the leader marked.
    async fn live_servers(&self) -> Result<LiveServers, StoreError>;

    /// Takes the leadership for `server` until `lease` from now, or extends it if `server`
    /// holds it: `true` if `server` leads now. Refused (`false`) while another live server
    /// holds an unexpired leadership, and for a server whose own lease expired. Two servers
    /// asking at once for a free leadership: one gets it.
    async fn lead(&self, server: ServerId, lease: Duration) -> Result<bool, StoreError>;

    /// Gives the leadership up if `server` holds it.
    async fn resign(&self, server: ServerId) -> Result<(), StoreError>;
}

/// A server's id in the store, which is also the epoch of its lease: ids grow, and a server
/// registering again after its lease expired gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub i64);

impl ServerId {
    /// The owner a server records on the runs it executes. The store keeps owners as a pid
    /// and a start time (a process of one machine, [`ProcessIdentity`]); a server lease is
    /// written in the same two columns as pid 0, which is no process's (the kernel's idle
    /// task, never an owner), with the server's id as the start time.
    pub fn owner(self) -> ProcessIdentity {
        ProcessIdentity {
            pid: 0,
            start_ticks: self.0 as u64,
        }
    }

    /// The server an owner names, if it names a server lease (see [`ServerId::owner`])
    /// rather than a process.
    pub fn of_owner(owner: ProcessIdentity) -> Option<ServerId> {
        (owner.pid == 0).then_some(ServerId(owner.start_ticks as i64))
    }
}

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server {}", self.0)
    }
}

/// What a server says about itself when it registers, for people looking at the servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRegistration {
    pub host: String,
    pub pid: i32,
}

/// The live servers at one instant, by the store's clock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveServers {
    pub servers: Vec<ServerRecord>,
    /// The highest id given to any server so far, live or not: a server missing from
    /// `servers` with an id up to this one is dead for good (leases never come back), while
    /// one with a higher id registered after this look and is not known yet.
    pub highest_id: Option<ServerId>,
}

impl LiveServers {
    /// Whether `server` was alive at this look; `true` for a server registered after it
    /// (the caller cannot know yet, and "alive" is the safe answer).
    pub fn is_alive(&self, server: ServerId) -> bool {
        self.highest_id.is_none_or(|highest| server > highest)
            || self.servers.iter().any(|record| record.id == server)
    }

    /// The leader at this look, if any server leads.
    pub fn leader(&self) -> Option<&ServerRecord> {
        self.servers.iter().find(|record| record.is_leader)
    }
}

/// A live server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRecord {
    pub id: ServerId,
    pub host: String,
    pub pid: i32,
    pub registered_at: Timestamp,
    /// When its lease expires unless renewed, by the store's clock.
    pub expires_at: Timestamp,
    pub is_leader: bool,
}
