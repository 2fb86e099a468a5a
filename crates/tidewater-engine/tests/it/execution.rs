use std::time::Duration;

use tidewater_core::{AttemptOutcome, FailureReason, RunState};
use tidewater_engine::{CancelHandle, Resume, kill_marked, process_identity};
use tidewater_store::RunStore;

use crate::harness::{Harness, wait_for_file, wait_until_ended};

const TOML: &str = "[pools.api]\nslots = 2\n";

#[tokio::test]
async fn a_failed_task_is_retried_when_the_clock_passes_its_delay() {
    let mut harness = Harness::new(
        TOML,
        r#"
tasks:
  flaky:
    sh: test -f marker || { touch marker; exit 3; }
    retries: 1
    retry_delay: 1h
"#,
    )
    .await;
    let run = harness.create_run().await;
    let executor = harness.executor(2, &[]);
    let cancel = CancelHandle::new();
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &cancel)
            .await
    });
    harness.wait_for("flaky", "up_for_retry").await;
    assert!(!execution.is_finished());
    harness.clock.advance(Duration::from_secs(3600));
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        harness.outcomes(run, "flaky").await,
        vec![
            AttemptOutcome::Failed {
                reason: FailureReason::Exit { code: 3 }
            },
            AttemptOutcome::Succeeded {
                output: None,
                log_error: None,
            },
        ]
    );
}

#[tokio::test]
async fn a_timed_out_task_has_its_whole_process_group_killed() {
    let mut harness = Harness::new(
        TOML,
        r#"
tasks:
  slow:
    sh: sleep 600 & echo $! > child.pid; wait
    timeout: 10m
"#,
    )
    .await;
    let run = harness.create_run().await;
    let executor = harness.executor(2, &[]);
    let cancel = CancelHandle::new();
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &cancel)
            .await
    });
    let child: i32 = wait_for_file(&harness.path("child.pid"))
        .await
        .trim()
        .parse()
        .expect("a pid");
    let child = process_identity(child).expect("the child runs");
    harness.wait_for("slow", "pid").await;
    harness.clock.advance(Duration::from_secs(600));
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Failed { .. }));
    assert_eq!(
        harness.outcomes(run, "slow").await,
        vec![AttemptOutcome::Failed {
            reason: FailureReason::TimedOut
        }]
    );
    assert!(
        wait_until_ended(child).await,
        "the background child of the timed-out task was killed"
    );
}

#[tokio::test]
async fn cancelling_stops_running_tasks_and_the_run_can_be_resumed() {
    let mut harness = Harness::new(
        TOML,
        r#"
tasks:
  first:
    sh: echo first >> ran.txt
  slow:
    needs: [first]
    sh: test -f resumed || exec sleep 600
  last:
    needs: [slow]
    sh: echo last >> ran.txt
"#,
    )
    .await;
    let run = harness.create_run().await;
    let cancel = CancelHandle::new();
    let execution = {
        let executor = harness.executor(2, &[]);
        let workflow = harness.loaded.workflow.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            executor
                .execute(&workflow, run, Resume::Continue, &cancel)
                .await
        })
    };
    harness.wait_for("slow", "pid").await;
    cancel.cancel();
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Cancelled { .. }), "{state:?}");
    assert_eq!(
        harness.outcomes(run, "slow").await,
        vec![AttemptOutcome::Failed {
            reason: FailureReason::Cancelled
        }]
    );

    std::fs::write(harness.path("resumed"), "").expect("write");
    let state = harness
        .execute(&harness.executor(2, &[]), run, Resume::Failed)
        .await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        std::fs::read_to_string(harness.path("ran.txt")).expect("read"),
        "first\nlast\n"
    );
}

#[tokio::test]
async fn a_pool_never_runs_more_tasks_than_its_slots() {
    let mut yaml = String::from("tasks:\n");
    for index in 0..8 {
        yaml.push_str(&format!("  t{index}:\n    sh: \"true\"\n    pool: api\n"));
    }
    yaml.push_str("  heavy:\n    sh: \"true\"\n    pool: api\n    pool_slots: 2\n");
    let harness = Harness::new(TOML, &yaml).await;
    let run = harness.create_run().await;
    let state = harness
        .executor(8, &[("api", 2)])
        .execute(
            &harness.loaded.workflow,
            run,
            Resume::Continue,
            &CancelHandle::new(),
        )
        .await
        .expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }));
    let peak = harness
        .observer
        .peak_pool_use
        .lock()
        .expect("lock")
        .get("api")
        .copied();
    assert_eq!(
        peak,
        Some(2),
        "the pool was used up to its 2 slots and never beyond"
    );
}

