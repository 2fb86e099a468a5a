//! Pools, rates and `max_active_tasks` held across the servers sharing one database (issue
//! 21, `SlotStore`). Expiry and rate windows are the database's clock: a lease of zero length
//! has expired by the next statement, and a rate's `until` is checked against the database's
//! own time, so no test waits for time.

use std::sync::Arc;
use std::time::Duration;

use tidewater_core::{PoolName, RunId, TaskName, WorkflowName};
use tidewater_postgres::PostgresStore;
use tidewater_store::{
    PoolRequest, ServerId, ServerRegistration, ServerStore, SlotGrant, SlotRefusal, SlotRequest,
    SlotStore,
};
use tokio::sync::Barrier;

use crate::fixtures::{SchemaGuard, fresh_schema, open_in};

const LONG: Duration = Duration::from_secs(60);
const ROUNDS: usize = 20;

async fn register(store: &PostgresStore, lease: Duration) -> ServerId {
    let registration = ServerRegistration {
        host: "test-host".to_owned(),
        pid: 1,
    };
    store
        .register_server(&registration, lease)
        .await
        .expect("register_server")
}

/// Task `task` of run `run` of workflow `w`, taking one slot of pool `db` (of `slots`).
fn pooled(run: i64, task: &str, slots: u32) -> SlotRequest {
    SlotRequest {
        run: RunId(run),
        task: TaskName::new(task),
        workflow: WorkflowName::new("w"),
        max_active_tasks: None,
        pool: Some(PoolRequest {
            pool: PoolName::new("db"),
            slots,
            needed: 1,
            rate: None,
        }),
    }
}

fn rated(run: i64, rate: &str) -> SlotRequest {
    let mut request = pooled(run, "t", 100);
    if let Some(pool) = &mut request.pool {
        pool.rate = Some(rate.parse().expect("a valid rate"));
    }
    request
}

fn capped(run: i64, limit: u32) -> SlotRequest {
    SlotRequest {
        run: RunId(run),
        task: TaskName::new("t"),
        workflow: WorkflowName::new("capped"),
        max_active_tasks: Some(limit),
        pool: None,
    }
}

