//! Behaviours of `apply`: what a batch writes, in which order, and what a failed batch leaves.

use serde_json::json;
use tidewater_core::{
    Attempt, AttemptOutcome, Change, DataInterval, FailureClass, FailureReason, ProcessIdentity,
    RunState, TaskInstance, TaskName, TaskState,
};

use crate::{AttemptRecord, RunStore, StoreError};

use super::fixtures::{instant, new_run, object, snapshot, task_change};

/// One batch of every kind of change, read back field by field: the run state, every task
/// state with its data, and attempts with processes and every kind of outcome.
pub async fn applied_changes_read_back_exactly<S: RunStore + ?Sized>(store: &S) {
    let names = [
        "pending",
        "queued",
        "running",
        "succeeded",
        "failed",
        "retrying",
        "skipped",
        "upstream_failed",
        "cancelled",
    ];
    let run = store
        .create_run(new_run("all_states", &names))
        .await
        .expect("create_run");
    let started_at = instant("2026-03-01T02:00:00.000001Z");
    let instances = [
        TaskInstance::new(),
        TaskInstance {
            state: TaskState::Queued {
                attempt: Attempt(1),
                since: instant("2026-03-01T02:00:01.100000Z"),
            },
            ..TaskInstance::new()
        },
        TaskInstance {
            state: TaskState::Running {
                attempt: Attempt(2),
                started_at: instant("2026-03-01T02:00:02.200002Z"),
            },
            last_attempt: 2,
            attempt_base: 0,
            lost_attempts: 0,
            output: None,
        },
        TaskInstance {
            state: TaskState::Succeeded {
                attempt: Attempt(8),
                finished_at: instant("2026-03-01T02:00:03.300003Z"),
            },
            last_attempt: 8,
            attempt_base: 1,
            lost_attempts: 2,
            output: Some(json!({"rows": 42, "path": "warehouse/raw/sales"})),
        },
        TaskInstance {
            state: TaskState::Failed {
                attempt: Attempt(3),
                finished_at: instant("2026-03-01T02:00:04.400004Z"),
            },
            last_attempt: 3,
            attempt_base: 0,
            lost_attempts: 0,
            output: None,
        },
        TaskInstance {
            state: TaskState::UpForRetry {
                attempt: Attempt(1),
                not_before: instant("2026-03-01T02:05:00.500005Z"),
            },
            last_attempt: 1,
            attempt_base: 0,
            lost_attempts: 0,
            output: None,
        },
        TaskInstance {
            state: TaskState::Skipped,
            ..TaskInstance::new()
        },
        TaskInstance {
            state: TaskState::UpstreamFailed,
            ..TaskInstance::new()
        },
        TaskInstance {
            state: TaskState::Cancelled,
            last_attempt: 4,
            attempt_base: 4,
            lost_attempts: 0,
            output: None,
        },
    ];
    let mut changes = vec![Change::Run(RunState::Running { started_at })];
    for (name, instance) in names.iter().zip(&instances) {
        changes.push(Change::Task {
            task: TaskName::new(*name),
            instance: instance.clone(),
        });
    }
    let attempts = every_kind_of_attempt();
    changes.extend(attempt_changes(&attempts));
    store.apply(run.id, &changes).await.expect("apply");

    let read = store
        .run(run.id)
        .await
        .expect("run")
        .expect("the run exists");
    assert_eq!(read.state, RunState::Running { started_at });
    let expected_tasks: Vec<_> = names
        .iter()
        .map(|name| TaskName::new(*name))
        .zip(instances)
        .collect();
    assert_eq!(
        store.task_instances(run.id).await.expect("task_instances"),
        expected_tasks
    );
    assert_eq!(
        store.attempts(run.id, None).await.expect("attempts"),
        attempts
    );
}

