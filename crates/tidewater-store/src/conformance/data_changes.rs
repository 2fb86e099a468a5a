//! Behaviours of the data-aware schedules' part of [`ControlStore`]: one run per consumed
//! upstream change, and cursors per workflow and source.

use tidewater_core::WorkflowName;

use super::fixtures::new_run;
use crate::{ControlStore, DataChange, NewRun, RunStore, RunTrigger};

fn commit(version: i64, partition: &str) -> DataChange {
    DataChange {
        source: "table:raw.orders".to_owned(),
        change: version,
        partition: partition.to_owned(),
    }
}

fn data_run(workflow: &str) -> NewRun {
    NewRun {
        trigger: RunTrigger::Data,
        ..new_run(workflow, &["a"])
    }
}

pub async fn an_upstream_change_starts_exactly_one_run<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let first = store
        .create_data_run(data_run("mart"), &commit(1, "dt=2026-01-03"))
        .await
        .expect("create_data_run")
        .expect("the first run of the change is created");
    assert_eq!(first.trigger, RunTrigger::Data);
    assert_eq!(
        store
            .create_data_run(data_run("mart"), &commit(1, "dt=2026-01-03"))
            .await
            .expect("create_data_run"),
        None,
        "the same change is consumed once"
    );
    // Another partition of the commit, a later commit of the partition, another source and
    // another workflow each start their own run.
    let others = [
        ("mart", commit(1, "dt=2026-01-04")),
        ("mart", commit(2, "dt=2026-01-03")),
        (
            "mart",
            DataChange {
                source: "workflow:raw".to_owned(),
                ..commit(1, "dt=2026-01-03")
            },
        ),
        ("report", commit(1, "dt=2026-01-03")),
    ];
    for (workflow, change) in others {
        assert!(
            store
                .create_data_run(data_run(workflow), &change)
                .await
                .expect("create_data_run")
                .is_some(),
            "{workflow} {change:?} starts a run"
        );
    }
    let runs = store
        .list_runs(&crate::RunFilter::default())
        .await
        .expect("list_runs");
    assert_eq!(
        runs.len(),
        5,
        "one run per consumed change, none for the repeat"
    );
}

pub async fn a_data_cursor_is_kept_per_workflow_and_source<S: RunStore + ControlStore + ?Sized>(
    store: &S,
) {
    let mart = WorkflowName::new("mart");
    let report = WorkflowName::new("report");
    assert_eq!(
        store
            .data_cursor(&mart, "table:raw.orders")
            .await
            .expect("data_cursor"),
        None
    );
    store
        .set_data_cursor(&mart, "table:raw.orders", 3)
        .await
        .expect("set_data_cursor");
    store
        .set_data_cursor(&mart, "table:raw.orders", 7)
        .await
        .expect("set_data_cursor");
    store
        .set_data_cursor(&report, "table:raw.orders", 1)
        .await
        .expect("set_data_cursor");
    assert_eq!(
        store
            .data_cursor(&mart, "table:raw.orders")
            .await
            .expect("data_cursor"),
        Some(7)
    );
    assert_eq!(
        store
            .data_cursor(&report, "table:raw.orders")
            .await
            .expect("data_cursor"),
        Some(1)
    );
    assert_eq!(
        store
            .data_cursor(&mart, "workflow:raw")
            .await
            .expect("data_cursor"),
        None
    );
}
