//! Runs, changes and instants the behaviours are built from.

use chrono::DateTime;
use tidewater_core::{
    Change, DataInterval, RunId, TaskInstance, TaskName, Timestamp, WorkflowName,
};

use crate::{AttemptRecord, NewRun, RunRecord, RunStore, RunTrigger};

/// A run's whole record, to compare before and after.
#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    run: Option<RunRecord>,
    tasks: Vec<(TaskName, TaskInstance)>,
    attempts: Vec<AttemptRecord>,
}

pub(super) async fn snapshot<S: RunStore + ?Sized>(store: &S, id: RunId) -> Snapshot {
    Snapshot {
        run: store.run(id).await.expect("run"),
        tasks: store.task_instances(id).await.expect("task_instances"),
        attempts: store.attempts(id, None).await.expect("attempts"),
    }
}

pub(super) fn new_run(workflow: &str, tasks: &[&str]) -> NewRun {
    NewRun {
        workflow: WorkflowName::new(workflow),
        interval: DataInterval::new(
            instant("2026-03-01T00:00:00Z"),
            instant("2026-03-02T00:00:00Z"),
        )
        .expect("start < end"),
        trigger: RunTrigger::Manual,
        params: serde_json::Map::new(),
        workflow_source: format!("name: {workflow}\n"),
        workflow_hash: format!("hash-of-{workflow}"),
        tasks: tasks.iter().map(|task| TaskName::new(*task)).collect(),
        created_at: instant("2026-03-02T00:00:05.250000Z"),
        backfill: None,
    }
}

pub(super) fn pending(tasks: &[TaskName]) -> Vec<(TaskName, TaskInstance)> {
    tasks
        .iter()
        .map(|task| (task.clone(), TaskInstance::new()))
        .collect()
}

pub(super) fn task_change(task: &str, instance: TaskInstance) -> Change {
    Change::Task {
        task: TaskName::new(task),
        instance,
    }
}

pub(super) fn instant(rfc3339: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a valid RFC 3339 instant")
        .to_utc()
}

pub(super) fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}