/// Every run state, with its timestamps, reads back as written.
pub async fn every_run_state_reads_back<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("states", &["only"]))
        .await
        .expect("create_run");
    let started_at = instant("2026-03-01T02:00:00.654321Z");
    let finished_at = instant("2026-03-01T03:00:00.123456Z");
    let states = [
        RunState::Running { started_at },
        RunState::Succeeded {
            started_at,
            finished_at,
        },
        RunState::Failed {
            started_at,
            finished_at,
        },
        RunState::Cancelled {
            started_at,
            finished_at,
        },
        RunState::Queued,
    ];
    for state in states {
        store
            .apply(run.id, &[Change::Run(state.clone())])
            .await
            .expect("apply");
        let read = store
            .run(run.id)
            .await
            .expect("run")
            .expect("the run exists");
        assert_eq!(read.state, state);
    }
}

/// Timestamps keep their microseconds, far from today in both directions, in every place a
/// timestamp is stored.
pub async fn timestamps_round_trip_to_the_microsecond<S: RunStore + ?Sized>(store: &S) {
    let early = instant("1900-01-01T00:00:00.000001Z");
    let before_epoch = instant("1969-12-31T23:59:59.999999Z");
    let late = instant("9999-12-31T23:59:59.999999Z");
    let mut new_run = new_run("timestamps", &["task"]);
    new_run.interval = DataInterval::new(early, before_epoch).expect("start < end");
    new_run.created_at = late;
    let run = store.create_run(new_run.clone()).await.expect("create_run");
    let read = store
        .run(run.id)
        .await
        .expect("run")
        .expect("the run exists");
    assert_eq!(read.interval, new_run.interval);
    assert_eq!(read.created_at, late);

    let task = TaskName::new("task");
    let changes = [
        Change::Run(RunState::Failed {
            started_at: before_epoch,
            finished_at: late,
        }),
        Change::Task {
            task: task.clone(),
            instance: TaskInstance {
                state: TaskState::UpForRetry {
                    attempt: Attempt(1),
                    not_before: early,
                },
                last_attempt: 1,
                attempt_base: 0,
                lost_attempts: 0,
                output: None,
            },
        },
        Change::AttemptStarted {
            task: task.clone(),
            attempt: Attempt(1),
            started_at: before_epoch,
        },
        Change::AttemptFinished {
            task: task.clone(),
            attempt: Attempt(1),
            finished_at: late,
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::Lost,
            },
        },
    ];
    store.apply(run.id, &changes).await.expect("apply");
    let read = store
        .run(run.id)
        .await
        .expect("run")
        .expect("the run exists");
    assert_eq!(
        read.state,
        RunState::Failed {
            started_at: before_epoch,
            finished_at: late
        }
    );
    let tasks = store.task_instances(run.id).await.expect("task_instances");
    assert_eq!(
        tasks[0].1.state,
        TaskState::UpForRetry {
            attempt: Attempt(1),
            not_before: early
        }
    );
    let attempts = store.attempts(run.id, None).await.expect("attempts");
    assert_eq!(attempts[0].started_at, before_epoch);
    assert_eq!(attempts[0].finished.as_ref().map(|(at, _)| *at), Some(late));
}

