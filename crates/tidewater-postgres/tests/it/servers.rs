//! Several servers on one database (issue 21): their leases, the leader's, and the fencing of
//! a server whose lease expired. Expiry is the database's: a lease of zero length has expired
//! by the next statement, so no test waits for time.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{Attempt, AttemptOutcome, Change, ProcessIdentity, RunState, TaskName};
use tidewater_postgres::PostgresStore;
use tidewater_store::{
    OwnerClaim, RunStore, ServerId, ServerRegistration, ServerStore, StoreError,
};
use tokio::sync::Barrier;

use crate::fixtures::{SchemaGuard, fresh_schema, instant, new_run, open_in};

const LONG: Duration = Duration::from_secs(60);
const ROUNDS: usize = 10;
const CONTENDERS: usize = 8;

fn registration(pid: i32) -> ServerRegistration {
    ServerRegistration {
        host: "test-host".to_owned(),
        pid,
    }
}

async fn register(store: &PostgresStore, pid: i32, lease: Duration) -> ServerId {
    store
        .register_server(&registration(pid), lease)
        .await
        .expect("register_server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn servers_racing_for_the_leadership_on_two_handles_have_one_leader() {
    let schema = SchemaGuard(fresh_schema("race_leader"));
    let first = Arc::new(open_in(&schema.0).await);
    let second = Arc::new(open_in(&schema.0).await);
    for round in 0..ROUNDS {
        let mut servers = Vec::new();
        for contender in 0..CONTENDERS {
            let store = if contender % 2 == 0 { &first } else { &second };
            servers.push(register(store, contender as i32, LONG).await);
        }
        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let tasks: Vec<_> = servers
            .iter()
            .enumerate()
            .map(|(contender, &server)| {
                let store = Arc::clone(if contender % 2 == 0 { &first } else { &second });
                let barrier = Arc::clone(&barrier);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.lead(server, LONG).await.expect("lead")
                })
            })
            .collect();
        let mut leaders = Vec::new();
        for (task, &server) in tasks.into_iter().zip(&servers) {
            if task.await.expect("a contender finished") {
                leaders.push(server);
            }
        }
        assert_eq!(leaders.len(), 1, "round {round}: {leaders:?}");
        let leader = leaders[0];
        let live = second.live_servers().await.expect("live_servers");
        assert_eq!(
            live.leader().map(|record| record.id),
            Some(leader),
            "round {round}: every handle sees the one leader"
        );
        assert!(
            first.lead(leader, LONG).await.expect("lead"),
            "the leader renews its leadership"
        );
        let other = *servers.iter().find(|&&server| server != leader).expect("8");
        assert!(
            !second.lead(other, LONG).await.expect("lead"),
            "round {round}: an unexpired leadership is not taken"
        );
        // A leader that stops ends its lease: another server leads at once.
        first.end_server(leader).await.expect("end_server");
        assert!(
            second.lead(other, LONG).await.expect("lead"),
            "round {round}"
        );
        for server in servers {
            first.end_server(server).await.expect("end_server");
        }
    }
}

#[tokio::test]
async fn an_expired_leadership_or_server_lease_is_taken_over_and_an_expired_server_never_leads() {
    let schema = SchemaGuard(fresh_schema("leader_expiry"));
    let store = open_in(&schema.0).await;
    let first = register(&store, 1, LONG).await;
    let second = register(&store, 2, LONG).await;
    // A leadership of zero length has expired by the next statement.
    assert!(store.lead(first, Duration::ZERO).await.expect("lead"));
    assert!(store.lead(second, LONG).await.expect("lead"), "taken over");
    assert!(!store.lead(first, LONG).await.expect("lead"));

    // The leader's own lease expires (it stopped renewing it): its leadership goes with it,
    // though the leadership's lease is still running.
    let expired = register(&store, 3, Duration::ZERO).await;
    assert!(
        !store.lead(expired, LONG).await.expect("lead"),
        "a server whose lease expired never leads"
    );
    assert!(
        !store.renew_server(expired, LONG).await.expect("renew"),
        "an expired lease is not renewed"
    );
    let live = store.live_servers().await.expect("live_servers");
    let ids: Vec<ServerId> = live.servers.iter().map(|server| server.id).collect();
    assert_eq!(ids, vec![first, second]);
    assert!(!live.is_alive(expired));
    assert!(live.is_alive(first));
    assert!(
        live.is_alive(ServerId(expired.0 + 1)),
        "a server registered after the look is not known to be dead"
    );
    assert_eq!(live.highest_id, Some(expired));
}