#[tokio::test]
async fn a_task_output_reaches_downstream_templates_and_environment() {
    let harness = Harness::new(
        TOML,
        r#"
params:
  region: kr
tasks:
  count:
    sh: |
      echo '{"rows": 42}' > "$TIDEWATER_OUTPUT"
  use:
    needs: [count]
    sh: echo "{{ tasks.count.output.rows }} {{ params.region }} {{ ds }} $TIDEWATER_DS" > used.txt
"#,
    )
    .await;
    let run = harness.create_run().await;
    let state = harness.run_to_end(run, 2).await;
    assert!(matches!(state, RunState::Succeeded { .. }));
    assert_eq!(
        std::fs::read_to_string(harness.path("used.txt")).expect("read"),
        "42 kr 2026-01-01 2026-01-01\n"
    );
}

#[tokio::test]
async fn a_log_folder_deleted_during_a_run_is_made_again_for_the_next_attempts() {
    // The runner keeps the run's log folder open and makes each attempt's files inside it;
    // once the folder is deleted, the next attempt must make it again, not write into the
    // deleted one. The runner creates an attempt's log just after starting its process, so
    // `wipe` waits for its own log first: a folder removed while the runner makes a file in
    // it would fail `rm -r` ("Directory not empty") or that attempt, not the next ones.
    let harness = Harness::new(
        TOML,
        r#"
tasks:
  wipe:
    sh: |
      until [ -e .tidewater/logs/1/wipe.1.log ]; do sleep 0.01; done
      rm -r .tidewater/logs/1
  count:
    needs: [wipe]
    sh: |
      echo '{"rows": 7}' > "$TIDEWATER_OUTPUT"
      echo counted
  use:
    needs: [count]
    sh: echo "{{ tasks.count.output.rows }}" > used.txt
"#,
    )
    .await;
    let run = harness.create_run().await;
    let state = harness.run_to_end(run, 2).await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        std::fs::read_to_string(harness.path("used.txt")).expect("read"),
        "7\n"
    );
    let log = std::fs::read_to_string(harness.path(".tidewater/logs/1/count.1.log"))
        .expect("the next attempt's log is in the folder made again");
    assert!(log.contains("       out| counted"), "{log}");
}

#[tokio::test]
async fn a_file_left_under_an_attempts_output_name_is_not_taken_for_its_output() {
    // Logs kept from a store that was deleted and started again: run 1 and its attempt
    // numbers come back, and the old output file must not pass for the new attempt's.
    let harness = Harness::new(TOML, "tasks:\n  count:\n    sh: echo counting\n").await;
    let stale = harness.path(".tidewater/logs/1/count.1.output.json");
    std::fs::create_dir_all(stale.parent().expect("a folder")).expect("mkdir");
    std::fs::write(&stale, r#"{"rows": 99}"#).expect("written");
    let run = harness.create_run().await;
    let state = harness.run_to_end(run, 2).await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        harness.outcomes(run, "count").await,
        vec![AttemptOutcome::Succeeded {
            output: None,
            log_error: None,
        }]
    );
}

#[tokio::test]
async fn a_command_that_cannot_run_fails_with_its_reason_in_the_log() {
    let harness = Harness::new(
        TOML,
        "tasks:\n  broken:\n    sh: no-such-command-xyz --flag\n",
    )
    .await;
    let run = harness.create_run().await;
    let state = harness.run_to_end(run, 2).await;
    assert!(matches!(state, RunState::Failed { .. }));
    assert_eq!(
        harness.outcomes(run, "broken").await,
        vec![AttemptOutcome::Failed {
            reason: FailureReason::Exit { code: 127 }
        }]
    );
    let log = std::fs::read_to_string(harness.path(".tidewater/logs/1/broken.1.log")).expect("log");
    assert!(log.contains("no-such-command-xyz: not found"), "{log}");
}

/// An attempt's last log line is written out after the executor acted on its report (off
/// the path from one task's end to the next one's start), and still before the run's
/// execution returns: every log is complete then, the last task's too.
#[tokio::test]
async fn every_log_is_complete_when_the_execution_returns() {
    let harness = Harness::new(
        TOML,
        "tasks:\n  first:\n    sh: echo one\n  last:\n    sh: echo two\n    needs: [first]\n",
    )
    .await;
    let run = harness.create_run().await;
    // Kept alive while the logs are read: dropping it would write out what it still held.
    let executor = harness.executor(2, &[]);
    let state = harness.execute(&executor, run, Resume::Continue).await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    for (task, line) in [("first", "one"), ("last", "two")] {
        let path = harness.path(&format!(".tidewater/logs/1/{task}.1.log"));
        let log = std::fs::read_to_string(&path).expect("log");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 3, "{log}");
        assert!(lines[1].ends_with(&format!("out| {line}")), "{log}");
        assert!(lines[2].contains("succeeded after"), "{log}");
    }
    drop(executor);
}

