//! Wake-ups by SIGUSR1 reach a listener of this process.

use std::time::Duration;

use tidewater_engine::{LocalProcesses, Owners, SignalWakeups, Wakeups};

#[tokio::test]
async fn waking_this_process_by_signal_wakes_its_listener() {
    // Listening first: SIGUSR1 kills a process that does not handle it.
    let mut listener = SignalWakeups.listen().expect("listening");
    SignalWakeups.wake(LocalProcesses.me());
    // A bound on a hung test, not a wait for time to pass.
    tokio::time::timeout(Duration::from_secs(60), listener.woken())
        .await
        .expect("the wake-up arrives");
}
