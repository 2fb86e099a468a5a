//! Who owns a run, and whether that owner is still there to execute it.

use std::fmt::Debug;

use tidewater_core::{ProcessIdentity, RunState};
use tidewater_store::RunRecord;

/// Run ownership and the liveness of owners: the one place the engine asks "who am I?" when
/// it claims a run, and "is the owner on record still executing it?" before it refuses a run
/// or takes it over. The executor and the service never read `/proc` themselves, so a new
/// notion of owner changes an implementation, not them.
///
/// The first implementation is [`LocalProcesses`](crate::LocalProcesses): an owner is a
/// process on this machine (pid and start time), alive while `/proc` shows it. The owner type
/// is still [`ProcessIdentity`] because the store records it. Servers sharing a store from
/// several machines own runs by their lease instead ([`ServerLeases`](crate::ServerLeases):
/// `me` is the server's lease, written in the same two columns as
/// [`ServerId::owner`](tidewater_store::ServerId::owner) says, and `is_alive` asks whether
/// that lease is unexpired, as the store said at the last heartbeat); `is_orphaned` stays as
/// it is.
pub trait Owners: Send + Sync + Debug {
    /// The owner this process records when it claims a run.
    fn me(&self) -> ProcessIdentity;

    /// Whether `owner` is still there to execute the runs it claimed. `false` lets another
    /// owner take its runs over, so an implementation answers `true` when unsure.
    fn is_alive(&self, owner: ProcessIdentity) -> bool;

    /// Whether a run is recorded as running while no live owner executes it: the `tidewater
    /// run` or server that did was killed (or stopped after an error it could not record).
    /// It stays so until `tidewater retry` or a restarted server takes it over. A run a live
    /// server executes is owned by that server, so it is not orphaned.
    ///
    /// Every command that shows runs asks this one rule; only [`Owners::is_alive`] differs
    /// between implementations.
    fn is_orphaned(&self, run: &RunRecord) -> bool {
        matches!(run.state, RunState::Running { .. })
            && !run.owner.is_some_and(|owner| self.is_alive(owner))
    }
}
