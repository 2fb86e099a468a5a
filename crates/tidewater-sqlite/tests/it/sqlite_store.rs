//! What only the SQLite backend has to show: its file, several handles on it, and large runs.

use std::time::Instant;

use rusqlite::Connection;
use tidewater_core::{
    Attempt, AttemptOutcome, Change, FailureClass, FailureReason, ProcessIdentity, RunId, RunState,
    TaskInstance, TaskName, TaskState,
};
use tidewater_sqlite::SqliteStore;
use tidewater_store::{ControlStore, OwnerClaim, RunStore, Store, StoreError};

use crate::fixtures::{TempSqliteStore, instant, new_run, store_path, temp_sqlite_store};

#[tokio::test]
async fn open_creates_the_file_and_its_folders() {
    let fixture = temp_sqlite_store().await;
    let path = store_path(&fixture.folder);
    assert!(path.is_file(), "{} should exist", path.display());
}

#[tokio::test]
async fn the_file_uses_write_ahead_logging() {
    let fixture = temp_sqlite_store().await;
    let connection = raw_connection(&fixture.folder);
    let mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("read the journal mode");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn reopening_the_file_keeps_every_record() {
    let fixture = temp_sqlite_store().await;
    let path = store_path(&fixture.folder);
    let run = fixture
        .create_run(new_run("durable", ["a".into(), "b".into()]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00.123456Z");
    let owner = ProcessIdentity {
        pid: 77,
        start_ticks: 1234,
    };
    let changes = [
        Change::Run(RunState::Running { started_at: at }),
        Change::Task {
            task: TaskName::new("a"),
            instance: TaskInstance {
                state: TaskState::Succeeded {
                    attempt: Attempt(1),
                    finished_at: at,
                },
                last_attempt: 1,
                attempt_base: 0,
                lost_attempts: 0,
                output: Some(serde_json::json!({"rows": 1})),
            },
        },
        Change::AttemptStarted {
            task: TaskName::new("a"),
            attempt: Attempt(1),
            started_at: at,
        },
        Change::AttemptFinished {
            task: TaskName::new("a"),
            attempt: Attempt(1),
            finished_at: at,
            outcome: AttemptOutcome::Succeeded {
                output: None,
                log_error: None,
            },
        },
    ];
    fixture.apply(run.id, &changes).await.expect("apply");
    assert_eq!(
        fixture
            .claim_owner(run.id, None, Some(owner))
            .await
            .expect("claim_owner"),
        OwnerClaim::Claimed
    );
    let before = everything(&fixture, run.id).await;

    let reopened = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(everything(&reopened, run.id).await, before);
    reopened.close().await;

    // Closing a handle that wrote folds the write-ahead log into the file: the file alone
    // holds every commit (`store_files.rs` has the reasons).
    let TempSqliteStore { store, folder } = fixture;
    store.close().await;
    let log = std::fs::metadata(format!("{}-wal", store_path(&folder).display()))
        .expect("the write-ahead log stays");
    assert_eq!(log.len(), 0, "the log is folded into the file");
    let independent: i64 = raw_connection(&folder)
        .query_row("SELECT count(*) FROM attempts", [], |row| row.get(0))
        .expect("an independent connection reads the file");
    assert_eq!(independent, 1);
    let reopened = SqliteStore::open(&store_path(&folder))
        .await
        .expect("reopen after close");
    assert_eq!(everything(&reopened, run.id).await, before);
    assert_eq!(
        reopened
            .run(run.id)
            .await
            .expect("run")
            .map(|run| run.owner),
        Some(Some(owner))
    );
}

/// Several processes may start at once on a project that has no store yet: each must wait for
/// the one creating the schema instead of creating it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_opening_one_new_file_at_the_same_time_all_succeed() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = store_path(&folder);
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteStore::open(&path).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opening {
        stores.push(open.await.expect("the opening task").expect("open"));
    }
    let run = stores[0]
        .create_run(new_run("shared", ["task".into()]))
        .await
        .expect("create_run");
    for store in &stores {
        assert!(store.run(run.id).await.expect("run").is_some());
    }
}

/// Two handles on one file stand for two `tidewater` processes: each takes SQLite's write
/// lock in turn, and waits for the other instead of failing with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_write_at_the_same_time_without_locking_errors() {
    const APPLIES: u32 = 200;
    let fixture = temp_sqlite_store().await;
    let path = store_path(&fixture.folder);
    let other = SqliteStore::open(&path)
        .await
        .expect("open a second handle");
    let shared = fixture
        .create_run(new_run("shared", ["task".into()]))
        .await
        .expect("create_run");

    async fn work(store: &SqliteStore, shared: RunId, name: &str) -> RunId {
        let run = store
            .create_run(new_run(name, ["task".into()]))
            .await
            .expect("create_run")
            .id;
        let at = instant("2026-03-01T02:00:00Z");
        for number in 1..=APPLIES {
            let attempt = Attempt(number);
            let changes = [
                Change::Task {
                    task: TaskName::new("task"),
                    instance: TaskInstance {
                        state: TaskState::Running {
                            attempt,
                            started_at: at,
                        },
                        last_attempt: number,
                        attempt_base: 0,
                        lost_attempts: 0,
                        output: None,
                    },
                },
                Change::AttemptStarted {
                    task: TaskName::new("task"),
                    attempt,
                    started_at: at,
                },
            ];
            store.apply(run, &changes).await.expect("apply");
            // Both handles also write to one run, and read while the other writes.
            store
                .apply(shared, &[Change::Run(RunState::Running { started_at: at })])
                .await
                .expect("apply to the shared run");
            store.task_instances(shared).await.expect("task_instances");
        }
        run
    }

    let first = tokio::spawn({
        let path = path.clone();
        async move {
            let store = SqliteStore::open(&path).await.expect("open");
            work(&store, shared.id, "first").await
        }
    });
    let second = work(&other, shared.id, "second").await;
    let first = first.await.expect("the first writer");
    for run in [first, second] {
        let attempts = fixture.attempts(run, None).await.expect("attempts");
        assert_eq!(attempts.len(), APPLIES as usize);
        let tasks = fixture.task_instances(run).await.expect("task_instances");
        assert_eq!(tasks[0].1.last_attempt, APPLIES);
    }
}

/// The engine writes the states of every task of a wide run in one batch. Prints how long it
/// takes; timings are never asserted.
#[tokio::test]
async fn a_run_of_ten_thousand_tasks_takes_one_batch_per_step() {
    const TASKS: u32 = 10_000;
    let fixture = temp_sqlite_store().await;
    let names: Vec<String> = (0..TASKS).map(|index| format!("task_{index:05}")).collect();

    let started = Instant::now();
    let run = fixture
        .create_run(new_run("wide", names.clone()))
        .await
        .expect("create_run");
    eprintln!("create_run with {TASKS} tasks: {:?}", started.elapsed());

    let at = instant("2026-03-01T02:00:00Z");
    let queued: Vec<Change> = names
        .iter()
        .map(|name| Change::Task {
            task: TaskName::new(name.as_str()),
            instance: TaskInstance {
                state: TaskState::Queued {
                    attempt: Attempt(1),
                    since: at,
                },
                ..TaskInstance::new()
            },
        })
        .collect();
    let started = Instant::now();
    fixture.apply(run.id, &queued).await.expect("apply");
    eprintln!("apply of {TASKS} task changes: {:?}", started.elapsed());

    // Admitting every task: a state change and a started attempt per task.
    let admitted: Vec<Change> = names
        .iter()
        .flat_map(|name| {
            let task = TaskName::new(name.as_str());
            [
                Change::Task {
                    task: task.clone(),
                    instance: TaskInstance {
                        state: TaskState::Running {
                            attempt: Attempt(1),
                            started_at: at,
                        },
                        last_attempt: 1,
                        ..TaskInstance::new()
                    },
                },
                Change::AttemptStarted {
                    task,
                    attempt: Attempt(1),
                    started_at: at,
                },
            ]
        })
        .collect();
    let started = Instant::now();
    fixture.apply(run.id, &admitted).await.expect("apply");
    eprintln!(
        "apply of {TASKS} task changes and {TASKS} started attempts: {:?}",
        started.elapsed()
    );

    let finished: Vec<Change> = names
        .iter()
        .map(|name| Change::AttemptFinished {
            task: TaskName::new(name.as_str()),
            attempt: Attempt(1),
            finished_at: at,
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 1 },
            },
        })
        .collect();
    let started = Instant::now();
    fixture.apply(run.id, &finished).await.expect("apply");
    eprintln!(
        "apply of {TASKS} finished attempts: {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let tasks = fixture
        .task_instances(run.id)
        .await
        .expect("task_instances");
    eprintln!("task_instances of {TASKS} tasks: {:?}", started.elapsed());
    assert_eq!(tasks.len(), TASKS as usize);
    let expected = TaskState::Running {
        attempt: Attempt(1),
        started_at: at,
    };
    assert!(tasks.iter().all(|(_, instance)| instance.state == expected));
    let read_names: Vec<&str> = tasks.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(read_names, names);
    let attempts = fixture.attempts(run.id, None).await.expect("attempts");
    assert_eq!(attempts.len(), TASKS as usize);
    assert!(attempts.iter().all(|attempt| attempt.finished.is_some()));
}

