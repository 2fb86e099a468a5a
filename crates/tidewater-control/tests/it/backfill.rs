//! The backfill use case: its plan, recording it, executing it here, and its summary.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use tidewater_control::json::BackfillJson;
use tidewater_control::{
    BackfillRequest, BackfillStep, ControlError, RunObserver, ServiceObserver, SkipReason,
};
use tidewater_core::{
    BackfillOrder, Change, RunId, RunState, RunStateKind, RunView, Workflow, WorkflowName,
};
use tidewater_store::{RunFilter, RunRecord};

use crate::project::TestProject;

/// Daily; the run of 2026-01-02 fails (once: no retries), the others succeed.
const DAILY: &str = r#"
schedule: "@daily"
timezone: UTC
tasks:
  load:
    sh: test "{{ ds }}" != 2026-01-02
    retries: 0
"#;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn request(from: &str, to: &str) -> BackfillRequest {
    BackfillRequest {
        workflow: "daily".to_owned(),
        from: date(from),
        to: date(to),
        max_active_runs: Some(2),
        order: BackfillOrder::OldestFirst,
        only_missing: false,
        dry_run: false,
    }
}

async fn all_runs(project: &TestProject) -> Vec<RunRecord> {
    project
        .control
        .store
        .list_runs(&RunFilter::default())
        .await
        .expect("list runs")
}

/// Counts the runs that ended, as a front end's progress would.
#[derive(Default)]
struct Ended(AtomicUsize);

impl RunObserver for Ended {
    fn changed(&self, _: RunId, _: &Workflow, _: &[Change], _: &RunView) {}
}

impl ServiceObserver for Ended {
    fn run_created(&self, _: &RunRecord) {}
    fn run_started(&self, _: &RunRecord) {}
    fn run_ended(&self, _: RunId, _: &WorkflowName, _: &Result<RunState, String>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn problem(&self, message: &str) {
        panic!("the service reported a problem: {message}");
    }
}

#[tokio::test]
async fn a_dry_run_plans_every_interval_and_records_nothing() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let mut asked = request("2026-01-01", "2026-01-03");
    asked.dry_run = true;
    asked.order = BackfillOrder::NewestFirst;

    let backfill = project.control.backfill(&asked).await.expect("a plan");

    assert!(backfill.recorded.is_none());
    let plan = &backfill.plan;
    assert_eq!(plan.existing, None);
    assert_eq!(plan.max_active_runs, 2);
    let days: Vec<String> = plan
        .intervals
        .iter()
        .map(|planned| planned.interval.ds(chrono_tz::UTC).to_string())
        .collect();
    assert_eq!(
        days,
        ["2026-01-03", "2026-01-02", "2026-01-01"],
        "newest first"
    );
    assert!(
        plan.intervals
            .iter()
            .all(|planned| planned.step == BackfillStep::Create)
    );
    assert!(
        all_runs(&project).await.is_empty(),
        "a dry run creates no run"
    );
    let store = &project.control.store;
    assert_eq!(
        store
            .unfinished_backfill(&plan.loaded.workflow.name, asked.from, asked.to)
            .await
            .expect("read"),
        None,
        "a dry run records no backfill"
    );
}

#[tokio::test]
async fn a_second_identical_request_resumes_the_same_backfill_and_creates_no_run() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let asked = request("2026-01-01", "2026-01-03");

    let first = project.control.backfill(&asked).await.expect("recorded");
    let first = first.recorded.expect("not a dry run");
    assert!(!first.is_resumed);
    assert_eq!((first.created, first.requeued, first.skipped), (3, 0, 0));
    assert_eq!(first.record.max_active_runs, 2);

    let second = project.control.backfill(&asked).await.expect("recorded");
    assert_eq!(
        second.plan.existing.as_ref().map(|record| record.id),
        Some(first.record.id)
    );
    assert!(second.plan.intervals.iter().all(|planned| matches!(
        planned.step,
        BackfillStep::Keep {
            state: RunStateKind::Queued,
            ..
        }
    )));
    let second = second.recorded.expect("not a dry run");
    assert!(second.is_resumed);
    assert_eq!(second.record.id, first.record.id);
    assert_eq!((second.created, second.requeued, second.skipped), (0, 0, 0));
    let runs = all_runs(&project).await;
    assert_eq!(runs.len(), 3, "one run per interval, however often asked");
    assert!(runs.iter().all(|run| run.backfill == Some(first.record.id)));
    let counts = project
        .control
        .backfill_counts(first.record.id)
        .await
        .expect("counts");
    assert_eq!((counts.queued, counts.total()), (3, 3));
}

