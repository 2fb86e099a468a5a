//! Decisions about a run that no executor holds: a retry (`requeue`), a clear
//! (`requeue_cleared`), the requeue of the runs a graceful stop cancelled.
//!
//! Each is a compare-and-set on the run's owner (issue 21): the decider claims the run as an
//! executor would (no owner, or a dead one, to `owners.me()`), decides on a read made while
//! it holds the run, writes as its owner (`apply_owned`) and lets go. Two deciders of one
//! run (two servers, a retry on one and a clear on another, two CLI calls at once) are thus
//! serialised, and a run that someone executes is refused with [`EngineError::RunBusy`]
//! rather than written over. Reading first and writing with a plain `apply` let two
//! deciders act on the same view: a run requeued twice, or a requeue written over a run
//! another server had started meanwhile.

use std::sync::{Arc, Mutex, PoisonError};

use tidewater_core::{
    DecideContext, Event, ProcessIdentity, RunId, RunState, TaskIndex, Timestamp, Workflow, decide,
};
use tidewater_store::{OwnerClaim, RunStore};

use crate::executor::load_view;
use crate::{EngineError, Owners};

/// What a decision about an ended run did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requeued {
    /// This call queued the run again; it is `Queued` now.
    Now,
    /// Nothing was written: the run, read while this call held it, is in this state, which
    /// the decision leaves as it is (not ended: queued again by someone else meanwhile, or
    /// left running by a dead owner; succeeded, for a retry).
    Unchanged(RunState),
}

/// Puts an ended run back in the queue, as `decide` decides it ([`Event::Requeue`]: only a
/// failed or cancelled run goes back, its failed tasks reset). Whoever executes it next goes
/// on with [`Resume::Continue`](crate::Resume::Continue). `workflow` is the version the run
/// is pinned to; `owners` names the caller (the process, or the server by its lease) and
/// judges the owner on record. Refused with [`EngineError::RunBusy`] while a live owner holds
/// the run (it executes it, or decides about it now).
pub async fn requeue<S: RunStore + ?Sized>(
    store: &S,
    owners: &dyn Owners,
    workflow: &Workflow,
    run: RunId,
    now: Timestamp,
) -> Result<Requeued, EngineError> {
    decide_ended(store, owners, workflow, run, Event::Requeue, now).await
}

/// Resets `tasks` of an ended run (succeeded ones too) and puts it back in the queue, in one
/// store write ([`Event::Clear`]); a run that has not ended is left [`Requeued::Unchanged`].
/// Whoever executes it next goes on with [`Resume::Continue`](crate::Resume::Continue) and
/// runs `tasks` again (and no other failed task of the run), which is how the server
/// executes a `clear`. `workflow`, `owners` and the refusal are as for [`requeue`].
pub async fn requeue_cleared<S: RunStore + ?Sized>(
    store: &S,
    owners: &dyn Owners,
    workflow: &Workflow,
    run: RunId,
    tasks: Vec<TaskIndex>,
    now: Timestamp,
) -> Result<Requeued, EngineError> {
    decide_ended(store, owners, workflow, run, Event::Clear(tasks), now).await
}

/// Decides `event` for a run no executor holds, while holding it, and persists it.
async fn decide_ended<S: RunStore + ?Sized>(
    store: &S,
    owners: &dyn Owners,
    workflow: &Workflow,
    run: RunId,
    event: Event,
    now: Timestamp,
) -> Result<Requeued, EngineError> {
    let me = owners.me();
    let _turn = claim_turn(run, me).await;
    claim_run(store, owners, run).await?;
    let decided = decide_held(store, me, workflow, run, event, now).await;
    // Let go whatever happened: a run left held by a live owner would be refused to every
    // executor.
    let released = store.claim_owner(run, Some(me), None).await;
    let requeued = decided?;
    released?;
    Ok(requeued)
}