/// JSON keeps its values: nested objects and arrays, floats, the extreme integers, escapes
/// and non-ASCII text, and an output of JSON `null` stays distinct from no output.
pub async fn json_params_and_outputs_round_trip_exactly<S: RunStore + ?Sized>(store: &S) {
    let awkward = json!({
        "nested": {"list": [1, "two", [3.5], {"four": null}], "empty": {}, "none": []},
        "float": 0.1,
        "negative": -2.5e-8,
        "max": u64::MAX,
        "min": i64::MIN,
        "text": "quote \" backslash \\ newline \n tab \t ünïcödé 日本語 🌊",
        "yes": true,
    });
    let mut new_run = new_run("json", &["object", "null", "none"]);
    new_run.params = object(awkward.clone());
    let run = store.create_run(new_run).await.expect("create_run");
    assert_eq!(
        store.run(run.id).await.expect("run").map(|run| run.params),
        Some(object(awkward.clone()))
    );

    let finished_at = instant("2026-03-01T02:00:00Z");
    let outputs = [
        ("object", Some(awkward.clone())),
        ("null", Some(serde_json::Value::Null)),
        ("none", None),
    ];
    let mut changes = Vec::new();
    for (name, output) in &outputs {
        let task = TaskName::new(*name);
        changes.push(Change::Task {
            task: task.clone(),
            instance: TaskInstance {
                state: TaskState::Succeeded {
                    attempt: Attempt(1),
                    finished_at,
                },
                last_attempt: 1,
                attempt_base: 0,
                lost_attempts: 0,
                output: output.clone(),
            },
        });
        changes.push(Change::AttemptStarted {
            task: task.clone(),
            attempt: Attempt(1),
            started_at: finished_at,
        });
        changes.push(Change::AttemptFinished {
            task,
            attempt: Attempt(1),
            finished_at,
            outcome: AttemptOutcome::Succeeded {
                output: output.clone(),
                log_error: None,
            },
        });
    }
    store.apply(run.id, &changes).await.expect("apply");

    let task_outputs: Vec<_> = store
        .task_instances(run.id)
        .await
        .expect("task_instances")
        .into_iter()
        .map(|(_, instance)| instance.output)
        .collect();
    let expected: Vec<_> = outputs.iter().map(|(_, output)| output.clone()).collect();
    assert_eq!(task_outputs, expected);
    let attempt_outputs: Vec<_> = store
        .attempts(run.id, None)
        .await
        .expect("attempts")
        .into_iter()
        .map(|attempt| match attempt.finished {
            Some((_, AttemptOutcome::Succeeded { output, .. })) => output,
            other => panic!("expected a success, got {other:?}"),
        })
        .collect();
    assert_eq!(attempt_outputs, expected);
}

/// Within one batch, the last change to a task is the one that stays, wherever the changes
/// to other tasks fall in between.
pub async fn a_later_change_to_the_same_task_in_one_batch_wins<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("later_wins", &["a", "b"]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let queued = TaskInstance {
        state: TaskState::Queued {
            attempt: Attempt(1),
            since: at,
        },
        ..TaskInstance::new()
    };
    let running = TaskInstance {
        state: TaskState::Running {
            attempt: Attempt(1),
            started_at: at,
        },
        last_attempt: 1,
        ..TaskInstance::new()
    };
    let skipped = TaskInstance {
        state: TaskState::Skipped,
        ..TaskInstance::new()
    };
    let changes = [
        task_change("a", queued.clone()),
        task_change("b", queued),
        task_change("a", running.clone()),
        task_change("b", skipped.clone()),
        Change::Run(RunState::Running { started_at: at }),
        Change::Run(RunState::Cancelled {
            started_at: at,
            finished_at: at,
        }),
    ];
    store.apply(run.id, &changes).await.expect("apply");
    assert_eq!(
        store.task_instances(run.id).await.expect("task_instances"),
        [(TaskName::new("a"), running), (TaskName::new("b"), skipped)]
    );
    assert_eq!(
        store.run(run.id).await.expect("run").map(|run| run.state),
        Some(RunState::Cancelled {
            started_at: at,
            finished_at: at
        })
    );
}

/// Changes apply in order: an attempt started earlier in a batch can get its process and
/// its end later in the same batch, and the last process recorded wins.
pub async fn an_attempt_can_start_and_finish_in_one_batch<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("one_batch", &["quick"]))
        .await
        .expect("create_run");
    let task = TaskName::new("quick");
    let at = instant("2026-03-01T02:00:00.000500Z");
    let process = |pid| ProcessIdentity {
        pid,
        start_ticks: 1000,
    };
    let changes = [
        Change::AttemptStarted {
            task: task.clone(),
            attempt: Attempt(1),
            started_at: at,
        },
        Change::AttemptProcess {
            task: task.clone(),
            attempt: Attempt(1),
            process: process(100),
        },
        Change::AttemptProcess {
            task: task.clone(),
            attempt: Attempt(1),
            process: process(101),
        },
        Change::AttemptFinished {
            task: task.clone(),
            attempt: Attempt(1),
            finished_at: at,
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 1 },
            },
        },
        Change::AttemptStarted {
            task: task.clone(),
            attempt: Attempt(2),
            started_at: at,
        },
    ];
    store.apply(run.id, &changes).await.expect("apply");
    assert_eq!(
        store.attempts(run.id, None).await.expect("attempts"),
        [
            AttemptRecord {
                task: task.clone(),
                attempt: Attempt(1),
                started_at: at,
                process: Some(process(101)),
                finished: Some((
                    at,
                    AttemptOutcome::Failed {
                        reason: FailureReason::Exit { code: 1 }
                    }
                )),
            },
            AttemptRecord {
                task,
                attempt: Attempt(2),
                started_at: at,
                process: None,
                finished: None,
            },
        ]
    );
}