/// The `sh` runner starts the process before it creates the log file: when the file then
/// cannot be created, the process must not be left running without anyone supervising it.
#[tokio::test]
async fn a_log_that_cannot_be_created_fails_the_attempt_and_kills_its_process() {
    let harness = Harness::new(TOML, "tasks:\n  hold:\n    sh: exec sleep 1000\n").await;
    let run = harness.create_run().await;
    // A folder where the log file goes: the file cannot be created.
    std::fs::create_dir_all(harness.path(".tidewater/logs/1/hold.1.log")).expect("mkdir");
    let state = harness.run_to_end(run, 2).await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");
    let outcomes = harness.outcomes(run, "hold").await;
    assert!(
        matches!(
            &outcomes[..],
            [AttemptOutcome::Failed {
                reason: FailureReason::CouldNotStart { message, .. }
            }] if message.contains("cannot create the log file")
        ),
        "{outcomes:?}"
    );
    let marker = format!("{}#{run}#hold#1", harness.path(".tidewater").display());
    assert_eq!(
        kill_marked(&marker),
        Vec::new(),
        "the attempt's process was still running after its failure was reported"
    );
}

#[tokio::test]
async fn a_sensor_waits_without_holding_the_only_slot() {
    let mut harness = Harness::new(
        TOML,
        r#"
tasks:
  wait_for_flag:
    wait: { path: "flags/{{ ds }}.ready", poke_interval: 10s }
  make_flag:
    # The flag appears only once the sensor has looked and not found it: on a busy
    # machine this process could otherwise finish before the sensor's first look.
    sh: |
      until grep -q "not yet" .tidewater/logs/1/wait_for_flag.1.log 2>/dev/null; do sleep 0.01; done
      mkdir -p flags && touch flags/{{ ds }}.ready
  after:
    needs: [wait_for_flag]
    sh: echo after > after.txt
"#,
    )
    .await;
    let run = harness.create_run().await;
    let executor = harness.executor(1, &[]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    // With parallelism 1, `make_flag` can only run if the sensor holds no slot.
    harness.wait_for("make_flag", "succeeded").await;
    assert!(
        !execution.is_finished(),
        "the sensor has not looked again yet"
    );
    harness.clock.advance(Duration::from_secs(10));
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        std::fs::read_to_string(harness.path("after.txt")).expect("read"),
        "after\n"
    );
    let log = std::fs::read_to_string(harness.path(".tidewater/logs/1/wait_for_flag.1.log"))
        .expect("log");
    assert!(
        log.contains("waiting for a file matching flags/2026-01-01.ready"),
        "{log}"
    );
    assert!(
        log.contains("not yet") && log.contains("the condition holds"),
        "{log}"
    );
}

#[tokio::test]
async fn a_sensor_times_out_when_its_condition_never_holds() {
    let mut harness = Harness::new(
        TOML,
        "tasks:\n  wait:\n    wait: { path: never.txt, poke_interval: 1m }\n    timeout: 5m\n",
    )
    .await;
    let run = harness.create_run().await;
    let executor = harness.executor(1, &[]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    harness.wait_for("wait", "running").await;
    for _ in 0..5 {
        tokio::task::yield_now().await;
        harness.clock.advance(Duration::from_secs(60));
    }
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Failed { .. }));
    assert_eq!(
        harness.outcomes(run, "wait").await,
        vec![AttemptOutcome::Failed {
            reason: FailureReason::TimedOut
        }]
    );
}

#[tokio::test]
async fn a_pool_rate_holds_starts_until_its_window_has_room() {
    let mut yaml = String::from("tasks:\n");
    for index in 0..4 {
        yaml.push_str(&format!(
            "  t{index}:\n    sh: echo t{index} >> started.txt\n    pool: api\n"
        ));
    }
    let mut harness = Harness::new(TOML, &yaml).await;
    let run = harness.create_run().await;
    let executor = harness.executor_with_rates(8, &[("api", 10)], &[("api", "2/min")]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    let mut succeeded = 0;
    while succeeded < 2 {
        let (_, state) = harness.changes.recv().await.expect("a change");
        succeeded += usize::from(state.name() == "succeeded");
    }
    assert!(
        !execution.is_finished(),
        "two tasks wait for the rate window"
    );
    let store = harness.store.clone();
    let started = store.attempts(run, None).await.expect("attempts").len();
    assert_eq!(started, 2, "no more than 2 starts in the first minute");
    harness.clock.advance(Duration::from_secs(60));
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }));
    assert_eq!(
        std::fs::read_to_string(harness.path("started.txt"))
            .expect("read")
            .lines()
            .count(),
        4
    );
}
