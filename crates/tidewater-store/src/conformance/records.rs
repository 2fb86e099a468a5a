//! Behaviours of reading runs back: creation, listing, attempts, owners, unknown runs.

use serde_json::json;
use tidewater_core::{
    Attempt, Change, ProcessIdentity, RunId, RunState, TaskInstance, TaskName, TaskState,
    WorkflowName,
};

use crate::{
    AttemptRecord, NewRun, OwnerClaim, Repin, RunFilter, RunRecord, RunStore, RunTrigger,
    RunVersion, StoreError,
};

use super::fixtures::{instant, new_run, object, pending, snapshot, task_change};

/// `create_run` returns the run as `run` reads it back: queued, unowned, with every task
/// instance pending in the order given (not sorted), and the workflow's text kept verbatim.
pub async fn a_created_run_reads_back_with_its_tasks_in_order<S: RunStore + ?Sized>(store: &S) {
    let mut new_run = new_run(
        "daily_sales",
        &["extract", "load_raw", "daily_mart", "a_notify"],
    );
    new_run.trigger = RunTrigger::Scheduled;
    new_run.params = object(json!({"region": "kr", "limit": 10}));
    new_run.workflow_source =
        "name: daily_sales\n# \"quoted\", 'single', ünïcödé, 日本語\n\ttab\n".into();
    let created = store.create_run(new_run.clone()).await.expect("create_run");

    assert_eq!(
        created,
        RunRecord {
            id: created.id,
            workflow: new_run.workflow.clone(),
            interval: new_run.interval,
            trigger: RunTrigger::Scheduled,
            params: new_run.params.clone(),
            state: RunState::Queued,
            workflow_hash: new_run.workflow_hash.clone(),
            created_at: new_run.created_at,
            owner: None,
            backfill: None,
        }
    );
    assert_eq!(
        store.run(created.id).await.expect("run"),
        Some(created.clone())
    );
    assert_eq!(
        store
            .task_instances(created.id)
            .await
            .expect("task_instances"),
        pending(&new_run.tasks)
    );
    assert_eq!(
        store
            .workflow_source(created.id)
            .await
            .expect("workflow_source"),
        Some(new_run.workflow_source.clone())
    );
    assert_eq!(
        store.attempts(created.id, None).await.expect("attempts"),
        []
    );

    for trigger in [RunTrigger::Manual, RunTrigger::Backfill] {
        let run = store
            .create_run(NewRun {
                trigger,
                ..new_run.clone()
            })
            .await
            .expect("create_run");
        assert_ne!(run.id, created.id, "every run gets its own id");
        assert_eq!(
            store.run(run.id).await.expect("run").map(|run| run.trigger),
            Some(trigger)
        );
    }
}

/// `list_runs` answers newest first (by `created_at`, then by id among runs created at the
/// same instant), only the workflow asked for, and at most `limit` runs.
pub async fn runs_are_listed_newest_first_filtered_by_workflow_and_limited<S: RunStore + ?Sized>(
    store: &S,
) {
    // Created out of `created_at` order, so that the order cannot come from ids alone.
    let plan = [
        ("sales", "2026-03-02T00:00:00Z"),
        ("sales", "2026-03-01T00:00:00Z"),
        ("stock", "2026-03-05T00:00:00Z"),
        ("sales", "2026-03-04T00:00:00.000001Z"),
        ("sales", "2026-03-04T00:00:00.000001Z"),
        ("sales", "2026-03-03T00:00:00Z"),
    ];
    let mut ids = Vec::new();
    for (workflow, created_at) in plan {
        let mut run = new_run(workflow, &["task"]);
        run.created_at = instant(created_at);
        ids.push(store.create_run(run).await.expect("create_run").id);
    }
    let listed = |workflow: Option<&str>, limit| RunFilter {
        workflow: workflow.map(WorkflowName::new),
        limit,
        ..RunFilter::default()
    };
    let ids_of = |runs: Vec<RunRecord>| runs.into_iter().map(|run| run.id).collect::<Vec<_>>();

    let sales = store
        .list_runs(&listed(Some("sales"), None))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(sales), [ids[4], ids[3], ids[5], ids[0], ids[1]]);
    let all = store
        .list_runs(&listed(None, None))
        .await
        .expect("list_runs");
    assert_eq!(
        ids_of(all),
        [ids[2], ids[4], ids[3], ids[5], ids[0], ids[1]]
    );
    let newest_two = store
        .list_runs(&listed(Some("sales"), Some(2)))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(newest_two), [ids[4], ids[3]]);
    let newest = store
        .list_runs(&listed(None, Some(1)))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(newest), [ids[2]]);
    let none = store
        .list_runs(&listed(Some("sales"), Some(0)))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(none), []);
    let unknown = store
        .list_runs(&listed(Some("nothing"), None))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(unknown), []);
    // Pages in the listing's order (created_at, then id), each after the last one seen.
    let page = |workflow: Option<&str>, before| RunFilter {
        workflow: workflow.map(WorkflowName::new),
        before: Some(before),
        limit: Some(2),
        ..RunFilter::default()
    };
    let second = store
        .list_runs(&page(None, ids[4]))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(second), [ids[3], ids[5]]);
    let last = store
        .list_runs(&page(Some("sales"), ids[5]))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(last), [ids[0], ids[1]]);
    let after_the_end = store
        .list_runs(&page(None, ids[1]))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(after_the_end), []);

    // Whole records, not only ids.
    let stock = store
        .list_runs(&listed(Some("stock"), None))
        .await
        .expect("list_runs");
    let read = store
        .run(ids[2])
        .await
        .expect("run")
        .expect("the run exists");
    assert_eq!(stock, [read]);
}