/// A batch that fails anywhere (an unknown task in the middle, an attempt that does not exist
/// at the end, an attempt started twice) leaves the run exactly as it was.
pub async fn a_failed_apply_leaves_nothing_behind<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("atomic", &["a", "b"]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let before = snapshot(store, run.id).await;
    let good = [
        Change::Run(RunState::Running { started_at: at }),
        task_change(
            "a",
            TaskInstance {
                state: TaskState::Running {
                    attempt: Attempt(1),
                    started_at: at,
                },
                last_attempt: 1,
                ..TaskInstance::new()
            },
        ),
        Change::AttemptStarted {
            task: TaskName::new("a"),
            attempt: Attempt(1),
            started_at: at,
        },
    ];
    let failing_endings = [
        vec![
            task_change("no_such_task", TaskInstance::new()),
            task_change(
                "b",
                TaskInstance {
                    state: TaskState::Skipped,
                    ..TaskInstance::new()
                },
            ),
        ],
        vec![Change::AttemptFinished {
            task: TaskName::new("b"),
            attempt: Attempt(1),
            finished_at: at,
            outcome: AttemptOutcome::Failed {
                reason: FailureReason::Lost,
            },
        }],
        vec![Change::AttemptStarted {
            task: TaskName::new("a"),
            attempt: Attempt(1),
            started_at: at,
        }],
    ];
    for ending in failing_endings {
        let batch: Vec<Change> = good.iter().cloned().chain(ending).collect();
        let result = store.apply(run.id, &batch).await;
        assert!(result.is_err(), "the batch must fail: {batch:?}");
        assert_eq!(snapshot(store, run.id).await, before, "after {result:?}");
    }
    // The good part alone applies: the failures above came from their endings.
    store.apply(run.id, &good).await.expect("apply");
    assert_ne!(snapshot(store, run.id).await, before);
}

