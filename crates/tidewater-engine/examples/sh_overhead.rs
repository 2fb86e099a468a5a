//! The orchestration overhead of `sh` tasks, measured inside one process.
//!
//! Two scenarios, the same as `benches/engine.py` but without the CLI's process start:
//!
//! - a chain of 50 `sh: "true"` tasks, against the floor `for i in $(seq 50); do /bin/sh -c
//!   true; done` (one `/bin/sh -c true` per task, as the engine starts; `true` alone would be
//!   a shell builtin and start no process at all);
//! - 100 independent `sh: "true"` tasks at parallelism 2, against
//!   `seq 100 | xargs -P2 -I{} /bin/sh -c true`.
//!
//! Each measurement alternates the floor and Tidewater, on a fresh store in a fresh folder
//! under the temporary folder (`TMPDIR`) each time; what is timed is creating the run and
//! executing it (opening the store is not, as a long-lived scheduler opens it once).
//!
//! Prints medians, ratios, the overhead per task, the CPU time this process (all its
//! threads: the executor's and SQLite's, not the task processes) spent per task, and what
//! creating one attempt's log file costs in the same place at the same time. That last one
//! moves the results most: each attempt creates an inode (its log file, in its run's folder),
//! and on ext4 without a journal (this project's VMs) an inode costs about 10 µs in a quiet
//! folder but up to 0.5 ms where many files were deleted shortly before (ext4 then skips
//! every recently freed inode it finds). For the same reason the folders are removed only at
//! the end.
//!
//! It never asserts times (STYLE.md). Run it in release:
//! `cargo run --release -p tidewater-engine --example sh_overhead [-- RUNS [chain|fan]]`.

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use tidewater_core::{
    DataInterval, QueueLimits, RetryPolicy, RunState, Task, TaskAction, TaskIndex, TaskName,
    TaskRole, TriggerRule, Workflow, WorkflowName, WorkflowSettings,
};
use tidewater_engine::{
    CancelHandle, Executor, ExecutorSettings, Resume, SilentObserver, SystemClock,
};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{NewRun, RunStore, RunTrigger};

const DEFAULT_RUNS: usize = 9;
const CHAIN_TASKS: usize = 50;
const INDEPENDENT_TASKS: usize = 100;
const INDEPENDENT_PARALLELISM: u32 = 2;
/// How many log files `log_file_creation` creates.
const LOG_PROBES: usize = 50;

/// One benchmark: a workflow with its parallelism, and the shell command of its floor.
struct Scenario {
    name: &'static str,
    description: String,
    workflow: Workflow,
    parallelism: u32,
    floor: String,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut arguments = std::env::args().skip(1);
    let runs = match arguments.next() {
        Some(runs) => runs.parse()?,
        None => DEFAULT_RUNS,
    };
    let only = arguments.next();
    // One thread, as the `tidewater` binary runs the executor.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "sh_overhead: {} build, {} cores, medians of {runs}",
        if cfg!(debug_assertions) {
            "DEBUG (unoptimized)"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, |cores| cores.get()),
    );
    let scenarios = [
        Scenario {
            name: "chain",
            description: format!("chain of {CHAIN_TASKS} vs a shell loop"),
            workflow: workflow("chain50", CHAIN_TASKS, true)?,
            // Any parallelism: a chain runs one task at a time.
            parallelism: 2,
            floor: format!("for i in $(seq {CHAIN_TASKS}); do /bin/sh -c true; done"),
        },
        Scenario {
            name: "fan",
            description: format!(
                "{INDEPENDENT_TASKS} independent at -P{INDEPENDENT_PARALLELISM} vs xargs"
            ),
            workflow: workflow("fan100", INDEPENDENT_TASKS, false)?,
            parallelism: INDEPENDENT_PARALLELISM,
            floor: format!(
                "seq {INDEPENDENT_TASKS} | xargs -P{INDEPENDENT_PARALLELISM} -I{{}} /bin/sh -c true"
            ),
        },
    ];
    // Removed only at the end (see the top of this file).
    let mut folders = Vec::new();
    for scenario in &scenarios {
        if only.as_deref().is_some_and(|only| only != scenario.name) {
            continue;
        }
        let mut ours = Vec::with_capacity(runs);
        let mut cpu = Vec::with_capacity(runs);
        let mut floors = Vec::with_capacity(runs);
        let mut log_files = Vec::with_capacity(runs);
        for _ in 0..runs {
            floors.push(floor(&scenario.floor)?);
            let folder = tempfile::tempdir()?;
            log_files.push(log_file_creation(folder.path())?);
            let measurement =
                runtime.block_on(execute(&scenario.workflow, scenario.parallelism, &folder))?;
            folders.push(folder);
            ours.push(measurement.elapsed);
            cpu.push(measurement.cpu);
        }
        let ours = median(ours).as_secs_f64() * 1e3;
        let floor = median(floors).as_secs_f64() * 1e3;
        let cpu = median(cpu).as_secs_f64() * 1e3;
        let log_file = median(log_files).as_secs_f64() * 1e6;
        let tasks = scenario.workflow.tasks().len() as f64;
        println!(
            "{:<38} tidewater {ours:>6.1} ms  floor {floor:>6.1} ms  ratio {:.2}  \
             overhead {:.3} ms/task  cpu {:.3} ms/task  log file {log_file:.0} µs",
            scenario.description,
            ours / floor,
            (ours - floor) / tasks,
            cpu / tasks,
        );
    }
    Ok(())
}