fn task() -> TaskName {
    TaskName::new("load")
}

fn started() -> Vec<Change> {
    vec![Change::AttemptStarted {
        task: task(),
        attempt: Attempt(1),
        started_at: instant("2026-03-02T00:00:06Z"),
    }]
}

fn finished() -> Vec<Change> {
    vec![
        Change::AttemptFinished {
            task: task(),
            attempt: Attempt(1),
            finished_at: instant("2026-03-02T00:00:07Z"),
            outcome: AttemptOutcome::Succeeded {
                output: None,
                log_error: None,
            },
        },
        Change::Run(RunState::Succeeded {
            started_at: instant("2026-03-02T00:00:06Z"),
            finished_at: instant("2026-03-02T00:00:07Z"),
        }),
    ]
}

/// The takeover the issue names: a server stops renewing its lease (stopped, cut off); a
/// live server takes its run over; the late writes of the first are refused whole.
#[tokio::test]
async fn a_run_taken_over_from_an_expired_server_refuses_that_servers_late_writes() {
    let schema = SchemaGuard(fresh_schema("fencing"));
    let old_handle = open_in(&schema.0).await;
    let new_handle = open_in(&schema.0).await;
    let run = old_handle
        .create_run(new_run("fenced", &["load"]))
        .await
        .expect("create_run");

    // The old server owns the run and writes to it while it does, even past its lease:
    // nobody took the run over yet.
    let old = register(&old_handle, 1, Duration::ZERO).await;
    assert_eq!(
        old_handle
            .claim_owner(run.id, None, Some(old.owner()))
            .await
            .expect("claim_owner"),
        OwnerClaim::Claimed
    );
    old_handle
        .apply_owned(run.id, old.owner(), &started())
        .await
        .expect("the owner writes");

    // Its lease expired: a live server finds it dead and takes the run over.
    let new = register(&new_handle, 2, LONG).await;
    let live = new_handle.live_servers().await.expect("live_servers");
    assert!(!live.is_alive(old), "the old server's lease expired");
    assert_eq!(
        new_handle
            .claim_owner(run.id, Some(old.owner()), Some(new.owner()))
            .await
            .expect("claim_owner"),
        OwnerClaim::Claimed
    );

    // The old server's late report is refused, and nothing of it is written.
    let refused = old_handle
        .apply_owned(run.id, old.owner(), &finished())
        .await
        .expect_err("fenced");
    assert!(
        matches!(refused, StoreError::Fenced { run: fenced } if fenced == run.id),
        "{refused:?}"
    );
    assert!(
        !old_handle.renew_server(old, LONG).await.expect("renew"),
        "nor does the old server get its lease back"
    );
    let record = new_handle.run(run.id).await.expect("run").expect("the run");
    assert_eq!(
        record.state,
        RunState::Queued,
        "the run's state is untouched"
    );
    assert_eq!(record.owner, Some(new.owner()));
    let attempts = new_handle.attempts(run.id, None).await.expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].finished, None,
        "the attempt's end is not recorded"
    );

    // The new owner's writes go through.
    new_handle
        .apply_owned(run.id, new.owner(), &finished())
        .await
        .expect("the new owner writes");
    let attempts = new_handle.attempts(run.id, None).await.expect("attempts");
    assert!(attempts[0].finished.is_some());

    // A process owner (a `tidewater run` of one machine) is fenced the same way.
    let process = ProcessIdentity {
        pid: 4242,
        start_ticks: 9,
    };
    let refused = new_handle
        .apply_owned(run.id, process, &started())
        .await
        .expect_err("not the owner");
    assert!(matches!(refused, StoreError::Fenced { .. }), "{refused:?}");
}
