//! Retries and clears of one run at once, and against the executor of that run (issue 21):
//! `requeue` decides while it holds the run, so two deciders never act on the same view and
//! a run someone executes is refused rather than written over. On a real SQLite store and on
//! the PostgreSQL store, with real task processes.
//!
//! Regression: `requeue` read the run, decided, and wrote with a plain `apply`; two retries
//! (two servers, or two CLI calls) both requeued the run, and a retry racing the server that
//! had just picked the run up wrote a requeue over the run it executed.

use std::sync::Arc;

use tidewater_core::{ProcessIdentity, RunId, RunState, TaskName, Workflow};
use tidewater_engine::{
    CancelHandle, EngineError, Executor, Owners, Requeued, Resume, requeue, requeue_cleared,
};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{RunStore, RunTrigger, ServerId};
use tokio::sync::Barrier;

use crate::harness::{Harness, at, wait_for_file};
use crate::postgres::postgres_store;

/// `flaky` fails until the file `ready` exists; `steady` always succeeds.
const FLAKY: &str = "tasks:\n  steady:\n    sh: \"true\"\n  flaky:\n    sh: test -f ready\n";

/// Deciders racing per round, and rounds.
const CONTENDERS: usize = 8;
const ROUNDS: usize = 20;

/// A server sharing the store, by its lease; every server it judges is alive (none of these
/// tests kills one).
#[derive(Debug)]
struct LiveServer(ServerId);

impl Owners for LiveServer {
    fn me(&self) -> ProcessIdentity {
        self.0.owner()
    }

    fn is_alive(&self, _owner: ProcessIdentity) -> bool {
        true
    }
}

/// Who the contenders of a round are.
#[derive(Debug, Clone, Copy)]
enum Contenders {
    /// Each a server of its own: the store's compare-and-set settles them.
    Servers,
    /// All one server (requests to its API at once): its process settles them.
    OneServer,
}

impl Contenders {
    fn owners(self, index: usize) -> Arc<dyn Owners> {
        match self {
            Contenders::Servers => Arc::new(LiveServer(ServerId(100 + index as i64))),
            Contenders::OneServer => Arc::new(LiveServer(ServerId(100))),
        }
    }
}

fn executor<S: RunStore + ?Sized + 'static>(harness: &Harness, store: &Arc<S>) -> Executor<S> {
    Executor::new(
        store.clone(),
        Arc::new(harness.clock.clone()),
        harness.settings(2, &[], &[]),
        harness.observer.clone(),
    )
}

async fn attempt_count<S: RunStore + ?Sized>(store: &S, run: RunId, task: &str) -> usize {
    store
        .attempts(run, Some(&TaskName::new(task)))
        .await
        .expect("attempts")
        .len()
}

/// A run of [`FLAKY`] executed until it failed (`flaky` failed once), `ready` then written.
async fn failed_run<S: RunStore + ?Sized + 'static>(
    harness: &Harness,
    store: &Arc<S>,
    executor: &Executor<S>,
) -> RunId {
    let _ = std::fs::remove_file(harness.path("ready"));
    let run = store
        .create_run(harness.new_run(RunTrigger::Manual))
        .await
        .expect("create run")
        .id;
    let state = harness.execute(executor, run, Resume::Continue).await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");
    std::fs::write(harness.path("ready"), "").expect("write ready");
    run
}

