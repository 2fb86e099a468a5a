//! Wake-ups by SIGUSR1 between processes of this machine.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tidewater_core::ProcessIdentity;
use tokio::signal::unix::{Signal as SignalStream, SignalKind, signal};

use crate::{WakeListener, Wakeups};

/// [`Wakeups`] by SIGUSR1: waking sends it to the owner's pid, listening handles it (so that
/// it no longer kills the process, its default). Owners are processes of this machine, as
/// [`LocalProcesses`](crate::LocalProcesses) has them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalWakeups;

impl Wakeups for SignalWakeups {
    fn wake(&self, owner: ProcessIdentity) {
        // A process that is gone is not an error: see `Wakeups::wake`. SIGUSR1 kills a
        // process that does not handle it, so the owner's start time is checked first: a
        // dead owner's pid, reused by another process, is left alone. (The check cannot
        // close the instant between it and the signal; Tidewater's own processes ignore
        // SIGUSR1 from their first instruction, so such a race can only ever wake them.) A
        // pid of 0 or below names a group or every process, never an owner.
        if owner.pid > 0 && crate::process::is_alive(owner) {
            let _ = kill(Pid::from_raw(owner.pid), Signal::SIGUSR1);
        }
    }

    fn listen(&self) -> std::io::Result<Box<dyn WakeListener>> {
        Ok(Box::new(SignalListener {
            signal: signal(SignalKind::user_defined1())?,
        }))
    }
}

/// Receives this process's SIGUSR1. Tokio keeps the signal handled for the life of the
/// process once one listener exists, even after the listener is dropped.
#[derive(Debug)]
struct SignalListener {
    signal: SignalStream,
}

#[async_trait::async_trait]
impl WakeListener for SignalListener {
    async fn woken(&mut self) {
        if self.signal.recv().await.is_none() {
            // Tokio's signal driver is gone (the runtime is shutting down).
            std::future::pending::<()>().await;
        }
    }
}
