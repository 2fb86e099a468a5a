use tidewater_flow::{WriteMode, WriteOutcome};

use crate::support::{Project, commit, lines, spec};

const EVENTS: &str = "SELECT * FROM (VALUES (1, 'click'), (2, 'view')) AS t(id, kind)";
const ALL_EVENTS: &str = "SELECT id, kind FROM raw.events";

#[tokio::test]
async fn a_retried_append_atomic_write_adds_nothing_the_second_time() {
    let project = Project::new();
    let target = spec("raw.events", WriteMode::AppendAtomic, &[]);

    let first = project
        .write(EVENTS, &target, &commit(7, "load_events", 1))
        .await;
    assert!(
        matches!(
            first.outcome,
            WriteOutcome::Committed {
                rows_written: 2,
                ..
            }
        ),
        "{first:?}"
    );
    let version = project.version("raw.events").await;

    // The engine retries the task instance: same workflow, run and task, next attempt.
    let retry = project
        .write(EVENTS, &target, &commit(7, "load_events", 2))
        .await;

    assert_eq!(retry.outcome, WriteOutcome::AlreadyCommitted { attempt: 1 });
    assert_eq!(
        project.version("raw.events").await,
        version,
        "no commit was made"
    );
    assert_eq!(
        project.rows(ALL_EVENTS).await,
        lines(&["1,click", "2,view"])
    );
}

#[tokio::test]
async fn append_atomic_from_another_run_or_task_appends_again() {
    let project = Project::new();
    let target = spec("raw.events", WriteMode::AppendAtomic, &[]);

    project
        .write(EVENTS, &target, &commit(7, "load_events", 1))
        .await;
    project
        .write(EVENTS, &target, &commit(8, "load_events", 1))
        .await;
    project
        .write(EVENTS, &target, &commit(8, "load_more_events", 1))
        .await;

    assert_eq!(
        project.rows(ALL_EVENTS).await,
        lines(&[
            "1,click", "1,click", "1,click", "2,view", "2,view", "2,view"
        ])
    );
}

// Regression guard: two attempts of one task instance running at once (a lost lease) must
// not both append; Delta's conflict checker rejects the second commit of the same txn app id
// and the retry then finds it recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attempts_of_one_task_append_once() {
    let project = Project::new();
    let target = spec("raw.events", WriteMode::AppendAtomic, &[]);
    project
        .write(
            "SELECT 0 AS id, 'seed' AS kind",
            &target,
            &commit(1, "seed", 1),
        )
        .await;

    let (attempt_one, attempt_two) = (commit(7, "load_events", 1), commit(7, "load_events", 2));
    let (first, second) = tokio::join!(
        project.warehouse.write(EVENTS, &target, &attempt_one),
        project.warehouse.write(EVENTS, &target, &attempt_two),
    );
    let outcomes = [
        first.expect("first attempt").outcome,
        second.expect("second attempt").outcome,
    ];

    assert_eq!(
        outcomes
            .iter()
            .filter(|outcome| matches!(outcome, WriteOutcome::AlreadyCommitted { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        project.rows(ALL_EVENTS).await,
        lines(&["0,seed", "1,click", "2,view"])
    );
}

#[tokio::test]
async fn plain_append_adds_the_rows_every_time() {
    let project = Project::new();
    let target = spec("raw.events", WriteMode::Append, &[]);

    project
        .write(EVENTS, &target, &commit(7, "load_events", 1))
        .await;
    project
        .write(EVENTS, &target, &commit(7, "load_events", 2))
        .await;

    assert_eq!(
        project.rows(ALL_EVENTS).await,
        lines(&["1,click", "1,click", "2,view", "2,view"])
    );
}
