//! Asking a process to look at the store now, and being asked.

use std::fmt::Debug;

use tidewater_core::ProcessIdentity;

/// Wake-ups between the processes that share a store. Every process that executes runs (a
/// server, a foreground `run`, a backfill) also looks at the store every few seconds; a
/// wake-up only makes it look at once, after another command queued work, asked for a
/// cancel or changed a pause. So a wake-up may be lost without harm, and carries no message:
/// what changed is in the store.
///
/// The first implementation is [`SignalWakeups`](crate::SignalWakeups) (SIGUSR1, for
/// processes of one machine). Others fit the same two sides: an HTTP call to a worker's
/// address, or a database notification (PostgreSQL `NOTIFY` on a channel named after the
/// owner, the listener being its `LISTEN`).
pub trait Wakeups: Send + Sync + Debug {
    /// Asks `owner` to look at the store now. An owner that is gone is ignored: whoever
    /// takes its runs over reads the store anyway.
    fn wake(&self, owner: ProcessIdentity);

    /// Starts listening for wake-ups addressed to this process (the owner that
    /// [`Owners::me`](crate::Owners::me) names). Listen before recording yourself as an
    /// owner, so that no wake-up arrives unheard.
    fn listen(&self) -> std::io::Result<Box<dyn WakeListener>>;
}

/// The receiving side of [`Wakeups`], awaited in a `tokio::select!` beside the other things
/// a process waits for.
#[async_trait::async_trait]
pub trait WakeListener: Send + Debug {
    /// Returns when this process has been woken (several wake-ups since the last call may
    /// return once). Once no wake-up can come any more it never returns, and the process
    /// relies on its periodic look at the store.
    async fn woken(&mut self);
}