/// `CONTENDERS` retries of one failed run at once, behind a barrier, `ROUNDS` times: each
/// round exactly one requeues it; every other is refused (the run was held) or finds it
/// queued already; executed afterwards, the run has exactly one new attempt of its failed
/// task, and none of its succeeded one.
async fn concurrent_retries_requeue_once<S: RunStore + ?Sized + 'static>(
    harness: &Harness,
    store: Arc<S>,
    contenders: Contenders,
) {
    let executor = executor(harness, &store);
    let workflow: Arc<Workflow> = Arc::new(harness.loaded.workflow.clone());
    let mut refused = 0;
    for round in 0..ROUNDS {
        let run = failed_run(harness, &store, &executor).await;
        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let retries: Vec<_> = (0..CONTENDERS)
            .map(|index| {
                let (store, workflow, barrier) = (store.clone(), workflow.clone(), barrier.clone());
                let owners = contenders.owners(index);
                tokio::spawn(async move {
                    barrier.wait().await;
                    requeue(&*store, &*owners, &workflow, run, at(10)).await
                })
            })
            .collect();
        let mut requeued = 0;
        for retry in retries {
            match retry.await.expect("the retry task ends") {
                Ok(Requeued::Now) => requeued += 1,
                Ok(Requeued::Unchanged(RunState::Queued)) => {}
                Err(EngineError::RunBusy { run: busy, .. }) if busy == run => refused += 1,
                other => panic!("round {round}: a retry answered {other:?}"),
            }
        }
        assert_eq!(requeued, 1, "round {round}: one retry requeues the run");
        let record = store.run(run).await.expect("read").expect("exists");
        assert_eq!(record.state, RunState::Queued, "round {round}");
        assert_eq!(record.owner, None, "round {round}: every retry let go");

        let state = harness.execute(&executor, run, Resume::Continue).await;
        assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
        assert_eq!(
            attempt_count(&*store, run, "flaky").await,
            2,
            "round {round}"
        );
        assert_eq!(
            attempt_count(&*store, run, "steady").await,
            1,
            "round {round}"
        );
    }
    eprintln!(
        "{contenders:?}: {refused} of {} losing retries were refused while the run was held, \
         the others found it queued",
        ROUNDS * (CONTENDERS - 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_servers_sharing_a_sqlite_store_requeue_a_failed_run_once() {
    let harness = Harness::new("", FLAKY).await;
    concurrent_retries_requeue_once(&harness, harness.store.clone(), Contenders::Servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_to_one_server_requeue_a_failed_run_once() {
    let harness = Harness::new("", FLAKY).await;
    concurrent_retries_requeue_once(&harness, harness.store.clone(), Contenders::OneServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_servers_sharing_a_postgres_store_requeue_a_failed_run_once() {
    let harness = Harness::new("", FLAKY).await;
    let (store, _schema) = postgres_store("requeue_race").await;
    concurrent_retries_requeue_once(&harness, store, Contenders::Servers).await;
}

/// `flaky` fails until `ready` exists, then writes `started` and waits for `open`
/// (executed: it holds the run).
const HELD: &str = "tasks:\n  flaky:\n    sh: test -f ready && echo > started && until [ -e open ]; do sleep 0.01; done\n";

/// A server retries a failed run and executes it; while it does, a retry from another
/// server, a retry and a clear from the executing server itself are each refused with the
/// server as the owner, and write nothing: the run ends with the one attempt the server
/// started, and no other.
async fn retries_during_execution_are_refused<S: RunStore + ?Sized + 'static>(
    harness: &mut Harness,
    store: Arc<S>,
) {
    let server = Arc::new(LiveServer(ServerId(1)));
    let executor = Arc::new(executor(harness, &store).with_owners(server.clone()));
    let run = failed_run(harness, &store, &executor).await;
    let workflow = &harness.loaded.workflow;
    assert_eq!(
        requeue(&*store, &*server, workflow, run, at(10))
            .await
            .expect("requeued"),
        Requeued::Now
    );
    let executing = {
        let (executor, workflow) = (executor.clone(), workflow.clone());
        tokio::spawn(async move {
            executor
                .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
                .await
        })
    };
    // The second attempt itself: a change of the first one (its pid) may still be queued
    // for `wait_for`, and the executor claims the run before it starts the task.
    wait_for_file(&harness.path("started")).await;

    let other_server = LiveServer(ServerId(2));
    let workflow = &harness.loaded.workflow;
    let everything = workflow.indices().collect::<Vec<_>>();
    let refusals = [
        requeue(&*store, &other_server, workflow, run, at(20)).await,
        requeue(&*store, &*server, workflow, run, at(20)).await,
        requeue_cleared(&*store, &*server, workflow, run, everything, at(20)).await,
    ];
    for refusal in refusals {
        assert!(
            matches!(refusal, Err(EngineError::RunBusy { owner, .. }) if owner == Some(server.me())),
            "{refusal:?}"
        );
    }
    let record = store.run(run).await.expect("read").expect("exists");
    assert!(
        matches!(record.state, RunState::Running { .. }),
        "{record:?}"
    );
    assert_eq!(record.owner, Some(server.me()));

    std::fs::write(harness.path("open"), "").expect("write open");
    let state = executing
        .await
        .expect("the executor ends")
        .expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(attempt_count(&*store, run, "flaky").await, 2);
    let record = store.run(run).await.expect("read").expect("exists");
    assert_eq!(record.owner, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_clears_of_a_run_a_server_executes_are_refused_on_sqlite() {
    let mut harness = Harness::new("", HELD).await;
    let store: Arc<SqliteStore> = harness.store.clone();
    retries_during_execution_are_refused(&mut harness, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_clears_of_a_run_a_server_executes_are_refused_on_postgres() {
    let mut harness = Harness::new("", HELD).await;
    let (store, _schema) = postgres_store("requeue_busy").await;
    retries_during_execution_are_refused(&mut harness, store).await;
}
