//! Benchmarks of the scheduler service (issue 4), on the real store and real processes:
//!
//! - latency from an interval's end to its first task's start: a manual clock is set to the
//!   end of an interval and the wall time until the task's attempt is recorded running is
//!   measured (the scheduler's whole reaction: wake, create the run, start it, decide,
//!   persist, spawn `true`);
//! - a service with 1,000 scheduled workflows idling: CPU time and resident memory over a
//!   window in which nothing is due;
//! - a backfill of 365 daily runs of a 10-task `empty` workflow: orchestration time per task.
//!
//! `cargo run --release -p tidewater-engine --example service_bench [-- --samples 50]`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use tidewater_core::{Change, QueueLimits, RunId, RunView, TaskState, Workflow};
use tidewater_engine::{
    Catalog, Clock, Executor, ExecutorSettings, ManualClock, RunObserver, Scheduling, Scope,
    Service, ServiceObserver, SilentObserver, SystemClock, new_run,
};
use tidewater_spec::Project;
use tidewater_sqlite::SqliteStore;
use tidewater_store::{ControlStore, NewBackfill, RunRecord, RunTrigger, WorkflowHealth};
use tokio::sync::{Notify, watch};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let samples: usize = std::env::args()
        .skip_while(|arg| arg != "--samples")
        .nth(1)
        .and_then(|value| value.parse().ok())
        .unwrap_or(50);
    latency(samples).await;
    idle().await;
    backfill().await;
}

struct Quiet;

impl ServiceObserver for Quiet {
    fn run_created(&self, _: &RunRecord) {}
    fn run_started(&self, _: &RunRecord) {}
    fn run_ended(
        &self,
        _: RunId,
        _: &tidewater_core::WorkflowName,
        _: &Result<tidewater_core::RunState, String>,
    ) {
    }
    fn problem(&self, message: &str) {
        eprintln!("{message}");
    }
}

/// Records the wall time at which a task is first seen running.
#[derive(Default)]
struct FirstStart {
    seen: Mutex<Vec<Instant>>,
}

impl RunObserver for FirstStart {
    fn changed(&self, _: RunId, _: &Workflow, changes: &[Change], _: &RunView) {
        for change in changes {
            if let Change::Task { instance, .. } = change
                && matches!(instance.state, TaskState::Running { .. })
            {
                self.seen.lock().expect("not poisoned").push(Instant::now());
            }
        }
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    project: Arc<Project>,
    store: Arc<SqliteStore>,
}

async fn setup(workflows: &[(String, String)]) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("tidewater.toml"), "").expect("toml");
    std::fs::create_dir_all(dir.path().join("workflows")).expect("mkdir");
    for (name, text) in workflows {
        std::fs::write(dir.path().join(format!("workflows/{name}.yaml")), text).expect("write");
    }
    let project = Arc::new(Project::open(dir.path()).unwrap_or_else(|d| panic!("{d}")));
    let store = Arc::new(
        SqliteStore::open(&dir.path().join(".tidewater/tidewater.db"))
            .await
            .expect("store"),
    );
    Setup {
        _dir: dir,
        project,
        store,
    }
}

fn catalog(project: &Project) -> Catalog {
    let (loaded, diagnostics) = project.load_workflows();
    assert!(diagnostics.is_empty(), "{}", diagnostics.render(false));
    Catalog {
        workflows: loaded
            .into_iter()
            .map(|loaded| (loaded.workflow.name.clone(), Arc::new(loaded)))
            .collect(),
        files: Vec::<WorkflowHealth>::new(),
    }
}

