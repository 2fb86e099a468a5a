//! Behaviours of [`ControlStore`]: one run per interval, backfills, pauses, the service.

use chrono::NaiveDate;
use tidewater_core::{
    BackfillOrder, Change, DataInterval, ProcessIdentity, RunId, RunQueueKey, RunState,
    RunStateKind, TaskName, WorkflowName, start_order,
};

use super::fixtures::{instant, new_run};
use crate::{
    ControlStore, NewBackfill, NewRun, RunCounts, RunCreation, RunParent, RunRecord, RunStore,
    RunTrigger, ServiceClaim, StoreError, WorkflowHealth, WorkflowRunCount,
};

fn day(day: u32) -> DataInterval {
    DataInterval::new(
        instant(&format!("2026-03-{day:02}T00:00:00Z")),
        instant(&format!("2026-03-{:02}T00:00:00Z", day + 1)),
    )
    .expect("start < end")
}

fn scheduled(workflow: &str, day_of_march: u32) -> NewRun {
    NewRun {
        interval: day(day_of_march),
        trigger: RunTrigger::Scheduled,
        ..new_run(workflow, &["a"])
    }
}

pub async fn a_scheduled_interval_gets_exactly_one_run<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let first = store
        .create_run_once(scheduled("daily", 3))
        .await
        .expect("create_run_once")
        .expect("the first run of the interval is created");
    assert_eq!(
        store
            .create_run_once(scheduled("daily", 3))
            .await
            .expect("create_run_once"),
        None,
        "a second scheduled run of the interval is refused"
    );
    assert!(matches!(
        store.create_run(scheduled("daily", 3)).await,
        Err(StoreError::IntervalTaken { .. })
    ));
    // Other workflows, other intervals and manual runs are not affected.
    for run in [
        scheduled("other", 3),
        scheduled("daily", 4),
        NewRun {
            trigger: RunTrigger::Manual,
            ..scheduled("daily", 3)
        },
    ] {
        assert!(
            store
                .create_run_once(run)
                .await
                .expect("create_run_once")
                .is_some()
        );
    }
    assert_eq!(
        store
            .last_scheduled_end(&WorkflowName::new("daily"))
            .await
            .expect("last_scheduled_end"),
        Some(day(4).end)
    );
    assert_eq!(
        store
            .last_scheduled_end(&WorkflowName::new("never"))
            .await
            .expect("last_scheduled_end"),
        None
    );
    let in_range = store
        .runs_in_range(&WorkflowName::new("daily"), day(3).start, day(4).start)
        .await
        .expect("runs_in_range");
    assert_eq!(
        in_range.len(),
        2,
        "the scheduled and the manual run of day 3"
    );
    assert_eq!(in_range[0].id, first.id);
}

pub async fn active_runs_are_the_queued_and_running_ones_oldest_interval_first<
    S: RunStore + ControlStore + ?Sized,
>(
    store: &S,
) {
    let late = store
        .create_run(scheduled("daily", 9))
        .await
        .expect("create_run");
    let early = store
        .create_run(scheduled("daily", 2))
        .await
        .expect("create_run");
    let done = store
        .create_run(scheduled("daily", 1))
        .await
        .expect("create_run");
    let at = instant("2026-03-10T00:00:00Z");
    store
        .apply(
            done.id,
            &[tidewater_core::Change::Run(RunState::Succeeded {
                started_at: at,
                finished_at: at,
            })],
        )
        .await
        .expect("apply");
    let active: Vec<_> = store
        .active_runs()
        .await
        .expect("active_runs")
        .into_iter()
        .map(|run| run.id)
        .collect();
    assert_eq!(active, vec![early.id, late.id]);
}

pub async fn backfills_keep_their_runs_and_can_be_found_until_finished<
    S: RunStore + ControlStore + ?Sized,
