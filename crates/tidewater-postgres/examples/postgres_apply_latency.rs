//! How long `PostgresStore::apply` takes, the engine's hot path, against the machine's
//! PostgreSQL (`TIDEWATER_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`),
//! in a schema of its own dropped at the end.
//!
//! Measures the median of many rounds of a typical scheduling round (6 changes: an attempt
//! finished, three task changes, an attempt started and its process), back to back, and
//! `create_run` of a 3-task run; and the floor: one plain connection committing one row (a
//! prepared `INSERT` in autocommit mode) into a table of the same schema. No `apply` can
//! take less than one commit. Also a pool slot's `acquire` and `release` as a server of
//! several confirms it (`SlotStore`). Prints times and ratios; it never asserts them (STYLE.md).
//! `cargo run -p tidewater-postgres --example postgres_apply_latency [-- ROUNDS]`.

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tidewater_core::{
    Attempt, AttemptOutcome, Change, DataInterval, FailureReason, PoolName, ProcessIdentity, RunId,
    TaskInstance, TaskName, TaskState, WorkflowName,
};
use tidewater_postgres::{PostgresLocation, PostgresStore};
use tidewater_store::{
    NewRun, PoolRequest, RunStore, RunTrigger, ServerRegistration, ServerStore, SlotGrant,
    SlotRequest, SlotStore, Store,
};

const DEFAULT_ROUNDS: u32 = 500;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let rounds: u32 = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => DEFAULT_ROUNDS,
    };
    let url = std::env::var("TIDEWATER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("tw_bench_{}", std::process::id());
    let store = PostgresStore::open(&PostgresLocation {
        url: url.clone(),
        password: None,
        schema: Some(schema.clone()),
    })
    .await?;

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE TABLE {schema}.floor (id BIGSERIAL PRIMARY KEY, value BIGINT NOT NULL)"
        ))
        .await?;
    let insert = client
        .prepare(&format!("INSERT INTO {schema}.floor (value) VALUES ($1)"))
        .await?;
    let mut floor = Vec::new();
    for round in 0..rounds {
        let start = Instant::now();
        client.execute(&insert, &[&i64::from(round)]).await?;
        floor.push(start.elapsed());
    }

    let tasks = ["extract", "transform", "load"];
    let mut creates = Vec::new();
    let mut applies = Vec::new();
    let at = DateTime::<Utc>::UNIX_EPOCH;
    // Every other run is written as its owner does (`apply_owned`: the owner checked, and the
    // run's row locked, in the same transaction), interleaved so that both meet the same load.
    let mut owned_applies = Vec::new();
    let owner = ProcessIdentity {
        pid: 0,
        start_ticks: 1,
    };
    for round in 0..rounds / 4 {
        let new_run = NewRun {
            workflow: WorkflowName::new("bench"),
            interval: DataInterval::new(at, at + chrono::Duration::hours(1)).ok_or("interval")?,
            trigger: RunTrigger::Manual,
            params: serde_json::Map::new(),
            workflow_source: String::new(),
            workflow_hash: String::new(),
            tasks: tasks.iter().map(|task| TaskName::new(*task)).collect(),
            created_at: at,
            backfill: None,
        };
        let start = Instant::now();
        let run = store.create_run(new_run).await?;
        creates.push(start.elapsed());
        let is_owned = round % 2 == 1;
        if is_owned {
            store.claim_owner(run.id, None, Some(owner)).await?;
        }
        // One round per task boundary: the previous task's attempt ends, the next starts.
        for attempt in 1..=4u32 {
            let task = |name: &str, state| Change::Task {
                task: TaskName::new(name),
                instance: TaskInstance {
                    state,
                    last_attempt: attempt,
                    ..TaskInstance::new()
                },
            };
            let mut changes = Vec::new();
            if attempt > 1 {
                changes.push(Change::AttemptFinished {
                    task: TaskName::new("extract"),
                    attempt: Attempt(attempt - 1),
                    finished_at: at,
                    outcome: AttemptOutcome::Failed {
                        reason: FailureReason::Exit { code: 1 },
                    },
                });
            }
            changes.extend([
                task(
                    "extract",
                    TaskState::Running {
                        attempt: Attempt(attempt),
                        started_at: at,
                    },
                ),
                task("transform", TaskState::Pending),
                task("load", TaskState::Pending),
                Change::AttemptStarted {
                    task: TaskName::new("extract"),
                    attempt: Attempt(attempt),
                    started_at: at,
                },
                Change::AttemptProcess {
                    task: TaskName::new("extract"),
                    attempt: Attempt(attempt),
                    process: ProcessIdentity {
                        pid: 4242,
                        start_ticks: 7,
                    },
                },
            ]);
            let start = Instant::now();
            if is_owned {
                store.apply_owned(run.id, owner, &changes).await?;
                owned_applies.push(start.elapsed());
            } else {
                store.apply(run.id, &changes).await?;
                applies.push(start.elapsed());
            }
        }
    }
    // A pool's hold as a server confirms it before a task starts (several servers on one
    // database, `SlotStore`), and its release when the task ends: of a pool with a rate,
    // whose acquire also counts the start in the window.
    let server = store
        .register_server(
            &ServerRegistration {
                host: "bench".to_owned(),
                pid: std::process::id() as i32,
            },
            Duration::from_secs(600),
        )
        .await?;
    let mut acquires = Vec::new();
    let mut releases = Vec::new();
    for round in 0..rounds {
        let request = SlotRequest {
            run: RunId(i64::from(round)),
            task: TaskName::new("extract"),
            workflow: WorkflowName::new("bench"),
            max_active_tasks: None,
            pool: Some(PoolRequest {
                pool: PoolName::new("api"),
                slots: 4,
                needed: 1,
                rate: Some("100000/s".parse()?),
            }),
        };
        let start = Instant::now();
        let grant = store.acquire(server, &request).await?;
        acquires.push(start.elapsed());
        if grant != SlotGrant::Granted {
            return Err(format!("round {round}: the pool's slot was refused: {grant:?}").into());
        }
        let start = Instant::now();
        store.release(server, request.run, &request.task).await?;
        releases.push(start.elapsed());
    }
    store.end_server(server).await?;
    store.close().await;
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;

    let floor = median(&mut floor);
    let apply = median(&mut applies);
    let create = median(&mut creates);
    let owned = median(&mut owned_applies);
    println!("PostgreSQL store on {}", redacted(&url));
    println!("floor: one prepared INSERT committed      median {floor:>10.1?}");
    println!(
        "apply: a 5-6 change scheduling round       median {apply:>10.1?}  {:.1}x floor  ({} rounds)",
        ratio(apply, floor),
        applies.len()
    );
    println!(
        "apply_owned: the same, owner checked       median {owned:>10.1?}  {:.1}x floor  ({} rounds)",
        ratio(owned, floor),
        owned_applies.len()
    );
    println!(
        "create_run: a 3-task run                   median {create:>10.1?}  {:.1}x floor  ({} runs)",
        ratio(create, floor),
        creates.len()
    );
    let acquire = median(&mut acquires);
    let release = median(&mut releases);
    println!(
        "slots: acquire of a rated pool's slot      median {acquire:>10.1?}  {:.1}x floor  ({} rounds)",
        ratio(acquire, floor),
        acquires.len()
    );
    println!(
        "slots: its release                         median {release:>10.1?}  {:.1}x floor  ({} rounds)",
        ratio(release, floor),
        releases.len()
    );
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ratio(time: Duration, floor: Duration) -> f64 {
    time.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn redacted(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_owned(),
    }
}