#[tokio::test]
async fn wrong_requests_are_invalid_and_record_nothing() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let mut none_at_once = request("2026-01-01", "2026-01-03");
    none_at_once.max_active_runs = Some(0);
    match project.control.backfill(&none_at_once).await {
        Err(ControlError::Invalid(message)) => {
            assert_eq!(message, "--max-active-runs must be at least 1");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    match project
        .control
        .backfill(&request("2026-01-03", "2026-01-01"))
        .await
    {
        Err(ControlError::Invalid(message)) => assert_eq!(
            message,
            "the backfill range is reversed: from 2026-01-03 is after to 2026-01-01"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let mut unknown = request("2026-01-01", "2026-01-03");
    unknown.workflow = "hourly".to_owned();
    assert!(matches!(
        project.control.backfill(&unknown).await,
        Err(ControlError::Diagnostics(_))
    ));
    assert!(all_runs(&project).await.is_empty());
}

#[tokio::test]
async fn a_range_with_no_ended_interval_plans_nothing_and_records_nothing() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let backfill = project
        .control
        .backfill(&request("2999-01-01", "2999-01-03"))
        .await
        .expect("a plan");
    assert!(backfill.plan.intervals.is_empty());
    assert!(backfill.recorded.is_none());
    assert!(all_runs(&project).await.is_empty());
}

/// Executed here: the failed run is named in the summary, the same request queues it again
/// (and only it), and `only_missing` skips the intervals that succeeded.
#[tokio::test]
async fn an_executed_backfill_summarizes_and_resumes_only_what_did_not_succeed() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let control = &project.control;
    let asked = request("2026-01-01", "2026-01-03");
    let recorded = control
        .backfill(&asked)
        .await
        .expect("recorded")
        .recorded
        .expect("not a dry run");
    let backfill = recorded.record;

    let observer = Arc::new(Ended::default());
    control
        .execute_backfill(
            &backfill,
            Some(2),
            observer.clone(),
            std::future::pending(),
            || panic!("nothing asked to stop"),
        )
        .await
        .expect("executed");
    assert_eq!(
        observer.0.load(Ordering::Relaxed),
        3,
        "every run ended here"
    );

    let summary = control.backfill_summary(&backfill).await.expect("summary");
    assert!(!summary.is_finished);
    assert_eq!(
        (
            summary.counts.succeeded,
            summary.counts.failed,
            summary.counts.active()
        ),
        (2, 1, 0)
    );
    let failed_run = all_runs(&project)
        .await
        .into_iter()
        .find(|run| run.interval.ds(chrono_tz::UTC).to_string() == "2026-01-02")
        .expect("the run of 2026-01-02");
    assert_eq!(summary.unfinished.len(), 1);
    assert_eq!(summary.unfinished[0].state, RunStateKind::Failed);
    assert_eq!(summary.unfinished[0].first, [failed_run.id]);
    assert_eq!(summary.unfinished[0].more, 0);
    let json = BackfillJson::new(&backfill, &summary.counts);
    assert_eq!(
        (json.runs.total, json.runs.failed, json.finished_at),
        (3, 1, None)
    );

    let again = control.backfill(&asked).await.expect("resumed");
    let steps: Vec<&BackfillStep> = again
        .plan
        .intervals
        .iter()
        .map(|planned| &planned.step)
        .collect();
    assert!(matches!(
        steps[0],
        BackfillStep::Keep {
            state: RunStateKind::Succeeded,
            ..
        }
    ));
    assert_eq!(
        steps[1],
        &BackfillStep::RunAgain {
            run: failed_run.id,
            state: RunStateKind::Failed
        }
    );
    let again = again.recorded.expect("not a dry run");
    assert_eq!(
        (again.record.id, again.created, again.requeued),
        (backfill.id, 0, 1)
    );
    assert_eq!(
        control
            .store
            .run(failed_run.id)
            .await
            .expect("read")
            .map(|run| run.state.kind()),
        Some(RunStateKind::Queued),
        "the failed run is queued again, not duplicated"
    );

    // A wider range, only what is missing: the intervals that succeeded are skipped.
    let mut missing = request("2026-01-01", "2026-01-04");
    missing.only_missing = true;
    missing.dry_run = true;
    let plan = control.backfill(&missing).await.expect("a plan").plan;
    assert_eq!(plan.existing, None, "another range is another backfill");
    let steps: Vec<&BackfillStep> = plan.intervals.iter().map(|planned| &planned.step).collect();
    assert!(matches!(
        steps[0],
        BackfillStep::Skip(SkipReason::Succeeded(_))
    ));
    assert_eq!(steps[1], &BackfillStep::Create, "its run failed");
    assert!(matches!(
        steps[2],
        BackfillStep::Skip(SkipReason::Succeeded(_))
    ));
    assert_eq!(steps[3], &BackfillStep::Create);
}

#[tokio::test]
async fn a_backfill_whose_runs_all_succeed_is_recorded_finished() {
    let project = TestProject::new(&[("daily.yaml", DAILY)]).await;
    let control = &project.control;
    let asked = request("2026-01-03", "2026-01-04");
    let backfill = control
        .backfill(&asked)
        .await
        .expect("recorded")
        .recorded
        .expect("not a dry run")
        .record;
    control
        .execute_backfill(
            &backfill,
            None,
            Arc::new(Ended::default()),
            std::future::pending(),
            || panic!("nothing asked to stop"),
        )
        .await
        .expect("executed");

    let summary = control.backfill_summary(&backfill).await.expect("summary");
    assert!(summary.is_finished);
    assert!(summary.unfinished.is_empty());
    let record = control.backfill_record(backfill.id).await.expect("read");
    let json = BackfillJson::new(&record, &summary.counts);
    assert!(json.finished_at.is_some(), "recorded finished");
    assert_eq!((json.runs.total, json.runs.succeeded), (2, 2));
    assert_eq!(
        (json.from.as_str(), json.to.as_str()),
        ("2026-01-03", "2026-01-04")
    );
    // Finished: the same request starts a new backfill.
    let next = control.backfill(&asked).await.expect("recorded");
    assert_eq!(next.plan.existing, None);
    assert_ne!(next.recorded.expect("not a dry run").record.id, backfill.id);
}

/// Two workflows writing the same partitions of one table.
const LOADER: &str = r#"
schedule: "@daily"
timezone: UTC
tasks:
  load:
    sql: SELECT CAST(1 AS BIGINT) AS id
    into: { table: raw.numbers, partition: { dt: "{{ ds }}" } }
"#;

/// `only_missing` skips an interval whose partitions exist, even with no successful run of
/// this workflow: here another workflow wrote them. A table not created yet misses all.
#[tokio::test]
async fn only_missing_skips_the_intervals_whose_partitions_exist() {
    let project = TestProject::new(&[("loader.yaml", LOADER), ("reloader.yaml", LOADER)]).await;
    let control = &project.control;
    let missing = |workflow: &str| BackfillRequest {
        workflow: workflow.to_owned(),
        only_missing: true,
        dry_run: true,
        ..request("2026-01-01", "2026-01-03")
    };
    let before = control
        .backfill(&missing("reloader"))
        .await
        .expect("a plan");
    assert!(
        before
            .plan
            .intervals
            .iter()
            .all(|planned| planned.step == BackfillStep::Create),
        "{:?}",
        before.plan.intervals
    );

    let loaded = control
        .backfill(&BackfillRequest {
            workflow: "loader".to_owned(),
            ..request("2026-01-01", "2026-01-02")
        })
        .await
        .expect("recorded")
        .recorded
        .expect("not a dry run")
        .record;
    control
        .execute_backfill(
            &loaded,
            None,
            Arc::new(Ended::default()),
            std::future::pending(),
            || panic!("nothing asked to stop"),
        )
        .await
        .expect("executed");
    assert!(
        control
            .backfill_summary(&loaded)
            .await
            .expect("summary")
            .is_finished
    );

    let after = control
        .backfill(&missing("reloader"))
        .await
        .expect("a plan");
    let steps: Vec<&BackfillStep> = after
        .plan
        .intervals
        .iter()
        .map(|planned| &planned.step)
        .collect();
    assert_eq!(
        steps,
        [
            &BackfillStep::Skip(SkipReason::PartitionsExist),
            &BackfillStep::Skip(SkipReason::PartitionsExist),
            &BackfillStep::Create,
        ]
    );
}