fn service(
    setup: &Setup,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn RunObserver>,
    scope: Scope,
) -> Service<SqliteStore> {
    let settings = ExecutorSettings {
        project_root: setup.project.root.clone(),
        state_dir: setup.project.config.state_dir.clone(),
        limits: QueueLimits {
            parallelism: 2,
            ..QueueLimits::default()
        },
        kill_grace: Duration::from_secs(5),
        jitter_seed: 1,
    };
    let executor = Executor::new(setup.store.clone(), clock.clone(), settings, observer);
    Service {
        store: setup.store.clone(),
        clock,
        executor: Arc::new(executor),
        project: setup.project.clone(),
        scope,
        observer: Arc::new(Quiet),
        commits: None,
        scheduling: Scheduling::Always,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn latency(samples: usize) {
    let yaml = "schedule: \"* * * * *\"\ntimezone: UTC\ncatchup: false\ntasks:\n  first:\n    sh: \"true\"\n";
    let setup = setup(&[("minutely".to_owned(), yaml.to_owned())]).await;
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 30)
        .single()
        .expect("valid");
    let clock = Arc::new(ManualClock::new(start));
    let observer = Arc::new(FirstStart::default());
    let service = service(&setup, clock.clone(), observer.clone(), Scope::Everything);
    let (_catalog_sender, catalog) = watch::channel(Arc::new(catalog(&setup.project)));
    let (_stop_sender, stop) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let measure = async {
        let mut latencies = Vec::new();
        // The first turn creates the interval that ended before `start`; let it settle.
        settle(&observer, 1).await;
        for minute in 1..=samples {
            let end = start + chrono::Duration::seconds(30 + 60 * (minute as i64 - 1));
            let before = observer.seen.lock().expect("lock").len();
            let set_at = Instant::now();
            clock.set(end);
            let seen = settle(&observer, before + 1).await;
            latencies.push(seen.duration_since(set_at).as_secs_f64() * 1000.0);
        }
        latencies
    };
    let mut latencies = tokio::select! {
        latencies = measure => latencies,
        result = service.run(catalog, wake, stop) => panic!("the service stopped: {result:?}"),
    };
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency from interval end to first task start ({} intervals): median {:.2} ms, p99 {:.2} ms, max {:.2} ms (targets: median < 20, p99 < 100)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
}

/// Waits (bounded) until the observer has seen `count` starts; returns the last one's time.
async fn settle(observer: &FirstStart, count: usize) -> Instant {
    for _ in 0..100_000 {
        if let Some(&at) = observer.seen.lock().expect("lock").get(count - 1) {
            return at;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
    panic!("no task started");
}

/// CPU time of the whole process (all its threads), from
/// /proc/self/stat in clock ticks (100 per second: a 10 ms resolution).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15; `fields` starts at field 3.
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn idle() {
    // 1,000 hourly workflows of 3 tasks, due at different minutes of the hour; none is due
    // in the window (they start tomorrow).
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let workflows: Vec<(String, String)> = (0..1000)
        .map(|n| {
            (
                format!("w{n:04}"),
                format!(
                    "schedule: \"{} * * * *\"\ntimezone: UTC\nstart: \"{tomorrow}\"\ntasks:\n  a:\n    sh: \"true\"\n  b:\n    needs: [a]\n    sh: \"true\"\n  c:\n    needs: [b]\n    empty: {{}}\n",
                    n % 60
                ),
            )
        })
        .collect();
    let setup = setup(&workflows).await;
    let service = service(
        &setup,
        Arc::new(SystemClock),
        Arc::new(SilentObserver),
        Scope::Everything,
    );
    let (_catalog_sender, catalog) = watch::channel(Arc::new(catalog(&setup.project)));
    let (_stop_sender, stop) = watch::channel(false);
    let window = Duration::from_secs(10);
    let measure = async {
        // Let the first turn (reading every workflow's last run) pass.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (cpu_before, wall_before) = (cpu_seconds(), Instant::now());
        tokio::time::sleep(window).await;
        let cpu = cpu_seconds() - cpu_before;
        (cpu / wall_before.elapsed().as_secs_f64(), resident_mb())
    };
    let (share, rss) = tokio::select! {
        measured = measure => measured,
        result = service.run(catalog, Arc::new(Notify::new()), stop) => panic!("stopped: {result:?}"),
    };
    println!(
        "idle with 1,000 scheduled workflows over {}s: {:.3}% of a core, {:.1} MB resident (targets: < 1%, < 100 MB)",
        window.as_secs(),
        share * 100.0,
        rss
    );
}

async fn backfill() {
    let mut yaml = String::from("schedule: \"@daily\"\ntimezone: UTC\ntasks:\n");
    for n in 0..10 {
        yaml.push_str(&format!("  t{n}:\n    empty: {{}}\n"));
        if n > 0 {
            yaml.push_str(&format!("    needs: [t{}]\n", n - 1));
        }
    }
    let setup = setup(&[("daily".to_owned(), yaml)]).await;
    let catalog = catalog(&setup.project);
    let loaded = catalog.workflows.values().next().expect("one").clone();
    let from = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid");
    let to = chrono::NaiveDate::from_ymd_opt(2025, 12, 31).expect("valid");
    let started = Instant::now();
    let record = setup
        .store
        .create_backfill(NewBackfill {
            workflow: loaded.workflow.name.clone(),
            from,
            to,
            max_active_runs: 4,
            reverse: false,
            created_at: chrono::Utc::now(),
        })
        .await
        .expect("backfill");
    let plan = tidewater_core::SchedulePlan::for_workflow(&loaded.workflow).expect("scheduled");
    let range =
        tidewater_core::BackfillRange::new(from, to, tidewater_core::BackfillOrder::OldestFirst)
            .expect("range");
    let intervals = plan.backfill(&range, chrono::Utc::now()).intervals;
    for interval in &intervals {
        setup
            .store
            .create_run_once(new_run(
                &loaded,
                *interval,
                RunTrigger::Backfill,
                Some(record.id),
                chrono::Utc::now(),
            ))
            .await
            .expect("create");
    }
    let service = service(
        &setup,
        Arc::new(SystemClock),
        Arc::new(SilentObserver),
        Scope::Backfill(record.id),
    );
    let (_catalog_sender, catalog) = watch::channel(Arc::new(catalog));
    let (_stop_sender, stop) = watch::channel(false);
    service
        .run(catalog, Arc::new(Notify::new()), stop)
        .await
        .expect("backfill runs");
    let elapsed = started.elapsed();
    let runs = setup.store.backfill_runs(record.id).await.expect("runs");
    let succeeded = runs
        .iter()
        .filter(|run| matches!(run.state, tidewater_core::RunState::Succeeded { .. }))
        .count();
    assert_eq!(succeeded, intervals.len(), "every run succeeded");
    let tasks = (intervals.len() * 10) as f64;
    let per_task_ms = elapsed.as_secs_f64() * 1000.0 / tasks;
    println!(
        "backfill of {} daily runs x 10 empty tasks: {:.2} s, {:.3} ms per task (target < 5 ms; ratio to target {:.3})",
        intervals.len(),
        elapsed.as_secs_f64(),
        per_task_ms,
        per_task_ms / 5.0
    );
}
