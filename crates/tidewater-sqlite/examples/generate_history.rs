//! Fills a store with a long history, for the HTTP API's benchmark (`benches/api.py`):
//! `RUNS` ended runs of the workflow in `FILE`, one an hour going back from now, each with
//! every task succeeded after one attempt (one in ten runs failed at its last task after a
//! retry, so that states differ).
//!
//! The runs are written through the store contract, as the engine writes them: the run
//! created, then its tasks, attempts and end in one `apply`. Each run is pinned to the
//! file's text, so the server reads them as runs of the file on disk.
//!
//! `cargo run --release -p tidewater-sqlite --example generate_history -- STORE FILE RUNS`
//! (`STORE` is the project's `.tidewater/tidewater.db`; `FILE` a workflow file whose tasks
//! are listed under `tasks:` one per line as `  NAME:`, as the benchmark writes them).

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use chrono::{DurationRound, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tidewater_core::{
    Attempt, AttemptOutcome, Change, DataInterval, FailureReason, RunState, TaskInstance, TaskName,
    TaskState, Timestamp, WorkflowName,
};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{NewRun, RunStore, RunTrigger, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, file, runs] = args.as_slice() else {
        return Err("usage: generate_history STORE FILE RUNS".into());
    };
    let runs: u32 = runs.parse()?;
    let file = Path::new(file);
    let source = std::fs::read_to_string(file)?;
    let workflow = WorkflowName::new(
        file.file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or("the file's name is its workflow's name")?,
    );
    let tasks = task_names(&source);
    if tasks.is_empty() {
        return Err(format!("{} lists no task as `  NAME:`", file.display()).into());
    }
    let hash = hex(&Sha256::digest(source.as_bytes()));

    let store = SqliteStore::open(Path::new(store)).await?;
    let started = Instant::now();
    let hour = TimeDelta::hours(1);
    let newest = Utc::now().duration_trunc(hour)? - hour;
    for number in 0..runs {
        let start = newest - hour * (runs - number) as i32;
        let record = store
            .create_run(NewRun {
                workflow: workflow.clone(),
                interval: DataInterval::new(start, start + hour).ok_or("an hour is an interval")?,
                trigger: RunTrigger::Manual,
                params: serde_json::Map::new(),
                workflow_source: source.clone(),
                workflow_hash: hash.clone(),
                tasks: tasks.clone(),
                created_at: start + hour,
                backfill: None,
            })
            .await?;
        let is_failed = number % 10 == 9;
        store
            .apply(record.id, &ended_run(&tasks, start + hour, is_failed))
            .await?;
        if (number + 1) % 10_000 == 0 {
            eprintln!(
                "{} runs of {} tasks in {:.0} s",
                number + 1,
                tasks.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.checkpoint().await?;
    store.close().await;
    println!(
        "wrote {runs} runs of {} tasks of `{workflow}` in {:.0} s",
        tasks.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Every task started one after the other, a second each; the last one of a failed run fails
/// its first attempt and its retry.
fn ended_run(tasks: &[TaskName], begin: Timestamp, is_failed: bool) -> Vec<Change> {
    let second = TimeDelta::seconds(1);
    let mut changes = vec![Change::Run(RunState::Running { started_at: begin })];
    let mut at = begin;
    for (index, task) in tasks.iter().enumerate() {
        let fails = is_failed && index + 1 == tasks.len();
        let attempts = if fails { 2 } else { 1 };
        for attempt in 1..=attempts {
            changes.push(Change::AttemptStarted {
                task: task.clone(),
                attempt: Attempt(attempt),
                started_at: at,
            });
            at += second;
            changes.push(Change::AttemptFinished {
                task: task.clone(),
                attempt: Attempt(attempt),
                finished_at: at,
                outcome: if fails {
                    AttemptOutcome::Failed {
                        reason: FailureReason::Exit { code: 1 },
                    }
                } else {
                    AttemptOutcome::Succeeded {
                        output: None,
                        log_error: None,
                    }
                },
            });
        }
        changes.push(Change::Task {
            task: task.clone(),
            instance: TaskInstance {
                state: if fails {
                    TaskState::Failed {
                        attempt: Attempt(attempts),
                        finished_at: at,
                    }
                } else {
                    TaskState::Succeeded {
                        attempt: Attempt(attempts),
                        finished_at: at,
                    }
                },
                last_attempt: attempts,
                ..TaskInstance::new()
            },
        });
    }
    changes.push(Change::Run(if is_failed {
        RunState::Failed {
            started_at: begin,
            finished_at: at,
        }
    } else {
        RunState::Succeeded {
            started_at: begin,
            finished_at: at,
        }
    }));
    changes
}

/// The names under `tasks:`, one per line, indented by two spaces.
fn task_names(source: &str) -> Vec<TaskName> {
    source
        .lines()
        .skip_while(|line| !line.starts_with("tasks:"))
        .skip(1)
        .filter_map(|line| {
            let name = line.strip_prefix("  ")?.strip_suffix(':')?;
            (!name.starts_with(' ')).then(|| TaskName::new(name))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
