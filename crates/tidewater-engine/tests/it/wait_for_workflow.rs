//! `wait: { workflow }`: a sensor that holds once another workflow has a succeeded run of
//! the same data interval, asked through a `RunProbe`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidewater_core::{
    AttemptOutcome, Change, DataInterval, FailureReason, RunState, TaskName, WorkflowName,
};
use tidewater_engine::{CancelHandle, Resume, RunProbe, Runners, StoreRunProbe};
use tidewater_spec::Project;
use tidewater_store::{NewRun, RunStore, RunTrigger};
use tokio::sync::mpsc;

use crate::harness::{Harness, at};

const WAITING: &str = r#"
tasks:
  orders_loaded:
    wait: { workflow: daily_orders, poke_interval: 10s }
  after:
    needs: [orders_loaded]
    sh: echo after > after.txt
"#;

/// A harness whose `test` workflow is `yaml`, in a project that also has `daily_orders`
/// (a workflow may only wait for one the project has).
async fn harness_waiting_for_daily_orders(yaml: &str) -> Harness {
    let mut harness = Harness::new("", "tasks: { placeholder: { empty: {} } }\n").await;
    std::fs::write(
        harness.path("workflows/daily_orders.yaml"),
        "tasks: { load: { empty: {} } }\n",
    )
    .expect("write workflow");
    std::fs::write(harness.path("workflows/test.yaml"), yaml).expect("write workflow");
    let project = Project::open(harness.root()).unwrap_or_else(|problems| panic!("{problems}"));
    harness.loaded = project
        .load_workflow("test")
        .unwrap_or_else(|problems| panic!("{problems}"));
    harness
}

/// The interval of every run `Harness::create_run` makes.
fn run_interval() -> DataInterval {
    DataInterval::new(at(0), at(86_400)).expect("valid")
}

/// Answers what the test says, and reports every question.
struct FakeRunProbe {
    has_succeeded: Mutex<bool>,
    asked: mpsc::UnboundedSender<(WorkflowName, DataInterval)>,
}

#[async_trait::async_trait]
impl RunProbe for FakeRunProbe {
    async fn has_succeeded_run(
        &self,
        workflow: &WorkflowName,
        interval: DataInterval,
    ) -> Result<bool, String> {
        let _ = self.asked.send((workflow.clone(), interval));
        Ok(*self.has_succeeded.lock().expect("not poisoned"))
    }
}

#[tokio::test]
async fn a_sensor_waits_until_the_other_workflow_has_a_succeeded_run_of_the_interval() {
    let mut harness = harness_waiting_for_daily_orders(WAITING).await;
    let (asked_sender, mut asked) = mpsc::unbounded_channel();
    let probe = Arc::new(FakeRunProbe {
        has_succeeded: Mutex::new(false),
        asked: asked_sender,
    });
    let run = harness.create_run().await;
    let executor = harness
        .executor(1, &[])
        .with_runners(Runners::new(None).with_run_probe(probe.clone()));
    let workflow = harness.loaded.workflow.clone();
    let execution = tokio::spawn(async move {
        executor
            .execute(&workflow, run, Resume::Continue, &CancelHandle::new())
            .await
    });
    let first = asked.recv().await.expect("the sensor asks at once");
    assert_eq!(first, (WorkflowName::new("daily_orders"), run_interval()));
    harness.wait_for("orders_loaded", "running").await;
    assert!(
        !execution.is_finished(),
        "not before the other run succeeded"
    );

    *probe.has_succeeded.lock().expect("not poisoned") = true;
    harness.clock.advance(Duration::from_secs(10));
    let state = execution.await.expect("joined").expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    assert_eq!(
        std::fs::read_to_string(harness.path("after.txt")).expect("read"),
        "after\n"
    );
    let log = std::fs::read_to_string(harness.path(".tidewater/logs/1/orders_loaded.1.log"))
        .expect("log");
    assert!(
        log.contains(&format!(
            "waiting for a succeeded run of workflow daily_orders for {}",
            run_interval()
        )),
        "{log}"
    );
    assert!(
        log.contains("not yet") && log.contains("the condition holds"),
        "{log}"
    );
}

#[tokio::test]
async fn without_a_run_probe_waiting_for_a_workflow_fails_to_start_and_says_why() {
    let harness = harness_waiting_for_daily_orders(WAITING).await;
    let run = harness.create_run().await;
    let state = harness.run_to_end(run, 1).await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");
    let outcomes = harness.outcomes(run, "orders_loaded").await;
    let [
        AttemptOutcome::Failed {
            reason: FailureReason::CouldNotStart { message, .. },
        },
    ] = outcomes.as_slice()
    else {
        panic!("expected one attempt that could not start: {outcomes:?}");
    };
    assert!(message.contains("needs the run store"), "{message}");
}

/// Creates a run of `workflow` for `interval` and records it as `state`.
async fn record_run(harness: &Harness, workflow: &str, interval: DataInterval, state: RunState) {
    let record = harness
        .store
        .create_run(NewRun {
            workflow: WorkflowName::new(workflow),
            interval,
            trigger: RunTrigger::Manual,
            params: serde_json::Map::new(),
            workflow_source: String::new(),
            workflow_hash: String::new(),
            tasks: vec![TaskName::new("load")],
            created_at: at(0),
            backfill: None,
        })
        .await
        .expect("create run");
    harness
        .store
        .apply(
            record.id,
            &[
                Change::Run(RunState::Running { started_at: at(1) }),
                Change::Run(state),
            ],
        )
        .await
        .expect("apply");
}

#[tokio::test]
async fn the_store_probe_counts_only_a_succeeded_run_of_the_same_workflow_and_interval() {
    let harness = harness_waiting_for_daily_orders(WAITING).await;
    let probe = StoreRunProbe::new(harness.store.clone());
    let orders = WorkflowName::new("daily_orders");
    let next_day = DataInterval::new(at(86_400), at(2 * 86_400)).expect("valid");
    let ended = |is_success: bool| {
        let (started_at, finished_at) = (at(1), at(2));
        if is_success {
            RunState::Succeeded {
                started_at,
                finished_at,
            }
        } else {
            RunState::Failed {
                started_at,
                finished_at,
            }
        }
    };
    record_run(&harness, "daily_orders", run_interval(), ended(false)).await;
    record_run(&harness, "daily_orders", next_day, ended(true)).await;
    record_run(&harness, "other", run_interval(), ended(true)).await;
    let has_run = |interval| probe.has_succeeded_run(&orders, interval);
    assert_eq!(has_run(run_interval()).await, Ok(false));
    assert_eq!(has_run(next_day).await, Ok(true));

    // A later run of the same interval (e.g. a retry as a manual run) that succeeds counts.
    record_run(&harness, "daily_orders", run_interval(), ended(true)).await;
    assert_eq!(has_run(run_interval()).await, Ok(true));
}
