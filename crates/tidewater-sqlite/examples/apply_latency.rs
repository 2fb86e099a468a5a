//! How long `SqliteStore::apply` takes, the engine's hot path (decide → persist → act).
//!
//! Measures, on a current-thread runtime as the engine runs it (median of many):
//!
//! - a typical scheduling round: 6 changes (an attempt finished, three task changes, an attempt
//!   started and its process), back to back;
//! - the same, with a pause before each round as the engine has while a task runs;
//! - 10,000 task changes in one `apply` (10,000 events for the change feed);
//! - each of those on the same store without the change feed's triggers: what the feed costs;
//! - for each pace, the floor: a plain SQLite connection committing one row (a prepared
//!   `INSERT` in autocommit mode), on a file opened with the store's settings (WAL,
//!   `synchronous = NORMAL`). No `apply` can take less.
//!
//! Prints times and ratios; it never asserts them (STYLE.md). Run it in release:
//! `cargo run --release -p tidewater-sqlite --example apply_latency [-- ROUNDS]`.

use std::error::Error;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tidewater_core::{
    Attempt, AttemptOutcome, Change, DataInterval, FailureReason, ProcessIdentity, TaskInstance,
    TaskName, TaskState, WorkflowName,
};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{NewRun, RunStore, RunTrigger, Store};

const DEFAULT_ROUNDS: u32 = 2_000;
const WIDE_TASKS: usize = 10_000;
const WIDE_ROUNDS: u32 = 15;
/// Roughly how long the engine spends between two rounds of a chain of quick tasks: starting
/// the process and noticing its exit. Idle for that long, the threads involved sleep, and
/// each wake-up costs more than in a tight loop.
const ENGINE_PAUSE: Duration = Duration::from_millis(1);

#[derive(Clone, Copy)]
enum Pace {
    BackToBack,
    AsTheEngine,
}

impl Pace {
    fn describe(self) -> String {
        match self {
            Pace::BackToBack => "back to back".to_owned(),
            Pace::AsTheEngine => format!("{} ms apart", ENGINE_PAUSE.as_millis()),
        }
    }

    async fn wait(self) {
        if let Pace::AsTheEngine = self {
            tokio::time::sleep(ENGINE_PAUSE).await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let rounds = match std::env::args().nth(1) {
        Some(rounds) => rounds.parse()?,
        None => DEFAULT_ROUNDS,
    };
    println!(
        "apply_latency: {} build; medians of {rounds} rounds back to back, {} paced, {WIDE_ROUNDS} wide",
        if cfg!(debug_assertions) {
            "DEBUG (unoptimized)"
        } else {
            "release"
        },
        rounds / 4,
    );
    let folder = tempfile::tempdir()?;

    let store = SqliteStore::open(&folder.path().join("store.sqlite")).await?;
    // The same store without the change feed's triggers: what the feed costs `apply`.
    let bare_path = folder.path().join("without_feed.sqlite");
    let bare = SqliteStore::open(&bare_path).await?;
    drop_change_feed(&bare_path)?;
    for (pace, rounds) in [(Pace::BackToBack, rounds), (Pace::AsTheEngine, rounds / 4)] {
        let floor = floor(&folder.path().join("floor.sqlite"), rounds, pace).await?;
        let small = small_rounds(&store, rounds, pace).await?;
        let without_feed = small_rounds(&bare, rounds, pace).await?;
        println!(
            "{}: apply of a 6-change round {} ({:.2} × floor of {}; {} without the change feed)",
            pace.describe(),
            micros(small),
            ratio(small, floor),
            micros(floor),
            micros(without_feed),
        );
    }
    let wide = wide_rounds(&store).await?;
    let wide_without_feed = wide_rounds(&bare).await?;
    println!(
        "apply of {WIDE_TASKS} task changes: {:.1} ms ({:.1} ms without the change feed)",
        wide.as_secs_f64() * 1e3,
        wide_without_feed.as_secs_f64() * 1e3,
    );
    store.close().await;
    bare.close().await;
    Ok(())
}

/// Drops the triggers that write the change feed (migration 0009), leaving the rest.
fn drop_change_feed(path: &std::path::Path) -> Result<(), Box<dyn Error>> {
    let connection = Connection::open(path)?;
    let triggers: Vec<String> = connection
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE 'events_%'")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if triggers.is_empty() {
        return Err("the store has no change feed triggers to drop".into());
    }
    for trigger in triggers {
        connection.execute_batch(&format!("DROP TRIGGER {trigger}"))?;
    }
    Ok(())
}

/// One `INSERT` on a plain connection, each its own transaction.
async fn floor(
    path: &std::path::Path,
    rounds: u32,
    pace: Pace,
) -> Result<Duration, Box<dyn Error>> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "wal")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.execute_batch("CREATE TABLE IF NOT EXISTS floor (value INTEGER NOT NULL)")?;
    let mut times = Vec::new();
    for round in 0..rounds {
        pace.wait().await;
        let started = Instant::now();
        connection
            .prepare_cached("INSERT INTO floor (value) VALUES (?1)")?
            .execute([i64::from(round)])?;
        times.push(started.elapsed());
    }
    Ok(median(times))
}