/// The engine's other pattern: many small batches, one after another. Prints the mean time of
/// one; timings are never asserted.
#[tokio::test]
async fn small_batches_apply_one_after_another() {
    const BATCHES: u32 = 500;
    let fixture = temp_sqlite_store().await;
    let names: Vec<String> = (0..100).map(|index| format!("task_{index}")).collect();
    let run = fixture
        .create_run(new_run("narrow", names))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let started = Instant::now();
    for number in 1..=BATCHES {
        let task = TaskName::new(format!("task_{}", number % 100));
        let attempt = Attempt(number);
        let changes = [
            Change::Task {
                task: task.clone(),
                instance: TaskInstance {
                    state: TaskState::Running {
                        attempt,
                        started_at: at,
                    },
                    last_attempt: number,
                    attempt_base: 0,
                    lost_attempts: 0,
                    output: None,
                },
            },
            Change::AttemptStarted {
                task,
                attempt,
                started_at: at,
            },
        ];
        fixture.apply(run.id, &changes).await.expect("apply");
    }
    eprintln!(
        "apply of 2 changes, mean of {BATCHES}: {:?}",
        started.elapsed() / BATCHES
    );
    let attempts = fixture.attempts(run.id, None).await.expect("attempts");
    assert_eq!(attempts.len(), BATCHES as usize);
}