/// The errors of a refused batch name what was wrong.
pub async fn changes_to_unknown_tasks_and_attempts_are_refused_by_name<S: RunStore + ?Sized>(
    store: &S,
) {
    let run = store
        .create_run(new_run("refusals", &["known"]))
        .await
        .expect("create_run");
    let id = run.id;
    let at = instant("2026-03-01T02:00:00Z");
    let known = TaskName::new("known");
    let unknown = TaskName::new("unknown");
    let start = |task: &TaskName, attempt| Change::AttemptStarted {
        task: task.clone(),
        attempt: Attempt(attempt),
        started_at: at,
    };

    let result = store
        .apply(
            id,
            &[
                task_change("known", TaskInstance::new()),
                task_change("unknown", TaskInstance::new()),
                task_change("also_unknown", TaskInstance::new()),
            ],
        )
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchTask { run, task }) if *run == id && *task == unknown),
        "{result:?}"
    );

    let result = store.apply(id, &[start(&unknown, 1)]).await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchTask { run, task }) if *run == id && *task == unknown),
        "{result:?}"
    );

    let result = store
        .apply(
            id,
            &[Change::AttemptProcess {
                task: known.clone(),
                attempt: Attempt(3),
                process: ProcessIdentity {
                    pid: 1,
                    start_ticks: 1,
                },
            }],
        )
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchAttempt { run, task, attempt: Attempt(3) })
            if *run == id && *task == known),
        "{result:?}"
    );

    let result = store
        .apply(
            id,
            &[Change::AttemptFinished {
                task: known.clone(),
                attempt: Attempt(4),
                finished_at: at,
                outcome: AttemptOutcome::Failed {
                    reason: FailureReason::TimedOut,
                },
            }],
        )
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchAttempt { run, task, attempt: Attempt(4) })
            if *run == id && *task == known),
        "{result:?}"
    );

    // An attempt the batch starts is known to its later changes: the error names the one
    // that was never started.
    let process = |attempt| Change::AttemptProcess {
        task: known.clone(),
        attempt: Attempt(attempt),
        process: ProcessIdentity {
            pid: 1,
            start_ticks: 1,
        },
    };
    let result = store
        .apply(id, &[start(&known, 5), process(5), process(6)])
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchAttempt { run, task, attempt: Attempt(6) })
            if *run == id && *task == known),
        "{result:?}"
    );
    let finish = |attempt| Change::AttemptFinished {
        task: known.clone(),
        attempt: Attempt(attempt),
        finished_at: at,
        outcome: AttemptOutcome::Failed {
            reason: FailureReason::Lost,
        },
    };
    let result = store
        .apply(id, &[start(&known, 7), finish(7), finish(8)])
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchAttempt { run, task, attempt: Attempt(8) })
            if *run == id && *task == known),
        "{result:?}"
    );

    let result = store.apply(id, &[start(&known, 1), start(&known, 1)]).await;
    assert!(
        matches!(&result, Err(StoreError::AttemptExists { run, task, attempt: Attempt(1) })
            if *run == id && *task == known),
        "{result:?}"
    );

    store
        .apply(id, &[start(&known, 1)])
        .await
        .expect("the first start");
    let result = store.apply(id, &[start(&known, 2), start(&known, 1)]).await;
    assert!(
        matches!(&result, Err(StoreError::AttemptExists { run, task, attempt: Attempt(1) })
            if *run == id && *task == known),
        "{result:?}"
    );
}

/// Runs of the same workflow share task names; a change to one run's task or attempt must
/// not reach the other run.
pub async fn changes_to_one_run_leave_other_runs_alone<S: RunStore + ?Sized>(store: &S) {
    let first = store
        .create_run(new_run("twins", &["a", "b"]))
        .await
        .expect("create_run");
    let second = store
        .create_run(new_run("twins", &["a", "b"]))
        .await
        .expect("create_run");
    let before = snapshot(store, second.id).await;
    let at = instant("2026-03-01T02:00:00Z");
    let mut changes = vec![Change::Run(RunState::Running { started_at: at })];
    for name in ["a", "b"] {
        changes.push(task_change(
            name,
            TaskInstance {
                state: TaskState::Skipped,
                ..TaskInstance::new()
            },
        ));
        changes.push(Change::AttemptStarted {
            task: TaskName::new(name),
            attempt: Attempt(1),
            started_at: at,
        });
    }
    store.apply(first.id, &changes).await.expect("apply");
    assert_eq!(snapshot(store, second.id).await, before);

    // The same attempt number in another run is another attempt.
    store.apply(second.id, &changes).await.expect("apply");
    assert_eq!(
        store
            .attempts(second.id, None)
            .await
            .expect("attempts")
            .len(),
        2
    );
}

