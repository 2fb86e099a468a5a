use tidewater_control::json::{StatusJson, WaitingJson};
use tidewater_control::{
    AttemptProgress, ControlError, FollowScope, LogEnd, QueuedRuns, TaskNote, list_tables,
    read_log_chunk,
};
use tidewater_core::{
    Attempt, Change, FailureClass, RunId, RunState, RunStateKind, TaskInstance, TaskName, TaskState,
};
use tidewater_store::RunFilter;

use crate::project::TestProject;

const TWO_STEPS: &str =
    "tasks:\n  first:\n    sh: echo hello\n  second:\n    needs: [first]\n    sh: \"true\"\n";

const FAILING: &str = "tasks:\n  broken:\n    sh: echo 'cannot do it' >&2; exit 3\n  after:\n    needs: [broken]\n    sh: \"true\"\n";

#[tokio::test]
async fn status_of_an_unknown_run_is_not_found() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    let error = project
        .control
        .run_status(RunId(42))
        .await
        .expect_err("there is no run 42");
    assert!(
        matches!(&error, ControlError::NotFound(message) if message.contains("there is no run 42")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_queued_run_without_a_server_waits_for_one() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    let run = project.queue_run("two").await;
    let explanation = project
        .control
        .explain_queue(None, QueuedRuns::EachRun)
        .await
        .expect("the queue is explained");
    assert_eq!(explanation.groups.len(), 1, "{explanation:?}");
    let group = &explanation.groups[0];
    assert_eq!(group.first, vec![run]);
    assert_eq!(group.workflow, "two");
    assert_eq!(group.why, "no server is running to start it");
    let rows: Vec<serde_json::Value> = explanation
        .waiting
        .iter()
        .map(|waiting| serde_json::to_value(WaitingJson::new(waiting)).expect("JSON"))
        .collect();
    assert_eq!(
        rows,
        vec![serde_json::json!({
            "run": run.0,
            "workflow": "two",
            "task": null,
            "state": "queued",
            "why": "no server is running to start it",
        })]
    );
    // Grouped, the runs are not listed one by one: only the head of each queue is read.
    let grouped = project
        .control
        .explain_queue(None, QueuedRuns::Grouped)
        .await
        .expect("the queue is explained");
    assert!(grouped.waiting.is_empty(), "{grouped:?}");
    assert_eq!(grouped.groups.len(), 1);
}

const POOLED: &str =
    "tasks:\n  a:\n    pool: api\n    sh: \"true\"\n  b:\n    pool: api\n    sh: \"true\"\n";

/// Two servers sharing a store (two live owners here), each with `parallelism = 2` and one
/// task of the 2-slot pool running: a task queued by the first waits for the pool, whose
/// other slot the second server holds, not for a parallelism the two servers' tasks would
/// exceed only if they shared one machine's.
#[tokio::test]
async fn with_several_owners_each_admits_within_its_own_parallelism_and_the_pools_are_shared() {
    let project = TestProject::with_config(
        "parallelism = 2\n[pools.api]\nslots = 2\n",
        &[("pooled.yaml", POOLED)],
    )
    .await;
    let mut other_server = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep starts");
    let owners = [
        tidewater_engine::process_identity(std::process::id() as i32).expect("this process"),
        tidewater_engine::process_identity(other_server.id() as i32).expect("the other one"),
    ];
    let now = chrono::Utc::now();
    let task = |name: &str, state: TaskState| Change::Task {
        task: TaskName::new(name),
        instance: TaskInstance {
            state,
            last_attempt: 1,
            ..TaskInstance::new()
        },
    };
    let running = TaskState::Running {
        attempt: Attempt::FIRST,
        started_at: now,
    };
    let mut runs = Vec::new();
    for owner in owners {
        let run = project.queue_run("pooled").await;
        let store = &project.control.store;
        store
            .claim_owner(run, None, Some(owner))
            .await
            .expect("the run is claimed");
        store
            .apply(
                run,
                &[
                    Change::Run(RunState::Running { started_at: now }),
                    task("a", running.clone()),
                ],
            )
            .await
            .expect("its first task runs");
        runs.push(run);
    }
    project
        .control
        .store
        .apply(
            runs[0],
            &[task(
                "b",
                TaskState::Queued {
                    attempt: Attempt::FIRST,
                    since: now,
                },
            )],
        )
        .await
        .expect("the second task is queued");

    let explanation = project
        .control
        .explain_queue(None, QueuedRuns::EachRun)
        .await;
    other_server.kill().expect("the other server stops");
    other_server.wait().expect("reaped");
    let explanation = explanation.expect("the queue is explained");
    let queued: Vec<(RunId, Option<&str>, &str)> = explanation
        .waiting
        .iter()
        .filter(|waiting| waiting.state == "queued")
        .map(|waiting| {
            (
                waiting.run,
                waiting.task.as_ref().map(TaskName::as_str),
                waiting.why.as_str(),
            )
        })
        .collect();
    assert_eq!(
        queued,
        vec![(
            runs[0],
            Some("b"),
            "pool api 2/2 slots (needs 1; 1 on other servers)"
        )],
        "{explanation:?}"
    );
}

#[tokio::test]
async fn the_run_list_filters_and_says_whether_it_did() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    let run = project.queue_run("two").await;
    let mut all = project
        .control
        .list_runs(&RunFilter::default())
        .await
        .expect("runs are listed");
    project
        .control
        .date_runs(&mut all)
        .await
        .expect("the runs are dated");
    assert!(!all.is_filtered);
    assert_eq!(all.runs.len(), 1);
    assert_eq!(all.runs[0].record.id, run);
    assert_eq!(all.runs[0].shown_state(), "queued");
    assert_eq!(all.runs[0].orphaned_note(), None);
    assert_eq!(all.timezone(&all.runs[0].record), chrono_tz::UTC);
    let succeeded = project
        .control
        .list_runs(&RunFilter {
            state: Some(RunStateKind::Succeeded),
            ..RunFilter::default()
        })
        .await
        .expect("runs are listed");
    assert!(succeeded.is_filtered);
    assert!(succeeded.runs.is_empty());
}