/// `list_runs` with `starts_from` and `starts_before` keeps the runs whose data interval
/// starts in that half-open range (the end excluded, to the microsecond), still newest
/// first by creation and pageable with `before`; the other filters still apply.
pub async fn runs_are_filtered_by_the_start_of_their_data_interval<S: RunStore + ?Sized>(
    store: &S,
) {
    // Created newest interval first, so that creation order and interval order differ.
    let plan = [
        ("sales", "2026-03-04T00:00:00Z", "2026-03-10T00:00:00Z"),
        ("sales", "2026-03-03T00:00:00Z", "2026-03-11T00:00:00Z"),
        ("stock", "2026-03-03T12:00:00Z", "2026-03-12T00:00:00Z"),
        (
            "sales",
            "2026-03-02T23:59:59.999999Z",
            "2026-03-13T00:00:00Z",
        ),
        ("sales", "2026-03-01T00:00:00Z", "2026-03-14T00:00:00Z"),
    ];
    let mut ids = Vec::new();
    for (workflow, start, created_at) in plan {
        let mut run = new_run(workflow, &["task"]);
        run.interval = tidewater_core::DataInterval::new(
            instant(start),
            instant(start) + chrono::TimeDelta::days(1),
        )
        .expect("start < end");
        run.created_at = instant(created_at);
        ids.push(store.create_run(run).await.expect("create_run").id);
    }
    let ids_of = |runs: Vec<RunRecord>| runs.into_iter().map(|run| run.id).collect::<Vec<_>>();
    let range = |from: Option<&str>, before: Option<&str>| RunFilter {
        starts_from: from.map(instant),
        starts_before: before.map(instant),
        ..RunFilter::default()
    };

    let march_3 = store
        .list_runs(&range(
            Some("2026-03-03T00:00:00Z"),
            Some("2026-03-04T00:00:00Z"),
        ))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(march_3), [ids[2], ids[1]]);
    // The start is included, the end is not, to the microsecond.
    let to_the_microsecond = store
        .list_runs(&range(
            Some("2026-03-02T23:59:59.999999Z"),
            Some("2026-03-03T00:00:00Z"),
        ))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(to_the_microsecond), [ids[3]]);
    let from_only = store
        .list_runs(&range(Some("2026-03-03T00:00:00.000001Z"), None))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(from_only), [ids[2], ids[0]]);
    let before_only = store
        .list_runs(&range(None, Some("2026-03-03T00:00:00Z")))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(before_only), [ids[4], ids[3]]);
    let empty = store
        .list_runs(&range(
            Some("2026-03-05T00:00:00Z"),
            Some("2026-03-06T00:00:00Z"),
        ))
        .await
        .expect("list_runs");
    assert_eq!(ids_of(empty), []);
    // With the workflow filter, and a page after a cursor.
    let sales_page = store
        .list_runs(&RunFilter {
            workflow: Some(WorkflowName::new("sales")),
            before: Some(ids[4]),
            limit: Some(1),
            ..range(Some("2026-03-01T00:00:00Z"), Some("2026-03-05T00:00:00Z"))
        })
        .await
        .expect("list_runs");
    assert_eq!(ids_of(sales_page), [ids[3]]);
}

/// `attempts` lists by task, in the order the tasks were given to `create_run`, then by
/// attempt number, whatever order they were started in; a task filter keeps that task's.
pub async fn attempts_are_listed_in_task_order_then_by_number_and_filtered_by_task<
    S: RunStore + ?Sized,