/// What the engine writes after an attempt of `b` ends and the next one starts: the attempt
/// finished, `a` succeeded, `b` running again, `c` queued, the new attempt and its process.
async fn small_rounds(
    store: &SqliteStore,
    rounds: u32,
    pace: Pace,
) -> Result<Duration, Box<dyn Error>> {
    let run = store
        .create_run(new_run(
            "small",
            ["a", "b", "c", "d", "e"].map(String::from),
        ))
        .await?;
    let (a, b, c) = (TaskName::new("a"), TaskName::new("b"), TaskName::new("c"));
    let at = instant("2026-03-01T02:00:00Z");
    store
        .apply(
            run.id,
            &[Change::AttemptStarted {
                task: b.clone(),
                attempt: Attempt(1),
                started_at: at,
            }],
        )
        .await?;
    let mut times = Vec::new();
    for number in 2..rounds + 2 {
        let changes = [
            Change::AttemptFinished {
                task: b.clone(),
                attempt: Attempt(number - 1),
                finished_at: at,
                outcome: AttemptOutcome::Failed {
                    reason: FailureReason::Exit { code: 1 },
                },
            },
            Change::Task {
                task: a.clone(),
                instance: TaskInstance {
                    state: TaskState::Succeeded {
                        attempt: Attempt(1),
                        finished_at: at,
                    },
                    last_attempt: 1,
                    attempt_base: 0,
                    lost_attempts: 0,
                    output: Some(serde_json::json!({"rows": number})),
                },
            },
            Change::Task {
                task: b.clone(),
                instance: TaskInstance {
                    state: TaskState::Running {
                        attempt: Attempt(number),
                        started_at: at,
                    },
                    last_attempt: number,
                    attempt_base: 0,
                    lost_attempts: 0,
                    output: None,
                },
            },
            Change::Task {
                task: c.clone(),
                instance: TaskInstance {
                    state: TaskState::Queued {
                        attempt: Attempt(1),
                        since: at,
                    },
                    ..TaskInstance::new()
                },
            },
            Change::AttemptStarted {
                task: b.clone(),
                attempt: Attempt(number),
                started_at: at,
            },
            Change::AttemptProcess {
                task: b.clone(),
                attempt: Attempt(number),
                process: ProcessIdentity {
                    pid: 4000 + number as i32,
                    start_ticks: u64::from(number),
                },
            },
        ];
        pace.wait().await;
        let started = Instant::now();
        store.apply(run.id, &changes).await?;
        times.push(started.elapsed());
    }
    Ok(median(times))
}

/// Every task of a 10,000-task run changing state in one batch, alternating between two
/// states so that every round writes every row.
async fn wide_rounds(store: &SqliteStore) -> Result<Duration, Box<dyn Error>> {
    let names: Vec<String> = (0..WIDE_TASKS)
        .map(|index| format!("task_{index:05}"))
        .collect();
    let run = store.create_run(new_run("wide", names.clone())).await?;
    let mut times = Vec::new();
    for round in 0..WIDE_ROUNDS {
        let changes: Vec<Change> = names
            .iter()
            .map(|name| Change::Task {
                task: TaskName::new(name.as_str()),
                instance: TaskInstance {
                    state: wide_state(round),
                    ..TaskInstance::new()
                },
            })
            .collect();
        let started = Instant::now();
        store.apply(run.id, &changes).await?;
        times.push(started.elapsed());
    }
    // The timings were of writes that happened: the run holds the last round's states.
    let last = wide_state(WIDE_ROUNDS - 1);
    let tasks = store.task_instances(run.id).await?;
    if tasks.len() != WIDE_TASKS || tasks.iter().any(|(_, instance)| instance.state != last) {
        return Err("the wide run does not hold the last round's states".into());
    }
    Ok(median(times))
}

fn wide_state(round: u32) -> TaskState {
    if round.is_multiple_of(2) {
        TaskState::Queued {
            attempt: Attempt(1),
            since: instant("2026-03-01T02:00:00Z"),
        }
    } else {
        TaskState::Skipped
    }
}

fn new_run(workflow: &str, tasks: impl IntoIterator<Item = String>) -> NewRun {
    NewRun {
        workflow: WorkflowName::new(workflow),
        interval: DataInterval::new(
            instant("2026-03-01T00:00:00Z"),
            instant("2026-03-02T00:00:00Z"),
        )
        .expect("start < end"),
        trigger: RunTrigger::Manual,
        params: serde_json::Map::new(),
        workflow_source: format!("name: {workflow}\n"),
        workflow_hash: format!("hash-of-{workflow}"),
        tasks: tasks.into_iter().map(TaskName::new).collect(),
        created_at: instant("2026-03-02T00:00:05Z"),
        backfill: None,
    }
}

fn instant(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 instant")
        .to_utc()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn micros(time: Duration) -> String {
    format!("{:.0} µs", time.as_secs_f64() * 1e6)
}

fn ratio(time: Duration, floor: Duration) -> f64 {
    time.as_secs_f64() / floor.as_secs_f64()
}