/// A state this version does not know (written by a newer one, or by hand) is an error that
/// names it, not a panic.
#[tokio::test]
async fn an_unknown_state_in_the_file_is_reported_as_corrupt() {
    let fixture = temp_sqlite_store().await;
    let run = fixture
        .create_run(new_run("tampered", ["task".into()]))
        .await
        .expect("create_run");
    let connection = raw_connection(&fixture.folder);
    connection
        .execute("UPDATE task_instances SET state = 'exploded'", [])
        .expect("tamper with the task state");
    connection
        .execute("UPDATE runs SET triggered_by = 'cron'", [])
        .expect("tamper with the trigger");

    let result = fixture.task_instances(run.id).await;
    assert!(
        matches!(&result, Err(StoreError::Corrupt { what: "task state", value }) if value == "exploded"),
        "{result:?}"
    );
    let result = fixture.run(run.id).await;
    assert!(
        matches!(&result, Err(StoreError::Corrupt { what: "run trigger", value }) if value == "cron"),
        "{result:?}"
    );
}

#[derive(Debug, PartialEq)]
struct Everything {
    run: Option<tidewater_store::RunRecord>,
    source: Option<String>,
    tasks: Vec<(TaskName, TaskInstance)>,
    attempts: Vec<tidewater_store::AttemptRecord>,
}

async fn everything(store: &SqliteStore, id: RunId) -> Everything {
    Everything {
        run: store.run(id).await.expect("run"),
        source: store.workflow_source(id).await.expect("workflow_source"),
        tasks: store.task_instances(id).await.expect("task_instances"),
        attempts: store.attempts(id, None).await.expect("attempts"),
    }
}

/// A plain connection to the store's file, as another tool would open it.
fn raw_connection(folder: &tempfile::TempDir) -> Connection {
    Connection::open(store_path(folder)).expect("connect to the store's file")
}

/// The first schema scripts, as earlier Tidewaters applied them.
const OLD_SCRIPTS: [&str; 3] = [
    include_str!("../../migrations/0001_runs.sql"),
    include_str!("../../migrations/0002_control.sql"),
    include_str!("../../migrations/0003_cancel.sql"),
];