>(
    store: &S,
) {
    let run = store
        .create_run(new_run("attempt_order", &["zeta", "alpha", "idle"]))
        .await
        .expect("create_run");
    let at = instant("2026-03-01T02:00:00Z");
    let start = |task: &str, attempt| Change::AttemptStarted {
        task: TaskName::new(task),
        attempt: Attempt(attempt),
        started_at: at,
    };
    store
        .apply(run.id, &[start("alpha", 2), start("zeta", 1)])
        .await
        .expect("apply");
    store
        .apply(
            run.id,
            &[start("alpha", 10), start("alpha", 1), start("zeta", 2)],
        )
        .await
        .expect("apply");
    let keys = |attempts: Vec<AttemptRecord>| {
        attempts
            .into_iter()
            .map(|record| (record.task.to_string(), record.attempt.0))
            .collect::<Vec<_>>()
    };
    let key = |task: &str, attempt| (task.to_string(), attempt);

    let all = store.attempts(run.id, None).await.expect("attempts");
    assert_eq!(
        keys(all),
        [
            key("zeta", 1),
            key("zeta", 2),
            key("alpha", 1),
            key("alpha", 2),
            key("alpha", 10)
        ]
    );
    let alpha = store
        .attempts(run.id, Some(&TaskName::new("alpha")))
        .await
        .expect("attempts");
    assert_eq!(
        keys(alpha),
        [key("alpha", 1), key("alpha", 2), key("alpha", 10)]
    );
    let idle = store
        .attempts(run.id, Some(&TaskName::new("idle")))
        .await
        .expect("attempts");
    assert_eq!(idle, []);
    let result = store
        .attempts(run.id, Some(&TaskName::new("missing")))
        .await;
    assert!(
        matches!(&result, Err(StoreError::NoSuchTask { run: id, task })
            if *id == run.id && task.as_str() == "missing"),
        "{result:?}"
    );
}

/// `claim_owner` sets the owner only when the current one is the expected one, and says who
/// holds the run otherwise; releasing is claiming `None`.
pub async fn claiming_an_owner_is_a_compare_and_set<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("owned", &["task"]))
        .await
        .expect("create_run");
    let id = run.id;
    let first = ProcessIdentity {
        pid: 4242,
        start_ticks: 987_654_321,
    };
    let second = ProcessIdentity {
        pid: 4242,
        start_ticks: 987_654_999,
    };
    let owner = async || {
        store
            .run(id)
            .await
            .expect("run")
            .expect("the run exists")
            .owner
    };

    assert_eq!(
        store
            .claim_owner(id, Some(first), Some(second))
            .await
            .expect("claim"),
        OwnerClaim::Held(None)
    );
    assert_eq!(
        store
            .claim_owner(id, None, Some(first))
            .await
            .expect("claim"),
        OwnerClaim::Claimed
    );
    assert_eq!(owner().await, Some(first));
    assert_eq!(
        store
            .claim_owner(id, None, Some(second))
            .await
            .expect("claim"),
        OwnerClaim::Held(Some(first))
    );
    // Same pid, another start time: another process (the pid was reused).
    assert_eq!(
        store
            .claim_owner(id, Some(second), None)
            .await
            .expect("claim"),
        OwnerClaim::Held(Some(first))
    );
    assert_eq!(owner().await, Some(first));
    assert_eq!(
        store
            .claim_owner(id, Some(first), Some(second))
            .await
            .expect("claim"),
        OwnerClaim::Claimed
    );
    assert_eq!(owner().await, Some(second));
    assert_eq!(
        store
            .claim_owner(id, Some(second), None)
            .await
            .expect("claim"),
        OwnerClaim::Claimed
    );
    assert_eq!(owner().await, None);
    assert_eq!(
        store.claim_owner(id, None, None).await.expect("claim"),
        OwnerClaim::Claimed
    );
    assert_eq!(
        store
            .claim_owner(RunId(id.0 + 1000), None, Some(first))
            .await
            .expect("claim"),
        OwnerClaim::NoSuchRun
    );
}

