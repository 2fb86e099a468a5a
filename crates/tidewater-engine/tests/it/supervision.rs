//! Attempts are supervised whatever their runner does: a runner whose work panics, that
//! drops its reporter unreported, or that panics while starting, ends its attempt as a bug
//! in Tidewater, and the run goes on under the task's retry policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tidewater_core::{AttemptOutcome, FailureClass, FailureReason, RunId, RunState, SqlAction};
use tidewater_engine::{
    AttemptReporter, CancelHandle, Resume, Runners, StartRequest, StartedAttempt, TaskRunner,
};

use crate::harness::Harness;

/// How the first attempt goes wrong; later attempts succeed.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// The work it spawned panics with the reporter in hand.
    PanicInWork,
    /// It drops the reporter without reporting.
    DropReporter,
    /// `start` itself panics.
    PanicInStart,
}

struct MisbehavingRunner {
    misbehaviour: Misbehaviour,
    starts: AtomicU32,
}

impl TaskRunner<SqlAction> for MisbehavingRunner {
    fn start(
        &self,
        _action: &SqlAction,
        _request: StartRequest<'_>,
        reporter: AttemptReporter,
    ) -> StartedAttempt {
        if self.starts.fetch_add(1, Ordering::SeqCst) > 0 {
            reporter.report(AttemptOutcome::Succeeded {
                output: None,
                log_error: None,
            });
            return StartedAttempt::finished();
        }
        match self.misbehaviour {
            Misbehaviour::PanicInWork => {
                tokio::spawn(async move {
                    let _held = reporter;
                    panic!("the work of a test runner panics");
                });
            }
            Misbehaviour::DropReporter => drop(reporter),
            Misbehaviour::PanicInStart => panic!("a test runner panics while starting"),
        }
        // Its control stops nothing: the work is gone.
        let (stop, _) = tokio::sync::oneshot::channel();
        StartedAttempt {
            process: None,
            control: tidewater_engine::AttemptControl::new(stop),
        }
    }
}

fn workflow(retries: u32) -> String {
    format!(
        r#"
tasks:
  broken:
    sql: SELECT 1
    retries: {retries}
    retry_delay: 1m
"#
    )
}

/// A bound on a hung test, not a wait for time to pass: before attempts were supervised,
/// these runs stayed `running` forever.
const HUNG: Duration = Duration::from_secs(60);

async fn start(
    harness: &Harness,
    misbehaviour: Misbehaviour,
    cancel: &CancelHandle,
) -> (RunId, tokio::task::JoinHandle<RunState>) {
    let run = harness.create_run().await;
    let mut runners = Runners::new(None);
    runners.register_sql(Arc::new(MisbehavingRunner {
        misbehaviour,
        starts: AtomicU32::new(0),
    }));
    let executor = harness.executor(2, &[]).with_runners(runners);
    let workflow = harness.loaded.workflow.clone();
    let cancel = cancel.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &cancel)
            .await
            .expect("executed")
    });
    (run, execution)
}

async fn finished(execution: tokio::task::JoinHandle<RunState>) -> RunState {
    tokio::time::timeout(HUNG, execution)
        .await
        .expect("the run ends")
        .expect("the executor does not panic")
}

fn assert_bug(outcome: &AttemptOutcome, how: &str) {
    let AttemptOutcome::Failed {
        reason: reason @ FailureReason::Bug { message },
    } = outcome
    else {
        panic!("expected a bug, got {outcome:?}");
    };
    assert_eq!(reason.class(), FailureClass::Bug);
    assert!(
        message.starts_with(&format!("the sql runner {how}"))
            && message.contains("this is a bug in tidewater, please report it"),
        "{message}"
    );
}

/// Regression (issue 16, item 5): a runner registered for `sql` whose spawned work panicked
/// left its run `running` forever.
#[tokio::test]
async fn a_runner_whose_work_panics_fails_the_attempt_and_the_run_retries() {
    for misbehaviour in [Misbehaviour::PanicInWork, Misbehaviour::DropReporter] {
        let mut harness = Harness::new("", &workflow(1)).await;
        let cancel = CancelHandle::new();
        let (run, execution) = start(&harness, misbehaviour, &cancel).await;
        harness.wait_for("broken", "up_for_retry").await;
        harness.clock.advance(Duration::from_secs(60));
        let state = finished(execution).await;
        assert!(
            matches!(state, RunState::Succeeded { .. }),
            "{misbehaviour:?}: {state:?}"
        );
        let outcomes = harness.outcomes(run, "broken").await;
        assert_eq!(outcomes.len(), 2, "{misbehaviour:?}: {outcomes:?}");
        let how = match misbehaviour {
            Misbehaviour::DropReporter => "ended without reporting",
            _ => "panicked",
        };
        assert_bug(&outcomes[0], how);
        assert!(matches!(outcomes[1], AttemptOutcome::Succeeded { .. }));
    }
}

/// A bug uses up a retry like any failure: without retries the run fails.
#[tokio::test]
async fn a_runner_that_panics_while_starting_fails_the_run_without_retries() {
    let harness = Harness::new("", &workflow(0)).await;
    let cancel = CancelHandle::new();
    let (run, execution) = start(&harness, Misbehaviour::PanicInStart, &cancel).await;
    let state = finished(execution).await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");
    let outcomes = harness.outcomes(run, "broken").await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_bug(&outcomes[0], "panicked");
}

/// Regression (issue 16, item 5): `cancel` did not end a run whose runner had panicked.
#[tokio::test]
async fn a_run_whose_runner_panicked_can_be_cancelled() {
    let mut harness = Harness::new("", &workflow(3)).await;
    let cancel = CancelHandle::new();
    let (run, execution) = start(&harness, Misbehaviour::PanicInWork, &cancel).await;
    harness.wait_for("broken", "up_for_retry").await;
    cancel.cancel();
    let state = finished(execution).await;
    assert!(matches!(state, RunState::Cancelled { .. }), "{state:?}");
    let outcomes = harness.outcomes(run, "broken").await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_bug(&outcomes[0], "panicked");
}