/// A store file at `path` made by an earlier Tidewater: the schema of `scripts`, nothing else.
fn old_store(path: &std::path::Path, scripts: &[&str]) -> Connection {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("the folder");
    let old = Connection::open(path).expect("create the old store");
    for script in scripts {
        old.execute_batch(script).expect("an old script");
    }
    old
}

/// Stores written before the schema version was kept in the file's `user_version` recorded
/// the applied scripts in `_sqlx_migrations`: opening one applies only the missing scripts
/// and keeps every record.
#[tokio::test]
async fn a_store_that_recorded_its_scripts_in_sqlx_migrations_is_brought_up_to_date() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = store_path(&folder);
    {
        let old = old_store(&path, &OLD_SCRIPTS[..2]);
        old.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
                 installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL,
                 checksum BLOB NOT NULL, execution_time BIGINT NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (1, 'runs', CURRENT_TIMESTAMP, TRUE, x'00', 1);
             INSERT INTO _sqlx_migrations VALUES (2, 'control', CURRENT_TIMESTAMP, TRUE, x'00', 1);
             INSERT INTO runs (workflow, interval_start, interval_end, triggered_by, params, state,
                 workflow_hash, workflow_source, created_at)
             VALUES ('old', 0, 3600000000, 'manual', '{}', 'queued', 'hash', 'name: old', 0);",
        )
        .expect("record scripts 1 and 2 the old way");
    }

    let store = SqliteStore::open(&path).await.expect("open the old store");
    let old_run = RunId(1);
    assert_eq!(
        store
            .run(old_run)
            .await
            .expect("run")
            .map(|run| run.workflow.to_string()),
        Some("old".to_owned())
    );
    // Script 3 (cancel requests) was applied.
    assert!(
        store
            .request_cancel(old_run, instant("2026-03-01T00:00:00Z"))
            .await
            .expect("request_cancel")
    );
    drop(store);
    let connection = Connection::open(&path).expect("connect");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, migration_scripts());
    let old_table: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = '_sqlx_migrations'",
            [],
            |row| row.get(0),
        )
        .expect("look for the old table");
    assert_eq!(old_table, 0);
}

/// A store of schema version 3 kept `attempts` with a rowid. Opening it moves every attempt,
/// all columns as they were, into the table without one; keys and checks still hold.
#[tokio::test]
async fn a_store_of_version_3_keeps_its_attempts_without_a_rowid() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = store_path(&folder);
    {
        let old = old_store(&path, &OLD_SCRIPTS[..3]);
        old.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO runs (workflow, interval_start, interval_end, triggered_by, params, state,
                 workflow_hash, workflow_source, created_at)
             VALUES ('old', 0, 3600000000, 'manual', '{}', 'running', 'hash', 'name: old', 0);
             INSERT INTO task_instances (run_id, task, position, state, last_attempt,
                 attempt_base)
             VALUES (1, 'load', 0, 'failed', 2, 0);
             INSERT INTO attempts (run_id, task, attempt, started_at, pid, start_ticks,
                 finished_at, outcome, failure, exit_code, message)
             VALUES (1, 'load', 1, 10, 4242, 99, 20, 'failed', 'exit', 3, NULL),
                    (1, 'load', 2, 30, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
        )
        .expect("an old run with two attempts");
    }

    let store = SqliteStore::open(&path).await.expect("open the old store");
    let attempts = store.attempts(RunId(1), None).await.expect("attempts");
    let summary: Vec<_> = attempts
        .iter()
        .map(|record| {
            (
                record.attempt,
                record.process.map(|process| process.pid),
                record.finished.clone().map(|(_, outcome)| outcome),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                Attempt(1),
                Some(4242),
                Some(AttemptOutcome::Failed {
                    reason: FailureReason::Exit { code: 3 }
                })
            ),
            (Attempt(2), None, None),
        ]
    );
    // The keys hold: an attempt started twice, or of a task the run lacks, is refused.
    let start = |task: &str, attempt| Change::AttemptStarted {
        task: TaskName::new(task),
        attempt: Attempt(attempt),
        started_at: instant("2026-03-01T00:00:00Z"),
    };
    let twice = store.apply(RunId(1), &[start("load", 2)]).await;
    assert!(
        matches!(twice, Err(StoreError::AttemptExists { .. })),
        "{twice:?}"
    );
    let unknown = store.apply(RunId(1), &[start("other", 1)]).await;
    assert!(
        matches!(unknown, Err(StoreError::NoSuchTask { .. })),
        "{unknown:?}"
    );
    drop(store);
    let connection = Connection::open(&path).expect("connect");
    let table: String = connection
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'attempts'",
            [],
            |row| row.get(0),
        )
        .expect("the attempts table");
    assert!(table.ends_with("WITHOUT ROWID"), "{table}");
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version");
    assert_eq!(version, migration_scripts());
    // A file keeps the page size it was made with (the old default here).
    assert_eq!(page_size(&connection), 4096);
}