>(
    store: &S,
) {
    let workflow = WorkflowName::new("daily");
    let from = NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid");
    let to = NaiveDate::from_ymd_opt(2026, 3, 31).expect("valid");
    let backfill = store
        .create_backfill(NewBackfill {
            workflow: workflow.clone(),
            from,
            to,
            max_active_runs: 3,
            reverse: true,
            created_at: instant("2026-04-01T00:00:00Z"),
        })
        .await
        .expect("create_backfill");
    assert_eq!(
        store.backfill(backfill.id).await.expect("backfill"),
        Some(backfill.clone())
    );
    let backfill_run = |day_of_march| NewRun {
        trigger: RunTrigger::Backfill,
        backfill: Some(backfill.id),
        ..scheduled("daily", day_of_march)
    };
    // A scheduled run of the same interval does not stop the backfill's own run.
    store
        .create_run(scheduled("daily", 5))
        .await
        .expect("create_run");
    let run = store
        .create_run_once(backfill_run(5))
        .await
        .expect("create_run_once")
        .expect("created");
    assert_eq!(run.backfill, Some(backfill.id));
    assert_eq!(
        store
            .create_run_once(backfill_run(5))
            .await
            .expect("create_run_once"),
        None,
        "resuming a backfill creates no second run of an interval"
    );
    let runs = store.backfill_runs(backfill.id).await.expect("runs");
    assert_eq!(runs.iter().map(|run| run.id).collect::<Vec<_>>(), [run.id]);
    assert_eq!(
        store
            .unfinished_backfill(&workflow, from, to)
            .await
            .expect("unfinished_backfill")
            .map(|found| found.id),
        Some(backfill.id)
    );
    assert_eq!(
        store
            .unfinished_backfill(&workflow, from, from)
            .await
            .expect("unfinished_backfill"),
        None,
        "another range is another backfill"
    );
    let finished_at = instant("2026-04-02T00:00:00Z");
    store
        .finish_backfill(backfill.id, finished_at)
        .await
        .expect("finish_backfill");
    assert_eq!(
        store
            .unfinished_backfill(&workflow, from, to)
            .await
            .expect("unfinished_backfill"),
        None
    );
    assert!(
        store
            .unfinished_backfills()
            .await
            .expect("unfinished")
            .is_empty()
    );
    assert_eq!(
        store
            .backfill(backfill.id)
            .await
            .expect("backfill")
            .and_then(|found| found.finished_at),
        Some(finished_at)
    );
}

pub async fn pausing_is_recorded_per_workflow<S: RunStore + ControlStore + ?Sized>(store: &S) {
    let daily = WorkflowName::new("daily");
    let at = instant("2026-03-01T00:00:00Z");
    assert!(store.set_paused(&daily, true, at).await.expect("pause"));
    assert!(
        !store.set_paused(&daily, true, at).await.expect("pause"),
        "pausing twice changes nothing"
    );
    assert_eq!(
        store.paused_workflows().await.expect("paused"),
        vec![daily.clone()]
    );
    assert!(store.set_paused(&daily, false, at).await.expect("unpause"));
    assert!(!store.set_paused(&daily, false, at).await.expect("unpause"));
    assert!(store.paused_workflows().await.expect("paused").is_empty());
}

