//! Run ownership by processes of this machine, read from `/proc`.

use std::sync::OnceLock;

use tidewater_core::ProcessIdentity;

use crate::Owners;
use crate::process::{is_alive, process_identity};

/// [`Owners`] where an owner is a process on this machine: its pid and start time (pids are
/// reused, start times tell them apart), alive while `/proc/<pid>/stat` shows the same
/// process. Every process sharing one store must run on the same machine (or in the same pid
/// namespace) for this to be true.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalProcesses;

impl Owners for LocalProcesses {
    fn me(&self) -> ProcessIdentity {
        // A process's identity never changes, and the executor asks for it on every claim:
        // read once. Tidewater never forks without an exec, so no child inherits the cache.
        static ME: OnceLock<ProcessIdentity> = OnceLock::new();
        *ME.get_or_init(|| {
            let pid = std::process::id() as i32;
            // Unreadable (no `/proc`): the pid alone still names this process's claims.
            process_identity(pid).unwrap_or(ProcessIdentity {
                pid,
                start_ticks: 0,
            })
        })
    }

    fn is_alive(&self, owner: ProcessIdentity) -> bool {
        is_alive(owner)
    }
}