/// A new store file has small pages, so that its write-ahead log, which every command that
/// opens the file reads back, is small too.
#[tokio::test]
async fn a_new_store_has_pages_of_one_kibibyte() {
    let fixture = temp_sqlite_store().await;
    assert_eq!(page_size(&raw_connection(&fixture.folder)), 1024);
}

fn page_size(connection: &Connection) -> i64 {
    connection
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .expect("page_size")
}

/// A store written by a newer Tidewater (a schema this build does not know) is refused with
/// a message that says so, and left as it was.
#[tokio::test]
async fn a_store_of_a_newer_schema_is_refused() {
    let fixture = temp_sqlite_store().await;
    let path = store_path(&fixture.folder);
    raw_connection(&fixture.folder)
        .execute_batch("PRAGMA user_version = 99")
        .expect("pretend a newer version wrote it");
    let error = match SqliteStore::open(&path).await {
        Ok(_) => panic!("a newer store must be refused"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("schema version 99"), "{error}");
    assert!(error.contains("newer tidewater"), "{error}");
}

/// Regression (issue 16, item 6): a store of version 5 has no `failure_class`. Its task
/// errors and failures to start still decode, as the task's own failures (retried by its
/// policy, as they were when they were recorded); the other reasons imply their class.
#[tokio::test]
async fn a_store_of_version_5_decodes_its_failures_with_their_class() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = store_path(&folder);
    {
        let old = old_store(&path, &OLD_SCRIPTS[..3]);
        old.execute_batch(concat!(
            include_str!("../../migrations/0004_attempts_without_rowid.sql"),
            include_str!("../../migrations/0005_lost_attempts.sql"),
        ))
        .expect("scripts 4 and 5");
        old.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO runs (workflow, interval_start, interval_end, triggered_by, params, state,
                 workflow_hash, workflow_source, created_at)
             VALUES ('old', 0, 3600000000, 'manual', '{}', 'running', 'hash', 'name: old', 0);
             INSERT INTO task_instances (run_id, task, position, state, last_attempt,
                 attempt_base)
             VALUES (1, 'load', 0, 'failed', 3, 0);
             INSERT INTO attempts (run_id, task, attempt, started_at, finished_at, outcome,
                 failure, exit_code, message)
             VALUES (1, 'load', 1, 10, 20, 'failed', 'task_error', NULL, 'invalid query'),
                    (1, 'load', 2, 30, 40, 'failed', 'could_not_start', NULL, 'no template'),
                    (1, 'load', 3, 50, 60, 'failed', 'timed_out', NULL, NULL);",
        )
        .expect("an old run with three failed attempts");
    }

    let store = SqliteStore::open(&path).await.expect("open the old store");
    let reasons: Vec<FailureReason> = store
        .attempts(RunId(1), None)
        .await
        .expect("attempts")
        .into_iter()
        .filter_map(|record| match record.finished {
            Some((_, AttemptOutcome::Failed { reason })) => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [
            FailureReason::TaskError {
                message: "invalid query".into(),
                class: FailureClass::Task,
            },
            FailureReason::CouldNotStart {
                message: "no template".into(),
                class: FailureClass::Task,
            },
            FailureReason::TimedOut,
        ]
    );
    assert_eq!(reasons[2].class(), FailureClass::Timeout);
}

/// The schema version of an up-to-date store: one per script in `migrations/`.
fn migration_scripts() -> i64 {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    std::fs::read_dir(folder)
        .expect("the migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "sql"))
        })
        .count() as i64
}
