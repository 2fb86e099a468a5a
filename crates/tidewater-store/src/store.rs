use async_trait::async_trait;
use tidewater_core::RunId;

use crate::{
    AccessStore, ControlStore, NotificationStore, RunStore, ServerStore, SlotStore, StoreError,
    StreamStore, WorkerStore,
};

/// Everything the binary needs from the store it opened: the engine's and the service's
/// traits, and the operations on the store as a whole. The rest of the code holds an
/// `Arc<dyn Store>` and never learns which backend it is.
#[async_trait]
pub trait Store: RunStore + ControlStore + AccessStore + NotificationStore + Send + Sync {
    /// The highest run id the store ever gave out, or `None` if it never created a run.
    async fn highest_run_id(&self) -> Result<Option<RunId>, StoreError>;

    /// Makes the next run's id greater than `id` (it never lowers it): for a store restored
    /// from a backup older than the run log folders, so that no new run is given the id, and
    /// the log folder, of a run the backup does not know.
    async fn skip_run_ids_through(&self, id: RunId) -> Result<(), StoreError>;

    /// Makes what this process committed durable in the store's main storage, so that it
    /// survives the loss of anything kept beside it (SQLite: folds the write-ahead log into
    /// the database file). A process that stays open while idle (the server) calls this
    /// every few seconds; a backend whose commits are already there does nothing.
    async fn checkpoint(&self) -> Result<(), StoreError>;

    /// Fails when the store under this handle is no longer the one it opened (SQLite: its
    /// files deleted or replaced), so that everything written from then on would be lost to
    /// other processes. The server stops when this fails. A backend that cannot be replaced
    /// under an open handle answers `Ok(())`.
    fn verify_store(&self) -> Result<(), StoreError>;

    /// The attempts handed to `tidewater worker` processes and their leases, if this backend
    /// keeps them (a backend without them runs every task in the server, and a task with a
    /// `queue` fails saying so).
    fn worker_store(&self) -> Option<&dyn WorkerStore> {
        None
    }

    /// Ends this handle's use of the store, after a last [`Store::checkpoint`]. Nothing may
    /// be read or written through it afterwards. Dropping the handle must be as safe, if
    /// perhaps slower.
    async fn close(&self);

    /// The streams' part of the store (issue 19), for a backend that keeps it. A provided
    /// method rather than a supertrait, so that a backend gains streams without every other
    /// backend having to follow at once.
    fn streams(&self) -> Option<&dyn StreamStore> {
        None
    }

    /// The servers sharing this store from several machines, and their leader (issue 21),
    /// for a backend that several machines can share. `None` (the embedded default): one
    /// server per store, always the leader, its runs owned by its process.
    fn servers(&self) -> Option<&dyn ServerStore> {
        None
    }

    /// The pool slots, rates and `max_active_tasks` held by the servers sharing this store
    /// ([`SlotStore`]), for a backend that several servers can share. `None` (the embedded
    /// default): one server per store, whose own task queue is already global.
    fn slots(&self) -> Option<&dyn SlotStore> {
        None
    }
}
