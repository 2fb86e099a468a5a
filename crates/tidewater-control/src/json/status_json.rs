//! JSON shape of a run's status: the run, its tasks and their attempts.

use serde::Serialize;
use tidewater_core::{AttemptOutcome, FailureClass};
use tidewater_store::{AttemptRecord, NotificationRecord, NotificationState};

use crate::json::RunJson;
use crate::run_status::{RunStatus, TaskStatus};

/// `status RUN --json`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusJson {
    pub run: RunJson,
    pub tasks: Vec<TaskJson>,
    /// The run and `call` task that started this run, if it is a child run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub called_by: Option<CalledByJson>,
    /// The run's webhooks (`on_failure`, `on_success`, `on_deadline_miss`, `on_retry`) and
    /// how their delivery goes; absent when the run has none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationJson>,
}

/// The parent of a child run: the run and its `call` task.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalledByJson {
    pub run: i64,
    pub task: String,
}

/// One webhook of a run.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationJson {
    pub event: &'static str,
    /// The retried task and its failed attempt (`on_retry`).
    pub task: Option<String>,
    pub attempt: Option<u32>,
    /// `pending`, `delivered` or `failed` (given up after every delivery failed).
    pub state: &'static str,
    /// Deliveries tried so far.
    pub deliveries: u32,
    /// Pending: when the next delivery may start; otherwise when it ended.
    pub at: String,
    pub last_error: Option<String>,
}

impl NotificationJson {
    pub fn new(record: &NotificationRecord) -> NotificationJson {
        let (state, at) = match &record.state {
            NotificationState::Pending { due } => ("pending", due),
            NotificationState::Delivered { at } => ("delivered", at),
            NotificationState::Failed { at } => ("failed", at),
        };
        let retried = record.key.retried.as_ref();
        NotificationJson {
            event: record.key.event.as_str(),
            task: retried.map(|(task, _)| task.to_string()),
            attempt: retried.map(|(_, attempt)| attempt.0),
            state,
            deliveries: record.deliveries,
            at: at.to_rfc3339(),
            last_error: record.last_error.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskJson {
    pub task: String,
    pub state: &'static str,
    pub attempts: Vec<AttemptJson>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub output: Option<serde_json::Value>,
    /// The child run of a `call` task, once started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_run: Option<i64>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptJson {
    pub attempt: u32,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<&'static str>,
    pub reason: Option<String>,
    /// Who must act on a failure (`input`, `task`, `environment`, `timeout`, `bug`,
    /// `cancelled`); an `input` failure is not retried.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub class: Option<FailureClass>,
    /// Set when a write to the attempt's log failed: the log is incomplete.
    pub log_incomplete: Option<String>,
    pub pid: Option<i32>,
}

impl StatusJson {
    pub fn new(status: &RunStatus) -> StatusJson {
        StatusJson {
            run: status.run.json(),
            tasks: status.tasks.iter().map(TaskJson::new).collect(),
            called_by: status.parent.as_ref().map(|parent| CalledByJson {
                run: parent.run.0,
                task: parent.task.to_string(),
            }),
            notifications: status
                .notifications
                .iter()
                .map(NotificationJson::new)
                .collect(),
        }
    }
}

impl TaskJson {
    pub fn new(task: &TaskStatus) -> TaskJson {
        TaskJson {
            task: task.task.to_string(),
            state: task.instance.state.name(),
            attempts: task.attempts.iter().map(AttemptJson::new).collect(),
            output: task.instance.output.clone(),
            child_run: task.child.map(|child| child.0),
        }
    }
}

impl AttemptJson {
    pub fn new(record: &AttemptRecord) -> AttemptJson {
        let (finished_at, outcome, reason, class) = match &record.finished {
            None => (None, None, None, None),
            Some((at, AttemptOutcome::Succeeded { .. })) => {
                (Some(at.to_rfc3339()), Some("succeeded"), None, None)
            }
            Some((at, AttemptOutcome::Failed { reason })) => (
                Some(at.to_rfc3339()),
                Some("failed"),
                Some(reason.to_string()),
                Some(reason.class()),
            ),
        };
        AttemptJson {
            attempt: record.attempt.0,
            started_at: record.started_at.to_rfc3339(),
            finished_at,
            outcome,
            reason,
            class,
            log_incomplete: match &record.finished {
                Some((_, AttemptOutcome::Succeeded { log_error, .. })) => log_error.clone(),
                _ => None,
            },
            pid: record.process.map(|process| process.pid),
        }
    }
}