#[tokio::test]
async fn a_failed_run_shows_its_failure_its_class_and_why_a_task_has_no_log() {
    let project = TestProject::new(&[("failing.yaml", FAILING)]).await;
    let (run, state) = project.execute_run("failing").await;
    assert!(matches!(state, RunState::Failed { .. }), "{state:?}");

    let status = project.control.run_status(run).await.expect("status");
    assert!(!status.run.is_orphaned);
    let names: Vec<&str> = status.tasks.iter().map(|task| task.task.as_str()).collect();
    assert_eq!(names, ["broken", "after"]);
    let broken = &status.tasks[0];
    assert_eq!(
        broken.last_attempt().map(|attempt| attempt.attempt),
        Some(Attempt(1))
    );
    assert!(
        broken.duration().is_some(),
        "an ended attempt has a duration"
    );
    assert_eq!(broken.class(), Some(FailureClass::Task));
    assert!(
        matches!(broken.note(), TaskNote::Failed(reason) if reason.to_string().contains("status 3")),
        "{:?}",
        broken.note()
    );
    let after = &status.tasks[1];
    assert_eq!(after.shown_state(false), "upstream_failed");
    assert_eq!(after.last_attempt(), None);
    let json = serde_json::to_value(StatusJson::new(&status)).expect("JSON");
    assert_eq!(json["run"]["state"], "failed");
    assert_eq!(json["tasks"][0]["attempts"][0]["class"], "task");
    assert_eq!(json["tasks"][1]["attempts"], serde_json::json!([]));

    // The failed task's log holds what it wrote; the task after it never ran.
    let log = project
        .control
        .task_log(run, &TaskName::new("broken"), None)
        .await
        .expect("the task has a log");
    assert_eq!(log.attempt, Some(Attempt(1)));
    assert!(!log.is_running);
    let text = project
        .control
        .read_task_log(&log)
        .await
        .expect("the log reads");
    assert!(
        String::from_utf8_lossy(&text).contains("err| cannot do it"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    // Followed from an offset, the log goes on where the last read stopped; the attempt
    // has ended and no newer one will come, and the task after never started one.
    let path = project.control.log_path(run, &log.task, Attempt(1));
    let first = read_log_chunk(&path, 0, LogEnd::WholeLines).expect("a chunk");
    assert_eq!(first.bytes, text);
    let rest = read_log_chunk(&path, first.next_offset, LogEnd::Everything).expect("a chunk");
    assert!(rest.bytes.is_empty());
    assert_eq!(
        project
            .control
            .attempt_progress(run, &log.task, Some(Attempt(1)), FollowScope::Task)
            .await
            .expect("progress"),
        AttemptProgress::Ended { next: None }
    );
    assert_eq!(
        project
            .control
            .attempt_progress(run, &TaskName::new("after"), None, FollowScope::Task)
            .await
            .expect("progress"),
        AttemptProgress::NeverStarted
    );
    let never_ran = project
        .control
        .task_log(run, &TaskName::new("after"), None)
        .await
        .expect("the task exists");
    let error = project
        .control
        .read_task_log(&never_ran)
        .await
        .expect_err("a task that never ran has no log");
    assert_eq!(
        error.to_string(),
        "after did not run: upstream_failed (broken failed), so it has no log"
    );
    let unknown = project
        .control
        .task_log(run, &TaskName::new("nope"), None)
        .await
        .expect_err("no such task");
    assert!(matches!(unknown, ControlError::NotFound(_)), "{unknown:?}");
    let no_attempt = project
        .control
        .task_log(run, &TaskName::new("broken"), Some(Attempt(2)))
        .await
        .expect_err("no second attempt");
    assert_eq!(
        no_attempt.to_string(),
        "task `broken` of run 1 has no attempt 2 (it has 1)"
    );
}

#[tokio::test]
async fn a_project_without_runs_has_no_tables() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    let list = list_tables(&project.control.project)
        .await
        .expect("the tables are listed");
    assert!(list.tables.is_empty(), "{list:?}");
}

#[tokio::test]
async fn health_without_a_server_counts_queued_runs_and_lists_no_workflows() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    project.queue_run("two").await;
    project.queue_run("two").await;
    let health = project.control.health().await.expect("health");
    assert!(health.service.is_none());
    // The workflows' rows are what a running server reported; without one there are none.
    assert!(health.workflows.is_empty());
    assert_eq!((health.running_runs, health.queued_runs), (0, 2));
    assert!(health.orphaned.is_empty());
}