pub async fn one_service_at_a_time_with_its_health_report<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let one = ProcessIdentity {
        pid: 10,
        start_ticks: 1,
    };
    let two = ProcessIdentity {
        pid: 20,
        start_ticks: 2,
    };
    let at = instant("2026-03-01T00:00:00Z");
    assert_eq!(store.service().await.expect("service"), None);
    assert_eq!(
        store.claim_service(None, one, at).await.expect("claim"),
        ServiceClaim::Claimed
    );
    match store.claim_service(None, two, at).await.expect("claim") {
        ServiceClaim::Held(record) => assert_eq!(record.process, one),
        ServiceClaim::Claimed => panic!("a second service was let in"),
    }
    let health = vec![
        WorkflowHealth {
            file: "workflows/a.yaml".into(),
            workflow: Some(WorkflowName::new("a")),
            workflow_hash: Some("h".into()),
            next_due: Some(at),
            problem: None,
        },
        WorkflowHealth {
            file: "workflows/b.yaml".into(),
            workflow: None,
            workflow_hash: None,
            next_due: None,
            problem: Some("line 3: unknown key".into()),
        },
    ];
    let later = instant("2026-03-01T00:00:01Z");
    store.publish_health(&health, later).await.expect("publish");
    assert_eq!(store.workflow_health().await.expect("health"), health);
    assert_eq!(
        store
            .service()
            .await
            .expect("service")
            .map(|s| s.updated_at),
        Some(later)
    );
    // The first service died: the second takes over by naming it.
    assert_eq!(
        store
            .claim_service(Some(one), two, at)
            .await
            .expect("claim"),
        ServiceClaim::Claimed
    );
    store.release_service(one).await.expect("release");
    assert_eq!(
        store.service().await.expect("service").map(|s| s.process),
        Some(two),
        "releasing someone else's record does nothing"
    );
    store.release_service(two).await.expect("release");
    assert_eq!(store.service().await.expect("service"), None);
    assert!(store.workflow_health().await.expect("health").is_empty());
}

pub async fn a_cancel_request_lasts_until_its_run_ends<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let at = instant("2026-03-10T00:00:00Z");
    let queued = store
        .create_run(scheduled("daily", 1))
        .await
        .expect("create_run");
    let running = store
        .create_run(scheduled("daily", 2))
        .await
        .expect("create_run");
    let ended = store
        .create_run(scheduled("daily", 3))
        .await
        .expect("create_run");
    store
        .apply(
            running.id,
            &[tidewater_core::Change::Run(RunState::Running {
                started_at: at,
            })],
        )
        .await
        .expect("apply");
    let succeeded = RunState::Succeeded {
        started_at: at,
        finished_at: at,
    };
    store
        .apply(ended.id, &[tidewater_core::Change::Run(succeeded)])
        .await
        .expect("apply");
    for run in [queued.id, running.id] {
        assert!(store.request_cancel(run, at).await.expect("request"));
        assert!(
            store.request_cancel(run, at).await.expect("request"),
            "asking twice is still a request"
        );
    }
    assert!(
        !store.request_cancel(ended.id, at).await.expect("request"),
        "an ended run cannot be cancelled"
    );
    assert!(
        !store
            .request_cancel(tidewater_core::RunId(999), at)
            .await
            .expect("request"),
        "an unknown run cannot be cancelled"
    );
    assert_eq!(
        store.cancel_requests().await.expect("requests"),
        vec![queued.id, running.id]
    );
    // The running run is cancelled; resumed later, it is no longer asked to cancel.
    let cancelled = RunState::Cancelled {
        started_at: at,
        finished_at: at,
    };
    store
        .apply(running.id, &[tidewater_core::Change::Run(cancelled)])
        .await
        .expect("apply");
    store
        .apply(running.id, &[tidewater_core::Change::Run(RunState::Queued)])
        .await
        .expect("apply");
    assert_eq!(
        store.cancel_requests().await.expect("requests"),
        vec![queued.id]
    );
}