async fn acquire(store: &PostgresStore, holder: ServerId, request: &SlotRequest) -> SlotGrant {
    store.acquire(holder, request).await.expect("acquire")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_holders_racing_for_a_one_slot_pool_get_it_once() {
    let schema = SchemaGuard(fresh_schema("slots_race"));
    let first = Arc::new(open_in(&schema.0).await);
    let second = Arc::new(open_in(&schema.0).await);
    let holders = [register(&first, LONG).await, register(&second, LONG).await];
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(2));
        let tasks: Vec<_> = holders
            .iter()
            .enumerate()
            .map(|(index, &holder)| {
                let store = Arc::clone(if index == 0 { &first } else { &second });
                let barrier = Arc::clone(&barrier);
                let request = pooled(round as i64 * 2 + index as i64, "t", 1);
                tokio::spawn(async move {
                    barrier.wait().await;
                    let grant = store.acquire(holder, &request).await.expect("acquire");
                    (holder, request, grant)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            let (holder, request, grant) = task.await.expect("a contender finished");
            match grant {
                SlotGrant::Granted => winners.push((holder, request)),
                SlotGrant::Refused(SlotRefusal::PoolFull {
                    used,
                    held_elsewhere,
                    ..
                }) => {
                    assert_eq!((used, held_elsewhere), (1, 1), "round {round}");
                }
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let (holder, request) = &winners[0];
        first
            .release(*holder, request.run, &request.task)
            .await
            .expect("release");
    }
}

#[tokio::test]
async fn a_dead_servers_holds_free_their_slots() {
    let schema = SchemaGuard(fresh_schema("slots_dead"));
    let store = open_in(&schema.0).await;
    // A lease of zero length has expired by the next statement: a server killed long ago.
    let dead = register(&store, Duration::ZERO).await;
    let live = register(&store, LONG).await;
    // The dead server's hold, taken while... it was alive as far as the hold is concerned:
    // its acquire is granted (nothing else holds the pool) but counts for nothing after.
    assert_eq!(
        acquire(&store, dead, &pooled(1, "t", 1)).await,
        SlotGrant::Granted
    );
    assert_eq!(
        acquire(&store, live, &pooled(2, "t", 1)).await,
        SlotGrant::Granted,
        "the dead server's hold does not fill the pool"
    );
    assert_eq!(
        acquire(&store, dead, &pooled(3, "t", 1)).await,
        SlotGrant::Refused(SlotRefusal::PoolFull {
            pool: PoolName::new("db"),
            used: 1,
            held_elsewhere: 1,
        }),
        "the live server's hold counts"
    );
}

#[tokio::test]
async fn a_servers_holds_die_with_its_ended_lease() {
    let schema = SchemaGuard(fresh_schema("slots_ended"));
    let store = open_in(&schema.0).await;
    let first = register(&store, LONG).await;
    let second = register(&store, LONG).await;
    assert_eq!(
        acquire(&store, first, &pooled(1, "t", 1)).await,
        SlotGrant::Granted
    );
    assert!(matches!(
        acquire(&store, second, &pooled(2, "t", 1)).await,
        SlotGrant::Refused(SlotRefusal::PoolFull { .. })
    ));
    store.end_server(first).await.expect("end_server");
    assert_eq!(
        acquire(&store, second, &pooled(2, "t", 1)).await,
        SlotGrant::Granted
    );
}

#[tokio::test]
async fn a_rate_refuses_the_start_past_it_until_its_window_moves_on() {
    let schema = SchemaGuard(fresh_schema("slots_rate"));
    let store = open_in(&schema.0).await;
    let first = register(&store, LONG).await;
    let second = register(&store, LONG).await;
    assert_eq!(
        acquire(&store, first, &rated(1, "2/s")).await,
        SlotGrant::Granted
    );
    assert_eq!(
        acquire(&store, second, &rated(2, "2/s")).await,
        SlotGrant::Granted
    );
    let asked_at = chrono::Utc::now();
    let SlotGrant::Refused(SlotRefusal::RateLimited { pool, until }) =
        acquire(&store, first, &rated(3, "2/s")).await
    else {
        panic!("a third start within a second is refused by the rate");
    };
    assert_eq!(pool, PoolName::new("db"));
    // The database and this machine share a clock here; a little slack for rounding.
    let ahead = until - asked_at;
    assert!(
        ahead <= chrono::TimeDelta::milliseconds(1000) && ahead > chrono::TimeDelta::zero(),
        "until is within one window ahead: {ahead:?}"
    );
    // Releasing frees slots, not starts.
    store
        .release(first, RunId(1), &TaskName::new("t"))
        .await
        .expect("release");
    assert!(matches!(
        acquire(&store, first, &rated(3, "2/s")).await,
        SlotGrant::Refused(SlotRefusal::RateLimited { .. })
    ));
    // Asking again for a hold already granted neither counts a second start nor is refused.
    assert_eq!(
        acquire(&store, second, &rated(2, "2/s")).await,
        SlotGrant::Granted
    );
}

#[tokio::test]
async fn max_active_tasks_holds_across_holders() {
    let schema = SchemaGuard(fresh_schema("slots_capped"));
    let store = open_in(&schema.0).await;
    let first = register(&store, LONG).await;
    let second = register(&store, LONG).await;
    assert_eq!(
        acquire(&store, first, &capped(1, 2)).await,
        SlotGrant::Granted
    );
    assert_eq!(
        acquire(&store, second, &capped(2, 2)).await,
        SlotGrant::Granted
    );
    assert_eq!(
        acquire(&store, first, &capped(3, 2)).await,
        SlotGrant::Refused(SlotRefusal::MaxActiveTasks {
            workflow: WorkflowName::new("capped"),
            active: 2,
            held_elsewhere: 1,
        })
    );
    store
        .release(second, RunId(2), &TaskName::new("t"))
        .await
        .expect("release");
    assert_eq!(
        acquire(&store, first, &capped(3, 2)).await,
        SlotGrant::Granted,
        "a release frees its place"
    );
}

#[tokio::test]
async fn release_all_frees_every_hold_of_a_holder_and_only_its() {
    let schema = SchemaGuard(fresh_schema("slots_release_all"));
    let store = open_in(&schema.0).await;
    let stopping = register(&store, LONG).await;
    let staying = register(&store, LONG).await;
    for task in ["a", "b"] {
        assert_eq!(
            acquire(&store, stopping, &pooled(1, task, 3)).await,
            SlotGrant::Granted
        );
    }
    assert_eq!(
        acquire(&store, staying, &pooled(2, "a", 3)).await,
        SlotGrant::Granted
    );
    assert!(matches!(
        acquire(&store, staying, &pooled(2, "b", 3)).await,
        SlotGrant::Refused(SlotRefusal::PoolFull {
            used: 3,
            held_elsewhere: 2,
            ..
        })
    ));
    store.release_all(stopping).await.expect("release_all");
    assert_eq!(
        acquire(&store, staying, &pooled(2, "b", 3)).await,
        SlotGrant::Granted
    );
    // The staying holder's two holds are still held: one slot is left.
    assert_eq!(
        acquire(&store, stopping, &pooled(3, "a", 3)).await,
        SlotGrant::Granted
    );
    assert!(matches!(
        acquire(&store, stopping, &pooled(3, "b", 3)).await,
        SlotGrant::Refused(SlotRefusal::PoolFull {
            used: 3,
            held_elsewhere: 2,
            ..
        })
    ));
}