/// Attempts of the `succeeded`, `failed` and `running` tasks of
/// `applied_changes_read_back_exactly`: one per failure reason, successes with and without
/// output, one still running with its process, one whose process is not known yet. In the
/// order `attempts` lists them.
fn every_kind_of_attempt() -> Vec<AttemptRecord> {
    let succeeded = TaskName::new("succeeded");
    let reasons = [
        FailureReason::Exit { code: 2 },
        FailureReason::Exit { code: -1 },
        FailureReason::Signal { signal: 9 },
        FailureReason::TimedOut,
        FailureReason::RunTimedOut,
        FailureReason::CouldNotStart {
            message: "sh: ./scripts/extract.sh: No such file or directory".into(),
            class: FailureClass::Environment,
        },
        FailureReason::BadOutput {
            message: "expected a JSON object, got `[1, 2]`".into(),
        },
        FailureReason::TaskError {
            message: "table raw.orders: column `amount` is Utf8, the rows have Float64".into(),
            class: FailureClass::Input,
        },
        FailureReason::Bug {
            message: "the sql runner ended without reporting; this is a bug in tidewater".into(),
        },
        FailureReason::Lost,
        FailureReason::Interrupted {
            message: "database or disk is full".into(),
        },
        FailureReason::LostTooOften { times: 4 },
        FailureReason::Cancelled,
    ];
    let mut attempts = Vec::new();
    let mut number = 0;
    let mut next_instant = {
        let mut micros = 0;
        move || {
            micros += 1_000_001;
            instant("2026-03-01T02:00:00Z") + chrono::Duration::microseconds(micros)
        }
    };
    for reason in reasons {
        number += 1;
        attempts.push(AttemptRecord {
            task: succeeded.clone(),
            attempt: Attempt(number),
            started_at: next_instant(),
            process: Some(ProcessIdentity {
                pid: 1000 + number as i32,
                start_ticks: 55_000 + u64::from(number),
            }),
            finished: Some((next_instant(), AttemptOutcome::Failed { reason })),
        });
    }
    for output in [
        None,
        Some(json!({"rows": 42, "path": "warehouse/raw/sales"})),
    ] {
        number += 1;
        attempts.push(AttemptRecord {
            task: succeeded.clone(),
            attempt: Attempt(number),
            started_at: next_instant(),
            process: None,
            finished: Some((
                next_instant(),
                AttemptOutcome::Succeeded {
                    output,
                    log_error: None,
                },
            )),
        });
    }
    attempts.push(AttemptRecord {
        task: succeeded.clone(),
        attempt: Attempt(number + 1),
        started_at: next_instant(),
        process: None,
        finished: Some((
            next_instant(),
            AttemptOutcome::Succeeded {
                output: None,
                log_error: Some("No space left on device (os error 28)".into()),
            },
        )),
    });
    let failed = TaskName::new("failed");
    attempts.push(AttemptRecord {
        task: failed.clone(),
        attempt: Attempt(3),
        started_at: next_instant(),
        process: Some(ProcessIdentity {
            pid: i32::MAX,
            start_ticks: u64::from(u32::MAX) * 16,
        }),
        finished: Some((
            next_instant(),
            AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 127 },
            },
        )),
    });
    let running = TaskName::new("running");
    attempts.push(AttemptRecord {
        task: running.clone(),
        attempt: Attempt(1),
        started_at: next_instant(),
        process: Some(ProcessIdentity {
            pid: 31337,
            start_ticks: 1,
        }),
        finished: None,
    });
    attempts.push(AttemptRecord {
        task: running,
        attempt: Attempt(2),
        started_at: next_instant(),
        process: None,
        finished: None,
    });
    // `attempts` lists in task order: running (index 2), succeeded (3), failed (4).
    attempts.sort_by_key(|record| {
        let position = ["running", "succeeded", "failed"]
            .iter()
            .position(|name| *name == record.task.as_str());
        (position, record.attempt)
    });
    attempts
}

/// The changes that produce `attempts`.
fn attempt_changes(attempts: &[AttemptRecord]) -> Vec<Change> {
    let mut changes = Vec::new();
    for record in attempts {
        changes.push(Change::AttemptStarted {
            task: record.task.clone(),
            attempt: record.attempt,
            started_at: record.started_at,
        });
        if let Some(process) = record.process {
            changes.push(Change::AttemptProcess {
                task: record.task.clone(),
                attempt: record.attempt,
                process,
            });
        }
        if let Some((finished_at, outcome)) = &record.finished {
            changes.push(Change::AttemptFinished {
                task: record.task.clone(),
                attempt: record.attempt,
                finished_at: *finished_at,
                outcome: outcome.clone(),
            });
        }
    }
    changes
}