/// The decision itself, on a read made while `me` holds the run.
async fn decide_held<S: RunStore + ?Sized>(
    store: &S,
    me: ProcessIdentity,
    workflow: &Workflow,
    run: RunId,
    event: Event,
    now: Timestamp,
) -> Result<Requeued, EngineError> {
    let record = store.run(run).await?.ok_or(EngineError::NoSuchRun(run))?;
    let view = load_view(store, workflow, &record).await?;
    // Nothing random is decided in a requeue: no seed to keep.
    let context = DecideContext {
        now,
        jitter_seed: 0,
    };
    let decision = decide(workflow, &view, &[event], context);
    if decision.changes.is_empty() {
        return Ok(Requeued::Unchanged(decision.view.run));
    }
    store.apply_owned(run, me, &decision.changes).await?;
    Ok(Requeued::Now)
}

/// Claims `run` for `owners.me()`: a run with no owner, or with one `owners` finds dead
/// (taken over). A live owner, this process included (one of its executors holds the run),
/// refuses it with [`EngineError::RunBusy`].
pub(crate) async fn claim_run<S: RunStore + ?Sized>(
    store: &S,
    owners: &dyn Owners,
    run: RunId,
) -> Result<(), EngineError> {
    let me = owners.me();
    match store.claim_owner(run, None, Some(me)).await? {
        OwnerClaim::Claimed => Ok(()),
        OwnerClaim::NoSuchRun => Err(EngineError::NoSuchRun(run)),
        OwnerClaim::Held(Some(owner)) if owner == me || owners.is_alive(owner) => {
            Err(EngineError::RunBusy {
                run,
                owner: Some(owner),
            })
        }
        OwnerClaim::Held(previous) => {
            // The previous owner died: take over.
            match store.claim_owner(run, previous, Some(me)).await? {
                OwnerClaim::Claimed => Ok(()),
                OwnerClaim::NoSuchRun => Err(EngineError::NoSuchRun(run)),
                OwnerClaim::Held(owner) => Err(EngineError::RunBusy { run, owner }),
            }
        }
    }
}

/// Claims of one run under one owner, serialised within this process. An executor takes a
/// run recorded under its own owner as its own (it resumes what it left after a failed
/// write), and that owner names the whole process (or server): were an executor's claim to
/// come while a decision of the same process holds the run (between its requeue and its
/// release, say), the executor would take the run as its own and the release would then take
/// it from under it. Decisions hold this for their whole claim, decide and release, and the
/// executor for its claim; claims under other owners are settled by the store.
static CLAIMS: Mutex<Vec<ClaimEntry>> = Mutex::new(Vec::new());

/// A run and owner being claimed in this process, and the lock its claims take turns on.
type ClaimEntry = (RunId, ProcessIdentity, Arc<tokio::sync::Mutex<()>>);

/// Held while this process claims `run` as `owner` (see [`CLAIMS`]).
pub(crate) struct ClaimTurn {
    run: RunId,
    owner: ProcessIdentity,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Waits for this process's turn to claim `run` as `owner`.
pub(crate) async fn claim_turn(run: RunId, owner: ProcessIdentity) -> ClaimTurn {
    let lock = {
        let mut claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        match claims
            .iter()
            .find(|entry| (entry.0, entry.1) == (run, owner))
        {
            Some(entry) => entry.2.clone(),
            None => {
                let lock = Arc::new(tokio::sync::Mutex::new(()));
                claims.push((run, owner, lock.clone()));
                lock
            }
        }
    };
    ClaimTurn {
        run,
        owner,
        turn: Some(lock.lock_owned().await),
    }
}

impl Drop for ClaimTurn {
    fn drop(&mut self) {
        drop(self.turn.take());
        // The entry goes once no one holds or awaits its lock (each keeps a clone).
        let mut claims = CLAIMS.lock().unwrap_or_else(PoisonError::into_inner);
        claims.retain(|entry| {
            (entry.0, entry.1) != (self.run, self.owner) || Arc::strong_count(&entry.2) > 1
        });
    }
}
