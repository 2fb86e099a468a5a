//! The executor asks its `Owners` who it is and whether a run's owner is alive: an
//! in-memory implementation decides, with no real process alive or dead behind the answers.

use std::sync::{Arc, Mutex};

use tidewater_core::{ProcessIdentity, RunQueueKey, RunState};
use tidewater_engine::{EngineError, LocalProcesses, Owners, count_active};
use tidewater_store::{ControlStore, RunStore};

use crate::harness::Harness;

const WORKFLOW: &str = "tasks:\n  only:\n    sh: \"true\"\n";

/// Owners whose liveness is whatever the test says. Pids above Linux's largest (2^22) name
/// no process, so `/proc` could not be the one answering.
#[derive(Debug)]
struct FakeOwners {
    me: ProcessIdentity,
    alive: Mutex<Vec<ProcessIdentity>>,
}

impl FakeOwners {
    fn new(alive: &[ProcessIdentity]) -> Arc<FakeOwners> {
        Arc::new(FakeOwners {
            me: no_process(1),
            alive: Mutex::new(alive.to_vec()),
        })
    }
}

impl Owners for FakeOwners {
    fn me(&self) -> ProcessIdentity {
        self.me
    }

    fn is_alive(&self, owner: ProcessIdentity) -> bool {
        self.alive.lock().expect("not poisoned").contains(&owner)
    }
}

/// An owner that is no process of this machine.
fn no_process(n: i32) -> ProcessIdentity {
    ProcessIdentity {
        pid: (1 << 22) + n,
        start_ticks: 7,
    }
}

#[tokio::test]
async fn a_run_held_by_an_owner_the_owners_find_alive_is_refused() {
    let harness = Harness::new("", WORKFLOW).await;
    let run = harness.create_run().await;
    // `/proc` would call this owner dead (and take the run over); the owners say alive.
    let holder = no_process(2);
    harness
        .store
        .claim_owner(run, None, Some(holder))
        .await
        .expect("claimed");
    let executor = harness
        .executor(1, &[])
        .with_owners(FakeOwners::new(&[holder]));
    let result = executor
        .execute(
            &harness.loaded.workflow,
            run,
            tidewater_engine::Resume::Continue,
            &tidewater_engine::CancelHandle::new(),
        )
        .await;
    assert!(
        matches!(result, Err(EngineError::RunBusy { owner, .. }) if owner == Some(holder)),
        "{result:?}"
    );
    let record = harness.store.run(run).await.expect("read").expect("exists");
    assert_eq!(record.owner, Some(holder));
    assert_eq!(record.state, RunState::Queued);
}

#[tokio::test]
async fn a_run_held_by_an_owner_the_owners_find_dead_is_taken_over() {
    let harness = Harness::new("", WORKFLOW).await;
    let run = harness.create_run().await;
    // This very process: alive by `/proc`, dead by the owners.
    let holder = LocalProcesses.me();
    harness
        .store
        .claim_owner(run, None, Some(holder))
        .await
        .expect("claimed");
    let executor = harness.executor(1, &[]).with_owners(FakeOwners::new(&[]));
    let state = harness
        .execute(&executor, run, tidewater_engine::Resume::Continue)
        .await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    // Released under the name it claimed with: the owners' `me`.
    let record = harness.store.run(run).await.expect("read").expect("exists");
    assert_eq!(record.owner, None);
}

#[tokio::test]
async fn a_run_held_under_the_owners_own_name_is_executed() {
    let harness = Harness::new("", WORKFLOW).await;
    let run = harness.create_run().await;
    let owners = FakeOwners::new(&[]);
    // Alive as far as the owners know, but it is the executor itself: no refusal.
    owners.alive.lock().expect("not poisoned").push(owners.me);
    harness
        .store
        .claim_owner(run, None, Some(owners.me))
        .await
        .expect("claimed");
    let executor = harness.executor(1, &[]).with_owners(owners.clone());
    let state = harness
        .execute(&executor, run, tidewater_engine::Resume::Continue)
        .await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
}

#[tokio::test]
async fn queued_runs_count_against_their_cap_while_the_owners_find_their_owner_alive() {
    let harness = Harness::new("", WORKFLOW).await;
    let run = harness.create_run().await;
    let holder = no_process(2);
    harness
        .store
        .claim_owner(run, None, Some(holder))
        .await
        .expect("claimed");
    let executing = harness.store.executing_runs().await.expect("read");
    let key = RunQueueKey::of(&harness.loaded.workflow.name, None);
    let alive = count_active(&executing, &*FakeOwners::new(&[holder]));
    assert_eq!(alive.get(&key), Some(&1));
    let dead = count_active(&executing, &*FakeOwners::new(&[]));
    assert_eq!(dead.get(&key), None);
}