/// The queries the scheduler decides from on every turn: the queues that hold queued runs,
/// the head of each in the core's start order, the runs that count against caps, and a
/// backfill's counts and completion.
pub async fn queues_give_their_heads_in_start_order<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let at = instant("2026-04-01T00:00:00Z");
    let backfill = store
        .create_backfill(NewBackfill {
            workflow: WorkflowName::new("daily"),
            from: NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid"),
            to: NaiveDate::from_ymd_opt(2026, 3, 6).expect("valid"),
            max_active_runs: 2,
            reverse: true,
            created_at: at,
        })
        .await
        .expect("create_backfill");
    let mut daily = Vec::new();
    for day_of_march in [5, 2, 9, 7] {
        daily.push(
            store
                .create_run(NewRun {
                    trigger: RunTrigger::Manual,
                    ..scheduled("daily", day_of_march)
                })
                .await
                .expect("create_run"),
        );
    }
    store
        .create_run(scheduled("other", 1))
        .await
        .expect("create_run");
    let mut backfilled = Vec::new();
    for day_of_march in 1..=6 {
        backfilled.push(
            store
                .create_run(NewRun {
                    trigger: RunTrigger::Backfill,
                    backfill: Some(backfill.id),
                    ..scheduled("daily", day_of_march)
                })
                .await
                .expect("create_run"),
        );
    }
    // Day 7 runs, day 1 of the backfill succeeded, day 6 of it is claimed but still queued.
    store
        .apply(
            daily[3].id,
            &[Change::Run(RunState::Running { started_at: at })],
        )
        .await
        .expect("apply");
    store
        .apply(
            backfilled[0].id,
            &[Change::Run(RunState::Succeeded {
                started_at: at,
                finished_at: at,
            })],
        )
        .await
        .expect("apply");
    let owner = ProcessIdentity {
        pid: 4242,
        start_ticks: 1,
    };
    store
        .claim_owner(backfilled[5].id, None, Some(owner))
        .await
        .expect("claim_owner");

    assert_eq!(
        store.run_queues().await.expect("run_queues"),
        vec![
            RunQueueKey::Workflow(WorkflowName::new("daily")),
            RunQueueKey::Workflow(WorkflowName::new("other")),
            RunQueueKey::Backfill(backfill.id),
        ]
    );
    let ids = |runs: Vec<RunRecord>| runs.into_iter().map(|run| run.id).collect::<Vec<_>>();
    let daily_queue = RunQueueKey::Workflow(WorkflowName::new("daily"));
    // Queued only, oldest first, as many as asked.
    assert_eq!(
        ids(store
            .queued_runs(&daily_queue, BackfillOrder::OldestFirst, 2)
            .await
            .expect("queued_runs")),
        [daily[1].id, daily[0].id]
    );
    // A backfill's runs are not in their workflow's queue, nor other workflows' runs.
    assert_eq!(
        ids(store
            .queued_runs(&daily_queue, BackfillOrder::OldestFirst, 10)
            .await
            .expect("queued_runs")),
        [daily[1].id, daily[0].id, daily[2].id]
    );
    let backfill_queue = RunQueueKey::Backfill(backfill.id);
    let newest_first = store
        .queued_runs(&backfill_queue, BackfillOrder::NewestFirst, 10)
        .await
        .expect("queued_runs");
    // The store's order is the core's.
    let mut core_order = newest_first.clone();
    core_order
        .sort_by_key(|run| start_order(BackfillOrder::NewestFirst, run.interval.start, run.id));
    assert_eq!(newest_first, core_order);
    assert_eq!(
        ids(newest_first),
        [
            backfilled[5].id,
            backfilled[4].id,
            backfilled[3].id,
            backfilled[2].id,
            backfilled[1].id
        ]
    );
    assert_eq!(
        store.queued_counts().await.expect("queued_counts"),
        vec![
            (daily_queue, 3),
            (RunQueueKey::Workflow(WorkflowName::new("other")), 1),
            (backfill_queue, 5),
        ]
    );
    assert_eq!(
        ids(store.executing_runs().await.expect("executing_runs")),
        [daily[3].id, backfilled[5].id],
        "running runs and claimed queued ones count against caps"
    );
    assert_eq!(
        store
            .backfill_counts(backfill.id)
            .await
            .expect("backfill_counts"),
        RunCounts {
            queued: 5,
            succeeded: 1,
            ..RunCounts::default()
        }
    );
    assert!(
        !store
            .finish_backfill_if_done(backfill.id, at)
            .await
            .expect("finish_backfill_if_done"),
        "a backfill with queued runs is not done"
    );
    for run in &backfilled[1..] {
        store
            .apply(
                run.id,
                &[Change::Run(RunState::Succeeded {
                    started_at: at,
                    finished_at: at,
                })],
            )
            .await
            .expect("apply");
    }
    assert!(
        store
            .finish_backfill_if_done(backfill.id, at)
            .await
            .expect("finish_backfill_if_done")
    );
    assert_eq!(
        store
            .backfill(backfill.id)
            .await
            .expect("backfill")
            .and_then(|found| found.finished_at),
        Some(at)
    );
}