#[tokio::test]
async fn the_grid_pages_a_workflows_runs_newest_first_with_a_column_per_task() {
    let project = TestProject::new(&[("two.yaml", TWO_STEPS)]).await;
    let (executed, state) = project.execute_run("two").await;
    assert!(matches!(state, RunState::Succeeded { .. }), "{state:?}");
    let queued = project.queue_run("two").await;
    let newest = project.queue_run("two").await;
    let workflow = tidewater_core::WorkflowName::new("two");

    let page = project
        .control
        .task_grid(&workflow, None, 2)
        .await
        .expect("the grid is read");
    let columns: Vec<&str> = page.tasks.iter().map(TaskName::as_str).collect();
    assert_eq!(columns, ["first", "second"]);
    let rows: Vec<RunId> = page.rows.iter().map(|row| row.run.record.id).collect();
    assert_eq!(rows, [newest, queued]);
    assert_eq!(page.next_before, Some(queued));
    let first = TaskName::new("first");
    assert_eq!(
        page.rows[1]
            .instance(&first)
            .map(|instance| instance.state.name()),
        Some("pending")
    );

    let older = project
        .control
        .task_grid(&workflow, page.next_before, 2)
        .await
        .expect("the next page is read");
    assert_eq!(
        older
            .rows
            .iter()
            .map(|row| row.run.record.id)
            .collect::<Vec<_>>(),
        [executed]
    );
    assert_eq!(older.next_before, None, "the last page");
    assert_eq!(
        older.rows[0]
            .instance(&first)
            .map(|instance| instance.state.name()),
        Some("succeeded")
    );
}
