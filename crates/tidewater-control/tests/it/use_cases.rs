//! The writing use cases: manual runs, retry, clear, cancel, pause.

use tidewater_control::{
    ClearScope, Concurrency, ControlError, IntervalRequest, ManualRunRequest, Retry, RetryVersion,
    SilentObserver,
};
use tidewater_core::{RunId, RunState};

use crate::support::TestProject;

const DAILY: &str = r#"
schedule: "@daily"
timezone: UTC
params:
  region: eu
tasks:
  extract:
    sh: "true"
  load:
    sh: "true"
    needs: [extract]
"#;

fn request(date: &str, concurrency: Concurrency) -> ManualRunRequest {
    ManualRunRequest {
        interval: IntervalRequest::Date(date.to_owned()),
        params: serde_json::Map::new(),
        concurrency,
    }
}

/// A second manual run of an interval while the first is queued is a conflict that names
/// the first, and records nothing; `Concurrency::Allow` creates it.
#[tokio::test]
async fn a_second_run_of_a_queued_interval_is_a_conflict_that_records_nothing() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let first = control
        .create_manual_run(
            &loaded,
            &request("2026-03-01", Concurrency::RefuseWhileActive),
        )
        .await
        .expect("the first run is created");
    assert_eq!(first.state, RunState::Queued);

    let refused = control
        .create_manual_run(
            &loaded,
            &request("2026-03-01", Concurrency::RefuseWhileActive),
        )
        .await
        .expect_err("a second run of the interval is refused");
    let ControlError::Conflict(message) = &refused else {
        panic!("a conflict, not {refused:?}");
    };
    assert!(message.contains(&format!("run {}", first.id)), "{message}");
    assert_eq!(
        control.store.highest_run_id().await.expect("read"),
        Some(first.id)
    );

    let other = control
        .create_manual_run(&loaded, &request("2026-03-01", Concurrency::Allow))
        .await
        .expect("allowed");
    assert_ne!(other.id, first.id);
}

/// Bad requests are `Invalid` and record nothing: a date that is not one, a parameter the
/// workflow does not have, an interval that ends before it starts.
#[tokio::test]
async fn bad_run_requests_are_invalid_and_record_nothing() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let mut unknown_param = request("2026-03-01", Concurrency::Allow);
    unknown_param
        .params
        .insert("regoin".to_owned(), serde_json::Value::from("us"));
    let backwards = ManualRunRequest {
        interval: IntervalRequest::Between {
            start: "2026-03-02".to_owned(),
            end: "2026-03-01".to_owned(),
        },
        ..request("2026-03-01", Concurrency::Allow)
    };
    for (what, bad) in [
        ("not a date", request("2026-13-01", Concurrency::Allow)),
        ("unknown param", unknown_param),
        ("backwards", backwards),
    ] {
        let error = control
            .create_manual_run(&loaded, &bad)
            .await
            .expect_err(what);
        assert!(
            matches!(error, ControlError::Invalid(_)),
            "{what}: {error:?}"
        );
    }
    assert_eq!(control.store.highest_run_id().await.expect("read"), None);
}

/// Unknown runs and tasks are `NotFound`.
#[tokio::test]
async fn unknown_runs_and_tasks_are_not_found() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let run = control
        .create_manual_run(&loaded, &request("2026-03-01", Concurrency::Allow))
        .await
        .expect("created");
    for error in [
        control.retry(RunId(999), RetryVersion::Pinned).await.err(),
        control.request_cancel(RunId(999)).await.err(),
        control
            .clearing(run.id, &["trasnform".to_owned()], ClearScope::Tasks)
            .await
            .err(),
    ] {
        assert!(
            matches!(error, Some(ControlError::NotFound(_))),
            "{error:?}"
        );
    }
}

/// Clearing with downstream resolves the named task and everything after it, against the
/// run's pinned version.
#[tokio::test]
async fn clearing_with_downstream_takes_the_tasks_after_the_named_one() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let run = control
        .create_manual_run(&loaded, &request("2026-03-01", Concurrency::Allow))
        .await
        .expect("created");
    let only = control
        .clearing(run.id, &["extract".to_owned()], ClearScope::Tasks)
        .await
        .expect("resolved");
    assert_eq!(only.task_names(), ["extract"]);
    let downstream = control
        .clearing(run.id, &["extract".to_owned()], ClearScope::WithDownstream)
        .await
        .expect("resolved");
    assert_eq!(downstream.task_names(), ["extract", "load"]);
}

/// A queued run with no server is executed here on retry; after it succeeds, a retry has
/// nothing to do; a cancel of a run nobody executes is done by the caller.
#[tokio::test]
async fn retry_executes_here_without_a_server_and_a_finished_run_needs_no_retry() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let run = control
        .create_manual_run(&loaded, &request("2026-03-01", Concurrency::Allow))
        .await
        .expect("created");
    let Retry::ExecuteHere { run: record, .. } = control
        .retry(run.id, RetryVersion::Pinned)
        .await
        .expect("retry")
    else {
        panic!("no server runs: executed here");
    };
    let state = control
        .execute(
            tidewater_control::Execution {
                workflow: &loaded.workflow,
                run: record.id,
                resume: tidewater_control::Resume::Failed,
                parallelism: Some(1),
                observer: std::sync::Arc::new(SilentObserver),
            },
            std::future::pending(),
            |_| {},
        )
        .await
        .expect("executed");
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    let summary = control
        .run_summary(&loaded.workflow, run.id, &state)
        .await
        .expect("summary");
    assert_eq!(summary.counts.succeeded, 2);
    assert!(matches!(
        control
            .retry(run.id, RetryVersion::Pinned)
            .await
            .expect("retry"),
        Retry::AlreadySucceeded(_)
    ));
    assert!(
        control
            .request_cancel(run.id)
            .await
            .expect("cancel")
            .is_none(),
        "nothing to cancel"
    );
    let stored = control
        .store
        .run(run.id)
        .await
        .expect("read")
        .expect("exists");
    assert!(matches!(stored.state, RunState::Succeeded { .. }));
}

/// `ask_cancel`, for a front end that does not wait: a queued run that nobody executes (no
/// server) is recorded cancelled at once; a run that is not queued or running is a conflict
/// that records nothing; an unknown run is not found.
#[tokio::test]
async fn ask_cancel_cancels_an_unexecuted_run_and_refuses_an_ended_one() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]);
    let control = project.open().await;
    let loaded = control.load_workflow("daily").expect("daily loads");
    let run = control
        .create_manual_run(&loaded, &request("2026-03-01", Concurrency::Allow))
        .await
        .expect("created");
    let progress = control.ask_cancel(run.id).await.expect("cancelled");
    let tidewater_control::CancelProgress::Ended(ended) = progress else {
        panic!("nobody executes it: cancelled here, not {progress:?}");
    };
    assert!(
        matches!(ended.state, RunState::Cancelled { .. }),
        "{:?}",
        ended.state
    );
    let again = control.ask_cancel(run.id).await.err();
    assert!(
        matches!(&again, Some(ControlError::Conflict(message)) if message.contains("cancelled")),
        "{again:?}"
    );
    let stored = control
        .store
        .run(run.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored, ended, "the refused cancel recorded nothing");
    assert!(matches!(
        control.ask_cancel(RunId(999)).await.err(),
        Some(ControlError::NotFound(_))
    ));
    assert!(
        control.wake_server().await.expect("asked").is_none(),
        "no server to wake"
    );
}