/// Two processes giving the same backfill at once must share one backfill (and so one run
/// per interval): creating a backfill whose range has an unfinished one returns that one.
pub async fn the_same_backfill_given_twice_is_one_backfill<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let new = |max_active_runs| NewBackfill {
        workflow: WorkflowName::new("daily"),
        from: NaiveDate::from_ymd_opt(2026, 3, 1).expect("valid"),
        to: NaiveDate::from_ymd_opt(2026, 3, 6).expect("valid"),
        max_active_runs,
        reverse: false,
        created_at: instant("2026-04-01T00:00:00Z"),
    };
    let first = store
        .create_backfill(new(2))
        .await
        .expect("create_backfill");
    let again = store
        .create_backfill(new(5))
        .await
        .expect("create_backfill");
    assert_eq!(
        again, first,
        "the unfinished backfill, with its own settings"
    );
    store
        .finish_backfill(first.id, instant("2026-04-02T00:00:00Z"))
        .await
        .expect("finish_backfill");
    let later = store
        .create_backfill(new(2))
        .await
        .expect("create_backfill");
    assert_ne!(later.id, first.id, "a finished backfill is not resumed");
}

/// A manual run is refused while a run of the same workflow and interval, of any trigger, is
/// queued or running; the refusal names that run and records nothing.
pub async fn a_run_is_refused_while_its_interval_has_an_active_run<
    S: RunStore + ControlStore + ?Sized,
>(
    store: &S,
) {
    let manual = |workflow, day_of_march| NewRun {
        trigger: RunTrigger::Manual,
        ..scheduled(workflow, day_of_march)
    };
    let RunCreation::Created(first) = store
        .create_run_unless_active(manual("daily", 3))
        .await
        .expect("create_run_unless_active")
    else {
        panic!("the first run of the interval is created");
    };
    assert_eq!(
        store
            .create_run_unless_active(manual("daily", 3))
            .await
            .expect("create_run_unless_active"),
        RunCreation::Active(first.clone())
    );
    // Other intervals and other workflows are not affected.
    for run in [manual("daily", 4), manual("other", 3)] {
        assert!(matches!(
            store.create_run_unless_active(run).await,
            Ok(RunCreation::Created(_))
        ));
    }
    // A scheduled run counts like any other, and so does a running one.
    let scheduled_run = store
        .create_run(scheduled("daily", 5))
        .await
        .expect("create_run");
    let at = instant("2026-03-06T00:00:00Z");
    store
        .apply(
            scheduled_run.id,
            &[Change::Run(RunState::Running { started_at: at })],
        )
        .await
        .expect("apply");
    assert!(matches!(
        store.create_run_unless_active(manual("daily", 5)).await,
        Ok(RunCreation::Active(active)) if active.id == scheduled_run.id
    ));
    // Once the first has ended, the interval may run again.
    store
        .apply(
            first.id,
            &[Change::Run(RunState::Failed {
                started_at: at,
                finished_at: at,
            })],
        )
        .await
        .expect("apply");
    assert!(matches!(
        store.create_run_unless_active(manual("daily", 3)).await,
        Ok(RunCreation::Created(_))
    ));
}

pub async fn runs_are_counted_by_workflow_and_state<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    assert_eq!(
        store
            .run_counts_by_workflow()
            .await
            .expect("run_counts_by_workflow"),
        vec![],
        "no runs, no counts"
    );
    for day_of_march in 1..=3 {
        store
            .create_run(scheduled("daily", day_of_march))
            .await
            .expect("create_run");
    }
    let other = store
        .create_run(scheduled("other", 1))
        .await
        .expect("create_run");
    let at = instant("2026-03-10T00:00:00Z");
    store
        .apply(
            other.id,
            &[Change::Run(RunState::Failed {
                started_at: at,
                finished_at: at,
            })],
        )
        .await
        .expect("apply");
    let count = |workflow: &str, state: RunStateKind, runs: u64| WorkflowRunCount {
        workflow: WorkflowName::new(workflow),
        state,
        runs,
    };
    assert_eq!(
        store
            .run_counts_by_workflow()
            .await
            .expect("run_counts_by_workflow"),
        vec![
            count("daily", RunStateKind::Queued, 3),
            count("other", RunStateKind::Failed, 1),
        ]
    );
}

