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
        // A process that is gone is not an error: see `Wakeups::wake`. The pid alone is
        // signalled, unchecked against its start time: a check could not close the instant
        // before the signal in which the pid is reused anyway. A pid of 0 or below names a
        // group or every process, never an owner.
        if owner.pid > 0 {
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