/// `count` tasks running `true`, each needing the one before if `is_chain`.
fn workflow(name: &str, count: usize, is_chain: bool) -> Result<Workflow, Box<dyn Error>> {
    let tasks = (0..count)
        .map(|index| Task {
            name: TaskName::new(format!("t{index}")),
            action: TaskAction::Sh {
                command: "true".to_owned(),
                env: Vec::new(),
            },
            needs: if is_chain && index > 0 {
                vec![TaskIndex(index as u32 - 1)]
            } else {
                Vec::new()
            },
            trigger: TriggerRule::AllSuccess,
            retry: RetryPolicy::default(),
            timeout: None,
            pool: None,
            pool_slots: 1,
            priority: 0,
            role: TaskRole::Step,
            queue: None,
        })
        .collect();
    let settings = WorkflowSettings {
        name: WorkflowName::new(name),
        schedule: None,
        data_triggers: Vec::new(),
        timezone: chrono_tz::UTC,
        start: None,
        catchup: false,
        max_active_runs: 1,
        max_active_tasks: None,
        params: serde_json::Map::new(),
        timeout: None,
        deadline: None,
    };
    Ok(Workflow::new(settings, tasks)?)
}

/// One execution: the time from creating the run to its end, and this process's CPU time
/// in it.
struct Measurement {
    elapsed: Duration,
    cpu: Duration,
}

/// Creates a run of `workflow` in a fresh store in `folder` and executes it.
async fn execute(
    workflow: &Workflow,
    parallelism: u32,
    folder: &tempfile::TempDir,
) -> Result<Measurement, Box<dyn Error>> {
    let state_dir = folder.path().join(".tidewater");
    let store = Arc::new(SqliteStore::open(&state_dir.join("tidewater.db")).await?);
    let settings = ExecutorSettings {
        project_root: folder.path().to_path_buf(),
        state_dir,
        limits: QueueLimits {
            parallelism,
            pools: HashMap::new(),
            pool_rates: HashMap::new(),
            max_active_tasks: HashMap::new(),
            aging: Duration::from_secs(60),
        },
        kill_grace: Duration::from_secs(10),
        jitter_seed: 1,
    };
    let executor = Executor::new(
        store.clone(),
        Arc::new(SystemClock),
        settings,
        Arc::new(SilentObserver),
    );
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date");
    let cpu_before = process_cpu();
    let started = Instant::now();
    let run = store
        .create_run(NewRun {
            workflow: workflow.name.clone(),
            interval: DataInterval::new(start, start + chrono::Duration::days(1))
                .expect("start before end"),
            trigger: RunTrigger::Manual,
            params: workflow.params.clone(),
            workflow_source: String::new(),
            workflow_hash: String::new(),
            tasks: workflow
                .tasks()
                .iter()
                .map(|task| task.name.clone())
                .collect(),
            created_at: Utc::now(),
            backfill: None,
        })
        .await?
        .id;
    let state = executor
        .execute(workflow, run, Resume::Continue, &CancelHandle::new())
        .await?;
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    if !matches!(state, RunState::Succeeded { .. }) {
        return Err(format!("the run ended {state:?}").into());
    }
    Ok(Measurement { elapsed, cpu })
}

/// The median time to create an empty file, as an attempt's log is created in its run's
/// folder, measured `LOG_PROBES` times in a new folder inside `folder`.
fn log_file_creation(folder: &Path) -> Result<Duration, Box<dyn Error>> {
    let probe = folder.join("log-creation-probe");
    std::fs::create_dir(&probe)?;
    let mut times = Vec::with_capacity(LOG_PROBES);
    for index in 0..LOG_PROBES {
        let started = Instant::now();
        std::fs::File::create(probe.join(format!("t{index}.1.log")))?;
        times.push(started.elapsed());
    }
    Ok(median(times))
}

/// Runs the floor's shell command and returns how long it took.
fn floor(script: &str) -> Result<Duration, Box<dyn Error>> {
    let started = Instant::now();
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .status()?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(format!("the floor `{script}` failed: {status}").into());
    }
    Ok(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The CPU time of this process's live threads (not of its children), from each thread's
/// `schedstat`. The store's threads live as long as the store, so a difference taken while
/// the store is open counts them all.
fn process_cpu() -> Duration {
    let Ok(threads) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanoseconds = threads
        .flatten()
        .filter_map(|thread| std::fs::read_to_string(thread.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanoseconds)
}