pub async fn the_recent_runs_of_each_workflow_are_its_newest_ones<
    S: RunStore + ControlStore + ?Sized,
>(
    store: &S,
) {
    let names = |names: &[&str]| -> Vec<WorkflowName> {
        names.iter().map(|name| WorkflowName::new(*name)).collect()
    };
    assert_eq!(
        store
            .recent_runs(&names(&["daily"]), 3)
            .await
            .expect("recent_runs"),
        vec![],
        "no runs, none recent"
    );
    // Created out of interval order: newest means created last, whatever the interval.
    let mut daily = Vec::new();
    for day_of_march in [3, 1, 4, 2] {
        daily.push(
            store
                .create_run(scheduled("daily", day_of_march))
                .await
                .expect("create_run"),
        );
    }
    let other = store
        .create_run(scheduled("other", 1))
        .await
        .expect("create_run");
    store
        .create_run(scheduled("unasked", 1))
        .await
        .expect("create_run");
    let recent = store
        .recent_runs(&names(&["other", "daily", "idle"]), 3)
        .await
        .expect("recent_runs");
    let ids: Vec<RunId> = recent.iter().map(|run| run.id).collect();
    assert_eq!(
        ids,
        vec![daily[3].id, daily[2].id, daily[1].id, other.id],
        "by workflow, newest first, at most 3 each; none of a workflow not asked for"
    );
    assert_eq!(recent[0], daily[3], "whole records");
    assert_eq!(
        store.recent_runs(&[], 3).await.expect("recent_runs"),
        vec![],
        "no workflow asked for"
    );
}

pub async fn a_calling_task_has_one_child_run<S: RunStore + ControlStore + ?Sized>(store: &S) {
    let parent = store
        .create_run(new_run("caller", &["call_b", "call_c"]))
        .await
        .expect("create_run");
    let call_b = RunParent {
        run: parent.id,
        task: TaskName::new("call_b"),
    };
    let child = store
        .create_child_run(&call_b, new_run("b", &["x"]))
        .await
        .expect("create_child_run");
    assert_eq!(
        store.run(child.id).await.expect("run"),
        Some(child.clone()),
        "the child reads back as created"
    );
    // Asked again (another attempt of the task), the same child comes back, as it is now.
    let mut ended = child.clone();
    ended.state = RunState::Failed {
        started_at: instant("2026-03-02T01:00:00Z"),
        finished_at: instant("2026-03-02T01:00:01Z"),
    };
    store
        .apply(child.id, &[Change::Run(ended.state.clone())])
        .await
        .expect("apply");
    assert_eq!(
        store
            .create_child_run(&call_b, new_run("b", &["x"]))
            .await
            .expect("create_child_run"),
        ended,
        "the task's child is found, not created again"
    );
    let call_c = RunParent {
        run: parent.id,
        task: TaskName::new("call_c"),
    };
    let other = store
        .create_child_run(&call_c, new_run("b", &["x"]))
        .await
        .expect("create_child_run");
    assert_ne!(other.id, child.id, "another task has its own child");
    assert_eq!(
        store.run_parent(child.id).await.expect("run_parent"),
        Some(call_b)
    );
    assert_eq!(store.run_parent(parent.id).await.expect("run_parent"), None);
    assert_eq!(
        store.child_runs(parent.id).await.expect("child_runs"),
        vec![
            (TaskName::new("call_b"), child.id),
            (TaskName::new("call_c"), other.id)
        ]
    );
    assert_eq!(
        store.child_runs(child.id).await.expect("child_runs"),
        Vec::new()
    );
}