/// `repin_run` moves an ended run to another version (its hash and source, with a pending
/// instance for each new task, the run's own instances untouched) only while the run is
/// ended and owned as expected; otherwise it writes nothing.
pub async fn repinning_an_ended_run_is_a_compare_and_set<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("repinned", &["extract", "load"]))
        .await
        .expect("create_run");
    let id = run.id;
    let dead = ProcessIdentity {
        pid: 4242,
        start_ticks: 987_654_321,
    };
    let version = RunVersion {
        workflow_source: "name: repinned\n# fixed\n".into(),
        workflow_hash: "hash-of-the-fix".into(),
        tasks: ["report", "extract", "load", "notify"]
            .map(TaskName::new)
            .to_vec(),
    };
    let repin = async |owner| store.repin_run(id, owner, &version).await.expect("repin");

    // Queued, then running: not ended.
    let queued = snapshot(store, id).await;
    assert_eq!(repin(None).await, Repin::Refused);
    assert_eq!(snapshot(store, id).await, queued);
    let running = RunState::Running {
        started_at: instant("2026-03-02T00:00:06Z"),
    };
    store
        .apply(id, &[Change::Run(running)])
        .await
        .expect("apply");
    let running = snapshot(store, id).await;
    assert_eq!(repin(None).await, Repin::Refused);
    assert_eq!(snapshot(store, id).await, running);
    let failed = RunState::Failed {
        started_at: instant("2026-03-02T00:00:06Z"),
        finished_at: instant("2026-03-02T00:00:09Z"),
    };
    let extract_done = TaskInstance {
        state: TaskState::Succeeded {
            attempt: Attempt(1),
            finished_at: instant("2026-03-02T00:00:08Z"),
        },
        last_attempt: 1,
        output: Some(json!({"rows": 3})),
        ..TaskInstance::new()
    };
    store
        .apply(
            id,
            &[
                Change::Run(failed.clone()),
                task_change("extract", extract_done.clone()),
            ],
        )
        .await
        .expect("apply");
    assert_eq!(
        store
            .claim_owner(id, None, Some(dead))
            .await
            .expect("claim"),
        OwnerClaim::Claimed
    );
    let failed_owned = snapshot(store, id).await;
    // Ended, but owned by another process than the one expected.
    assert_eq!(repin(None).await, Repin::Refused);
    assert_eq!(snapshot(store, id).await, failed_owned);
    assert_eq!(
        store.workflow_source(id).await.expect("workflow_source"),
        Some(run_source("repinned"))
    );

    assert_eq!(repin(Some(dead)).await, Repin::Repinned);
    let repinned = store.run(id).await.expect("run").expect("the run exists");
    assert_eq!(
        repinned,
        RunRecord {
            workflow_hash: version.workflow_hash.clone(),
            state: failed,
            owner: Some(dead),
            ..run.clone()
        }
    );
    assert_eq!(
        store.workflow_source(id).await.expect("workflow_source"),
        Some(version.workflow_source.clone())
    );
    assert_eq!(
        store.task_instances(id).await.expect("task_instances"),
        vec![
            (TaskName::new("extract"), extract_done),
            (TaskName::new("load"), TaskInstance::new()),
            (TaskName::new("report"), TaskInstance::new()),
            (TaskName::new("notify"), TaskInstance::new()),
        ]
    );
    // Repinning again to the same version adds nothing.
    let once = snapshot(store, id).await;
    assert_eq!(repin(Some(dead)).await, Repin::Repinned);
    assert_eq!(snapshot(store, id).await, once);

    assert_eq!(
        store
            .repin_run(RunId(id.0 + 1000), None, &version)
            .await
            .expect("repin"),
        Repin::NoSuchRun
    );
}

fn run_source(workflow: &str) -> String {
    new_run(workflow, &[]).workflow_source
}

/// Questions about a run that does not exist answer `None`, and changes to it are refused.
pub async fn an_unknown_run_is_absent_or_refused<S: RunStore + ?Sized>(store: &S) {
    let run = store
        .create_run(new_run("exists", &["task"]))
        .await
        .expect("create_run");
    let missing = RunId(run.id.0 + 1000);
    assert_eq!(store.run(missing).await.expect("run"), None);
    assert_eq!(
        store
            .workflow_source(missing)
            .await
            .expect("workflow_source"),
        None
    );
    let is_no_such_run = |result: &Result<_, StoreError>| matches!(result, Err(StoreError::NoSuchRun(id)) if *id == missing);
    let result = store.task_instances(missing).await.map(|_| ());
    assert!(is_no_such_run(&result), "task_instances: {result:?}");
    let result = store.attempts(missing, None).await.map(|_| ());
    assert!(is_no_such_run(&result), "attempts: {result:?}");
    let result = store.apply(missing, &[]).await;
    assert!(is_no_such_run(&result), "an empty apply: {result:?}");
    let at = instant("2026-03-01T02:00:00Z");
    let result = store
        .apply(
            missing,
            &[Change::Run(RunState::Running { started_at: at })],
        )
        .await;
    assert!(is_no_such_run(&result), "a run change: {result:?}");
    let result = store
        .apply(missing, &[task_change("task", TaskInstance::new())])
        .await;
    assert!(is_no_such_run(&result), "a task change: {result:?}");
    assert_eq!(
        store.run(run.id).await.expect("run").map(|run| run.state),
        Some(RunState::Queued),
        "the existing run is untouched"
    );
}
