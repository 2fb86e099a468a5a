//! Wake-ups of a server that is one of several sharing a store (issue 21), whose runs and
//! service record name its lease (pid 0 and the server's id), which no signal can reach.

use std::sync::Arc;

use tidewater_core::ProcessIdentity;
use tidewater_store::ServerId;
use tokio::sync::watch;

use crate::{WakeListener, Wakeups};

/// [`Wakeups`] of a server among several: a wake-up addressed to a server's lease wakes this
/// server in its own process (at once, with no signal); one addressed to a process (a
/// foreground `run`, a backfill) goes by `signals`.
///
/// A wake-up addressed to another server's lease wakes this server too, rather than none:
/// every server executes runs, so this one takes up the queued work at once, and the
/// addressed server still finds what concerns it at its next look at the store (every two
/// seconds; a database notification, PostgreSQL's `NOTIFY`, would reach it at once). So the
/// server that answers an API request (a trigger, a retry) starts its run without waiting.
#[derive(Debug)]
pub struct LeaseWakeups {
    signals: Arc<dyn Wakeups>,
    /// Counts the wake-ups of this process; each listener sees each change.
    local: watch::Sender<u64>,
}

impl LeaseWakeups {
    pub fn new(signals: Arc<dyn Wakeups>) -> LeaseWakeups {
        LeaseWakeups {
            signals,
            local: watch::Sender::new(0),
        }
    }
}

impl Wakeups for LeaseWakeups {
    fn wake(&self, owner: ProcessIdentity) {
        if ServerId::of_owner(owner).is_some() {
            self.local
                .send_modify(|count| *count = count.wrapping_add(1));
        } else {
            self.signals.wake(owner);
        }
    }

    fn listen(&self) -> std::io::Result<Box<dyn WakeListener>> {
        Ok(Box::new(LeaseListener {
            local: self.local.subscribe(),
            signals: self.signals.listen()?,
        }))
    }
}

/// This process's wake-ups and its signals.
#[derive(Debug)]
struct LeaseListener {
    local: watch::Receiver<u64>,
    signals: Box<dyn WakeListener>,
}

#[async_trait::async_trait]
impl WakeListener for LeaseListener {
    async fn woken(&mut self) {
        tokio::select! {
            changed = self.local.changed() => {
                if changed.is_err() {
                    // The sender is gone with its `LeaseWakeups`: signals only.
                    self.signals.woken().await;
                }
            }
            () = self.signals.woken() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Wake-ups that never come, to see the lease side alone.
    #[derive(Debug)]
    struct NoSignals;

    #[derive(Debug)]
    struct Never;

    #[async_trait::async_trait]
    impl WakeListener for Never {
        async fn woken(&mut self) {
            std::future::pending::<()>().await;
        }
    }

    impl Wakeups for NoSignals {
        fn wake(&self, _owner: ProcessIdentity) {
            panic!("a lease is never signalled");
        }

        fn listen(&self) -> std::io::Result<Box<dyn WakeListener>> {
            Ok(Box::new(Never))
        }
    }

    /// Whether `listener` is woken already: one poll, no waiting (a timeout of zero polls
    /// the future once before it looks at the clock).
    async fn is_woken(listener: &mut Box<dyn WakeListener>) -> bool {
        tokio::time::timeout(Duration::ZERO, listener.woken())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_wake_up_addressed_to_a_lease_wakes_every_listener_of_this_process() {
        let wakeups = LeaseWakeups::new(Arc::new(NoSignals));
        let mut service = wakeups.listen().expect("listens");
        let mut executor = wakeups.listen().expect("listens");
        assert!(!is_woken(&mut service).await, "nothing woke it yet");
        // This server's own lease, or another server's: both wake this one.
        wakeups.wake(ServerId(7).owner());
        assert!(is_woken(&mut service).await, "the service is woken");
        assert!(is_woken(&mut executor).await, "so is every other listener");
        wakeups.wake(ServerId(8).owner());
        wakeups.wake(ServerId(8).owner());
        assert!(is_woken(&mut service).await, "two wake-ups return once");
        assert!(!is_woken(&mut service).await, "and only once");
    }
}
