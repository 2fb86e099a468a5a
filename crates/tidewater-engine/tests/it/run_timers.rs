//! A run's `timeout` and `deadline` with real processes: the executor wakes for them
//! (`core::next_timer`) when the manual clock passes them.

use std::time::Duration;

use tidewater_core::{AttemptOutcome, FailureReason, RunState};
use tidewater_engine::{CancelHandle, Resume};
use tidewater_store::RunTrigger;

use crate::harness::{Harness, wait_for_file};

/// The run's final state. Bounded, so that an executor that never wakes for a timer fails
/// the test instead of hanging it (a bound on a hung test, not a wait for time to pass).
async fn ended(
    execution: tokio::task::JoinHandle<Result<RunState, tidewater_engine::EngineError>>,
) -> RunState {
    tokio::time::timeout(Duration::from_secs(60), execution)
        .await
        .expect("the executor woke for the timer")
        .expect("joined")
        .expect("executed")
}

#[tokio::test]
async fn a_run_past_its_timeout_kills_its_task_and_runs_on_failure() {
    let mut harness = Harness::new(
        "",
        r#"
timeout: 1h
tasks:
  slow:
    sh: sleep 600
    retries: 3
  after:
    needs: [slow]
    sh: echo after > after.txt
on_failure:
  sh: echo failed > failed.txt
"#,
    )
    .await;
    let run = harness.create_run().await;
    let executor = harness.executor(2, &[]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    harness.wait_for("slow", "pid").await;
    harness.clock.advance(Duration::from_secs(3600));
    let state = ended(execution).await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");
    assert_eq!(
        harness.outcomes(run, "slow").await,
        vec![AttemptOutcome::Failed {
            reason: FailureReason::RunTimedOut
        }],
        "killed once, not retried"
    );
    assert_eq!(
        std::fs::read_to_string(harness.path("failed.txt")).expect("on_failure ran"),
        "failed\n"
    );
    assert!(!harness.path("after.txt").exists());
}

#[tokio::test]
async fn a_missed_deadline_runs_on_deadline_miss_while_the_run_goes_on() {
    let mut harness = Harness::new(
        "",
        r#"
deadline: 3h
tasks:
  slow:
    sh: while [ ! -f go ]; do sleep 0.02; done
on_deadline_miss:
  sh: echo late > late.txt
"#,
    )
    .await;
    // The harness's run covers the first day from `at(0)`; its deadline is 3 h after.
    let run = harness.create_run_triggered(RunTrigger::Scheduled).await;
    let executor = harness.executor(2, &[]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    harness.wait_for("slow", "pid").await;
    harness
        .clock
        .advance(Duration::from_secs(86_400 + 3 * 3600));
    assert_eq!(wait_for_file(&harness.path("late.txt")).await, "late\n");
    harness.wait_for("on_deadline_miss", "succeeded").await;
    assert!(!execution.is_finished(), "the run goes on");
    std::fs::write(harness.path("go"), "").expect("write");
    let state = ended(execution).await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(harness.outcomes(run, "on_deadline_miss").await.len(), 1);
}

/// Regression guard: only scheduled runs have deadlines (the core's `RunTrigger::has_deadline`,
/// applied by the executor through `Workflow::for_trigger`). A manual run (or a backfill of
/// last year) that ends long after its interval's deadline must not raise the alarm.
#[tokio::test]
async fn a_manual_run_past_the_deadline_does_not_run_on_deadline_miss() {
    let mut harness = Harness::new(
        "",
        r#"
deadline: 3h
tasks:
  slow:
    sh: while [ ! -f go ]; do sleep 0.02; done
on_deadline_miss:
  sh: echo late > late.txt
"#,
    )
    .await;
    let run = harness.create_run_triggered(RunTrigger::Manual).await;
    let executor = harness.executor(2, &[]);
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    harness.wait_for("slow", "pid").await;
    harness
        .clock
        .advance(Duration::from_secs(86_400 + 4 * 3600));
    // The step ends after the deadline: the decision that records it would see it missed.
    std::fs::write(harness.path("go"), "").expect("write");
    let state = ended(execution).await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert!(harness.outcomes(run, "on_deadline_miss").await.is_empty());
    assert!(!harness.path("late.txt").exists());
}
